"""Administering staff accounts: disable, enable, reset a password, change role or region, revoke
every session; and the user's own password change and sign-out.

Each change drops the user's cached credentials in this process at once (and again after the
commit); other processes stop honouring them within the credential cache's bound (see
`auth.credentials`). Every administrative change is audited, refusals included.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from guanxi.auth import credentials, permissions, throttle
from guanxi.auth.models import AuthToken, StaffUser
from guanxi.auth.permissions import Role, Scope
from guanxi.auth.service import LoginOutcome, get_user, password_hasher, require
from guanxi.kit import clock
from guanxi.kit.errors import BadRequest, Conflict, DomainError, FieldError, NotAuthenticated, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.privacy import audit


class ApiKeyNotASession(DomainError):
    """Logging out with an API key: it is no session, an administrator revokes it."""

    status = 400
    code = "api_key_cannot_log_out"
    title = "An API key cannot be logged out"


MIN_PASSWORD = 8
MAX_PASSWORD = 128


def _audit(session: Session, actor: Principal, action: str, user: StaffUser, **detail: object) -> None:
    audit.record(session, actor, action, entity_type="staff_user", entity_id=user.id, detail=detail or None)


def _other_active_admins(session: Session, user: StaffUser) -> int:
    stmt = select(func.count()).where(
        StaffUser.role == Role.ADMIN.value, StaffUser.is_active.is_(True), StaffUser.id != user.id
    )
    return int(session.scalar(stmt.select_from(StaffUser)) or 0)


def _keep_an_admin(session: Session, user: StaffUser, field: str) -> None:
    """Refuse a change that would leave nobody able to administer the platform."""
    if user.role == Role.ADMIN.value and user.is_active and _other_active_admins(session, user) == 0:
        raise Conflict(
            message="this is the only active administrator; make another one first",
            errors=[
                FieldError(field, "would leave no active administrator", "last_admin", key="problem.users.last_admin")
            ],
            key="problem.users.only_admin",
        )


def _revoke_all(session: Session, user: StaffUser) -> int:
    """End every live token and console session of the user; how many were ended."""
    now = clock.now()
    result = session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None), AuthToken.expires_at > now)
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    credentials.forget_after_change(session, subject_id=user.id)
    return int(getattr(result, "rowcount", 0) or 0)


def _check_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(
            message=f"{field}: must be at least {MIN_PASSWORD} characters",
            errors=[
                FieldError(
                    field,
                    f"must be at least {MIN_PASSWORD} characters",
                    "too_short",
                    {"min_length": MIN_PASSWORD},
                    key="problem.users.password_too_short",
                )
            ],
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationFailed(
            message=f"{field}: must be at most {MAX_PASSWORD} characters",
            errors=[
                FieldError(
                    field,
                    f"must be at most {MAX_PASSWORD} characters",
                    "too_long",
                    {"max_length": MAX_PASSWORD},
                    key="problem.users.password_too_long",
                )
            ],
        )


def disable_user(session: Session, actor: Principal, user_id: str) -> StaffUser:
    """Sign the user out everywhere and refuse their sign-ins until enabled again."""
    require(actor, "users", "update")
    user = get_user(session, user_id)
    if user.id == actor.id:
        raise BadRequest(
            message="you cannot disable your own account",
            errors=[FieldError("user_id", "is you", "self", key="problem.users.is_you")],
            key="problem.users.disable_self",
        )
    if not user.is_active:
        return user
    _keep_an_admin(session, user, "user_id")
    user.is_active = False
    ended = _revoke_all(session, user)
    _audit(session, actor, "user.disable", user, sessions_ended=ended)
    return user


def enable_user(session: Session, actor: Principal, user_id: str) -> StaffUser:
    """Allow sign-ins again (old sessions stay ended) and lift the account's sign-in throttle."""
    require(actor, "users", "update")
    user = get_user(session, user_id)
    throttle.clear_account(session, user.username)
    if user.is_active:
        return user
    user.is_active = True
    credentials.forget_after_change(session, subject_id=user.id)
    _audit(session, actor, "user.enable", user)
    return user


