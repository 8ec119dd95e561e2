"""A customer imported without a name is shown by member number in the console's list and on
their card; nicknames are shown as they are."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from guanxi.customers import bulk
from guanxi.customers.models import Customer
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.console.conftest import MAIN_FILE, login
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _nameless(db: Database) -> tuple[str, str]:
    """A customer made by an import row that gave a phone and no name: (id, member number)."""
    with db.unit_of_work() as session:
        record = bulk.validate(2, {"phone": "13700137000"})
        assert isinstance(record, bulk.CustomerRecord)
        (outcome,) = bulk.apply(session, SYSTEM, [record])
        assert outcome.customer_id is not None
        customer = session.get(Customer, outcome.customer_id)
        assert customer is not None and customer.name == ""
        return customer.id, customer.member_no


async def test_the_list_and_the_card_name_a_nameless_customer_by_member_number(db: Database, console: User) -> None:
    customer_id, member_no = _nameless(db)
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        nickname = create_customer(session, name="小明🌟", phone="13800138000").member_no
    await login(console, "wang")
    await console.open("/customers")
    (table,) = console.find(marker="customer-table").elements
    assert isinstance(table, ui.table)
    assert sorted((row["member_no"], row["name"]) for row in table.rows) == [
        (member_no, member_no),
        (nickname, "小明🌟"),
    ]
    await console.open(f"/customers/{customer_id}")
    (label,) = console.find(marker="customer-name").elements
    assert isinstance(label, ui.label)
    assert label.text == member_no
