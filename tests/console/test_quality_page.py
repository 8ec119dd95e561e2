"""The data-quality page: headline figures, charts of the bands and missing fields, the daily trend."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from nicegui import ui
from nicegui.testing import User

from guanxi.customers import quality
from guanxi.customers.quality_models import QualitySnapshot
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.console.conftest import MAIN_FILE, login, settle
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _one(user: User, marker: str) -> Any:
    (element,) = user.find(marker=marker).elements
    return element


async def test_charts_and_the_daily_trend(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        create_customer(session, name="张伟", phone="13800138000", city="上海", province="上海")
        create_customer(session, name="李娜")
        found = quality.report(session, SYSTEM)
        today = clock.today("Asia/Shanghai")
        for days_ago, minute, average in ((3, 0, 40), (2, 30, 45), (2, 10, 50)):  # one day's later check counts
            found = {**found, "average_score": average}
            noon = datetime.combine(
                today - timedelta(days=days_ago), time(12, minute), tzinfo=ZoneInfo("Asia/Shanghai")
            )
            taken = noon.astimezone(UTC)
            session.add(
                QualitySnapshot(taken_at=taken, taken_by="system", customers=2, average_score=average, report=found)
            )
    await login(console, "boss")
    await console.open("/quality")
    await settle(console, marker="quality-trend-chart")
    assert _one(console, "quality-total-value").text == "2"
    bands = _one(console, "quality-bands-chart")
    assert isinstance(bands, ui.echart)
    assert [d["name"] for d in bands.options["series"][0]["data"]] == ["低（<40）", "中（40–69）", "高（≥70）"]
    missing = _one(console, "quality-missing-chart").options
    assert missing["yAxis"]["data"][-1] in {"邮箱", "微信", "职业", "收入段", "偏好渠道"}  # missing for both
    assert missing["series"][0]["data"][-1] == 100.0
    assert "email" not in missing["yAxis"]["data"]
    trend = _one(console, "quality-trend-chart").options
    assert trend["series"][0]["name"] == "平均完整度"
    assert trend["series"][0]["data"] == [40, 45]  # oldest first, one point a day


async def test_without_checks_the_page_computes_now_and_explains_the_trend(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        create_customer(session, name="张伟")
    await login(console, "boss")
    await console.open("/quality")
    await settle(console, marker="quality-trend-empty")
    await console.should_see("尚未运行检查，以下为当前实时计算结果")
    await console.should_see("每日检查会保存一份快照，从第二天起即可看到趋势。")
