from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.factories import create_customer, post_order

NOW = datetime(2026, 6, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as frozen_clock:
        yield frozen_clock


def buy(db: Database, customer_id: str, amount: str, days_ago: int, n: int) -> str:
    with db.unit_of_work() as session:
        answer = post_order(
            session,
            customer_id=customer_id,
            amount=amount,
            external_id=f"{customer_id}-{n}",
            occurred_at=NOW - timedelta(days=days_ago),
        )
    return answer.order_id if hasattr(answer, "order_id") else answer.id


def customer(db: Database, name: str = "张伟") -> str:
    with db.unit_of_work() as session:
        return create_customer(session, name=name).id
