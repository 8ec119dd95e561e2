"""The console and the API docs work in chromium under their Content-Security-Policy.

Every `securitypolicyviolation` event and every console message that mentions the policy is
collected from the first page on; the walk signs in, searches the customer list, opens a customer
page, adds a note (an action over the socket) and opens the API docs. Any violation fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright
from sqlalchemy import select

from guanxi.api.security_headers import CONSOLE_POLICY, DOCS_POLICY
from guanxi.customers.models import CustomerNote
from guanxi.kit.db import Database
from tests.browser.conftest import CHROMIUM_ARGS
from tests.factories import PASSWORD, create_customer, create_staff

pytestmark = pytest.mark.browser

# Runs before any page script: records what the policy blocked, in the page itself.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${where}`);
});
"""


def _violations(page: Page, messages: list[str]) -> list[str]:
    recorded = page.evaluate("window.__violations || []")
    return [*recorded, *(m for m in messages if "Content Security Policy" in m or "Content-Security-Policy" in m)]


@contextmanager
def watched_page(chromium_path: Path) -> Iterator[tuple[Page, list[str]]]:
    """A chromium page that records policy violations, and the console messages it logs."""
    messages: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
            context.add_init_script(RECORD_VIOLATIONS)
            page = context.new_page()

            def remember(message: ConsoleMessage) -> None:
                messages.append(f"{message.type}: {message.text}")

            page.on("console", remember)
            yield page, messages
        finally:
            browser.close()


def test_console_and_docs_run_under_the_policy(db: Database, live_server: str, chromium_path: Path) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
        customer = create_customer(session, name="张伟", phone="13800138000", city="上海", region="华东")
        create_customer(session, name="李娜", city="上海", region="华东")
        customer_id = customer.id
    with watched_page(chromium_path) as (page, messages):
        first = page.goto(f"{live_server}/customers")
        assert first is not None
        assert first.headers["content-security-policy"] == CONSOLE_POLICY  # the login page, after the redirect
        expect(page).to_have_url(re.compile(r"/login\?next=/customers$"))
        assert _violations(page, messages) == []
        page.get_by_label("用户名").fill("wang")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(f"{live_server}/customers")
        expect(page.get_by_text("共 2 位客户")).to_be_visible()
        search = page.get_by_placeholder(re.compile("姓名、拼音"))
        search.fill("张伟")
        search.press("Enter")
        expect(page.get_by_text("共 1 位客户")).to_be_visible()
        assert _violations(page, messages) == []

        page.get_by_role("link", name="张伟").click()
        expect(page).to_have_url(f"{live_server}/customers/{customer_id}")
        expect(page.get_by_text("138****8000", exact=True).first).to_be_visible()
        page.get_by_role("button", name="添加备注").first.click()  # the header's: opens the 备注 tab
        page.get_by_label("写一条备注").fill("CSP 下也能保存")
        page.get_by_role("button", name="添加备注").last.click()  # the tab's own, under the text box
        expect(page.get_by_text("CSP 下也能保存")).to_be_visible()
        assert _violations(page, messages) == []

        page.get_by_role("link", name="首页").click()
        expect(page).to_have_url(f"{live_server}/")
        expect(page.locator("canvas").first).to_be_visible()  # the charts draw
        assert _violations(page, messages) == []

        docs = page.goto(f"{live_server}/docs")
        assert docs is not None
        assert docs.headers["content-security-policy"] == DOCS_POLICY
        expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=30_000)  # a big schema
        expect(page.get_by_text("/api/v1/customers", exact=True).first).to_be_visible()
        assert _violations(page, messages) == []
    with db.unit_of_work(read_only=True) as session:
        assert session.scalars(select(CustomerNote.body)).all() == ["CSP 下也能保存"]


def test_an_upload_passes_the_policy_and_the_origin_check(
    db: Database, live_server: str, chromium_path: Path, tmp_path: Path
) -> None:
    """NiceGUI's upload is the console's one plain HTTP POST: from the console's own page it goes through."""
    with db.unit_of_work() as session:
        create_staff(session, username="root", role="admin")
    upload = tmp_path / "会员.csv"
    upload.write_text("姓名,手机\n张伟,13800138000\n", encoding="utf-8")
    with watched_page(chromium_path) as (page, messages):
        posts: list[int] = []
        page.on("response", lambda r: posts.append(r.status) if r.request.method == "POST" else None)
        page.goto(f"{live_server}/imports")
        page.get_by_label("用户名").fill("root")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(f"{live_server}/imports")
        page.locator("input[type=file]").set_input_files(str(upload))
        expect(page.get_by_text("会员.csv 的列：请确认每一列对应的字段。")).to_be_visible(timeout=15_000)
        assert posts == [200]  # the upload itself, not refused as cross-site
        assert _violations(page, messages) == []
