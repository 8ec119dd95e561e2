"""FastAPI dependencies that turn a bearer token or API key into the acting Principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from guanxi.auth import service
from guanxi.kit.errors import NotAuthenticated
from guanxi.kit.principal import Principal
from guanxi.kit.web import DbSession, client_ip

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def current_principal(
    request: Request,
    session: DbSession,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    ip = client_ip(request)
    if api_key:
        principal = service.principal_from_api_key(session, api_key, ip)
    elif bearer and bearer.startswith(service.API_KEY_PREFIX):
        principal = service.principal_from_api_key(session, bearer, ip)
    elif bearer:
        principal = service.principal_from_token(session, bearer, ip)
    else:
        raise NotAuthenticated(message="send a bearer token (POST /api/v1/auth/token) or an X-API-Key header")
    # The error handler reads this to audit permission denials.
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
