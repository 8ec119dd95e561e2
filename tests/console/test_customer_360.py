"""The customer page's story section (completeness, timeline with filters) and the data-quality page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select, update

from guanxi.customers import event_types, events, merge
from guanxi.customers.models import Customer
from guanxi.customers.quality_models import QualitySnapshot
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.catalog.models import Coupon
from tests.console.conftest import MAIN_FILE, login, not_shown, settle
from tests.factories import create_customer, create_staff, post_order
from tests.integration.loyalty import coupon_helpers

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
                "channel": "mini_program",
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


def _link_texts(user: User, marker: str) -> list[str]:
    (column,) = user.find(marker=marker).elements
    return [el.text for el in column.descendants() if isinstance(el, ui.link)]


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
    await console.should_see("检查完成", retries=80)  # a background run, followed in a dialog
    with db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(QualitySnapshot)) == 1


async def test_event_types_page_sets_retention_and_adds_a_custom_type(db: Database, console: User) -> None:
    _seed(db)
    await login(console, "boss")
    await console.open("/quality/event-types")
    (table,) = console.find(marker="event-types-table").elements
    assert isinstance(table, ui.table)
    assert {r["id"] for r in table.rows} >= {"page_view", "store_visit"}
    console.find(marker="new-event-type").click()
    console.find(marker="type-code").type("live_watch")
    console.find(marker="type-label-zh").type("看直播")
    console.find(marker="type-label-en").type("Live watch")
    console.find(marker="add-property").click()
    console.find(marker="property-name-0").type("Room")
    console.find(marker="create-event-type").click()
    await console.should_see("请使用小写字母、数字或下划线，并以字母开头（最多 40 个）")
    with db.unit_of_work(read_only=True) as session:
        assert "live_watch" not in {s.code for s in event_types.list_types(session, SYSTEM)}
    console.find(marker="property-name-0").clear().type("room")
    console.find(marker="property-required-0").click()
    console.find(marker="add-property").click()
    console.find(marker="property-name-1").type("seconds")
    with console.scope(marker="property-row-1"):
        console.find(marker="property-type-1").click()
        console.find("整数").click()
    console.find(marker="create-event-type").click()
    await console.should_see("已保存")
    with db.unit_of_work(read_only=True) as session:
        spec = event_types.get_type(session, SYSTEM, "live_watch")
        assert spec.properties == {"room": "string", "seconds": "integer"} and spec.required == ("room",)


async def test_the_story_names_the_merges_of_the_customer(db: Database, console: User) -> None:
    keep = _seed(db)
    with db.unit_of_work() as session:
        gone = create_customer(session, name="张伟", email="z@example.com")
        merge.merge_customers(session, SYSTEM, survivor_id=keep, merged_id=gone.id, reason="manual")
        kept_no = session.get(Customer, keep).member_no  # type: ignore[union-attr]
    await login(console, "boss")
    await console.open(f"/customers/{keep}")
    await console.should_see(marker="merges")
    # by name and member number, not by internal id
    await console.should_see(f"张伟 · {gone.member_no} → 张伟 · {kept_no}", marker="merges")
    await not_shown(console, gone.id, after_marker="merges")


async def test_each_timeline_item_reads_as_words_and_figures(db: Database, console: User) -> None:
    customer_id = _seed(db)
    with db.unit_of_work() as session:
        post_order(session, customer_id=customer_id, amount="508.30", external_id="A1", store="SH-01", channel="store")
    (coupon,) = coupon_helpers.issue(db, coupon_helpers.template(db), customer_id)
    with db.unit_of_work() as session:
        session.execute(update(Coupon).where(Coupon.id == coupon.id).values(status="expired", issued_via="win_back"))
    await login(console, "boss")
    await console.open(f"/customers/{customer_id}")
    texts = _labels(console, "timeline-items")
    assert "¥508.30" in _link_texts(console, "timeline-items")
    assert any("状态：已完成" in t and "渠道：门店" in t and "门店：SH-01" in t for t in texts), texts
    assert "满100减20" in texts and "状态：已过期 · 发放方式：唤回礼券" in texts
    assert "渠道：小程序 · SKU：MB-1 · 品类：母婴" in texts
    assert "搜索词：奶粉" in texts
    assert "添加手机" in texts
    assert any(t.startswith("获得 +") for t in texts)  # points: the entry kind and signed points
    # no codes, no JSON, no English
    joined = " ".join(texts)
    for raw in ("{", "win_back", "expired", "mini_program", "product_view", "earn", "CNY"):
        assert raw not in joined


async def test_the_behaviour_tab_shows_events_only(db: Database, console: User) -> None:
    customer_id = _seed(db)
    await login(console, "boss")
    await console.open(f"/customers/{customer_id}?tab=behaviour")
    await settle(console, marker="timeline-items")
    texts = _labels(console, "timeline-items")
    assert "搜索" in texts and "浏览商品" in texts and "添加手机" not in texts
    await not_shown(console, marker="timeline-types", after_marker="timeline-items")
