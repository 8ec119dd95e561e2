"""The customer page's timeline names each order's status from the catalogs."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login
from tests.factories import create_customer, create_staff, post_order

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)


async def test_cancelled_and_returned_orders_read_as_such(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        customer = create_customer(session, name="张伟", phone="13800138000")
        post_order(session, customer_id=customer.id, amount="88.00", external_id="A", store="SH-01")
        post_order(session, customer_id=customer.id, amount="99.00", external_id="B", store="SH-02", status="已取消")
        post_order(session, customer_id=customer.id, amount="77.00", external_id="C", store="SH-03", status="退货")
    await login(console, "boss")
    await console.open(f"/customers/{customer.id}")
    (column,) = console.find(marker="timeline-items").elements
    texts = [el.text for el in column.descendants() if isinstance(el, ui.label)]
    for store, status in (("SH-01", "已完成"), ("SH-02", "已取消"), ("SH-03", "已退款")):
        assert any(f"状态：{status}" in t and f"门店：{store}" in t for t in texts), (store, texts)
