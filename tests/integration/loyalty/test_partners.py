"""Partner exchange: configuration checks, conversion and rounding, limits, idempotent partner
transaction ids, and a settlement ledger that balances after exchanges and payments."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.exchange import partner_exchange, partners
from guanxi.loyalty.exchange.models import PartnerSettlementEntry, PartnerTransaction
from guanxi.loyalty.exchange.schemas import ExchangeIn, ExchangeOut, PartnerIn, PartnerPatch, PaymentIn
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.errors import InsufficientPoints, LimitReached, NotEligible
from guanxi.loyalty.program.models import LoyaltyAccount, PointEntry, PointLot
from tests.factories import create_customer, post_order, staff_principal

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai

AIRLINE = {
    "code": "airline",
    "name": "东方航空",
    "rate_in": "0.5",
    "rate_out": "2.5",
    "settlement_value": "0.0123",
    "min_points": 10,
    "max_points": 5000,
    "daily_limit": 1000,
}


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


@pytest.fixture
def member(db: Database, frozen: clock.FrozenClock) -> str:
    with db.unit_of_work() as session:
        customer = create_customer(session, phone="13800138000")
        partners.create_partner(session, SYSTEM, PartnerIn.model_validate(AIRLINE))
        return customer.id


def _exchange(db: Database, customer_id: str, **body: Any) -> ExchangeOut:
    with db.unit_of_work() as session:
        return partner_exchange.exchange(
            session, SYSTEM, "airline", ExchangeIn.model_validate({"customer_id": customer_id, **body})
        )


def _balance(db: Database, customer_id: str) -> int:
    with db.unit_of_work(read_only=True) as session:
        account = ledger.find_account(session, program.load(session), customer_id)
        return 0 if account is None else account.points_balance


def _counts(db: Database) -> tuple[int, int, int]:
    with db.unit_of_work(read_only=True) as session:
        return (
            int(session.scalar(select(func.count()).select_from(PartnerTransaction)) or 0),
            int(session.scalar(select(func.count()).select_from(PartnerSettlementEntry)) or 0),
            int(session.scalar(select(func.count()).select_from(PointEntry)) or 0),
        )


def _assert_consistent(db: Database) -> None:
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []
        assert partners.check_settlements(session) == []


def test_partner_configuration_is_validated(db: Database, frozen: clock.FrozenClock) -> None:
    for field, value in (("rate_in", "0"), ("rate_out", "-1"), ("settlement_value", "-0.01"), ("rate_in", "0.00001")):
        with pytest.raises(ValidationError) as caught:
            PartnerIn.model_validate({**AIRLINE, field: value})
        assert caught.value.errors()[0]["loc"] == (field,)
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as failed:
        partners.create_partner(session, SYSTEM, PartnerIn.model_validate({**AIRLINE, "max_points": 5}))
    assert [e.field for e in failed.value.errors] == ["max_points"]
    with db.unit_of_work() as session:
        created = partners.create_partner(session, SYSTEM, PartnerIn.model_validate(AIRLINE))
    assert (created.rate_in, created.rate_out, created.daily_limit) == (Decimal("0.5"), Decimal("2.5"), 1000)
    with db.unit_of_work() as session, pytest.raises(Conflict) as conflict:
        partners.create_partner(session, SYSTEM, PartnerIn.model_validate(AIRLINE))
    assert conflict.value.errors[0].field == "code"
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as failed:
        partners.update_partner(session, SYSTEM, "airline", PartnerPatch.model_validate({"min_points": 6000}))
    assert sorted(e.field for e in failed.value.errors) == ["daily_limit", "max_points"]
    with pytest.raises(ValidationError) as refused:
        PartnerPatch.model_validate({"rate_in": None})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [(("rate_in",), "null")]
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as failed:
        # The service refuses it too, for a patch built without validation.
        partners.update_partner(session, SYSTEM, "airline", PartnerPatch.model_construct(rate_in=None))
    assert [e.field for e in failed.value.errors] == ["rate_in"]
    with db.unit_of_work() as session:
        patched = partners.update_partner(
            session, SYSTEM, "airline", PartnerPatch.model_validate({"max_points": None, "rate_in": "0.75"})
        )
    assert (patched.max_points, patched.rate_in, patched.daily_limit) == (None, Decimal("0.75"), 1000)
    with db.unit_of_work() as session, pytest.raises(NotFound):
        partners.get_partner(session, SYSTEM, "hotel")


def test_configuring_needs_partners_update_and_exchanging_partners_create(
    db: Database, frozen: clock.FrozenClock
) -> None:
    integration = staff_principal(db, username="pos", role="integration")
    marketing = staff_principal(db, username="mkt", role="marketing")
    with db.unit_of_work() as session, pytest.raises(PermissionDenied):
        partners.create_partner(session, integration, PartnerIn.model_validate(AIRLINE))
    with db.unit_of_work() as session:
        partners.create_partner(session, SYSTEM, PartnerIn.model_validate(AIRLINE))
        customer = create_customer(session, phone="13800138000")
    with db.unit_of_work() as session, pytest.raises(PermissionDenied):
        partner_exchange.exchange(
            session,
            marketing,
            "airline",
            ExchangeIn.model_validate(
                {"direction": "in", "partner_txn_id": "T1", "customer_id": customer.id, "partner_points": 100}
            ),
        )
    with db.unit_of_work() as session:
        answer = partner_exchange.exchange(
            session,
            integration,
            "airline",
            ExchangeIn.model_validate(
                {"direction": "in", "partner_txn_id": "T1", "customer_id": customer.id, "partner_points": 100}
            ),
        )
    assert answer.points == 50
    with db.unit_of_work() as session:
        assert [p.code for p in partners.list_partners(session, marketing)] == ["airline"]


def test_points_in_are_floored_credited_as_a_partner_lot_and_owed_by_the_partner(db: Database, member: str) -> None:
    answer = _exchange(db, member, direction="in", partner_txn_id="IN-1", partner_points=333)
    # 333 x 0.5 = 166.5 -> 166 points; 166 x 0.0123 = 2.0418 -> 2.04 owed to us.
    assert (answer.points, answer.partner_points, answer.points_balance) == (166, 333, 166)
    assert answer.settlement_amount == Decimal("-2.04")
    assert (answer.replayed, answer.customer_id, answer.currency) == (False, member, "CNY")
    assert _balance(db, member) == 166
    with db.unit_of_work(read_only=True) as session:
        lot = session.scalars(select(PointLot)).one()
        entry = session.get(PointEntry, answer.entry_id)
        assert entry is not None
        assert (lot.source, lot.status, lot.issued) == ("partner", "available", 166)
        assert (entry.kind, entry.reason, entry.reference) == ("earn", "partner", "airline:IN-1")
    _assert_consistent(db)


def test_points_out_are_spent_soonest_expiring_first_and_owed_to_the_partner(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        post_order(session, customer_id=member, amount="300.00", external_id="O-1")
    answer = _exchange(db, member, direction="out", partner_txn_id="OUT-1", points=101)
    # 101 x 2.5 = 252.5 -> 252 partner points; 101 x 0.0123 = 1.2423 -> 1.24 we owe.
    assert (answer.points, answer.partner_points, answer.points_balance) == (101, 252, 199)
    assert answer.settlement_amount == Decimal("1.24")
    with db.unit_of_work(read_only=True) as session:
        entry = session.get(PointEntry, answer.entry_id)
        account = session.scalars(select(LoyaltyAccount)).one()
        assert entry is not None
        assert (entry.kind, entry.reason, entry.points) == ("redeem", "partner", -101)
        assert account.lifetime_redeemed == 101
    before = _counts(db)
    with pytest.raises(InsufficientPoints):
        _exchange(db, member, direction="out", partner_txn_id="OUT-2", points=200)
    stranger = _new_customer(db, "13900139000")
    with pytest.raises(InsufficientPoints):
        _exchange(db, stranger, direction="out", partner_txn_id="OUT-3", points=20)
    assert _counts(db) == before
    _assert_consistent(db)


def _new_customer(db: Database, phone: str) -> str:
    with db.unit_of_work() as session:
        return create_customer(session, name="李娜", phone=phone).id


def test_per_transaction_limits_and_rounding_to_nothing_are_refused(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        post_order(session, customer_id=member, amount="9000.00", external_id="O-1")
    cases: list[tuple[dict[str, Any], type[Exception], str, str]] = [
        ({"direction": "in", "partner_points": 19}, LimitReached, "partner_points", "below_min"),  # 9 points
        ({"direction": "in", "partner_points": 10_002}, LimitReached, "partner_points", "over_max"),  # 5001
        ({"direction": "out", "points": 9}, LimitReached, "points", "below_min"),
        ({"direction": "out", "points": 5001}, LimitReached, "points", "over_max"),
        ({"direction": "in"}, ValidationFailed, "partner_points", "required"),
        ({"direction": "out", "points": 20, "partner_points": 3}, ValidationFailed, "partner_points", "not_allowed"),
    ]
    before = _counts(db)
    for i, (body, error, field, code) in enumerate(cases):
        with pytest.raises(error) as caught:
            _exchange(db, member, partner_txn_id=f"BAD-{i}", **body)
        assert [(e.field, e.code) for e in caught.value.errors] == [(field, code)]  # type: ignore[attr-defined]
    with db.unit_of_work() as session:
        partners.update_partner(session, SYSTEM, "airline", PartnerPatch(rate_out=Decimal("0.01"), min_points=1))
    with pytest.raises(ValidationFailed) as caught:
        _exchange(db, member, direction="out", partner_txn_id="TINY", points=99)  # 0.99 partner points
    assert [(e.field, e.code) for e in caught.value.errors] == [("points", "too_small")]
    assert _counts(db) == before


def test_the_daily_limit_counts_points_out_per_member_and_local_day(
    db: Database, member: str, frozen: clock.FrozenClock
) -> None:
    with db.unit_of_work() as session:
        post_order(session, customer_id=member, amount="5000.00", external_id="O-1")
    _exchange(db, member, direction="out", partner_txn_id="D-1", points=600)
    _exchange(db, member, direction="in", partner_txn_id="D-IN", partner_points=4000)  # in does not count
    with pytest.raises(LimitReached) as caught:
        _exchange(db, member, direction="out", partner_txn_id="D-2", points=401)
    assert caught.value.extra == {"daily_limit": 1000, "left_today": 400}
    assert caught.value.errors[0].field == "points"
    _exchange(db, member, direction="out", partner_txn_id="D-3", points=400)
    other = _new_customer(db, "13900139000")
    with db.unit_of_work() as session:
        post_order(session, customer_id=other, amount="500.00", external_id="O-2")
    _exchange(db, other, direction="out", partner_txn_id="D-4", points=500)  # another member's own limit
    frozen.advance(timedelta(hours=14))  # 00:00 the next day in Shanghai
    _exchange(db, member, direction="out", partner_txn_id="D-5", points=1000)
    _assert_consistent(db)


def test_a_partner_txn_id_replays_the_first_answer_and_refuses_another_body(db: Database, member: str) -> None:
    first = _exchange(db, member, direction="in", partner_txn_id="SAME", partner_points=1000)
    again = _exchange(db, member, direction="in", partner_txn_id="SAME", partner_points=1000)
    assert again.replayed is True
    assert again.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    before = _counts(db)
    with pytest.raises(Conflict) as caught:
        _exchange(db, member, direction="in", partner_txn_id="SAME", partner_points=1001)
    assert caught.value.errors[0].field == "partner_txn_id"
    assert caught.value.extra["existing_transaction_id"] == first.id
    assert _counts(db) == before == (1, 1, 1)
    assert _balance(db, member) == 500
    # Another partner may use the same transaction id.
    with db.unit_of_work() as session:
        partners.create_partner(session, SYSTEM, PartnerIn.model_validate({**AIRLINE, "code": "hotel"}))
    with db.unit_of_work() as session:
        partner_exchange.exchange(
            session,
            SYSTEM,
            "hotel",
            ExchangeIn.model_validate(
                {"direction": "in", "partner_txn_id": "SAME", "customer_id": member, "partner_points": 1000}
            ),
        )
    assert _balance(db, member) == 1000


def test_closed_directions_and_inactive_partners_are_refused(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        partners.update_partner(session, SYSTEM, "airline", PartnerPatch(allow_out=False))
    with pytest.raises(NotEligible) as caught:
        _exchange(db, member, direction="out", partner_txn_id="X-1", points=10)
    assert caught.value.errors[0].code == "direction_closed"
    with db.unit_of_work() as session:
        partners.update_partner(session, SYSTEM, "airline", PartnerPatch(active=False))
    with pytest.raises(NotEligible) as caught:
        _exchange(db, member, direction="in", partner_txn_id="X-2", partner_points=100)
    assert caught.value.errors[0].code == "partner_inactive"
    with db.unit_of_work() as session, pytest.raises(NotFound):
        partner_exchange.exchange(
            session,
            SYSTEM,
            "nobody",
            ExchangeIn.model_validate(
                {"direction": "in", "partner_txn_id": "X", "customer_id": member, "partner_points": 100}
            ),
        )
    assert _counts(db) == (0, 0, 0)


def test_an_identity_finds_the_member(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        answer = partner_exchange.exchange(
            session,
            SYSTEM,
            "airline",
            ExchangeIn.model_validate(
                {
                    "direction": "in",
                    "partner_txn_id": "ID-1",
                    "identity": {"kind": "phone", "value": "138 0013 8000"},
                    "partner_points": 100,
                }
            ),
        )
    assert answer.customer_id == member
    with pytest.raises(ValidationFailed) as caught, db.unit_of_work() as session:
        partner_exchange.exchange(
            session,
            SYSTEM,
            "airline",
            ExchangeIn.model_validate(
                {
                    "direction": "in",
                    "partner_txn_id": "ID-2",
                    "identity": {"kind": "phone", "value": "13900139000"},
                    "partner_points": 100,
                }
            ),
        )
    assert [e.field for e in caught.value.errors] == ["identity"]


def test_the_settlement_balances_after_exchanges_and_payments(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        post_order(session, customer_id=member, amount="1000.00", external_id="O-1")
    _exchange(db, member, direction="in", partner_txn_id="S-1", partner_points=2000)  # 1000 pts: -12.30
    _exchange(db, member, direction="out", partner_txn_id="S-2", points=500)  # +6.15
    _exchange(db, member, direction="in", partner_txn_id="S-3", partner_points=200)  # 100 pts: -1.23
    with db.unit_of_work() as session:
        owed = partners.settlement(session, SYSTEM, "airline", PageRequest(limit=50, sort="id"))
    assert (owed.balance, owed.owed_by) == (Decimal("-7.38"), "partner")
    assert [(e.kind, e.amount) for e in owed.items] == [
        ("exchange_in", Decimal("-1.23")),
        ("exchange_out", Decimal("6.15")),
        ("exchange_in", Decimal("-12.30")),
    ]
    # We cannot pay what we do not owe, nor the partner more than it owes.
    for payer, amount in (("us", "0.01"), ("partner", "7.39")):
        with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
            partners.record_payment(
                session, SYSTEM, "airline", PaymentIn.model_validate({"amount": amount, "payer": payer}), f"p-{payer}"
            )
        assert [e.field for e in caught.value.errors] == ["amount"]
    payment = PaymentIn.model_validate({"amount": "5.00", "payer": "partner", "note": "bank transfer"})
    with db.unit_of_work() as session:
        paid = partners.record_payment(session, SYSTEM, "airline", payment, "pay-1")
    with db.unit_of_work() as session:
        again = partners.record_payment(session, SYSTEM, "airline", payment, "pay-1")
    assert (paid.kind, paid.amount, paid.balance_after) == ("payment", Decimal("5.00"), Decimal("-2.38"))
    assert (again.replayed, again.id) == (True, paid.id)
    with db.unit_of_work() as session, pytest.raises(Conflict):
        partners.record_payment(
            session, SYSTEM, "airline", PaymentIn.model_validate({"amount": "1.00", "payer": "partner"}), "pay-1"
        )
    with db.unit_of_work() as session, pytest.raises(ValidationFailed) as caught:
        partners.record_payment(
            session,
            SYSTEM,
            "airline",
            PaymentIn.model_validate({"amount": "1.00", "payer": "partner", "currency": "USD"}),
            "pay-2",
        )
    assert [e.field for e in caught.value.errors] == ["currency"]
    with db.unit_of_work() as session:
        first = partners.settlement(session, SYSTEM, "airline", PageRequest(limit=2, sort="id"))
        rest = partners.settlement(
            session, SYSTEM, "airline", PageRequest(limit=2, sort="id", cursor=first.next_cursor)
        )
    assert first.balance == rest.balance == Decimal("-2.38")
    assert [e.kind for e in first.items] == ["payment", "exchange_in"]
    assert [e.kind for e in rest.items] == ["exchange_out", "exchange_in"]
    assert rest.next_cursor is None
    assert sum((e.amount for e in first.items + rest.items), Decimal(0)) == Decimal("-2.38")
    assert _balance(db, member) == 1000 + 1000 - 500 + 100
    _assert_consistent(db)


def _race(db: Database, customer_id: str, bodies: list[dict[str, Any]]) -> list[ExchangeOut | Exception]:
    results: list[ExchangeOut | Exception] = []
    barrier = threading.Barrier(len(bodies))

    def run(body: dict[str, Any]) -> None:
        barrier.wait()
        try:
            results.append(_exchange(db, customer_id, **body))
        except Exception as exc:  # collected and asserted on below
            results.append(exc)

    threads = [threading.Thread(target=run, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_deliveries_of_one_partner_transaction_move_points_once(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        post_order(session, customer_id=member, amount="1000.00", external_id="O-1")
    results = _race(db, member, [{"direction": "out", "partner_txn_id": "RACE", "points": 300}] * 4)
    answers = [r for r in results if isinstance(r, ExchangeOut)]
    assert len(answers) == 4, results
    assert sorted(a.replayed for a in answers) == [False, True, True, True]
    assert {a.id for a in answers} == {answers[0].id}
    assert _balance(db, member) == 700
    assert _counts(db)[:2] == (1, 1)
    _assert_consistent(db)


def test_racing_exchanges_out_never_overspend(db: Database, member: str) -> None:
    with db.unit_of_work() as session:
        post_order(session, customer_id=member, amount="1000.00", external_id="O-1")
        partners.update_partner(session, SYSTEM, "airline", PartnerPatch(daily_limit=None))
    bodies = [{"direction": "out", "partner_txn_id": f"R-{i}", "points": 400} for i in range(4)]
    results = _race(db, member, bodies)
    assert sum(isinstance(r, ExchangeOut) for r in results) == 2, results
    assert all(isinstance(r, ExchangeOut | InsufficientPoints) for r in results), results
    assert _balance(db, member) == 200
    with db.unit_of_work(read_only=True) as session:
        owed = partners.settlement(session, SYSTEM, "airline", PageRequest(limit=10, sort="id"))
    assert owed.balance == Decimal("9.84")  # 800 points x 0.0123
    _assert_consistent(db)
