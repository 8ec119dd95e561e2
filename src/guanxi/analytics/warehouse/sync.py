"""Incremental copy of the operational database into the warehouse.

Each feed is read in pages in (watermark, key) order from where its last pass ended (less its
overlap, for rows committed late). A page becomes an Arrow table, is written as a Parquet file
(the exchange format another engine can load as well), and is upserted into the feed's DuckDB
table in one DuckDB transaction together with the feed's state. So:
- a second sync with nothing changed copies nothing new and changes nothing (idempotent);
- a sync stopped anywhere (killed, an error) resumes at the page after the last one stored;
- the operational database sees only short indexed range reads, one page per unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from guanxi.analytics.warehouse.store import Warehouse, warehouse_dir
from guanxi.customers import feeds as customer_feeds
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.feeds import ColumnKind, Feed
from guanxi.kit.ids import new_id
from guanxi.loyalty import feeds as loyalty_feeds

log = logging.getLogger(__name__)

ALL_FEEDS: tuple[Feed, ...] = (*customer_feeds.FEEDS, *loyalty_feeds.FEEDS)
PAGE_ROWS = 50_000

ARROW_TYPES: dict[ColumnKind, pa.DataType] = {
    "string": pa.string(),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "money": pa.decimal128(18, 2),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}


@dataclass
class FeedSync:
    feed: str
    rows: int = 0
    pages: int = 0
    resumed: bool = False


@dataclass
class SyncReport:
    feeds: list[FeedSync] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.feeds)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "feeds": {f.feed: {"rows": f.rows, "pages": f.pages} for f in self.feeds}}


Progress = Callable[[str, int], None]


def sync(
    database: Database,
    warehouse: Warehouse,
    feeds: Sequence[Feed] = ALL_FEEDS,
    *,
    full: bool = False,
    page_rows: int = PAGE_ROWS,
    on_page: Progress | None = None,
) -> SyncReport:
    """Bring every feed's table up to date; `full` forgets what was copied and starts again."""
    report = SyncReport()
    staging = warehouse_dir() / "staging"
    staging.mkdir(mode=0o700, exist_ok=True)
    for feed in feeds:
        if full:
            warehouse.reset(feed)
        warehouse.ensure_table(feed)
        report.feeds.append(_sync_feed(database, warehouse, feed, staging, page_rows, on_page))
    return report


def _sync_feed(
    database: Database, warehouse: Warehouse, feed: Feed, staging: Path, page_rows: int, on_page: Progress | None
) -> FeedSync:
    state = warehouse.state(feed)
    done = FeedSync(feed.name, resumed=state.in_pass)
    if not state.in_pass:
        state.pass_since = _start_of_pass(feed, state.mark)
        state.pass_until = _end_of_pass(database, feed)
        state.after_mark = state.after_key = None
        if state.pass_until is None:  # an empty source: nothing to copy yet
            return done
    while True:
        after = None if state.after_mark is None else (state.after_mark, state.after_key)
        statement = feed.page(since=state.pass_since, until=state.pass_until, after=after, limit=page_rows)
        with database.unit_of_work(read_only=True) as session:
            rows = session.execute(statement).all()
        if rows:
            table = _arrow_table(feed, rows)
            path = staging / f"{feed.name}-{new_id()}.parquet"
            pq.write_table(table, path)
            try:
                state.after_mark, state.after_key = rows[-1][feed.watermark_index], rows[-1][0]
                state.rows += len(rows)
                with warehouse.transaction() as duck:
                    duck.execute(
                        f'INSERT OR REPLACE INTO "{feed.name}" BY NAME SELECT * FROM read_parquet(?)',  # noqa: S608 (a feed's name, from code)
                        [str(path)],
                    )
                    warehouse.save_state(state)
            finally:
                path.unlink(missing_ok=True)
            done.rows += len(rows)
            done.pages += 1
            if on_page:
                on_page(feed.name, done.rows)
        if len(rows) < page_rows:
            break
    state.mark = state.pass_until
    state.pass_since = state.pass_until = state.after_mark = state.after_key = None
    with warehouse.transaction():
        warehouse.save_state(state)
    return done


def _start_of_pass(feed: Feed, mark: Any) -> Any:
    if mark is None:
        return None
    if feed.overlap is None:
        return mark
    return mark - feed.overlap


def _end_of_pass(database: Database, feed: Feed) -> Any:
    """Where this pass stops: now for a timestamp mark (rows changed later are the next pass's),
    the largest id for an integer one."""
    if feed.watermark.kind == "timestamp":
        return clock.now()
    with database.unit_of_work(read_only=True) as session:
        top = session.execute(select(func.max(feed.watermark.expression)).select_from(feed.source)).scalar()
    return None if top is None else int(top)


def _arrow_table(feed: Feed, rows: Sequence[Any]) -> pa.Table:
    columns = feed.all_columns
    values = list(zip(*rows, strict=True))
    arrays = [_arrow_array(c.kind, list(v)) for c, v in zip(columns, values, strict=True)]
    return pa.table(arrays, names=[c.name for c in columns])


def _arrow_array(kind: ColumnKind, values: list[Any]) -> pa.Array:
    """A column of Python values as Arrow, converted in Arrow's C code rather than value by value:
    aware datetimes become UTC instants without their zone, amounts keep their two decimals."""
    if kind == "timestamp":
        return pa.array(values, type=pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
    if kind == "money":
        try:
            return pa.array(values, type=ARROW_TYPES[kind])
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # more decimals than the column keeps
            return pa.array(
                [None if v is None else Decimal(v).quantize(Decimal("0.01")) for v in values], ARROW_TYPES[kind]
            )
    if kind == "bool":
        values = [None if v is None else bool(v) for v in values]
    return pa.array(values, type=ARROW_TYPES[kind])


def lag_of(feed: Feed, warehouse: Warehouse) -> timedelta | None:
    """How far behind now a timestamp feed's mark is (None before its first pass)."""
    state = warehouse.state(feed)
    if state.mark is None or feed.watermark.kind != "timestamp":
        return None
    mark = state.mark
    return clock.now() - (mark if mark.tzinfo else clock.as_utc(mark))
