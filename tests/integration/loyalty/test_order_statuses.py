"""Orders recorded as cancelled, returned or partly returned, and orders cancelled or returned
later: the points, growth, spend and rows each leaves, exactly; refusals change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from guanxi.customers import timeline
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, ValidationFailed
from guanxi.kit.models import table_of
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders import status_changes
from guanxi.loyalty.orders.models import Order, Refund
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.models import GrowthEntry, LoyaltyAccount, PointEntry
from guanxi.loyalty.program.schemas import RefundIn
from guanxi.marketing import segments
from guanxi.privacy.models import AuditRecord
from tests.api.helpers import table_counts
from tests.factories import create_customer, order_in, post_order

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SPENT_1000 = {"rules": [{"field": "orders.total", "op": "gte", "value": "1000"}]}


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


@pytest.fixture
def member(db: Database, frozen: clock.FrozenClock) -> str:
    """A member holding 200 points and 200 growth from one earlier order."""
    with db.unit_of_work() as session:
        customer = create_customer(session, name="张伟", phone="13800138000")
        post_order(
            session,
            customer_id=customer.id,
            amount="200.00",
            external_id="EARLIER",
            occurred_at=NOW - timedelta(days=3),
        )
    return customer.id


def _account(db: Database, customer_id: str) -> dict[str, Any]:
    with db.unit_of_work(read_only=True) as session:
        account = ledger.find_account(session, program.load(session), customer_id)
        assert account is not None
        row = session.execute(select(table_of(LoyaltyAccount)).where(table_of(LoyaltyAccount).c.id == account.id)).one()
        return dict(row._mapping)


def _order_row(db: Database, external_id: str) -> dict[str, Any]:
    with db.unit_of_work(read_only=True) as session:
        row = session.execute(select(table_of(Order)).where(table_of(Order).c.external_id == external_id)).one()
        return dict(row._mapping)


def _topics(db: Database) -> list[str]:
    with db.unit_of_work(read_only=True) as session:
        return list(session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.id)))


def _audit_actions(db: Database) -> list[str]:
    with db.unit_of_work(read_only=True) as session:
        return list(session.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)))


def _spent_1000(db: Database) -> int:
    with db.unit_of_work() as session:  # the preview's sample is an audited read
        return segments.preview(session, SYSTEM, SPENT_1000).count


def _consistent(db: Database) -> None:
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []


def test_a_cancelled_order_is_kept_and_earns_and_counts_nothing(db: Database, member: str) -> None:
    before = _account(db, member)
    topics_before = _topics(db)
    with db.unit_of_work() as session:
        answer = post_order(session, customer_id=member, amount="1500.00", external_id="C-1", status="Cancelled")
    assert (answer.status, answer.points_earned, answer.growth_earned, answer.points_balance) == (
        "cancelled",
        0,
        0,
        200,
    )
    assert (answer.awards, answer.tier, answer.tier_change) == ([], "basic", None)
    after = _account(db, member)
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    order = _order_row(db, "C-1")
    assert (order["status"], order["cancelled_at"], order["points_earned"], order["growth_earned"]) == (
        "cancelled",
        NOW,
        0,
        0,
    )
    with db.unit_of_work() as session:  # reading the timeline is audited
        assert session.scalars(select(PointEntry.order_id).where(PointEntry.order_id == order["id"])).all() == []
        assert session.scalars(select(GrowthEntry.order_id).where(GrowthEntry.order_id == order["id"])).all() == []
        detail = orders.order_detail(session, SYSTEM, order["id"])
        history = timeline.timeline(session, SYSTEM, member, kinds_wanted=["order"])
    assert (detail.status, detail.cancelled_at, detail.points_earned) == ("cancelled", NOW, 0)
    assert [(i.ref, i.detail["status"]) for i in history.items] == [
        (order["id"], "cancelled"),
        (history.items[1].ref, "completed"),
    ]
    # Nothing announced that credits anyone (no order_recorded for referrals); the record says so.
    assert _topics(db)[len(topics_before) :] == ["loyalty.order_cancelled"]
    assert _spent_1000(db) == 0  # 200 spent, not 1,700
    # Posting it again replays the first answer.
    with db.unit_of_work() as session:
        again, created = orders.record_order(
            session, SYSTEM, order_in(customer_id=member, amount="1500.00", external_id="C-1", status="cancelled")
        )
    assert created is False
    assert again.model_dump(exclude={"replayed"}) == answer.model_dump(exclude={"replayed"})
    _consistent(db)


def test_a_cancelled_order_adds_no_qualifying_spend(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        config.update_settings(session, SYSTEM, config.ProgramSettingsIn(tier_basis="qualifying_spend"))
        customer = create_customer(session, name="李娜")
    with db.unit_of_work() as session:
        post_order(session, customer_id=customer.id, amount="300.00", external_id="Q-1")
        post_order(session, customer_id=customer.id, amount="5000.00", external_id="Q-2", status="cancelled")
    assert _account(db, customer.id)["qualifying_spend"] == Decimal("300.00")
    assert _account(db, customer.id)["tier_code"] == "basic"
    with db.unit_of_work() as session:
        status_changes.cancel_order(session, SYSTEM, _order_row(db, "Q-1")["id"])
    assert _account(db, customer.id)["qualifying_spend"] == Decimal("0.00")
    _consistent(db)


def test_a_returned_order_nets_to_nothing_and_reads_refunded(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        answer = post_order(session, customer_id=member, amount="500.00", external_id="R-1", status="退货")
    assert (answer.status, answer.points_earned, answer.points_reversed, answer.points_balance) == (
        "refunded",
        500,
        500,
        200,
    )
    assert (answer.refunded_amount, answer.growth_earned, answer.tier_change) == (Decimal("500.00"), 500, None)
    account = _account(db, member)
    assert (account["points_balance"], account["growth_value"], account["lifetime_earned"]) == (200, 200, 700)
    order = _order_row(db, "R-1")
    assert (order["status"], order["refunded_amount"], order["points_reversed"], order["growth_reversed"]) == (
        "refunded",
        Decimal("500.00"),
        500,
        500,
    )
    with db.unit_of_work(read_only=True) as session:
        refunds = session.execute(select(Refund.amount, Refund.points_reversed).where(Refund.order_id == order["id"]))
        assert [tuple(r) for r in refunds] == [(Decimal("500.00"), 500)]
        kinds = session.execute(
            select(PointEntry.kind, PointEntry.points).where(PointEntry.order_id == order["id"]).order_by(PointEntry.id)
        )
        assert [tuple(k) for k in kinds] == [("earn", 500), ("reverse", -500)]
    assert _audit_actions(db)[-2:] == ["order.create", "order.refund"]
    assert _spent_1000(db) == 0
    _consistent(db)


def test_a_returned_order_reaching_a_tier_does_not_upgrade(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        answer = post_order(session, customer_id=member, amount="5000.00", external_id="R-2", status="returned")
    assert (answer.tier, answer.tier_change, answer.status) == ("basic", None, "refunded")
    assert _account(db, member)["tier_code"] == "basic"


def test_a_partial_return_reverses_its_share_exactly(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        answer = post_order(
            session,
            customer_id=member,
            amount="333.00",
            external_id="P-1",
            status="partially_returned",
            refunded_amount="100.00",
        )
    assert (answer.status, answer.points_earned, answer.points_reversed) == ("partially_refunded", 333, 100)
    assert (answer.points_balance, answer.refunded_amount) == (200 + 233, Decimal("100.00"))
    account = _account(db, member)
    assert (account["points_balance"], account["growth_value"]) == (433, 433)
    # The rest can still be refunded, and then the order has given back everything it earned.
    with db.unit_of_work() as session:
        rest, _ = orders.refund_order(session, SYSTEM, answer.id, RefundIn(amount=Decimal("233.00")), "rest")
    assert (rest.points_reversed, rest.points_balance, rest.order_status) == (233, 200, "refunded")
    _consistent(db)


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"status": "partially_returned"}, "refunded_amount", "required"),
        ({"status": "partially_returned", "refunded_amount": "333.00"}, "refunded_amount", "outside_paid_amount"),
        ({"status": "returned", "refunded_amount": "10.00"}, "refunded_amount", "not_with_status"),
        ({"refunded_amount": "10.00"}, "refunded_amount", "not_with_status"),
    ],
)
def test_a_bad_return_amount_changes_nothing(
    db: Database, member: str, fields: dict[str, Any], field: str, code: str
) -> None:
    before = table_counts(db)
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
        post_order(session, customer_id=member, amount="333.00", external_id="BAD", **fields)
    assert [(e.field, e.code) for e in caught.value.errors] == [(field, code)]
    assert table_counts(db) == before


def test_cancelling_later_reverses_exactly_and_twice_answers_the_same(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        order = post_order(session, customer_id=member, amount="1200.00", external_id="L-1")
    assert _account(db, member)["points_balance"] == 1400
    assert _spent_1000(db) == 1
    with db.unit_of_work() as session:
        first, changed = status_changes.cancel_order(session, SYSTEM, order.id)
    assert changed is True
    assert (first.status, first.cancelled_at, first.points_reversed, first.growth_reversed) == (
        "cancelled",
        NOW,
        1200,
        1200,
    )
    assert (first.points_from_order, first.points_uncollected, first.points_balance) == (1200, 0, 200)
    account = _account(db, member)
    assert (account["points_balance"], account["growth_value"]) == (200, 200)
    assert account["last_order_at"] == NOW - timedelta(days=3)  # the order that still stands
    row = _order_row(db, "L-1")
    assert (row["status"], row["points_reversed"], row["growth_reversed"], row["refunded_amount"]) == (
        "cancelled",
        1200,
        1200,
        Decimal("0.00"),
    )
    with db.unit_of_work(read_only=True) as session:
        reasons = session.execute(
            select(PointEntry.kind, PointEntry.points, PointEntry.reason).where(PointEntry.order_id == order.id)
        )
        assert sorted(tuple(r) for r in reasons) == [("earn", 1200, "order"), ("reverse", -1200, "cancel")]
    assert _spent_1000(db) == 0
    assert _topics(db)[-1] == "loyalty.order_cancelled"
    assert _audit_actions(db)[-1] == "order.cancel"
    before = table_counts(db)
    with db.unit_of_work() as session:
        second, changed = status_changes.cancel_order(session, SYSTEM, order.id)
    assert changed is False
    assert second.replayed is True
    assert second.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    assert table_counts(db) == before
    _consistent(db)


def test_a_cancelled_order_takes_no_refund_and_no_return(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        later = post_order(session, customer_id=member, amount="80.00", external_id="X-1")
        recorded = post_order(session, customer_id=member, amount="90.00", external_id="X-2", status="cancelled")
    with db.unit_of_work() as session:
        status_changes.cancel_order(session, SYSTEM, later.id)
    for order_id in (later.id, recorded.id):
        before = (table_counts(db), _account(db, member), _order_row(db, "X-1"), _order_row(db, "X-2"))
        with db.unit_of_work() as session, pytest.raises(Conflict) as caught:
            orders.refund_order(session, SYSTEM, order_id, RefundIn(amount=Decimal("10.00")), f"r-{order_id}")
        assert (type(caught.value).code, caught.value.errors[0].code) == ("order_cancelled", "order_cancelled")
        with db.unit_of_work() as session, pytest.raises(Conflict) as caught:
            status_changes.return_order(session, SYSTEM, order_id, f"t-{order_id}")
        assert type(caught.value).code == "order_cancelled"
        assert (table_counts(db), _account(db, member), _order_row(db, "X-1"), _order_row(db, "X-2")) == before
    # Cancelling the order recorded as cancelled answers it, having taken nothing back.
    with db.unit_of_work() as session:
        answer, changed = status_changes.cancel_order(session, SYSTEM, recorded.id)
    assert (changed, answer.points_reversed, answer.points_balance, answer.replayed) == (False, 0, 200, True)


def test_an_order_with_refunds_is_not_cancelled(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        order = post_order(session, customer_id=member, amount="300.00", external_id="H-1")
    with db.unit_of_work() as session:
        orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=Decimal("100.00")), "part")
    before = (table_counts(db), _account(db, member), _order_row(db, "H-1"))
    with db.unit_of_work() as session, pytest.raises(Conflict) as caught:
        status_changes.cancel_order(session, SYSTEM, order.id)
    assert (type(caught.value).code, caught.value.extra["refunded_amount"]) == ("order_has_refunds", "100.00")
    assert (table_counts(db), _account(db, member), _order_row(db, "H-1")) == before


def test_a_return_refunds_the_rest_once(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        order = post_order(session, customer_id=member, amount="300.00", external_id="T-1")
    with db.unit_of_work() as session:
        orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=Decimal("100.00")), "part")
    with db.unit_of_work() as session:
        first, created = status_changes.return_order(session, SYSTEM, order.id, "back")
    assert (created, first.amount, first.points_reversed, first.order_status, first.points_balance) == (
        True,
        Decimal("200.00"),
        200,
        "refunded",
        200,
    )
    before = table_counts(db)
    with db.unit_of_work() as session:
        again, created = status_changes.return_order(session, SYSTEM, order.id, "back")
    assert (created, again.replayed, again.id) == (False, True, first.id)
    with db.unit_of_work() as session, pytest.raises(Conflict) as caught:
        status_changes.return_order(session, SYSTEM, order.id, "again")
    assert type(caught.value).code == "nothing_to_return"
    with db.unit_of_work() as session, pytest.raises(Conflict) as caught:
        orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=Decimal("1.00")), "back")
    assert caught.value.errors[0].code == "idempotency_mismatch"  # one key, one refund
    assert table_counts(db) == before
    _consistent(db)
