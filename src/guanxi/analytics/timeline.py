"""The analytics' part of the customer 360 timeline: lifecycle stage changes between runs.

detail: from (stage code), to (stage code), as_of (ISO date of the run that saw it).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.analytics.models import StageChange
from guanxi.customers.timeline import TimelineItem, Window, bounded, register_source
from guanxi.kit.principal import Principal


def _stage_changes(session: Session, actor: Principal, customer_id: str, window: Window) -> list[TimelineItem]:
    stmt = select(StageChange).where(StageChange.customer_id == customer_id)
    return [
        TimelineItem(
            at=change.created_at,
            kind="lifecycle",
            title=f"{change.from_stage} → {change.to_stage}",
            ref=str(change.id),
            detail={"from": change.from_stage, "to": change.to_stage, "as_of": change.as_of.isoformat()},
        )
        for change in session.scalars(bounded(stmt, StageChange.created_at, window))
    ]


register_source("lifecycle", "analytics", _stage_changes)
