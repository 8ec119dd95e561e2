"""Use cases for staff users: create, authenticate (with lockout), tokens, API keys, principals."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth import credentials, permissions, throttle
from guanxi.auth.models import ApiKey, AuthToken, StaffUser
from guanxi.auth.permissions import Role, Scope
from guanxi.config import get_settings
from guanxi.kit import clock
from guanxi.kit.errors import (
    Conflict,
    DomainError,
    FieldError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from guanxi.kit.principal import Principal
from guanxi.kit.text import NUL
from guanxi.privacy import audit

API_KEY_PREFIX = "gx_"
# Principal.extra flag: signed in with a password an administrator reset.
MUST_CHANGE_PASSWORD = "must_change_password"


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib),))


def password_hasher() -> PasswordHash:
    settings = get_settings()
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def require(principal: Principal, resource: str, action: str) -> None:
    """Raise PermissionDenied unless the principal may do this (the caller audits the denial)."""
    if not permissions.is_allowed(principal, resource, action):
        raise PermissionDenied(
            message=f"role {principal.role} may not {action} {resource}",
            extra={"resource": resource, "action": action},
            key="problem.permission_denied.role",
            params={"role": principal.role, "action": action, "resource": resource},
        )


def create_user(
    session: Session,
    actor: Principal,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    region: str | None = None,
    team: str | None = None,
    scope: str | None = None,
) -> StaffUser:
    require(actor, "users", "create")
    errors: list[FieldError] = []
    try:
        parsed_role = permissions.parse_role(role)
    except ValueError as exc:
        errors.append(FieldError("role", str(exc), "unknown_role"))
        parsed_role = Role.ANALYST
    if len(password) < 8:
        errors.append(
            FieldError(
                "password",
                "must be at least 8 characters",
                "too_short",
                params={"min_length": 8},
                key="problem.users.password_too_short",
            )
        )
    try:
        parsed_scope = Scope(scope) if scope else permissions.default_scope(parsed_role)
    except ValueError:
        errors.append(
            FieldError("scope", "must be one of all, region, team, own", "unknown_scope", key="problem.users.scope")
        )
        parsed_scope = Scope.OWN
    if parsed_scope is Scope.REGION and not region:
        errors.append(
            FieldError("region", "a region-scoped user needs a region", "required", key="problem.users.region_needed")
        )
    if parsed_scope is Scope.TEAM and not team:
        errors.append(
            FieldError("team", "a team-scoped user needs a team", "required", key="problem.users.team_needed")
        )
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    normalized = username.strip().lower()
    if session.scalar(select(StaffUser.id).where(StaffUser.username == normalized)):
        raise Conflict(
            message=f"username {normalized!r} is taken",
            errors=[FieldError("username", "is taken", "taken", key="problem.users.username_taken")],
            key="problem.users.username_exists",
            params={"username": repr(normalized)},
        )
    user = StaffUser(
        username=normalized,
        display_name=display_name or normalized,
        password_hash=password_hasher().hash(password),
        role=parsed_role.value,
        scope=parsed_scope.value,
        region=region,
        team=team,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor,
        "user.create",
        entity_type="staff_user",
        entity_id=user.id,
        fields=["username", "role", "scope", "region", "team"],
    )
    return user


def principal_for(user: StaffUser, ip: str | None = None) -> Principal:
    return Principal(
        id=user.id,
        name=user.username,
        role=user.role,
        kind="staff",
        region=user.region,
        team=user.team,
        scope=user.scope,
        ip=ip,
        language=user.language,
        extra={MUST_CHANGE_PASSWORD: "true"} if user.must_change_password else {},
    )


def must_change_password(principal: Principal) -> bool:
    return principal.extra.get(MUST_CHANGE_PASSWORD) == "true"


class TooManyAttempts(DomainError):
    """Sign-in refused unchecked: too many recent failures for this account, address or both."""

    status = 429
    code = "too_many_attempts"
    title = "Too many attempts"


class PasswordChangeRequired(DomainError):
    """The user signed in with a password an administrator reset: only changing it is allowed."""

    status = 403
    code = "password_change_required"
    title = "Password change required"


REFUSED_MESSAGE = "incorrect username or password"


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    """A hash with the current cost, to check against when there is no real one to check."""
    return _hasher(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


def spend_password_check(password: str) -> None:
    """Do the work of a real password check (unknown, disabled or throttled sign-ins), so how long
    an answer takes says nothing about whether the account exists."""
    settings = get_settings()
    password_hasher().verify(password, _dummy_hash(settings.argon2_time_cost, settings.argon2_memory_kib))


@dataclass(frozen=True)
class LoginOutcome:
    user: StaffUser | None
    error: NotAuthenticated | TooManyAttempts | None = None


def authenticate(session: Session, username: str, password: str, ip: str | None) -> LoginOutcome:
    """Check a password. Failures are counted (see `auth.throttle`) and audited, and must be
    committed by the caller even though the login is refused, so the outcome is returned.

    Every refusal reads the same whatever the reason (no such user, disabled, wrong password),
    and every attempt runs one password check, so neither the text nor the time of the answer
    tells an account that exists from one that does not. A throttled attempt is refused without
    looking at the password, with 429 and when to retry; the reason codes stay in the audit.
    """
    # A name holding NUL cannot exist (nor be stored in the audit record on PostgreSQL).
    normalized = username.strip().lower().replace(NUL, "")
    anonymous = Principal(
        id="anonymous", name=throttle.typed_name_label(normalized), role="none", kind="anonymous", ip=ip
    )
    keys = throttle.keys_for(normalized, ip)
    block = throttle.blocked(session, keys)
    if block is not None:
        spend_password_check(password)
        audit.record(
            session, anonymous, "auth.login", outcome="failed", detail={"reason": "throttled", "by": block.kind}
        )
        seconds = block.retry_after(clock.now())
        return LoginOutcome(
            None,
            TooManyAttempts(
                message=f"too many failed sign-ins; try again in {seconds} seconds",
                extra={"retry_after": seconds, "blocked_until": block.until.isoformat()},
                key="problem.auth.throttled",
                params={"seconds": seconds},
            ),
        )
    user = None if NUL in username else session.scalar(select(StaffUser).where(StaffUser.username == normalized))
    if user is None or not user.is_active:
        spend_password_check(password)
        reason = "unknown_user" if user is None else "disabled"
        ok = False
    else:
        ok = password_hasher().verify(password, user.password_hash)
        reason = "bad_password"
    if not ok:
        reached = throttle.record_failure(session, keys)
        detail: dict[str, object] = {"reason": reason}
        if reached:
            detail["throttled_now"] = reached
        if user is None:
            audit.record(session, anonymous, "auth.login", outcome="failed", detail=detail)
        else:
            audit.record(
                session,
                principal_for(user, ip),
                "auth.login",
                entity_type="staff_user",
                entity_id=user.id,
                outcome="failed",
                detail=detail,
            )
        return LoginOutcome(None, NotAuthenticated(message=REFUSED_MESSAGE))
    assert user is not None
    throttle.clear_pair(session, normalized, ip)
    user.last_login_at = clock.now()
    audit.record(
        session,
        principal_for(user, ip),
        "auth.login",
        entity_type="staff_user",
        entity_id=user.id,
        detail={"must_change_password": True} if user.must_change_password else None,
    )
    return LoginOutcome(user)


def issue_token(
    session: Session, user: StaffUser, *, kind: str = "api", ip: str | None = None
) -> tuple[str, AuthToken]:
    raw = secrets.token_urlsafe(32)
    now = clock.now()
    token = AuthToken(
        token_hash=_sha256(raw),
        user_id=user.id,
        kind=kind,
        created_at=now,
        expires_at=now + timedelta(minutes=get_settings().token_ttl_minutes),
        ip=ip,
    )
    session.add(token)
    session.flush()
    return raw, token


def credential_digest(raw: str) -> str:
    """The stored form of a token or API key (its SHA-256), also the credential cache's key."""
    return _sha256(raw)


