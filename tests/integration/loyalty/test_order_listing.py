"""The orders list: each filter, the totals of what matched, numbered pages, scope and masking,
exactly; a page costs two statements whatever its size."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import PermissionDenied, ValidationFailed
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.loyalty.orders import listing
from guanxi.loyalty.orders.listing import OrderFilter
from tests.factories import create_customer, post_order, staff_principal
from tests.integration.loyalty.order_shop import NOW, record_shop


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


@pytest.fixture
def shop(db: Database, frozen: clock.FrozenClock) -> dict[str, str]:
    with db.unit_of_work() as session:
        return record_shop(session)


def _list(db: Database, flt: OrderFilter = OrderFilter(), **kwargs: Any) -> listing.OrderListing:
    with db.unit_of_work() as session:
        return listing.list_orders(session, SYSTEM, flt, **kwargs)


def _stores(result: listing.OrderListing) -> list[str | None]:
    return [row.store for row in result.rows]


def test_all_orders_newest_first_with_totals(db: Database, shop: dict[str, str]) -> None:
    result = _list(db)
    assert [(r.customer_name, r.store, r.channel, r.status, r.paid_amount, r.points_earned) for r in result.rows] == [
        ("张伟", "SH-01", "store", "completed", Decimal("100.00"), 100),
        ("张伟", "SH-02", "mini_program", "completed", Decimal("250.00"), 250),
        ("李娜", "SH-01", "store", "completed", Decimal("80.00"), 80),
        ("李娜", "BJ-01", "tmall", "cancelled", Decimal("60.00"), 60),
        ("李娜", "SH-01", "jd", "partially_refunded", Decimal("3000.00"), 3000),
    ]
    # The cancelled order is counted but adds neither its amount nor its points.
    assert result.totals == listing.OrderTotals(
        count=5,
        amounts=[listing.CurrencyTotal("CNY", Decimal("3430.00"), Decimal("100.00"))],
        points_earned=3430,
    )
    assert (result.page, result.pages) == (1, 1)


def test_each_filter(db: Database, shop: dict[str, str]) -> None:
    assert _stores(_list(db, OrderFilter(store="SH-01"))) == ["SH-01", "SH-01", "SH-01"]
    assert _stores(_list(db, OrderFilter(channel="tmall"))) == ["BJ-01"]
    assert _stores(_list(db, OrderFilter(status="partially_refunded"))) == ["SH-01"]
    assert _stores(_list(db, OrderFilter(customer_id=shop["zhang"]))) == ["SH-01", "SH-02"]
    # Local days: the 16:30 UTC order belongs to the 20th in Shanghai, the 15:30 one to the 19th.
    assert _stores(_list(db, OrderFilter(date_from=date(2026, 11, 20)))) == ["SH-01"]
    assert _stores(_list(db, OrderFilter(date_from=date(2026, 11, 18), date_to=date(2026, 11, 19)))) == [
        "SH-02",
        "SH-01",
    ]
    by_amount = _list(db, OrderFilter(amount_min=Decimal("80"), amount_max=Decimal("250")))
    assert [r.paid_amount for r in by_amount.rows] == [Decimal("100.00"), Decimal("250.00"), Decimal("80.00")]
    assert by_amount.totals.count == 3
    assert by_amount.totals.amounts == [listing.CurrencyTotal("CNY", Decimal("430.00"), Decimal("0.00"))]
    combined = _list(db, OrderFilter(store="SH-01", customer_id=shop["li"], amount_min=Decimal("100")))
    assert [r.paid_amount for r in combined.rows] == [Decimal("3000.00")]
    assert _list(db, OrderFilter(store="GZ-01")).totals == listing.OrderTotals(count=0)


def test_pages(db: Database, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        customer = create_customer(session, name="王芳")
        for n in range(23):
            post_order(
                session,
                customer_id=customer.id,
                amount=f"{n + 1}.00",
                external_id=f"P{n:02d}",
                occurred_at=NOW - timedelta(hours=n),
            )
    first = _list(db, page_size=10)
    assert (first.page, first.pages, first.totals.count) == (1, 3, 23)
    assert [r.paid_amount for r in first.rows] == [Decimal(f"{n}.00") for n in range(1, 11)]
    last = _list(db, page=3, page_size=10)
    assert [r.paid_amount for r in last.rows] == [Decimal("21.00"), Decimal("22.00"), Decimal("23.00")]
    assert _list(db, page=9, page_size=10).page == 3  # past the end: the last page
    assert _list(db, page=0, page_size=10).page == 1


def test_a_page_is_two_statements(db: Database, shop: dict[str, str]) -> None:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        _list(db)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(seen) == 2


def test_scope_and_masking(db: Database, frozen: clock.FrozenClock) -> None:
    sales = staff_principal(db, username="sales", role="sales")  # scope: own customers
    analyst = staff_principal(db, username="analyst", role="analyst")  # names hidden
    with db.unit_of_work() as session:
        mine = create_customer(session, name="张伟", owner_id=sales.id)
        other = create_customer(session, name="李娜")
        post_order(session, customer_id=mine.id, amount="10.00", external_id="MINE")
        post_order(session, customer_id=other.id, amount="20.00", external_id="OTHER")
    with db.unit_of_work() as session:
        seen = listing.list_orders(session, sales, OrderFilter())
        assert [(r.customer_name, r.paid_amount) for r in seen.rows] == [("张伟", Decimal("10.00"))]
        assert seen.totals.count == 1
        assert listing.list_orders(session, sales, OrderFilter(customer_id=other.id)).rows == []
        assert listing.filter_customer(session, sales, other.id) is None
        hidden = listing.list_orders(session, analyst, OrderFilter())
        assert sorted(r.customer_name for r in hidden.rows) == ["张*", "李*"]


def test_refusals(db: Database, shop: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as reversed_range:
        _list(db, OrderFilter(date_from=date(2026, 11, 20), date_to=date(2026, 11, 19)))
    assert [(e.field, e.code) for e in reversed_range.value.errors] == [("date_to", "date_range")]
    with pytest.raises(ValidationFailed) as amounts:
        _list(db, OrderFilter(amount_min=Decimal("10"), amount_max=Decimal("5"), status="paid"))
    assert [(e.field, e.code) for e in amounts.value.errors] == [
        ("status", "unknown_status"),
        ("amount_max", "amount_range"),
    ]
    with db.unit_of_work() as session, pytest.raises(PermissionDenied):
        listing.list_orders(session, Principal(id="x", name="x", role="nobody"), OrderFilter())


def test_order_page(db: Database, shop: dict[str, str]) -> None:
    with db.unit_of_work() as session:
        order_id = listing.list_orders(session, SYSTEM, OrderFilter(channel="jd")).rows[0].id
        page = listing.order_page(session, SYSTEM, order_id)
    assert (page.store, page.channel, page.customer.name) == ("SH-01", "jd", "李娜")
    assert [(e.kind, e.points) for e in page.entries] == [("earn", 3000), ("reverse", -100)]
    assert [r.amount for r in page.order.refunds] == [Decimal("100.00")]


def test_totals_are_exact_cents(db: Database, frozen: clock.FrozenClock) -> None:
    """SQLite sums NUMERIC as floating point (0.10 + 0.20 = 0.30000000000000004): totals come back in cents."""
    with db.unit_of_work() as session:
        customer = create_customer(session, name="王芳")
        for n, amount in enumerate(("0.10", "0.20", "1234567.89")):
            post_order(session, customer_id=customer.id, amount=amount, external_id=f"X{n}")
    (total,) = _list(db).totals.amounts
    assert (str(total.paid), str(total.refunded)) == ("1234568.19", "0.00")
