"""The demo's order history: replayed through the (batched) services, exactly the plan, consistent, once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.demo import loader, shopping
from guanxi.demo import orders as demo_orders
from guanxi.demo import rewards as demo_rewards
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.loyalty.catalog.models import Coupon, Reward, RewardRedemption
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.orders import batch as order_batch
from guanxi.loyalty.orders.models import Order, OrderLine, Refund
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import ActionClaim, AdjustmentRequest, LoyaltyAccount, PointEntry, TierChange
from guanxi.privacy.models import AuditRecord
from tests.api.helpers import table_counts

CUSTOMERS = 50
ORDERS = 400


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _plan(db: Database) -> shopping.Plan:
    """The plan the load replayed, rebuilt from the parameters it recorded."""
    with db.unit_of_work(read_only=True) as session:
        started = session.scalars(select(AuditRecord).where(AuditRecord.action == demo_orders.STARTED_ACTION)).one()
        params = started.detail
        shoppers = demo_orders._shoppers(session)
        timezone = program.load(session).timezone
    end = datetime.fromisoformat(params["end"])
    return shopping.Planner(params["seed"], end, params["days"], timezone).plan(shoppers, params["orders"])


def test_the_demo_replays_two_years_of_orders_through_the_services_once(db: Database) -> None:
    summary = loader.load(db, customers=CUSTOMERS, orders=ORDERS, behaviour=False)

    history = summary.orders
    assert history is not None and not history.reused and history.breaches == []
    plan = _plan(db)
    assert len(plan.orders) == ORDERS
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []
        # Exactly the planned orders, every one through record_order (one audit record each).
        recorded = set(session.execute(select(Order.source, Order.external_id)).tuples())
        assert recorded == {(o.source, o.external_id) for o in plan.orders}
        assert _count(session, AuditRecord, AuditRecord.action == "order.create") == ORDERS == history.orders
        assert _count(session, OrderLine) == sum(len(o.lines) for o in plan.orders)
        # Two years, ending now; days before the first order of each customer have none of theirs.
        first, last = session.execute(select(func.min(Order.occurred_at), func.max(Order.occurred_at))).one()
        assert clock.now() - timedelta(days=730) <= clock.as_utc(first) < clock.as_utc(last) <= clock.now()
        # Each order's points are the earn entry the ledger holds for it, nothing more.
        earned = dict(
            session.execute(
                select(PointEntry.order_id, func.sum(PointEntry.points))
                .where(PointEntry.kind == "earn", PointEntry.order_id.is_not(None))
                .group_by(PointEntry.order_id)
            ).all()
        )
        for order_id, points in session.execute(select(Order.id, Order.points_earned)).tuples():
            assert earned.get(order_id, 0) == points
        assert sum(earned.values()) > 0
        # Promotions: some orders paid less than their lines.
        totals = dict(
            session.execute(
                select(OrderLine.order_id, func.sum(OrderLine.unit_price * OrderLine.quantity)).group_by(
                    OrderLine.order_id
                )
            ).all()
        )
        discounted = [
            order_id
            for order_id, paid in session.execute(select(Order.id, Order.paid_amount)).tuples()
            if Decimal(paid) < Decimal(totals[order_id])
        ]
        assert 0 < len(discounted) < ORDERS
        # Refunds, check-ins and adjustments as planned; redemptions as the balance allowed.
        assert _count(session, Refund) == len(plan.refunds) == history.refunds > 0
        assert _count(session, ActionClaim, ActionClaim.action == "checkin") == len(plan.checkins) == history.checkins
        redeemed = _count(session, PointEntry, PointEntry.kind == "redeem")
        assert redeemed == history.redemptions == len(plan.redemptions) - history.redemptions_skipped
        assert _count(session, AdjustmentRequest, AdjustmentRequest.status == "applied") == history.approvals
        # The catalog is there and members spent on it at the till.
        assert _count(session, Reward) == len(demo_rewards.REWARDS)
        assert _count(session, RewardRedemption) == history.rewards_redeemed > 0
        # Time did its work: points expired, tiers moved both ways at reviews, campaigns ran.
        assert _count(session, PointEntry, PointEntry.kind == "expire") > 0
        assert session.scalar(select(func.sum(LoyaltyAccount.lifetime_expired))) == history.points_expired > 0
        assert _count(session, LoyaltyAccount, LoyaltyAccount.tier_code != "basic") > 0
        assert _count(session, TierChange, TierChange.kind == "upgrade") > 0
        reviewed = _count(session, TierChange, TierChange.kind.in_(("review_keep", "downgrade_scheduled")))
        assert 0 < reviewed <= history.reviews
        assert {r.code for r in program.load(session).rules} >= {"double11", "birthday_month", "daily_checkin"}
        assert _count(session, Coupon) == history.coupons_issued > 0
        assert _count(session, Coupon, Coupon.status == "redeemed") == history.coupons_redeemed
        assert sum(history.tiers.values()) == _count(session, LoyaltyAccount)
        assert _count(session, AuditRecord, AuditRecord.action == demo_orders.AUDIT_ACTION) == 1
    assert "ledger verified: consistent" in summary.describe("en")
    assert "积分账本已核对：一致" in summary.describe("zh-CN")

    before = table_counts(db)
    again = loader.load(db, customers=CUSTOMERS, orders=ORDERS, behaviour=False)

    assert again.reused and again.orders is not None and again.orders.reused
    assert again.orders.orders == ORDERS and again.orders.refunds == history.refunds
    assert table_counts(db) == before


def test_an_interrupted_order_load_resumes_after_its_last_committed_day(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader.load(db, customers=30, orders=0, behaviour=False)
    real = order_batch.record_orders
    calls = {"n": 0}

    def failing(session: Session, items: Sequence[Any]) -> Any:
        calls["n"] += len(items)
        if calls["n"] > 120:
            raise RuntimeError("power cut")
        return real(session, items)

    monkeypatch.setattr(order_batch, "record_orders", failing)
    with pytest.raises(RuntimeError, match="power cut"):
        demo_orders.load_orders(db, orders=200, seed=7, days=400)
    monkeypatch.setattr(order_batch, "record_orders", real)
    with db.unit_of_work(read_only=True) as session:
        partly = _count(session, Order)
    assert 0 < partly < 200
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(minutes=1)  # the real clock is back

    # Asked for something else, the load finishes what it started: the same seed, count and end.
    resumed = demo_orders.load_orders(db, orders=999, seed=1, days=30)

    assert resumed.resumed_after is not None and resumed.breaches == []
    plan = _plan(db)
    with db.unit_of_work(read_only=True) as session:
        assert _count(session, Order) == 200 == resumed.orders
        assert set(session.execute(select(Order.source, Order.external_id)).tuples()) == {
            (o.source, o.external_id) for o in plan.orders
        }
        assert _count(session, AuditRecord, AuditRecord.action == "order.create") == 200
        assert _count(session, Refund) == len(plan.refunds)
        assert verify.check(session) == []


def test_demo_command_takes_an_order_count_and_zero_skips_the_history(db: Database) -> None:
    result = CliRunner().invoke(app, ["demo", "--customers", "20", "--orders", "0", "--no-serve"])

    assert result.exit_code == 0, result.output
    assert "order history" not in result.output
    with db.unit_of_work(read_only=True) as session:
        assert _count(session, Order) == 0
        assert _count(session, AuditRecord, AuditRecord.action.like("demo.orders%")) == 0
    bad = CliRunner().invoke(app, ["demo", "--customers", "20", "--orders", "-1", "--no-serve"])
    assert bad.exit_code == 2 and "orders" in bad.output