@dataclass(frozen=True)
class PasswordReset:
    user: StaffUser
    password: str  # the temporary password, shown once to the administrator
    sessions_ended: int


def reset_password(session: Session, actor: Principal, user_id: str, password: str | None = None) -> PasswordReset:
    """Give the user a temporary password (generated unless given) that they must change at their
    next sign-in; every session they had ends now."""
    require(actor, "users", "update")
    user = get_user(session, user_id)
    temporary = password if password is not None else secrets.token_urlsafe(12)
    _check_password(temporary)
    user.password_hash = password_hasher().hash(temporary)
    user.must_change_password = True
    user.password_changed_at = clock.now()
    ended = _revoke_all(session, user)
    throttle.clear_account(session, user.username)
    _audit(session, actor, "user.password_reset", user, sessions_ended=ended)
    return PasswordReset(user, temporary, ended)


def revoke_sessions(session: Session, actor: Principal, user_id: str) -> int:
    """End every token and console session of the user (they may sign in again)."""
    require(actor, "users", "update")
    user = get_user(session, user_id)
    ended = _revoke_all(session, user)
    _audit(session, actor, "user.sessions_revoke", user, sessions_ended=ended)
    return ended


_UNSET = object()


def change_access(
    session: Session,
    actor: Principal,
    user_id: str,
    *,
    role: str | None = None,
    scope: str | None = None,
    region: str | object | None = _UNSET,
    team: str | object | None = _UNSET,
) -> StaffUser:
    """Change what the user may do (role) and which rows they see (scope, region, team).

    A role change without a scope takes the new role's default scope. Sessions stay open; their
    cached principals are dropped so the next request acts with the new rights.
    """
    require(actor, "users", "update")
    user = get_user(session, user_id)
    errors: list[FieldError] = []
    new_role = user.role
    if role is not None:
        try:
            new_role = permissions.parse_role(role).value
        except ValueError as exc:
            errors.append(FieldError("role", str(exc), "unknown_role"))
    new_scope = user.scope
    if scope is not None:
        try:
            new_scope = Scope(scope).value
        except ValueError:
            errors.append(
                FieldError("scope", "must be one of all, region, team, own", "unknown_scope", key="problem.users.scope")
            )
    elif role is not None and not errors:
        new_scope = permissions.default_scope(Role(new_role)).value
    new_region = user.region if region is _UNSET else (str(region).strip() or None if region is not None else None)
    new_team = user.team if team is _UNSET else (str(team).strip() or None if team is not None else None)
    if new_scope == Scope.REGION.value and not new_region:
        errors.append(
            FieldError("region", "a region-scoped user needs a region", "required", key="problem.users.region_needed")
        )
    if new_scope == Scope.TEAM.value and not new_team:
        errors.append(
            FieldError("team", "a team-scoped user needs a team", "required", key="problem.users.team_needed")
        )
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    if user.role == Role.ADMIN.value and new_role != Role.ADMIN.value:
        if user.id == actor.id:
            raise BadRequest(
                message="you cannot take the admin role from yourself",
                errors=[FieldError("role", "is your own admin role", "self", key="problem.users.own_admin_role")],
                key="problem.users.demote_self",
            )
        _keep_an_admin(session, user, "role")
    changed = [
        name
        for name, old, new in (
            ("role", user.role, new_role),
            ("scope", user.scope, new_scope),
            ("region", user.region, new_region),
            ("team", user.team, new_team),
        )
        if old != new
    ]
    if not changed:
        return user
    user.role, user.scope, user.region, user.team = new_role, new_scope, new_region, new_team
    credentials.forget_after_change(session, subject_id=user.id)
    audit.record(session, actor, "user.access_change", entity_type="staff_user", entity_id=user.id, fields=changed)
    return user


