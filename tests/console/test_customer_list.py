from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _table(user: User) -> ui.table:
    (table,) = user.find(marker="customer-table").elements
    assert isinstance(table, ui.table)
    return table


def _names(user: User) -> list[str]:
    return [row["name"] for row in _table(user).rows]


def _label(user: User, marker: str) -> str:
    (label,) = user.find(marker=marker).elements
    assert isinstance(label, ui.label)
    return label.text


def _set(user: User, marker: str, value: object) -> None:
    (element,) = user.find(marker=marker).elements
    assert isinstance(element, ui.select | ui.toggle)
    with user:
        element.value = value


async def _search(user: User, text: str) -> None:
    user.find(marker="search").clear().type(text).trigger("keydown.enter")


async def test_search_by_initials_finds_zhang_wei(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        create_customer(session, name="张伟", phone="13800138000")
        create_customer(session, name="李娜")
        create_customer(session, name="赵文", city="北京")
    await login(console, "wang")
    await console.open("/customers")
    assert sorted(_names(console)) == ["张伟", "李娜", "赵文"]
    assert _label(console, "customer-pager-total") == "共 3 位客户"
    await _search(console, "zw")
    assert sorted(_names(console)) == ["张伟", "赵文"]  # 张伟 zw, 赵文 zw
    await _search(console, "zhangwei")
    assert _names(console) == ["张伟"]
    assert _label(console, "customer-pager-total") == "共 1 位客户"
    assert _table(console).rows[0]["phone"] == "138****8000"
    await _search(console, "138 0013 8000")
    assert _names(console) == ["张伟"]


async def test_filters_and_sorting(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="admin", role="admin")
        create_customer(session, name="张伟", city="上海", gender="male", tags=["VIP"])
        create_customer(session, name="李娜", city="上海", gender="female")
        create_customer(session, name="王芳", city="杭州", gender="female", tags=["VIP"])
    await login(console, "admin")
    await console.open("/customers")
    console.find(marker="filter-city").type("上海").trigger("keydown.enter")
    assert sorted(_names(console)) == ["张伟", "李娜"]
    console.find(marker="filter-gender").click()
    console.find("女").click()
    assert _names(console) == ["李娜"]
    console.find(marker="filter-city").clear().trigger("keydown.enter")
    assert sorted(_names(console)) == ["李娜", "王芳"]
    console.find(marker="filter-gender").clear()
    console.find(marker="filter-tag").click()
    console.find("VIP").click()
    assert sorted(_names(console)) == ["张伟", "王芳"]
    console.find(marker="filter-tag").clear()
    _set(console, "sort", "name")
    assert _names(console) == ["张伟", "王芳", "李娜"]  # by pinyin, descending: zhang, wang, li
    _set(console, "order", "asc")
    assert _names(console) == ["李娜", "王芳", "张伟"]


async def test_paging_shows_the_total_and_real_pages_newest_first(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="admin", role="admin")
        for i in range(45):
            create_customer(session, name=f"客户{chr(0x4E00 + i)}")
    await login(console, "admin")
    await console.open("/customers")
    first = _names(console)
    assert first[:2] == [f"客户{chr(0x4E00 + 44)}", f"客户{chr(0x4E00 + 43)}"]  # newest first, no search
    assert len(first) == 20
    assert _label(console, "customer-pager-total") == "共 45 位客户"
    assert _label(console, "customer-pager-page") == "第 1 / 3 页"
    console.find(marker="customer-pager-next").click()
    second = _names(console)
    assert len(second) == 20
    assert not set(first) & set(second)
    assert _label(console, "customer-pager-page") == "第 2 / 3 页"
    console.find(marker="customer-pager-next").click()
    third = _names(console)
    assert third == [f"客户{chr(0x4E00 + i)}" for i in range(4, -1, -1)]
    assert _label(console, "customer-pager-page") == "第 3 / 3 页"
    console.find(marker="customer-pager-next").click()  # disabled on the last page: nothing happens
    assert _names(console) == third
    console.find(marker="customer-pager-prev").click()
    assert _names(console) == second
    assert _label(console, "customer-pager-total") == "共 45 位客户"
    _set(console, "customer-pager-size", 50)
    assert len(_names(console)) == 45
    assert _label(console, "customer-pager-page") == "第 1 / 1 页"


async def test_best_match_only_while_searching(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="admin", role="admin")
        create_customer(session, name="张伟")
    await login(console, "admin")
    await console.open("/customers")
    (sort,) = console.find(marker="sort").elements
    assert isinstance(sort, ui.select)
    assert sort.value == "created_at"
    assert "match" not in sort.options
    await _search(console, "张")
    assert sort.value == "match"
    console.find(marker="search").clear().trigger("keydown.enter")
    assert sort.value == "created_at"


async def test_large_counts_stop_at_the_cap(db: Database, console: User, monkeypatch: pytest.MonkeyPatch) -> None:
    from guanxi.console import paging

    monkeypatch.setattr(paging, "COUNT_CAP", 30)
    with db.unit_of_work() as session:
        create_staff(session, username="admin", role="admin")
        for i in range(45):
            create_customer(session, name=f"客户{chr(0x4E00 + i)}")
    await login(console, "admin")
    await console.open("/customers")
    assert _label(console, "customer-pager-total") == "超过 30 位客户"
    assert _label(console, "customer-pager-page") == "第 1 / 2+ 页"


async def test_row_click_opens_the_customer(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟")
    await login(console, "wang")
    await console.open("/customers")
    row = _table(console).rows[0]
    console.find(marker="customer-table").trigger("rowClick", [{}, row, 0])
    await console.should_see(marker="customer-name", retries=30)
    await console.should_see(customer.member_no)
