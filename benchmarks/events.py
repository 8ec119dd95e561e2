"""Event ingestion through POST /api/v1/events, next to raw inserts of the same rows.

1. A fresh database (SQLite in a scratch home, or a new PostgreSQL database) with demo customers
   and an integration API key.
2. The server as `guanxi serve` starts it (benchmarks/server.py: API, console, outbox wake-ups,
   embedded job consumer; --workers N for N processes); concurrent keep-alive clients send batches of events
   (a realistic mix: named by customer id, by phone, by anonymous device id; page and product
   views, searches, add-to-cart, store visits) for a fixed time.
3. The ceiling, in the same run: the event rows the API stored, copied with new event ids and
   inserted with one Core executemany per batch, no HTTP, no validation, no identity resolution.

Aim: >= 5,000 events/s through the API on SQLite, >= 4,000 on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import api, server
from benchmarks.loadgen import Result, machine_busy_seconds, servers_cpu_seconds
from benchmarks.order_load import PostConnection, post_pool
from benchmarks.orders import prepare
from benchmarks.server import fresh_database

AIMS_EVENTS_PER_SECOND = {"sqlite": 5000.0, "postgresql": 4000.0}
EVENTS_PATH = "/api/v1/events"
SKUS = (("AP-TEE-01", "apparel", 129.0), ("MB-DIAPER-01", "母婴", 199.0), ("BT-SERUM-01", "beauty", 680.0))


def event(rng: random.Random, event_id: str, who: tuple[str, str], now: datetime) -> dict[str, Any]:
    kind = rng.choice(
        ("page_view", "page_view", "product_view", "product_view", "search", "add_to_cart", "store_visit")
    )
    sku, category, price = rng.choice(SKUS)
    by_kind: dict[str, dict[str, Any]] = {
        "page_view": {"url": f"/p/{rng.randint(1, 500)}", "title": "商品详情"},
        "product_view": {"sku": sku, "category": category, "price": price},
        "search": {"query": rng.choice(("奶粉", "面霜", "T恤")), "results": rng.randint(0, 40)},
        "add_to_cart": {"sku": sku, "category": category, "price": price, "quantity": 1},
        "store_visit": {"store": "SH-01", "minutes": rng.randint(5, 60)},
    }
    props = by_kind[kind]
    body: dict[str, Any] = {
        "event_id": event_id,
        "type": kind,
        "occurred_at": (now - timedelta(seconds=rng.randint(0, 3600))).isoformat(),
        "channel": rng.choice(("app", "mini_program", "web", "store")),
        "properties": props,
    }
    customer_id, phone = who
    pick = rng.random()
    if pick < 0.5:
        body["customer_id"] = customer_id
    elif pick < 0.8:
        body["identities"] = [{"kind": "phone", "value": phone}]
    else:
        body["anonymous_id"] = f"dev-{rng.randint(1, 50_000)}"
    return body


async def drive(
    bases: list[str],
    pids: list[int] | None,
    headers: dict[str, str],
    customers: list[tuple[str, str]],
    *,
    seconds: float,
    concurrency: int,
    batch: int,
    prefix: str,
) -> tuple[Result, int]:
    pool = post_pool(bases, concurrency)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    bad = 0
    accepted = 0
    deadline = time.perf_counter() + seconds

    async def client(number: int, conn: PostConnection) -> None:
        nonlocal bad, accepted
        rng = random.Random(number)
        sent = 0
        while time.perf_counter() < deadline:
            now = datetime.now(UTC)
            events = []
            for _ in range(batch):
                sent += 1
                events.append(event(rng, f"{prefix}-{number}-{sent}", rng.choice(customers), now))
            body = json.dumps({"events": events}).encode()
            started = time.perf_counter()
            status, answer = await asyncio.wait_for(conn.post(EVENTS_PATH, headers, body), timeout=120)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
            if status != 200:
                bad += 1
                continue
            accepted += int(json.loads(answer)["accepted"])

    cpu_before = servers_cpu_seconds(pids)
    busy_before = machine_busy_seconds()
    client_before = time.process_time()
    started = time.perf_counter()
    try:
        await asyncio.gather(*(client(n, conn) for n, conn in enumerate(pool)))
    finally:
        for conn in pool:
            await conn.close()
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_before
    busy_after = machine_busy_seconds()
    cpu_after = servers_cpu_seconds(pids)
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    busy = busy_after - busy_before if busy_before is not None and busy_after is not None else None
    result = Result("events", len(latencies), elapsed, latencies, dict(statuses), bad, cpu, client_cpu, busy)
    return result, accepted


def ceiling(home: Path, database_url: str | None, prefix: str, batch: int) -> dict[str, Any]:
    """Insert copies of the stored events (new event ids) with Core, one executemany per batch."""
    from sqlalchemy import select

    from guanxi.customers.event_models import CustomerEvent
    from guanxi.kit.db import get_database
    from guanxi.kit.models import table_of

    table = table_of(CustomerEvent)
    with api.settings_for(home, database_url):
        database = get_database()
        with database.engine.connect() as conn:
            rows = [
                {k: v for k, v in r._mapping.items() if k != "id"}
                for r in conn.execute(select(table).where(table.c.event_id.like(f"{prefix}-%")))
            ]
        for row in rows:
            row["event_id"] = "copy-" + row["event_id"]
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            with database.engine.begin() as conn:
                conn.execute(table.insert(), rows[start : start + batch])
        seconds = time.perf_counter() - started
        database.dispose()
    return {
        "rows": len(rows),
        "seconds": round(seconds, 3),
        "events_per_second": round(len(rows) / seconds, 1) if seconds else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.events", description=__doc__)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500, help="events per request (1-1000)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--group-commit", choices=("on", "off"), default="on", help="off: GUANXI_GROUP_COMMIT=0 for the server"
    )
    parser.add_argument("--wait-quiet", type=float, default=0.0, help="wait up to N s for other processes to idle")
    args = parser.parse_args(argv)
    say = print
    info = api.machine()
    database = "postgresql" if args.database_url else "sqlite"
    say(f"guanxi event ingestion benchmark ({database}) on {info['cpu']} ({info['cores']} cores)")
    scratch = Path(tempfile.mkdtemp(prefix="guanxi-bench-events-"))
    home = scratch / "home"
    home.mkdir(parents=True)
    try:
        with fresh_database(args.database_url, "events") as url:
            raw_key, customers = prepare(home, url, args.customers, say)
            headers = {"X-API-Key": raw_key}
            env = server.group_commit_env(args.group_commit == "on")
            with server.serve(home, url, args.workers, env) as servers:
                say(
                    f"guanxi serve at {', '.join(servers.bases)} (group commit {args.group_commit}); "
                    f"{args.concurrency} clients x {args.batch} events per request"
                )
                warm = min(2.0, args.seconds)
                asyncio.run(
                    drive(
                        servers.bases,
                        None,
                        headers,
                        customers,
                        seconds=warm,
                        concurrency=1,
                        batch=args.batch,
                        prefix="warm",
                    )
                )
                server.settle(servers.pids)  # the job consumer is done with the warm-up's outbox events
                asyncio.run(api.wait_for_quiet(args.wait_quiet, say, exclude=servers.pids))
                result, accepted = asyncio.run(
                    drive(
                        servers.bases,
                        servers.pids,
                        headers,
                        customers,
                        seconds=args.seconds,
                        concurrency=args.concurrency,
                        batch=args.batch,
                        prefix="bench",
                    )
                )
                _, after_cpu = server.settle(servers.pids)  # delivery of the run's outbox events counts
                if result.server_cpu_seconds is not None:
                    result.server_cpu_seconds += after_cpu
            rate = accepted / result.seconds
            cpu_per_event = (result.server_cpu_seconds or 0) / accepted * 1e6 if accepted else 0
            say(
                f"  API: {accepted:,} events in {result.seconds:.1f} s = {rate:,.0f} events/s; "
                f"{result.requests} requests, p50 {result.percentile(50):.0f} ms, p99 {result.percentile(99):.0f} ms; "
                f"server CPU {cpu_per_event:.0f} us/event; non-200 answers: {result.unexpected}; "
                f"other processes {result.background_share or 0:.0%} CPU, load average {os.getloadavg()[0]:.1f}"
            )
            raw = ceiling(home, url, "bench", args.batch)
            say(
                f"  raw inserts of the same rows: {raw['events_per_second']:,.0f} events/s "
                f"({raw['rows']:,} rows in {raw['seconds']} s)"
            )
        share = rate / raw["events_per_second"] if raw["events_per_second"] else 0
        aim = AIMS_EVENTS_PER_SECOND[database]
        met = rate >= aim and result.unexpected == 0
        say(
            f"aim ({database}): >= {aim:,.0f} events/s through the API: {rate:,.0f} ({rate / aim:.2f}x) -> "
            f"{'met' if met else 'MISSED'}; {share:.1%} of the raw insert rate"
        )
        report = {
            "benchmark": "events",
            "database": database,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": info,
            "options": vars(args) | {"database_url": None},
            "api": result.as_dict() | {"events": accepted, "events_per_second": round(rate, 1)},
            "ceiling": raw,
            "aim": {"events_per_second": aim, "met": met, "share_of_ceiling": round(share, 4)},
        }
        api.RESULTS.mkdir(exist_ok=True)
        out = api.RESULTS / f"events-{database}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        say(f"results written to {out}")
        return 0 if result.unexpected == 0 else 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
