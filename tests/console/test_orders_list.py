"""The orders list in the console: the rows and totals shown, each filter, numbered pages, the
customer link's filter, masking for a role that sees no names, and scope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from nicegui import ui
from nicegui.testing import User

from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login, settle
from tests.factories import create_customer, create_staff, post_order
from tests.integration.loyalty.order_shop import NOW, record_shop

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


@pytest.fixture
def shop(db: Database, frozen: clock.FrozenClock) -> dict[str, str]:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        return record_shop(session)


def _table(user: User) -> ui.table:
    (table,) = user.find(marker="order-table").elements
    assert isinstance(table, ui.table)
    return table


def _rows(user: User, *names: str) -> list[tuple[str, ...]]:
    return [tuple(row[n] for n in names) for row in _table(user).rows]


def _text(user: User, marker: str) -> str:
    (label,) = user.find(marker=marker).elements
    assert isinstance(label, ui.label)
    return label.text


def _totals(user: User) -> tuple[str, ...]:
    return tuple(_text(user, f"total-{n}") for n in ("count", "paid", "refunded", "points"))


def _set(user: User, marker: str, value: object) -> None:
    (element,) = user.find(marker=marker).elements
    with user:
        element.value = value  # type: ignore[attr-defined]


def _error(user: User, marker: str) -> str | None:
    (element,) = user.find(marker=marker).elements
    return element.props.get("error-message") if element.props.get("error") else None


async def _open(user: User, path: str = "/orders") -> None:
    await user.open(path)
    await settle(user, marker="orders-pager-total")


async def _apply(user: User) -> None:
    user.find(marker="apply-filters").click()
    await settle(user, marker="order-table")


async def test_rows_totals_and_filters(console: User, shop: dict[str, str]) -> None:
    await login(console, "boss")
    await _open(console)
    assert _table(console).rows[0] == {
        "id": shop["A"],
        "occurred_at": "2026年11月20日 00:30",
        "customer": "张伟",
        "member_no": shop["zhang_no"],
        "store": "SH-01",
        "channel": "门店",
        "status": "已完成",
        "paid_amount": "¥100.00",
        "points_earned": "100",
    }
    assert _rows(console, "customer", "store", "channel", "status", "paid_amount", "points_earned") == [
        ("张伟", "SH-01", "门店", "已完成", "¥100.00", "100"),
        ("张伟", "SH-02", "小程序", "已完成", "¥250.00", "250"),
        ("李娜", "SH-01", "门店", "已完成", "¥80.00", "80"),
        ("李娜", "BJ-01", "天猫", "已取消", "¥60.00", "60"),
        ("李娜", "SH-01", "京东", "部分退款", "¥3,000.00", "3,000"),
    ]
    # The cancelled order is counted but adds neither its amount nor its points.
    assert _totals(console) == ("5", "¥3,430.00", "¥100.00", "3,430")
    assert (_text(console, "orders-pager-total"), _text(console, "orders-pager-page")) == ("共 5 条", "第 1 / 1 页")

    _set(console, "filter-store", "SH-01")
    await _apply(console)
    assert _rows(console, "paid_amount") == [("¥100.00",), ("¥80.00",), ("¥3,000.00",)]
    assert _totals(console) == ("3", "¥3,180.00", "¥100.00", "3,180")

    _set(console, "filter-status", "partially_refunded")
    await settle(console, marker="order-table")
    assert _rows(console, "paid_amount") == [("¥3,000.00",)]
    assert _text(console, "orders-pager-total") == "共 1 条"

    console.find(marker="reset-filters").click()
    await settle(console, marker="order-table")
    assert _totals(console)[0] == "5"

    _set(console, "filter-channel", "tmall")
    await settle(console, marker="order-table")
    assert _rows(console, "status") == [("已取消",)]
    assert _totals(console) == ("1", "¥0.00", "¥0.00", "0")
    console.find(marker="reset-filters").click()

    # Local days: 16:30 UTC on the 19th is 00:30 on the 20th in Shanghai.
    _set(console, "filter-date-from", "2026-11-18")
    _set(console, "filter-date-to", "2026-11-19")
    await _apply(console)
    assert _rows(console, "paid_amount") == [("¥250.00",), ("¥80.00",)]

    _set(console, "filter-date-from", "")
    _set(console, "filter-date-to", "")
    _set(console, "filter-amount-min", "80")
    _set(console, "filter-amount-max", "1,000")
    await _apply(console)
    assert _rows(console, "paid_amount") == [("¥100.00",), ("¥250.00",), ("¥80.00",)]
    assert _totals(console) == ("3", "¥430.00", "¥0.00", "430")


async def test_bad_filters_are_told_next_to_their_fields(console: User, shop: dict[str, str]) -> None:
    await login(console, "boss")
    await _open(console)
    _set(console, "filter-amount-min", "八十")
    await _apply(console)
    assert _error(console, "filter-amount-min") == "应为数字"
    assert len(_table(console).rows) == 5  # the list on screen stays as it was
    _set(console, "filter-amount-min", "500")
    _set(console, "filter-amount-max", "100")
    _set(console, "filter-date-from", "2026-11-20")
    _set(console, "filter-date-to", "2026-11-19")
    await _apply(console)
    assert _error(console, "filter-amount-min") is None
    assert _error(console, "filter-amount-max") == "不能低于最低金额"
    assert _error(console, "filter-date-to") == "不能早于开始日期"
    assert len(_table(console).rows) == 5


async def test_pages(db: Database, console: User, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        customer = create_customer(session, name="王芳")
        for n in range(23):
            post_order(
                session,
                customer_id=customer.id,
                amount=f"{n + 1}.00",
                external_id=f"P{n:02d}",
                occurred_at=NOW - timedelta(hours=n),
            )
    await login(console, "boss")
    await _open(console)
    assert [row["paid_amount"] for row in _table(console).rows] == [f"¥{n}.00" for n in range(1, 21)]
    assert (_text(console, "orders-pager-total"), _text(console, "orders-pager-page")) == ("共 23 条", "第 1 / 2 页")
    assert _totals(console) == ("23", "¥276.00", "¥0.00", "276")
    console.find(marker="orders-pager-next").click()
    await settle(console, "第 2 / 2 页")
    assert [row["paid_amount"] for row in _table(console).rows] == ["¥21.00", "¥22.00", "¥23.00"]
    assert _totals(console)[0] == "23"  # the totals are the filter's, not the page's
    console.find(marker="orders-pager-prev").click()
    await settle(console, "第 1 / 2 页")
    assert len(_table(console).rows) == 20


async def test_the_customer_link_lists_their_orders(console: User, shop: dict[str, str]) -> None:
    await login(console, "boss")
    await _open(console, f"/orders?customer={shop['zhang']}")
    await console.should_see(f"客户：张伟（{shop['zhang_no']}）")
    assert _rows(console, "customer", "paid_amount") == [("张伟", "¥100.00"), ("张伟", "¥250.00")]
    assert _totals(console) == ("2", "¥350.00", "¥0.00", "350")


@pytest.fixture
def two_owners(db: Database, frozen: clock.FrozenClock) -> str:
    """A seller (scope: own customers) owning 张伟 but not 李娜, and an analyst (names hidden)."""
    with db.unit_of_work() as session:
        seller = create_staff(session, username="seller", role="sales")
        create_staff(session, username="analyst", role="analyst")
        mine = create_customer(session, name="张伟", owner_id=seller.id)
        other = create_customer(session, name="李娜")
        post_order(session, customer_id=mine.id, amount="10.00", external_id="MINE", store="SH-01")
        post_order(session, customer_id=other.id, amount="20.00", external_id="OTHER", store="SH-02")
    return other.id


async def test_names_masked_for_a_role_that_sees_none(console: User, two_owners: str) -> None:
    await login(console, "analyst")
    await _open(console)
    assert sorted(_rows(console, "customer", "store")) == [("张*", "SH-01"), ("李*", "SH-02")]


async def test_a_seller_sees_only_their_customers_orders(console: User, two_owners: str) -> None:
    other = two_owners
    await login(console, "seller")
    await _open(console)
    assert _rows(console, "customer", "store") == [("张伟", "SH-01")]
    assert _totals(console) == ("1", "¥10.00", "¥0.00", "10")
    await _open(console, f"/orders?customer={other}")
    await console.should_see("该客户不存在或不在您的管辖范围内")
    assert _table(console).rows == []
    assert _totals(console) == ("0", "¥0.00", "¥0.00", "0")
