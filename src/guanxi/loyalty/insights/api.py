"""HTTP API for the points liability report and the what-if simulation.

The report only reads, in a read-only unit of work (READ ONLY on PostgreSQL, rolled back at the
end on both databases); the caller is resolved beforehand in a unit of work of its own. A
simulation replays months of orders, so its POST checks the scenario, records a background run
(`kit.runs`) and answers 202 at once; GET /loyalty/simulations/{id} gives its status, progress
and, once done, the report. The replay itself reads in a read-only unit of work too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from guanxi.auth.deps import CurrentPrincipal, api_key_header, current_principal, oauth2_scheme
from guanxi.kit.db import UnitOfWork, get_database
from guanxi.kit.inputs import BusinessDateTime
from guanxi.kit.principal import Principal
from guanxi.kit.run_schemas import RunError, RunProgress, run_fields
from guanxi.kit.runs import BackgroundRun
from guanxi.kit.web import DbSession, in_worker_thread
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


class SimulationRunOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    progress: RunProgress
    parameters: dict[str, object]
    started_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: RunError | None
    report: simulation.SimulationReport | None  # once done


def run_out(run: BackgroundRun) -> SimulationRunOut:
    return SimulationRunOut(**run_fields(run), report=simulation.report_of(run))


RunId = Annotated[str, PathParam(min_length=1, max_length=26, description="Simulation run id")]


@router.post("/simulations", response_model=SimulationRunOut, status_code=status.HTTP_202_ACCEPTED)
@in_worker_thread
def post_simulation(
    body: simulation.ScenarioIn, session: DbSession, principal: CurrentPrincipal, response: Response
) -> SimulationRunOut:
    """Start replaying the last N months of orders under the current program and under a scenario
    (other earning rules, tier thresholds or growth rate) to compare points, cost and tiers. The
    scenario is checked at once (422 naming the field); the replay runs in the background: poll
    the Location (GET /loyalty/simulations/{id}) for its progress and, when done, the report. The
    replay writes nothing but the run's own row."""
    run = simulation.start(session, principal, body, get_database())
    response.headers["Location"] = f"/api/v1/loyalty/simulations/{run.id}"
    return run_out(run)


@router.get("/simulations/{run_id}", response_model=SimulationRunOut)
@in_worker_thread
def get_simulation(run_id: RunId, session: DbSession, principal: CurrentPrincipal) -> SimulationRunOut:
    """A simulation run: status (queued, running, done, failed), progress (orders replayed of the
    window's total), and the report once done, or the error's code and message."""
    return run_out(simulation.get_run(session, principal, run_id))
