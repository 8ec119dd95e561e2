"""Orders earn points once, explained; refunds take them back in proportion under each policy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, ValidationFailed
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.members import points as points_service
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.models import LotMovement, LoyaltyAccount, PointEntry, PointLot
from guanxi.loyalty.program.schemas import RedeemIn, RefundAnswer, RefundIn
from tests.api.helpers import table_counts
from tests.factories import create_customer, order_in, post_order

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


def _account(db: Database, customer_id: str) -> LoyaltyAccount:
    with db.unit_of_work(read_only=True) as session:
        account = ledger.find_account(session, program.load(session), customer_id)
        assert account is not None
        session.expunge(account)
        return account


def _assert_consistent(db: Database) -> None:
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []


def _set_policy(db: Database, policy: str, **more: object) -> None:
    with db.unit_of_work() as session:
        config.update_settings(session, SYSTEM, config.ProgramSettingsIn(refund_policy=policy, **more))


def test_an_order_earns_one_point_per_yuan_and_replays_exactly(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session, name="张伟", phone="13800138000")
    with db.unit_of_work() as session:
        answer = post_order(session, customer_id=customer.id, amount="1000.00", external_id="POS-1001")
    assert answer.points_earned == 1000
    assert answer.points_balance == 1000
    assert answer.pending_points == 0
    assert answer.growth_earned == 1000
    assert answer.tier == "basic"
    assert [a.rule for a in answer.awards] == ["base_rate"]
    assert answer.awards[0].points == 1000
    with db.unit_of_work() as session:
        again, created = orders.record_order(
            session,
            SYSTEM,
            order_in(customer_id=customer.id, amount="1000.00", external_id="POS-1001", occurred_at=NOW),
        )
    assert created is False
    assert again.replayed is True
    assert again.model_dump(exclude={"replayed"}) == answer.model_dump(exclude={"replayed"})
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1
        assert session.scalar(select(func.count()).select_from(PointEntry)) == 1
    _assert_consistent(db)


def test_the_same_order_id_with_other_content_is_a_conflict(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session)
        post_order(session, customer_id=customer.id, amount="100.00", external_id="POS-1")
    before = table_counts(db)
    with db.unit_of_work() as session, pytest.raises(Conflict) as caught:
        post_order(session, customer_id=customer.id, amount="999.00", external_id="POS-1")
    assert caught.value.errors[0].field == "external_id"
    assert _account(db, customer.id).points_balance == 100
    assert table_counts(db) == before


def test_identity_resolves_the_customer(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session, phone="13800138000")
    with db.unit_of_work() as session:
        answer, _ = orders.record_order(
            session,
            SYSTEM,
            order_in(
                customer_id=None,
                identity={"kind": "phone", "value": "+86 138 0013 8000"},
                amount="50.00",
                external_id="A-1",
            ),
        )
    assert answer.customer_id == customer.id
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
        orders.record_order(
            session,
            SYSTEM,
            order_in(
                customer_id=None, identity={"kind": "phone", "value": "13900000000"}, amount="50.00", external_id="A-2"
            ),
        )
    assert caught.value.errors[0].field == "identity"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"currency": "USD"}, "currency"),
        ({"occurred_at": NOW + timedelta(days=1)}, "occurred_at"),
        ({"lines": [{"sku": "A", "quantity": 1, "unit_price": "10.00"}]}, "paid_amount"),
    ],
)
def test_bad_orders_change_nothing(
    db: Database, frozen: clock.FrozenClock, fields: dict[str, object], field: str
) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session)
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
        post_order(session, customer_id=customer.id, amount="100.00", external_id="X-1", **fields)
    assert [e.field for e in caught.value.errors] == [field]
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0
        assert session.scalar(select(func.count()).select_from(LoyaltyAccount)) == 0


def test_a_partial_refund_reverses_in_proportion_and_the_last_one_exactly(
    db: Database, frozen: clock.FrozenClock
) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session)
        order = post_order(session, customer_id=customer.id, amount="333.00", external_id="R-1")
    with db.unit_of_work() as session:
        first, _ = orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=Decimal("100.00")), "k1")
    assert (first.points_reversed, first.points_balance, first.order_status) == (100, 233, "partially_refunded")
    with db.unit_of_work() as session:
        second, _ = orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=Decimal("233.00")), "k2")
    assert (second.points_reversed, second.points_balance, second.order_status) == (233, 0, "refunded")
    assert second.growth_reversed == 233
    before = table_counts(db)
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
        orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=Decimal("0.01")), "k3")
    assert caught.value.errors[0].field == "amount"
    assert table_counts(db) == before
    _assert_consistent(db)


def test_refund_replay_and_key_reuse(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session)
        order = post_order(session, customer_id=customer.id, amount="100.00", external_id="R-2")
    with db.unit_of_work() as session:
        first, created = orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=Decimal("10.00")), "key")
    with db.unit_of_work() as session:
        again, created_again = orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=Decimal("10.00")), "key")
    assert (created, created_again, again.replayed) == (True, False, True)
    assert again.id == first.id
    before = table_counts(db)
    with db.unit_of_work() as session, pytest.raises(Conflict):
        orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=Decimal("20.00")), "key")
    assert _account(db, customer.id).points_balance == 90
    assert table_counts(db) == before


def test_refund_by_lines_uses_each_lines_paid_share(db: Database, frozen: clock.FrozenClock) -> None:
    lines = [
        {"sku": "A", "category": "apparel", "quantity": 2, "unit_price": "300.00"},
        {"sku": "B", "category": "shoes", "quantity": 1, "unit_price": "400.00"},
    ]
    with db.unit_of_work() as session:
        customer = create_customer(session)
        # 1000 list price, 800 paid: each line keeps 80% of its value.
        order = post_order(session, customer_id=customer.id, amount="800.00", external_id="L-1", lines=lines)
    with db.unit_of_work() as session:
        refund, _ = orders.refund_order(
            session, SYSTEM, order.id, RefundIn.model_validate({"lines": [{"sku": "A", "quantity": 1}]}), "k"
        )
    assert refund.amount == Decimal("240.00")
    assert refund.points_reversed == 240
    before = table_counts(db)
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
        orders.refund_order(
            session, SYSTEM, order.id, RefundIn.model_validate({"lines": [{"line_no": 2, "quantity": 2}]}), "k2"
        )
    assert caught.value.errors[0].field == "lines[0].quantity"
    assert (table_counts(db), _account(db, customer.id).points_balance) == (before, 560)


def _spend_then_refund(db: Database, policy: str) -> tuple[str, RefundAnswer]:
    _set_policy(db, policy)
    with db.unit_of_work() as session:
        customer = create_customer(session)
        old = post_order(session, customer_id=customer.id, amount="50.00", external_id="OLD")
        order = post_order(session, customer_id=customer.id, amount="100.00", external_id="NEW")
    with db.unit_of_work() as session:
        points_service.redeem(session, SYSTEM, customer.id, RedeemIn(points=120), "spend")
    with db.unit_of_work() as session:
        refund, _ = orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=Decimal("100.00")), "r")
    assert old.points_earned == 50
    return customer.id, refund


def test_refund_of_spent_points_allow_negative(db: Database, frozen: clock.FrozenClock) -> None:
    customer_id, refund = _spend_then_refund(db, "allow_negative")
    # 150 earned, 120 spent: both lots expire the same day, so the oldest first (50 from OLD, 70
    # from NEW). The refund of NEW takes its 30 left; the 70 spent become a debt.
    assert (
        refund.points_from_order,
        refund.points_from_other_lots,
        refund.debt_created,
        refund.points_uncollected,
        refund.points_balance,
    ) == (30, 0, 70, 0, -70)
    with db.unit_of_work() as session:
        later = post_order(session, customer_id=customer_id, amount="100.00", external_id="LATER")
    assert (later.points_earned, later.points_balance) == (100, 30)  # the new lot repaid the debt first
    with db.unit_of_work(read_only=True) as session:
        entries = session.execute(
            select(PointEntry.kind, PointEntry.points, PointEntry.balance_after).order_by(PointEntry.id)
        ).all()
        lots = session.execute(
            select(PointLot.issued, PointLot.used, PointLot.reversed, PointLot.remaining, PointLot.status).order_by(
                PointLot.id
            )
        ).all()
        movements = session.execute(
            select(LotMovement.lot_id, LotMovement.kind, LotMovement.points).order_by(LotMovement.id)
        ).all()
        lot_ids = list(session.scalars(select(PointLot.id).order_by(PointLot.id)))
    assert [tuple(e) for e in entries] == [
        ("earn", 50, 50),
        ("earn", 100, 150),
        ("redeem", -120, 30),
        ("reverse", -100, -70),
        ("earn", 100, 30),
    ]
    assert [tuple(lot) for lot in lots] == [
        (50, 50, 0, 0, "closed"),  # OLD: spent
        (100, 70, 30, 0, "closed"),  # NEW: 70 spent, 30 reversed
        (100, 70, 0, 30, "available"),  # LATER: 70 settled the debt
    ]
    old, new, later_lot = lot_ids
    assert [tuple(m) for m in movements] == [
        (old, "use", 50),
        (new, "use", 70),
        (new, "reverse", 30),
        (later_lot, "settle", 70),
    ]
    _assert_consistent(db)


def test_refund_of_spent_points_claw_back(db: Database, frozen: clock.FrozenClock) -> None:
    _, refund = _spend_then_refund(db, "claw_back")
    assert refund.points_balance == 0
    assert refund.points_uncollected == 70
    assert refund.debt_created == 0
    _assert_consistent(db)


def test_refund_of_spent_points_reduce_refund(db: Database, frozen: clock.FrozenClock) -> None:
    _, refund = _spend_then_refund(db, "reduce_refund")
    # 30 points left on the order's lot are reversed; 70 were spent: 0.70 CNY kept back.
    assert refund.points_from_order == 30
    assert refund.points_uncollected == 70
    assert refund.cash_deduction == Decimal("0.70")
    assert refund.refund_cash == Decimal("99.30")
    assert refund.points_balance == 0
    _assert_consistent(db)


def test_pending_points_become_spendable_after_the_period(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        config.update_settings(session, SYSTEM, config.ProgramSettingsIn(pending_days=7))
        customer = create_customer(session)
    with db.unit_of_work() as session:
        answer = post_order(session, customer_id=customer.id, amount="200.00", external_id="P-1")
    assert (answer.pending, answer.points_balance, answer.pending_points) == (True, 0, 200)
    frozen.advance(timedelta(days=7, seconds=1))
    with db.unit_of_work() as session:
        spend = points_service.redeem(session, SYSTEM, customer.id, RedeemIn(points=150), "k")
    assert spend.points_balance == 50
    account = _account(db, customer.id)
    assert (account.points_balance, account.pending_points) == (50, 0)
    _assert_consistent(db)


def test_lots_are_spent_soonest_expiring_first(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session)
        post_order(
            session, customer_id=customer.id, amount="100.00", external_id="E-1", occurred_at=NOW - timedelta(days=200)
        )
        post_order(
            session, customer_id=customer.id, amount="100.00", external_id="E-2", occurred_at=NOW - timedelta(days=10)
        )
    with db.unit_of_work() as session:
        answer = points_service.redeem(session, SYSTEM, customer.id, RedeemIn(points=150), "k")
    with db.unit_of_work(read_only=True) as session:
        lots = [(lot.used, lot.remaining) for lot in session.scalars(select(PointLot).order_by(PointLot.expires_at))]
    assert lots == [(100, 0), (50, 50)]
    assert [use["points"] for use in answer.lots] == [100, 50]
