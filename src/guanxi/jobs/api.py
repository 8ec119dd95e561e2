"""HTTP API for work that goes over a whole population, as background runs (`kit.runs`), and for
reading any run.

A segment's snapshot, a tag rule's full refresh and a customer export can take minutes at scale,
so they never run on the request path: the POST checks at once what the work would refuse first
(the permission, the parameters, an unknown segment or rule: the same problem+json as ever, and no
run is recorded), records the run and answers 202 with its Location. GET /runs/{id} gives the
status, the progress and, once done, the work's report; GET /runs/{id}/file sends a finished
export's file once. The work is the same the console starts (`jobs.scans`, `jobs.exports`), and
bulk coupon issuance to a tag (`loyalty.catalog.api`) answers with a run read here too.

A run is read by the person who started it, or by a role that may read what its kind changed (as
the console's pages); to anyone else it does not exist (404, not 403: its id reveals nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Response, status
from fastapi import Path as PathParam
from pydantic import ConfigDict, Field
from sqlalchemy.orm import Session

from guanxi.analytics import playbooks as analytics_playbooks
from guanxi.analytics import runner as analytics_runner
from guanxi.auth.deps import CurrentPrincipal
from guanxi.customers.listing import CustomerFilter
from guanxi.dataio import export
from guanxi.dataio.api import ExportIn, ExportLanguage
from guanxi.jobs import exports, scans
from guanxi.kit.db import get_database
from guanxi.kit.errors import NotFound, PermissionDenied
from guanxi.kit.inputs import BusinessDate
from guanxi.kit.principal import Principal
from guanxi.kit.run_schemas import RunOut, location, run_out
from guanxi.kit.runs import BackgroundRun
from guanxi.kit.text import StorableInput
from guanxi.kit.web import DbSession, in_worker_thread
from guanxi.loyalty.catalog import coupon_jobs
from guanxi.loyalty.insights import simulation

router = APIRouter()

SegmentId = Annotated[str, PathParam(min_length=1, max_length=26, description="Segment id")]
RuleId = Annotated[str, PathParam(min_length=1, max_length=26, description="Tag rule id")]
RunId = Annotated[str, PathParam(min_length=1, max_length=26, description="Background run id")]

Reader = Callable[[Session, Principal, str], BackgroundRun]
# Who may read a run someone else started, per kind: the check its console page makes.
READERS: dict[str, Reader] = {
    scans.SNAPSHOT: scans.get_snapshot_run,
    scans.TAG_RULE: scans.get_tag_rule_run,
    scans.QUALITY: scans.get_quality_run,
    exports.KIND: exports.get,
    coupon_jobs.BULK_KIND: coupon_jobs.get_bulk_issue,
    simulation.RUN_KIND: simulation.get_run,
    analytics_runner.KIND: analytics_runner.get_run,
    # a launch's result is laid out for its starter (or an administrator), as an export's
    analytics_playbooks.KIND: analytics_playbooks.readable_run,
    analytics_playbooks.CALL_LIST_KIND: analytics_playbooks.readable_run,
}
ACCEPTED = {"description": "The run is recorded; poll its Location (GET /api/v1/runs/{id})"}


def _accepted(run: BackgroundRun, response: Response) -> RunOut:
    response.headers["Location"] = location(run)
    return run_out(run)


def readable_run(session: Session, actor: Principal, run_id: str) -> BackgroundRun:
    """The run, if the actor started it or may read its kind; else NotFound, as for no run."""
    row = session.get(BackgroundRun, run_id)
    reader = READERS.get(row.kind) if row is not None else None
    if row is None or reader is None:
        raise NotFound(message=f"run {run_id} not found", key="problem.not_found.run", params={"id": run_id})
    if row.actor_id == actor.id:
        return row
    try:
        return reader(session, actor, run_id)
    except PermissionDenied:
        raise NotFound(message=f"run {run_id} not found", key="problem.not_found.run", params={"id": run_id}) from None


@router.post(
    "/segments/{segment_id}/snapshot",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={202: ACCEPTED},
    tags=["segments"],
)
@in_worker_thread
def snapshot_segment(
    segment_id: SegmentId, session: DbSession, principal: CurrentPrincipal, response: Response
) -> RunOut:
    """Static: take the member list again. Dynamic: save a static copy of who matches now. Runs in
    the background; once done its result is `{segment_id, members}` (the copy's id for a dynamic
    segment)."""
    return _accepted(scans.start_snapshot(session, principal, segment_id, get_database()), response)


@router.post(
    "/tag-rules/{rule_id}/run",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={202: ACCEPTED},
    tags=["tag rules"],
)
@in_worker_thread
def run_rule(rule_id: RuleId, session: DbSession, principal: CurrentPrincipal, response: Response) -> RunOut:
    """Full refresh of the rule's tag over every customer, in the background; once done its result
    is `{rule, tag, matched, added, removed}`."""
    return _accepted(scans.start_tag_rule(session, principal, rule_id, get_database()), response)


@router.post(
    "/exports/customers",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={202: ACCEPTED},
    tags=["imports"],
)
@in_worker_thread
def export_customers(
    body: ExportIn, session: DbSession, principal: CurrentPrincipal, response: Response, lang: ExportLanguage = None
) -> RunOut:
    """The customers matching the filter (or a segment's members), masked as the caller sees them,
    written to a file in the background; once done its result is `{rows, format, file}` and
    GET /runs/{id}/file sends the file (once: it is deleted as it is sent)."""
    flt = CustomerFilter(**body.model_dump(exclude={"format", "segment_id"}))
    run = exports.start(
        session, principal, flt, fmt=body.format, language=lang, database=get_database(), segment_id=body.segment_id
    )
    return _accepted(run, response)


class AnalyticsRunIn(StorableInput):
    model_config = ConfigDict(extra="forbid")

    as_of: BusinessDate | None = Field(default=None, description="Compute as of this date (default today)")


@router.post(
    "/analytics/runs",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={202: ACCEPTED},
    tags=["analytics"],
)
@in_worker_thread
def start_analytics_run(
    body: AnalyticsRunIn, session: DbSession, principal: CurrentPrincipal, response: Response
) -> RunOut:
    """Sync the warehouse and compute every score (RFM, lifecycle, value tier, CLV, churn,
    clusters), written back to the customers; in the background. Once done its result is the
    run's report: what was computed, skipped (and why) and written."""
    return _accepted(analytics_runner.start(session, principal, get_database(), as_of=body.as_of), response)


@router.get("/runs/{run_id}", response_model=RunOut, tags=["runs"])
@in_worker_thread
def get_run(run_id: RunId, session: DbSession, principal: CurrentPrincipal) -> RunOut:
    """A background run: status (queued, running, done, failed), progress (steps done of a total,
    none until the run has counted its work), and once done its result, or the error's code and
    message. 404 for a run the caller neither started nor may read."""
    return run_out(readable_run(session, principal, run_id))


@router.get(
    "/runs/{run_id}/file",
    response_class=Response,
    responses={200: {"content": {media: {} for media in export.MEDIA_TYPES.values()}}},
    tags=["runs"],
)
@in_worker_thread
def run_file(run_id: RunId, session: DbSession, principal: CurrentPrincipal) -> Response:
    """A finished export's file, for the person who started it or an administrator. It is deleted
    as it is sent: 410 `export_gone` on a second download (run the export again)."""
    run = readable_run(session, principal, run_id)
    if run.kind != exports.KIND:
        raise NotFound(message=f"run {run_id} has no file", key="problem.runs.no_file", params={"id": run_id})
    content = exports.take_file(session, principal, run_id)
    fmt = str((run.result or {}).get("format", "csv"))
    stamp = (run.finished_at or run.created_at).strftime("%Y%m%d-%H%M%S")
    return Response(
        content,
        media_type=export.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="customers-{stamp}.{fmt}"'},
    )
