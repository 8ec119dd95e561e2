"""Liability report and what-if simulation at scale, next to the raw database in the same run.

    .venv/bin/python -m benchmarks.liability [--lots 1000000] [--orders 100000] [--database-url URL]

Loads N point lots (with their entries and a year of use and expiry movements) and M orders with
lines straight into a scratch database with bulk inserts, then times:
- the liability report against `SELECT SUM(remaining)` over the same lots (the floor: one scan);
- a simulation of the M orders (current program vs a scenario) against a loop that only reads the
  same orders, lines and birthdays in the same order (the floor: the stream itself).

SQLite by default (a scratch file); with --database-url (a PostgreSQL server URL) a scratch database
is created on that server and dropped afterwards. Results print as a table and go to
benchmarks/results/liability-<stamp>.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.server import fresh_database

RESULTS = Path(__file__).parent / "results"
CHUNK = 20_000
TZ = "Asia/Shanghai"


def _env(home: Path, url: str) -> None:
    """Settings are read from the environment: fix them before guanxi is imported."""
    os.environ["GUANXI_HOME"] = str(home)
    os.environ["GUANXI_DATABASE_URL"] = url
    os.environ.setdefault("GUANXI_SECRET_KEY", base64.b64encode(b"b" * 32).decode())


@contextmanager
def scratch_database(server_url: str | None, home: Path) -> Iterator[str]:
    """A scratch file in `home` for SQLite, or a new database on the server, dropped after."""
    with fresh_database(server_url, "liability") as url:
        yield url if url is not None else f"sqlite:///{home / 'bench.db'}"


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def load(db: Any, *, lots: int, orders: int, now: datetime, seed: int = 7) -> dict[str, float]:
    """Customers and accounts (one per 10 lots), one earn entry per lot, lots earned over the last
    year with a 12-month rolling expiry, a third of them used or expired (with their movements),
    and `orders` orders with one to three lines over the last year."""
    from sqlalchemy import insert

    from guanxi.customers.models import Customer
    from guanxi.kit.ids import new_id
    from guanxi.loyalty.orders.models import Order, OrderLine
    from guanxi.loyalty.program import config as program
    from guanxi.loyalty.program.models import LotMovement, LoyaltyAccount, PointEntry, PointLot
    from guanxi.loyalty.rules import expiry

    rng = random.Random(seed)
    timings: dict[str, float] = {}
    with db.unit_of_work() as session:
        config = program.ensure(session)
    n_accounts = max(lots // 10, 1)
    customer_ids = [new_id() for _ in range(n_accounts)]
    account_ids = [new_id() for _ in range(n_accounts)]
    started = time.perf_counter()
    with db.engine.begin() as conn:
        for batch in _chunks(
            {
                "id": cid,
                "member_no": f"GX{i:010d}",
                "name": "会员",
                "name_pinyin": "huiyuan",
                "name_initials": "hy",
                "birthday": date(1970 + i % 40, 1 + i % 12, 1 + i % 28) if i % 3 else None,
                "created_at": now,
                "updated_at": now,
            }
            for i, cid in enumerate(customer_ids)
        ):
            conn.execute(insert(Customer), batch)
        for batch in _chunks(
            {
                "id": aid,
                "program_id": config.id,
                "customer_id": cid,
                "tier_code": "basic",
                "tier_since": now,
                "enrolled_at": now,
                "created_at": now,
                "updated_at": now,
                "points_balance": -50 if i % 1000 == 0 else 0,
            }
            for i, (aid, cid) in enumerate(zip(account_ids, customer_ids, strict=True))
        ):
            conn.execute(insert(LoyaltyAccount), batch)
    timings["load_members_s"] = time.perf_counter() - started

    started = time.perf_counter()
    movements: list[dict[str, Any]] = []
    with db.engine.begin() as conn:
        next_entry = 1
        for start in range(0, lots, CHUNK):
            entries, lot_rows = [], []
            for lot_id in range(start + 1, min(start + CHUNK, lots) + 1):
                account = account_ids[lot_id % n_accounts]
                earned = now - timedelta(days=rng.randrange(0, 365), seconds=rng.randrange(0, 86400))
                issued = rng.randrange(10, 2000)
                fate = rng.random()
                used = issued if fate < 0.25 else 0
                expired = issued if 0.25 <= fate < 0.33 else 0
                remaining = issued - used - expired
                entries.append(
                    {
                        "id": next_entry,
                        "account_id": account,
                        "kind": "earn",
                        "points": issued,
                        "balance_after": 0,
                        "reason": "order",
                        "actor_id": "bench",
                        "detail": {},
                        "occurred_at": earned,
                        "created_at": earned,
                    }
                )
                lot_rows.append(
                    {
                        "id": lot_id,
                        "account_id": account,
                        "entry_id": next_entry,
                        "source": "order",
                        "issued": issued,
                        "used": used,
                        "expired": expired,
                        "reversed": 0,
                        "remaining": remaining,
                        "status": "available" if remaining else "closed",
                        "available_at": earned,
                        "expires_at": expiry.expires_at(earned, config.expiry, TZ),
                        "created_at": earned,
                    }
                )
                if used or expired:
                    movements.append(
                        {
                            "lot_id": lot_id,
                            "kind": "use" if used else "expire",
                            "points": used or expired,
                            "at": earned + timedelta(days=rng.randrange(1, 60)),
                            "account": account,
                        }
                    )
                next_entry += 1
            conn.execute(insert(PointEntry), entries)
            conn.execute(insert(PointLot), lot_rows)
        # One redeem or expire entry per movement, then the movements pointing at them.
        for batch_start in range(0, len(movements), CHUNK):
            batch = movements[batch_start : batch_start + CHUNK]
            conn.execute(
                insert(PointEntry),
                [
                    {
                        "id": next_entry + i,
                        "account_id": m["account"],
                        "kind": "redeem" if m["kind"] == "use" else "expire",
                        "points": -m["points"],
                        "balance_after": 0,
                        "reason": "bench",
                        "actor_id": "bench",
                        "detail": {},
                        "occurred_at": min(m["at"], now),
                        "created_at": now,
                    }
                    for i, m in enumerate(batch)
                ],
            )
            conn.execute(
                insert(LotMovement),
                [
                    {"entry_id": next_entry + i, "lot_id": m["lot_id"], "kind": m["kind"], "points": m["points"]}
                    for i, m in enumerate(batch)
                ],
            )
            next_entry += len(batch)
    timings["load_lots_s"] = time.perf_counter() - started

    started = time.perf_counter()
    categories = ["apparel", "shoes", "beauty", "home", "food", None]
    with db.engine.begin() as conn:
        for start in range(0, orders, CHUNK):
            order_rows: list[dict[str, Any]] = []
            line_rows: list[dict[str, Any]] = []
            for n in range(start, min(start + CHUNK, orders)):
                i = rng.randrange(n_accounts)
                oid = new_id()
                prices = [Decimal(rng.randrange(20, 800)) for _ in range(rng.randrange(1, 4))]
                paid = sum(prices, Decimal(0))
                refunded = (paid / 2).quantize(Decimal("0.01")) if n % 50 == 0 else Decimal(0)
                order_rows.append(
                    {
                        "id": oid,
                        "source": "bench",
                        "external_id": f"B{n}",
                        "request_hash": "x",
                        "customer_id": customer_ids[i],
                        "account_id": account_ids[i],
                        "paid_amount": paid,
                        "refunded_amount": refunded,
                        "currency": "CNY",
                        "occurred_at": now - timedelta(seconds=rng.randrange(1, 360 * 86400)),
                        "store": "SH-01",
                        "channel": "store",
                        "status": "completed" if not refunded else "partially_refunded",
                        "points_earned": int(paid),
                        "tier_code": "basic",
                        "answer": {},
                        "created_by": "bench",
                        "created_at": now,
                    }
                )
                line_rows.extend(
                    {
                        "id": new_id(),
                        "order_id": oid,
                        "line_no": k + 1,
                        "sku": f"SKU-{rng.randrange(500)}",
                        "category": rng.choice(categories),
                        "quantity": 1,
                        "unit_price": price,
                        "paid_share": price,
                    }
                    for k, price in enumerate(prices)
                )
            conn.execute(insert(Order), order_rows)
            conn.execute(insert(OrderLine), line_rows)
    timings["load_orders_s"] = time.perf_counter() - started
    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return timings


def best_of(runs: int, work: Callable[[], Any]) -> tuple[float, float, Any]:
    """(fastest, median) seconds of `runs` runs, and the last result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


