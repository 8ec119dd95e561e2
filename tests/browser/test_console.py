"""Drive the console in chromium: sign in, find 张伟, open the customer page, take screenshots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from guanxi.kit.db import Database
from tests.browser.conftest import CHROMIUM_ARGS, output_dir
from tests.factories import PASSWORD, create_customer, create_staff

pytestmark = pytest.mark.browser


def _seed(db: Database) -> str:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        zhang = create_customer(
            session,
            name="张伟",
            phone="13800138000",
            email="zhang.wei@example.com",
            city="上海",
            region="华东",
            tags=["VIP"],
        )
        create_customer(session, name="李娜", phone="13912345678", city="上海", region="华东")
        create_customer(session, name="王芳", city="杭州", region="华东")
        create_customer(session, name="刘洋", city="北京", region="华北")
        create_customer(session, name="陈静", city="深圳", region="华南")
        return zhang.id


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/customers")
    expect(page).to_have_url(re.compile(r"/login\?next=/customers$"))
    page.get_by_label("用户名").fill("wang")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/customers")


def test_find_a_customer_and_open_the_page(db: Database, live_server: str, chromium_path: Path) -> None:
    customer_id = _seed(db)
    shots = output_dir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            _sign_in(page, live_server)
            expect(page.get_by_text("共 5 位客户")).to_be_visible()
            search = page.get_by_placeholder(re.compile("姓名、拼音"))
            search.fill("张伟")
            search.press("Enter")
            expect(page.get_by_text("共 1 位客户")).to_be_visible()
            expect(page.locator("tbody tr")).to_have_count(1)
            page.screenshot(path=str(shots / "customer_list.png"), full_page=True)
            page.get_by_role("link", name="张伟").click()
            expect(page).to_have_url(f"{live_server}/customers/{customer_id}")
            expect(page.get_by_text("张伟", exact=True).first).to_be_visible()
            # the header shows the masked phone; the history and identities repeat it
            expect(page.get_by_text("138****8000", exact=True).first).to_be_visible()
            expect(page.get_by_text("13800138000")).to_have_count(0)
            page.screenshot(path=str(shots / "customer_page.png"), full_page=True)
            page.get_by_role("link", name="首页").click()
            expect(page).to_have_url(f"{live_server}/")
            expect(page.locator("canvas").first).to_be_visible()
            page.wait_for_timeout(800)  # let the chart animation settle before the screenshot
            page.screenshot(path=str(shots / "home.png"), full_page=True)
        finally:
            browser.close()
    assert (shots / "customer_page.png").stat().st_size > 10_000
