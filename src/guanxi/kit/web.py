"""FastAPI plumbing shared by every domain router: the per-request unit of work, client IP,
and pagination parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from guanxi.config import get_settings
from guanxi.kit.db import get_database
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.pagination import PageRequest
from guanxi.kit.text import NUL, NUL_MESSAGE

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request, committed before the response is sent."""
    with get_database().unit_of_work(lock_early=request.method not in READ_METHODS) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def storable_parameters(request: Request) -> None:
    """Refuse path and query parameters that no database can store (a NUL character)."""
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    errors = [FieldError(name, NUL_MESSAGE, "invalid_character") for name, value in params if NUL in str(value)]
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def page_request(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor from the previous page")] = None,
    sort: Annotated[str, Query(max_length=30, description="Sort field")] = "created_at",
    order: Annotated[str, Query(pattern="^(asc|desc)$", description="asc or desc")] = "desc",
) -> PageRequest:
    return PageRequest(
        limit=min(limit, get_settings().page_size_max), cursor=cursor, sort=sort, descending=order == "desc"
    )


Paging = Annotated[PageRequest, Depends(page_request)]