def scenario() -> Any:
    """Double every base rate and raise every tier above the lowest by half: both kinds of change."""
    from guanxi.loyalty.insights.simulation import ScenarioIn
    from guanxi.loyalty.program import config as program
    from guanxi.loyalty.rules import engine as rules

    definitions = []
    for rule in rules.default_rules():
        definition = rule.model_dump(mode="json")
        if definition.get("kind") == "base_rate":
            definition["points"] = str(Decimal(str(definition["points"])) * 2)
        definitions.append(definition)
    tiers = [
        {"code": t["code"], "name": t["name"], "threshold": str(Decimal(t["threshold"]) * Decimal("1.5"))}
        for t in program.DEFAULT_TIERS
    ]
    return ScenarioIn.model_validate({"months": 12, "rules": definitions, "tiers": tiers})


def measure(db: Any, runs: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from guanxi.kit.principal import SYSTEM
    from guanxi.loyalty.insights import liability, simulation
    from guanxi.loyalty.program.models import PointLot

    def report() -> liability.LiabilityReport:
        with db.unit_of_work(read_only=True) as session:
            return liability.liability(session, SYSTEM)

    def plain_sum() -> int:
        with db.unit_of_work(read_only=True) as session:
            return int(session.scalar(select(func.sum(PointLot.remaining))) or 0)

    what_if = scenario()

    def simulate() -> simulation.SimulationReport:
        with db.unit_of_work(read_only=True) as session:
            return simulation.simulate(session, SYSTEM, what_if)

    def plain_read() -> int:
        """The same rows, in the same order, only counted."""
        with db.unit_of_work(read_only=True) as session:
            start, end = simulation.window(simulation.program.load(session), what_if.months)
            stmt = simulation.window_rows(start, end)
            return sum(1 for _ in session.execute(stmt))

    out: dict[str, Any] = {}
    out["liability_best_s"], out["liability_median_s"], rep = best_of(runs, report)
    out["sum_best_s"], out["sum_median_s"], total = best_of(runs, plain_sum)
    assert rep.outstanding_points == total, (rep.outstanding_points, total)  # the same points, counted twice
    out["liability_ratio"] = out["liability_best_s"] / out["sum_best_s"]
    out["outstanding_points"] = rep.outstanding_points
    out["expiry_months"] = len(rep.by_expiry_month)
    out["breakage"] = str(rep.breakage.rate)
    sim_runs = max(1, runs // 2)
    out["simulation_best_s"], out["simulation_median_s"], sim = best_of(sim_runs, simulate)
    out["read_best_s"], out["read_median_s"], rows = best_of(sim_runs, plain_read)
    out["simulation_ratio"] = out["simulation_best_s"] / out["read_best_s"]
    out["orders_replayed"] = sim.orders_replayed
    out["rows_read"] = rows
    out["orders_per_s"] = sim.orders_replayed / out["simulation_best_s"]
    out["points_baseline"] = sim.baseline.points
    out["points_scenario"] = sim.scenario.points
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.liability", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lots", type=int, default=1_000_000, help="point lots to load (default 1000000)")
    parser.add_argument("--orders", type=int, default=100_000, help="orders to replay (default 100000)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each report (best is kept)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL; a scratch database is made there")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (SQLite)")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="guanxi-bench-liability-"))
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        with scratch_database(args.database_url, home) as url:
            _env(home, url)
            from guanxi.config import reset_settings
            from guanxi.kit.db import Database, set_database
            from guanxi.migrations.all_models import metadata

            reset_settings()
            db = Database(url)
            set_database(db)
            metadata.create_all(db.engine)
            print(f"loading {args.lots:,} lots and {args.orders:,} orders into {db.dialect} ...", flush=True)
            result: dict[str, Any] = {"database": db.dialect, "lots": args.lots, "orders": args.orders}
            result.update(load(db, lots=args.lots, orders=args.orders, now=now))
            result.update(measure(db, args.runs))
            set_database(None)
    finally:
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    result.update(machine=platform.node(), cpus=os.cpu_count(), python=platform.python_version(), date=now.isoformat())
    print_table(result)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"liability-{result['database']}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwritten to {path}")
    return 0


def print_table(r: dict[str, Any]) -> None:
    print(
        f"\n{r['database']}: {r['lots']:,} lots, {r['orders']:,} orders "
        f"(load {r['load_members_s'] + r['load_lots_s'] + r['load_orders_s']:.1f} s)"
    )
    print(f"{'':32}{'ours (s)':>10}{'baseline (s)':>14}{'ratio':>8}")
    print(
        f"{'liability report vs SUM(remaining)':32}{r['liability_best_s']:>10.3f}{r['sum_best_s']:>14.3f}"
        f"{r['liability_ratio']:>8.1f}"
    )
    print(
        f"{'simulation vs reading the orders':32}{r['simulation_best_s']:>10.3f}{r['read_best_s']:>14.3f}"
        f"{r['simulation_ratio']:>8.1f}"
    )
    print(
        f"outstanding {r['outstanding_points']:,} points in {r['expiry_months']} expiry months, breakage "
        f"{r['breakage']}; replayed {r['orders_replayed']:,} orders ({r['orders_per_s']:,.0f}/s), points "
        f"{r['points_baseline']:,} -> {r['points_scenario']:,}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
