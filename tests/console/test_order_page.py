"""The order page: header, lines, points and why, refunds, the coupon used and the exchange rate;
cancelling changes the status and the points exactly, a denied cancel changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select, update

from guanxi.auth.models import StaffUser
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.catalog import till
from guanxi.loyalty.catalog.schemas import CouponRedeemIn
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.program.models import LoyaltyAccount, PointEntry
from tests.api.helpers import table_counts
from tests.console.conftest import MAIN_FILE, login, not_shown, settle
from tests.factories import create_customer, create_staff, post_order, put_rates
from tests.integration.loyalty import coupon_helpers
from tests.integration.loyalty.order_shop import NOW, record_shop

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)

LINES = [
    {"sku": "SH-RUN-01", "category": "鞋履", "quantity": 1, "unit_price": "699.00"},
    {"sku": "AP-TEE-01", "category": "服装", "quantity": 2, "unit_price": "129.00"},
]


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(NOW) as fake:
        yield fake


@pytest.fixture
def shop(db: Database, frozen: clock.FrozenClock) -> dict[str, str]:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        create_staff(session, username="desk", role="service")  # may refund and cancel
        create_staff(session, username="seller", role="sales")  # reads orders only
        return record_shop(session)


def _table_rows(user: User, marker: str, *names: str) -> list[tuple[str, ...]]:
    (table,) = user.find(marker=marker).elements
    assert isinstance(table, ui.table)
    return [tuple(row[n] for n in names) for row in table.rows]


def _facts(user: User) -> dict[str, str]:
    (box,) = user.find(marker="order-header").elements
    texts = [el.text for el in box.descendants() if isinstance(el, ui.label)][2:]  # after the title and 客户
    return dict(zip(texts[::2], texts[1::2], strict=False))


def _order(db: Database, order_id: str) -> tuple[str, int, int]:
    with db.unit_of_work(read_only=True) as session:
        order = session.get(Order, order_id)
        assert order is not None
        account = session.get(LoyaltyAccount, order.account_id)
        assert account is not None
        return order.status, order.points_reversed, account.points_balance


async def _open(user: User, order_id: str) -> None:
    await user.open(f"/orders/{order_id}")
    await settle(user, marker="order-points")


async def test_lines_points_refunds_and_coupon(db: Database, console: User, shop: dict[str, str]) -> None:
    template_id = coupon_helpers.template(db)
    (coupon,) = coupon_helpers.issue(db, template_id, shop["zhang"])
    with db.unit_of_work() as session:
        order = post_order(
            session,
            customer_id=shop["zhang"],
            amount="937.00",
            external_id="F1",
            store="SH-03",
            channel="tmall",
            lines=LINES,
            occurred_at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC),
        )
        redeem = CouponRedeemIn(customer_id=shop["zhang"], order_amount=Decimal("957.00"), order_reference="F1")
        till.redeem(session, SYSTEM, coupon.code, redeem, "coupon-F1")
    await login(console, "boss")
    await _open(console, order.id)
    await console.should_see("订单 F1")
    assert _facts(console) == {
        "订单号": "F1",
        "来源系统": "pos-test",
        "门店": "SH-03",
        "渠道": "天猫",
        "下单时间": "2026年11月20日 09:00",
        "实付金额": "¥937.00",
        "已退款": "¥0.00",
        "获得积分": "937",
        "已扣回积分": "0",
        "获得成长值": "937",
    }
    await console.should_see(f"张伟（{shop['zhang_no']}）")
    lines = _table_rows(console, "order-lines", "line_no", "sku", "category", "quantity", "unit_price", "amount")
    assert lines == [
        ("1", "SH-RUN-01", "鞋履", "1", "¥699.00", "¥684.39"),
        ("2", "AP-TEE-01", "服装", "2", "¥129.00", "¥252.61"),
    ]
    assert _table_rows(console, "order-points", "kind", "points") == [("获得", "+937")]
    assert _table_rows(console, "order-coupons", "name", "discount") == [("满100减20", "¥20.00")]
    assert _table_rows(console, "order-refunds", "amount") == []


async def test_a_partly_returned_order(console: User, shop: dict[str, str]) -> None:
    await login(console, "boss")
    await _open(console, shop["E"])
    assert _facts(console)["已退款"] == "¥100.00"
    assert _table_rows(console, "order-points", "kind", "points") == [("获得", "+3,000"), ("退款扣回", "-100")]
    (reason,) = [r[0] for r in _table_rows(console, "order-points", "reason")][1:]
    assert reason.split("\n")[0] == "退款"
    assert _table_rows(console, "order-refunds", "amount", "points", "policy") == [("¥100.00", "100", "允许负余额")]
    await console.should_see("部分退款", marker="order-status")


async def test_an_order_paid_in_another_currency(db: Database, console: User, frozen: clock.FrozenClock) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        customer = create_customer(session, name="王芳")
        put_rates(session, ("USD", "7.1000", "2026-11-01", None))
        order = post_order(session, customer_id=customer.id, amount="100.00", currency="USD", external_id="US1")
    await login(console, "boss")
    await _open(console, order.id)
    (box,) = console.find(marker="order-exchange").elements
    texts = [el.text for el in box.descendants() if isinstance(el, ui.label)]
    assert texts == [
        "外币支付",
        "原币金额",
        "US$100.00",
        "汇率",
        "1 USD = 7.1 CNY",
        "汇率生效日",
        "2026年11月1日",
        "折合金额",
        "¥710.00",
    ]


async def test_cancel_takes_the_points_back(db: Database, console: User, shop: dict[str, str]) -> None:
    assert _order(db, shop["A"]) == ("completed", 0, 350)
    await login(console, "desk")
    await _open(console, shop["A"])
    console.find(marker="cancel-order").click()
    await console.should_see(
        "确定取消订单 A？该订单获得的 100 积分及成长值将被扣回，订单不再计入消费。此操作无法撤销。"
    )
    console.find(marker="cancel-dialog-confirm").click()
    await settle(console, "订单已取消，扣回 100 积分")
    await console.should_see("已取消", marker="order-status")
    assert _order(db, shop["A"]) == ("cancelled", 100, 250)
    assert _table_rows(console, "order-points", "kind", "points") == [("获得", "+100"), ("退款扣回", "-100")]
    await not_shown(console, marker="cancel-order", after_marker="order-points")


async def test_a_denied_cancel_changes_nothing(db: Database, console: User, shop: dict[str, str]) -> None:
    await login(console, "desk")
    await _open(console, shop["A"])
    console.find(marker="cancel-order").click()
    await console.should_see(marker="cancel-dialog-confirm")
    with db.unit_of_work() as session:  # the role changes while the page is open
        session.execute(update(StaffUser).where(StaffUser.username == "desk").values(role="sales"))
    before = table_counts(db)
    with db.unit_of_work(read_only=True) as session:
        entries = session.scalars(select(PointEntry.id)).all()
    console.find(marker="cancel-dialog-confirm").click()
    await settle(console, "您的角色无权执行此操作，此次尝试已记录。")
    assert _order(db, shop["A"]) == ("completed", 0, 350)
    after = table_counts(db)
    assert after.pop("audit_records") == before.pop("audit_records") + 1  # the denial, and nothing else
    assert after == before
    with db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(PointEntry.id)).all() == entries


async def test_a_role_that_may_not_refund_gets_no_actions(db: Database, console: User, shop: dict[str, str]) -> None:
    with db.unit_of_work() as session:
        seller = session.scalars(select(StaffUser).where(StaffUser.username == "seller")).one()
        mine = create_customer(session, name="赵敏", owner_id=seller.id)
        order = post_order(session, customer_id=mine.id, amount="88.00", external_id="S1")
    await login(console, "seller")
    await _open(console, order.id)
    assert _facts(console)["实付金额"] == "¥88.00"
    await not_shown(console, marker="cancel-order", after_marker="order-points")
    await not_shown(console, marker="return-order", after_marker="order-points")


async def test_an_order_out_of_scope_is_not_found(console: User, shop: dict[str, str]) -> None:
    await login(console, "seller")  # owns neither 张伟 nor 李娜
    await console.open(f"/orders/{shop['A']}")
    await console.should_see("找不到该记录，或它不在您的范围内。")
    await not_shown(console, marker="order-header", after="找不到该记录，或它不在您的范围内。")


async def test_return_the_rest(db: Database, console: User, shop: dict[str, str]) -> None:
    await login(console, "desk")
    await _open(console, shop["E"])
    await not_shown(console, marker="cancel-order", after_marker="order-points")  # it has a refund
    console.find(marker="return-order").click()
    await console.should_see("确定退还订单 E 剩余的 ¥2,900.00？相应积分及成长值将按比例扣回。此操作无法撤销。")
    console.find(marker="return-dialog-confirm").click()
    await settle(console, "已退款 ¥2,900.00，扣回 2,900 积分")
    await console.should_see("已退款", marker="order-status")
    assert _order(db, shop["E"]) == ("refunded", 3000, 80)