def revoke_token(session: Session, raw: str) -> AuthToken | None:
    """End one bearer token or console session (signing out); the token row, if there was one."""
    digest = _sha256(raw)
    token = session.scalar(select(AuthToken).where(AuthToken.token_hash == digest))
    if token is not None and token.revoked_at is None:
        token.revoked_at = clock.now()
    credentials.forget_after_change(session, digest=digest)
    return token


def resolve_token(session: Session, raw: str) -> tuple[Principal, datetime]:
    """The principal a bearer token stands for, and when the token expires."""
    row = session.execute(
        select(AuthToken, StaffUser)
        .join(StaffUser, StaffUser.id == AuthToken.user_id)
        .where(AuthToken.token_hash == _sha256(raw))
    ).first()
    if row is None:
        raise NotAuthenticated(message="invalid token", key="problem.auth.invalid_token")
    token, user = row
    expires_at = clock.as_utc(token.expires_at)
    if token.revoked_at is not None or expires_at <= clock.now():
        raise NotAuthenticated(message="token expired or revoked", key="problem.auth.token_expired")
    if not user.is_active:
        raise NotAuthenticated(message="user is deactivated", key="problem.auth.user_deactivated")
    return principal_for(user), expires_at


def principal_from_token(session: Session, raw: str, ip: str | None = None) -> Principal:
    """The principal of a console session; a user who must change the password has none (the
    console signs them in only through the change-password page)."""
    principal = resolve_token(session, raw)[0]
    if must_change_password(principal):
        raise NotAuthenticated(message="the password must be changed first", key="problem.auth.password_change_first")
    return principal.with_ip(ip)


