"""The header's global search: the customers list's matching, masking and scope, in a dropdown."""

from __future__ import annotations

import asyncio

import pytest
from nicegui import ElementFilter, ui
from nicegui.testing import User

from guanxi.console.search import PROVIDERS, SearchHit, SearchProvider, register
from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login, settle
from tests.factories import create_customer, create_staff, post_order

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _hits(user: User) -> list[list[str]]:
    """Each hit's texts: the title, then its details line."""
    rows = []
    with user:
        hits = list(ElementFilter(marker="search-hit", local_scope=False))
    for hit in hits:
        rows.append([label.text for label in hit.descendants() if isinstance(label, ui.item_label)])
    return rows


def _seed(db: Database) -> dict[str, str]:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        create_staff(session, username="east", role="manager", region="华东")
        zhang = create_customer(session, name="张伟", phone="13800138000", region="华东")
        create_customer(session, name="李娜", phone="13912345678", region="华东")
        north = create_customer(session, name="张北", phone="13700137000", region="华北")
        post_order(session, customer_id=zhang.id, amount="100.00", external_id="POS-001")
        return {"zhang": zhang.id, "zhang_no": zhang.member_no, "north_no": north.member_no}


async def _search(user: User, text: str) -> None:
    user.find(marker="global-search").type(text)
    await settle(user, marker="search-all")


async def test_pinyin_finds_the_customer_with_masked_phone_and_tier(db: Database, console: User) -> None:
    ids = _seed(db)
    await login(console, "wang")
    await _search(console, "zhangwei")
    assert _hits(console) == [["张伟", f"{ids['zhang_no']} · 138****8000 · 普通会员"]]


async def test_a_phone_finds_the_customer(db: Database, console: User) -> None:
    _seed(db)
    await login(console, "wang")
    await _search(console, "13912345678")
    (hit,) = _hits(console)
    assert hit[0] == "李娜"
    assert "139****5678" in hit[1]
    assert "13912345678" not in hit[1]


async def test_a_member_number_finds_the_customer(db: Database, console: User) -> None:
    ids = _seed(db)
    await login(console, "wang")
    await _search(console, ids["zhang_no"])
    assert [hit[0] for hit in _hits(console)] == ["张伟"]


async def test_out_of_scope_customers_are_not_offered(db: Database, console: User) -> None:
    ids = _seed(db)
    await login(console, "east")  # a manager of 华东 does not see 张北 of 华北
    await _search(console, "zhang")
    assert [hit[0] for hit in _hits(console)] == ["张伟"]
    await _search_again(console, ids["north_no"])
    await console.should_see(marker="search-none")
    assert _hits(console) == []


async def _opened(user: User, path: str) -> str:
    """The address the simulated browser went to last, once it has gone somewhere else than `path`."""
    for _ in range(200):
        if user.back_history[-1] != path:
            break
        await asyncio.sleep(0.01)
    return user.back_history[-1]


async def _search_again(user: User, text: str) -> None:
    (box,) = user.find(marker="global-search").elements
    with user:
        box.value = ""
    await _search(user, text)


async def test_choosing_a_hit_opens_the_customer_and_enter_opens_the_list(db: Database, console: User) -> None:
    ids = _seed(db)
    await login(console, "wang")
    await _search(console, "zhangwei")
    console.find(marker="search-hit").click()
    assert await _opened(console, "/") == f"/customers/{ids['zhang']}"
    await console.open("/")
    await _search(console, "li na")
    console.find(marker="global-search").trigger("keydown.enter")
    assert await _opened(console, "/") == "/customers?q=li%20na"
    await settle(console, marker="customer-table")
    (table,) = console.find(marker="customer-table").elements
    assert [row["name"] for row in table.rows] == ["李娜"]


async def test_an_analyst_sees_the_name_masked_and_no_phone(db: Database, console: User) -> None:
    ids = _seed(db)
    with db.unit_of_work() as session:
        create_staff(session, username="ana", role="analyst")
    await login(console, "ana")
    await _search(console, "zhangwei")
    assert _hits(console) == [["张*", f"{ids['zhang_no']} · 普通会员"]]  # as the customers list shows them


async def test_a_registered_provider_answers_too(db: Database, console: User) -> None:
    def tickets(session: object, actor: object, text: str, limit: int) -> list[SearchHit]:
        return [SearchHit(title=f"#1 {text}", details=("open",), path="/customers")]

    provider = SearchProvider("nav.accounts", "confirmation_number", "accounts", tickets, "/accounts")
    register(provider)
    try:
        _seed(db)
        await login(console, "wang")
        await _search(console, "zhangwei")
        assert sorted(hit[0] for hit in _hits(console)) == ["#1 zhangwei", "张伟"]
    finally:
        PROVIDERS.remove(provider)
