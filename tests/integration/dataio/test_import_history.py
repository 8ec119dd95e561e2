"""The import side of the history choices (`dataio.history.HistoryPass`), driven as the runner
drives it: each batch's created orders fed in the batch's transaction, a dry run's batches
rolled back, the figures after the last batch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from guanxi.dataio import history as import_history
from guanxi.dataio.import_orders import OrderImporter
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.orders import bulk_import
from tests.factories import create_customer

from .support import data_counts

NOW = datetime(2025, 6, 15, 4, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def _batches(customers: dict[str, str]) -> list[list[bulk_import.OrderRecord]]:
    """Two batches; 张伟's orders split over both and out of time order."""
    rows = [
        [("A3", "张伟", "6000.00", "2024-03-01T10:00:00+08:00"), ("B1", "李娜", "300.00", "2025-05-01T10:00:00+08:00")],
        [
            ("A1", "张伟", "1500.00", "2023-01-10T10:00:00+08:00"),
            ("A2", "张伟", "1000.00", "2023-06-01T10:00:00+08:00"),
        ],
    ]
    batches = []
    line = 2
    for batch in rows:
        records = []
        for key, name, amount, at in batch:
            values = {
                "external_id": key,
                "customer_id": customers[name],
                "paid_amount": Decimal(amount),
                "occurred_at": datetime.fromisoformat(at),
            }
            record = bulk_import.validate(line, values)
            assert isinstance(record, bulk_import.OrderRecord)
            records.append(record)
            line += 1
        batches.append(records)
    return batches


def _run(db: Database, choice: str, *, dry_run: bool, customers: dict[str, str]) -> dict[str, object]:
    history_pass = import_history.HistoryPass(choice, dry_run=dry_run, job_id="job-1")
    try:
        for records in _batches(customers):
            with db.unit_of_work() as session:
                savepoint = session.begin_nested() if dry_run else None
                outcomes = OrderImporter().apply(session, SYSTEM, records, job_id="job-1", options={})
                history_pass.add_batch(session, records, outcomes)
                if savepoint is not None:
                    savepoint.rollback()
        return history_pass.finish(db, SYSTEM)
    finally:
        history_pass.close()


@pytest.mark.parametrize("choice", ["record", "tiers", "points"])
def test_the_dry_run_figures_are_what_the_real_run_does(db: Database, choice: str) -> None:
    with db.unit_of_work() as session:
        customers = {
            "张伟": create_customer(session, name="张伟", phone="13800138000").id,
            "李娜": create_customer(session, name="李娜", phone="13900139000").id,
        }
    before = data_counts(db)
    dry = _run(db, choice, dry_run=True, customers=customers)
    assert data_counts(db) == before
    real = _run(db, choice, dry_run=False, customers=customers)
    assert dry == real
    expected = {
        "record": (0, 0, {"basic": 2}, 0),
        "tiers": (0, 0, {"basic": 1, "gold": 1}, 2),
        # 1500 + 1000 at basic, 6000 x 1.2 at silver; 300 at basic; the first three past their day
        "points": (10000, 9700, {"basic": 1, "gold": 1}, 2),
    }[choice]
    figures = real["history"]
    assert isinstance(figures, dict)
    assert (
        figures["points_awarded"],
        figures["expire_at_next_run"],
        figures["tiers"],
        figures["upgrades"],
        figures["members"],
        figures["orders"],
    ) == (*expected, 2, 0 if choice == "record" else 4)
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []
