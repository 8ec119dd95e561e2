"""Answers that could name a customer the caller may not see: imports and account contacts."""

from __future__ import annotations

from guanxi.customers import accounts, bulk
from guanxi.customers.schemas import AccountCreate, ContactIn
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.factories import create_customer, staff_principal


def test_an_import_row_names_no_customer_outside_the_importers_scope(db: Database) -> None:
    with db.unit_of_work() as session:
        south = create_customer(session, name="陈静", phone="13712349999", region="华南").id
        east = create_customer(session, name="李娜", email="lina@example.com", region="华东").id
    manager = staff_principal(db, username="east", role="manager", region="华东")
    with db.unit_of_work() as session:
        record = bulk.validate(2, {"name": "李娜", "phone": "13712349999", "email": "lina@example.com"})
        assert isinstance(record, bulk.CustomerRecord)
        (outcome,) = bulk.apply(session, manager, [record])
    assert outcome.status == "rejected"
    assert outcome.reason == (
        f"identities of different customers: phone belongs to another customer, email belongs to customer {east}"
    )
    assert south not in str(outcome)


def test_an_account_lists_only_the_contacts_its_viewer_may_see(db: Database) -> None:
    with db.unit_of_work() as session:
        account = accounts.create_account(session, SYSTEM, AccountCreate(name="华东贸易有限公司", region="华东"))
        south = create_customer(session, name="陈静", region="华南").id
        east = create_customer(session, name="李娜", region="华东").id
        for customer_id in (south, east):
            accounts.add_contact(session, SYSTEM, account.id, ContactIn(customer_id=customer_id))
    manager = staff_principal(db, username="east", role="manager", region="华东")
    with db.unit_of_work(read_only=True) as session:
        seen = accounts.account_detail(session, manager, account.id)
        everything = accounts.account_detail(session, SYSTEM, account.id)
    assert [c.customer_id for c in seen.contacts] == [east]
    assert sorted(c.customer_id for c in everything.contacts) == sorted([south, east])
