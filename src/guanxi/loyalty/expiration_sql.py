"""The per-lot writes of an expiry batch, one statement (or one driver-level executemany) each.

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

from sqlalchemy import BigInteger, Select, String, bindparam, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from guanxi.kit.models import table_of
from guanxi.loyalty.models import LotMovement, LoyaltyAccount, PointLot


def _rowcount(result: Any) -> int:
    """Rows an INSERT, UPDATE or DELETE wrote (`Session.execute` is typed as returning a Result)."""
    return int(cast(CursorResult[Any], result).rowcount)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


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
