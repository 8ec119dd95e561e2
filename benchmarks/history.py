"""History choices of an order import (`python -m benchmarks --suite history`): the set-based
rebuild of growth and tiers (`tiers`) and of points (`points`) over imported orders, timed
against the importer's own bare insert of the same orders (history only) in the same run, and
a sample through the per-order path (`orders.record_order`) for scale.

Members are bare customers with accounts; each gets the same number of orders spread over the
last three years (amounts from 20 to 2,000, so some reach silver and gold). Every figure is in
process, one scratch database per choice (a file for SQLite, a new database on the server for
PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from benchmarks import api
from benchmarks.expiry import insert_members, scratch_database

BATCH = 2000


def _records(pairs: list[tuple[str, str]], per_member: int, seed: int) -> list[Any]:
    from guanxi.loyalty.orders import bulk_import

    rng = random.Random(seed)
    now = datetime.now(UTC)
    records = []
    line = 2
    for customer_id, _ in pairs:
        for n in range(per_member):
            values = {
                "external_id": f"{customer_id}-{n}",
                "customer_id": customer_id,
                "paid_amount": Decimal(rng.randrange(2000, 200000)) / 100,
                "occurred_at": now - timedelta(days=rng.uniform(1, 3 * 365)),
            }
            record = bulk_import.validate(line, values)
            assert isinstance(record, bulk_import.OrderRecord)
            records.append(record)
            line += 1
    rng.shuffle(records)  # a file is in no particular order
    return records


def _insert(database: Any, records: list[Any]) -> tuple[float, float, list[str]]:
    from guanxi.kit.principal import SYSTEM
    from guanxi.loyalty.orders import bulk_import

    ids: list[str] = []
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(records), BATCH):
        with database.unit_of_work() as session:
            outcomes = bulk_import.apply(session, SYSTEM, records[first : first + BATCH])
        ids += [o.order_id for o in outcomes if o.order_id]
    return time.perf_counter() - started, time.process_time() - cpu, ids


def _choice(database_url: str | None, choice: str, members: int, per_member: int, say: Any) -> dict[str, Any]:
    from guanxi.dataio import history as import_history
    from guanxi.kit.principal import SYSTEM
    from guanxi.loyalty.ledger import verify

    with scratch_database(database_url, f"history-{choice}") as (_, database):
        _, pairs = insert_members(database, members)
        records = _records(pairs, per_member, seed=7)
        bare, bare_cpu, ids = _insert(database, records)
        if database.dialect == "postgresql":
            database.analyze()
        started, cpu = time.perf_counter(), time.process_time()
        figures = import_history.after_orders(database, SYSTEM, ids, choice=choice)["history"]
        seconds, choice_cpu = time.perf_counter() - started, time.process_time() - cpu
        with database.unit_of_work(read_only=True) as session:
            breaches = len(verify.check(session, limit=10))
    orders = len(ids)
    run = {
        "choice": choice,
        "orders": orders,
        "members": members,
        "insert_seconds": round(bare, 2),
        "insert_rate": round(orders / bare),
        "choice_seconds": round(seconds, 2),
        "choice_rate": round(orders / seconds),
        "ratio": round(bare / seconds, 3),
        # This process's CPU (on SQLite all of the work; on PostgreSQL the server's is not in it):
        # steadier than the wall clock on a machine shared with other work.
        "insert_cpu_seconds": round(bare_cpu, 2),
        "choice_cpu_seconds": round(choice_cpu, 2),
        "cpu_ratio": round(bare_cpu / choice_cpu, 3),
        "figures": figures,
        "ledger_breaches": breaches,
    }
    say(
        f"  {choice:<6} {orders:,} orders of {members:,} members: insert {bare:.1f} s ({run['insert_rate']:,}/s), "
        f"{choice} {seconds:.1f} s ({run['choice_rate']:,}/s), {choice} at {run['ratio']:.0%} of the insert rate "
        f"(CPU {bare_cpu:.1f} s vs {choice_cpu:.1f} s: {run['cpu_ratio']:.0%}); "
        f"points {figures['points_awarded']:,}, to expire at the next run {figures['expire_at_next_run']:,}, "
        f"tiers {figures['tiers']}, ledger breaches {breaches}"
    )
    return run


def _live(database_url: str | None, members: int, per_member: int, say: Any) -> dict[str, Any]:
    """The same kind of orders posted one by one through the order service."""
    from guanxi.kit.principal import SYSTEM
    from guanxi.loyalty.orders import service as orders

    with scratch_database(database_url, "history-live") as (_, database):
        _, pairs = insert_members(database, members)
        records = sorted(_records(pairs, per_member, seed=11), key=lambda r: r.data.occurred_at)
        started, cpu = time.perf_counter(), time.process_time()
        with database.unit_of_work() as session:
            for record in records:
                orders.record_order(session, SYSTEM, record.data)
        seconds, used = time.perf_counter() - started, time.process_time() - cpu
    rate = round(len(records) / seconds)
    say(
        f"  live   {len(records):,} orders through record_order in one transaction: {seconds:.1f} s ({rate:,}/s), "
        f"CPU {used:.1f} s ({len(records) / used:,.0f}/s)"
    )
    return {"orders": len(records), "seconds": round(seconds, 2), "rate": rate, "cpu_seconds": round(used, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history", description=__doc__)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--per-member", type=int, default=5, help="orders per member (default 5: 100,000 orders)")
    parser.add_argument("--live-members", type=int, default=400, help="members for the per-order sample (0: none)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    say = print
    info = api.machine()
    kind = "postgresql" if args.database_url else "sqlite"
    say(f"guanxi history choices benchmark ({kind}) on {info['cpu']} ({info['cores']} CPUs)")
    runs = [_choice(args.database_url, c, args.members, args.per_member, say) for c in ("tiers", "points")]
    live = _live(args.database_url, args.live_members, args.per_member, say) if args.live_members else None
    report = {
        "benchmark": "history",
        "database": kind,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "runs": runs,
        "live": live,
    }
    api.RESULTS.mkdir(exist_ok=True)
    out = api.RESULTS / f"history-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    say(f"results written to {out}")
    return 1 if any(r["ledger_breaches"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
