"""Identities on the customer page: added, changed and removed through the customers service,
with its audit; a conflict names the holder by name and member number as the viewer may see it."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import func, select

from guanxi.customers.models import CustomerIdentity
from guanxi.kit.db import Database
from guanxi.privacy.models import AuditRecord
from tests.console.conftest import MAIN_FILE, login, not_shown, settle
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _identities(db: Database) -> list[tuple[str, str, str]]:
    with db.unit_of_work(read_only=True) as session:
        rows = session.scalars(select(CustomerIdentity).order_by(CustomerIdentity.created_at, CustomerIdentity.id))
        return [(r.customer_id, r.kind, r.namespace) for r in rows]


def _audits(db: Database, action: str) -> list[tuple[str | None, list[str]]]:
    with db.unit_of_work(read_only=True) as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq))
        return [(r.entity_id, list(r.fields)) for r in rows]


def _audit_total(db: Database) -> int:
    with db.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(AuditRecord)) or 0)


def _text(user: User, marker: str) -> str:
    (label,) = user.find(marker=marker).elements
    assert isinstance(label, ui.label)
    return label.text


def _error(user: User, marker: str) -> str | None:
    (element,) = user.find(marker=marker).elements
    return element.props.get("error-message")


async def _open_add(user: User, kind: str) -> None:
    user.find(marker="add-identity").click()
    await settle(user, marker="identity-dialog")
    (select_kind,) = user.find(marker="identity-kind").elements
    assert isinstance(select_kind, ui.select)
    select_kind.value = kind


async def test_adding_a_phone_writes_one_identity_and_one_audit_record(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")
    await console.should_see("没有身份标识。")
    await _open_add(console, "phone")
    console.find(marker="identity-value").type("138 0013 8000")
    console.find(marker="identity-save").click()
    await settle(console, "身份标识已保存。")
    assert _text(console, "identity-phone") == "138****8000"
    assert _identities(db) == [(customer.id, "phone", "")]
    assert _audits(db, "customer.identity.add") == [(customer.id, ["identity.phone"])]


async def test_a_bad_value_is_explained_on_the_field_and_writes_nothing(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")
    await _open_add(console, "phone")
    console.find(marker="identity-value").type("12345")
    console.find(marker="identity-save").click()
    await console.should_see(marker="identity-dialog")
    await settle(console, marker="identity-dialog")
    assert _error(console, "identity-value") == "不是有效的手机号码"
    assert _identities(db) == []


async def test_an_openid_needs_its_app_id(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")
    await _open_add(console, "wechat_openid")
    (namespace,) = console.find(marker="identity-namespace").elements
    assert namespace.visible and isinstance(namespace, ui.input) and namespace.label == "公众号或小程序 AppID"
    console.find(marker="identity-value").type("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    console.find(marker="identity-namespace").type("wx-shop")
    console.find(marker="identity-save").click()
    await settle(console, "身份标识已保存。")
    assert _identities(db) == [(customer.id, "wechat_openid", "wx-shop")]


async def test_removing_asks_first_then_removes_it(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟", phone="13800138000", email="zhang.wei@example.com")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")
    console.find(marker="remove-identity-phone").click()
    await settle(console, "从该客户移除手机 138****8000？")
    console.find(marker="remove-cancel").click()
    await settle(console, marker="identity-phone")
    assert [kind for _, kind, _ in _identities(db)] == ["phone", "email"]
    console.find(marker="remove-identity-phone").click()
    await settle(console, marker="remove-confirm")
    console.find(marker="remove-confirm").click()
    await not_shown(console, marker="identity-phone", after="身份标识已移除。")
    assert [kind for _, kind, _ in _identities(db)] == ["email"]
    assert _audits(db, "customer.identity.remove") == [(customer.id, ["identity.phone"])]


async def test_changing_a_phone_replaces_it(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        customer = create_customer(session, name="张伟", phone="13800138000")
    await login(console, "boss")
    await console.open(f"/customers/{customer.id}")
    console.find(marker="edit-identity-phone").click()
    await settle(console, marker="identity-dialog")
    (value,) = console.find(marker="identity-value").elements
    assert isinstance(value, ui.input) and value.value == "+8613800138000"  # shown in full to an admin
    value.value = "13900139000"
    console.find(marker="identity-save").click()
    await settle(console, "身份标识已保存。")
    assert _text(console, "identity-phone") == "+8613900139000"
    assert _identities(db) == [(customer.id, "phone", "")]
    assert [a for a, _ in _audits(db, "customer.identity.add")] == [customer.id]
    assert [a for a, _ in _audits(db, "customer.identity.remove")] == [customer.id]


@pytest.mark.parametrize(("role", "shown"), [("service", "李*"), ("admin", "李娜")])
async def test_a_conflict_names_the_holder_and_writes_nothing(
    db: Database, console: User, role: str, shown: str
) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role=role)
        holder = create_customer(session, name="李娜", phone="13900139000")
        customer = create_customer(session, name="张伟")
    await login(console, "wang")
    await console.open(f"/customers/{customer.id}")
    await settle(console, marker="timeline-items")
    before = (_identities(db), _audit_total(db))
    await _open_add(console, "phone")
    console.find(marker="identity-value").type("139 0013 9000")
    console.find(marker="identity-save").click()
    taken = f"已属于客户 {shown}（会员号 {holder.member_no}）"
    await settle(console, marker="identity-conflict")
    assert _text(console, "identity-conflict") == taken
    assert _error(console, "identity-value") == taken
    (link,) = console.find(marker="identity-conflict-link").elements
    assert isinstance(link, ui.link) and link.props["href"] == f"/customers/{holder.id}"
    assert (_identities(db), _audit_total(db)) == before
