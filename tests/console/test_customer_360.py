"""The customer page's story section (completeness, timeline with filters) and the data-quality page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.customers import event_types, events, merge
from guanxi.customers.quality_models import QualitySnapshot
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.console.conftest import MAIN_FILE, login, settle
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _seed(db: Database) -> str:
    at = datetime.now(UTC) - timedelta(hours=2)
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        create_staff(session, username="ana", role="analyst")
        customer = create_customer(session, name="张伟", phone="13800138000", city="上海市", province="上海市")
        batch = [
            {
                "event_id": "v1",
                "type": "product_view",
                "occurred_at": at.isoformat(),
                "customer_id": customer.id,
                "properties": {"sku": "MB-1", "category": "母婴"},
            },
            {
                "event_id": "s1",
                "type": "search",
                "occurred_at": (at + timedelta(minutes=1)).isoformat(),
                "customer_id": customer.id,
                "properties": {"query": "奶粉"},
            },
        ]
        events.ingest(session, SYSTEM, batch)
        return customer.id


def _labels(user: User, marker: str) -> list[str]:
    (column,) = user.find(marker=marker).elements
    return [el.text for el in column.descendants() if isinstance(el, ui.label)]


async def test_story_shows_completeness_and_the_timeline(db: Database, console: User) -> None:
    customer_id = _seed(db)
    await login(console, "boss")
    await console.open(f"/customers/{customer_id}")
    (score,) = console.find(marker="completeness-score").elements
    assert isinstance(score, ui.label) and score.text == "45/100"  # name 10, phone 20, city 10, province 5
    texts = _labels(console, "timeline-items")
    assert "搜索" in texts and "浏览商品" in texts
    assert any("奶粉" in t for t in texts) and any("母婴" in t for t in texts)
    (types,) = console.find(marker="timeline-types").elements
    assert isinstance(types, ui.select)
    types.value = ["identity"]
    await settle(console, "身份")
    texts = _labels(console, "timeline-items")
    assert "搜索" not in texts and "身份" in texts


async def test_analyst_is_told_which_kinds_are_hidden(db: Database, console: User) -> None:
    customer_id = _seed(db)
    await login(console, "ana")
    await console.open(f"/customers/{customer_id}")
    await console.should_see("无权查看")


async def test_quality_page_runs_a_check(db: Database, console: User) -> None:
    _seed(db)
    await login(console, "boss")
    await console.open("/quality")
    await console.should_see("数据质量")
    await console.should_see("还没有检查记录。")
    console.find(marker="quality-run").click()
    await console.should_see("检查完成")
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(QualitySnapshot)) == 1


async def test_event_types_page_sets_retention_and_adds_a_custom_type(db: Database, console: User) -> None:
    _seed(db)
    await login(console, "boss")
    await console.open("/quality/event-types")
    (table,) = console.find(marker="event-types-table").elements
    assert isinstance(table, ui.table)
    assert {r["code"] for r in table.rows} >= {"page_view", "store_visit"}
    console.find(marker="new-event-type").click()
    console.find(marker="type-code").type("live_watch")
    console.find(marker="type-label-zh").type("看直播")
    console.find(marker="type-properties").type("room:text")
    console.find(marker="create-event-type").click()
    await console.should_see("每行写一个属性，格式为“名称:类型”")
    with db.unit_of_work(read_only=True) as session:
        assert "live_watch" not in {s.code for s in event_types.list_types(session, SYSTEM)}
    (props,) = console.find(marker="type-properties").elements
    props.value = "room:string*\nseconds:integer"
    console.find(marker="create-event-type").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        spec = event_types.get_type(session, SYSTEM, "live_watch")
        assert spec.properties == {"room": "string", "seconds": "integer"} and spec.required == ("room",)


async def test_the_story_names_the_merges_of_the_customer(db: Database, console: User) -> None:
    keep = _seed(db)
    with db.unit_of_work() as session:
        gone = create_customer(session, name="张伟", email="z@example.com").id
        merge.merge_customers(session, SYSTEM, survivor_id=keep, merged_id=gone, reason="manual")
    await login(console, "boss")
    await console.open(f"/customers/{keep}")
    await console.should_see(marker="merges")
    await console.should_see(f"{gone} → {keep}", marker="merges")
