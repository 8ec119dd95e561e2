"""Chromium itself reads every destination `safe_next` accepts as a URL on the console's origin.

The values are the attack list and the local destinations of tests/console/test_next_path.py,
plus a fixed-seed sample of its generated values; chromium resolves each accepted one against a
console page with `new URL` (what `window.location` assignment, and so `ui.navigate.to`, uses).
The report's value is also followed for real: after login the browser stays on the console.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from playwright.sync_api import expect, sync_playwright

from guanxi.console.session import safe_next
from guanxi.kit.db import Database
from tests.browser.conftest import CHROMIUM_ARGS
from tests.console.test_next_path import ATTACKS, LOCAL, VALUES
from tests.factories import PASSWORD, create_staff

pytestmark = pytest.mark.browser

BASE = "http://console.test:8000/customers/01J0000000000000000000000A"
RESOLVE = "([targets, base]) => targets.map((t) => { try { return new URL(t, base).origin } catch { return 'none' } })"


def _sample(count: int) -> list[str]:
    drawn: list[str] = []

    @settings(derandomize=True, database=None, max_examples=count, suppress_health_check=list(HealthCheck))
    @given(VALUES)
    def draw(value: str) -> None:
        drawn.append(value)

    draw()
    return drawn


def test_chromium_keeps_every_accepted_destination_on_the_origin(chromium_path: Path) -> None:
    values = [*ATTACKS, *LOCAL, *_sample(1500)]
    accepted = sorted({safe_next(value) for value in values})
    assert "/customers?q=张伟" in accepted and "/" in accepted
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            origins = page.evaluate(RESOLVE, [accepted, BASE])
        finally:
            browser.close()
    leaving = [target for target, origin in zip(accepted, origins, strict=True) if origin != "http://console.test:8000"]
    assert leaving == []


def test_the_reported_link_keeps_the_browser_on_the_console(
    db: Database, live_server: str, chromium_path: Path
) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="wang", role="service")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(locale="zh-CN")
            page.goto(f"{live_server}/login?next=/%09/127.0.0.2:8619/phish")
            page.get_by_label("用户名").fill("wang")
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            expect(page).to_have_url(f"{live_server}/")
            expect(page.get_by_text("客户总数")).to_be_visible()
            assert not re.search(r"127\.0\.0\.2", page.url)
        finally:
            browser.close()
