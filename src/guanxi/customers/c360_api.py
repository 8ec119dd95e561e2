"""HTTP API for the customer 360: the timeline across domains and the current-state sections."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from guanxi.auth.deps import CurrentPrincipal
from guanxi.customers import quality, timeline
from guanxi.kit.inputs import BusinessDateTime
from guanxi.kit.web import DbSession, in_worker_thread

router = APIRouter(tags=["customer 360"])

CustomerId = Annotated[str, Path(min_length=1, max_length=26, description="Customer id")]


class TimelineItemOut(BaseModel):
    at: datetime
    kind: str
    title: str
    ref: str
    detail: dict[str, Any]


class TimelineOut(BaseModel):
    items: list[TimelineItemOut]
    next_cursor: str | None
    hidden: list[str] = Field(description="kinds left out because the caller may not read them")


class Customer360Out(BaseModel):
    completeness: int = Field(description="profile completeness score, 0-100")
    missing: list[str] = Field(description="profile fields that would raise the score")
    sections: dict[str, Any]


@router.get("/customers/{customer_id}/timeline", response_model=TimelineOut)
@in_worker_thread
def customer_timeline(
    customer_id: CustomerId,
    session: DbSession,
    principal: CurrentPrincipal,
    types: Annotated[
        str | None, Query(max_length=200, description="comma-separated: event, order, points, coupon, note, ...")
    ] = None,
    since: BusinessDateTime | None = None,
    until: BusinessDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TimelineOut:
    """Everything that happened to the customer, newest first, across every domain."""
    wanted = [t.strip() for t in types.split(",") if t.strip()] if types else None
    found = timeline.timeline(
        session, principal, customer_id, kinds_wanted=wanted, since=since, until=until, limit=limit, cursor=cursor
    )
    return TimelineOut(
        items=[TimelineItemOut(at=i.at, kind=i.kind, title=i.title, ref=i.ref, detail=i.detail) for i in found.items],
        next_cursor=found.next_cursor,
        hidden=found.hidden,
    )


@router.get("/customers/{customer_id}/360", response_model=Customer360Out)
@in_worker_thread
def customer_360(customer_id: CustomerId, session: DbSession, principal: CurrentPrincipal) -> Customer360Out:
    """The current state beside the timeline: completeness, loyalty card, segments, merges."""
    found = timeline.sections(session, principal, customer_id)
    score = quality.score_of(session, principal, customer_id)
    return Customer360Out(completeness=score.score, missing=score.missing, sections=found)


class QualitySnapshotOut(BaseModel):
    id: int
    taken_at: datetime
    taken_by: str
    customers: int
    average_score: int
    report: dict[str, Any]


@router.get("/data-quality", response_model=dict[str, Any], tags=["data quality"])
@in_worker_thread
def data_quality(session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """The base as it is now: completeness, missing and invalid fields, stale records, duplicates."""
    return quality.report(session, principal)


@router.post("/data-quality/checks", response_model=QualitySnapshotOut, status_code=201, tags=["data quality"])
@in_worker_thread
def run_data_quality_check(session: DbSession, principal: CurrentPrincipal) -> QualitySnapshotOut:
    """Run the check now and keep its report (the daily job does the same)."""
    return QualitySnapshotOut.model_validate(quality.run_check(session, principal), from_attributes=True)


@router.get("/data-quality/checks", response_model=list[QualitySnapshotOut], tags=["data quality"])
@in_worker_thread
def data_quality_checks(
    session: DbSession, principal: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=365)] = 30
) -> list[QualitySnapshotOut]:
    return [
        QualitySnapshotOut.model_validate(s, from_attributes=True)
        for s in quality.snapshots(session, principal, limit=limit)
    ]
