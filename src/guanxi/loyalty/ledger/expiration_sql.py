"""The bulk writes of an expiry batch, one statement (or one driver-level executemany) each.

Every statement is keyed by primary key with values computed in Python, never by a join or a
condition on the lots' status and expiry: on a table whose statistics are missing or stale (a
fresh load, before ANALYZE) both SQLite and PostgreSQL would otherwise plan a walk over every due
lot, or a sequential scan, once per batch. On PostgreSQL the values travel as arrays and `unnest`
into one statement; on SQLite the driver's executemany runs a prepared statement per row in C.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Select, String, bindparam, func, insert, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from guanxi.kit.models import table_of
from guanxi.loyalty.program.models import LotMovement, LoyaltyAccount, PointEntry, PointLot


def _rowcount(result: Any) -> int:
    """Rows an INSERT, UPDATE or DELETE wrote (`Session.execute` is typed as returning a Result)."""
    return int(cast(CursorResult[Any], result).rowcount)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_entries(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """The batch's expire entries (one per account, all sharing kind, reason, actor and times),
    ids given in the order of `rows`; returns each account's entry id."""
    entries = table_of(PointEntry)
    if not _is_postgres(session):
        inserted = session.execute(insert(entries).returning(entries.c.id, entries.c.account_id), rows)
        return {account_id: entry_id for entry_id, account_id in inserted}
    first = rows[0]
    stmt = text(
        f"INSERT INTO {entries.name} (account_id, kind, points, balance_after, pending_after, reason, actor_id, "  # noqa: S608
        "detail, occurred_at, created_at) "
        "SELECT account_id, :kind, points, balance_after, pending_after, :reason, :actor_id, CAST(detail AS JSON), "
        ":occurred_at, :created_at "
        "FROM unnest(:accounts, :points, :balances, :pendings, :details) WITH ORDINALITY "
        "AS e(account_id, points, balance_after, pending_after, detail, n) ORDER BY n RETURNING id, account_id"
    ).bindparams(
        bindparam("accounts", type_=ARRAY(String)),
        bindparam("points", type_=ARRAY(BigInteger)),
        bindparam("balances", type_=ARRAY(BigInteger)),
        bindparam("pendings", type_=ARRAY(BigInteger)),
        bindparam("details", type_=ARRAY(String)),
        bindparam("occurred_at", type_=entries.c.occurred_at.type),
        bindparam("created_at", type_=entries.c.created_at.type),
    )
    assert all(
        (r["kind"], r["reason"], r["actor_id"], r["occurred_at"], r["created_at"])
        == (first["kind"], first["reason"], first["actor_id"], first["occurred_at"], first["created_at"])
        for r in rows
    )
    values = {
        "kind": first["kind"],
        "reason": first["reason"],
        "actor_id": first["actor_id"],
        "occurred_at": first["occurred_at"],
        "created_at": first["created_at"],
        "accounts": [r["account_id"] for r in rows],
        "points": [r["points"] for r in rows],
        "balances": [r["balance_after"] for r in rows],
        "pendings": [r["pending_after"] for r in rows],
        # The same text the JSON column type would send (json.dumps), so the rows are identical.
        "details": [json.dumps(r["detail"]) for r in rows],
    }
    return {account_id: entry_id for entry_id, account_id in session.execute(stmt, values)}


def insert_movements(session: Session, rows: list[tuple[int, int, int]]) -> int:
    """One expire movement per (entry id, lot id, points), ids given in the order of `rows`."""
    table = table_of(LotMovement).name
    if _is_postgres(session):
        stmt = text(
            f"INSERT INTO {table} (entry_id, lot_id, kind, points) "  # noqa: S608 (a model's table name)
            "SELECT entry_id, lot_id, 'expire', points "
            "FROM unnest(:entry_ids, :lot_ids, :points) WITH ORDINALITY AS m(entry_id, lot_id, points, n) ORDER BY n"
        ).bindparams(
            bindparam("entry_ids", type_=ARRAY(BigInteger)),
            bindparam("lot_ids", type_=ARRAY(BigInteger)),
            bindparam("points", type_=ARRAY(BigInteger)),
        )
        entry_ids, lot_ids, points = (list(column) for column in zip(*rows, strict=True))
        result = session.execute(
            stmt,
            {"entry_ids": entry_ids, "lot_ids": lot_ids, "points": points},
            execution_options={"preserve_rowcount": True},  # kept for UPDATE only by default
        )
        return _rowcount(result)
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        sql = f"INSERT INTO {table} (entry_id, lot_id, kind, points) VALUES (?, ?, 'expire', ?)"  # noqa: S608
        cursor.executemany(sql, rows)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def close_lots(session: Session, lot_ids: list[int]) -> int:
    """Expire what the lots hold: expired += remaining, remaining 0, closed."""
    lots = table_of(PointLot)
    stmt = update(lots).values(expired=lots.c.expired + lots.c.remaining, remaining=0, status="closed")
    if _is_postgres(session):
        ids = bindparam("ids", type_=ARRAY(BigInteger))
        return _rowcount(session.execute(stmt.where(lots.c.id == ids.any_()), {"ids": lot_ids}))
    # SQLite: the ids as one JSON array, so a batch is one statement with one parameter.
    listed: Select[Any] = select(literal_column("value")).select_from(func.json_each(bindparam("ids", type_=String)))
    return _rowcount(session.execute(stmt.where(lots.c.id.in_(listed)), {"ids": json.dumps(lot_ids)}))


def project_accounts(session: Session, rows: list[tuple[str, int, int]], now: datetime) -> int:
    """Each (account id, new balance, points expired): the balance set, lifetime expired raised."""
    accounts = table_of(LoyaltyAccount)
    if _is_postgres(session):
        stmt = text(
            f"UPDATE {accounts.name} AS a SET points_balance = v.balance, "  # noqa: S608 (a model's table name)
            "lifetime_expired = a.lifetime_expired + v.points, updated_at = :now "
            "FROM unnest(:ids, :balances, :points) AS v(id, balance, points) WHERE a.id = v.id"
        ).bindparams(
            bindparam("ids", type_=ARRAY(String)),
            bindparam("balances", type_=ARRAY(BigInteger)),
            bindparam("points", type_=ARRAY(BigInteger)),
            bindparam("now", type_=accounts.c.updated_at.type),
        )
        ids, balances, points = (list(column) for column in zip(*rows, strict=True))
        values = {"ids": ids, "balances": balances, "points": points, "now": now}
        return _rowcount(session.execute(stmt, values))
    result = session.execute(
        update(accounts)
        .where(accounts.c.id == bindparam("account"))
        .values(
            points_balance=bindparam("balance"),
            lifetime_expired=accounts.c.lifetime_expired + bindparam("points"),
            updated_at=now,
        ),
        [{"account": account, "balance": balance, "points": points} for account, balance, points in rows],
    )
    return _rowcount(result)
