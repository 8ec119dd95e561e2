"""Many requests at once on one member: no double spend, no double order, on SQLite and PostgreSQL.

Each thread runs its own unit of work, as concurrent API requests do; account rows are locked in
id order (FOR UPDATE on PostgreSQL, the write lock on SQLite)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import func, select

from guanxi.kit.db import Database
from guanxi.kit.errors import DomainError
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.members import points as points_service
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.program.schemas import RedeemIn, TransferIn
from tests.factories import create_customer, order_in, post_order

WHEN = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def _race(db: Database, count: int, work: Callable[[int], object]) -> Counter[str]:
    def attempt(n: int) -> str:
        try:
            with db.unit_of_work() as session:
                work_result = work(n)
                if callable(work_result):
                    work_result(session)
            return "ok"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        return Counter(pool.map(attempt, range(count)))


def _balance(db: Database, customer_id: str) -> int:
    with db.unit_of_work(read_only=True) as session:
        from guanxi.loyalty.members import card

        return card.get_card(session, SYSTEM, customer_id).points_balance


def test_twenty_redemptions_of_a_tenth_each_never_overspend(db: Database) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session)
        post_order(session, customer_id=customer.id, amount="1000.00", external_id="BIG", occurred_at=WHEN)

    def redeem(n: int) -> Callable[[object], None]:
        return lambda session: points_service.redeem(  # type: ignore[misc]
            session, SYSTEM, customer.id, RedeemIn(points=100), f"key-{n}"
        )

    outcomes = _race(db, 20, redeem)
    assert outcomes == Counter({"ok": 10, "insufficient_points": 10})
    assert _balance(db, customer.id) == 0
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []


def test_the_same_order_posted_at_once_is_recorded_once(db: Database) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session)

    def post(_: int) -> Callable[[object], None]:
        data = order_in(customer_id=customer.id, amount="88.00", external_id="DUP", occurred_at=WHEN)
        return lambda session: orders.record_order(session, SYSTEM, data)  # type: ignore[misc,arg-type]

    outcomes = _race(db, 12, post)
    assert outcomes == Counter({"ok": 12})
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 1
        assert verify.check(session) == []
    assert _balance(db, customer.id) == 88


def test_transfers_both_ways_at_once_do_not_deadlock_or_lose_points(db: Database) -> None:
    with db.unit_of_work() as session:
        a = create_customer(session, name="甲")
        b = create_customer(session, name="乙")
        post_order(session, customer_id=a.id, amount="500.00", external_id="A", occurred_at=WHEN)
        post_order(session, customer_id=b.id, amount="500.00", external_id="B", occurred_at=WHEN)

    def transfer(n: int) -> Callable[[object], None]:
        source, target = (a, b) if n % 2 else (b, a)
        body = TransferIn(to_customer_id=target.id, points=30)
        return lambda session: points_service.transfer(session, SYSTEM, source.id, body, f"t-{n}")  # type: ignore[misc,arg-type]

    outcomes = _race(db, 16, transfer)
    assert outcomes == Counter({"ok": 16})
    assert _balance(db, a.id) + _balance(db, b.id) == 1000
    assert _balance(db, a.id) == 500
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []
