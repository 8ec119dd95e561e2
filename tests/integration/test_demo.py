"""The demo loader: exact counts, valid and searchable identities, idempotence, audit, CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from guanxi.auth import service as auth_service
from guanxi.auth.models import StaffUser
from guanxi.auth.permissions import Role
from guanxi.cli.main import app
from guanxi.config import get_settings, reset_settings
from guanxi.customers import identities as identity_store
from guanxi.customers import identity_service, listing
from guanxi.customers.event_models import CustomerEvent
from guanxi.customers.merge_models import DuplicateCandidate
from guanxi.customers.models import (
    Account,
    AccountContact,
    Customer,
    CustomerIdentity,
    CustomerNote,
    CustomerTag,
)
from guanxi.customers.normalize import (
    IdentityKind,
    name_search_keys,
    normalize_phone,
    normalize_resident_id,
    normalize_uscc,
)
from guanxi.demo import loader
from guanxi.demo.generate import DemoGenerator, account_count
from guanxi.demo.targets import PLAN
from guanxi.kit import i18n
from guanxi.kit.db import Database
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.privacy import audit
from guanxi.privacy.models import AuditRecord
from tests.factories import create_customer

CUSTOMERS = 200


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _counts(session: Session) -> dict[str, int]:
    return {
        model.__tablename__: _count(session, model)
        for model in (Customer, CustomerIdentity, CustomerTag, CustomerNote, Account, AccountContact, StaffUser)
    } | {"audit": _count(session, AuditRecord)}


def _principal(session: Session, username: str) -> Principal:
    user = auth_service.find_user_by_username(session, username)
    assert user is not None
    return auth_service.principal_for(user)


def _ids(session: Session, actor: Principal, **filters: Any) -> list[str]:
    page = listing.list_customers(session, actor, listing.CustomerFilter(**filters), PageRequest(limit=200))
    return [item.id for item in page.items]


def test_load_creates_exactly_the_designed_data(db: Database) -> None:
    summary = loader.load(db, customers=CUSTOMERS, behaviour=False)

    assert not summary.reused and summary.refused is None
    with db.unit_of_work(read_only=True) as session:
        counts = _counts(session)
        assert counts["customers"] == CUSTOMERS == summary.customers
        assert counts["accounts"] == account_count(CUSTOMERS) == summary.accounts == 10
        assert counts["account_contacts"] == summary.contacts
        assert summary.accounts <= summary.contacts <= 3 * summary.accounts
        assert counts["customer_tags"] == summary.tags
        assert counts["customer_notes"] == summary.notes
        assert counts["customer_identities"] == sum(summary.identities.values())
        users = list(session.scalars(select(StaffUser)))
        assert sorted(u.role for u in users) == sorted(r.value for r in Role)
        assert {u.username for u in users} == {u.username for u in loader.DEMO_USERS}
        sales = next(u for u in users if u.role == "sales")
        manager = next(u for u in users if u.role == "manager")
        assert (sales.scope, sales.team, sales.region) == ("own", "华东一组", "华东")
        assert (manager.scope, manager.region) == ("region", "华东")

        member_nos = list(session.scalars(select(Customer.member_no).order_by(Customer.created_at)))
        assert member_nos == [f"GX{n:010d}" for n in range(10000001, 10000001 + CUSTOMERS)]
        assert _count(session, Customer, Customer.region.is_(None)) == 0
        # Every demo customer's place is coded; a district wherever the address names one.
        assert _count(session, Customer, Customer.city_code.is_(None) | Customer.province_code.is_(None)) == 0
        assert _count(session, Customer, Customer.district_code.is_not(None), Customer.district.is_(None)) == 0
        assert _count(session, Customer, Customer.district_code.is_not(None)) > 0
        assert listing.stats(session, SYSTEM).new_this_week == summary.new_this_week > 0

        # Every PII identity decrypts to a valid, normalized value.
        by_customer = {c.id: c for c in session.scalars(select(Customer))}
        phones = list(session.scalars(select(CustomerIdentity).where(CustomerIdentity.kind == "phone")))
        assert len(phones) == summary.identities["phone"] > 0.9 * CUSTOMERS
        for row in phones:
            value = identity_store.clear_value(row)
            assert re.fullmatch(r"\+861[3-9]\d{9}", value), value
            assert normalize_phone(value) == value
            assert row.value_plain is None and row.value_enc and value not in row.value_enc
        resident_ids = list(session.scalars(select(CustomerIdentity).where(CustomerIdentity.kind == "resident_id")))
        assert resident_ids
        for row in resident_ids:
            value = identity_store.clear_value(row)
            assert normalize_resident_id(value) == value
            owner = by_customer[row.customer_id]
            assert owner.birthday is not None and value[6:14] == f"{owner.birthday:%Y%m%d}"
            assert int(value[16]) % 2 == (1 if owner.gender == "male" else 0)
        for account in session.scalars(select(Account)):
            assert account.uscc is not None and normalize_uscc(account.uscc) == account.uscc
            assert account.name.endswith("公司")
        # Names carry the real search keys, including the surname readings.
        for customer in by_customer.values():
            assert (customer.name_pinyin, customer.name_initials) == name_search_keys(customer.name)
        shan = next(c for c in by_customer.values() if c.name.startswith("单"))
        ouyang = next(c for c in by_customer.values() if c.name.startswith("欧阳"))
        assert shan.name_pinyin.startswith("shan") and ouyang.name_pinyin.startswith("ouyang")

        # One audit record for the load, with counts only, and an intact chain.
        records = list(session.scalars(select(AuditRecord).where(AuditRecord.action == "demo.load")))
        assert len(records) == 1 and records[0].detail["customers"] == CUSTOMERS
        assert not re.search(r"\d{11}|@", json.dumps(records[0].detail))
        assert audit.verify(session).ok


def test_generated_customers_are_found_like_api_created_ones(db: Database) -> None:
    loader.load(db, customers=CUSTOMERS)
    with db.unit_of_work() as session:
        service = _principal(session, "service")
        rows = session.execute(
            select(Customer, CustomerIdentity)
            .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
            .where(CustomerIdentity.kind == "phone")
            .order_by(Customer.member_no)
            .limit(5)
        ).all()
        for customer, identity in rows:
            phone = identity_store.clear_value(identity)
            local = phone.removeprefix("+86")
            assert _ids(session, service, phone=local) == [customer.id]
            assert _ids(session, service, q=f"{local[:3]} {local[3:7]} {local[7:]}") == [customer.id]
            assert customer.id in _ids(session, service, q=customer.name_pinyin)
            assert customer.id in _ids(session, service, q=customer.name_initials)
            assert customer.id in _ids(session, service, q=customer.name)
            assert customer.id in _ids(session, service, q=customer.member_no)
            found = identity_service.find_by_identity(session, service, IdentityKind.PHONE, local)
            assert found is not None and found.id == customer.id
            page = listing.list_customers(session, service, listing.CustomerFilter(phone=phone), PageRequest(limit=1))
            assert page.items[0].phone == f"{local[:3]}****{local[-4:]}"
        card = session.scalar(select(CustomerIdentity).where(CustomerIdentity.kind == "member_card").limit(1))
        assert card is not None and card.value_plain is None
        assert _ids(session, service, q=identity_store.clear_value(card)) == [card.customer_id]
        shan = session.scalar(select(Customer).where(Customer.name.startswith("单")).limit(1))
        assert shan is not None and shan.id in _ids(session, service, q="shan")

        # Row scopes: the sales user sees their own customers, the manager their region.
        sales = _principal(session, "sales")
        owned = _count(session, Customer, Customer.owner_id == sales.id)
        assert owned > 0
        assert listing.count_customers(session, sales, listing.CustomerFilter()) == owned
        manager = _principal(session, "manager")
        east = _count(session, Customer, Customer.region == "华东")
        assert listing.count_customers(session, manager, listing.CustomerFilter()) == east
        assert 0 < east < CUSTOMERS


def test_second_load_reuses_the_data(db: Database) -> None:
    first = loader.load(db, customers=CUSTOMERS, behaviour=False)
    with db.unit_of_work(read_only=True) as session:
        before = _counts(session)
    messages: list[str] = []
    second = loader.load(db, customers=500, behaviour=False, progress=messages.append)
    with db.unit_of_work(read_only=True) as session:
        assert _counts(session) == before
        assert audit.verify(session).ok
    assert second.reused and second.customers == first.customers == CUSTOMERS
    assert (second.accounts, second.contacts, second.tags) == (first.accounts, first.contacts, first.tags)
    reusing = i18n.t("demo.progress.reusing", get_settings().default_language, count=str(CUSTOMERS))
    assert reusing in messages
    assert "reused it, nothing added" in second.describe("en")
    assert "直接沿用，未新增任何数据" in second.describe("zh-CN")
    # The logins by the role's name in the reader's language.
    assert "  管理员         admin        / admin-demo" in second.describe("zh-CN").splitlines()
    assert "  Administrator  admin        / admin-demo" in second.describe("en").splitlines()


def test_refuses_a_database_with_real_customers(db: Database) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="张伟", phone="13800138000")
    summary = loader.load(db, customers=50)
    assert summary.refused and "1 customers" in summary.refused
    assert summary.describe("zh-CN") == i18n.t("demo.cli.refused", "zh-CN", count="1")
    with db.unit_of_work(read_only=True) as session:
        assert _count(session, Customer) == 1
        assert _count(session, StaffUser) == 0


def test_generation_is_deterministic() -> None:
    now = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)

    def run() -> list[tuple[Any, ...]]:
        generator = DemoGenerator(7, now)
        people = [generator.customer(i, t) for i, t in enumerate(generator.join_times(60))]
        companies = generator.accounts(3)
        return [(p.id, p.name, p.birthday, [(i.kind, i.value) for i in p.identities]) for p in people] + [
            (a.id, a.name, a.uscc, [c.customer_id for c in a.contacts]) for a in companies
        ]

    assert run() == run()


def test_cli_demo_loads_and_prints_the_logins(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator reads the summary in the installation's language (zh-CN), or in --lang's."""
    monkeypatch.setenv("GUANXI_DEFAULT_LANGUAGE", "zh-CN")  # restored after the test, as --lang changes it
    reset_settings()
    try:
        result = CliRunner().invoke(app, ["demo", "--customers", "50", "--orders", "0", "--no-serve"])
        assert result.exit_code == 0, result.output
        for user in loader.DEMO_USERS:
            assert f"{user.username:12} / {user.password}" in result.output
        assert "  50 位客户（本周新增" in result.output
        assert "条行为事件" in result.output
        assert i18n.t("demo.cli.logins", "zh-CN") in result.output
        again = CliRunner().invoke(app, ["--lang", "en", "demo", "--orders", "0", "--no-serve"])
        assert again.exit_code == 0, again.output
        assert "reused it, nothing added:" in again.output
        assert "demo: data from an earlier load found (51 customers); reusing it" in again.output
        assert "  51 customers (" in again.output
        assert "behaviour events and duplicates: loaded earlier, reused" in again.output
        assert not re.search(r"[\u4e00-\u9fff]", again.output)
    finally:
        reset_settings()
    with db.unit_of_work(read_only=True) as session:
        assert _count(session, Customer) == 50 + 1  # one of them signed up a second time


