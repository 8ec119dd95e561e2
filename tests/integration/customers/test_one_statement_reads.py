"""A customer's detail read in one statement (lookup by identity, and by id) answers exactly what
the three reads it replaces answered (the customer, then its identities, then its tags), with the
same masking, row scope, errors and audit of reads, for every role and scope, for customers with
and without identities and tags, and for merged and deleted customers."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from guanxi.customers import identity_service, merge, notes, service
from guanxi.customers.models import CustomerTag
from guanxi.customers.normalize import IdentityKind
from guanxi.customers.schemas import IdentityIn
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.privacy.models import AuditRecord
from tests.factories import create_customer, create_staff

ROLES = ("admin", "manager", "sales", "service", "marketing", "analyst", "auditor", "integration")
# Tags whose order differs between code points, case and Chinese: the answer keeps the database's order.
TAGS = ("vip", "VIP", "母婴", "b-tag", "A_tag", "zz", "新客")
LOOKUPS = [
    ("phone", "13800138000", ""),
    ("phone", "+86 139-0013-9000", ""),
    ("email", "Zhang@Example.com", ""),
    ("member_card", "MC-1", ""),
    ("wechat_openid", "oOpen-1", "wx-mini"),
    ("app_user_id", "u-merged", "app"),
    ("phone", "13600136000", ""),  # a deleted customer's phone: released, nobody holds it
    ("phone", "13500135000", ""),  # nobody
    ("phone", "not a phone", ""),  # refused
    ("email", "", ""),  # refused
]


@pytest.fixture
def people(db: Database) -> dict[str, Any]:
    with db.unit_of_work() as session:
        owner = create_staff(session, username="sam", role="sales", team="华东一组")
        rich = create_customer(
            session, name="张伟", region="华东", phone="13800138000", email="zhang@example.com", member_card="MC-1"
        )
        identity_service.add_identity(
            session, SYSTEM, rich.id, IdentityIn(kind="wechat_openid", value="oOpen-1", namespace="wx-mini")
        )
        for tag in TAGS:
            notes.add_tag(session, SYSTEM, rich.id, tag)
        plain = create_customer(session, name="李娜", region="华北", owner_id=owner.id, phone="13900139000")
        bare = create_customer(session, name="王芳", region="华东", owner_id=owner.id)
        survivor = create_customer(session, name="赵六", region="华东", phone="13700137000")
        absorbed = create_customer(session, name="赵六", region="华东")
        identity_service.add_identity(
            session, SYSTEM, absorbed.id, IdentityIn(kind="app_user_id", value="u-merged", namespace="app")
        )
        notes.add_tag(session, SYSTEM, absorbed.id, "老客")
        merge.merge_customers(session, SYSTEM, survivor_id=survivor.id, merged_id=absorbed.id, reason="manual")
        gone = create_customer(session, name="王五", phone="13600136000")
        service.delete_customer(session, SYSTEM, gone.id)
        ids = [rich.id, plain.id, bare.id, survivor.id, absorbed.id, gone.id, "01NOSUCHCUSTOMER0000000000"]
        owner_id = owner.id
    principals = [Principal(id=f"u-{role}", name=role, role=role, scope="all") for role in ROLES]
    principals += [
        Principal(id="m", name="m", role="manager", scope="region", region="华东"),
        Principal(id="m", name="m", role="admin", scope="region", region="华北"),
        Principal(id="m", name="m", role="manager", scope="region", region=None),
        Principal(id="t", name="t", role="service", scope="team", team="华东一组"),
        Principal(id=owner_id, name="sam", role="sales", scope="own"),
        Principal(id="x", name="x", role="nobody", scope="all"),
    ]
    return {"ids": ids, "principals": principals}


def _answer(db: Database, fn: Any) -> tuple[str, Any, int]:
    """(outcome kind, answer or error, audit records written) of one read in its own unit of work."""
    with db.unit_of_work(read_only=True) as session:
        before = session.scalar(select(func.count()).select_from(AuditRecord)) or 0
    try:
        with db.unit_of_work() as session:
            value = fn(session)
            outcome: tuple[str, Any] = ("ok", value.model_dump() if value is not None else None)
    except Exception as exc:  # the error is part of the answer
        outcome = (type(exc).__name__, (str(exc), getattr(exc, "extra", None), getattr(exc, "errors", None)))
    with db.unit_of_work(read_only=True) as session:
        after = session.scalar(select(func.count()).select_from(AuditRecord)) or 0
    return outcome[0], outcome[1], after - before


def _three_reads_by_identity(actor: Principal, kind: str, value: str, namespace: str) -> Any:
    def read(session: Any) -> Any:
        customer = identity_service.find_by_identity(session, actor, IdentityKind(kind), value, namespace)
        return None if customer is None else service.customer_detail_of(session, actor, customer)

    return read


def _one_statement_by_identity(actor: Principal, kind: str, value: str, namespace: str) -> Any:
    return lambda session: identity_service.lookup_detail(session, actor, IdentityKind(kind), value, namespace)


def _three_reads_by_id(actor: Principal, customer_id: str) -> Any:
    return lambda session: service.customer_detail_of(session, actor, service.get_customer(session, actor, customer_id))


def test_lookup_answers_as_the_three_reads_did(db: Database, people: dict[str, Any]) -> None:
    compared = 0
    for actor in people["principals"]:
        for kind, value, namespace in LOOKUPS:
            old = _answer(db, _three_reads_by_identity(actor, kind, value, namespace))
            new = _answer(db, _one_statement_by_identity(actor, kind, value, namespace))
            assert new == old, (actor, kind, value)
            compared += old[0] == "ok" and old[1] is not None
    assert compared > 20  # most lookups found someone


def test_detail_by_id_answers_as_the_three_reads_did(db: Database, people: dict[str, Any]) -> None:
    outcomes = set()
    for actor in people["principals"]:
        for customer_id in people["ids"]:
            old = _answer(db, _three_reads_by_id(actor, customer_id))
            new = _answer(db, lambda s, a=actor, c=customer_id: service.customer_detail(s, a, c))
            assert new == old, (actor, customer_id)
            outcomes.add(old[0])
    assert outcomes == {"ok", "NotFound", "CustomerMerged", "PermissionDenied"}


def test_admin_reads_are_audited_and_tags_keep_the_database_order(db: Database, people: dict[str, Any]) -> None:
    admin = Principal(id="a", name="a", role="admin", scope="all")
    kind, answer, audited = _answer(
        db, lambda s: identity_service.lookup_detail(s, admin, IdentityKind.PHONE, "13800138000")
    )
    assert kind == "ok" and audited == 1
    assert answer["phone"] == "+8613800138000" and answer["email"] == "zhang@example.com"
    with db.unit_of_work(read_only=True) as session:
        expected = list(
            session.scalars(
                select(CustomerTag.tag).where(CustomerTag.customer_id == answer["id"]).order_by(CustomerTag.tag)
            )
        )
    assert answer["tags"] == expected and sorted(expected) == sorted(TAGS)
    assert [i["kind"] for i in answer["identities"]] == ["phone", "email", "member_card", "wechat_openid"]
    service_role = Principal(id="s", name="s", role="service", scope="all")
    kind, masked, audited = _answer(
        db, lambda s: identity_service.lookup_detail(s, service_role, IdentityKind.PHONE, "13800138000")
    )
    assert kind == "ok" and audited == 0 and masked["phone"] != answer["phone"]
