"""The analytics run on 1,000,000 customers and 10,000,000 orders.

    .venv/bin/python -m benchmarks.analytics [--customers N --orders M --database-url URL]

A fresh database (SQLite, or a new PostgreSQL database on the --database-url server) is filled
(`benchmarks.analytics_fill`: two years of orders with lines, churners and a heavy tail of
frequent buyers, refunds, coupons). Then, with the clock frozen at the end of each step:
1. the first full warehouse sync (`sync(database, Warehouse())`), rows/s per feed;
2. a day's changes (orders / 730 new orders, a few hundred refunds), then the incremental sync;
3. the whole `run_analytics` as of that day, each step's time (sync, compute, write back,
   snapshot) and the compute's parts, with the process's peak resident memory in each step;
4. RFM next to its baselines on the same warehouse (`benchmarks.analytics_rfm`).
Aims: day's sync < 10 s, run_analytics < 5 min, RFM within 2x the hand-written SQL and at least
10x faster than pandas, the three RFM frames identical. `--profile DIR` also writes cProfile
files of the first sync and of run_analytics, and prints their top functions.
Results go to benchmarks/results/analytics-<stamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import json
import os
import pstats
import resource
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import api
from benchmarks.analytics_fill import (
    WINDOW_DAYS,
    a_days_changes,
    create_indexes,
    drop_indexes,
    fill_customers,
    fill_orders,
)
from benchmarks.analytics_rfm import compare
from benchmarks.expiry import scratch_database
from benchmarks.segments import settle

CUSTOMERS = 1_000_000
ORDERS = 10_000_000
REFUNDS = 300
AIMS = {"day_sync_s": 10.0, "run_analytics_s": 300.0, "ours_over_sql": 2.0, "pandas_over_ours": 10.0}
STEP_NAMES = ("sync", "compute + facts", "write back + retention", "snapshot + report")
# The run's parts, timed by wrapping them where the runner and `scoring` look them up (the source
# is not changed): (module, attribute); their steps: scoring and facts in the second, writeback
# and retention in the third, the snapshot and the outputs in the fourth.
PARTS = (
    ("guanxi.analytics.scoring", "compute"),
    ("guanxi.analytics.scoring", "features_frame"),
    ("guanxi.analytics.scoring", "_clv"),
    ("guanxi.analytics.scoring", "_scorecard"),
    ("guanxi.analytics.scoring", "_churn_model"),
    ("guanxi.analytics.scoring", "_clusters"),
    ("guanxi.analytics.scoring", "value_tiers"),
    ("guanxi.analytics.scoring", "clean"),
    ("guanxi.analytics.facts", "write"),
    ("guanxi.analytics.writeback", "write_scores"),
    ("guanxi.analytics.retention", "refresh"),
    ("guanxi.analytics.runner", "_snapshot"),
    ("guanxi.analytics.outputs", "write_report"),
    ("guanxi.analytics.outputs", "publish"),
)
# scoring.compute's own parts; what is left of compute is RFM and the lifecycle (their queries run inline)
SCORING_PARTS = ("features_frame", "_clv", "_scorecard", "_churn_model", "_clusters", "value_tiers", "clean")


class PeakMemory:
    """The process's resident memory, sampled every 50 ms; `mark()` starts a new interval."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _resident(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self.page

    def _watch(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self._resident())

    def mark(self) -> int:
        """The peak since the last mark (bytes)."""
        peak, self.peak = max(self.peak, self._resident()), self._resident()
        return peak

    def __enter__(self) -> PeakMemory:
        self.peak = self._resident()
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def mib(n: int) -> float:
    return round(n / 2**20, 1)


@contextlib.contextmanager
def profiled(directory: Path | None, name: str, say: Callable[[str], None]) -> Iterator[None]:
    if directory is None:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.prof"
        profile.dump_stats(str(path))
        say(f"  profile written to {path}; top functions by own time:")
        stats = pstats.Stats(str(path))
        stats.sort_stats("tottime").print_stats(15)