def change_own_password(
    session: Session, actor: Principal, current_password: str, new_password: str, *, keep_token: str | None = None
) -> StaffUser:
    """The signed-in user replaces their password (required after a reset). Every other session
    of theirs ends; the one making the change (`keep_token`, a token digest) stays open."""
    if actor.kind != "staff":
        raise BadRequest(message="only staff users have a password", key="problem.users.no_password")
    user = get_user(session, actor.id)
    if not password_hasher().verify(current_password, user.password_hash):
        audit.record(
            session,
            actor,
            "user.password_change",
            entity_type="staff_user",
            entity_id=user.id,
            outcome="failed",
            detail={"reason": "bad_password"},
        )
        raise ValidationFailed(
            message="current_password: is not correct",
            errors=[
                FieldError("current_password", "is not correct", "incorrect", key="problem.users.password_incorrect")
            ],
        )
    _check_password(new_password, "new_password")
    if new_password == current_password:
        raise ValidationFailed(
            message="new_password: must differ from the current password",
            errors=[
                FieldError(
                    "new_password",
                    "must differ from the current password",
                    "unchanged",
                    key="problem.users.password_unchanged",
                )
            ],
        )
    user.password_hash = password_hasher().hash(new_password)
    user.must_change_password = False
    user.password_changed_at = clock.now()
    now = clock.now()
    others = update(AuthToken).where(AuthToken.user_id == user.id, AuthToken.revoked_at.is_(None))
    if keep_token is not None:
        others = others.where(AuthToken.token_hash != keep_token)
    session.execute(others.values(revoked_at=now).execution_options(synchronize_session=False))
    credentials.forget_after_change(session, subject_id=user.id)
    audit.record(session, actor, "user.password_change", entity_type="staff_user", entity_id=user.id)
    return user


def logout(session: Session, actor: Principal, raw_token: str | None) -> None:
    """End the presented bearer token. An API key is a long-lived integration credential, not a
    session: it is revoked by an administrator (DELETE /api-keys/{id}), never signed out."""
    from guanxi.auth import service

    if actor.kind == "api_key" or raw_token is None or raw_token.startswith(service.API_KEY_PREFIX):
        raise ApiKeyNotASession(
            message="an API key cannot be logged out; an administrator revokes it with DELETE /api/v1/api-keys/{id}",
            key="problem.auth.api_key_logout",
        )
    token = service.revoke_token(session, raw_token)
    if token is None:
        raise NotAuthenticated(message="invalid token", key="problem.auth.invalid_token")
    audit.record(session, actor, "auth.logout", entity_type="staff_user", entity_id=actor.id)


def change_password_at_sign_in(
    session: Session, username: str, current_password: str, new_password: str, ip: str | None
) -> LoginOutcome:
    """Sign in and replace the password in one step (the console's page for a reset password):
    the same checks and throttle as any sign-in, then the change. Like `authenticate`, a refused
    sign-in is returned, not raised, so the caller commits its count and audit record. The new
    password is checked first (ValidationFailed), so a refusal of it counts no failed sign-in."""
    from guanxi.auth import service

    _check_password(new_password, "new_password")
    if new_password == current_password:
        raise ValidationFailed(
            message="new_password: must differ from the current password",
            errors=[
                FieldError(
                    "new_password",
                    "must differ from the current password",
                    "unchanged",
                    key="problem.users.password_unchanged",
                )
            ],
        )
    outcome = service.authenticate(session, username, current_password, ip)
    if outcome.user is not None:
        change_own_password(session, service.principal_for(outcome.user, ip), current_password, new_password)
    return outcome


def end_session(session: Session, raw_token: str, ip: str | None = None) -> bool:
    """Sign out a console session (or any bearer token): revoke it and audit who signed out.
    False if the token was unknown or had already ended (signing out twice is harmless)."""
    from guanxi.auth import service

    try:
        actor = service.resolve_token(session, raw_token)[0].with_ip(ip)
    except NotAuthenticated:
        actor = None
    service.revoke_token(session, raw_token)
    if actor is None:
        return False
    audit.record(session, actor, "auth.logout", entity_type="staff_user", entity_id=actor.id)
    return True
