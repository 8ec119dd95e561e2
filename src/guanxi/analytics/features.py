"""Behaviour features per customer as of a date: the inputs of the churn scorecard, the churn
model and the clusters, built with Ibis over the warehouse.

A feature whose data does not exist yet (complaints and NPS before the service desk, points
about to expire until lots are in the warehouse) is left out of the frame, not filled with
zeros: the scorecard then says the indicator was skipped for want of data.
"""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from guanxi.analytics.purchases import Warehouse, behaviour, end_of, live_customers, purchases

RECENT_DAYS = 90  # orders and spend: the last 90 days against the 90 before
ACTIVE_DAYS = 30  # app and sign-in activity: the last 30 days against the 30 before


def _between(column: ir.Column, start: date, end: date) -> ir.BooleanColumn:
    """`start` ≤ column's day ≤ `end` (both whole days)."""
    return (column >= end_of(start - timedelta(days=1))) & (column < end_of(end))


def features(w: Warehouse, as_of: date, *, window_days: int = 365) -> ir.Table:
    live = live_customers(w, as_of)
    base = live.select(customer_id=live.id, created_at=live.created_at, profiling_opt_out=live.profiling_opt_out)
    b = behaviour(w, as_of, window_days=window_days)

    p = purchases(w, as_of)
    recent_start = as_of - timedelta(days=RECENT_DAYS - 1)
    before_start = recent_start - timedelta(days=RECENT_DAYS)
    recent = _between(p.occurred_at, recent_start, as_of)
    before = _between(p.occurred_at, before_start, recent_start - timedelta(days=1))
    windows = p.group_by("customer_id").aggregate(
        orders_recent=recent.ifelse(1, 0).sum(),
        orders_before=before.ifelse(1, 0).sum(),
        spend_recent=recent.ifelse(p.net, 0.0).sum(),
        spend_before=before.ifelse(p.net, 0.0).sum(),
        order_count=p.count(),
        over_refunded_orders=p.over_refunded.ifelse(1, 0).sum(),
    )

    o = w.orders.filter(w.orders.occurred_at < end_of(as_of), w.orders.status != "cancelled")
    refunds = o.group_by("customer_id").aggregate(
        paid=o.paid_amount.cast("float64").sum(), refunded=o.refunded_amount.cast("float64").sum()
    )
    refunds = refunds.mutate(
        refund_share=(refunds.paid > 0).ifelse(ibis.least(1.0, refunds.refunded / refunds.paid), ibis.null("float64"))
    ).select("customer_id", "refund_share")

    lines = w.order_lines.join(o.select(order_id="id", customer_id="customer_id"), "order_id")
    listed = (lines.unit_price * lines.quantity).cast("float64")
    line_stats = lines.group_by("customer_id").aggregate(
        listed=listed.sum(), paid_lines=lines.paid_share.cast("float64").sum(), category_count=lines.category.nunique()
    )
    line_stats = line_stats.mutate(
        discount_share=(line_stats.listed > 0).ifelse(
            ibis.greatest(0.0, 1.0 - line_stats.paid_lines / line_stats.listed), ibis.null("float64")
        )
    ).select("customer_id", "discount_share", "category_count")

    c = w.coupons.filter(w.coupons.created_at < end_of(as_of))
    used = c.redeemed_at.notnull() & (c.redeemed_at < end_of(as_of))
    still_valid = c.valid_to.isnull() | (c.valid_to >= end_of(as_of))
    coupon_stats = c.group_by("customer_id").aggregate(
        issued=c.count(),
        used=used.ifelse(1, 0).sum(),
        unused_coupons=(~used & still_valid & (c.status == "issued")).ifelse(1, 0).sum(),
    )
    coupon_stats = coupon_stats.mutate(coupon_use_share=coupon_stats.used / coupon_stats.issued).select(
        "customer_id", "coupon_use_share", "unused_coupons"
    )

    e = w.events
    active_start = as_of - timedelta(days=ACTIVE_DAYS - 1)
    e_recent = _between(e.occurred_at, active_start, as_of)
    e_before = _between(e.occurred_at, active_start - timedelta(days=ACTIVE_DAYS), active_start - timedelta(days=1))
    e_window = e.filter(e_recent | e_before).mutate(day=e.occurred_at.date(), recent=e_recent)
    activity = e_window.group_by("customer_id").aggregate(
        active_days_recent=e_window.recent.ifelse(e_window.day, ibis.null("date")).nunique(),
        active_days_before=(~e_window.recent).ifelse(e_window.day, ibis.null("date")).nunique(),
    )

    frame = base
    for part in (b, windows, refunds, line_stats, coupon_stats, activity):
        frame = frame.left_join(part, "customer_id").drop("customer_id_right")
    return frame.mutate(
        avg_order_value=(frame.order_count > 0).ifelse(frame.spend / frame.order_count, ibis.null("float64"))
    )


def features_frame(w: Warehouse, as_of: date, *, window_days: int = 365) -> pd.DataFrame:
    """The features as pandas, one row per live customer, counts filled with 0 where the
    customer simply has none (no orders, no coupons), shares left NaN where undefined."""
    frame = features(w, as_of, window_days=window_days).execute()
    for column in ("frequency", "purchase_days", "orders_recent", "orders_before", "order_count", "unused_coupons"):
        frame[column] = frame[column].fillna(0).astype("int64")
    for column in ("monetary", "spend", "spend_recent", "spend_before"):
        frame[column] = frame[column].fillna(0.0).astype("float64")
    for column in ("active_days_recent", "active_days_before"):
        # activity is known for everybody once any event exists: no event in the windows is 0 days
        frame[column] = frame[column].fillna(0).astype("float64")
    return frame.sort_values("customer_id", ignore_index=True)
