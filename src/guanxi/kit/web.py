"""FastAPI plumbing shared by every domain router: the per-request unit of work, client IP,
and pagination parameters.

Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in a worker
thread, and each such hop costs more CPU than the work it carries. Anything that touches the
database stays in a worker thread.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from guanxi.config import get_settings
from guanxi.kit.db import UnitOfWork, get_database, unit_of_work_of
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.pagination import PageRequest
from guanxi.kit.text import CONTROL, CONTROL_CODE, CONTROL_MESSAGE

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

P = ParamSpec("P")
R = TypeVar("R")


def in_worker_thread(endpoint: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Make a blocking endpoint an `async def` one that runs in a worker thread, then commits.

    FastAPI runs a plain `def` endpoint in a worker thread, validates its answer against the
    response model in a worker thread again (the endpoint is not a coroutine), and ends the
    request's unit of work in a third hop. Here the endpoint and the end of its unit of work (the
    `DbSession` it was given) run in one hop; the answer is validated and serialized on the event
    loop, which is pure CPU work. If the endpoint raises, `get_session` rolls back as before. The
    signature FastAPI reads is the endpoint's own.
    """

    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session):
                work = unit_of_work_of(value)
                if work is not None:
                    work.finish(failed=False)
        return result

    @functools.wraps(endpoint)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return await run_in_threadpool(call, *args, **kwargs)

    return run


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One unit of work per request, committed before the response is sent.

    Opening it does no I/O: the transaction begins with the first query, in the worker thread that
    runs the endpoint. Committing or rolling back runs in a worker thread too (unless the request
    never touched the database), so the event loop never waits for the database and a request
    makes no thread hop just to open its session.
    """
    work = get_database().begin(lock_early=request.method not in READ_METHODS)
    try:
        yield work.session
    except GeneratorExit:  # closed without being resumed: nothing to await any more
        work.finish(failed=True)
        raise
    except BaseException:
        await _finish(work, failed=True)
        raise
    await _finish(work, failed=False)


async def _finish(work: UnitOfWork, *, failed: bool) -> None:
    """End the unit of work unless the endpoint already has (`in_worker_thread`)."""
    if work.needs_io:
        await run_in_threadpool(work.finish, failed=failed)
    else:
        work.finish(failed=failed)


DbSession = Annotated[Session, Depends(get_session, scope="function")]


async def storable_parameters(request: Request) -> None:
    """Refuse path and query parameters holding a control character (kit.text): no database or
    writer is asked to store one."""
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    errors = [FieldError(name, CONTROL_MESSAGE, CONTROL_CODE) for name, value in params if CONTROL.search(str(value))]
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def page_request(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor from the previous page")] = None,
    sort: Annotated[str, Query(max_length=30, description="Sort field")] = "created_at",
    order: Annotated[str, Query(pattern="^(asc|desc)$", description="asc or desc")] = "desc",
) -> PageRequest:
    return PageRequest(
        limit=min(limit, get_settings().page_size_max), cursor=cursor, sort=sort, descending=order == "desc"
    )


Paging = Annotated[PageRequest, Depends(page_request)]
