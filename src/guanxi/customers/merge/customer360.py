"""Merges in the customer 360: the merges section and the timeline's merge items."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from guanxi.customers import timeline
from guanxi.customers.merge.review import list_merges
from guanxi.customers.merge_models import CustomerMerge
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import Principal


def _merges_section(session: Session, actor: Principal, customer_id: str) -> list[dict[str, Any]]:
    page = list_merges(
        session, actor, PageRequest(limit=20, sort="created_at", descending=True), customer_id=customer_id
    )
    return [
        {
            "id": m.id,
            "survivor_id": m.survivor_id,
            "merged_id": m.merged_id,
            "reason": m.reason,
            "status": m.status,
            "created_at": m.created_at.isoformat(),
        }
        for m in page.items
    ]


def _merge_items(
    session: Session, actor: Principal, customer_id: str, window: timeline.Window
) -> list[timeline.TimelineItem]:
    stmt = select(CustomerMerge).where(
        or_(CustomerMerge.survivor_id == customer_id, CustomerMerge.merged_id == customer_id)
    )
    return [
        timeline.TimelineItem(
            at=m.created_at,
            kind="merge",
            title=m.reason,
            ref=m.id,
            detail={"survivor_id": m.survivor_id, "merged_id": m.merged_id, "status": m.status},
        )
        for m in session.scalars(timeline.bounded(stmt, CustomerMerge.created_at, window))
    ]


timeline.register_section("merges", "merges", _merges_section)


timeline.register_source("merge", "merges", _merge_items)
