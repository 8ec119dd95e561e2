"""The demo brand's marketing over its two years: earning campaigns, automatic coupons, and the
coupons members bring to the till.

Set up through the program and coupon services when the history begins, so the what-if
simulation, the liability report and the console have real rules and real coupons to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.demo import rewards
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import Principal
from guanxi.loyalty.catalog import coupons
from guanxi.loyalty.catalog import till as coupon_till
from guanxi.loyalty.catalog.models import Coupon, CouponTemplate
from guanxi.loyalty.catalog.schemas import CouponRedeemIn, CouponTemplateIn
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.schemas import OrderLineIn


def earning_rules(first: date, last: date) -> list[dict[str, Any]]:
    """Double points on 双11, more on 618, a beauty promotion, a birthday month, check-in points
    with streak bonuses."""
    years = range(first.year, last.year + 1)
    return [
        {
            "code": "double11",
            "kind": "campaign_multiplier",
            "name": "双11 双倍积分",
            "name_en": "Double points on Singles' Day (11.11)",
            "priority": 300,
            "multiplier": "2",
            "dates": [date(y, 11, 11).isoformat() for y in years],
        },
        {
            "code": "mid_year_618",
            "kind": "campaign_multiplier",
            "name": "618 年中大促 1.5 倍积分",
            "name_en": "1.5× points in the 618 mid-year sale",
            "priority": 310,
            "multiplier": "1.5",
            "dates": [date(y, 6, 18).isoformat() for y in years],
        },
        {
            "code": "beauty_bonus",
            "kind": "category_multiplier",
            "name": "美妆品类 1.5 倍积分",
            "name_en": "1.5× points on beauty",
            "priority": 320,
            "multiplier": "1.5",
            "categories": ["美妆"],
        },
        {
            "code": "birthday_month",
            "kind": "birthday_bonus",
            "name": "生日月双倍积分",
            "name_en": "Double points in the birthday month",
            "priority": 330,
            "multiplier": "2",
        },
        {
            "code": "daily_checkin",
            "kind": "action_bonus",
            "name": "每日签到",
            "name_en": "Daily check-in",
            "priority": 400,
            "action": "checkin",
            "points": 5,
            "streak_bonuses": {"7": 20, "30": 100},
        },
    ]


COUPON_TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "code": "BDAY50",
        "name": "生日礼券 满200减50",
        "name_en": "Birthday coupon: ¥50 off ¥200",
        "kind": "fixed_amount",
        "value": "50",
        "min_spend": "200",
        "valid_days": 30,
        "trigger": "birthday",
    },
    {
        "code": "WINBACK15",
        "name": "好久不见 85折券（最高减100）",
        "name_en": "We miss you: 15% off (up to ¥100)",
        "kind": "percentage",
        "value": "15",
        "max_discount": "100",
        "min_spend": "100",
        "valid_days": 30,
        "trigger": "win_back",
        "trigger_params": {"inactive_days": 120},
    },
)


def set_up(database: Database, first: date, last: date, admin: Principal, marketing: Principal) -> None:
    """The brand's earning rules, automatic coupons and reward catalog (those already there are
    left alone)."""
    with database.unit_of_work() as session:
        present = {rule.code for rule in program.ensure(session).rules}
        for definition in earning_rules(first, last):
            if definition["code"] not in present:
                config.put_rule(session, admin, definition["code"], definition)
        templates = set(session.scalars(select(CouponTemplate.code)))
        for spec in COUPON_TEMPLATES:
            if spec["code"] not in templates:
                coupons.create_template(session, marketing, CouponTemplateIn.model_validate(spec))
        rewards.set_up(session, marketing)


@dataclass(frozen=True, slots=True)
class HeldCoupon:
    code: str
    valid_to: datetime | None
    min_spend: Decimal


class Wallets:
    """Coupons members hold, as their app shows them: picked up after each daily job, spent at the
    till on a later order that reaches the minimum spend."""

    def __init__(self) -> None:
        self.held: dict[str, list[HeldCoupon]] = {}
        self.seen_since: datetime | None = None
        self.redeemed = 0

    def pick_up(self, session: Session) -> None:
        stmt = (
            select(Coupon.customer_id, Coupon.code, Coupon.valid_to, CouponTemplate.min_spend, Coupon.created_at)
            .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
            .where(Coupon.status == "issued")
            .order_by(Coupon.created_at, Coupon.id)
        )
        if self.seen_since is not None:
            stmt = stmt.where(Coupon.created_at > self.seen_since)
        for customer_id, code, valid_to, min_spend, created_at in session.execute(stmt):
            self.held.setdefault(customer_id, []).append(
                HeldCoupon(code, clock.as_utc(valid_to) if valid_to else None, Decimal(min_spend))
            )
            self.seen_since = clock.as_utc(created_at)

    def use(
        self, session: Session, actor: Principal, customer_id: str, reference: str, lines: list[OrderLineIn]
    ) -> Decimal:
        """Redeem the member's first usable coupon on this order; returns the discount (0: none)."""
        now = clock.now()
        total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
        wallet = self.held.get(customer_id, [])
        wallet[:] = [c for c in wallet if c.valid_to is None or c.valid_to > now]
        usable = next((c for c in wallet if c.min_spend <= total), None)
        if usable is None:
            return Decimal(0)
        wallet.remove(usable)
        data = CouponRedeemIn.model_validate(
            {
                "customer_id": customer_id,
                "order_amount": str(total),
                "lines": [line.model_dump(mode="json") for line in lines],
                "order_reference": reference,
            }
        )
        answer = coupon_till.redeem(session, actor, usable.code, data, f"demo-coupon-{reference}")
        self.redeemed += 1
        return answer.discount_amount
