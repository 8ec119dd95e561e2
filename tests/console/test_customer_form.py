from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.customers.models import Customer
from guanxi.kit.db import Database
from guanxi.privacy.models import AuditRecord
from tests.console.conftest import MAIN_FILE, login
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _customers(db: Database) -> int:
    with db.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(Customer)) or 0)


def _error(user: User, field: str) -> str | None:
    (element,) = user.find(marker=f"field-{field}").elements
    return element.props.get("error-message")


async def test_invalid_phone_is_shown_on_the_field_and_writes_nothing(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    await console.open("/customers/new")
    console.find(marker="field-name").type("王芳")
    console.find(marker="field-phone").type("12345")
    console.find(marker="save").click()
    await console.should_see("不是有效的手机号码")
    assert _error(console, "phone") == "不是有效的手机号码"
    assert _error(console, "name") is None
    await console.should_see("请更正标出的字段")
    assert _customers(db) == 0


async def test_input_model_errors_become_field_messages(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    await console.open("/customers/new")
    console.find(marker="field-city").type("城" * 41)
    (birthday,) = console.find(marker="field-birthday").elements
    with console:
        birthday.value = "1990-13-45"
    console.find(marker="save").click()
    await console.should_see("最多 40 个字符")
    assert _error(console, "name") == "必填"
    assert _error(console, "city") == "最多 40 个字符"
    assert _error(console, "birthday") == "日期格式应为 YYYY-MM-DD"
    assert _customers(db) == 0


async def test_future_birthday_from_the_service_lands_on_the_field(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    await console.open("/customers/new")
    console.find(marker="field-name").type("王芳")
    (birthday,) = console.find(marker="field-birthday").elements
    with console:
        birthday.value = "2199-01-01"
    console.find(marker="save").click()
    await console.should_see("不能晚于今天")
    assert _error(console, "birthday") == "不能晚于今天"
    assert _customers(db) == 0


async def test_phone_of_another_customer_links_to_that_customer(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        existing = create_customer(session, name="张伟", phone="13800138000")
    await login(console, "wang")
    await console.open("/customers/new")
    console.find(marker="field-name").type("王芳")
    console.find(marker="field-phone").type("+86 138-0013-8000")
    console.find(marker="save").click()
    # named by name (masked for service staff) and member number, never by the internal id
    taken = f"已属于客户 张*（会员号 {existing.member_no}）"
    await console.should_see(taken)
    assert _error(console, "phone") == taken
    (link,) = console.find(marker="conflict-link").elements
    assert isinstance(link, ui.link)
    assert link.props["href"] == f"/customers/{existing.id}"
    assert _customers(db) == 1


async def test_create_then_land_on_the_customer_page(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    await console.open("/customers")
    console.find(marker="new-customer").click()
    await console.should_see(marker="save", retries=30)
    console.find(marker="field-name").type("王芳")
    console.find(marker="field-phone").type("139 1234 5678")
    console.find(marker="field-city").type("杭州")
    console.find(marker="field-gender").click()
    console.find("女").click()
    console.find(marker="save").click()
    await console.should_see(marker="customer-name", retries=30)
    await console.should_see("139****5678")
    with db.unit_of_work(read_only=True) as session:
        customer = session.scalars(select(Customer)).one()
        assert (customer.name, customer.city, customer.gender) == ("王芳", "杭州市", "female")
        assert (customer.province, customer.city_code) == ("浙江省", "330100")


async def test_edit_sends_only_changes_and_keeps_a_masked_address(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟", city="上海", address="上海市浦东新区世纪大道100号")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")
    console.find(marker="edit-customer").click()
    await console.should_see(marker="save", retries=30)
    (address,) = console.find(marker="field-address").elements
    assert isinstance(address, ui.input)
    assert address.value == ""  # masked for service staff: not editable in place
    console.find(marker="field-city").clear().type("杭州")
    console.find(marker="save").click()
    await console.should_see(marker="customer-name", retries=30)
    await console.should_see("已保存")
    console.find(marker="tab-history").click()
    await console.should_see(marker="history-table")
    with db.unit_of_work(read_only=True) as session:
        stored = session.get(Customer, customer.id)
        assert stored is not None
        # The place moves as one: 杭州 brings 浙江省, and the district read from the old address goes.
        assert (stored.province, stored.city, stored.district) == ("浙江省", "杭州市", None)
        assert stored.address_enc is not None
    (table,) = console.find(marker="history-table").elements
    assert isinstance(table, ui.table)
    assert (table.rows[0]["action"], table.rows[0]["fields"]) == ("修改资料", "城市、区县、省份")


async def test_saving_outside_ones_region_is_refused_with_a_scope_message(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="east", role="manager", region="华东")
    await login(console, "east")
    await console.open("/customers/new")
    console.find(marker="field-name").type("王芳")
    console.find(marker="field-region").type("华北")
    console.find(marker="save").click()
    await console.should_see("超出您的管辖范围")
    assert _customers(db) == 0
    with db.unit_of_work(read_only=True) as session:
        denied = session.scalars(select(AuditRecord).where(AuditRecord.action == "permission.denied")).one()
        assert denied.detail == {"via": "console", "resource": "customers", "action": "scope"}
