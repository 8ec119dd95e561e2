"""A batch of orders: one outcome per order, each what recording it alone would give."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import Conflict, ValidationFailed
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.orders.batch import record_orders
from guanxi.loyalty.orders.models import Order
from tests.factories import create_customer, order_in

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
