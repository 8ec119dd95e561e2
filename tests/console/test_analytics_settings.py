"""The analytics settings page: an administrator changes what the next run computes with; a
typo is refused under its input and nothing is saved; an analyst reads them only."""

from __future__ import annotations

import pytest
from nicegui.testing import User

from guanxi.analytics import settings
from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login, settle
from tests.factories import create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _saved(db: Database) -> settings.AnalyticsSettingsIn:
    with db.unit_of_work(read_only=True) as session:
        return settings.current(session)


async def test_an_administrator_changes_the_window_and_the_preset(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    await login(console, "root")
    await console.open("/analytics/settings")
    await settle(console, marker="settings-form")
    await console.should_see("RFM 统计窗口（天）")
    console.find(marker="settings-rfm_window_days").elements.pop().value = 180
    console.find(marker="settings-rfm_preset").elements.pop().value = "fmcg"
    console.find(marker="settings-save").click()
    await console.should_see("设置已保存")
    saved = _saved(db)
    assert (saved.rfm_window_days, saved.rfm_preset) == (180, "fmcg")


async def test_thresholds_out_of_order_are_refused_and_nothing_is_saved(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    await login(console, "root")
    await console.open("/analytics/settings")
    await settle(console, marker="settings-form")
    console.find(marker="settings-lifecycle-dormant_days").elements.pop().value = 30
    console.find(marker="settings-save").click()
    await console.should_not_see("设置已保存")
    (first,) = console.find(marker="settings-lifecycle-at_risk_days").elements
    assert first.props.get("error") is True
    assert _saved(db) == settings.AnalyticsSettingsIn()


async def test_an_analyst_sees_the_settings_without_a_save_button(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="ana", role="analyst")
    await login(console, "ana")
    await console.open("/analytics/settings")
    await settle(console, marker="settings-form")
    await console.should_see("RFM 权重")
    await console.should_not_see("保存设置")
