from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import update

from guanxi.auth.models import StaffUser
from guanxi.console.pages.home import _figure
from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _text(user: User, marker: str) -> str:
    (element,) = user.find(marker=marker).elements
    assert isinstance(element, ui.label)
    return element.text


async def test_home_shows_real_figures_within_scope(db: Database, console: User) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    with db.unit_of_work() as session:
        create_staff(session, username="east", role="manager", region="华东")
        with clock.frozen(long_ago):
            create_customer(session, name="张伟", city="上海", region="华东")
        create_customer(session, name="李娜", city="上海", region="华东")
        create_customer(session, name="王芳", city="杭州", region="华东")
        create_customer(session, name="刘洋", city="北京", region="华北")  # outside the manager's region
    await login(console, "east")
    assert _text(console, "home-total") == "3"
    assert _text(console, "home-new") == "2"
    (chart,) = console.find(marker="city-chart").elements
    assert isinstance(chart, ui.echart)
    assert chart.options["xAxis"]["data"] == ["上海市", "杭州市"]
    assert chart.options["series"][0]["data"] == [2, 1]
    (regions,) = console.find(marker="region-chart").elements
    assert isinstance(regions, ui.echart)
    assert regions.options["yAxis"]["data"] == ["华东"]


async def test_home_without_customers_says_so(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="admin", role="admin")
    await login(console, "admin")
    assert _text(console, "home-total") == "0"
    await not_shown(console, marker="city-chart", after="您的范围内还没有客户")


async def test_home_in_english_groups_figures_and_spells_cities(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="admin", role="admin")
        session.execute(update(StaffUser).where(StaffUser.username == "admin").values(language="en"))
        create_customer(session, name="张伟", city="上海", region="华东")
        create_customer(session, name="李娜", city="杭州", region="华东")
    await login(console, "admin")
    await console.should_see("Top cities")
    (chart,) = console.find(marker="city-chart").elements
    assert isinstance(chart, ui.echart)
    assert chart.options["xAxis"]["data"] == ["Shanghai", "Hangzhou"]
    await not_shown(console, "客户总数", after="Customers")
    with console:
        _figure("Customers", 12345, "big-figure")
    assert _text(console, "big-figure") == "12,345"
