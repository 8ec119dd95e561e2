"""The orders list and an order's page in chromium, with demo-like orders (stores, channels, lines,
a refund, a cancellation, a coupon, an order paid in dollars), in both languages; screenshots
of each go to test-output/browser/."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from guanxi.auth import service as auth_service
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.catalog import till
from guanxi.loyalty.catalog.schemas import CouponRedeemIn
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders import status_changes
from guanxi.loyalty.program.schemas import RefundIn
from tests.browser.conftest import CHROMIUM_ARGS, output_dir
from tests.factories import PASSWORD, create_customer, create_staff, post_order, put_rates
from tests.integration.loyalty import coupon_helpers

pytestmark = pytest.mark.browser

PEOPLE = (("张伟", "上海"), ("李娜", "北京"), ("王芳", "上海"), ("刘洋", "广州"), ("陈静", "杭州"))
STORES = ("SH-01", "SH-02", "BJ-01", "GZ-01", "HZ-01")
CHANNELS = ("store", "mini_program", "tmall", "app", "jd", "douyin")
BASKETS = (
    [("SH-RUN-01", "鞋履", 1, "699.00"), ("AP-TEE-01", "服装", 2, "129.00")],
    [("BT-SERUM-01", "美妆", 1, "680.00")],
    [("MB-DIAPER-01", "母婴", 3, "199.00"), ("MB-ROMPER-04", "母婴", 1, "139.00")],
    [("FD-TEA-02", "食品", 2, "288.00"), ("HM-CUP-02", "家居", 2, "149.00")],
)


def _seed(db: Database) -> str:
    """A shop's last month: 26 orders; returns the id of an order with lines, a coupon and a refund."""
    template_id = coupon_helpers.template(db)
    now = clock.now()
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        english = create_staff(session, username="anna", role="admin")
        auth_service.set_language(session, english.id, "en")
        put_rates(session, ("USD", "7.1200", (now - timedelta(days=40)).date().isoformat(), None))
        people = [create_customer(session, name=name, city=city) for name, city in PEOPLE]
        featured = ""
        for n in range(26):
            basket = BASKETS[n % len(BASKETS)]
            lines = [{"sku": s, "category": c, "quantity": q, "unit_price": p} for s, c, q, p in basket]
            value = sum(Decimal(p) * q for _, _, q, p in basket)
            answer = post_order(
                session,
                customer_id=people[n % len(people)].id,
                amount=str(value - (20 if n == 0 else 0)),
                external_id=f"T{20261100 + n}",
                store=STORES[n % len(STORES)],
                channel=CHANNELS[n % len(CHANNELS)],
                occurred_at=now - timedelta(hours=7 * n + 1),
                lines=lines,
            )
            if n == 0:
                featured = answer.id
            elif n == 5:
                status_changes.cancel_order(session, SYSTEM, answer.id)
            elif n == 9:
                orders.refund_order(session, SYSTEM, answer.id, RefundIn(amount=Decimal("288.00")), f"r-{n}")
        post_order(session, customer_id=people[1].id, amount="199.00", currency="USD", external_id="US-1001",
                   store="BJ-01", channel="app", occurred_at=now - timedelta(hours=3))  # fmt: skip
        orders.refund_order(session, SYSTEM, featured, RefundIn(amount=Decimal("129.00")), "r-0")
    (coupon,) = coupon_helpers.issue(db, template_id, people[0].id)
    with db.unit_of_work() as session:
        till.redeem(
            session,
            SYSTEM,
            coupon.code,
            CouponRedeemIn(customer_id=people[0].id, order_amount=Decimal("957.00"), order_reference="T20261100"),
            "coupon-1",
        )
    return featured


def _sign_in(page: Page, base: str, target: str, username: str) -> None:
    page.goto(f"{base}{target}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.locator("input").nth(0).fill(username)
    page.locator("input[type=password]").fill(PASSWORD)
    page.locator("button").filter(has_text=re.compile("登录|Sign in|Log in")).click()
    expect(page).to_have_url(f"{base}{target}")


@pytest.mark.parametrize(("username", "language"), [("boss", "zh-CN"), ("anna", "en")])
def test_orders_list_and_order_page(
    db: Database, live_server: str, chromium_path: Path, username: str, language: str
) -> None:
    featured = _seed(db)
    shots = output_dir()
    chinese = language == "zh-CN"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, locale=language)
            _sign_in(page, live_server, "/orders", username)
            expect(page.get_by_text("共 27 条" if chinese else "27 in total").first).to_be_visible()
            expect(page.get_by_text("第 1 / 2 页" if chinese else "Page 1 of 2").first).to_be_visible()
            expect(page.locator(".q-table tbody tr")).to_have_count(20)
            page.screenshot(path=str(shots / f"orders-list-{language}.png"), full_page=True)
            page.goto(f"{live_server}/orders/{featured}")
            expect(page.get_by_text("订单 T20261100" if chinese else "Order T20261100")).to_be_visible()
            expect(page.get_by_text("满100减20")).to_be_visible()
            page.screenshot(path=str(shots / f"order-page-{language}.png"), full_page=True)
        finally:
            browser.close()
