"""FastAPI dependencies that turn a bearer token or API key into the acting Principal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from guanxi.auth import credentials, permissions, service
from guanxi.kit.db import unit_of_work_of
from guanxi.kit.errors import NotAuthenticated, PermissionDenied
from guanxi.kit.masking import Visibility
from guanxi.kit.principal import Principal
from guanxi.kit.web import READ_METHODS, DbSession, client_ip

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def _resolve(session: Session, credential: str, is_api_key: bool) -> tuple[Principal, datetime | None]:
    if is_api_key:
        return service.resolve_api_key(session, credential)
    return service.resolve_token(session, credential)


async def _lock_early(session: Session) -> None:
    """This caller's reads of personal data append audit records (reveals): on SQLite a read
    transaction that later writes fails with "database is locked" when another writer committed
    in between, so such a request begins as a writer and waits its turn instead."""
    work = unit_of_work_of(session)
    if work is None:
        return
    if work.needs_io:  # the credential was just read: that transaction ends first
        await run_in_threadpool(work.lock_early)
    else:
        work.lock_early()


# Requests that read although their method is POST: read-only roles may send these.
READS_BY_POST = frozenset(
    {
        "/api/v1/segments/preview",
        "/api/v1/coupons/validate",
        "/api/v1/loyalty/simulations",
    }
)


async def _caller(request: Request, session: Session, bearer: str | None, api_key: str | None) -> Principal:
    """The caller, from the credential cache (see `auth.credentials`) or the database."""
    if api_key:
        credential, is_api_key = api_key, True
    elif bearer:
        credential, is_api_key = bearer, bearer.startswith(service.API_KEY_PREFIX)
    else:
        raise NotAuthenticated(
            message="send a bearer token (POST /api/v1/auth/token) or an X-API-Key header",
            key="problem.auth.credentials_missing",
        )
    digest = service.credential_digest(credential)
    found = credentials.cache.get(digest)
    if found is None:
        # The lookup queries the database: in a worker thread, never on the event loop.
        resolved, expires_at = await run_in_threadpool(_resolve, session, credential, is_api_key)
        credentials.cache.put(digest, resolved, expires_at)
        found = resolved
    principal = found.with_ip(client_ip(request))
    # The error handler reads this to audit permission denials.
    request.state.principal = principal
    return principal


def _refuse_writes_of_read_only_roles(request: Request, principal: Principal) -> None:
    """Analysts and auditors change nothing, whatever a route's own checks say: one gate in
    front of every write route (the services check again for the console)."""
    if request.method in READ_METHODS or principal.role not in permissions.READ_ONLY_ROLES:
        return
    if request.url.path in READS_BY_POST:  # fixed paths: no parameters to match
        return
    raise PermissionDenied(
        message=f"role {principal.role} is read-only",
        extra={"resource": "*", "action": "write"},
        key="problem.permission_denied.read_only",
        params={"role": principal.role},
    )


async def current_principal(
    request: Request,
    session: DbSession,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """The caller of an ordinary route: a user who must change their password may not act yet,
    and a read-only role may not write."""
    principal = await _caller(request, session, bearer, api_key)
    if service.must_change_password(principal):
        raise service.PasswordChangeRequired(
            message="your password was reset: change it first (POST /api/v1/auth/password)",
            key="problem.auth.password_was_reset",
        )
    _refuse_writes_of_read_only_roles(request, principal)
    if request.method in READ_METHODS and permissions.visibility(principal) is Visibility.FULL:
        await _lock_early(session)
    return principal


async def session_principal(
    request: Request,
    session: DbSession,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """The caller of a route about their own session (profile, password change, sign-out), which
    a user who must change the password may use."""
    return await _caller(request, session, bearer, api_key)


async def presented_token(bearer: Annotated[str | None, Depends(oauth2_scheme)]) -> str | None:
    return bearer


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
SessionPrincipal = Annotated[Principal, Depends(session_principal)]
PresentedToken = Annotated[str | None, Depends(presented_token)]
