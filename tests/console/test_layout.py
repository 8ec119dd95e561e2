"""The frame of the signed-in pages: the navigation drawer per role, tab titles, Quasar's language."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import update

from guanxi.auth.models import StaffUser
from guanxi.console.layout import NAV, NavGroup, NavItem, active_item, default_title
from guanxi.console.widgets import date_input, local_time, show
from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login, not_shown, settle
from tests.factories import create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _nav_markers(user: User) -> list[str]:
    """The drawer's entries and group headings, top to bottom."""
    (drawer,) = user.find(marker="nav").elements
    return [marker for element in drawer.descendants() for marker in element._markers if marker.startswith("nav-")]


def _english(db: Database, username: str) -> None:
    with db.unit_of_work() as session:
        session.execute(update(StaffUser).where(StaffUser.username == username).values(language="en"))


async def test_a_service_agent_sees_the_customer_and_loyalty_pages_but_not_staff(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    markers = _nav_markers(console)
    assert "nav-customers" in markers
    assert "nav-group-customers" in markers
    assert "nav-staff" not in markers
    assert "nav-group-system" not in markers  # a group with nothing to show is left out
    await not_shown(console, marker="nav-staff", after_marker="nav-customers")


async def test_an_administrator_sees_every_group_in_order(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    await login(console, "root")
    groups = [m.removeprefix("nav-group-") for m in _nav_markers(console) if m.startswith("nav-group-")]
    assert groups == ["customers", "loyalty", "marketing", "analytics", "data", "system"]
    assert _nav_markers(console)[:3] == ["nav-home", "nav-group-customers", "nav-customers"]
    await console.should_see("员工")
    await console.should_see("系统")


async def test_the_current_page_is_marked_in_the_drawer(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    await login(console, "root")
    await console.open("/customers")
    await settle(console, marker="customer-table")
    (entry,) = console.find(marker="nav-customers").elements
    (home,) = console.find(marker="nav-home").elements
    assert "gx-active" in entry.classes
    assert "gx-active" not in home.classes


def test_the_longest_matching_entry_is_the_active_one() -> None:
    assert active_item("/quality/event-types") is not None
    assert active_item("/quality/event-types").path == "/quality/event-types"  # type: ignore[union-attr]
    assert active_item("/quality").path == "/quality"  # type: ignore[union-attr]
    assert active_item("/customers/abc/edit").path == "/customers"  # type: ignore[union-attr]
    assert active_item("/").path == "/"  # type: ignore[union-attr]
    assert active_item("/nowhere") is None


async def test_a_later_domain_adds_its_group(db: Database, console: User) -> None:
    group = NavGroup("nav.group.data", [NavItem("nav.quality", "/quality", "fact_check", "quality")])
    NAV.append(group)
    try:
        with db.unit_of_work() as session:
            create_staff(session, username="root", role="admin")
        await login(console, "root")
        assert _nav_markers(console).count("nav-quality") == 2
    finally:
        NAV.remove(group)


async def test_folding_the_drawer_keeps_to_icons_across_pages(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    await login(console, "root")
    (drawer,) = console.find(marker="nav").elements
    assert "mini" not in drawer.props
    console.find(marker="nav-fold").click()
    assert drawer.props.get("mini") is True
    await console.open("/customers")
    await settle(console, marker="customer-table")
    (drawer,) = console.find(marker="nav").elements
    assert drawer.props.get("mini") is True


async def test_tab_titles_name_the_page_in_the_session_language(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    await login(console, "root")
    assert console.client.title == "概览 · guanxi"
    await console.open("/customers")
    await settle(console, marker="customer-table")
    assert console.client.title == "客户 · guanxi"
    await console.open("/accounts")
    await console.should_see(marker="nav-accounts")
    assert console.client.title == "账户 · guanxi"
    _english(db, "root")
    await console.open("/customers")
    await settle(console, marker="customer-table")
    assert console.client.title == "Customers · guanxi"


async def test_login_page_title_is_translated(db: Database, console: User) -> None:
    await console.open("/login")
    assert console.client.title == "登录 · guanxi"


async def test_quasar_speaks_the_session_language(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    await login(console, "root")
    chinese = await console.http_client.get("/customers")
    assert '<html lang="zh-CN"' in chinese.text
    assert "/static/lang/zh-CN.umd.prod.js" in chinese.text
    _english(db, "root")
    english = await console.http_client.get("/customers")
    assert '<html lang="en-US"' in english.text
    assert "/static/lang/en-US.umd.prod.js" in english.text
    assert "/static/lang/zh-CN.umd.prod.js" not in english.text


async def test_the_user_menu_holds_language_and_logout(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    (menu,) = console.find(marker="user-menu").elements
    assert isinstance(menu, ui.menu)
    assert [type(e) for e in console.find(marker="language").elements] == [ui.toggle]
    assert len(console.find(marker="logout").elements) == 1
    console.find(marker="menu-password").click()
    await console.should_see(marker="current-password", retries=30)  # the change-password form


async def test_widgets_write_figures_and_dates_in_the_session_language(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    _english(db, "root")
    await login(console, "root")
    seen: list[object] = []
    with console:
        assert local_time(datetime(2026, 3, 4, 5, 5, tzinfo=UTC)) == "Mar 4, 2026, 1:05\u202fPM"  # Shanghai time
        assert show(date(2026, 3, 4)) == "Mar 4, 2026"
        assert show(5126) == "5,126"
        assert show(True) == "True"
        field = date_input("Since", on_change=lambda e: seen.append(e.value))
        for typed in ("2026-0", "2026-03-04", "2026-02-30", ""):
            field.value = typed
    assert seen == ["2026-03-04", ""]  # half-typed and impossible dates are not passed on
    assert field.props["mask"] == "####-##-##"
    assert field.props["placeholder"] == "yyyy-mm-dd"


async def test_widgets_in_chinese(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    await login(console, "root")
    with console:
        assert local_time(datetime(2026, 3, 4, 5, 5, tzinfo=UTC)) == "2026年3月4日 13:05"
        assert show(date(2026, 3, 4)) == "2026年3月4日"
        assert date_input("起始日期").props["placeholder"] == "年-月-日"


def test_a_domain_root_is_titled_by_its_group() -> None:
    assert default_title("/loyalty") == "会员与积分 · guanxi"
    assert default_title("/nowhere") == "guanxi"
