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
        matched = {"name": "exact", "birthday": "exact", "city": "exact"}
        session.add(DuplicateCandidate(customer_a_id=lo, customer_b_id=hi, score=0.9995, matched=matched))
        return lo, hi


async def test_review_merge_and_undo(db: Database, console: User) -> None:
    a_id, b_id = _pair(db)
    await login(console, "boss")
    await console.open("/duplicates")
    await console.should_see("重复客户")
    await console.should_see(marker="merge-pair-0")
    await console.should_see("姓名相同")
    await console.should_see("几乎可以确定是同一人")
    await console.should_see("100.0%")
    console.find(marker="merge-compare-0").click()
    await console.should_see(marker="merge-comparison")
    await console.should_see("几乎可以确定是同一人：姓名相同、生日相同、城市相同。")
    await console.should_see("+8613800138000")
    console.find(marker="merge-keep-b").click()
    await console.should_see("已合并。")
    with db.unit_of_work(read_only=True) as session:
        merge = session.scalars(select(CustomerMerge)).one()
        assert (merge.survivor_id, merge.merged_id, merge.status) == (b_id, a_id, "merged")
        assert session.scalars(select(DuplicateCandidate.status)).one() == "merged"
    await console.open("/duplicates")
    await console.should_see(marker="merge-queue-empty")
    (history,) = console.find(marker="merge-history-table").elements
    assert [(r["reason"], r["status"]) for r in history.rows] == [("重复审核", "已合并")]
    console.find(marker="merge-history-table").trigger("undo", history.rows[0]["id"])
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


def _text(user: User, marker: str) -> str:
    (label,) = user.find(marker=marker).elements
    return str(label.text)


async def test_the_queue_is_paged_with_evidence_and_scores_in_words(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        people = [create_customer(session, name=f"客户{i:03d}") for i in range(52)]
        for i in range(0, 52, 2):
            lo, hi = sorted((people[i].id, people[i + 1].id))
            score = 0.999 - (50 - i) / 1000  # 0.949 ... 0.999
            matched = {"name": "pinyin", "phone": "exact"} if i % 4 == 2 else {"email": "local_part"}
            session.add(DuplicateCandidate(customer_a_id=lo, customer_b_id=hi, score=score, matched=matched))
        for i in range(26, 51):  # 25 more pairs: 51 in all
            lo, hi = sorted((people[i].id, people[i - 26].id))
            session.add(DuplicateCandidate(customer_a_id=lo, customer_b_id=hi, score=0.91, matched={"gender": "exact"}))
    await login(console, "boss")
    await console.open("/duplicates")
    await console.should_see(marker="merge-pair-19")
    assert _text(console, "merge-pager-total") == "共 51 条"
    assert _text(console, "merge-pager-page") == "第 1 / 3 页"
    assert _text(console, "merge-score-0") == "99.9%"
    assert _text(console, "merge-band-0") == "几乎可以确定是同一人"
    chips = [e.text for e in console.find(marker="merge-evidence-0").elements.pop().descendants()]
    assert chips == ["依据", "手机号相同", "姓名同音"]  # the strongest evidence first
    assert _text(console, "merge-band-1") == "很可能是同一人"  # 0.997
    await not_shown(console, marker="merge-pair-20", after_marker="merge-pair-19")
    console.find(marker="merge-pager-next").click()
    await console.should_see(marker="merge-pair-19")
    assert _text(console, "merge-pager-page") == "第 2 / 3 页"
    console.find(marker="merge-pager-next").click()
    await console.should_see(marker="merge-pair-10")
    await not_shown(console, marker="merge-pair-11", after_marker="merge-pair-10")
    assert _text(console, "merge-pager-page") == "第 3 / 3 页"
    assert _text(console, "merge-band-10") == "可能是同一人"