def test_behaviour_adds_events_and_duplicates_once(db: Database) -> None:
    summary = loader.load(db, customers=CUSTOMERS)
    behaviour = summary.behaviour
    assert behaviour is not None and not behaviour.reused
    assert behaviour.duplicates == 6 and behaviour.tied_by_unionid == behaviour.merges >= 1
    # The ones not merged automatically wait in the review queue, each pair under one name.
    assert behaviour.candidates == behaviour.duplicates - behaviour.merges
    with db.unit_of_work(read_only=True) as session:
        assert _count(session, Customer) == CUSTOMERS + 6
        assert _count(session, Customer, Customer.merged_into_id.is_not(None)) == behaviour.merges
        assert _count(session, CustomerEvent) == behaviour.events
        assert _count(session, DuplicateCandidate) == behaviour.candidates
        for pair in session.scalars(select(DuplicateCandidate)):
            a, b = session.get(Customer, pair.customer_a_id), session.get(Customer, pair.customer_b_id)
            assert a is not None and b is not None and a.name == b.name
        # Every anonymous event of a visitor who later logged in belongs to that customer now.
        assert behaviour.stitched > 0
        linked = select(CustomerIdentity.value_plain).where(CustomerIdentity.kind == "anonymous_id")
        assert (
            _count(session, CustomerEvent, CustomerEvent.anonymous_id.in_(linked), CustomerEvent.customer_id.is_(None))
            == 0
        )
        before = _counts(session) | {"events": _count(session, CustomerEvent)}
    again = loader.load(db, customers=CUSTOMERS)
    assert again.behaviour is not None and again.behaviour.reused
    with db.unit_of_work(read_only=True) as session:
        assert _counts(session) | {"events": _count(session, CustomerEvent)} == before


