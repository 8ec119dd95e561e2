"""HTTP API for the points liability report and the what-if simulation.

Both only read, so both run in a read-only unit of work (READ ONLY on PostgreSQL, rolled back at
the end on both databases), even the simulation's POST: a long replay never holds SQLite's write
lock, and nothing it does can reach the live tables. The caller is resolved beforehand in a unit
of work of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from guanxi.auth.deps import api_key_header, current_principal, oauth2_scheme
from guanxi.kit.db import UnitOfWork, get_database
from guanxi.kit.inputs import BusinessDateTime
from guanxi.kit.principal import Principal
from guanxi.loyalty.insights import liability, simulation

router = APIRouter(prefix="/loyalty", tags=["loyalty"])


async def _finish(work: UnitOfWork, *, failed: bool) -> None:
    # Ending a transaction is I/O: in a worker thread, never on the event loop.
    if work.needs_io:
        await run_in_threadpool(work.finish, failed=failed)
    else:
        work.finish(failed=failed)


async def read_only_session() -> AsyncIterator[Session]:
    """The report's own unit of work: read-only, rolled back at the end of the request."""
    work = get_database().begin(read_only=True)
    try:
        yield work.session
    except GeneratorExit:
        work.finish(failed=True)
        raise
    except BaseException:
        await _finish(work, failed=True)
        raise
    await _finish(work, failed=True)


ReadOnlySession = Annotated[Session, Depends(read_only_session, scope="function")]


async def reader(
    request: Request,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    """The caller, resolved in a short unit of work of its own that is over before the report
    starts, so no transaction (let alone SQLite's write lock) is held while the report runs."""
    work = get_database().begin(lock_early=False)
    try:
        principal = await current_principal(request, work.session, bearer, api_key)
    except BaseException:
        await _finish(work, failed=True)
        raise
    await _finish(work, failed=False)
    return principal


Reader = Annotated[Principal, Depends(reader)]


@router.get("/liability", response_model=liability.LiabilityReport)
def get_liability(
    session: ReadOnlySession,
    principal: Reader,
    as_of: Annotated[
        BusinessDateTime | None,
        Query(
            description="End of the history windows (ISO 8601 with offset); default now. Open lots are as the "
            "ledger stands."
        ),
    ] = None,
) -> liability.LiabilityReport:
    """Outstanding points by local month of expiry with their cash value, debts, expected breakage
    from the last 12 months, the expected cost, and points issued/redeemed/expired per month."""
    return liability.liability(session, principal, as_of=as_of)


@router.post("/simulations", response_model=simulation.SimulationReport)
def post_simulation(
    body: simulation.ScenarioIn, session: ReadOnlySession, principal: Reader
) -> simulation.SimulationReport:
    """Replay the last N months of orders under the current program and under a scenario (other
    earning rules, tier thresholds or growth rate) and compare points, cost and tiers. Writes
    nothing: the answer is 200, not 201."""
    return simulation.simulate(session, principal, body)
