"""Behaviour events (append-only) and the registry of event types with their property schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from guanxi.kit import clock
from guanxi.kit.models import Base, BigId, TimestampMixin


class EventType(TimestampMixin, Base):
    """A kind of event the platform accepts, with the names and types of its properties.

    `properties` maps a property name to one of string | number | integer | boolean | datetime;
    names in `required` must be present. Events older than `retention_days` are purged by the
    daily job (None keeps them forever).
    """

    __tablename__ = "event_types"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label_zh: Mapped[str] = mapped_column(String(60))
    label_en: Mapped[str] = mapped_column(String(60))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    required: Mapped[list[Any]] = mapped_column(JSON, default=list)
    retention_days: Mapped[int | None] = mapped_column(default=None)
    builtin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)


class CustomerEvent(Base):
    """One thing a person did. Rows are never edited, with one exception: `customer_id` is set
    when an anonymous visitor identifies themselves (stitching) and moved when customers merge."""

    __tablename__ = "customer_events"
    __table_args__ = (
        # The customer's timeline, newest first.
        Index("ix_customer_events_customer_occurred", "customer_id", "occurred_at"),
        # Windowed aggregates for segments and tags ("did X in the last 30 days"): the index
        # alone answers which customers did a type of event in a window.
        Index("ix_customer_events_type_occurred_customer", "type", "occurred_at", "customer_id"),
        Index("ix_customer_events_anonymous", "anonymous_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The sender's id for the event: a second delivery with the same id is a no-op.
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), default=None)
    anonymous_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # Where it happened: app, mini_program, wechat, web, store, pos, import, ...
    channel: Mapped[str | None] = mapped_column(String(30), default=None)
    occurred_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
