"""The API docs render in chromium with no network but this host's: Swagger UI comes from the
installed package (fastapi-offline), not a CDN that mainland China may not reach.

Two walls stand between the page and the internet: chromium resolves every other host name to
nothing (`--host-resolver-rules`), and every request that leaves 127.0.0.1 is aborted and recorded.
The test fails on any such request, and unless Swagger UI drew the operations of the schema.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route, expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS

pytestmark = pytest.mark.browser

OFFLINE_ARGS = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def test_docs_render_swagger_ui_without_internet(live_server: str, chromium_path: Path) -> None:
    leaving: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=OFFLINE_ARGS)
        try:
            page = browser.new_page()

            def keep_local(route: Route) -> None:
                if urlsplit(route.request.url).hostname == "127.0.0.1":
                    route.continue_()
                else:
                    leaving.append(route.request.url)
                    route.abort("internetdisconnected")

            page.route("**/*", keep_local)
            answer = page.goto(f"{live_server}/docs")
            assert answer is not None
            assert answer.status == 200
            expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=30_000)
            customers = page.locator(".swagger-ui .opblock-summary-path", has_text="/api/v1/customers")
            expect(customers.first).to_be_visible()
            assert page.locator(".swagger-ui .opblock").count() > 50  # the whole API, not one group
        finally:
            browser.close()
    assert leaving == []
