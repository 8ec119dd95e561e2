"""HTTP API of the analytics: playbooks, the retention worklist, targets, and the dashboards'
figures for integrators (parse, call the service, shape the answer).

The figures read the last complete run's outputs (`queries`) and carry no personal data; before
any run has completed they answer 409 `analytics_no_run`. Words (segment names, suggestions,
reasons, statuses) are in the caller's `Accept-Language`. The call list, which leaves the system
as a file, is started above the domains (`jobs.playbooks`), which includes this router.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

import pandas as pd
from fastapi import APIRouter, Path, Query, Request, Response, status
from ibis.common.exceptions import IbisTypeError

from guanxi.analytics import playbooks, presenter, queries, retention, targets
from guanxi.analytics.models import PlaybookLaunch, RetentionItem, Target
from guanxi.analytics.schemas import (
    ContactedIn,
    CouponLaunchIn,
    Figures,
    LaunchOut,
    LaunchPage,
    MigrationOut,
    PlaybookOut,
    PlaybookPage,
    RecommendationsOut,
    RetentionItemOut,
    RetentionPage,
    RetentionStatus,
    RetentionSummaryOut,
    TagLaunchIn,
    TargetIn,
    TargetOut,
    TargetPage,
    TargetUpdate,
)
from guanxi.auth.deps import CurrentPrincipal
from guanxi.auth.service import require
from guanxi.customers import presenter as customer_presenter
from guanxi.customers import service as customers
from guanxi.customers.models import Customer
from guanxi.kit import i18n
from guanxi.kit.db import get_database
from guanxi.kit.errors import Conflict, NotFound, field_error
from guanxi.kit.inputs import BusinessDate
from guanxi.kit.listing import Cursor, Limit, page_of
from guanxi.kit.principal import Principal
from guanxi.kit.run_schemas import RunOut, run_out
from guanxi.kit.runs import BackgroundRun
from guanxi.kit.web import DbSession, Paging, in_worker_thread

router = APIRouter(tags=["analytics"])

RUNS_PATH = "/api/v1/analytics/playbook-runs"
Segment = Annotated[str, Path(min_length=1, max_length=30, description="RFM segment, e.g. at_risk")]
ItemId = Annotated[str, Path(min_length=1, max_length=26, description="Retention item id")]
TargetId = Annotated[str, Path(min_length=1, max_length=26, description="Target id")]
RunId = Annotated[str, Path(min_length=1, max_length=26, description="Background run id")]
CustomerId = Annotated[str, Path(min_length=1, max_length=26, description="Customer id")]
Filter = Annotated[str | None, Query(min_length=1, max_length=60)]
ACCEPTED = {"description": "The launch is recorded; poll its Location"}


class NoRun(Conflict):
    code: ClassVar[str] = "analytics_no_run"
    title: ClassVar[str] = "No analytics run yet"


def no_run() -> NoRun:
    return NoRun(
        message="no analytics run has completed yet; run the analytics first", key="problem.analytics.no_run_yet"
    )


def language(request: Request) -> str:
    return i18n.normalize_language(request.headers.get("accept-language"))


def accepted(run: BackgroundRun, response: Response) -> RunOut:
    response.headers["Location"] = f"{RUNS_PATH}/{run.id}"
    return run_out(run)


def _value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, Decimal):
        return float(value)
    return value


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _value(v) for k, v in record.items()} for record in frame.to_dict("records")]


def _read(reader: Any) -> pd.DataFrame:
    try:
        frame: pd.DataFrame = reader()
    except queries.NoRunYet:
        raise no_run() from None
    return frame


# -- playbooks ---------------------------------------------------------------------------------


@router.get("/analytics/playbooks", response_model=PlaybookPage)
@in_worker_thread
def list_playbooks(request: Request, session: DbSession, principal: CurrentPrincipal) -> PlaybookPage:
    """Every RFM segment's playbook: its current members in your scope and what to do, in your
    language."""
    found = playbooks.list_playbooks(session, principal, language(request))
    return PlaybookPage(
        items=[
            PlaybookOut(
                segment=p.segment, name=p.name, members=p.members, suggestion=p.suggestion, actions=list(p.actions)
            )
            for p in found
        ]
    )


@router.post(
    "/analytics/playbooks/{segment}/coupon",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={202: ACCEPTED},
)
@in_worker_thread
def launch_coupon(
    segment: Segment, body: CouponLaunchIn, session: DbSession, principal: CurrentPrincipal, response: Response
) -> RunOut:
    """Issue a coupon template to the segment's members in your scope (analytics:create and
    coupons:issue), in the background; once done the run's result is `{launch_id, members,
    issued_count, skipped_count, template_id}`."""
    _, run = playbooks.start_coupon(session, principal, segment, body.template_id, get_database())
    return accepted(run, response)


@router.post(
    "/analytics/playbooks/{segment}/tag",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={202: ACCEPTED},
)
@in_worker_thread
def launch_tag(
    segment: Segment, body: TagLaunchIn, session: DbSession, principal: CurrentPrincipal, response: Response
) -> RunOut:
    """Add a tag to the segment's members in your scope (analytics:create and tags:create), in the
    background; once done its result is `{launch_id, members, tag, added, already_tagged}`."""
    _, run = playbooks.start_tag(session, principal, segment, body.tag, get_database())
    return accepted(run, response)


def launch_out(row: PlaybookLaunch) -> LaunchOut:
    return LaunchOut(
        id=row.id,
        segment=row.segment,
        action=row.action,
        parameters=row.parameters,
        members=row.members,
        run_id=row.run_id,
        created_by=row.created_by,
        created_at=row.created_at,
    )


@router.get("/analytics/playbook-launches", response_model=LaunchPage)
@in_worker_thread
def list_launches(
    session: DbSession, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> LaunchPage:
    """The launches, newest first (the last 200)."""
    rows = playbooks.list_launches(session, principal)
    page = page_of(rows, lambda r: f"{r.created_at.isoformat()}|{r.id}", limit, cursor, descending=True)
    return LaunchPage(items=[launch_out(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/analytics/playbook-runs/{run_id}", response_model=RunOut)
@in_worker_thread
def get_launch_run(run_id: RunId, session: DbSession, principal: CurrentPrincipal) -> RunOut:
    """A launch's run, for the person who started it or an administrator (404 to anyone else)."""
    return run_out(playbooks.readable_run(session, principal, run_id))


# -- retention ---------------------------------------------------------------------------------


def item_out(item: RetentionItem, customer: Customer, principal: Principal, lang: str) -> RetentionItemOut:
    shown = customer_presenter.customer_out(customer, [], [], principal)
    return RetentionItemOut(
        id=item.id,
        customer_id=item.customer_id,
        member_no=customer.member_no,
        name=shown.name,
        owner_id=item.owner_id,
        entered_on=item.entered_on,
        risk=item.risk,
        reasons=presenter.reasons_out(item.reasons or [], lang),
        status=item.status,
        contacted_at=item.contacted_at,
        contacted_by=item.contacted_by,
        outcome_on=item.outcome_on,
        note=item.note,
    )


@router.get("/analytics/retention", response_model=RetentionPage)
@in_worker_thread
def list_retention(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    status_: Annotated[RetentionStatus | None, Query(alias="status")] = None,
    owner_id: Annotated[str | None, Query(min_length=1, max_length=26)] = None,
) -> RetentionPage:
    """The worklist within your row scope (a salesperson: their own customers), newest first;
    `sort=risk` for the riskiest first."""
    page = retention.list_items(session, principal, paging, status=status_, owner_id=owner_id)
    lang = language(request)
    return RetentionPage(
        items=[item_out(item, customer, principal, lang) for item, customer in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/analytics/retention/summary", response_model=RetentionSummaryOut)
@in_worker_thread
def retention_summary(
    session: DbSession, principal: CurrentPrincipal, since: Annotated[BusinessDate | None, Query()] = None
) -> RetentionSummaryOut:
    """Entered, contacted, won back, lost, and the win-back rate of contacted vs not contacted."""
    found = retention.summary(session, principal, since=since)
    return RetentionSummaryOut(
        entered=found.entered,
        open=found.open,
        contacted=found.contacted,
        won_back=found.won_back,
        lost=found.lost,
        win_back_rate_contacted=found.win_back_rate_contacted,
        win_back_rate_not_contacted=found.win_back_rate_not_contacted,
    )


@router.post("/analytics/retention/{item_id}/contacted", response_model=RetentionItemOut)
@in_worker_thread
def mark_contacted(
    item_id: ItemId, body: ContactedIn, request: Request, session: DbSession, principal: CurrentPrincipal
) -> RetentionItemOut:
    """The customer was contacted (notes:create, the customer in your scope); with a note."""
    item, customer = retention.mark_contacted(session, principal, item_id, body.note)
    return item_out(item, customer, principal, language(request))


# -- targets -----------------------------------------------------------------------------------


def plain(value: Decimal | None) -> Decimal | None:
    """A stored value without the column's trailing zeros (1.0000 is 1), never in E notation."""
    if value is None:
        return None
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def target_out(target: Target, progress: targets.Progress, lang: str) -> TargetOut:
    return TargetOut(
        id=target.id,
        metric=target.metric,
        metric_name=i18n.t(f"analytics.target.metric.{target.metric}", lang),
        kind=target.kind,
        value=Decimal(plain(target.value) or 0),
        baseline=plain(target.baseline),
        baseline_on=target.baseline_on,
        deadline=target.deadline,
        note=target.note,
        goal=plain(progress.goal),
        current=plain(progress.current),
        expected=plain(progress.expected),
        status=progress.status,
        status_name=i18n.t(f"analytics.target.status.{progress.status}", lang),
        created_by=target.created_by,
    )


def _one(session: DbSession, target: Target, lang: str) -> TargetOut:
    [(row, progress)] = targets.with_progress(session, [target])
    return target_out(row, progress, lang)


@router.get("/analytics/targets", response_model=TargetPage)
@in_worker_thread
def list_targets(
    request: Request, session: DbSession, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> TargetPage:
    """The targets by deadline, each with its progress today."""
    rows = targets.list_targets(session, principal)
    page = page_of(rows, lambda r: f"{r.deadline.isoformat()}|{r.id}", limit, cursor)
    lang = language(request)
    return TargetPage(
        items=[target_out(t, p, lang) for t, p in targets.with_progress(session, page.items)],
        next_cursor=page.next_cursor,
    )


@router.post("/analytics/targets", response_model=TargetOut, status_code=status.HTTP_201_CREATED)
@in_worker_thread
def create_target(
    body: TargetIn, request: Request, session: DbSession, principal: CurrentPrincipal, response: Response
) -> TargetOut:
    """Set a target (analytics:update); its baseline is the metric's value now."""
    target = targets.create_target(
        session,
        principal,
        metric=body.metric,
        kind=body.kind,
        value=body.value,
        deadline=body.deadline,
        note=body.note,
    )
    response.headers["Location"] = f"/api/v1/analytics/targets/{target.id}"
    return _one(session, target, language(request))


@router.get("/analytics/targets/{target_id}", response_model=TargetOut)
@in_worker_thread
def get_target(target_id: TargetId, request: Request, session: DbSession, principal: CurrentPrincipal) -> TargetOut:
    return _one(session, targets.get_target(session, principal, target_id), language(request))


@router.patch("/analytics/targets/{target_id}", response_model=TargetOut)
@in_worker_thread
def update_target(
    target_id: TargetId, body: TargetUpdate, request: Request, session: DbSession, principal: CurrentPrincipal
) -> TargetOut:
    """Change the kind, value, deadline or note (the baseline stays)."""
    target = targets.update_target(session, principal, target_id, body.model_dump(exclude_unset=True))
    return _one(session, target, language(request))


@router.delete("/analytics/targets/{target_id}", status_code=status.HTTP_204_NO_CONTENT)
@in_worker_thread
def delete_target(target_id: TargetId, session: DbSession, principal: CurrentPrincipal) -> Response:
    targets.delete_target(session, principal, target_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- the dashboards' figures -------------------------------------------------------------------


def _reader(principal: Principal) -> None:
    require(principal, "analytics", "read")


@router.get("/analytics/kpis", response_model=Figures)
@in_worker_thread
def kpis(
    principal: CurrentPrincipal,
    period: Literal["month", "week"] = "month",
    store: Filter = None,
    channel: Filter = None,
    tier: Filter = None,
    start: Annotated[BusinessDate | None, Query()] = None,
    end: Annotated[BusinessDate | None, Query()] = None,
) -> Figures:
    """Per period: revenue, orders, buyers, AOV, frequency, repeat rate, new buyers, customers at
    start and end, retention and churn rates (orders filtered by store, channel, tier)."""
    _reader(principal)
    filters = queries.Filters(store=store, channel=channel, tier=tier)
    return Figures(rows=rows_of(_read(lambda: queries.kpis(period=period, start=start, end=end, filters=filters))))


@router.get("/analytics/segments", response_model=Figures)
@in_worker_thread
def segments(request: Request, principal: CurrentPrincipal) -> Figures:
    """Customers, share and spend per RFM segment, with the segment's name."""
    _reader(principal)
    rows = rows_of(_read(queries.segment_sizes))
    lang = language(request)
    for row in rows:
        row["name"] = i18n.t(f"rfm.segment.{row['rfm_segment']}", lang)
    return Figures(rows=rows)


@router.get("/analytics/rfm-grid", response_model=Figures)
@in_worker_thread
def rfm_grid(principal: CurrentPrincipal) -> Figures:
    """Customers and mean spend per (R, F) cell."""
    _reader(principal)
    return Figures(rows=rows_of(_read(queries.rfm_grid)))


@router.get("/analytics/lifecycle", response_model=Figures)
@in_worker_thread
def lifecycle(principal: CurrentPrincipal) -> Figures:
    """Customers per lifecycle stage, in the funnel's order."""
    _reader(principal)
    return Figures(rows=rows_of(_read(queries.lifecycle_funnel)))


@router.get("/analytics/cohorts", response_model=Figures)
@in_worker_thread
def cohorts(
    principal: CurrentPrincipal,
    period: Literal["month", "week"] = "month",
    periods: Annotated[int, Query(ge=1, le=60)] = 12,
    store: Filter = None,
    channel: Filter = None,
    tier: Filter = None,
) -> Figures:
    """The retention triangle: per cohort its size and the share buying k periods later (null
    for periods that have not happened yet)."""
    _reader(principal)
    filters = queries.Filters(store=store, channel=channel, tier=tier)
    frame = _read(lambda: queries.cohorts(period=period, filters=filters, periods=periods))
    if frame.empty:
        return Figures(rows=[])
    frame = frame.rename_axis("cohort").reset_index()
    frame.columns = [str(c) for c in frame.columns]
    return Figures(rows=rows_of(frame))


@router.get("/analytics/clv-distribution", response_model=Figures)
@in_worker_thread
def clv_distribution(principal: CurrentPrincipal, bins: Annotated[int, Query(ge=2, le=100)] = 20) -> Figures:
    """Customers per CLV band."""
    _reader(principal)
    return Figures(rows=rows_of(_read(lambda: queries.clv_distribution(bins=bins))))


@router.get("/analytics/basket-rules", response_model=Figures)
@in_worker_thread
def basket_rules(
    principal: CurrentPrincipal,
    level: Literal["category", "sku"] = "category",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Figures:
    """Association rules between categories or products (support, confidence, lift)."""
    _reader(principal)
    return Figures(rows=rows_of(_read(lambda: queries.basket_rules(level=level, limit=limit))))


@router.get("/analytics/migration", response_model=MigrationOut)
@in_worker_thread
def migration(
    principal: CurrentPrincipal,
    from_: Annotated[BusinessDate, Query(alias="from")],
    to: Annotated[BusinessDate, Query()],
) -> MigrationOut:
    """How many customers moved from each segment to each segment between two runs' snapshots."""
    _reader(principal)
    if from_ >= to:
        raise field_error(
            "from", "the first date must be before the second", "order", key="problem.analytics.migration_order"
        )
    try:
        table = queries.migration(from_, to)
    except queries.NoRunYet:
        missing = from_ if not _has_snapshot(from_) else to
        raise NotFound(
            message=f"there is no scores snapshot as of {missing.isoformat()}",
            key="problem.analytics.no_snapshot",
            params={"date": missing.isoformat()},
        ) from None
    return MigrationOut(
        from_date=from_,
        to_date=to,
        segments_from=[str(i) for i in table.index],
        segments_to=[str(c) for c in table.columns],
        counts=[[int(v) for v in row] for row in table.to_numpy()],
    )


def _has_snapshot(day: date) -> bool:
    from guanxi.analytics.runner import snapshot_path

    return snapshot_path(day).exists()


@router.get("/customers/{customer_id}/recommendations", response_model=RecommendationsOut, tags=["customers"])
@in_worker_thread
def recommendations(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> RecommendationsOut:
    """What the last run recommends this customer (the customer must be readable by you)."""
    _reader(principal)
    customer = customers.get_customer(session, principal, customer_id)
    return RecommendationsOut(customer_id=customer.id, rows=rows_of(_read(lambda: _recommendations(customer.id))))


def _recommendations(customer_id: str) -> pd.DataFrame:
    try:
        return queries.recommendations(customer_id)
    except IbisTypeError:
        # A run that found no basket rules writes an empty file whose columns have no type
        # (`facts.write`), which ibis cannot compare with an id: it recommends nothing.
        return pd.DataFrame()
