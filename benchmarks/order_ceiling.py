"""The raw-database ceiling for orders, and the ledger check after the HTTP runs.

The ceiling writes again, in one transaction with Core executemany (no ORM, no HTTP), copies of
every row one measured HTTP run added (between two `markers`), with new keys in the same tables
and indexes, plus one account and one audit-head update per order (the head moves on by one,
as the chain's triggers require). Run it last: the copies break the audit chain. Rows whose only unique key is
made of foreign keys (a member's loyalty account: program and customer) are copied onto spare
customers that were never enrolled, so a new-member run's ceiling enrols as many members as the
run did.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import api

Markers = dict[str, Any]


def markers(home: Path, database_url: str | None) -> Markers:
    """Each table's highest key now (its row count if the key has several columns)."""
    from sqlalchemy import func, select

    from guanxi.kit.db import get_database
    from guanxi.migrations.all_models import metadata

    found: Markers = {}
    with api.settings_for(home, database_url):
        database = get_database()
        with database.engine.connect() as conn:
            for table in metadata.sorted_tables:
                keys = list(table.primary_key.columns)
                if len(keys) == 1:
                    found[table.name] = conn.execute(select(func.max(keys[0]))).scalar()
                else:
                    found[table.name] = conn.execute(select(func.count()).select_from(table)).scalar()
        database.dispose()
    return found


def _window(table: Any, key: Any, before: Markers, after: Markers) -> Any:
    from sqlalchemy import select

    stmt = select(table)
    if before.get(table.name) is not None:
        stmt = stmt.where(key > before[table.name])
    if after.get(table.name) is not None:
        stmt = stmt.where(key <= after[table.name])
    return stmt


def ceiling(
    home: Path, database_url: str | None, before: Markers, after: Markers, spare_customers: list[str]
) -> dict[str, Any]:
    """Copies of the rows added between `before` and `after`, written in one transaction."""
    from sqlalchemy import PrimaryKeyConstraint, String, UniqueConstraint, bindparam, func, select, update

    from guanxi.kit.db import get_database
    from guanxi.kit.ids import new_id
    from guanxi.loyalty.orders.models import Order
    from guanxi.loyalty.program.models import LoyaltyAccount
    from guanxi.migrations.all_models import metadata
    from guanxi.privacy.models import AuditChainHead

    spare = iter(spare_customers)
    moved: set[int] = set()  # rows (by id()) already given a spare customer
    with api.settings_for(home, database_url):
        database = get_database()
        batches: list[tuple[Any, list[dict[str, Any]]]] = []
        skipped: dict[str, int] = {}
        with database.engine.connect() as conn:
            for table in metadata.sorted_tables:
                keys = list(table.primary_key.columns)
                if len(keys) == 1:
                    rows = [dict(r._mapping) for r in conn.execute(_window(table, keys[0], before, after))]
                    top = conn.execute(select(func.max(keys[0]))).scalar()
                else:
                    added = (after.get(table.name) or 0) - (before.get(table.name) or 0)
                    rows = [dict(r._mapping) for r in conn.execute(select(table).limit(max(added, 0)))]
                    top = None
                if not rows:
                    continue
                unique = [
                    list(c.columns)
                    for c in table.constraints
                    if isinstance(c, UniqueConstraint | PrimaryKeyConstraint) and len(c.columns)
                ] + [list(i.columns) for i in table.indexes if i.unique]
                if not all(
                    _fresh(row, cols, i, top, new_id, String, spare, moved)
                    for i, row in enumerate(rows, 1)
                    for cols in unique
                ):
                    skipped[table.name] = len(rows)
                    continue
                batches.append((table, rows))
            order_window = _window(Order.__table__, Order.__table__.c.id, before, after).with_only_columns(
                Order.__table__.c.account_id
            )
            now = datetime.now(UTC)
            accounts = [{"aid": r[0], "now": now, "step": 1} for r in conn.execute(order_window)]
        written = sum(len(rows) for _, rows in batches)
        started = time.perf_counter()
        with database.engine.begin() as conn:
            for table, rows in batches:
                conn.execute(table.insert(), rows)
            if accounts:
                conn.execute(
                    update(LoyaltyAccount)
                    .where(LoyaltyAccount.id == bindparam("aid"))
                    .values(updated_at=bindparam("now")),
                    accounts,
                )
                conn.execute(
                    update(AuditChainHead)
                    .where(AuditChainHead.id == 1)
                    .values(last_seq=AuditChainHead.last_seq + bindparam("step")),
                    accounts,
                )
        seconds = time.perf_counter() - started
        database.dispose()
    orders = len(accounts)
    updated = 2 * orders
    return {
        "rows_inserted": written,
        "rows_updated": updated,
        "orders": orders,
        "rows_per_order": round((written + updated) / orders, 1) if orders else None,
        "tables": {table.name: len(rows) for table, rows in batches},
        "not_copied": skipped,
        "seconds": round(seconds, 3),
        "orders_per_second": round(orders / seconds, 1) if seconds and orders else None,
    }


def _fresh(
    row: dict[str, Any],
    cols: list[Any],
    i: int,
    top: Any,
    new_id: Any,
    string: Any,
    spare: Iterator[str],
    moved: set[int],
) -> bool:
    """Make a copied row's key (or unique column set) new by changing one column that is not a
    foreign key: a fresh string, or an integer past the largest. A set of foreign keys only that
    includes the customer takes a spare never-enrolled customer. False if none of these works."""
    free = [c for c in cols if not c.foreign_keys]
    for col in free:
        if isinstance(col.type, string):
            length = col.type.length or 64
            row[col.name] = (f"R{i:x}" + new_id())[-length:] if length >= 20 else f"{i:0{length}x}"[-length:]
            return True
    for col in free:
        if isinstance(row.get(col.name), int):
            row[col.name] = (top if col.primary_key and isinstance(top, int) else 10**6) + i
            return True
    if any(c.name == "customer_id" for c in cols):
        if id(row) in moved:  # already moved for another constraint of this row
            return True
        customer = next(spare, None)
        if customer is None:
            return False
        row["customer_id"] = customer
        moved.add(id(row))
        return True
    return False


def verify_after(home: Path, database_url: str | None, prefix: str = "bench-") -> dict[str, Any]:
    """The ledger after concurrent ingestion: every invariant, and the orders the API accepted."""
    from sqlalchemy import func, select

    from guanxi.kit.db import get_database
    from guanxi.loyalty.ledger import verify
    from guanxi.loyalty.orders.models import Order

    with api.settings_for(home, database_url):
        database = get_database()
        with database.unit_of_work(read_only=True) as session:
            breaches = [str(b) for b in verify.check(session)]
            recorded = session.scalar(
                select(func.count()).select_from(Order).where(Order.external_id.like(f"{prefix}%"))
            )
        database.dispose()
    return {"breaches": breaches[:10], "breach_count": len(breaches), "bench_orders_recorded": int(recorded or 0)}
