"""The playbooks' call list, and the analytics router with the launches above the domains.

A call list is a CSV of a segment's members for their owners to call: name, member number,
phone (masked as the caller's role sees it), owner, CLV, churn risk and the reasons in words. It
leaves the system as a file, so it is written like a customer export (`jobs.exports`): by a
background run (kind `analytics.call_list`) into a private file in GUANXI_HOME/exports (the
hourly purge deletes one left behind), sent once to the person who started it and deleted as it
is sent; the run's parameters name the segment and language only. Starting it needs
analytics:export and customers:export; full values are a reveal, audited as every export is.

`router` is the analytics router (`analytics.api`) with the call list's two routes added, which
the application includes.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import IO, Annotated, Any

from fastapi import APIRouter, Request, Response, status
from fastapi import Path as PathParam
from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.analytics import api as analytics_api
from guanxi.analytics import playbooks
from guanxi.analytics.churn_scorecard import Reason, render_reason
from guanxi.analytics.models import CustomerScore
from guanxi.analytics.schemas import CallListIn
from guanxi.auth import permissions
from guanxi.auth.deps import CurrentPrincipal
from guanxi.auth.models import StaffUser
from guanxi.customers import presenter, repository
from guanxi.customers.access import audit_exposure
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.dataio import files
from guanxi.jobs.exports import ExportGone
from guanxi.kit import i18n, runs
from guanxi.kit.db import Database, get_database
from guanxi.kit.errors import NotFound
from guanxi.kit.principal import Principal
from guanxi.kit.run_schemas import RunOut
from guanxi.kit.runs import BackgroundRun, RunContext
from guanxi.kit.web import DbSession, in_worker_thread
from guanxi.privacy import audit

KIND = playbooks.CALL_LIST_KIND
PAGE = 500
COLUMNS = ("name", "member_no", "phone", "owner", "clv", "churn_risk", "reasons")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell


def start_call_list(
    session: Session, actor: Principal, segment: str, language: str, database: Database
) -> BackgroundRun:
    count = playbooks.check_launch(session, actor, segment, "call_list")
    _, run = playbooks.record_launch(
        session,
        actor,
        segment=segment,
        action="call_list",
        parameters={"language": language},
        members_now=count,
        kind=KIND,
        database=database,
    )
    return run


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _number(value: Decimal | float | None) -> str:
    return "" if value is None else f"{float(value):.2f}".rstrip("0").rstrip(".")


def _reasons(items: list[dict[str, Any]], language: str) -> str:
    reasons = [
        Reason(code=item["code"], key=item["key"], weight=0.0, params=item.get("params", {})) for item in items or []
    ]
    return "; ".join(render_reason(reason, language) for reason in reasons)


def _rows(session: Session, actor: Principal, ids: list[str], language: str) -> list[list[str]]:
    customers = {c.id: c for c in session.scalars(repository.customers(actor).where(Customer.id.in_(ids)))}
    phones: dict[str, list[CustomerIdentity]] = {}
    for identity in session.scalars(
        select(CustomerIdentity)
        .where(CustomerIdentity.customer_id.in_(ids), CustomerIdentity.kind == "phone")
        .order_by(CustomerIdentity.customer_id, CustomerIdentity.id)
    ):
        phones.setdefault(identity.customer_id, []).append(identity)
    scores = {
        s.customer_id: s for s in session.scalars(select(CustomerScore).where(CustomerScore.customer_id.in_(ids)))
    }
    owner_ids = {c.owner_id for c in customers.values() if c.owner_id}
    owners = {
        u.id: u.display_name or u.username
        for u in session.scalars(select(StaffUser).where(StaffUser.id.in_(owner_ids)))
    }
    rows = []
    for customer_id in ids:
        customer = customers.get(customer_id)
        if customer is None:  # left the caller's scope since the list was read
            continue
        shown = presenter.customer_out(customer, phones.get(customer_id, []), [], actor)
        score = scores.get(customer_id)
        rows.append(
            [
                _cell(shown.name or ""),
                customer.member_no or "",
                shown.phone or "",
                _cell(owners.get(customer.owner_id or "", "")),
                _number(score.clv if score else None),
                _number(score.churn_risk if score else None),
                _cell(_reasons(score.churn_reasons if score else [], language)),
            ]
        )
    return rows


def write_call_list(session: Session, actor: Principal, segment: str, language: str, out: IO[bytes]) -> int:
    """Write the segment's members the caller may see to `out` (CSV, UTF-8 with a BOM for
    spreadsheets); returns the number of rows. Audited as `analytics.call_list.export`."""
    ids = playbooks.members(session, actor, segment)
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    written = 0
    try:
        writer = csv.writer(text)
        writer.writerow([i18n.t(f"analytics.call_list.{column}", language) for column in COLUMNS])
        for start in range(0, len(ids), PAGE):
            rows = _rows(session, actor, ids[start : start + PAGE], language)
            writer.writerows(rows)
            written += len(rows)
        text.flush()
    finally:
        text.detach()
    visibility = permissions.visibility(actor)
    audit_exposure(session, actor, ids, visibility)
    audit.record(
        session,
        actor,
        "analytics.call_list.export",
        entity_type="rfm_segment",
        entity_id=segment,
        fields=["name", "member_no", "phone", "owner", "clv", "churn_risk", "churn_reasons"],
        detail={"rows": written, "visibility": visibility.value, "language": language},
    )
    return written


def run_call_list(context: RunContext) -> dict[str, Any]:
    segment, language = str(context.parameters["segment"]), str(context.parameters["language"])
    handle, path = files.new_export_file("csv")
    try:
        with handle, context.database.unit_of_work() as session:
            rows = write_call_list(session, context.actor, segment, language, handle)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    context.progress(rows, rows)
    return {"launch_id": context.parameters["launch_id"], "rows": rows, "format": "csv", "file": path.name}


def take_file(session: Session, actor: Principal, run_id: str) -> bytes:
    """The finished call list, deleted as it is read (it holds personal data)."""
    run = playbooks.readable_run(session, actor, run_id)
    if run.kind != KIND:
        raise NotFound(message=f"run {run_id} has no file", key="problem.runs.no_file", params={"id": run_id})
    if run.status != "done":
        raise NotFound(
            message=f"export {run_id} has not finished", key="problem.exports.unfinished", params={"id": run_id}
        )
    path = files.exports_dir() / Path(str((run.result or {}).get("file", ""))).name
    if not path.is_file():
        raise ExportGone(
            message=f"export {run_id}: the file was sent already or deleted; run the export again",
            key="problem.exports.gone",
            params={"id": run_id},
        )
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


runs.register(KIND, run_call_list)


# -- the routes --------------------------------------------------------------------------------

router = APIRouter()
router.include_router(analytics_api.router)
_routes = APIRouter(tags=["analytics"])
Segment = Annotated[str, PathParam(min_length=1, max_length=30, description="RFM segment, e.g. at_risk")]
RunId = Annotated[str, PathParam(min_length=1, max_length=26, description="Background run id")]


@_routes.post(
    "/analytics/playbooks/{segment}/call-list",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={202: analytics_api.ACCEPTED},
)
@in_worker_thread
def launch_call_list(
    segment: Segment,
    body: CallListIn,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
) -> RunOut:
    """A CSV of the segment's members in your scope for their owners to call (analytics:export
    and customers:export), in the background; once done GET .../playbook-runs/{id}/file sends it
    once."""
    language = body.language or analytics_api.language(request)
    run = start_call_list(session, principal, segment, language, get_database())
    return analytics_api.accepted(run, response)


@_routes.get(
    "/analytics/playbook-runs/{run_id}/file",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
@in_worker_thread
def call_list_file(run_id: RunId, session: DbSession, principal: CurrentPrincipal) -> Response:
    """A finished call list, for the person who started it or an administrator; deleted as it is
    sent (410 `export_gone` on a second download)."""
    content = take_file(session, principal, run_id)
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="call-list-{run_id}.csv"'},
    )


router.include_router(_routes)