def test_the_demo_runs_the_production_schedule(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each replayed day runs the schedule's loyalty step, and the night after the load its data
    steps: the same function the worker runs, not a copy of its steps."""
    from guanxi.customers.quality_models import QualitySnapshot
    from guanxi.jobs import schedule

    calls: list[tuple[str, ...]] = []
    original = schedule.run_daily

    def recording(database: Database, *, steps: Sequence[str] = schedule.DAILY_ORDER) -> schedule.DailyRun:
        calls.append(tuple(steps))
        return original(database, steps=steps)

    monkeypatch.setattr(schedule, "run_daily", recording)
    summary = loader.load(db, customers=40, orders=200)
    assert summary.orders is not None and summary.orders.first_day and summary.orders.last_day
    days = (summary.orders.last_day - summary.orders.first_day).days + 1
    assert calls == [("loyalty",)] * days + [("analytics", "tag_rules", "duplicates", "customer_data")]
    assert summary.behaviour is not None
    with db.unit_of_work(read_only=True) as session:
        assert _count(session, QualitySnapshot) == 1
        assert _count(session, DuplicateCandidate) == summary.behaviour.candidates
        # the plan's targets, set after the night's analytics run gave them their baselines
        from guanxi.analytics.models import Target

        targets = {t.metric: t for t in session.scalars(select(Target))}
        assert set(targets) == {m for m, *_ in PLAN}
        assert targets["churn_rate"].baseline is not None and targets["nps"].baseline is None
