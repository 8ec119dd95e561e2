from __future__ import annotations

from datetime import UTC, datetime

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.customers.models import CustomerNote, CustomerTag
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.privacy.models import AuditRecord
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _label(user: User, marker: str) -> str:
    (label,) = user.find(marker=marker).elements
    assert isinstance(label, ui.label)
    return label.text


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


async def test_analyst_is_read_only_and_sees_no_identifiers(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="ana", role="analyst")
        customer = create_customer(session, name="张伟", phone="13800138000", birthday="1990-05-01", tags=["VIP"])
    await login(console, "ana")
    await console.open("/customers")
    await not_shown(console, marker="new-customer", after_marker="customer-table")
    (table,) = console.find(marker="customer-table").elements
    assert isinstance(table, ui.table)
    assert [(r["name"], r["phone"]) for r in table.rows] == [("张*", "—")]
    await console.open(f"/customers/{customer.id}")
    assert _label(console, "customer-name") == "张*"
    assert _label(console, "identity-phone") == "（不可见）"
    for text in ("138", "1990-05-01"):
        await not_shown(console, text, after_marker="customer-name")
    for marker in ("edit-customer", "reveal", "tag-input", "add-tag", "note-input", "add-note", "notes"):
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


async def test_tags_and_notes(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")
    await console.should_see("没有标签")
    console.find(marker="tag-input").type("  高价值  ")
    console.find(marker="add-tag").click()
    await console.should_see(marker="tag-高价值")
    console.find(marker="tag-input").type("x" * 41)
    console.find(marker="add-tag").click()
    await console.should_see("最多 40 个字符")
    console.find(marker="note-input").type("客户希望周末联系")
    console.find(marker="add-note").click()
    await console.should_see("客户希望周末联系")
    await console.should_see("wang · ")
    with db.unit_of_work(read_only=True) as session:
        assert list(session.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == customer.id))) == [
            "高价值"
        ]
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
    await console.open(f"/customers/{customer.id}")
    (table,) = console.find(marker="history-table").elements
    assert isinstance(table, ui.table)
    assert [(r["when"], r["action"], r["actor"]) for r in table.rows] == [("2024-03-01 10:30", "创建客户", "system")]
    assert table.rows[0]["fields"] == "城市、手机、姓名"


async def test_unknown_customer_is_a_notice_not_an_error(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    await login(console, "wang")
    await console.open("/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ")
    await console.should_see("找不到该记录")
