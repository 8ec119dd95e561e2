"""Authentication endpoints: tokens, the caller's own profile, staff users and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from guanxi.auth import service
from guanxi.auth.deps import CurrentPrincipal
from guanxi.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    StaffUserCreate,
    StaffUserOut,
    TokenResponse,
)
from guanxi.kit.db import get_database
from guanxi.kit.web import DbSession, client_ip, in_worker_thread

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenResponse, summary="Exchange username and password for a token")
@in_worker_thread
def issue_token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenResponse:
    ip = client_ip(request)
    # Its own unit of work: a failed attempt must be counted and audited even though we refuse.
    with get_database().unit_of_work() as session:
        outcome = service.authenticate(session, form.username, form.password, ip)
        if outcome.user is not None:
            raw, token = service.issue_token(session, outcome.user, kind="api", ip=ip)
    if outcome.error is not None:
        raise outcome.error
    return TokenResponse(access_token=raw, expires_at=token.expires_at)


@router.get("/me", response_model=StaffUserOut | dict[str, str])
@in_worker_thread
def me(session: DbSession, principal: CurrentPrincipal) -> StaffUserOut | dict[str, str]:
    if principal.kind != "staff":
        return {"id": principal.id, "name": principal.name, "role": principal.role, "kind": principal.kind}
    return StaffUserOut.model_validate(service.get_user(session, principal.id))


@router.get("/users", response_model=list[StaffUserOut])
@in_worker_thread
def list_users(session: DbSession, principal: CurrentPrincipal) -> list[StaffUserOut]:
    return [StaffUserOut.model_validate(u) for u in service.list_users(session, principal)]


@router.post("/users", response_model=StaffUserOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_user(body: StaffUserCreate, session: DbSession, principal: CurrentPrincipal) -> StaffUserOut:
    user = service.create_user(session, principal, **body.model_dump())
    return StaffUserOut.model_validate(user)


@router.get("/api-keys", response_model=list[ApiKeyOut])
@in_worker_thread
def list_api_keys(session: DbSession, principal: CurrentPrincipal) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(k) for k in service.list_api_keys(session, principal)]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_api_key(body: ApiKeyCreate, session: DbSession, principal: CurrentPrincipal) -> ApiKeyCreated:
    raw, key = service.create_api_key(session, principal, **body.model_dump())
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=raw)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
@in_worker_thread
def revoke_api_key(key_id: str, session: DbSession, principal: CurrentPrincipal) -> None:
    service.revoke_api_key(session, principal, key_id)
