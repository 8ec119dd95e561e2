"""The CDNOW transaction history as a new user has it: whitespace-separated, no names, no order
numbers, one row per purchase. Its customers come from the same file (each repeated on every row
of theirs), its orders are derived from customer and day. Fixtures in tests/fixtures/imports/."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.customers.normalize import display_name
from guanxi.dataio import service
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.orders.models import Order, OrderLine

from .support import data_counts, run_import

FIXTURES = Path(__file__).parents[2] / "fixtures" / "imports"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name in ("cdnow.txt", "cdnow_customers.mapping.json", "cdnow_orders.mapping.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path


def _mapping(db: Database, path: Path, kind: str) -> service.Mapping:
    with db.unit_of_work(read_only=True) as session:
        return service.resolve_mapping(session, SYSTEM, str(path), kind)


def test_customers_without_names_come_from_the_transaction_file(db: Database, files: Path) -> None:
    mapping = _mapping(db, files / "cdnow_customers.mapping.json", "customers")
    job = run_import(db, "customers", files / "cdnow.txt", mapping=mapping)
    # six rows, three customers: each later row of a customer repeats the first, it is no error
    assert (job.status, job.rows_read, job.created, job.repeated, job.rejected) == ("done", 6, 3, 3, 0)
    with db.unit_of_work(read_only=True) as session:
        customers = list(session.scalars(select(Customer).order_by(Customer.member_no)))
        external = sorted((i.namespace, i.value_index is not None) for i in session.scalars(select(CustomerIdentity)))
        shown = [(c.name, display_name(c.name, c.member_no) == c.member_no) for c in customers]
    assert shown == [("", True)] * 3  # shown by their member number
    assert external == [("cdnow", True)] * 3


def test_orders_are_derived_from_customer_and_day_and_rerun_changes_nothing(db: Database, files: Path) -> None:
    run_import(
        db, "customers", files / "cdnow.txt", mapping=_mapping(db, files / "cdnow_customers.mapping.json", "customers")
    )
    mapping = _mapping(db, files / "cdnow_orders.mapping.json", "orders")
    job = run_import(db, "orders", files / "cdnow.txt", mapping=mapping)
    assert (job.status, job.rows_read, job.created, job.rejected) == ("done", 6, 6, 0)
    assert job.report is not None and job.report["records"] == {"created": 5, "unchanged": 0, "rejected": 0}
    with db.unit_of_work(read_only=True) as session:
        orders = {o.external_id: o.paid_amount for o in session.scalars(select(Order))}
        lines = session.execute(
            select(Order.external_id, OrderLine.quantity, OrderLine.unit_price).join(
                OrderLine, OrderLine.order_id == Order.id
            )
        ).all()
    assert orders == {
        "00001-19970101": Decimal("11.77"),
        "00002-19970112": Decimal("89.00"),  # two purchases that day: one order of two lines
        "00003-19970102": Decimal("20.76"),
        "00003-19970330": Decimal("20.76"),
        "00003-19970402": Decimal("19.54"),
    }
    assert sum(orders.values(), Decimal(0)) == Decimal("161.83")  # the file's total, exactly
    assert sorted(q for key, q, _ in lines if key == "00002-19970112") == [1, 5]
    before = data_counts(db)
    again = run_import(db, "orders", files / "cdnow.txt", mapping=mapping)
    assert (again.created, again.unchanged, again.rejected) == (0, 6, 0)
    assert data_counts(db) == before
