"""Drive the loyalty part of the console in chromium: a customer with orders shows the member card
and the statement; the adjust dialog opens; screenshots of the customer page and the liability page."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from guanxi.kit import clock
from guanxi.kit.db import Database
from tests.browser.conftest import CHROMIUM_ARGS, output_dir
from tests.factories import PASSWORD, create_customer, create_staff, post_order

pytestmark = pytest.mark.browser


def _seed(db: Database) -> str:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="manager", region="华东")
        zhang = create_customer(session, name="张伟", phone="13800138000", city="上海", region="华东")
        start = clock.now() - timedelta(days=60)
        for i, amount in enumerate(("1200.00", "680.00", "2350.00")):
            post_order(
                session,
                customer_id=zhang.id,
                amount=amount,
                external_id=f"POS-{i + 1}",
                occurred_at=start + timedelta(days=20 * i),
                store="SH-01",
            )
        return zhang.id


def _sign_in(page: Page, base: str, target: str) -> None:
    page.goto(f"{base}{target}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("用户名").fill("boss")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}{target}")


def test_member_card_and_statement_on_the_customer_page(db: Database, live_server: str, chromium_path: Path) -> None:
    customer_id = _seed(db)
    shots = output_dir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            _sign_in(page, live_server, f"/customers/{customer_id}")
            page.get_by_role("tab", name="积分").click()  # the member card lives on the 积分 tab
            expect(page.get_by_text("会员卡", exact=True)).to_be_visible()
            expect(page.get_by_text("银卡会员").first).to_be_visible()  # 4,230 growth: silver
            expect(page.get_by_text("4,230").first).to_be_visible()
            expect(page.get_by_text("积分明细", exact=True)).to_be_visible()
            statement = page.locator(".q-table").filter(has_text="余额").first
            expect(statement.locator("tbody tr")).to_have_count(3)
            expect(statement.locator("tbody tr").first).to_contain_text("+2,350")
            page.screenshot(path=str(shots / "member_card.png"), full_page=True)
            page.get_by_role("button", name="调整积分").click()
            expect(page.get_by_role("dialog")).to_be_visible()
            page.screenshot(path=str(shots / "adjust_dialog.png"))
            page.get_by_role("button", name="取消").click()
            page.get_by_role("link", name="会员计划").click()
            expect(page).to_have_url(f"{live_server}/loyalty/program")
            page.get_by_role("button", name="积分负债").click()
            expect(page).to_have_url(f"{live_server}/loyalty/liability")
            expect(page.locator("canvas").first).to_be_visible()
            page.wait_for_timeout(800)  # let the chart animation settle before the screenshot
            page.screenshot(path=str(shots / "liability.png"), full_page=True)
        finally:
            browser.close()
    assert (shots / "member_card.png").stat().st_size > 10_000
