"""The console's lists, forms and data pages in chromium, in both languages: each page draws, shows
its total and pages, and no English reaches the Chinese pages' visible text (nor Chinese the
English ones, data aside). Screenshots go to test-output/browser/data_pages/ for review."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import select

from guanxi.auth import service as auth_service
from guanxi.auth.models import StaffUser
from guanxi.customers import quality
from guanxi.customers.merge_models import DuplicateCandidate
from guanxi.customers.quality_models import QualitySnapshot
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.marketing import segments, tag_rules
from guanxi.marketing.schemas import SegmentIn, TagRuleIn
from tests.browser.conftest import CHROMIUM_ARGS, output_dir
from tests.factories import PASSWORD, create_customer, create_staff

pytestmark = pytest.mark.browser

PAGES = {
    "customers": "/customers",
    "accounts": "/accounts",
    "segments": "/segments",
    "segment_new": "/segments/new",
    "tag_rules": "/tag-rules",
    "tag_rule_new": "/tag-rules/new",
    "duplicates": "/duplicates",
    "quality": "/quality",
    "event_types": "/quality/event-types",
    "imports": "/imports",
    "staff": "/staff",
}
CITIES = ("上海", "北京", "杭州", "深圳", "广州")


def _seed(db: Database) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        people = [
            create_customer(
                session,
                name=f"{'张李王赵刘陈'[i % 6]}{'伟娜芳静洋磊'[i // 6 % 6]}",
                phone=f"1380013{i:04d}",
                city=CITIES[i % 5],
                gender=("male", "female")[i % 2],
                birthday=date(1980 + i % 20, i % 12 + 1, 1),
            )
            for i in range(45)
        ]
        for i in range(0, 24, 2):
            lo, hi = sorted((people[i].id, people[i + 1].id))
            matched = {"name": "pinyin", "phone": "one_digit"} if i % 4 else {"birthday": "exact", "city": "exact"}
            session.add(DuplicateCandidate(customer_a_id=lo, customer_b_id=hi, score=0.9 + i / 250, matched=matched))
        city = {"rules": [{"field": "city", "op": "eq", "value": "上海"}]}
        segments.create_segment(session, SYSTEM, SegmentIn(name="上海客户", conditions=city))
        tag_rules.create_rule(session, SYSTEM, TagRuleIn(code="shanghai", tag="上海客", conditions=city))
        found = quality.report(session, SYSTEM)
        for days_ago, average, rate in ((6, 48, 0.62), (5, 52, 0.6), (4, 55, 0.58), (3, 57, 0.56), (2, 58, 0.55)):
            taken = clock.now() - timedelta(days=days_ago)
            report = {**found, "average_score": average, "duplicate_rate": rate}
            session.add(
                QualitySnapshot(taken_at=taken, taken_by="system", customers=45, average_score=average, report=report)
            )
        quality.run_check(session, SYSTEM)


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill("boss")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/")


def _visible_text(page: Page) -> str:
    return str(page.evaluate("() => document.body.innerText"))


def test_data_pages_in_both_languages(db: Database, live_server: str, chromium_path: Path, tmp_path: Path) -> None:
    _seed(db)
    shots = output_dir() / "data_pages"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            _sign_in(page, live_server)
            page.goto(f"{live_server}/customers")
            expect(page.get_by_text("共 45 位客户")).to_be_visible()
            expect(page.get_by_text("第 1 / 3 页")).to_be_visible()
            for lang in ("zh-CN", "en"):
                if lang == "en":  # the staff record's language decides the console's (see console.session.guard)
                    with db.unit_of_work() as session:
                        boss = session.scalar(select(StaffUser).where(StaffUser.username == "boss"))
                        assert boss is not None
                        auth_service.set_language(session, boss.id, "en")
                    page.goto(f"{live_server}/customers")
                    expect(page.get_by_text("45 customers")).to_be_visible()
                for name, path in PAGES.items():
                    page.goto(f"{live_server}{path}")
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(600)
                    page.screenshot(path=str(shots / f"{name}.{lang}.png"), full_page=True)
                    text = _visible_text(page)
                    if lang == "en":
                        assert not re.search(r"共 \d+ 条|第 \d+ / \d+ 页|必填", text), (name, text[:500])
                    else:
                        assert not re.search(r"\b(Page \d|in total|per page|required|Previous|Next)\b", text), name
            page.goto(f"{live_server}/duplicates")
            expect(page.get_by_text("12 in total")).to_be_visible()
            page.get_by_role("button", name="Compare").first.click()
            expect(page.get_by_text("Side by side")).to_be_visible()
            page.screenshot(path=str(shots / "duplicates_compare.en.png"), full_page=True)
            page.goto(f"{live_server}/segments/new")
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_text("Required").first).to_be_visible()
            page.screenshot(path=str(shots / "segment_bad_save.en.png"), full_page=True)
            page.goto(f"{live_server}/imports")
            page.get_by_text("Columns a file may hold").click()
            upload = tmp_path / "members.csv"
            upload.write_text(
                "姓名,手机号,生日\n张三,13800000001,1990-02-30\n李四,12345,1991-03-01\n", encoding="utf-8"
            )
            page.locator("input[type=file]").set_input_files(str(upload))
            page.get_by_role("button", name="Preview").click()
            expect(page.get_by_text("Phone", exact=False).first).to_be_visible()
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / "import_preview.en.png"), full_page=True)
            page.get_by_role("button", name="Run import").click()
            # The server here runs no job worker: the import waits in the queue, and the history shows it.
            expect(page.locator(".q-table").get_by_text("Queued", exact=True)).to_be_visible()
            with db.unit_of_work() as session:
                boss = session.scalar(select(StaffUser).where(StaffUser.username == "boss"))
                assert boss is not None
                auth_service.set_language(session, boss.id, "zh-CN")
            page.goto(f"{live_server}/imports")
            expect(page.locator(".q-table").get_by_text("排队中", exact=True)).to_be_visible()
            page.screenshot(path=str(shots / "imports_queued.zh-CN.png"), full_page=True)
        finally:
            browser.close()
