"""The prepared reads (a customer by id or identity, a list filtered by one phone or email) answer
exactly what the general scoped queries answer, for every shape of row scope."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from guanxi.customers import identities, listing, repository, service
from guanxi.customers.models import Customer
from guanxi.kit.db import Database
from guanxi.kit.errors import BadRequest, ValidationFailed
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import SYSTEM, Principal
from tests.factories import create_customer, create_staff

PHONES = {"east": "13800138000", "east_team": "13800138001", "north": "13900139000", "owned": "13700137000"}


@pytest.fixture
def principals(db: Database) -> list[Principal]:
    with db.unit_of_work() as session:
        owner = create_staff(session, username="sam", role="sales", team="华东一组")
        create_customer(session, name="张伟", region="华东", phone=PHONES["east"], email="zw@example.com")
        create_customer(session, name="张敏", region="华东", owner_id=owner.id, phone=PHONES["owned"])
        create_customer(session, name="张强", region="华北", phone=PHONES["north"])
        create_customer(session, name="李娜", region="华东", phone=PHONES["east_team"], owner_id=owner.id)
        gone = create_customer(session, name="王五", phone="13600136000")
        service.delete_customer(session, SYSTEM, gone.id)
        owner_id = owner.id
    return [
        SYSTEM,
        Principal(id="x", name="p", role="service", scope="all"),
        Principal(id="x", name="p", role="manager", scope="region", region="华东"),
        Principal(id="x", name="p", role="manager", scope="region", region=None),
        Principal(id="x", name="p", role="manager", scope="team", team="华东一组"),
        Principal(id="x", name="p", role="manager", scope="team", team=None),
        Principal(id=owner_id, name="sam", role="sales", scope="own"),
        Principal(id="x", name="p", role="manager", scope="nonsense"),
    ]


def _general(db: Database, principal: Principal) -> set[str]:
    with db.unit_of_work(read_only=True) as session:
        return set(session.scalars(repository.customers(principal).with_only_columns(Customer.id)))


def test_by_id_and_by_identity_match_the_general_scope(db: Database, principals: list[Principal]) -> None:
    with db.unit_of_work(read_only=True) as session:
        everyone = list(session.scalars(select(Customer.id)))
        holders = {
            phone: identities.blind_index("phone", "", f"+86{phone}") for phone in [*PHONES.values(), "13600136000"]
        }
    assert len(everyone) == 5
    for principal in principals:
        visible = _general(db, principal)
        with db.unit_of_work(read_only=True) as session:
            by_id = {cid for cid in everyone if repository.customer_by_id(session, principal, cid) is not None}
            by_identity = {
                found.id
                for index in holders.values()
                if (found := repository.customer_by_identity(session, principal, "phone", "", index)) is not None
            }
        assert by_id == visible == by_identity, principal


def _list(db: Database, principal: Principal, **flt: object) -> list[str]:
    with db.unit_of_work() as session:  # an admin's read writes a reveal record
        flt_ = listing.CustomerFilter(**flt)  # type: ignore[arg-type]
        page = listing.list_customers(session, principal, flt_, PageRequest(limit=5))
        assert page.next_cursor is None
        return [c.id for c in page.items]


def test_one_phone_or_email_lists_what_the_general_filter_lists(db: Database, principals: list[Principal]) -> None:
    since = datetime(2000, 1, 1, tzinfo=UTC)  # a second filter that keeps everyone takes the general path
    for principal in principals:
        for phone in [*PHONES.values(), "13600136000", "+86 138-0013-8000"]:
            assert _list(db, principal, phone=phone) == _list(db, principal, phone=phone, created_from=since)
        for email in ("ZW@example.com", "nobody@example.com"):
            assert _list(db, principal, email=email) == _list(db, principal, email=email, created_from=since)


def test_one_phone_refuses_what_the_general_filter_refuses(db: Database, principals: list[Principal]) -> None:
    with pytest.raises(ValidationFailed) as invalid, db.unit_of_work() as session:
        listing.list_customers(session, SYSTEM, listing.CustomerFilter(phone="123"), PageRequest())
    assert [e.field for e in invalid.value.errors] == ["phone"]
    with pytest.raises(ValidationFailed) as invalid, db.unit_of_work() as session:
        listing.list_customers(session, SYSTEM, listing.CustomerFilter(email="not-an-email"), PageRequest())
    assert [e.field for e in invalid.value.errors] == ["email"]
    for sort in ("match", "nope"):
        with pytest.raises(BadRequest) as bad, db.unit_of_work() as session:
            listing.list_customers(
                session, SYSTEM, listing.CustomerFilter(phone=PHONES["east"]), PageRequest(sort=sort)
            )
        assert [e.field for e in bad.value.errors] == ["sort"]
