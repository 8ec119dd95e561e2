"""The customer page in chromium: every tab drawn at desktop width and on a phone (390 px), with
screenshots of each, and nothing wider than the phone's screen but the tables, which scroll."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from guanxi.customers import events, identity_service
from guanxi.customers.schemas import IdentityIn
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from tests.browser.conftest import CHROMIUM_ARGS, output_dir
from tests.factories import PASSWORD, create_customer, create_staff, post_order
from tests.integration.loyalty import coupon_helpers

pytestmark = pytest.mark.browser

# Each tab and a text that shows it has drawn its content.
TABS = {
    "overview": "客户时间线",
    "orders": "实付金额",
    "points": "积分明细",
    "coupons": "满100减20",
    "behaviour": "行为记录",
    "notes": "还没有备注。",
    "history": "创建客户",
    "access": "显示完整信息",
}


def _seed(db: Database) -> str:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        customer = create_customer(
            session,
            name="钟艳欣",
            phone="15115232214",
            email="zhongyanxin243@sina.com",
            city="郑州",
            source_channel="jd",
            tags=["母婴", "运动"],
        )
        identity_service.add_identity(
            session, SYSTEM, customer.id, IdentityIn(kind="external_id", value="jd_79367429998", namespace="jd")
        )
        start = datetime.now(UTC) - timedelta(days=30)
        for i, (amount, store) in enumerate((("116.10", "ZZ-01"), ("1563.70", None), ("745.20", "ZZ-01"))):
            post_order(
                session,
                customer_id=customer.id,
                amount=amount,
                external_id=f"B{i}",
                store=store,
                channel="store" if store else "jd",
                occurred_at=start + timedelta(days=7 * i),
            )
        events.ingest(
            session,
            SYSTEM,
            [
                {
                    "event_id": "e1",
                    "type": "product_view",
                    "occurred_at": (start + timedelta(days=2)).isoformat(),
                    "customer_id": customer.id,
                    "channel": "mini_program",
                    "properties": {"sku": "SH-RUN-01", "category": "运动鞋", "price": 599},
                },
            ],
        )
    coupon_helpers.issue(db, coupon_helpers.template(db), customer.id)
    return customer.id


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("用户名").fill("boss")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/$"))


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)])
def test_every_tab_draws_and_fits(db: Database, live_server: str, chromium_path: Path, width: int, height: int) -> None:
    customer_id = _seed(db)
    shots = output_dir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, locale="zh-CN")
            _sign_in(page, live_server)
            for tab, sign in TABS.items():
                page.goto(f"{live_server}/customers/{customer_id}?tab={tab}")
                expect(page.get_by_text("钟艳欣", exact=True).first).to_be_visible()
                expect(page.get_by_text(sign, exact=True).first).to_be_visible()
                page.screenshot(path=str(shots / f"customer_{tab}_{width}.png"), full_page=True)
                # Only a table may be wider than the screen (it scrolls inside itself).
                overflow = page.evaluate("document.documentElement.scrollWidth")
                assert overflow <= width, f"{tab} at {width} px is {overflow} px wide"
            page.goto(f"{live_server}/customers/{customer_id}?tab=orders")
            expect(page.get_by_text("¥1,563.70")).to_be_visible()
            page.goto(f"{live_server}/customers/{customer_id}?tab=coupons")
            expect(page.get_by_text("满100减20")).to_be_visible()
        finally:
            browser.close()
    assert (shots / f"customer_overview_{width}.png").stat().st_size > 10_000
