"""A shop's order-line export goes in with one mapping file and no conversion: the shop's own
customer ids, its order statuses, US dollars converted with the rate table, no order number (one
derived from customer and date), several lines per order. The fixture files are in
tests/fixtures/imports/."""

from __future__ import annotations

import csv
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from guanxi.customers.schemas import IdentityIn
from guanxi.dataio import service
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.currency import service as rates
from guanxi.loyalty.orders.models import Order, OrderLine, Refund
from guanxi.loyalty.program.models import PointEntry
from tests.factories import create_customer

from .support import data_counts, error_lines, run_import

FIXTURES = Path(__file__).parents[2] / "fixtures" / "imports"


@pytest.fixture
def shop(db: Database, tmp_path: Path) -> dict[str, str]:
    """The shop's three customers, known by the shop's ids, and the dollar's rates."""
    ids = {}
    with db.unit_of_work() as session:
        for external_id, name in (("C001", "张伟"), ("C002", "李娜"), ("C003", "王芳")):
            ident = IdentityIn(kind="external_id", namespace="eshop", value=external_id)
            ids[external_id] = create_customer(session, name=name, identities=[ident]).id
        rates.load_csv(session, SYSTEM, (FIXTURES / "usd_rates.csv").read_bytes(), source="usd_rates.csv")
    for name in ("shop_order_lines.csv", "shop_orders.mapping.json"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return ids


def _mapping(db: Database, tmp_path: Path) -> service.Mapping:
    with db.unit_of_work(read_only=True) as session:
        return service.resolve_mapping(session, SYSTEM, str(tmp_path / "shop_orders.mapping.json"), "orders")


def test_the_shops_export_goes_in_with_one_mapping_file(db: Database, tmp_path: Path, shop: dict[str, str]) -> None:
    job = run_import(db, "orders", tmp_path / "shop_order_lines.csv", mapping=_mapping(db, tmp_path))
    # 7 lines: 5 lines of 4 orders go in (2 lines make order C001-2024-03-05), C004 is nobody,
    # and no dollar rate covers 2023-12-01.
    assert (job.status, job.rows_read, job.created, job.rejected, job.repeated) == ("done", 7, 5, 2, 0)
    assert job.report is not None and job.report["records"] == {"created": 4, "unchanged": 0, "rejected": 2}
    with db.unit_of_work(read_only=True) as session:
        orders = {o.external_id: o for o in session.scalars(select(Order))}
        lines = session.execute(select(OrderLine.order_id, OrderLine.sku, OrderLine.unit_price)).all()
        refunds = list(session.scalars(select(Refund)))
        entries = session.scalar(select(func.count()).select_from(PointEntry))
        session.expunge_all()
    assert {k: (o.customer_id, o.status, o.currency, o.paid_amount, o.refunded_amount) for k, o in orders.items()} == {
        # 44.98 USD at 7.10 (the rate from 2024-01-01)
        "C001-2024-03-05": (shop["C001"], "completed", "CNY", Decimal("319.36"), Decimal("0.00")),
        "C002-2024-03-06": (shop["C002"], "cancelled", "CNY", Decimal("8520.00"), Decimal("0.00")),
        # 30 USD at 7.20 (the rate from 2024-04-01), all of it given back
        "C002-2024-04-02": (shop["C002"], "refunded", "CNY", Decimal("216.00"), Decimal("216.00")),
        "C003-2024-04-10": (shop["C003"], "completed", "CNY", Decimal("2160.00"), Decimal("0.00")),
    }
    assert {k: (o.original_currency, o.original_amount, o.exchange_rate) for k, o in orders.items()} == {
        "C001-2024-03-05": ("USD", Decimal("44.98"), Decimal("7.10000000")),
        "C002-2024-03-06": ("USD", Decimal("1200.00"), Decimal("7.10000000")),
        "C002-2024-04-02": ("USD", Decimal("30.00"), Decimal("7.20000000")),
        "C003-2024-04-10": ("USD", Decimal("300.00"), Decimal("7.20000000")),
    }
    # The completed orders' totals are the file's, exactly: 19.98 + 25.00 + 300.00 dollars.
    completed = [o for o in orders.values() if o.status == "completed"]
    assert sum((o.original_amount or Decimal(0) for o in completed), Decimal(0)) == Decimal("344.98")
    two_lines = orders["C001-2024-03-05"].id
    assert sorted((sku, price) for oid, sku, price in lines if oid == two_lines) == [
        ("Charger", Decimal("177.50")),
        ("USB-C Cable", Decimal("70.93")),
    ]
    assert [(r.order_id, r.amount, r.policy, r.points_reversed) for r in refunds] == [
        (orders["C002-2024-04-02"].id, Decimal("216.00"), "imported", 0)
    ]
    assert entries == 0  # history earns nothing by default
    reasons = sorted((r[0], r[-1]) for r in csv.reader(error_lines(job)[1:]))
    assert reasons == [
        ("7", "external_id: no customer has this external_id"),
        (
            "8",
            "currency: no exchange rate covers the order's day, load one with `guanxi rates load` (got USD 2023-12-01)",
        ),
    ]
    assert job.reasons == {
        "external_id: no customer has this external_id": 1,
        "currency: no exchange rate covers the order's day, load one with `guanxi rates load`": 1,
    }


def test_a_rerun_of_the_export_changes_nothing(db: Database, tmp_path: Path, shop: dict[str, str]) -> None:
    mapping = _mapping(db, tmp_path)
    run_import(db, "orders", tmp_path / "shop_order_lines.csv", mapping=mapping)
    before = data_counts(db)
    again = run_import(db, "orders", tmp_path / "shop_order_lines.csv", mapping=mapping)
    assert (again.created, again.unchanged, again.rejected) == (0, 5, 2)
    assert data_counts(db) == before


def test_a_value_map_to_a_status_that_does_not_exist_is_refused_before_the_first_row(
    db: Database, tmp_path: Path, shop: dict[str, str]
) -> None:
    from guanxi.kit.errors import DomainError

    bad = tmp_path / "bad.mapping.json"
    bad.write_text('{"kind": "orders", "values": {"status": {"Shipped - Done": "shipped-ish"}}}', encoding="utf-8")
    with db.unit_of_work(read_only=True) as session, pytest.raises(DomainError) as refused:
        service.resolve_mapping(session, SYSTEM, str(bad), "orders")
    assert refused.value.message.startswith("values.status.Shipped - Done: 'shipped-ish' ")
    assert "completed" in refused.value.message and "cancelled" in refused.value.message


def test_the_history_choice_is_the_jobs_and_its_dry_run_shows_what_it_would_do(
    db: Database, tmp_path: Path, shop: dict[str, str]
) -> None:
    mapping = _mapping(db, tmp_path)
    path = tmp_path / "shop_order_lines.csv"
    before = data_counts(db)
    dry = run_import(db, "orders", path, mapping=mapping, dry_run=True, options={"history": "points"})
    assert data_counts(db) == before
    real = run_import(db, "orders", path, mapping=mapping, options={"history": "points"})
    assert real.options == {"history": "points"}
    assert dry.report is not None and real.report is not None
    assert dry.report["history"] == real.report["history"]
    figures = real.report["history"]
    # one point per yuan of what was kept: 319 (C001) + 2160 (C003); the cancelled order earns
    # nothing, the returned one earns and gives back
    assert (figures["choice"], figures["members"], figures["points_awarded"]) == ("points", 3, 2479)
    with db.unit_of_work(read_only=True) as session:
        balances = dict(
            session.execute(
                select(PointEntry.account_id, func.sum(PointEntry.points)).group_by(PointEntry.account_id)
            ).all()
        )
    assert sorted(balances.values()) == [0, 319, 2160]


def test_a_history_choice_for_a_customer_import_is_refused_before_anything_is_written(
    db: Database, tmp_path: Path
) -> None:
    from guanxi.kit.errors import DomainError

    path = tmp_path / "c.csv"
    path.write_text("姓名,手机号\n张伟,13800138000\n", encoding="utf-8")
    before = data_counts(db)
    with db.unit_of_work() as session, pytest.raises(DomainError) as refused:
        service.create_job(
            session, SYSTEM, kind="customers", file_name="c.csv", path=path, options={"history": "tiers"}
        )
    assert refused.value.message == "options.history: applies to order imports only"
    assert data_counts(db) == before


def test_the_shops_members_go_in_with_nicknames_and_a_bad_gender_dropped(db: Database, tmp_path: Path) -> None:
    """Then the same export's orders find them by the shop's customer id."""
    from guanxi.customers.models import Customer

    for name in (
        "shop_customers.csv",
        "shop_customers.mapping.json",
        "shop_order_lines.csv",
        "shop_orders.mapping.json",
    ):
        shutil.copy(FIXTURES / name, tmp_path / name)
    with db.unit_of_work() as session:
        rates.load_csv(session, SYSTEM, (FIXTURES / "usd_rates.csv").read_bytes(), source="usd_rates.csv")
        mapping = service.resolve_mapping(session, SYSTEM, str(tmp_path / "shop_customers.mapping.json"), "customers")
    job = run_import(db, "customers", tmp_path / "shop_customers.csv", mapping=mapping)
    assert (job.created, job.rejected) == (3, 0)
    assert job.report is not None
    assert job.report["warnings"] == {"gender: must be 男/女/未知 or male/female/unknown": 1}
    with db.unit_of_work(read_only=True) as session:
        people = {c.name: c.gender for c in session.scalars(select(Customer))}
    assert people == {"Amy_2024": "female", "王小明": "male", "Li Lei": "unknown"}
    orders = run_import(db, "orders", tmp_path / "shop_order_lines.csv", mapping=_mapping(db, tmp_path))
    assert (orders.created, orders.rejected) == (5, 2)


def test_a_constant_its_field_refuses_is_refused_with_the_mapping(db: Database, tmp_path: Path) -> None:
    from guanxi.kit.errors import DomainError

    bad = tmp_path / "bad.mapping.json"
    bad.write_text('{"kind": "orders", "constants": {"currency": "XYZ", "status": "maybe"}}', encoding="utf-8")
    with db.unit_of_work(read_only=True) as session, pytest.raises(DomainError) as refused:
        service.resolve_mapping(session, SYSTEM, str(bad), "orders")
    assert refused.value.message.startswith(
        "constants.currency: 'XYZ' is not an ISO 4217 currency code (e.g. CNY, USD); constants.status: 'maybe' "
    )