@contextlib.contextmanager
def run_parts(parts: list[tuple[str, float]]) -> Iterator[None]:
    """Record each call's wall time of the PARTS, as (module.attribute, seconds) in call order."""
    import importlib

    saved = [(importlib.import_module(module), name) for module, name in PARTS]
    originals = [getattr(module, name) for module, name in saved]

    def wrap(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts.append((label, time.perf_counter() - started))

        return timed

    for (module, name), fn in zip(saved, originals, strict=True):
        setattr(module, name, wrap(f"{module.__name__.rsplit('.', 1)[-1]}.{name}", fn))
    try:
        yield
    finally:
        for (module, name), fn in zip(saved, originals, strict=True):
            setattr(module, name, fn)


def part_times(parts: list[tuple[str, float]]) -> dict[str, float]:
    """The parts' seconds; features_frame runs twice (directly, and inside _churn_model for the
    features 90 days before), and what compute spends outside its parts is RFM and lifecycle."""
    found: dict[str, float] = {}
    for label, seconds in parts:
        key = label if label not in found else f"{label} (again, inside _churn_model)"
        found[key] = round(seconds, 3)
    if "scoring.compute" in found:
        inside = sum(found.get(f"scoring.{name}", 0.0) for name in SCORING_PARTS)
        found["scoring: rfm + lifecycle (the rest)"] = round(found["scoring.compute"] - inside, 3)
    return found


def timed_sync(database: Any, say: Callable[[str], None], label: str) -> dict[str, Any]:
    from guanxi.analytics.warehouse.store import Warehouse
    from guanxi.analytics.warehouse.sync import sync

    warehouse = Warehouse()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        report = sync(database, warehouse)
    finally:
        warehouse.close()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    feeds = report.as_dict()["feeds"]
    say(
        f"  {label}: {report.rows:,} rows in {seconds:.1f} s ({report.rows / seconds:,.0f} rows/s; "
        f"CPU {cpu:.1f} s): " + ", ".join(f"{k} {v['rows']:,}" for k, v in feeds.items() if v["rows"])
    )
    return {
        "s": round(seconds, 3),
        "cpu_s": round(cpu, 2),
        "rows": report.rows,
        "rows_per_s": round(report.rows / seconds),
        "feeds": feeds,
    }


def timed_run(database: Any, as_of: date, memory: PeakMemory, say: Callable[[str], None]) -> dict[str, Any]:
    from guanxi.analytics.runner import run_analytics

    marks: list[float] = []
    peaks: list[int] = []
    parts: list[tuple[str, float]] = []

    def progress(done: int, total: int) -> None:
        marks.append(time.perf_counter())
        peaks.append(memory.mark())

    memory.mark()
    started, cpu = time.perf_counter(), time.process_time()
    with run_parts(parts):
        report = run_analytics(database, as_of=as_of, on_progress=progress)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    steps = {}
    previous = started
    for name, mark, peak in zip(STEP_NAMES, marks, peaks, strict=True):
        steps[name] = {"s": round(mark - previous, 3), "peak_rss_mib": mib(peak)}
        previous = mark
    say(f"  run_analytics: {seconds:.1f} s (CPU {cpu:.1f} s)")
    for name, step in steps.items():
        say(f"    {name:24} {step['s']:8.1f} s   peak RSS {step['peak_rss_mib']:8,.0f} MiB")
    computed = part_times(parts)
    for name, part_s in computed.items():
        say(f"      {name:52} {part_s:8.1f} s")
    return {
        "s": round(seconds, 3),
        "cpu_s": round(cpu, 2),
        "steps": steps,
        "parts": computed,
        "sync": report["sync"],
        "written": report["written"],
        "skipped": report["skipped"],
        "computed": {k: v for k, v in report["computed"].items() if k in ("customers", "buyers", "segments", "stages")},
    }


def main(argv: list[str] | None = None) -> int:
    from guanxi.analytics.warehouse.store import Warehouse
    from guanxi.kit import clock

    parser = argparse.ArgumentParser(prog="python -m benchmarks.analytics", description=__doc__)
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--orders", type=int, default=ORDERS)
    parser.add_argument("--refunds", type=int, default=REFUNDS, help="refunds among the day's changes")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL instead of SQLite")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each RFM implementation")
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile files of sync and run here")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    say = functools.partial(print, flush=True)
    info = api.machine()
    kind = "postgresql" if args.database_url else "sqlite"
    say(f"guanxi analytics benchmark ({kind}): {args.customers:,} customers, {args.orders:,} orders on {info['cpu']}")
    as_of = datetime.now(UTC).date()
    day_start = datetime.combine(as_of, day_time(), UTC)  # the day of "a day's changes"
    window_start = day_start - timedelta(days=WINDOW_DAYS)
    rng = np.random.default_rng(args.seed)
    report: dict[str, Any] = {
        "benchmark": "analytics",
        "database": kind,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "as_of": as_of.isoformat(),
        "aims": AIMS,
    }
    with scratch_database(args.database_url, "analytics") as (_, database), PeakMemory() as memory:
        started = time.perf_counter()
        members = fill_customers(database, args.customers, window_start, rng)
        customers_s = time.perf_counter() - started
        say(f"  {args.customers:,} customers, {members.counts['members']:,} members: {customers_s:.0f} s")
        started = time.perf_counter()
        dropped = drop_indexes(database)
        writer = fill_orders(database, members, args.orders, window_start, rng, say)
        orders_s = time.perf_counter() - started
        started = time.perf_counter()
        create_indexes(database, dropped)
        settle(database)
        indexes_s = time.perf_counter() - started
        say(
            f"  {writer.n:,} orders, {writer.lines:,} lines, {writer.coupons:,} coupons, {writer.refunded:,} refunded, "
            f"{writer.cancelled:,} cancelled: {orders_s:.0f} s ({(writer.n + writer.lines) / orders_s:,.0f} rows/s), "
            f"indexes and statistics {indexes_s:.0f} s"
        )
        report["data"] = {
            **members.counts,
            "orders": writer.n,
            "lines": writer.lines,
            "coupons": writer.coupons,
            "refunded_or_partly": writer.refunded,
            "cancelled": writer.cancelled,
            "customers_s": round(customers_s, 1),
            "orders_s": round(orders_s, 1),
            "indexes_s": round(indexes_s, 1),
        }
        memory.mark()
        with clock.frozen(day_start + timedelta(minutes=5)), profiled(args.profile, "first-sync", say):
            report["first_sync"] = timed_sync(database, say, "first full sync")
        report["first_sync"]["peak_rss_mib"] = mib(memory.mark())

        started = time.perf_counter()
        with clock.frozen(day_start + timedelta(hours=23, minutes=59)):
            changes = a_days_changes(
                database, writer, day_start.timestamp(), max(1, args.orders // WINDOW_DAYS), args.refunds, rng
            )
        say(
            f"  a day's changes: {changes['new_orders']:,} new orders, {changes['refunded_orders']} refunds "
            f"({time.perf_counter() - started:.1f} s to write)"
        )
        with clock.frozen(day_start + timedelta(days=1, minutes=15)):
            report["day_sync"] = {**timed_sync(database, say, "the day's sync"), **changes}

        with clock.frozen(day_start + timedelta(days=1, minutes=20)), profiled(args.profile, "run-analytics", say):
            report["run_analytics"] = timed_run(database, as_of, memory, say)

        warehouse = Warehouse()
        try:
            report["rfm"] = compare(warehouse.connection, as_of, 365, args.rounds, say)
        finally:
            warehouse.close()
        report["peak_rss_mib"] = mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    met = {
        "day_sync_s": report["day_sync"]["s"] < AIMS["day_sync_s"],
        "run_analytics_s": report["run_analytics"]["s"] < AIMS["run_analytics_s"],
        "ours_over_sql": report["rfm"]["ours_over_sql"] <= AIMS["ours_over_sql"],
        "pandas_over_ours": report["rfm"]["pandas_over_ours"] >= AIMS["pandas_over_ours"],
        "rfm_identical": all(v == "identical" for v in report["rfm"]["identical"].values()),
    }
    report["met"] = met
    say(table(report))
    api.RESULTS.mkdir(exist_ok=True)
    out = api.RESULTS / f"analytics-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    say(f"results written to {out}")
    return 0 if all(met.values()) else 1


def table(report: dict[str, Any]) -> str:
    rfm = report["rfm"]
    run = report["run_analytics"]
    met = report["met"]

    def verdict(key: str) -> str:
        return "met" if met[key] else "MISSED"

    rows = [
        ("first full sync", f"{report['first_sync']['s']:.1f} s", f"{report['first_sync']['rows_per_s']:,} rows/s", ""),
        (
            "the day's sync",
            f"{report['day_sync']['s']:.2f} s",
            f"{report['day_sync']['rows']:,} rows",
            f"< 10 s: {verdict('day_sync_s')}",
        ),
        (
            "run_analytics",
            f"{run['s']:.1f} s",
            ", ".join(f"{k} {v['s']:.0f} s" for k, v in run["steps"].items()),
            f"< 5 min: {verdict('run_analytics_s')}",
        ),
        ("RFM ours (Ibis)", f"{rfm['ours (Ibis, DuckDB)']['fastest_s']:.3f} s", "", ""),
        (
            "RFM hand-written SQL",
            f"{rfm['hand-written DuckDB SQL']['fastest_s']:.3f} s",
            f"ours / SQL {rfm['ours_over_sql']:.2f}x",
            f"<= 2x: {verdict('ours_over_sql')}",
        ),
        (
            "RFM pandas",
            f"{rfm['plain pandas']['fastest_s']:.3f} s",
            f"pandas / ours {rfm['pandas_over_ours']:.1f}x",
            f">= 10x: {verdict('pandas_over_ours')}",
        ),
        ("RFM frames identical", "", "", "yes" if met["rfm_identical"] else "NO"),
    ]
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  " + "  ".join(cell.ljust(width[i]) for i, cell in enumerate(r)) for r in rows)


if __name__ == "__main__":
    raise SystemExit(main())
