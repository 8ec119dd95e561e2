"""The reward catalog and redeeming it: goods with stock, cash offset, lottery draws, cancelling;
refusals that change nothing, and stock that is never oversold under concurrent redemptions."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, DomainError, NotFound, ValidationFailed
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.catalog import coupons
from guanxi.loyalty.catalog import redemption as rewards
from guanxi.loyalty.catalog import rewards as reward_catalog
from guanxi.loyalty.catalog.errors import LotteryExhausted
from guanxi.loyalty.catalog.models import Coupon, Reward, RewardRedemption
from guanxi.loyalty.catalog.schemas import CouponTemplateIn, RewardIn, RewardPatch
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.members import points as points_service
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.errors import InsufficientPoints, LimitReached, NotEligible, OutOfStock
from guanxi.loyalty.program.models import PointEntry
from guanxi.loyalty.program.schemas import RedeemAnswer, RedeemIn
from guanxi.privacy.models import AuditRecord
from tests.api.helpers import table_counts
from tests.factories import create_customer, post_order

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


class Picks(random.Random):
    """A random source that returns the picks it is given, in order."""

    def __init__(self, *picks: int) -> None:
        super().__init__()
        self.picks = list(picks)

    def randrange(self, stop: int, *args: Any, **kwargs: Any) -> int:  # type: ignore[override]
        pick = self.picks.pop(0)
        assert pick < stop
        return pick


def _member(db: Database, *, points: int, name: str = "张伟", **fields: Any) -> str:
    with db.unit_of_work() as session:
        customer = create_customer(session, name=name, **fields)
        if points:
            post_order(session, customer_id=customer.id, amount=f"{points}.00", external_id=f"seed-{customer.id}")
        return customer.id


def _reward(db: Database, **fields: Any) -> str:
    spec = {"code": "mug", "name": "马克杯", "kind": "goods", "points_cost": 300, **fields}
    with db.unit_of_work() as session:
        return reward_catalog.create_reward(session, SYSTEM, RewardIn.model_validate(spec)).id


def _redeem(db: Database, customer_id: str, key: str = "k1", **body: Any) -> RedeemAnswer:
    with db.unit_of_work() as session:
        return points_service.redeem(session, SYSTEM, customer_id, RedeemIn.model_validate(body), key)


def _balance(db: Database, customer_id: str) -> int:
    with db.unit_of_work(read_only=True) as session:
        account = ledger.find_account(session, program.load(session), customer_id)
        return 0 if account is None else account.points_balance


def _row(db: Database, reward_id: str) -> Reward:
    with db.unit_of_work(read_only=True) as session:
        reward = session.get(Reward, reward_id)
        assert reward is not None
        session.expunge(reward)
        return reward


def _consistent(db: Database) -> None:
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []


def test_goods_redemption_spends_points_and_stock_once(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = _member(db, points=1000)
    reward_id = _reward(db, stock=2)
    answer = _redeem(db, customer_id, reward_id=reward_id, quantity=2, order_id="POS-9")
    assert (answer.points, answer.points_balance, answer.reward_id) == (600, 400, reward_id)
    assert answer.cash_value == Decimal(0)
    assert answer.lots[0]["points"] == 600
    reward = _row(db, reward_id)
    assert (reward.stock, reward.redeemed_count) == (0, 2)
    with db.unit_of_work(read_only=True) as session:
        redemption = session.get(RewardRedemption, answer.redemption_id)
        assert redemption is not None
        assert (redemption.points, redemption.quantity, redemption.status) == (600, 2, "completed")
        assert redemption.order_reference == "POS-9"
        entry = session.get(PointEntry, answer.entry_id)
        assert entry is not None
        assert (entry.kind, entry.reason, entry.points) == ("redeem", "reward", -600)
        assert entry.detail["redemption_id"] == answer.redemption_id
        audit = session.scalars(select(AuditRecord).where(AuditRecord.action == "reward.redeem")).one()
        assert audit.entity_id == answer.redemption_id
        event = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "loyalty.reward_redeemed")).one()
        assert event.payload["points"] == 600
    before = table_counts(db)
    again = _redeem(db, customer_id, reward_id=reward_id, quantity=2, order_id="POS-9")
    assert again.replayed is True
    assert again.model_dump(exclude={"replayed"}) == answer.model_dump(exclude={"replayed"})
    assert table_counts(db) == before
    with pytest.raises(OutOfStock):
        _redeem(db, customer_id, key="k2", reward_id=reward_id)
    _consistent(db)


def _refusal_cases() -> list[tuple[dict[str, Any], dict[str, Any], type[DomainError], str]]:
    later = (NOW + timedelta(days=1)).isoformat()
    earlier = (NOW - timedelta(days=1)).isoformat()
    return [
        ({"active": False}, {}, NotEligible, "reward_id"),
        ({"valid_from": later}, {}, NotEligible, "reward_id"),
        ({"valid_to": NOW.isoformat()}, {}, NotEligible, "reward_id"),
        ({"valid_from": (NOW - timedelta(days=9)).isoformat(), "valid_to": earlier}, {}, NotEligible, "reward_id"),
        ({"min_tier": "gold"}, {}, NotEligible, "reward_id"),
        ({"stock": 1}, {"quantity": 2}, OutOfStock, "reward_id"),
        ({"points_cost": 5000}, {}, InsufficientPoints, "points"),
        ({}, {"points": 100}, ValidationFailed, "points"),
        ({"kind": "service", "per_customer_limit": 1}, {"quantity": 2}, LimitReached, "reward_id"),
    ]


@pytest.mark.parametrize(("reward", "body", "error", "field"), _refusal_cases())
def test_a_refused_redemption_changes_nothing(
    db: Database,
    frozen: clock.FrozenClock,
    reward: dict[str, Any],
    body: dict[str, Any],
    error: type[DomainError],
    field: str,
) -> None:
    customer_id = _member(db, points=1000)
    reward_id = _reward(db, **reward)
    before = table_counts(db)
    with pytest.raises(error) as caught:
        _redeem(db, customer_id, reward_id=reward_id, **body)
    assert caught.value.errors[0].field == field
    assert table_counts(db) == before
    assert _balance(db, customer_id) == 1000
    assert _row(db, reward_id).redeemed_count == 0


def test_unknown_rewards_and_members_without_points(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = _member(db, points=1000)
    newcomer = _member(db, points=0, name="李娜")
    reward_id = _reward(db, stock=5)
    before = table_counts(db)
    with pytest.raises(NotFound) as caught:
        _redeem(db, customer_id, reward_id="01JUNKNOWNREWARD000000000")
    assert [(e.field, e.code) for e in caught.value.errors] == [("reward_id", "unknown_reward")]
    with pytest.raises(InsufficientPoints) as short:
        _redeem(db, newcomer, reward_id=reward_id)
    assert [(e.field, e.code) for e in short.value.errors] == [("points", "insufficient_points")]
    assert short.value.message == "points: 300 points asked for, 0 spendable"
    assert table_counts(db) == before
    assert (_balance(db, customer_id), _balance(db, newcomer)) == (1000, 0)
    reward = _row(db, reward_id)
    assert (reward.stock, reward.redeemed_count) == (5, 0)
    _consistent(db)


def test_the_per_customer_limit_counts_earlier_redemptions(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = _member(db, points=1000)
    reward_id = _reward(db, per_customer_limit=1, points_cost=100)
    _redeem(db, customer_id, key="a", reward_id=reward_id)
    with pytest.raises(LimitReached, match="1 already redeemed"):
        _redeem(db, customer_id, key="b", reward_id=reward_id)
    assert _balance(db, customer_id) == 900


CASH = {
    "code": "cash",
    "name": "积分抵现",
    "kind": "cash_offset",
    "points_cost": 0,
    "points_per_unit": 100,
    "unit_value": "1.00",
    "min_points": 1000,
    "max_share_pct": "50",
}


def test_cash_offset_takes_the_most_allowed_by_default(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = _member(db, points=5000)
    reward_id = _reward(db, **CASH)
    answer = _redeem(db, customer_id, reward_id=reward_id, order_amount="30.00", order_id="SO-1")
    assert (answer.points, answer.cash_value, answer.points_balance) == (1500, Decimal("15.00"), 3500)
    with db.unit_of_work(read_only=True) as session:
        entry = session.get(PointEntry, answer.entry_id)
        assert entry is not None and entry.reason == "cash_offset"
    # The same order's cap already holds 15.00 of its 15.00.
    with pytest.raises(LimitReached) as caught:
        _redeem(db, customer_id, key="k2", reward_id=reward_id, order_amount="30.00", order_id="SO-1")
    assert caught.value.errors[0].field == "order_amount"
    _consistent(db)


@pytest.mark.parametrize(
    ("body", "used", "cash"),
    [
        ({"points": 1050, "order_amount": "100.00"}, 1000, Decimal("10.00")),
        ({"points": 2099, "order_amount": "100.00"}, 2000, Decimal("20.00")),
        ({"order_amount": "1000.00"}, 5000, Decimal("50.00")),
    ],
)
def test_cash_offset_rounds_down_to_whole_units(
    db: Database, frozen: clock.FrozenClock, body: dict[str, Any], used: int, cash: Decimal
) -> None:
    customer_id = _member(db, points=5000)
    reward_id = _reward(db, **CASH)
    answer = _redeem(db, customer_id, reward_id=reward_id, **body)
    assert (answer.points, answer.cash_value, answer.points_balance) == (used, cash, 5000 - used)


@pytest.mark.parametrize(
    ("points", "body", "error", "field"),
    [
        (5000, {}, ValidationFailed, "order_amount"),
        (5000, {"points": 900, "order_amount": "100.00"}, ValidationFailed, "points"),
        (5000, {"points": 2000, "order_amount": "30.00"}, LimitReached, "points"),
        (5000, {"order_amount": "10.00"}, LimitReached, "order_amount"),
        (800, {"order_amount": "100.00"}, InsufficientPoints, "points"),
        (1500, {"points": 1600, "order_amount": "1000.00"}, InsufficientPoints, "points"),
    ],
)
def test_cash_offset_refusals_change_nothing(
    db: Database, frozen: clock.FrozenClock, points: int, body: dict[str, Any], error: type[DomainError], field: str
) -> None:
    customer_id = _member(db, points=points)
    reward_id = _reward(db, **CASH)
    before = table_counts(db)
    with pytest.raises(error) as caught:
        _redeem(db, customer_id, reward_id=reward_id, **body)
    assert caught.value.errors[0].field == field
    assert table_counts(db) == before


def _lottery(db: Database, *, budget: str | None = "20.00", **more: Any) -> tuple[str, str]:
    with db.unit_of_work() as session:
        template = coupons.create_template(
            session,
            SYSTEM,
            CouponTemplateIn.model_validate(
                {"code": "c10", "name": "10元券", "kind": "fixed_amount", "value": "10.00", "valid_days": 30}
            ),
        )
    prizes = [
        {"code": "pts", "name": "50积分", "weight": 10, "kind": "points", "points": 50},
        {
            "code": "cpn",
            "name": "10元券",
            "weight": 10,
            "kind": "coupon",
            "coupon_template_id": template.id,
            "cost": "10",
        },
        {"code": "bag", "name": "帆布袋", "weight": 10, "kind": "goods", "cost": "15.00"},
        {"code": "nothing", "name": "谢谢参与", "weight": 70, "kind": "nothing"},
    ]
    reward_id = _reward(
        db, code="draw", name="幸运抽奖", kind="lottery", points_cost=100, prizes=prizes, budget=budget, **more
    )
    return reward_id, template.id


def test_lottery_prizes_are_given_and_charged_to_the_budget(
    db: Database, frozen: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = _member(db, points=1000)
    reward_id, template_id = _lottery(db)
    with db.unit_of_work(read_only=True) as session:
        published = reward_catalog.get_reward(session, SYSTEM, reward_id)
    assert [p.odds_pct for p in published.prizes] == [
        Decimal("10.00"),
        Decimal("10.00"),
        Decimal("10.00"),
        Decimal("70.00"),
    ]
    monkeypatch.setattr(rewards, "RANDOM", Picks(0, 10, 99))
    points_prize = _redeem(db, customer_id, key="d1", reward_id=reward_id)
    assert points_prize.outcome["prize"] == "pts"
    assert points_prize.outcome["points"] == 50
    assert points_prize.points_balance == 1000 - 100 + 50
    coupon_prize = _redeem(db, customer_id, key="d2", reward_id=reward_id)
    assert coupon_prize.outcome["kind"] == "coupon"
    miss = _redeem(db, customer_id, key="d3", reward_id=reward_id)
    assert miss.outcome["prize"] == "nothing"
    reward = _row(db, reward_id)
    assert reward.budget_used == Decimal("10.50")  # 50 points at 0.01 + a 10.00 coupon
    assert reward.redeemed_count == 3
    with db.unit_of_work(read_only=True) as session:
        coupon = session.scalars(select(Coupon)).one()
        assert (coupon.customer_id, coupon.template_id, coupon.issued_via) == (customer_id, template_id, "lottery")
        assert coupon.id == coupon_prize.outcome["coupon_id"]
        lottery_entry = session.get(PointEntry, points_prize.outcome["entry_id"])
        assert lottery_entry is not None and (lottery_entry.kind, lottery_entry.reason) == ("earn", "lottery")
    _consistent(db)


def test_a_prize_over_the_budget_left_cannot_be_drawn(
    db: Database, frozen: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = _member(db, points=1000)
    reward_id, _ = _lottery(db, budget="15.00")
    # bag (cost 15.00) first; after it the budget is 0: only nothing is left, so no draw is sold.
    monkeypatch.setattr(rewards, "RANDOM", Picks(20))
    assert _redeem(db, customer_id, key="d1", reward_id=reward_id).outcome["prize"] == "bag"
    before = table_counts(db)
    with pytest.raises(LotteryExhausted):
        _redeem(db, customer_id, key="d2", reward_id=reward_id)
    assert table_counts(db) == before
    assert _balance(db, customer_id) == 900


def test_an_unavailable_coupon_prize_gives_its_weight_to_nothing(
    db: Database, frozen: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id = _member(db, points=1000)
    reward_id, template_id = _lottery(db, budget=None)
    with db.unit_of_work() as session:
        coupons.deactivate_template(session, SYSTEM, template_id)
    # The table is now pts 10, bag 10, nothing 80: pick 10 lands on bag, not on the coupon.
    monkeypatch.setattr(rewards, "RANDOM", Picks(10))
    assert _redeem(db, customer_id, reward_id=reward_id).outcome["prize"] == "bag"


def test_cancelling_gives_points_and_stock_back_once(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id = _member(db, points=1000)
    reward_id = _reward(db, stock=3)
    answer = _redeem(db, customer_id, reward_id=reward_id)
    assert answer.redemption_id is not None
    with db.unit_of_work() as session:
        cancelled = rewards.cancel_redemption(session, SYSTEM, answer.redemption_id, "order cancelled")
    assert cancelled.status == "cancelled"
    assert _balance(db, customer_id) == 1000
    assert (_row(db, reward_id).stock, _row(db, reward_id).redeemed_count) == (3, 0)
    with db.unit_of_work(read_only=True) as session:
        entry = session.scalars(select(PointEntry).where(PointEntry.reason == "reward_cancelled")).one()
        assert (entry.kind, entry.points, entry.reference) == ("adjust", 300, answer.redemption_id)
    before = table_counts(db)
    with db.unit_of_work() as session, pytest.raises(Conflict, match="already cancelled"):
        rewards.cancel_redemption(session, SYSTEM, answer.redemption_id, "again")
    assert table_counts(db) == before
    _consistent(db)


def test_a_draw_cannot_be_cancelled(db: Database, frozen: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch) -> None:
    customer_id = _member(db, points=1000)
    reward_id, _ = _lottery(db)
    monkeypatch.setattr(rewards, "RANDOM", Picks(99))
    answer = _redeem(db, customer_id, reward_id=reward_id)
    assert answer.redemption_id is not None
    with db.unit_of_work() as session, pytest.raises(Conflict, match="lottery"):
        rewards.cancel_redemption(session, SYSTEM, answer.redemption_id, "changed my mind")


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ({"kind": "cash_offset", "points_cost": 0}, ["points_per_unit", "unit_value"]),
        ({"kind": "cash_offset", "points_per_unit": 100, "unit_value": "0"}, ["points_cost", "unit_value"]),
        ({"kind": "lottery"}, ["prizes"]),
        ({"kind": "goods", "points_per_unit": 100, "budget": "5"}, ["points_per_unit", "budget"]),
        ({"min_tier": "platinum"}, ["min_tier"]),
        ({"valid_from": NOW.isoformat(), "valid_to": NOW.isoformat()}, ["valid_to"]),
        (
            {
                "kind": "lottery",
                "prizes": [
                    {"code": "a", "name": "A", "weight": 1, "kind": "points"},
                    {"code": "a", "name": "B", "weight": 1, "kind": "coupon", "coupon_template_id": "X"},
                    {"code": "nothing", "name": "C", "weight": 1, "kind": "goods"},
                ],
            },
            ["prizes[0].points", "prizes[1].code", "prizes[1].coupon_template_id", "prizes[2].code"],
        ),
    ],
)
def test_malformed_rewards_name_their_fields(
    db: Database, frozen: clock.FrozenClock, spec: dict[str, Any], fields: list[str]
) -> None:
    before = table_counts(db)
    with pytest.raises(ValidationFailed) as caught:
        _reward(db, **spec)
    assert sorted(e.field for e in caught.value.errors) == sorted(fields)
    assert table_counts(db) == before


def test_catalog_updates_are_validated_and_audited(db: Database, frozen: clock.FrozenClock) -> None:
    reward_id = _reward(db, stock=1)
    with pytest.raises(Conflict):
        _reward(db)
    with db.unit_of_work() as session:
        out = reward_catalog.update_reward(session, SYSTEM, reward_id, RewardPatch(stock=10, name="保温杯"))
    assert (out.stock, out.name, out.kind) == (10, "保温杯", "goods")
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
        reward_catalog.update_reward(session, SYSTEM, reward_id, RewardPatch.model_validate({"points_per_unit": 5}))
    assert caught.value.errors[0].field == "points_per_unit"
    with db.unit_of_work() as session:
        assert reward_catalog.deactivate_reward(session, SYSTEM, reward_id).active is False
        assert [r.code for r in reward_catalog.list_rewards(session, SYSTEM, active=False)] == ["mug"]
        assert reward_catalog.list_rewards(session, SYSTEM, active=True) == []
        actions = session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)).all()
    assert actions[-3:] == ["reward.create", "reward.update", "reward.deactivate"]


def test_concurrent_redemptions_never_oversell_stock(db: Database, frozen: clock.FrozenClock) -> None:
    members = [_member(db, points=1000, name=f"会员{chr(0x4E00 + i)}") for i in range(20)]
    reward_id = _reward(db, stock=5, points_cost=100)
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(members))

    def redeem(customer_id: str) -> None:
        start.wait()
        try:
            _redeem(db, customer_id, key=f"race-{customer_id}", reward_id=reward_id)
            outcome = "ok"
        except OutOfStock:
            outcome = "out_of_stock"
        except Exception as exc:  # anything else fails the test below, with its name
            outcome = type(exc).__name__
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=redeem, args=(m,)) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok"] * 5 + ["out_of_stock"] * 15
    reward = _row(db, reward_id)
    assert (reward.stock, reward.redeemed_count) == (0, 5)
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(RewardRedemption)) == 5
        assert session.scalar(select(func.sum(PointEntry.points)).where(PointEntry.kind == "redeem")) == -500
    assert sum(_balance(db, m) for m in members) == 20 * 1000 - 500
    _consistent(db)
