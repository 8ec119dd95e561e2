"""The demo brand's reward catalog, and what members spend their points on at the till.

Created through the catalog service when the history begins. A planned redemption becomes, by a
fixed draw on its key: points as cash on the order it comes with (half of them), a tote bag or a
coffee, a lottery draw, or the gold members' lounge. A reward the member cannot have at that moment
(too few points, out of stock, limit reached, tier too low) falls back to plain points as cash, as a
shop assistant would offer.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.kit.errors import DomainError
from guanxi.kit.principal import Principal
from guanxi.loyalty.catalog import rewards as reward_catalog
from guanxi.loyalty.catalog.models import Reward
from guanxi.loyalty.catalog.schemas import RewardIn
from guanxi.loyalty.members import points
from guanxi.loyalty.program.schemas import RedeemIn

CASH = "CASH100"
REWARDS: tuple[dict[str, Any], ...] = (
    {
        "code": CASH,
        "name": "积分抵现（100积分抵1元）",
        "name_en": "Points off the bill (100 points = ¥1)",
        "kind": "cash_offset",
        "description": "结账时使用，单笔最低1000积分，最多抵订单金额的30%",
        "points_per_unit": 100,
        "unit_value": "1.00",
        "min_points": 1000,
        "max_share_pct": "30",
    },
    {
        "code": "TOTE",
        "name": "品牌帆布袋",
        "name_en": "Brand tote bag",
        "kind": "goods",
        "description": "限量款，每人限兑2个",
        "points_cost": 1500,
        "stock": 600,
        "per_customer_limit": 2,
        "unit_cost": "18.00",
    },
    {
        "code": "COFFEE",
        "name": "门店咖啡一杯",
        "name_en": "A cup of coffee in store",
        "kind": "service",
        "description": "任意门店咖啡吧兑换",
        "points_cost": 600,
        "unit_cost": "6.00",
    },
    {
        "code": "LUCKY",
        "name": "幸运大转盘",
        "name_en": "Lucky wheel",
        "kind": "lottery",
        "description": "每次200积分，奖池有限，抽完即止",
        "points_cost": 200,
        "budget": "8000.00",
        "prizes": [
            {
                "code": "nothing",
                "name": "谢谢参与",
                "name_en": "Better luck next time",
                "weight": 70,
                "kind": "nothing",
            },
            {"code": "P500", "name": "500积分", "name_en": "500 points", "weight": 22, "kind": "points", "points": 500},
            {
                "code": "UMBRELLA",
                "name": "晴雨伞",
                "name_en": "Umbrella",
                "weight": 8,
                "kind": "goods",
                "cost": "25.00",
            },
        ],
    },
    {
        "code": "LOUNGE",
        "name": "金卡会员专享护理",
        "name_en": "Gold members' spa treatment",
        "kind": "service",
        "description": "金卡及以上会员专享，每人每年限1次",
        "points_cost": 3000,
        "stock": 300,
        "per_customer_limit": 1,
        "min_tier": "gold",
        "unit_cost": "60.00",
    },
)
# Out of ten planned redemptions: which reward each draw goes to.
_CHOICE = (CASH, CASH, CASH, CASH, CASH, "TOTE", "COFFEE", "COFFEE", "LUCKY", "LOUNGE")


def set_up(session: Session, marketing: Principal) -> None:
    """Create the rewards that are not there yet (a resumed load leaves the others alone)."""
    present = set(session.scalars(select(Reward.code)))
    for spec in REWARDS:
        if spec["code"] not in present:
            reward_catalog.create_reward(session, marketing, RewardIn.model_validate(spec))


class Counter:
    """The till: turns a planned redemption into a reward redemption or plain points as cash."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def _reward_id(self, session: Session, code: str) -> str | None:
        if code not in self.ids:
            found = session.scalar(select(Reward.id).where(Reward.code == code))
            if found is None:
                return None
            self.ids[code] = found
        return self.ids[code]

    def redeem(
        self, session: Session, actor: Principal, customer_id: str, key: str, wanted: int, order: tuple[str, Decimal]
    ) -> str:
        """Spend for this member; returns the reward code used or "points"."""
        code = _CHOICE[zlib.crc32(key.encode()) % len(_CHOICE)]
        if self._try_reward(session, actor, customer_id, key, code, wanted, order):
            return code
        data = RedeemIn(points=wanted, order_id=order[0], note="门店积分抵现")
        points.redeem(session, actor, customer_id, data, key)
        return "points"

    def _try_reward(
        self,
        session: Session,
        actor: Principal,
        customer_id: str,
        key: str,
        code: str,
        wanted: int,
        order: tuple[str, Decimal],
    ) -> bool:
        """Redeem the drawn reward; False when the member cannot have it now (the refusal,
        like any refusal, changed nothing: its savepoint is rolled back)."""
        reward_id = self._reward_id(session, code)
        if reward_id is None:
            return False
        reference, paid = order
        body: dict[str, Any] = {"reward_id": reward_id, "order_id": reference}
        if code == CASH:
            body.update(points=max(wanted, 1000), order_amount=str(max(paid, Decimal("0.01"))))
        try:
            with session.begin_nested():
                points.redeem(session, actor, customer_id, RedeemIn.model_validate(body), key)
        except DomainError:
            return False
        return True
