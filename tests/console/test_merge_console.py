"""The duplicate review page: compare a pair, merge it keeping the chosen customer, undo from the
history; labels in Chinese."""

from __future__ import annotations

from datetime import date

import pytest
from nicegui.testing import User
from sqlalchemy import select

from guanxi.customers.merge_models import CustomerMerge, DuplicateCandidate
from guanxi.customers.models import Customer
from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login, not_shown
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


def _pair(db: Database) -> tuple[str, str]:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        a = create_customer(session, name="张伟", phone="13800138000", city="上海", birthday=date(1990, 5, 1))
        b = create_customer(session, name="张伟", email="zw@example.com", city="上海", birthday=date(1990, 5, 1))
        lo, hi = sorted((a.id, b.id))
        session.add(DuplicateCandidate(customer_a_id=lo, customer_b_id=hi, score=0.99, matched={"name": "exact"}))
        return lo, hi


async def test_review_merge_and_undo(db: Database, console: User) -> None:
    a_id, b_id = _pair(db)
    await login(console, "boss")
    await console.open("/duplicates")
    await console.should_see("重复客户")
    await console.should_see(marker="merge-pair-0")
    await console.should_see("姓名: 相同")
    console.find(marker="merge-compare-0").click()
    await console.should_see(marker="merge-comparison")
    await console.should_see("+8613800138000")
    console.find(marker="merge-keep-b").click()
    await console.should_see("已合并。")
    with db.unit_of_work(read_only=True) as session:
        merge = session.scalars(select(CustomerMerge)).one()
        assert (merge.survivor_id, merge.merged_id, merge.status) == (b_id, a_id, "merged")
        assert session.scalars(select(DuplicateCandidate.status)).one() == "merged"
    await console.open("/duplicates")
    await console.should_see(marker="merge-queue-empty")
    await console.should_see("重复审核")
    console.find(marker="merge-undo-0").click()
    await console.should_see("已撤销合并。")
    with db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(CustomerMerge.status)).one() == "undone"
        customer = session.get(Customer, a_id)
        assert customer is not None and customer.deleted_at is None and customer.merged_into_id is None


async def test_roles_without_merges_do_not_see_the_page(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="mkt", role="marketing")
    await login(console, "mkt")
    await not_shown(console, marker="nav-duplicates", after_marker="current-user")
    await console.open("/duplicates")
    await console.should_see("您的角色无权执行此操作", retries=10)
