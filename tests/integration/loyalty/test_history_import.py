"""Imported history made to count (`loyalty.members.history`, through the import hook
`dataio.history`): growth and tiers (`tiers`), points as well (`points`), set-based, with the
outcome the per-order path gives the same orders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from guanxi.dataio import history as import_history
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.models import table_of
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.members import history
from guanxi.loyalty.orders import bulk_import
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders.models import Order, Refund
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import GrowthEntry, LoyaltyAccount, PointEntry, PointLot, TierChange
from guanxi.loyalty.program.schemas import RefundIn
from guanxi.privacy import audit
from tests.api.helpers import audit_records
from tests.factories import create_customer, order_in

NOW = datetime(2025, 6, 15, 4, 0, tzinfo=UTC)
# (order, amount, local time, status, refunded amount): basic -> silver -> gold on the default ladder
HISTORY = (
    ("H1", "1500.00", "2023-01-10T10:00:00+08:00", "completed", None),
    ("H2", "1000.00", "2023-06-01T10:00:00+08:00", "completed", None),
    ("H3", "6000.00", "2024-03-01T10:00:00+08:00", "completed", None),
    ("H4", "400.00", "2025-02-01T10:00:00+08:00", "partially_returned", "100.00"),
    ("H5", "9999.00", "2025-03-01T10:00:00+08:00", "cancelled", None),
)


@pytest.fixture(autouse=True)
def frozen_now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def _customer(db: Database, name: str, phone: str) -> str:
    with db.unit_of_work() as session:
        return create_customer(session, name=name, phone=phone).id


def _import(db: Database, customer_id: str, prefix: str, history_rows: tuple[Any, ...] = HISTORY) -> list[str]:
    """The orders as the importer writes them: history only, statuses and returns recorded."""
    records = []
    for line, (key, amount, at, status, refunded) in enumerate(history_rows, start=2):
        values: dict[str, Any] = {
            "external_id": f"{prefix}{key}",
            "customer_id": customer_id,
            "paid_amount": Decimal(amount),
            "occurred_at": datetime.fromisoformat(at),
        }
        if status != "completed":
            values["status"] = status
        if refunded:
            values["refunded_amount"] = Decimal(refunded)
        record = bulk_import.validate(line, values)
        assert isinstance(record, bulk_import.OrderRecord)
        records.append(record)
    with db.unit_of_work() as session:
        outcomes = bulk_import.apply(session, SYSTEM, records)
    ids = [o.order_id for o in outcomes if o.order_id]
    assert len(ids) == len(history_rows)
    return ids


def _live(db: Database, customer_id: str, history_rows: tuple[Any, ...] = HISTORY) -> None:
    """The same orders through the per-order path, in the order they happened."""
    with db.unit_of_work() as session:
        for key, amount, at, status, refunded in history_rows:
            if status == "cancelled":
                continue
            answer, _ = orders.record_order(
                session,
                SYSTEM,
                order_in(
                    customer_id=customer_id,
                    amount=amount,
                    external_id=f"L{key}",
                    occurred_at=datetime.fromisoformat(at),
                ),
            )
            if refunded:
                orders.refund_order(session, SYSTEM, answer.id, RefundIn(amount=Decimal(refunded)), f"refund-{key}")


def _account(db: Database, customer_id: str) -> dict[str, Any]:
    with db.unit_of_work(read_only=True) as session:
        account = session.scalars(select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer_id)).one()
        order_rows = session.execute(
            select(Order.points_earned, Order.points_reversed, Order.growth_earned, Order.growth_reversed)
            .where(Order.customer_id == customer_id, Order.status != "cancelled")
            .order_by(Order.occurred_at)
        ).all()
        refunds = session.execute(
            select(Refund.points_reversed, Refund.growth_reversed)
            .join(Order, Order.id == Refund.order_id)
            .where(Order.customer_id == customer_id)
        ).all()
        lots = session.scalars(select(PointLot).where(PointLot.account_id == account.id).order_by(PointLot.id)).all()
        entries = session.scalars(
            select(PointEntry).where(PointEntry.account_id == account.id).order_by(PointEntry.id)
        ).all()
        growth = session.scalars(
            select(GrowthEntry).where(GrowthEntry.account_id == account.id).order_by(GrowthEntry.id)
        ).all()
        changes = session.scalars(
            select(TierChange).where(TierChange.account_id == account.id).order_by(TierChange.id)
        ).all()
        return {
            "tier": account.tier_code,
            "balance": account.points_balance,
            "pending": account.pending_points,
            "earned": account.lifetime_earned,
            "growth": account.growth_value,
            "lifetime_growth": account.lifetime_growth,
            "lots": [(lot.issued, lot.reversed, lot.remaining, lot.status, lot.expires_at) for lot in lots],
            "available": [lot.available_at for lot in lots if lot.status == "pending"],
            "entries": [(e.kind, e.points, e.balance_after, e.occurred_at) for e in entries],
            "growth_rows": [(g.kind, g.value, g.value_after) for g in growth],
            "changes": [(c.kind, c.from_tier, c.to_tier) for c in changes],
            "orders": [tuple(o) for o in order_rows],
            "refunds": [tuple(r) for r in refunds],
        }


def _ledger_sound(db: Database) -> None:
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []
        assert audit.verify(session).ok


def test_tiers_rebuilds_growth_and_tier_without_points(db: Database) -> None:
    customer = _customer(db, "张伟", "13800138000")
    ids = _import(db, customer, "T")
    figures = import_history.after_orders(db, SYSTEM, ids, choice="tiers")
    assert figures == {
        "history": {
            "choice": "tiers",
            "members": 1,
            "orders": 4,
            "points_awarded": 0,
            "expire_at_next_run": 0,
            "upgrades": 2,
            "tiers": {"gold": 1},
            "held_back": {},
        }
    }
    card = _account(db, customer)
    assert (card["tier"], card["balance"], card["earned"], card["growth"], card["lifetime_growth"]) == (
        "gold",
        0,
        0,
        8800,
        8800,
    )
    assert card["entries"] == [] and card["lots"] == []
    assert card["growth_rows"] == [
        ("spend", 1500, 1500),
        ("spend", 1000, 2500),
        ("spend", 6000, 8500),
        ("spend", 400, 8900),
        ("refund", -100, 8800),
    ]
    assert card["changes"] == [("enrol", None, "basic"), ("upgrade", "basic", "silver"), ("upgrade", "silver", "gold")]
    with db.unit_of_work(read_only=True) as session:
        rows = {
            o.external_id: (o.points_earned, o.growth_earned, o.growth_reversed) for o in session.scalars(select(Order))
        }
        notes = session.scalars(select(Order.answer).where(Order.external_id == "TH3")).one()["notes"]
        events = session.scalars(select(OutboxEvent.topic)).all()
    assert rows == {
        "TH1": (0, 1500, 0),
        "TH2": (0, 1000, 0),
        "TH3": (0, 6000, 0),
        "TH4": (0, 400, 100),
        "TH5": (0, 0, 0),
    }
    assert notes == [history.NOTES["tiers"]]
    # no upgrade coupon, no referral reward: nothing for the outbox
    assert [t for t in events if t.startswith("loyalty.")] == []
    assert audit_records(db, "loyalty.history_import")[0].detail == {
        "choice": "tiers",
        "members": 1,
        "orders": 4,
        "points": 0,
        "upgrades": 2,
    }
    _ledger_sound(db)


def test_points_gives_what_the_per_order_path_gives(db: Database) -> None:
    imported = _customer(db, "张伟", "13800138000")
    live = _customer(db, "李娜", "13900139000")
    ids = _import(db, imported, "P")
    _live(db, live)
    figures = import_history.after_orders(db, SYSTEM, ids, choice="points")
    # 1500 + 1000 at basic, 6000 x 1.2 at silver, 400 x 1.5 at gold less 150 for the refund of a quarter
    assert figures["history"] == {
        "choice": "points",
        "members": 1,
        "orders": 4,
        "points_awarded": 10150,
        "expire_at_next_run": 9700,
        "upgrades": 2,
        "tiers": {"gold": 1},
        "held_back": {},
    }
    mine, theirs = _account(db, imported), _account(db, live)
    assert (mine["tier"], mine["balance"], mine["earned"], mine["growth"]) == ("gold", 10150, 10300, 8800)
    assert mine["refunds"] == [(150, 100)]
    for key in (
        "tier",
        "balance",
        "earned",
        "growth",
        "lifetime_growth",
        "lots",
        "growth_rows",
        "changes",
        "orders",
        "refunds",
    ):
        assert mine[key] == theirs[key], key
    assert [(k, p, b) for k, p, b, _ in mine["entries"]] == [(k, p, b) for k, p, b, _ in theirs["entries"]]
    # each award dated to its order; the lots of the first three are past their last day
    assert [at for _, _, _, at in mine["entries"][:4]] == [datetime.fromisoformat(h[2]) for h in HISTORY[:4]]
    assert [(lot[3], lot[4] is not None and lot[4] <= NOW) for lot in mine["lots"]] == [
        ("available", True),
        ("available", True),
        ("available", True),
        ("available", False),
    ]
    _ledger_sound(db)


def _under_review(db: Database, customer_id: str) -> None:
    """Gold, found below it at the last review: down to silver in ten days unless 1,000 more growth."""
    with db.unit_of_work() as session:
        table = table_of(LoyaltyAccount)
        session.execute(
            update(table)
            .where(table.c.customer_id == customer_id)
            .values(
                tier_code="gold",
                downgrade_due_at=datetime(2025, 6, 25, 16, 0, tzinfo=UTC),
                downgrade_to="silver",
                grace_needed=1000,
            )
        )


def test_an_order_keeps_a_tier_under_review_as_the_per_order_path_does(db: Database) -> None:
    imported = _customer(db, "张伟", "13800138000")
    live = _customer(db, "李娜", "13900139000")
    with db.unit_of_work() as session:
        orders.record_order(session, SYSTEM, order_in(customer_id=imported, amount="1", external_id="E1"))
        orders.record_order(session, SYSTEM, order_in(customer_id=live, amount="1", external_id="E2"))
    _under_review(db, imported)
    _under_review(db, live)
    ids = _import(db, imported, "R")
    _live(db, live)
    figures = import_history.after_orders(db, SYSTEM, ids, choice="points")
    assert (figures["history"]["held_back"], figures["history"]["tiers"]) == ({}, {"gold": 1})
    mine, theirs = _account(db, imported), _account(db, live)
    # the first order (1,500 growth) met the 1,000 the grace period asked: the tier is kept
    assert mine["changes"] == [("enrol", None, "basic"), ("downgrade_cancelled", "gold", "gold")]
    for key in ("tier", "balance", "growth", "lots", "growth_rows", "changes", "orders"):
        assert mine[key] == theirs[key], key
    with db.unit_of_work(read_only=True) as session:
        due = session.execute(
            select(LoyaltyAccount.downgrade_due_at, LoyaltyAccount.grace_needed).where(
                LoyaltyAccount.customer_id.in_([imported, live])
            )
        ).all()
    assert due == [(None, None), (None, None)]
    _ledger_sound(db)


def test_a_member_with_a_debt_is_held_back_and_nothing_is_written(db: Database) -> None:
    customer = _customer(db, "张伟", "13800138000")
    ids = _import(db, customer, "D")
    with db.unit_of_work() as session:
        table = table_of(LoyaltyAccount)
        session.execute(update(table).where(table.c.customer_id == customer).values(points_balance=-50))
    figures = import_history.after_orders(db, SYSTEM, ids, choice="points")
    assert figures["history"]["held_back"] == {"negative balance": 1}
    assert (figures["history"]["points_awarded"], figures["history"]["tiers"]) == (0, {"basic": 1})
    card = _account(db, customer)
    assert (card["balance"], card["growth"], card["entries"], card["changes"]) == (
        -50,
        0,
        [],
        [("enrol", None, "basic")],
    )
    assert audit_records(db, "loyalty.history_import") == []


def test_orders_an_earlier_job_kept_as_history_count_when_a_later_job_names_them(db: Database) -> None:
    customer = _customer(db, "张伟", "13800138000")
    _import(db, customer, "K")
    keys = [("import", f"K{h[0]}") for h in HISTORY]
    history_pass = import_history.HistoryPass("tiers", dry_run=False)
    try:
        with db.unit_of_work(read_only=True) as session:
            history_pass.add(session, [], unchanged=keys)
        first = history_pass.finish(db, SYSTEM)
    finally:
        history_pass.close()
    assert (first["history"]["orders"], first["history"]["tiers"]) == (4, {"gold": 1})
    # counted once: the same orders named again are no longer history only
    again = import_history.HistoryPass("points", dry_run=False)
    try:
        with db.unit_of_work(read_only=True) as session:
            again.add(session, [], unchanged=keys)
        assert again.finish(db, SYSTEM)["history"]["orders"] == 0
    finally:
        again.close()
    assert _account(db, customer)["growth"] == 8800


def test_orders_inside_the_pending_period_earn_pending_points_as_live_ones_do(db: Database) -> None:
    with db.unit_of_work() as session:
        row = program.program_row(session)
        row.pending_days = 7
        program.bump_version(row)
    recent = (
        ("H6", "500.00", "2025-06-13T10:00:00+08:00", "completed", None),
        ("H7", "800.00", "2025-06-14T10:00:00+08:00", "partially_returned", "200.00"),
    )
    imported = _customer(db, "张伟", "13800138000")
    live = _customer(db, "李娜", "13900139000")
    ids = _import(db, imported, "W", HISTORY + recent)
    _live(db, live, HISTORY + recent)
    figures = import_history.after_orders(db, SYSTEM, ids, choice="points")
    assert figures["history"]["held_back"] == {}
    mine, theirs = _account(db, imported), _account(db, live)
    # 500 and 800 at gold (x1.5) wait out the week; a quarter of the 800's is taken back from them
    assert (mine["balance"], mine["pending"]) == (10150, 750 + 1200 - 300)
    for key in ("tier", "balance", "pending", "earned", "growth", "lots", "available", "growth_rows", "orders"):
        assert mine[key] == theirs[key], key
    assert [(k, p, b) for k, p, b, _ in mine["entries"]] == [(k, p, b) for k, p, b, _ in theirs["entries"]]
    _ledger_sound(db)


def test_a_choice_the_program_cannot_make_is_refused(db: Database) -> None:
    with db.unit_of_work() as session:
        with pytest.raises(history.HistoryRefused) as refused:
            import_history.check_options(session, "orders", {"history": "everything"})
        assert refused.value.errors[0].code == "unknown_choice"
        with pytest.raises(history.HistoryRefused):
            import_history.check_options(session, "customers", {"history": "points"})
        import_history.check_options(session, "orders", {"history": "points"})


def test_a_debt_does_not_stop_tiers(db: Database) -> None:
    customer = _customer(db, "张伟", "13800138000")
    ids = _import(db, customer, "G")
    with db.unit_of_work() as session:
        table = table_of(LoyaltyAccount)
        session.execute(update(table).where(table.c.customer_id == customer).values(points_balance=-50))
    figures = import_history.after_orders(db, SYSTEM, ids, choice="tiers")
    assert (figures["history"]["held_back"], figures["history"]["tiers"]) == ({}, {"gold": 1})
    card = _account(db, customer)
    assert (card["balance"], card["growth"], card["tier"]) == (-50, 8800, "gold")
