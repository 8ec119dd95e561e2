"""A member's figures for a list or a report: tier, spendable points, orders and what they came to.

Read for a page of customers at once (one statement for the cards, one grouped over the orders),
so an export of many pages costs a fixed number of statements per page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.kit.principal import Principal
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import LoyaltyAccount

CENT = Decimal("0.01")


@dataclass(frozen=True)
class MemberFigures:
    """None where the customer has no card (tier, points) or no order (last order)."""

    tier_code: str | None
    tier_name: str | None
    tier_name_en: str | None
    points_balance: int | None
    order_count: int
    spend: Decimal  # paid minus refunded, in the program's currency
    last_order_at: datetime | None


NO_FIGURES = MemberFigures(None, None, None, None, 0, Decimal("0.00"), None)


def figures_for(session: Session, actor: Principal, customer_ids: Sequence[str]) -> dict[str, MemberFigures]:
    """The figures of these customers (the caller has read them through a scoped query); a
    customer without a card or orders maps to NO_FIGURES."""
    require(actor, "loyalty", "read")
    found = {customer_id: NO_FIGURES for customer_id in customer_ids}
    config = program.load(session)
    if not customer_ids or config.id is None:
        return found
    ids = list(found)
    cards = session.execute(
        select(LoyaltyAccount.customer_id, LoyaltyAccount.tier_code, LoyaltyAccount.points_balance).where(
            LoyaltyAccount.program_id == config.id, LoyaltyAccount.customer_id.in_(ids)
        )
    ).all()
    orders = {
        row[0]: row[1:]
        for row in session.execute(
            select(
                Order.customer_id,
                func.count(),
                func.sum(Order.paid_amount - Order.refunded_amount),
                func.max(Order.occurred_at),
            )
            .where(Order.customer_id.in_(ids))
            .group_by(Order.customer_id)
        )
    }
    for customer_id, tier_code, points in cards:
        tier = config.tier(tier_code)
        count, spend, last = orders.get(customer_id, (0, None, None))
        found[customer_id] = MemberFigures(
            tier_code=tier.code,
            tier_name=tier.name,
            tier_name_en=tier.name_en or None,
            points_balance=int(points),
            order_count=int(count),
            # SQLite sums NUMERIC as binary floats: back to cents.
            spend=Decimal(spend or 0).quantize(CENT),
            last_order_at=last,
        )
    return found
