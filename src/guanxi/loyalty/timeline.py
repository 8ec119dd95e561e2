"""Loyalty's part of the customer 360 timeline: orders, points movements and coupons."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.customers.timeline import TimelineItem, Window, bounded, register_section, register_source
from guanxi.kit.principal import Principal
from guanxi.loyalty.catalog.models import Coupon, CouponTemplate
from guanxi.loyalty.members import card
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.program.models import LoyaltyAccount, PointEntry


def _orders(session: Session, actor: Principal, customer_id: str, window: Window) -> list[TimelineItem]:
    stmt = select(Order).where(Order.customer_id == customer_id)
    return [
        TimelineItem(
            at=order.occurred_at,
            kind="order",
            title=f"{order.currency} {order.paid_amount}",
            ref=order.id,
            detail={
                "source": order.source,
                "external_id": order.external_id,
                "paid_amount": str(order.paid_amount),
                "refunded_amount": str(order.refunded_amount),
                "status": order.status,
                "store": order.store,
                "channel": order.channel,
                "points_earned": order.points_earned,
            },
        )
        for order in session.scalars(bounded(stmt, Order.occurred_at, window))
    ]


def _points(session: Session, actor: Principal, customer_id: str, window: Window) -> list[TimelineItem]:
    stmt = (
        select(PointEntry)
        .join(LoyaltyAccount, LoyaltyAccount.id == PointEntry.account_id)
        .where(LoyaltyAccount.customer_id == customer_id)
    )
    return [
        TimelineItem(
            at=entry.occurred_at,
            kind="points",
            title=f"{entry.kind} {entry.points:+d}",
            ref=str(entry.id),
            detail={"kind": entry.kind, "points": entry.points, "reason": entry.reason, "balance": entry.balance_after},
        )
        for entry in session.scalars(bounded(stmt, PointEntry.occurred_at, window))
    ]


def _coupons(session: Session, actor: Principal, customer_id: str, window: Window) -> list[TimelineItem]:
    stmt = (
        select(Coupon, CouponTemplate.name)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(Coupon.customer_id == customer_id)
    )
    return [
        TimelineItem(
            at=coupon.created_at,
            kind="coupon",
            title=name,
            ref=coupon.id,
            detail={"status": coupon.status, "issued_via": coupon.issued_via, "redeemed_at": coupon.redeemed_at},
        )
        for coupon, name in session.execute(bounded(stmt, Coupon.created_at, window)).tuples()
    ]


register_source("order", "orders", _orders)
register_source("points", "points", _points)
register_source("coupon", "coupons", _coupons)


def _card(session: Session, actor: Principal, customer_id: str) -> dict[str, object]:
    return card.get_card(session, actor, customer_id).model_dump(mode="json")


register_section("loyalty", "loyalty", _card)
