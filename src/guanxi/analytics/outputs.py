"""What a run leaves for the dashboards, the API and analysts: Parquet files in a folder per run.

    warehouse/outputs/<run id>/
        purchases.parquet      one row per counted order (customer, time, net value, store,
                               channel, tier): the KPIs and cohorts are read from it
        points.parquet         points issued and redeemed per day and entry kind
        scores.parquet         every scored customer's scores (the snapshot of the run)
        basket_rules.parquet   category and product rules (support, confidence, lift)
        recommendations.parquet  "bought X, also buys Y" per customer
        report.json            the run's report (what was computed and skipped)
    warehouse/outputs/current  the id of the last complete run (written last, atomically)

Readers open the files with an in-memory DuckDB, never the warehouse file, so a dashboard never
waits for a run and a run never waits for a dashboard. A folder is complete before `current`
names it; the two most recent runs are kept.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guanxi.analytics.warehouse.store import warehouse_dir

KEEP_RUNS = 2
FILES = ("purchases", "points", "scores", "basket_rules", "recommendations")


def outputs_root() -> Path:
    root = warehouse_dir() / "outputs"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def run_folder(run_id: str) -> Path:
    folder = outputs_root() / run_id
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def write_frame(folder: Path, name: str, frame: pd.DataFrame | pa.Table) -> Path:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    path = folder / f"{name}.parquet"
    pq.write_table(table, path)
    return path


def write_report(folder: Path, report: dict[str, Any]) -> None:
    (folder / "report.json").write_text(json.dumps(report, ensure_ascii=False, default=str), encoding="utf-8")


def publish(run_id: str) -> None:
    """Name the run's folder as current, then drop all but the most recent ones."""
    root = outputs_root()
    pointer = root / "current"
    partial = root / "current.partial"
    partial.write_text(run_id, encoding="utf-8")
    partial.replace(pointer)
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[KEEP_RUNS:]:
        if old.name != run_id:
            shutil.rmtree(old, ignore_errors=True)


def current_folder() -> Path | None:
    """The last complete run's folder, or None before the first run."""
    pointer = outputs_root() / "current"
    if not pointer.exists():
        return None
    folder = outputs_root() / pointer.read_text(encoding="utf-8").strip()
    return folder if folder.is_dir() else None


def current_report() -> dict[str, Any] | None:
    folder = current_folder()
    if folder is None or not (folder / "report.json").exists():
        return None
    loaded: dict[str, Any] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return loaded
