"""Segments (saved audiences) and tag rules (tags kept up to date from a condition tree)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, TimestampMixin, public_id_column
from guanxi.loyalty.orders.models import Order, OrderLine

# Order aggregates in a window ("bought 母婴 at least twice in 90 days") for segments and tag rules.
# Both cover what the compiler reads: the lines of a category lead to their orders; without a
# category, the per-customer aggregate is one pass over this index in customer order (no order
# rows, no sort), whatever the window. They live on loyalty's tables but serve marketing, so they
# are declared (and migrated, 0005) here. The first makes ix_loyalty_orders_customer_occurred
# redundant (its prefix).
ORDERS_BY_CUSTOMER = Index(
    "ix_loyalty_orders_customer_occurred_amounts",
    Order.customer_id,
    Order.occurred_at,
    Order.status,
    Order.paid_amount,
    Order.refunded_amount,
)
LINES_BY_CATEGORY = Index(
    "ix_loyalty_order_lines_category_order",
    OrderLine.category,
    OrderLine.order_id,
    OrderLine.quantity,
    OrderLine.refunded_quantity,
    OrderLine.paid_share,
    OrderLine.refunded_amount,
)


class Segment(TimestampMixin, Base):
    """An audience: `dynamic` is re-evaluated on every read; `static` is the list of members
    taken at `snapshot_at` (rows in segment_members)."""

    __tablename__ = "segments"

    id: Mapped[str] = public_id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    kind: Mapped[str] = mapped_column(String(10), default="dynamic")  # dynamic | static
    definition: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(64))
    snapshot_at: Mapped[datetime | None] = mapped_column(default=None)
    snapshot_count: Mapped[int | None] = mapped_column(default=None)


class SegmentMember(Base):
    """A member of a static segment's snapshot."""

    __tablename__ = "segment_members"
    __table_args__ = (Index("ix_segment_members_customer", "customer_id"),)

    segment_id: Mapped[str] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(default=clock.now)


class TagRule(TimestampMixin, Base):
    """A tag given to exactly the customers a condition tree matches. One rule per tag; the tags it
    gives carry source `rule` (manual tags with the same name are left alone)."""

    __tablename__ = "tag_rules"

    id: Mapped[str] = public_id_column()
    code: Mapped[str] = mapped_column(String(40), unique=True)
    tag: Mapped[str] = mapped_column(String(40), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    definition: Mapped[dict[str, Any]]
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(64))
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_matched: Mapped[int | None] = mapped_column(default=None)
    last_added: Mapped[int | None] = mapped_column(default=None)
    last_removed: Mapped[int | None] = mapped_column(default=None)
