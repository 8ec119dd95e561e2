"""Orders as the loyalty engine sees them (what was paid, for what, when, where) and their refunds.

An order is unique per (source, external id): posting it again returns the first answer.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, public_id_column


class Order(Base):
    __tablename__ = "loyalty_orders"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_loyalty_orders_customer_occurred", "customer_id", "occurred_at"),
        Index("ix_loyalty_orders_occurred", "occurred_at"),
        # the warehouse sync reads changed orders from a watermark on this column
        Index("ix_loyalty_orders_updated", "updated_at"),
    )

    id: Mapped[str] = public_id_column()
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    # A hash of the request that created the order: a replay with another body is a conflict.
    request_hash: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("loyalty_accounts.id"), index=True)
    paid_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    refunded_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3))
    # An order paid in another currency: what was paid in it, and the rate (program currency per
    # unit) and its period's first day that converted it; the amounts above are converted.
    original_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2), default=None)
    original_currency: Mapped[str | None] = mapped_column(String(3), default=None)
    exchange_rate: Mapped[Decimal | None] = mapped_column(Numeric(18, 8), default=None)
    rate_valid_from: Mapped[date | None] = mapped_column(Date, default=None)
    occurred_at: Mapped[datetime] = mapped_column()
    store: Mapped[str | None] = mapped_column(String(40), default=None)
    channel: Mapped[str | None] = mapped_column(String(30), default=None)
    # completed | partially_refunded | refunded | cancelled (kept for the record, counted nowhere)
    status: Mapped[str] = mapped_column(String(20), default="completed")
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    points_earned: Mapped[int] = mapped_column(default=0)
    points_reversed: Mapped[int] = mapped_column(default=0)
    growth_earned: Mapped[int] = mapped_column(default=0)
    growth_reversed: Mapped[int] = mapped_column(default=0)
    # The tier the order was priced at, and the answer given when it was posted (for replays).
    tier_code: Mapped[str] = mapped_column(String(40))
    answer: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Any change (refund, cancellation, a merge moving it) sets it, so the analytics warehouse can
    # copy what changed since its watermark. Null only on rows written before it existed.
    updated_at: Mapped[datetime | None] = mapped_column(default=clock.now, onupdate=clock.now)


class OrderLine(Base):
    __tablename__ = "loyalty_order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_no"),)

    id: Mapped[str] = public_id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("loyalty_orders.id"), index=True)
    line_no: Mapped[int] = mapped_column()
    sku: Mapped[str | None] = mapped_column(String(64), default=None)
    category: Mapped[str | None] = mapped_column(String(64), default=None)
    quantity: Mapped[int] = mapped_column()
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    # The order's paid amount allocated over its lines (discounts spread by line value).
    paid_share: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    refunded_quantity: Mapped[int] = mapped_column(default=0)
    refunded_amount: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))


class Refund(Base):
    __tablename__ = "loyalty_refunds"
    __table_args__ = (UniqueConstraint("order_id", "idempotency_key"),)

    id: Mapped[str] = public_id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("loyalty_orders.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), default=None)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    lines: Mapped[list[Any]] = mapped_column(JSON, default=list)
    policy: Mapped[str] = mapped_column(String(20))
    points_reversed: Mapped[int] = mapped_column(default=0)
    # Points the member had already spent and that could not be taken back from any lot.
    points_shortfall: Mapped[int] = mapped_column(default=0)
    # reduce_refund policy: cash kept back from the refund to pay for spent points.
    cash_deduction: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal(0))
    growth_reversed: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
