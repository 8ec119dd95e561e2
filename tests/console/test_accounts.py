from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from guanxi.customers import accounts
from guanxi.customers.schemas import AccountCreate, ContactIn
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.console.conftest import MAIN_FILE, login
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _table(user: User, marker: str) -> ui.table:
    (table,) = user.find(marker=marker).elements
    assert isinstance(table, ui.table)
    return table


async def test_account_list_search_and_contacts(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="ana", role="analyst")
        account = accounts.create_account(
            session, SYSTEM, AccountCreate(name="上海星辰贸易有限公司", industry="零售", city="上海")
        )
        accounts.create_account(session, SYSTEM, AccountCreate(name="杭州云起科技有限公司", city="杭州"))
        contact = create_customer(session, name="张伟", phone="13800138000")
        link = ContactIn(customer_id=contact.id, title="采购经理", is_primary=True)
        accounts.add_contact(session, SYSTEM, account.id, link)
    await login(console, "ana")
    console.find(marker="nav-accounts").click()
    await console.should_see(marker="account-table", retries=30)
    names = [r["name"] for r in _table(console, "account-table").rows]
    assert names == ["杭州云起科技有限公司", "上海星辰贸易有限公司"]  # newest first
    (total,) = console.find(marker="account-pager-total").elements
    assert isinstance(total, ui.label) and total.text == "共 2 条"
    console.find(marker="account-search").type("星辰").trigger("keydown.enter")
    rows = _table(console, "account-table").rows
    assert [r["name"] for r in rows] == ["上海星辰贸易有限公司"]
    console.find(marker="account-table").trigger("rowClick", [{}, rows[0], 0])
    await console.should_see(marker="contact-table", retries=30)
    await console.should_see("零售")
    contacts = _table(console, "contact-table").rows
    assert [(c["name"], c["title"], c["is_primary"]) for c in contacts] == [("张*", "采购经理", "是")]
    assert contacts[0]["customer_id"] == contact.id


def _text(user: User, marker: str) -> str:
    (label,) = user.find(marker=marker).elements
    assert isinstance(label, ui.label)
    return label.text


async def test_account_pager_moves_through_real_pages(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="ana", role="analyst")
        for i in range(23):
            accounts.create_account(session, SYSTEM, AccountCreate(name=f"公司{i:02d}"))
    await login(console, "ana")
    await console.open("/accounts")
    first = [r["name"] for r in _table(console, "account-table").rows]
    assert first[0] == "公司22" and len(first) == 20
    assert _text(console, "account-pager-total") == "共 23 条"
    assert _text(console, "account-pager-page") == "第 1 / 2 页"
    console.find(marker="account-pager-next").click()
    assert [r["name"] for r in _table(console, "account-table").rows] == ["公司02", "公司01", "公司00"]
    assert _text(console, "account-pager-page") == "第 2 / 2 页"
    console.find(marker="account-search").type("公司1").trigger("keydown.enter")
    assert [r["name"] for r in _table(console, "account-table").rows][:2] == ["公司10", "公司11"]  # by name
    assert _text(console, "account-pager-total") == "共 10 条"
    assert _text(console, "account-pager-page") == "第 1 / 1 页"
