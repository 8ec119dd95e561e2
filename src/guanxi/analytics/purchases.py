"""Purchases and per-customer behaviour as of a date, as Ibis expressions over the warehouse.

Everything here is written against Ibis tables (no engine SQL), so the same expressions run on
DuckDB today and on a distributed engine later. A purchase is an order that was not cancelled,
occurred on or before the as-of date, by a customer who is neither deleted nor merged away; its
value is what was paid less what was refunded, never below zero (a refund larger than the
purchase is counted, and reported, but does not make spend negative).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import ibis
import ibis.expr.types as ir

COUNTED_STATUSES = ("completed", "partially_refunded", "refunded")


@dataclass(frozen=True)
class Warehouse:
    """The warehouse's tables as Ibis expressions."""

    customers: ir.Table
    orders: ir.Table
    order_lines: ir.Table
    accounts: ir.Table
    point_entries: ir.Table
    coupons: ir.Table
    events: ir.Table

    @classmethod
    def on(cls, connection: ibis.BaseBackend) -> Warehouse:
        return cls(**{name: connection.table(name) for name in cls.__dataclass_fields__})


def end_of(as_of: date) -> datetime:
    """The last instant counted: the as-of day is included whole (UTC)."""
    return datetime.combine(as_of + timedelta(days=1), time())


def live_customers(w: Warehouse, as_of: date) -> ir.Table:
    c = w.customers
    return c.filter(c.deleted_at.isnull(), c.merged_into_id.isnull(), c.created_at < end_of(as_of))


def purchases(w: Warehouse, as_of: date) -> ir.Table:
    """One row per counted order: customer, when, the day, net value."""
    o = w.orders
    live = live_customers(w, as_of).select(customer_id="id")
    net = (o.paid_amount - o.refunded_amount).cast("float64")
    counted = o.filter(o.status.isin(COUNTED_STATUSES), o.occurred_at < end_of(as_of))
    return counted.join(live, "customer_id").select(
        "customer_id",
        order_id=counted.id,
        occurred_at=counted.occurred_at,
        day=counted.occurred_at.date(),
        net=ibis.greatest(net, 0.0),
        over_refunded=net < 0,
        store=counted.store,
        channel=counted.channel,
    )


def customer_days(w: Warehouse, as_of: date) -> ir.Table:
    """Purchases merged by customer and day (two orders on one day are one purchase occasion, as
    the CLV models and the RFM frequency count them)."""
    p = purchases(w, as_of)
    return p.group_by(["customer_id", "day"]).aggregate(net=p.net.sum(), orders=p.count())


def behaviour(w: Warehouse, as_of: date, *, window_days: int) -> ir.Table:
    """Per customer with at least one purchase ever: first and last purchase, purchase days and
    spend overall and in the RFM window, recency, tenure and mean cycle (days)."""
    d = customer_days(w, as_of)
    start = as_of - timedelta(days=window_days - 1)
    in_window = d.day >= start
    cutoff = ibis.literal(as_of)
    summary = d.group_by("customer_id").aggregate(
        first_day=d.day.min(),
        last_day=d.day.max(),
        purchase_days=d.count(),
        spend=d.net.sum(),
        first_spend=d.net.argmin(d.day),
        frequency=in_window.ifelse(1, 0).sum(),
        monetary=in_window.ifelse(d.net, 0.0).sum(),
    )
    recency = cutoff.delta(summary.last_day, unit="day")
    span = summary.last_day.delta(summary.first_day, unit="day")
    return summary.mutate(
        recency_days=recency,
        tenure_days=cutoff.delta(summary.first_day, unit="day"),
        mean_cycle_days=(summary.purchase_days > 1).ifelse(span / (summary.purchase_days - 1), ibis.null("float64")),
    )
