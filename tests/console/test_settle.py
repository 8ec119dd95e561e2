"""The console tests' negative check: `should_not_see` alone passes when it looks before a slow
handler has drawn; `not_shown` looks once the page has settled, and so sees it."""

from __future__ import annotations

import asyncio

import pytest
from nicegui import ui
from nicegui.testing import User

from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, not_shown, settle

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _slow_page() -> None:
    @ui.page("/_tests/slow")
    def slow() -> None:
        box = ui.column()

        async def draw() -> None:
            await asyncio.sleep(0.3)  # the page's own latency, e.g. a service call
            with box:
                ui.label("drawn late").mark("late")

        ui.button("go", on_click=draw).mark("go")


async def test_not_shown_waits_for_the_running_handler(db: Database, console: User) -> None:
    _slow_page()
    await console.open("/_tests/slow")
    console.find(marker="go").click()
    await console.should_not_see(marker="late")  # looked too early: passes although it is coming
    with pytest.raises(AssertionError, match=r"expected not to see any .*late"):
        await not_shown(console, marker="late", after_marker="go")


async def test_settle_waits_for_the_handler_and_needs_a_sign(db: Database, console: User) -> None:
    _slow_page()
    await console.open("/_tests/slow")
    console.find(marker="go").click()
    await settle(console, marker="go")
    await console.should_see(marker="late", retries=1)
    with pytest.raises(TypeError, match="needs the sign"):
        await settle(console)
