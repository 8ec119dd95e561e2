"""The warehouse copies what changed, once, and resumes where it stopped."""

from __future__ import annotations

from decimal import Decimal

import pytest

from guanxi.analytics.warehouse import sync as sync_module
from guanxi.analytics.warehouse.store import Warehouse
from guanxi.analytics.warehouse.sync import ALL_FEEDS, sync
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.loyalty.orders import service as order_service
from tests.integration.analytics.conftest import buy, customer

ORDERS = next(f for f in ALL_FEEDS if f.name == "orders")


def _rows(warehouse: Warehouse, sql: str) -> list[tuple[object, ...]]:
    return warehouse.connection.execute(sql).fetchall()


def test_a_second_sync_with_nothing_changed_changes_nothing(db: Database, frozen: clock.FrozenClock) -> None:
    zhang = customer(db)
    buy(db, zhang, "100.00", 10, 1)
    buy(db, zhang, "50.00", 3, 2)
    warehouse = Warehouse()
    try:
        first = sync(db, warehouse)
        assert first.as_dict()["feeds"]["orders"] == {"rows": 2, "pages": 1}
        assert first.as_dict()["feeds"]["customers"]["rows"] == 1
        before = _rows(warehouse, "SELECT id, paid_amount, refunded_amount FROM orders ORDER BY id")
        sync(db, warehouse)
        assert _rows(warehouse, "SELECT id, paid_amount, refunded_amount FROM orders ORDER BY id") == before
        assert warehouse.count("orders") == 2
        assert warehouse.count("customers") == 1
    finally:
        warehouse.close()


def test_a_refund_after_a_sync_reaches_the_warehouse(db: Database, frozen: clock.FrozenClock) -> None:
    from datetime import timedelta

    zhang = customer(db)
    order_id = buy(db, zhang, "100.00", 10, 1)
    warehouse = Warehouse()
    try:
        sync(db, warehouse)
        frozen.advance(timedelta(hours=2))
        with db.unit_of_work() as session:
            from guanxi.kit.principal import SYSTEM
            from guanxi.loyalty.program.schemas import RefundIn

            order_service.refund_order(session, SYSTEM, order_id, RefundIn.model_validate({"amount": "30.00"}), "r-1")
        report = sync(db, warehouse)
        assert report.as_dict()["feeds"]["orders"]["rows"] == 1
        assert _rows(warehouse, "SELECT paid_amount, refunded_amount, status FROM orders") == [
            (Decimal("100.00"), Decimal("30.00"), "partially_refunded")
        ]
    finally:
        warehouse.close()


def test_a_sync_stopped_after_a_page_resumes_at_the_next_one(
    db: Database, frozen: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    zhang = customer(db)
    for n in range(5):
        buy(db, zhang, "10.00", 20 - n, n)
    warehouse = Warehouse()
    calls = {"pages": 0}
    real = sync_module._arrow_table

    def failing_after_two(feed, rows):  # type: ignore[no-untyped-def]
        calls["pages"] += 1
        if calls["pages"] == 3:
            raise RuntimeError("the process died")
        return real(feed, rows)

    try:
        monkeypatch.setattr(sync_module, "_arrow_table", failing_after_two)
        with pytest.raises(RuntimeError):
            sync(db, warehouse, [ORDERS], page_rows=2)
        assert warehouse.count("orders") == 4  # two pages of two stored, with their state
        state = warehouse.state(ORDERS)
        assert state.in_pass and state.rows == 4
        monkeypatch.setattr(sync_module, "_arrow_table", real)
        resumed = sync(db, warehouse, [ORDERS], page_rows=2)
        assert resumed.feeds[0].resumed is True
        assert resumed.feeds[0].rows == 1
        assert warehouse.count("orders") == 5
        assert not warehouse.state(ORDERS).in_pass
    finally:
        warehouse.close()
