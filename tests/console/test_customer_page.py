"""The customer page: header card, tabs built when opened, tags, notes, masking and the reveal,
change history apart from access records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.customers import identity_service, timeline
from guanxi.customers.models import CustomerNote, CustomerTag
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.privacy.models import AuditRecord
from tests.console.conftest import MAIN_FILE, login, not_shown, settle
from tests.factories import create_customer, create_staff, post_order, staff_principal

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _label(user: User, marker: str) -> str:
    (label,) = user.find(marker=marker).elements
    assert isinstance(label, ui.label)
    return label.text


def _table(user: User, marker: str) -> ui.table:
    (table,) = user.find(marker=marker).elements
    assert isinstance(table, ui.table)
    return table


def _audit_count(db: Database, action: str) -> int:
    with db.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action)))


async def test_service_sees_masked_phone_and_can_reveal_with_audit(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟", phone="13800138000", email="zhang.wei@example.com")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")
    assert _label(console, "customer-name") == "张伟"
    assert _label(console, "identity-phone") == "138****8000"
    assert _label(console, "identity-email") == "zh***@example.com"
    await console.should_see(marker="edit-customer")
    assert _audit_count(db, "customer.reveal") == 0
    console.find(marker="reveal").click()
    await not_shown(console, marker="reveal", after="+8613800138000")
    assert _label(console, "identity-email") == "zhang.wei@example.com"
    assert _audit_count(db, "customer.reveal") == 1


async def test_the_header_names_tier_points_owner_and_source(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        staff = create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟", source_channel="mini_program", owner_id=staff.id)
        post_order(session, customer_id=customer.id, amount="1234.00", external_id="A1", store="SH-01")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")
    assert _label(console, "header-points") == "1,234"
    assert _label(console, "header-source") == "小程序"
    assert _label(console, "header-owner").startswith(staff.display_name)
    assert _label(console, "header-tier-name") == "普通会员"


async def test_analyst_is_read_only_and_sees_no_identifiers(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="ana", role="analyst")
        customer = create_customer(session, name="张伟", phone="13800138000", birthday="1990-05-01", tags=["VIP"])
    await login(console, "ana")
    await console.open("/customers")
    await not_shown(console, marker="new-customer", after_marker="customer-table")
    table = _table(console, "customer-table")
    assert [(r["name"], r["phone"]) for r in table.rows] == [("张*", "—")]
    await console.open(f"/customers/{customer.id}")
    assert _label(console, "customer-name") == "张*"
    assert _label(console, "identity-phone") == "（不可见）"
    for text in ("138", "1990"):
        await not_shown(console, text, after_marker="customer-name")
    for marker in ("edit-customer", "reveal", "tag-input", "add-tag", "add-identity", "merge-customer", "tab-notes"):
        await not_shown(console, marker=marker, after_marker="customer-name")
    await console.should_see(marker="tag-VIP")


async def test_analyst_opening_the_form_directly_is_refused_and_audited(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="ana", role="analyst")
        customer = create_customer(session, name="张伟")
    await login(console, "ana")
    await console.open("/customers/new")
    await not_shown(console, marker="save", after="您的角色无权执行此操作")
    await console.open(f"/customers/{customer.id}/edit")
    await not_shown(console, marker="save", after="您的角色无权执行此操作")
    assert _audit_count(db, "permission.denied") == 2


async def test_each_tab_is_built_when_opened(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        customer = create_customer(session, name="张伟", phone="13800138000")
        post_order(session, customer_id=customer.id, amount="508.30", external_id="A1", store="SH-01")
    await login(console, "boss")
    await console.open(f"/customers/{customer.id}")
    await settle(console, marker="profile")
    # Only the overview is built: the other tabs cost nothing until opened.
    for marker in ("orders-table", "member-card", "coupons-empty", "history-table", "access-table"):
        await not_shown(console, marker=marker, after_marker="profile")
    console.find(marker="tab-orders").click()
    await settle(console, marker="orders-table")
    (row,) = _table(console, "orders-table").rows
    expected = ("¥508.30", "已完成", "SH-01", f"/orders/{row['id']}")
    assert (row["link"], row["status"], row["store"], row["href"]) == expected
    (link,) = console.find(marker="all-orders").elements
    assert isinstance(link, ui.link) and link.props["href"] == f"/orders?customer={customer.id}"
    console.find(marker="tab-points").click()
    await settle(console, marker="member-card")
    console.find(marker="tab-coupons").click()
    await settle(console, "没有优惠券。")
    console.find(marker="tab-history").click()
    await settle(console, marker="history-table")
    assert [r["action"] for r in _table(console, "history-table").rows] == ["创建客户"]


async def test_tags_and_notes(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")
    await console.should_see("没有标签。")
    console.find(marker="tag-input").type("  高价值  ")
    console.find(marker="add-tag").click()
    await console.should_see(marker="tag-高价值")
    console.find(marker="tag-input").type("x" * 41)
    console.find(marker="add-tag").click()
    await console.should_see("最多 40 个字符")
    await not_shown(console, marker="note-input", after_marker="profile")
    console.find(marker="header-add-note").click()  # the header's action opens the notes tab
    await settle(console, marker="note-input")
    console.find(marker="note-input").type("客户希望周末联系")
    console.find(marker="add-note").click()
    await console.should_see("客户希望周末联系")
    await console.should_see("wang · ")
    with db.unit_of_work(read_only=True) as session:
        tags = list(session.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == customer.id)))
        assert tags == ["高价值"]
        assert session.scalar(select(CustomerNote.body)) == "客户希望周末联系"
    # service staff may add tags but not remove them: the chip has no remove button
    (chip,) = console.find(marker="tag-高价值").elements
    assert isinstance(chip, ui.chip)
    assert chip.props.get("removable") in (None, False)


async def test_manager_removes_a_tag(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="manager", region="华东")
        customer = create_customer(session, name="张伟", region="华东", tags=["VIP", "流失风险"])
    await login(console, "boss")
    await console.open(f"/customers/{customer.id}")
    console.find(marker="tag-VIP").trigger("remove")
    await not_shown(console, marker="tag-VIP", after_marker="tag-流失风险")
    with db.unit_of_work(read_only=True) as session:
        assert list(session.scalars(select(CustomerTag.tag))) == ["流失风险"]


async def test_history_shows_who_did_what_in_shanghai_time(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        with clock.frozen(datetime(2024, 3, 1, 2, 30, tzinfo=UTC)):
            customer = create_customer(session, name="张伟", phone="13800138000", city="上海")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}?tab=history")
    table = _table(console, "history-table")
    assert [(r["when"], r["action"], r["actor"]) for r in table.rows] == [("2024年3月1日 10:30", "创建客户", "system")]
    assert table.rows[0]["fields"] == "城市、手机、姓名"


async def test_a_view_is_not_a_change_and_an_agent_has_no_access_log(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟", phone="13800138000")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")  # the overview reads the timeline: audited
    await settle(console, marker="timeline-items")
    assert _audit_count(db, "customer.timeline_viewed") == 1
    await not_shown(console, marker="tab-access", after_marker="tab-history")
    console.find(marker="tab-history").click()
    await settle(console, marker="history-table")
    assert [r["action"] for r in _table(console, "history-table").rows] == ["创建客户"]
    await not_shown(console, "查看时间线", after_marker="history-table")


async def test_an_auditor_sees_views_and_reveals_in_the_access_log(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="zhao", role="auditor")
        customer = create_customer(session, name="张伟", phone="13800138000")
    agent = staff_principal(db, username="wang", role="service")
    with db.unit_of_work() as session:
        timeline.timeline(session, agent, customer.id)
        identity_service.list_identities(session, agent, customer.id, reveal=True)
    await login(console, "zhao")
    await console.open(f"/customers/{customer.id}?tab=history")
    assert [r["action"] for r in _table(console, "history-table").rows] == ["创建客户"]
    console.find(marker="tab-access").click()
    await settle(console, marker="access-table")
    rows = _table(console, "access-table").rows
    # the auditor opened the page on a tab that reads no timeline: only the agent's reads are there
    assert [(r["action"], r["actor"]) for r in rows] == [("显示完整信息", "wang"), ("查看时间线", "wang")]
    assert [r["fields"] for r in rows] == ["手机", "—"]
    assert rows[1]["detail"] == "查看范围：全部类型 · 条目数：1"


async def test_unknown_customer_is_a_notice_not_an_error(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    await console.open("/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ")
    await console.should_see("找不到该记录")
