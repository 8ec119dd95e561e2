"""Marketing's part in customer merges and in the customer 360.

- Merges: static segment memberships and tag history follow the person to the survivor (a
  membership the survivor already has is set aside and comes back on undo); rule tags are
  refreshed for both customers after a merge or an undo, through the outbox.
- 360: the saved segments the customer belongs to now, as a section beside the timeline.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from guanxi.customers import merge, timeline
from guanxi.customers.tag_history import CustomerTagHistory
from guanxi.kit import outbox
from guanxi.kit.models import table_of
from guanxi.kit.principal import Principal
from guanxi.marketing import segments, tag_rules
from guanxi.marketing.models import SegmentMember

PARTICIPANT = "marketing"


def _merge(ctx: merge.MergeContext) -> None:
    members = table_of(SegmentMember)
    survivor_segments = select(members.c.segment_id).where(members.c.customer_id == ctx.survivor_id)
    ctx.remove(
        PARTICIPANT,
        members,
        and_(members.c.customer_id == ctx.merged_id, members.c.segment_id.in_(survivor_segments.scalar_subquery())),
        label="segment_members.same",
    )
    ctx.repoint(PARTICIPANT, members, "customer_id", key_columns=("segment_id", "customer_id"), label="segment_members")
    ctx.repoint(PARTICIPANT, table_of(CustomerTagHistory), "customer_id", label="tag_history")


def _segments_section(session: Session, actor: Principal, customer_id: str) -> list[dict[str, Any]]:
    return [ref.model_dump(mode="json") for ref in segments.memberships(session, actor, customer_id)]


@outbox.handles("customer.merged")
def on_merged(session: Session, event: outbox.OutboxEvent) -> None:
    """The survivor's rule tags now see the merged customer's orders and events."""
    ids = [event.payload.get("survivor_id"), event.payload.get("merged_id")]
    tag_rules.refresh_for_customers(session, [i for i in ids if isinstance(i, str)])


@outbox.handles("customer.merge_undone")
def on_merge_undone(session: Session, event: outbox.OutboxEvent) -> None:
    ids = [event.payload.get("survivor_id"), event.payload.get("merged_id")]
    tag_rules.refresh_for_customers(session, [i for i in ids if isinstance(i, str)])


merge.register_participant(PARTICIPANT, _merge)
timeline.register_section("segments", "segments", _segments_section)