def create_api_key(
    session: Session,
    actor: Principal,
    *,
    name: str,
    role: str = "integration",
    scopes: list[str] | None = None,
    region: str | None = None,
) -> tuple[str, ApiKey]:
    require(actor, "api_keys", "create")
    try:
        parsed_role = permissions.parse_role(role)
    except ValueError as exc:
        raise ValidationFailed(message=str(exc), errors=[FieldError("role", str(exc), "unknown_role")]) from None
    if parsed_role is Role.ADMIN:
        raise ValidationFailed(
            message="API keys cannot carry the admin role",
            errors=[
                FieldError(
                    "role", "API keys cannot carry the admin role", "forbidden_role", key="problem.api_keys.admin_role"
                )
            ],
            key="problem.api_keys.admin_role",
        )
    bad = [s for s in (scopes or []) if not permissions.valid_api_scope(s)]
    if bad:
        listed = ", ".join(bad)
        raise ValidationFailed(
            message=f"unknown scopes: {listed}",
            errors=[
                FieldError(
                    "scopes",
                    f"unknown scopes: {listed}",
                    "unknown_scope",
                    {"scopes": listed},
                    key="problem.api_keys.scopes",
                )
            ],
            key="problem.api_keys.scopes",
            params={"scopes": listed},
        )
    prefix = secrets.token_hex(6)
    raw = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=_sha256(raw),
        role=parsed_role.value,
        scopes=sorted(set(scopes or [])),
        region=region,
        created_by=actor.id,
    )
    session.add(key)
    session.flush()
    audit.record(
        session, actor, "api_key.create", entity_type="api_key", entity_id=key.id, fields=["name", "role", "scopes"]
    )
    return raw, key


def revoke_api_key(session: Session, actor: Principal, key_id: str) -> ApiKey:
    require(actor, "api_keys", "delete")
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(message=f"API key {key_id} not found", key="problem.not_found.api_key", params={"id": key_id})
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        audit.record(session, actor, "api_key.revoke", entity_type="api_key", entity_id=key.id)
    credentials.forget_after_change(session, digest=key.key_hash)
    return key


def list_api_keys(session: Session, actor: Principal) -> list[ApiKey]:
    require(actor, "api_keys", "read")
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())))


def resolve_api_key(session: Session, raw: str) -> tuple[Principal, datetime | None]:
    """The principal an API key stands for, and when the key expires (None: never)."""
    parts = raw.removeprefix(API_KEY_PREFIX).split("_", 1)
    if not raw.startswith(API_KEY_PREFIX) or len(parts) != 2:
        raise NotAuthenticated(message="invalid API key", key="problem.auth.invalid_api_key")
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[0]))
    if key is None or not secrets.compare_digest(key.key_hash, _sha256(raw)):
        raise NotAuthenticated(message="invalid API key", key="problem.auth.invalid_api_key")
    expires_at = clock.as_utc(key.expires_at) if key.expires_at else None
    if key.revoked_at is not None or (expires_at is not None and expires_at <= clock.now()):
        raise NotAuthenticated(message="API key expired or revoked", key="problem.auth.api_key_expired")
    principal = Principal(
        id=key.id,
        name=f"key:{key.name}",
        role=key.role,
        kind="api_key",
        region=key.region,
        scope=Scope.REGION.value if key.region else Scope.ALL.value,
        api_scopes=frozenset(key.scopes) if key.scopes else None,
    )
    return principal, expires_at


def principal_from_api_key(session: Session, raw: str, ip: str | None = None) -> Principal:
    return resolve_api_key(session, raw)[0].with_ip(ip)


def get_user(session: Session, user_id: str) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(message=f"staff user {user_id} not found", key="problem.not_found.user", params={"id": user_id})
    return user


def view_user(session: Session, actor: Principal, user_id: str) -> StaffUser:
    require(actor, "users", "read")
    return get_user(session, user_id)


def find_user_by_username(session: Session, username: str) -> StaffUser | None:
    return session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))


def list_users(session: Session, actor: Principal) -> list[StaffUser]:
    require(actor, "users", "read")
    return list(session.scalars(select(StaffUser).order_by(StaffUser.username)))


def count_users(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(StaffUser)) or 0)


def set_language(session: Session, user_id: str, language: str) -> None:
    user = get_user(session, user_id)
    user.language = language
    credentials.forget_after_change(session, subject_id=user.id)
