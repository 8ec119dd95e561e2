"""The customer page's merge action: find the other record, choose the survivor, merge."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from guanxi.customers.models import Customer
from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login, not_shown, settle
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _radio(user: User, marker: str) -> ui.radio:
    (radio,) = user.find(marker=marker).elements
    assert isinstance(radio, ui.radio)
    return radio


async def test_merging_another_record_into_this_one(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        keep = create_customer(session, name="张伟", phone="13800138000", city="上海")
        other = create_customer(session, name="张伟", email="zhang.wei@example.com", city="杭州")
    await login(console, "boss")
    await console.open(f"/customers/{keep.id}")
    console.find(marker="merge-customer").click()
    await settle(console, marker="merge-dialog")
    console.find(marker="merge-query").type(other.member_no)
    console.find(marker="merge-search").click()
    await settle(console, f"张伟 · {other.member_no} · 杭州市")
    assert list(_radio(console, "merge-other").options) == [other.id]  # the customer itself is not offered
    _radio(console, "merge-other").value = other.id
    assert _radio(console, "merge-keep").value == "this"
    console.find(marker="merge-confirm").click()
    await settle(console, "已合并。")
    with db.unit_of_work(read_only=True) as session:
        merged = session.scalar(select(Customer).where(Customer.id == other.id))
        assert merged is not None and merged.merged_into_id == keep.id


async def test_read_only_staff_see_no_merge_action(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="ana", role="analyst")
        customer = create_customer(session, name="张伟")
    await login(console, "ana")
    await console.open(f"/customers/{customer.id}")
    await not_shown(console, marker="merge-customer", after_marker="customer-name")
