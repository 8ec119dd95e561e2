"""The segment builder and tag rules in the console (simulated user, no browser)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from guanxi.customers.models import CustomerTag
from guanxi.kit.db import Database
from guanxi.marketing.models import Segment, TagRule
from tests.console.conftest import MAIN_FILE, login, not_shown, settle
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _one(user: User, marker: str) -> Any:
    (element,) = user.find(marker=marker).elements
    return element


def _set(user: User, marker: str, value: Any) -> None:
    element = _one(user, marker)
    with user:
        element.value = value


def _error(user: User, marker: str) -> str | None:
    element = _one(user, marker)
    return element.props.get("error-message") if element.props.get("error") else None


async def _error_is(user: User, marker: str, text: str) -> None:
    for _ in range(50):
        if _error(user, marker) == text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{marker} shows {_error(user, marker)!r}, not {text!r}")


async def _count_is(user: User, text: str) -> None:
    for _ in range(50):
        label = _one(user, "segment-count")
        if label.text == text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"count shows {_one(user, 'segment-count').text!r}, not {text!r}")


def _people(db: Database) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="mk", role="marketing")
        create_customer(session, name="张伟", city="上海", phone="13800138001", tags=["VIP"])
        create_customer(session, name="李娜", city="北京", tags=["VIP"])
        create_customer(session, name="王芳", city="上海")


async def test_build_a_segment_with_live_count_and_save_it(db: Database, console: User) -> None:
    _people(db)
    await login(console, "mk")
    console.find(marker="nav-segments").click()
    await console.should_see(marker="segment-table", retries=30)
    console.find(marker="segment-new").click()
    await console.should_see(marker="builder", retries=30)
    await _count_is(console, "—")  # the starting rule "city is <empty>" is incomplete: no error yet
    await console.should_see(marker="segment-hint")
    assert _error(console, "value-g.r0") is None
    _set(console, "field-g.r0", "tag")
    _set(console, "value-g.r0", "VIP")
    await _count_is(console, "2")
    sample = _one(console, "segment-sample")
    assert isinstance(sample, ui.table)
    assert sorted((r["name"], r["phone"]) for r in sample.rows) == [("张伟", "138****8001"), ("李娜", "—")]
    # AND a nested OR group: (city = 上海) -> only 张伟
    console.find(marker="add-rule-g").click()  # a new, empty condition keeps the count
    await settle(console, marker="value-g.r1")
    await _count_is(console, "2")
    assert _error(console, "value-g.r1") is None
    console.find(marker="remove-g.r1").click()
    console.find(marker="add-group-g").click()
    _set(console, "value-g.g0.r0", "上海")
    await _count_is(console, "1")
    _set(console, "match-g", "any")
    await _count_is(console, "3")
    _set(console, "match-g", "all")
    await _count_is(console, "1")
    console.find(marker="segment-name").type("上海 VIP")
    console.find(marker="segment-save").click()
    await console.should_see(marker="segment-snapshot", retries=30)
    with db.unit_of_work(read_only=True) as session:
        (segment,) = session.scalars(select(Segment))
        assert (segment.name, segment.kind) == ("上海 VIP", "dynamic")
        assert segment.definition == {
            "match": "all",
            "rules": [{"field": "tag", "op": "has", "value": "VIP"}],
            "groups": [{"match": "any", "rules": [{"field": "city", "op": "eq", "value": "上海"}], "groups": []}],
        }


async def test_errors_show_under_their_field_in_words(db: Database, console: User) -> None:
    _people(db)
    await login(console, "mk")
    await console.open("/segments/new")
    await console.should_see(marker="builder", retries=30)
    _set(console, "field-g.r0", "age")
    _set(console, "op-g.r0", "gte")
    _set(console, "value-g.r0", "abc")
    await _error_is(console, "value-g.r0", "请输入整数")
    await not_shown(console, "conditions.rules[0].value", after_marker="segment-sample")


async def test_a_bad_save_puts_each_error_under_its_field(db: Database, console: User) -> None:
    _people(db)
    await login(console, "mk")
    await console.open("/segments/new")
    await console.should_see(marker="builder", retries=30)
    console.find(marker="add-rule-g").click()
    await settle(console, marker="value-g.r1")
    _set(console, "value-g.r1", "上海")
    await _count_is(console, "2")
    console.find(marker="segment-save").click()  # no name, the first rule without its value
    await _error_is(console, "segment-name", "必填")
    await _error_is(console, "value-g.r0", "必填")
    assert _error(console, "value-g.r1") is None
    with db.unit_of_work(read_only=True) as session:
        assert list(session.scalars(select(Segment))) == []


async def test_segment_list_is_paged_newest_first(db: Database, console: User) -> None:
    from guanxi.kit.principal import SYSTEM
    from guanxi.marketing import segments
    from guanxi.marketing.schemas import SegmentIn

    _people(db)
    with db.unit_of_work() as session:
        for i in range(22):
            definition = {"rules": [{"field": "city", "op": "eq", "value": "上海"}]}
            segments.create_segment(session, SYSTEM, SegmentIn(name=f"人群{i:02d}", conditions=definition))
    await login(console, "mk")
    await console.open("/segments")
    rows = _one(console, "segment-table").rows
    assert [r["name"] for r in rows[:2]] == ["人群21", "人群20"] and len(rows) == 20
    assert _one(console, "segment-pager-total").text == "共 22 条"
    assert _one(console, "segment-pager-page").text == "第 1 / 2 页"
    console.find(marker="segment-pager-next").click()
    assert [r["name"] for r in _one(console, "segment-table").rows] == ["人群01", "人群00"]
    assert _one(console, "segment-pager-page").text == "第 2 / 2 页"


async def test_create_and_run_a_tag_rule(db: Database, console: User) -> None:
    _people(db)
    await login(console, "mk")
    console.find(marker="nav-tag-rules").click()
    await console.should_see(marker="tagrule-table", retries=30)
    console.find(marker="tagrule-new").click()
    await console.should_see(marker="builder", retries=30)
    console.find(marker="tagrule-code").type("shanghai")
    console.find(marker="tagrule-tag").type("上海客")
    _set(console, "value-g.r0", "上海")
    await _count_is(console, "2")
    console.find(marker="tagrule-save").click()
    await console.should_see(marker="tagrule-run", retries=30)
    with db.unit_of_work(read_only=True) as session:
        (rule,) = session.scalars(select(TagRule))
        assert (rule.code, rule.tag, rule.last_matched, rule.last_added) == ("shanghai", "上海客", 2, 2)
        assert len(list(session.scalars(select(CustomerTag).where(CustomerTag.tag == "上海客")))) == 2
    console.find(marker="tagrule-run").click()
    await console.should_see("符合 2 人：新打标 0，移除 0", retries=30)


async def test_a_read_only_role_sees_segments_without_editing_them(db: Database, console: User) -> None:
    from guanxi.kit.principal import SYSTEM
    from guanxi.marketing import segments
    from guanxi.marketing.schemas import SegmentIn

    _people(db)
    with db.unit_of_work() as session:
        create_staff(session, username="ana", role="analyst")
        segment = segments.create_segment(
            session,
            SYSTEM,
            SegmentIn(name="VIP", kind="static", conditions={"rules": [{"field": "tag", "op": "has", "value": "VIP"}]}),
        )
    await login(console, "ana")
    await console.open("/segments")
    table = _one(console, "segment-table")
    assert [(r["name"], r["kind"], r["snapshot_count"]) for r in table.rows] == [("VIP", "静态快照", "2")]
    await not_shown(console, marker="segment-new", after_marker="segment-table")
    await console.open(f"/segments/{segment.id}")
    await _count_is(console, "2")
    assert {r["name"] for r in _one(console, "segment-sample").rows} == {"张*", "李*"}
    for marker in ("segment-save", "segment-delete"):
        await not_shown(console, marker=marker, after_marker="segment-sample")
    await console.should_see(marker="segment-snapshot-info")
    await console.should_see(marker="nav-tag-rules")  # analysts may read tag rules
    await console.open("/segments/nope")
    await console.should_see(marker="notice")


async def test_a_fresh_tag_rule_form_shows_no_error_and_a_bad_save_does(db: Database, console: User) -> None:
    _people(db)
    await login(console, "mk")
    await console.open("/tag-rules/new")
    await settle(console, marker="segment-hint")
    assert _error(console, "value-g.r0") is None
    await not_shown(console, "必填", after_marker="segment-sample")
    console.find(marker="tagrule-save").click()
    await _error_is(console, "tagrule-code", "必填")
    await _error_is(console, "tagrule-tag", "必填")
    await _error_is(console, "value-g.r0", "必填")
    with db.unit_of_work(read_only=True) as session:
        assert list(session.scalars(select(TagRule))) == []


async def test_tag_rules_are_paged_newest_first(db: Database, console: User) -> None:
    from guanxi.kit.principal import SYSTEM
    from guanxi.marketing import tag_rules
    from guanxi.marketing.schemas import TagRuleIn

    _people(db)
    with db.unit_of_work() as session:
        for i in range(21):
            definition = {"rules": [{"field": "city", "op": "eq", "value": "上海"}]}
            rule = TagRuleIn(code=f"r{i:02d}", tag=f"标签{i:02d}", conditions=definition)
            tag_rules.create_rule(session, SYSTEM, rule)
    await login(console, "mk")
    await console.open("/tag-rules")
    assert [r["code"] for r in _one(console, "tagrule-table").rows][:2] == ["r20", "r19"]
    assert _one(console, "tagrule-pager-total").text == "共 21 条"
    assert _one(console, "tagrule-pager-page").text == "第 1 / 2 页"
    console.find(marker="tagrule-pager-next").click()
    assert [r["code"] for r in _one(console, "tagrule-table").rows] == ["r00"]
    assert _one(console, "tagrule-pager-page").text == "第 2 / 2 页"
