"""Authentication endpoints: tokens, sign-out, the caller's own profile and password, staff users
and their administration, and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from guanxi.auth import accounts, service
from guanxi.auth.deps import CurrentPrincipal, PresentedToken, SessionPrincipal
from guanxi.auth.models import ApiKey
from guanxi.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    PasswordChangeIn,
    PasswordResetIn,
    PasswordResetOut,
    SessionsRevoked,
    StaffAccessUpdate,
    StaffUserCreate,
    StaffUserOut,
    TokenResponse,
)
from guanxi.kit import clock
from guanxi.kit.db import get_database
from guanxi.kit.listing import Cursor, Limit, page_of
from guanxi.kit.web import DbSession, client_ip, in_worker_thread

router = APIRouter(tags=["auth"])

THROTTLED = {
    status.HTTP_429_TOO_MANY_REQUESTS: {
        "description": "Too many failed sign-ins for this account or address; see Retry-After",
        "content": {"application/problem+json": {}},
    }
}


def _throttled(error: service.TooManyAttempts, request: Request) -> JSONResponse:
    """429 problem+json with Retry-After (the generic handler sets no such header)."""
    seconds = int(error.extra.get("retry_after", 1))
    body = {
        "type": f"/problems/{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.message,
        "code": error.code,
        "instance": request.url.path,
        "retry_after": seconds,
    }
    return JSONResponse(
        body, status_code=error.status, media_type="application/problem+json", headers={"Retry-After": str(seconds)}
    )


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Exchange username and password for a token",
    responses=THROTTLED,  # type: ignore[arg-type]
)
@in_worker_thread
def issue_token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenResponse | JSONResponse:
    ip = client_ip(request)
    # Its own unit of work: a failed attempt must be counted and audited even though we refuse.
    with get_database().unit_of_work() as session:
        outcome = service.authenticate(session, form.username, form.password, ip)
        if outcome.user is not None:
            raw, token = service.issue_token(session, outcome.user, kind="api", ip=ip)
    if isinstance(outcome.error, service.TooManyAttempts):
        return _throttled(outcome.error, request)
    if outcome.error is not None:
        raise outcome.error
    return TokenResponse(access_token=raw, expires_at=token.expires_at)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the presented bearer token (an API key cannot be logged out: it is revoked)",
)
@in_worker_thread
def logout(session: DbSession, principal: SessionPrincipal, token: PresentedToken) -> Response:
    accounts.logout(session, principal, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change your own password (required after an administrator's reset)",
)
@in_worker_thread
def change_password(
    body: PasswordChangeIn, session: DbSession, principal: SessionPrincipal, token: PresentedToken
) -> Response:
    keep = service.credential_digest(token) if token else None
    accounts.change_own_password(session, principal, body.current_password, body.new_password, keep_token=keep)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=StaffUserOut | dict[str, str])
@in_worker_thread
def me(session: DbSession, principal: SessionPrincipal) -> StaffUserOut | dict[str, str]:
    if principal.kind != "staff":
        return {"id": principal.id, "name": principal.name, "role": principal.role, "kind": principal.kind}
    return StaffUserOut.model_validate(service.get_user(session, principal.id))


class StaffUserPage(BaseModel):
    items: list[StaffUserOut]
    next_cursor: str | None


@router.get("/users", response_model=StaffUserPage)
@in_worker_thread
def list_users(
    session: DbSession, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> StaffUserPage:
    """Staff accounts, by username."""
    page = page_of(service.list_users(session, principal), lambda user: user.username, limit, cursor)
    return StaffUserPage(items=[StaffUserOut.model_validate(u) for u in page.items], next_cursor=page.next_cursor)


@router.post("/users", response_model=StaffUserOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_user(body: StaffUserCreate, session: DbSession, principal: CurrentPrincipal) -> StaffUserOut:
    user = service.create_user(session, principal, **body.model_dump())
    return StaffUserOut.model_validate(user)


@router.get("/users/{user_id}", response_model=StaffUserOut)
@in_worker_thread
def get_user(user_id: str, session: DbSession, principal: CurrentPrincipal) -> StaffUserOut:
    return StaffUserOut.model_validate(service.view_user(session, principal, user_id))


@router.patch("/users/{user_id}", response_model=StaffUserOut, summary="Change a user's role, scope, region or team")
@in_worker_thread
def change_access(
    user_id: str, body: StaffAccessUpdate, session: DbSession, principal: CurrentPrincipal
) -> StaffUserOut:
    given = body.model_dump(include=body.model_fields_set)
    user = accounts.change_access(session, principal, user_id, **given)
    return StaffUserOut.model_validate(user)


@router.post("/users/{user_id}/disable", response_model=StaffUserOut, summary="Disable and sign out everywhere")
@in_worker_thread
def disable_user(user_id: str, session: DbSession, principal: CurrentPrincipal) -> StaffUserOut:
    return StaffUserOut.model_validate(accounts.disable_user(session, principal, user_id))


@router.post("/users/{user_id}/enable", response_model=StaffUserOut, summary="Allow sign-ins again")
@in_worker_thread
def enable_user(user_id: str, session: DbSession, principal: CurrentPrincipal) -> StaffUserOut:
    return StaffUserOut.model_validate(accounts.enable_user(session, principal, user_id))


@router.post(
    "/users/{user_id}/password-reset",
    response_model=PasswordResetOut,
    summary="Set a temporary password the user must change at the next sign-in; ends every session",
)
@in_worker_thread
def reset_password(
    user_id: str, session: DbSession, principal: CurrentPrincipal, body: PasswordResetIn | None = None
) -> PasswordResetOut:
    reset = accounts.reset_password(session, principal, user_id, body.password if body else None)
    return PasswordResetOut(
        user=StaffUserOut.model_validate(reset.user),
        temporary_password=reset.password,
        sessions_ended=reset.sessions_ended,
    )


@router.post(
    "/users/{user_id}/sessions/revoke",
    response_model=SessionsRevoked,
    summary="End every token and console session of the user",
)
@in_worker_thread
def revoke_sessions(user_id: str, session: DbSession, principal: CurrentPrincipal) -> SessionsRevoked:
    ended = accounts.revoke_sessions(session, principal, user_id)
    return SessionsRevoked(user_id=user_id, sessions_ended=ended)


class ApiKeyPage(BaseModel):
    items: list[ApiKeyOut]
    next_cursor: str | None


def _newest_first(key: ApiKey) -> str:
    return f"{clock.as_utc(key.created_at).isoformat()}|{key.id}"


@router.get("/api-keys", response_model=ApiKeyPage)
@in_worker_thread
def list_api_keys(
    session: DbSession, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> ApiKeyPage:
    """Integration keys, newest first."""
    page = page_of(service.list_api_keys(session, principal), _newest_first, limit, cursor, descending=True)
    return ApiKeyPage(items=[ApiKeyOut.model_validate(k) for k in page.items], next_cursor=page.next_cursor)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_api_key(body: ApiKeyCreate, session: DbSession, principal: CurrentPrincipal) -> ApiKeyCreated:
    raw, key = service.create_api_key(session, principal, **body.model_dump())
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=raw)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
@in_worker_thread
def revoke_api_key(key_id: str, session: DbSession, principal: CurrentPrincipal) -> None:
    service.revoke_api_key(session, principal, key_id)
