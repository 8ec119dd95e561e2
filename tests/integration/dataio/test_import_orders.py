"""Importing historical orders: idempotent by (source, external id), members enrolled, no points
by default (or through the order service on request), bad rows reported."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from guanxi.dataio.mappings import parse_mapping
from guanxi.kit.db import Database
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.orders.models import Order, OrderLine
from guanxi.loyalty.program.models import LoyaltyAccount, PointEntry, TierChange
from tests.api.helpers import audit_records
from tests.factories import create_customer

from .support import data_counts, error_lines, run_import, write_csv

ORDERS = (
    "订单号,手机号,实付金额,下单时间,门店,品类\n"
    "A1,13800138000,199.00,2024-05-01 14:30,上海店,母婴\n"
    'A2,13900139000,"1,299.50",2024/05/02 10:00,北京店,\n'
    "A3,13600000000,10,2024-05-03 10:00,,\n"
    "A4,13800138000,abc,2024-05-03 10:00,,\n"
    "A5,13800138000,10,2099-01-01 10:00,,\n"
    "A1,13800138000,99.00,2024-05-01 14:30,上海店,玩具\n"  # a second line of order A1
)


def _setup(db: Database) -> dict[str, str]:
    with db.unit_of_work() as session:
        a = create_customer(session, name="张伟", phone="13800138000")
        b = create_customer(session, name="李娜", phone="13900139000")
        return {"张伟": a.id, "李娜": b.id}


def test_orders_go_in_without_points_and_members_are_enrolled(db: Database, tmp_path: Path) -> None:
    ids = _setup(db)
    job = run_import(db, "orders", write_csv(tmp_path / "o.csv", ORDERS, "gbk"))
    assert (job.status, job.created, job.unchanged, job.rejected, job.repeated) == ("done", 3, 0, 3, 0)
    assert job.report is not None and job.report["records"] == {"created": 2, "unchanged": 0, "rejected": 2}
    with db.unit_of_work(read_only=True) as session:
        orders = {o.external_id: o for o in session.scalars(select(Order))}
        lines = list(session.scalars(select(OrderLine)))
        accounts = list(session.scalars(select(LoyaltyAccount)))
        entries = list(session.scalars(select(PointEntry)))
        enrolments = list(session.scalars(select(TierChange)))
        session.expunge_all()
    assert sorted(orders) == ["A1", "A2"]
    a1 = orders["A1"]
    assert (a1.source, a1.customer_id, a1.paid_amount, a1.store, a1.points_earned, a1.growth_earned) == (
        "import",
        ids["张伟"],
        Decimal("298.00"),
        "上海店",
        0,
        0,
    )
    assert a1.occurred_at.isoformat() == "2024-05-01T06:30:00+00:00"
    assert orders["A2"].paid_amount == Decimal("1299.50")
    assert sorted((line.line_no, line.category, line.quantity, line.paid_share) for line in lines) == [
        (1, "母婴", 1, Decimal("199.00")),
        (2, "玩具", 1, Decimal("99.00")),
    ]
    assert sorted(a.customer_id for a in accounts) == sorted(ids.values())
    assert all(a.points_balance == 0 for a in accounts)
    assert {a.customer_id: str(a.last_order_at) for a in accounts}[ids["李娜"]] == "2024-05-02 02:00:00+00:00"
    assert entries == []
    assert [t.kind for t in enrolments] == ["enrol", "enrol"]
    # rows refused as they are read come first, then those refused as their order was written
    reasons = sorted((r[0], r[-1]) for r in csv.reader(error_lines(job)[1:]))
    assert reasons == [
        ("4", "phone: no customer has this phone"),
        ("5", "paid_amount: is not an amount (e.g. 199.00) (got 'abc')"),
        ("6", "occurred_at: is in the future"),
    ]
    assert audit_records(db, "order.import")[0].detail["created"] == 2


def test_rerun_changes_nothing_and_other_content_is_refused(db: Database, tmp_path: Path) -> None:
    _setup(db)
    path = write_csv(tmp_path / "o.csv", ORDERS)
    run_import(db, "orders", path)
    before = data_counts(db)
    again = run_import(db, "orders", path)
    assert (again.created, again.unchanged, again.rejected) == (0, 3, 3)
    assert data_counts(db) == before
    changed = run_import(
        db,
        "orders",
        write_csv(tmp_path / "o2.csv", "订单号,手机号,实付金额,下单时间\nA1,13800138000,5,2024-05-01 14:30\n"),
    )
    assert changed.rejected == 1
    assert (
        next(iter(csv.reader(error_lines(changed)[1:])))[-1] == "external_id: already recorded with different content"
    )
    assert data_counts(db) == before


def test_dry_run_writes_nothing(db: Database, tmp_path: Path) -> None:
    _setup(db)
    before = data_counts(db)
    dry = run_import(db, "orders", write_csv(tmp_path / "o.csv", ORDERS), dry_run=True)
    assert (dry.created, dry.rejected) == (3, 3)
    assert data_counts(db) == before


def test_award_points_posts_through_the_order_service(db: Database, tmp_path: Path) -> None:
    ids = _setup(db)
    mapping = parse_mapping({"kind": "orders", "constants": {"source": "pos-2019"}})
    path = write_csv(tmp_path / "o.csv", ORDERS)
    job = run_import(db, "orders", path, mapping=mapping, options={"award_points": True})
    assert (job.created, job.rejected) == (3, 3)
    with db.unit_of_work(read_only=True) as session:
        orders = {o.external_id: o for o in session.scalars(select(Order))}
        account = session.scalar(select(LoyaltyAccount).where(LoyaltyAccount.customer_id == ids["张伟"]))
        session.expunge_all()
    # One point per yuan, rounded down: 298.00 -> 298 for 张伟 (two lines), 1,299.50 -> 1299 for 李娜.
    assert {k: (o.source, o.points_earned) for k, o in orders.items()} == {
        "A1": ("pos-2019", 298),
        "A2": ("pos-2019", 1299),
    }
    assert account is not None and (account.lifetime_earned, account.points_balance) == (298, 298)
    ledger = _ledger(db)
    assert sorted(ledger.values()) == [[("earn", 298, "A1")], [("earn", 1299, "A2")]]
    before = data_counts(db)
    again = run_import(db, "orders", path, mapping=mapping, options={"award_points": True})
    assert (again.created, again.unchanged) == (0, 3)
    assert (data_counts(db), _ledger(db)) == (before, ledger)
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []


def _ledger(db: Database) -> dict[str, list[tuple[str, int, str | None]]]:
    """Each account's entries (kind, points, order's external id), in order."""
    with db.unit_of_work(read_only=True) as session:
        rows = session.execute(
            select(PointEntry.account_id, PointEntry.kind, PointEntry.points, Order.external_id)
            .outerjoin(Order, Order.id == PointEntry.order_id)
            .order_by(PointEntry.id)
        ).all()
    entries: dict[str, list[tuple[str, int, str | None]]] = {}
    for account_id, kind, points, external_id in rows:
        entries.setdefault(account_id, []).append((kind, points, external_id))
    return entries


def test_missing_required_columns_fail_the_job_before_writing(db: Database, tmp_path: Path) -> None:
    from guanxi.dataio import service
    from guanxi.kit.principal import SYSTEM

    path = write_csv(tmp_path / "o.csv", "订单号,手机号\nA1,13800138000\n")
    before = data_counts(db)
    try:
        with db.unit_of_work() as session:
            service.create_job(session, SYSTEM, kind="orders", file_name="o.csv", path=path)
    except service.MissingColumns as exc:
        assert exc.message == "required column(s) missing: paid_amount, occurred_at"
        assert [e.field for e in exc.errors] == ["paid_amount", "occurred_at"]
    else:
        raise AssertionError("expected MissingColumns")
    assert data_counts(db) == before
