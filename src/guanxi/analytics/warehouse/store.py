"""The warehouse file: DuckDB tables mirroring the feeds, and each feed's sync state.

One DuckDB file per installation (`GUANXI_HOME/warehouse/warehouse.duckdb`). DuckDB lets one
process write a file at a time, so the analytics run (a background job) is its only writer; what
the console and the API show is read from the Parquet outputs of runs (`analytics.outputs`), never
from this file, so a dashboard never waits for a run. The state row of a feed is updated in the
same DuckDB transaction as the rows it covers: a sync that stops anywhere leaves a state that
matches the rows stored, which is what makes it resumable and idempotent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from guanxi.config import get_settings
from guanxi.kit.feeds import ColumnKind, Feed

DUCKDB_TYPES: dict[ColumnKind, str] = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",  # UTC, without zone: the warehouse works in UTC throughout
    "date": "DATE",
    "money": "DECIMAL(18,2)",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
}


def warehouse_dir() -> Path:
    settings = get_settings()
    if settings.warehouse_dir is not None:
        path = settings.warehouse_dir.expanduser().resolve()
    else:
        path = settings.ensure_home() / "warehouse"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@dataclass
class FeedState:
    """`mark`: every row with a watermark up to it is stored. While a pass runs, `pass_since` and
    `pass_until` bound it and `after_mark`/`after_key` name the last row stored."""

    feed: str
    mark: Any = None
    pass_since: Any = None
    pass_until: Any = None
    after_mark: Any = None
    after_key: Any = None
    rows: int = 0

    @property
    def in_pass(self) -> bool:
        return self.pass_until is not None


class Warehouse:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or warehouse_dir() / "warehouse.duckdb"
        self.connection = duckdb.connect(str(self.path))
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS _sync_state (feed VARCHAR PRIMARY KEY, mark VARCHAR, pass_since VARCHAR,"
            " pass_until VARCHAR, after_mark VARCHAR, after_key VARCHAR, rows BIGINT)"
        )

    def close(self) -> None:
        self.connection.close()

    def ensure_table(self, feed: Feed) -> None:
        columns = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.kind]}' for c in feed.all_columns)
        self.connection.execute(
            f'CREATE TABLE IF NOT EXISTS "{feed.name}" ({columns}, PRIMARY KEY ("{feed.key.name}"))'
        )
        existing = {row[0] for row in self.connection.execute(f'DESCRIBE "{feed.name}"').fetchall()}
        for column in feed.all_columns:  # a feed that gained a column since the table was made
            if column.name not in existing:
                self.connection.execute(
                    f'ALTER TABLE "{feed.name}" ADD COLUMN "{column.name}" {DUCKDB_TYPES[column.kind]}'
                )

    def state(self, feed: Feed) -> FeedState:
        row = self.connection.execute(
            "SELECT mark, pass_since, pass_until, after_mark, after_key, rows FROM _sync_state WHERE feed = ?",
            [feed.name],
        ).fetchone()
        if row is None:
            return FeedState(feed.name)
        mark, since, until, after_mark, after_key, rows = row
        decode = _decoder(feed.watermark.kind)
        key = _decoder(feed.key.kind)
        return FeedState(
            feed.name, decode(mark), decode(since), decode(until), decode(after_mark), key(after_key), rows
        )

    def save_state(self, state: FeedState) -> None:
        self.connection.execute(
            "INSERT OR REPLACE INTO _sync_state VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                state.feed,
                *(None if v is None else _encode(v) for v in (state.mark, state.pass_since, state.pass_until)),
                None if state.after_mark is None else _encode(state.after_mark),
                None if state.after_key is None else str(state.after_key),
                state.rows,
            ],
        )

    def reset(self, feed: Feed) -> None:
        """Forget a feed entirely: the next sync copies it again from the beginning."""
        self.connection.execute(f'DROP TABLE IF EXISTS "{feed.name}"')
        self.connection.execute("DELETE FROM _sync_state WHERE feed = ?", [feed.name])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.connection.execute("BEGIN TRANSACTION")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def count(self, table: str) -> int:
        row = self.connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608 (a feed's name, from code)
        return int(row[0]) if row else 0


def _encode(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _decoder(kind: ColumnKind) -> Any:
    from datetime import datetime

    def decode(text: str | None) -> Any:
        if text is None:
            return None
        if kind == "timestamp":
            return datetime.fromisoformat(text)
        if kind == "int":
            return int(text)
        return text

    return decode
