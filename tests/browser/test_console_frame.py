"""The console's frame in chromium at a laptop's and a phone's width: the header stays on one line,
the drawer sits beside the page at 1024 px and opens over it at 390 px, the search answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from guanxi.kit.db import Database
from tests.browser.conftest import CHROMIUM_ARGS, output_dir
from tests.factories import PASSWORD, create_customer, create_staff

pytestmark = pytest.mark.browser

ONE_LINE = 64  # px: the header's height when nothing in it wraps


def _seed(db: Database) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="admin")
        create_customer(session, name="张伟", phone="13800138000", city="上海", region="华东", tags=["VIP"])
        create_customer(session, name="李娜", phone="13912345678", city="上海", region="华东")
        create_customer(session, name="王芳", city="杭州", region="华东")


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill("wang")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{base}/")


def _header_height(page: Page) -> float:
    box = page.locator(".q-header").bounding_box()
    assert box is not None
    return float(box["height"])


def test_the_frame_at_1024_and_390_px(db: Database, live_server: str, chromium_path: Path) -> None:
    _seed(db)
    shots = output_dir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 768}, locale="zh-CN")
            _sign_in(page, live_server)
            expect(page.get_by_text("客户总数")).to_be_visible()
            expect(page.locator(".q-drawer").get_by_text("重复客户")).to_be_visible()
            assert _header_height(page) < ONE_LINE
            expect(page).to_have_title("概览 · guanxi")
            page.wait_for_timeout(800)  # the charts animate in; the picture is for people to look at
            page.screenshot(path=str(shots / "frame_home_1024.png"), full_page=True)
            search = page.get_by_placeholder("搜索客户")
            search.fill("zhangwei")
            expect(page.locator(".q-menu").get_by_text("13800138000", exact=False)).to_be_visible()
            page.wait_for_timeout(400)
            page.screenshot(path=str(shots / "frame_search_1024.png"))
            search.press("ArrowDown")  # into the dropdown; Enter there opens the customer
            page.keyboard.press("Enter")
            expect(page).to_have_url(re.compile(r"/customers/\w+$"))
            page.goto(f"{live_server}/")
            search = page.get_by_placeholder("搜索客户")
            search.fill("zhangwei")
            expect(page.locator(".q-menu").get_by_text("张伟")).to_be_visible()
            search.press("Enter")
            expect(page).to_have_url(re.compile(r"/customers\?q=zhangwei$"))
            expect(page).to_have_title("客户 · guanxi")
            expect(page.locator("tbody tr")).to_have_count(1)
            page.screenshot(path=str(shots / "frame_customers_1024.png"), full_page=True)

            phone = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
            _sign_in(phone, live_server)
            expect(phone.get_by_text("客户总数")).to_be_visible()
            assert _header_height(phone) < ONE_LINE
            expect(phone.locator(".q-drawer").get_by_text("重复客户")).not_to_be_visible()
            phone.screenshot(path=str(shots / "frame_home_390.png"), full_page=True)
            phone.locator(".q-header button").first.click()
            expect(phone.locator(".q-drawer").get_by_text("重复客户")).to_be_visible()
            phone.wait_for_timeout(500)  # the drawer slides in; the picture is for people to look at
            phone.screenshot(path=str(shots / "frame_drawer_390.png"))
            phone.keyboard.press("Escape")
            phone.goto(f"{live_server}/")
            phone.get_by_placeholder("搜索客户").fill("li")
            expect(phone.locator(".q-menu").get_by_text("李娜")).to_be_visible()
            phone.wait_for_timeout(400)  # the dropdown fades in
            phone.screenshot(path=str(shots / "frame_search_390.png"))
            phone.goto(f"{live_server}/customers")
            expect(phone.locator("tbody tr")).to_have_count(3)
            phone.screenshot(path=str(shots / "frame_customers_390.png"), full_page=True)
        finally:
            browser.close()
