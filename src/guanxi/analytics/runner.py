"""One analytics run: sync the warehouse, compute every score, write them back, keep a snapshot.

Called by `guanxi analytics run`, by the nightly schedule and, as the background run kind
`analytics.run`, from the console and the API. The warehouse file has one writer at a time: a
second run while one is going is refused (`analytics_run_busy`), not queued behind it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from guanxi.analytics import facts, outputs, retention, scoring, writeback
from guanxi.analytics import settings as analytics_settings
from guanxi.analytics.errors import run_busy
from guanxi.analytics.purchases import Warehouse as Tables
from guanxi.analytics.warehouse.store import Warehouse, warehouse_dir
from guanxi.analytics.warehouse.sync import sync
from guanxi.auth.service import require
from guanxi.kit import clock, runs
from guanxi.kit.db import Database
from guanxi.kit.ids import new_id
from guanxi.kit.principal import Principal
from guanxi.kit.runs import BackgroundRun, RunContext

log = logging.getLogger(__name__)
KIND = "analytics.run"
STEPS = 4  # sync, compute, write back, snapshot
_one_at_a_time = threading.Lock()

Progress = Callable[[int, int], None]


def snapshot_path(as_of: date) -> Path:
    return warehouse_dir() / "snapshots" / f"as_of={as_of.isoformat()}" / "scores.parquet"


def snapshot_dates() -> list[date]:
    root = warehouse_dir() / "snapshots"
    if not root.exists():
        return []
    found = [date.fromisoformat(p.name.removeprefix("as_of=")) for p in root.iterdir() if p.name.startswith("as_of=")]
    return sorted(found)


def run_analytics(
    database: Database,
    *,
    as_of: date | None = None,
    full_sync: bool = False,
    options: scoring.Options | None = None,
    on_progress: Progress | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The whole run; returns its report (what was computed, skipped and written)."""
    as_of = as_of or (options.as_of if options else clock.today())
    with database.unit_of_work(read_only=True) as session:
        chosen = analytics_settings.current(session)
    options = options or analytics_settings.options_for(chosen, as_of)
    run_id = run_id or new_id()
    if not _one_at_a_time.acquire(blocking=False):
        raise run_busy()
    try:
        warehouse = Warehouse()
        try:
            synced = sync(database, warehouse, full=full_sync)
            _progress(on_progress, 1)
            tables = Tables.on(ibis.duckdb.from_connection(warehouse.connection))
            computed = scoring.compute(tables, options)
            folder = outputs.run_folder(run_id)
            basket_report = facts.write(tables, computed, folder, as_of)
            _progress(on_progress, 2)
        finally:
            warehouse.close()
        with database.unit_of_work() as session:
            written = writeback.write_scores(
                session, computed.scores, run_id=run_id, as_of=as_of, skipped=list(computed.skipped)
            )
            retention.refresh(session, computed.scores, as_of=as_of, run_id=run_id)
        _progress(on_progress, 3)
        _snapshot(computed, as_of)
        report = {
            "run_id": run_id,
            "as_of": as_of.isoformat(),
            "sync": synced.as_dict(),
            "computed": {**computed.report, "basket": basket_report},
            "settings": analytics_settings.describe(chosen),
            "skipped": computed.skipped,
            "written": written.as_dict(),
            "clusters": computed.cluster_profiles,
        }
        outputs.write_report(folder, report)
        outputs.publish(run_id)
        _progress(on_progress, 4)
    finally:
        _one_at_a_time.release()
    return report


def _progress(hook: Progress | None, done: int) -> None:
    if hook:
        hook(done, STEPS)


def _snapshot(computed: scoring.Computed, as_of: date) -> None:
    """The run's scores as of its date, replacing an earlier run of the same date."""
    path = snapshot_path(as_of)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = computed.scores.drop(columns=["churn_reasons"]).copy()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    partial = path.with_suffix(".partial")
    pq.write_table(table, partial)
    partial.replace(path)


# -- the background run ---------------------------------------------------------------------


def start(session: Session, actor: Principal, database: Database, *, as_of: date | None = None) -> BackgroundRun:
    require(actor, "analytics", "create")
    parameters = {"as_of": as_of.isoformat() if as_of else None}
    run = runs.create(session, actor, KIND, parameters)
    runs.launch(session, run.id, database)
    return run


def _work(context: RunContext) -> dict[str, Any]:
    as_of_text = context.parameters.get("as_of")
    as_of = date.fromisoformat(as_of_text) if as_of_text else None
    return run_analytics(
        context.database,
        as_of=as_of,
        on_progress=lambda done, total: context.progress(done, total),
        run_id=context.run_id,
    )


runs.register(KIND, _work)


def get_run(session: Session, actor: Principal, run_id: str) -> BackgroundRun:
    require(actor, "analytics", "read")
    return runs.get(session, run_id, kind=KIND)
