"""A batch of orders: one outcome per order, each what recording it alone would give."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, ValidationFailed
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.orders import apply as order_apply
from guanxi.loyalty.orders.batch import record_orders
from guanxi.loyalty.orders.models import Order
from tests.factories import create_customer, order_in, put_rates

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


def test_a_batch_records_each_order_and_isolates_refusals(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session, phone="13800138000")
    items = [
        (SYSTEM, order_in(customer_id=customer.id, amount="100.00", external_id="B-1", occurred_at=NOW)),
        (
            SYSTEM,
            order_in(customer_id=customer.id, amount="100.00", currency="USD", external_id="B-2", occurred_at=NOW),
        ),
        (SYSTEM, order_in(customer_id=customer.id, amount="50.00", external_id="B-3", occurred_at=NOW)),
        (SYSTEM, order_in(customer_id=customer.id, amount="100.00", external_id="B-1", occurred_at=NOW)),
        (SYSTEM, order_in(customer_id=customer.id, amount="99.00", external_id="B-1", occurred_at=NOW)),
    ]
    with db.unit_of_work() as session:
        outcomes = record_orders(session, items)
    first, bad, third, replay, conflict = outcomes
    assert not isinstance(first, BaseException) and first[1] is True
    assert first[0].points_balance == 100
    assert isinstance(bad, ValidationFailed)
    assert [e.code for e in bad.errors] == ["no_exchange_rate"]  # the rate table is empty
    assert not isinstance(third, BaseException) and third[0].points_balance == 150
    assert not isinstance(replay, BaseException) and replay[1] is False and replay[0].replayed is True
    assert isinstance(conflict, Conflict)
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 2
        assert verify.check(session) == []


def test_a_batch_reads_the_rates_of_all_its_orders_in_one_query(
    db: Database, frozen: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.unit_of_work() as session:
        put_rates(session, ("USD", "7.00", "2026-11-01", None), ("HKD", "0.90", "2026-11-01", None))
        customers = [create_customer(session, phone=f"1380013800{i}") for i in range(6)]
    items = [
        (SYSTEM, order_in(customer_id=c.id, amount="10.00", currency=("USD", "HKD")[i % 2], external_id=f"F-{i}"))
        for i, c in enumerate(customers)
    ]
    selects: list[str] = []

    def record(*args: Any) -> None:
        if "loyalty_exchange_rates" in args[2]:
            selects.append(args[2])

    planned: list[int] = []
    apply = order_apply.apply

    def counted(session: Session, items: list[order_apply.Planned]) -> None:
        planned.append(len(items))
        apply(session, items)

    monkeypatch.setattr(order_apply, "apply", counted)
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.unit_of_work() as session:
            outcomes = record_orders(session, items)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert (len(selects), sum(planned)) == (1, 6)  # every order planned, their rates read once
    answers = [o[0] for o in outcomes if not isinstance(o, BaseException)]
    assert [(a.paid_amount, a.exchange.currency if a.exchange else None) for a in answers] == [
        (Decimal("70.00"), "USD"),
        (Decimal("9.00"), "HKD"),
    ] * 3
