"""Where the warehouse sync's time goes, and what a column-wise read would save (SQLite only).

    .venv/bin/python -m benchmarks.analytics_sync [--customers 20000 --orders 400000]

On a database filled as `benchmarks.analytics` fills it, for the orders and order_lines feeds:
- read + convert as the sync does it: each page through the ORM session (the UTC type's result
  processing) and `sync._arrow_table` (Python lists, the zone taken off again, Decimals);
- the same page statements through the driver, converted a column at a time by pyarrow (text
  timestamps cast, REAL money rounded to cents and cast to decimal128); the two Arrow tables are
  checked to be equal;
- DuckDB's share: the pages upserted as the sync does (Parquet, INSERT OR REPLACE, a transaction
  a page), as a plain INSERT from Arrow, and as a plain INSERT into a table without the key.
Nothing here changes the sync; it measures what a change to it would be worth.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.analytics_fill import WINDOW_DAYS, create_indexes, drop_indexes, fill_customers, fill_orders
from benchmarks.expiry import scratch_database
from benchmarks.segments import settle
from guanxi.analytics.warehouse import sync as warehouse_sync
from guanxi.analytics.warehouse.store import DUCKDB_TYPES
from guanxi.kit.feeds import Feed
from guanxi.loyalty import feeds

PAGE = warehouse_sync.PAGE_ROWS


def columnar(feed: Feed, rows: list[Any]) -> pa.Table:
    """The driver's rows as Arrow, a column at a time."""
    arrays = []
    for column, values in zip(feed.all_columns, zip(*rows, strict=True), strict=True):
        if column.kind == "timestamp":
            arrays.append(pa.array(values, pa.string()).cast(pa.timestamp("us")))
        elif column.kind == "money":
            cents = pc.round(pa.array(values, pa.float64()), 2)
            arrays.append(cents.cast(pa.decimal128(18, 2), safe=False))
        else:
            arrays.append(pa.array(values, warehouse_sync.ARROW_TYPES[column.kind]))
    return pa.table(arrays, names=[c.name for c in feed.all_columns])


def as_sync_reads(database: Any, feed: Feed, until: datetime) -> list[pa.Table]:
    pages: list[pa.Table] = []
    after = None
    while True:
        statement = feed.page(since=None, until=until, after=after, limit=PAGE)
        with database.unit_of_work(read_only=True) as session:
            rows = session.execute(statement).all()
        if rows:
            pages.append(warehouse_sync._arrow_table(feed, rows))
            after = (rows[-1][feed.watermark_index], rows[-1][0])
        if len(rows) < PAGE:
            return pages


def through_driver(database: Any, feed: Feed, until: datetime) -> tuple[list[pa.Table], float]:
    """The same pages through the driver; returns them and the seconds spent in the driver's read."""
    dialect = database.engine.dialect
    pages: list[pa.Table] = []
    reading = 0.0
    after = None
    while True:
        compiled = feed.page(since=None, until=until, after=after, limit=PAGE).compile(dialect=dialect)
        given = compiled.construct_params()
        values = []
        for name in compiled.positiontup or ():
            processor = compiled.binds[name].type.bind_processor(dialect)
            values.append(processor(given[name]) if processor else given[name])
        started = time.perf_counter()
        with database.engine.connect() as conn:
            rows = list(conn.exec_driver_sql(str(compiled), tuple(values)).fetchall())
        reading += time.perf_counter() - started
        if rows:
            pages.append(columnar(feed, rows))
            last = rows[-1]
            after = (datetime.fromisoformat(last[feed.watermark_index]).replace(tzinfo=UTC), last[0])
        if len(rows) < PAGE:
            return pages, reading


def into_duckdb(feed: Feed, pages: list[pa.Table], mode: str) -> float:
    columns = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.kind]}' for c in feed.all_columns)
    keyed = f', PRIMARY KEY ("{feed.key.name}")' if mode != "insert, no key" else ""
    with tempfile.TemporaryDirectory(prefix="guanxi-bench-duck-") as folder:
        path = os.path.join(folder, "w.duckdb")
        connection = duckdb.connect(path)
        connection.execute(f"CREATE TABLE t ({columns}{keyed})")
        started = time.perf_counter()
        for page in pages:
            connection.execute("BEGIN TRANSACTION")
            if mode == "as the sync":
                staged = os.path.join(folder, "page.parquet")
                pq.write_table(page, staged)
                connection.execute("INSERT OR REPLACE INTO t BY NAME SELECT * FROM read_parquet(?)", [staged])
            else:
                connection.register("page", page)
                connection.execute("INSERT INTO t BY NAME SELECT * FROM page")
                connection.unregister("page")
            connection.execute("COMMIT")
        seconds = time.perf_counter() - started
        connection.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.analytics_sync", description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=400_000)
    args = parser.parse_args(argv)
    say: Callable[[str], None] = lambda text: print(text, flush=True)  # noqa: E731
    day = datetime.combine(datetime.now(UTC).date(), day_time(), UTC)
    rng = np.random.default_rng(7)
    with scratch_database(None, "analytics-sync") as (_, database):
        members = fill_customers(database, args.customers, day - timedelta(days=WINDOW_DAYS), rng)
        dropped = drop_indexes(database)
        fill_orders(database, members, args.orders, day - timedelta(days=WINDOW_DAYS), rng, say)
        create_indexes(database, dropped)
        settle(database)
        until = day + timedelta(minutes=5)
        for feed in (feeds.ORDERS, feeds.ORDER_LINES):
            started = time.perf_counter()
            current = as_sync_reads(database, feed, until)
            current_s = time.perf_counter() - started
            started = time.perf_counter()
            fast, reading = through_driver(database, feed, until)
            fast_s = time.perf_counter() - started
            rows = sum(p.num_rows for p in current)
            equal = pa.concat_tables(current).equals(pa.concat_tables(fast))
            say(
                f"{feed.name}: {rows:,} rows; read + convert as the sync: {current_s:.1f} s ({rows / current_s:,.0f}"
                f" rows/s); through the driver, column-wise: {fast_s:.1f} s ({rows / fast_s:,.0f} rows/s, of which"
                f" the driver's read {reading:.1f} s); the tables are {'equal' if equal else 'DIFFERENT'}"
            )
            for mode in ("as the sync", "insert", "insert, no key"):
                say(f"  DuckDB, {mode}: {into_duckdb(feed, current, mode):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
