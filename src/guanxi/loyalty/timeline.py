"""Loyalty's part of the customer 360 timeline: orders, points movements and coupons.

Titles are kept as they were (API answers); the console says each item from `kind` and
`detail`, whose codes (status, channel, entry kind, reason, issued_via) have display names in the
catalogs and whose awards `loyalty.explain.award_text` says in the reader's language:

- order: source, external_id, currency, paid_amount, refunded_amount (strings), status, store,
  channel, points_earned, points_reversed, tier_code
- points: kind, points, reason, balance, pending, note, order_id, reference, awards (each
  rule, kind, points, params and the old English description), reverses_entry_id
- coupon: template_id, template_name, template_name_en, coupon_kind, status, issued_via, valid_from, valid_to,
  redeemed_at, discount_amount (string or None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.customers.timeline import TimelineItem, Window, bounded, register_section, register_source
from guanxi.kit.principal import Principal
from guanxi.loyalty import explain
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
                "currency": order.currency,
                "paid_amount": str(order.paid_amount),
                "refunded_amount": str(order.refunded_amount),
                "status": order.status,
                "store": order.store,
                "channel": order.channel,
                "points_earned": order.points_earned,
                "points_reversed": order.points_reversed,
                "tier_code": order.tier_code,
            },
        )
        for order in session.scalars(bounded(stmt, Order.occurred_at, window))
    ]


def _award(award: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "rule": award.get("rule"),
        "kind": award.get("kind"),
        "points": award.get("points"),
        "params": award.get("params") or {},
        "description": award.get("description"),
    }


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
            detail={
                "kind": entry.kind,
                "points": entry.points,
                "reason": entry.reason,
                "balance": entry.balance_after,
                "pending": entry.pending_after,
                "note": entry.note,
                "order_id": entry.order_id,
                "reference": entry.reference,
                "awards": [_award(a) for a in explain.entry_awards(entry.detail)],
                "reverses_entry_id": entry.reverses_entry_id,
            },
        )
        for entry in session.scalars(bounded(stmt, PointEntry.occurred_at, window))
    ]


def _coupons(session: Session, actor: Principal, customer_id: str, window: Window) -> list[TimelineItem]:
    stmt = (
        select(Coupon, CouponTemplate.name, CouponTemplate.name_en, CouponTemplate.kind)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(Coupon.customer_id == customer_id)
    )
    return [
        TimelineItem(
            at=coupon.created_at,
            kind="coupon",
            title=name,
            ref=coupon.id,
            detail={
                "template_id": coupon.template_id,
                "template_name": name,
                "template_name_en": name_en,
                "coupon_kind": kind,
                "status": coupon.status,
                "issued_via": coupon.issued_via,
                "valid_from": coupon.valid_from,
                "valid_to": coupon.valid_to,
                "redeemed_at": coupon.redeemed_at,
                "discount_amount": None if coupon.discount_amount is None else str(coupon.discount_amount),
            },
        )
        for coupon, name, name_en, kind in session.execute(bounded(stmt, Coupon.created_at, window)).tuples()
    ]


register_source("order", "orders", _orders)
register_source("points", "points", _points)
register_source("coupon", "coupons", _coupons)


def _card(session: Session, actor: Principal, customer_id: str) -> dict[str, object]:
    return card.get_card(session, actor, customer_id).model_dump(mode="json")


register_section("loyalty", "loyalty", _card)
