"""Order ingestion with points through the HTTP API, next to the raw database doing the same writes.

1. A fresh database (SQLite in a scratch home, or a new PostgreSQL database created on the server
   given by --database-url and dropped afterwards) with demo customers and an integration API key.
   The customers are split into members (enrolled by one order each before anything is measured)
   and never-enrolled newcomers.
2. The server as `guanxi serve` starts it (benchmarks/server.py): one process on SQLite, two on
   PostgreSQL unless --workers says otherwise; with group commit on (the default environment)
   and, in the same run, off (GUANXI_GROUP_COMMIT=0: one transaction per order).
3. Two mixes, each at 1, 8 and 32 keep-alive clients for a fixed time: steady state (orders of
   existing members) and new members (the first order of a never-enrolled customer, which
   enrols them). Orders name their customer by id or by phone, half each.
4. The ceiling, measured in the same run for each mix: copies of the rows one measured run wrote
   (benchmarks/order_ceiling.py), with Core executemany in one transaction, no ORM, no HTTP.
5. The ledger is verified afterwards: concurrent ingestion must leave it consistent.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import api, order_ceiling, order_costs, order_load, server
from benchmarks.loadgen import Result
from benchmarks.order_load import Customer, Supply
from benchmarks.server import fresh_database  # the other loyalty suites import it from here

AIMS = {"sqlite": (500.0, 50.0), "postgresql": (300.0, 50.0)}  # orders/s and p99 ms, steady, 8 clients
AIM_CLIENTS = 8
AIM_WORKERS = {"sqlite": 1, "postgresql": 2}
MIXES = {"steady": "steady state (existing members)", "new": "new members (first order)"}

Say = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    members: int = 5000
    newcomers: int = 40000
    seconds: float = 10.0
    warmup: float = 2.0
    clients: tuple[int, ...] = (1, 8, 32)
    workers: int | None = None  # `guanxi serve` processes; None: 1 on SQLite, 2 on PostgreSQL
    group_commit: str = "both"  # on, off or both (in one run, on first)
    mixes: tuple[str, ...] = ("steady", "new")
    database_url: str | None = None  # a PostgreSQL server; a fresh database is created on it
    keep: bool = False
    wait_quiet: float = 0.0
    breakdown_orders: int = 300  # recorded in-process at the end, to show where the CPU goes


@dataclass
class Pools:
    home: Path
    url: str | None
    members: list[Customer]
    supply: Supply
    windows_wanted: bool = True  # take markers for the ceilings (first mode only)


@dataclass
class Row:
    mix: str
    clients: int
    group_commit: bool
    result: Result
    load_average: float
    supply_ran_out: bool = False


def prepare(home: Path, database_url: str | None, customers: int, say: Say) -> tuple[str, list[Customer]]:
    """Demo customers, an integration API key, and (customer id, phone) pairs to order for."""
    from sqlalchemy import select

    from guanxi.auth import service as auth_service
    from guanxi.customers import identities as identity_store
    from guanxi.customers.models import CustomerIdentity
    from guanxi.kit.db import get_database
    from guanxi.kit.principal import SYSTEM

    api.load_demo(home, database_url, customers, say)
    with api.settings_for(home, database_url):
        database = get_database()
        with database.unit_of_work() as session:
            raw_key, _ = auth_service.create_api_key(session, SYSTEM, name="bench-pos", role="integration")
        with database.unit_of_work(read_only=True) as session:
            rows = list(
                session.scalars(
                    select(CustomerIdentity).where(CustomerIdentity.kind == "phone").order_by(CustomerIdentity.id)
                )
            )
            seen: set[str] = set()
            pairs = []
            for r in rows:
                if r.customer_id not in seen:
                    seen.add(r.customer_id)
                    pairs.append((r.customer_id, identity_store.clear_value(r).removeprefix("+86")))
        database.dispose()
    return raw_key, pairs


def line(row: Row, ceiling: float | None) -> str:
    result = row.result
    cpu = result.server_cpu_ms_per_request
    other = result.background_share
    share = f"{result.rps / ceiling:6.1%}" if ceiling else "     -"
    return (
        f"  {row.mix:6} {row.clients:3} client{'' if row.clients == 1 else 's'}  "
        f"group commit {'on ' if row.group_commit else 'off'}  "
        f"{result.rps:7,.0f} orders/s  p50 {result.percentile(50):7.2f} ms  p99 {result.percentile(99):7.2f} ms  "
        f"CPU {'-' if cpu is None else f'{cpu:5.2f}'} ms/order  {share} of raw DB  "
        f"other CPU {'-' if other is None else f'{other:.0%}'}  load {row.load_average:.1f}"
        + (f"  errors {result.unexpected}" if result.unexpected else "")
        + ("  (newcomers used up)" if row.supply_ran_out else "")
    )


def table(rows: list[Row], ceilings: dict[str, float | None]) -> str:
    header = (
        f"{'mix':7} {'clients':>7} {'group commit':>12} {'orders/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU ms/order':>12} {'vs raw DB':>9} {'other CPU':>9} {'load':>5} {'errors':>6}"
    )
    out = [header, "-" * len(header)]
    for row in rows:
        r = row.result
        cpu = r.server_cpu_ms_per_request
        ceiling = ceilings.get(row.mix)
        other = r.background_share
        out.append(
            f"{row.mix:7} {row.clients:>7} {'on' if row.group_commit else 'off':>12} {r.rps:>9,.0f} "
            f"{r.percentile(50):>8.2f} {r.percentile(99):>8.2f} {'-' if cpu is None else f'{cpu:.2f}':>12} "
            f"{f'{r.rps / ceiling:.1%}' if ceiling else '-':>9} {'-' if other is None else f'{other:.0%}':>9} "
            f"{row.load_average:>5.1f} {r.unexpected:>6}"
        )
    return "\n".join(out)


def on_off_ratios(rows: list[Row]) -> list[dict[str, Any]]:
    """Group commit on against off for each mix and client count measured both ways."""
    found = []
    for on in (r for r in rows if r.group_commit):
        off = next((r for r in rows if not r.group_commit and (r.mix, r.clients) == (on.mix, on.clients)), None)
        if off is None or not off.result.rps:
            continue
        cpu_on, cpu_off = on.result.server_cpu_ms_per_request, off.result.server_cpu_ms_per_request
        found.append(
            {
                "mix": on.mix,
                "clients": on.clients,
                "throughput_ratio": round(on.result.rps / off.result.rps, 2),
                "p99_ratio": round(on.result.percentile(99) / off.result.percentile(99), 2),
                "cpu_per_order_ratio": round(cpu_on / cpu_off, 2) if cpu_on and cpu_off else None,
            }
        )
    return found


def verdict(database: str, workers: int, rows: list[Row]) -> dict[str, Any] | None:
    aim_rate, aim_p99 = AIMS[database]
    row = next((r for r in rows if r.mix == "steady" and r.clients == AIM_CLIENTS and r.group_commit), None)
    row = row or next((r for r in rows if r.mix == "steady" and r.clients == AIM_CLIENTS), None)
    if row is None:
        return None
    rate, p99 = row.result.rps, row.result.percentile(99)
    return {
        "orders_per_second": round(rate, 1),
        "orders_per_second_aim": aim_rate,
        "p99_ms": round(p99, 2),
        "p99_aim_ms": aim_p99,
        "group_commit": row.group_commit,
        "workers": workers,
        "aim_workers": AIM_WORKERS[database],
        "rate_met": rate >= aim_rate,
        "p99_met": p99 < aim_p99,
        "met": rate >= aim_rate and p99 < aim_p99,
        "rate_factor": round(rate / aim_rate, 2),
    }


def run_mode(
    servers: server.Servers, headers: dict[str, str], pools: Pools, options: Options, on: bool, say: Say
) -> tuple[list[Row], dict[str, tuple[order_ceiling.Markers, order_ceiling.Markers]]]:
    """Every mix at every client count against one set of servers; the markers around each
    mix's ceiling run (the one at 8 clients, or the largest count below it)."""
    home, url = pools.home, pools.url
    mode = "on" if on else "off"
    ceiling_clients = max((c for c in options.clients if c <= AIM_CLIENTS), default=options.clients[0])
    rows: list[Row] = []
    windows: dict[str, tuple[order_ceiling.Markers, order_ceiling.Markers]] = {}
    waited, _ = server.settle(servers.pids, limit=300)  # outbox events of the seeding, delivered
    say(f"  servers idle after {waited:.1f} s")
    warm = order_load.members(pools.members)
    asyncio.run(
        order_load.drive(
            servers.bases, None, "warmup", headers, warm, seconds=options.warmup, concurrency=8, prefix=f"warm-{mode}"
        )
    )
    for mix in options.mixes:
        for clients in options.clients:
            server.settle(servers.pids)  # the consumer is done with what earlier rows wrote
            asyncio.run(api.wait_for_quiet(options.wait_quiet, say, exclude=servers.pids))
            want_window = pools.windows_wanted and clients == ceiling_clients
            before = order_ceiling.markers(home, url) if want_window else None
            pick = order_load.members(pools.members) if mix == "steady" else order_load.newcomers(pools.supply)
            result = asyncio.run(
                order_load.drive(
                    servers.bases,
                    servers.pids,
                    f"{mix}-{clients}-{mode}",
                    headers,
                    pick,
                    seconds=options.seconds,
                    concurrency=clients,
                    prefix=f"bench-{mode}-{mix}-{clients}",
                )
            )
            # The consumer's delivery of this row's outbox events, after the row, is the row's cost too.
            _, after_cpu = server.settle(servers.pids)
            if result.server_cpu_seconds is not None:
                result.server_cpu_seconds += after_cpu
            if before is not None:
                windows[mix] = (before, order_ceiling.markers(home, url))
            ran_out = mix == "new" and pools.supply.exhausted
            row = Row(mix, clients, on, result, os.getloadavg()[0], ran_out)
            say(line(row, None))
            rows.append(row)
    return rows, windows


def seed_members(home: Path, database_url: str | None, raw_key: str, members: list[Customer], say: Say) -> None:
    """One order per member, so the steady-state mix orders for enrolled members with history.
    Written in-process through the batched order service (as the demo's history is), in batches
    of 500 per unit of work, before any server starts."""
    from guanxi.auth import service as auth_service
    from guanxi.kit.db import get_database
    from guanxi.loyalty.orders import batch as order_batch
    from guanxi.loyalty.program.schemas import OrderIn

    started = time.perf_counter()
    rng = random.Random("seed")
    refused = 0
    with api.settings_for(home, database_url):
        database = get_database()
        for start in range(0, len(members), 500):
            with database.unit_of_work() as session:
                actor = auth_service.principal_from_api_key(session, raw_key)
                items = [
                    (actor, OrderIn.model_validate_json(order_load.order_body(rng, f"seed-{start + n}", who)))
                    for n, who in enumerate(members[start : start + 500])
                ]
                outcomes = order_batch.record_orders(session, items)
            refused += sum(isinstance(outcome, BaseException) for outcome in outcomes)
        database.dispose()
    say(
        f"  enrolled {len(members) - refused:,} members with a first order in {time.perf_counter() - started:.1f} s"
        + (f" ({refused} refused)" if refused else "")
    )


def server_errors(home: Path, limit: int = 5) -> list[str]:
    """The first distinct unexpected-error lines of the servers' logs (a 5xx names its cause there)."""
    found: list[str] = []
    for log in sorted(home.glob("server-*.log")):
        for text in log.read_text(errors="replace").splitlines():
            if text.startswith("unhandled") and text.split(" (request")[0] not in found:
                found.append(text.split(" (request")[0])
    return found[:limit]


def main(options: Options) -> int:
    say = print
    info = api.machine()
    database = "postgresql" if options.database_url else "sqlite"
    workers = options.workers or AIM_WORKERS[database]
    modes = {"on": [True], "off": [False], "both": [True, False]}[options.group_commit]
    unknown = set(options.mixes) - MIXES.keys()
    if unknown:
        raise SystemExit(f"unknown mix {', '.join(sorted(unknown))}; choose from {', '.join(MIXES)}")
    say(
        f"guanxi order ingestion benchmark ({database}, {workers} x guanxi serve) on {info['cpu']} "
        f"({info['cores']} cores); load average {os.getloadavg()[0]:.1f}"
    )
    scratch = Path(tempfile.mkdtemp(prefix="guanxi-bench-orders-"))
    home = scratch / "home"
    home.mkdir(parents=True)
    report: dict[str, Any] = {
        "benchmark": "orders",
        "database": database,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "options": {k: v for k, v in asdict(options).items() if k != "database_url"} | {"workers": workers},
    }
    try:
        with fresh_database(options.database_url, "orders") as url:
            raw_key, customers = prepare(home, url, options.members + options.newcomers, say)
            random.Random(7).shuffle(customers)
            members, newcomers = customers[: options.members], customers[options.members :]
            reserve = len(newcomers) // 4  # never-enrolled customers the new-member ceiling enrols
            spare, supply = newcomers[:reserve], newcomers[reserve:]
            say(f"  {len(members):,} members, {len(supply):,} newcomers to enrol (+{reserve:,} for the ceiling)")
            headers = {"X-API-Key": raw_key}
            pools = Pools(home, url, members, Supply(supply))
            seed_members(home, url, raw_key, members, say)
            rows: list[Row] = []
            windows: dict[str, tuple[order_ceiling.Markers, order_ceiling.Markers]] = {}
            for n, on in enumerate(modes):
                with server.serve(home, url, workers, server.group_commit_env(on)) as servers:
                    say(f"group commit {'on' if on else 'off'}: guanxi serve at {', '.join(servers.bases)}")
                    pools.windows_wanted = n == 0
                    mode_rows, mode_windows = run_mode(servers, headers, pools, options, on, say)
                rows += mode_rows
                windows.update(mode_windows)
                if any(code >= 500 for r in mode_rows for code in r.result.statuses):
                    for found in server_errors(home):
                        say(f"  server log: {found}")
            checked = order_ceiling.verify_after(home, url)
            answered = sum(r.result.statuses.get(201, 0) for r in rows)
            say(
                f"  ledger after the runs: {checked['breach_count']} breaches; "
                f"{checked['bench_orders_recorded']:,} measured orders recorded, {answered:,} answered 201"
            )
            costs: dict[str, Any] | None = None
            if options.breakdown_orders:
                say("where an order's CPU goes, in-process, per-order path (existing members):")
                try:
                    costs = order_costs.measure(home, url, members, say, options.breakdown_orders)
                except Exception as exc:  # a breakdown that no longer fits the code must not lose the run
                    say(f"  breakdown skipped: {type(exc).__name__}: {exc}")
            raws: dict[str, dict[str, Any]] = {}
            for mix, (before, after) in windows.items():
                spare_ids = [customer_id for customer_id, _ in spare] if mix == "new" else []
                raws[mix] = order_ceiling.ceiling(home, url, before, after, spare_ids)
                raw = raws[mix]
                say(
                    f"  raw database, {MIXES[mix]}, same writes in one transaction: "
                    f"{raw['orders_per_second'] or 0:,.0f} orders/s ({raw['rows_inserted']:,} rows inserted + "
                    f"{raw['rows_updated']:,} updated in {raw['seconds']} s, {raw['rows_per_order']} rows per order"
                    + (f"; not copied: {raw['not_copied']}" if raw["not_copied"] else "")
                    + ")"
                )
        ceilings = {mix: raw["orders_per_second"] for mix, raw in raws.items()}
        ratios = on_off_ratios(rows)
        aim = verdict(database, workers, rows)
        say("")
        say(f"orders, {database}, {workers} x guanxi serve, {options.seconds:g} s per row")
        say(table(rows, ceilings))
        for ratio in ratios:
            say(
                f"group commit on / off, {ratio['mix']}, {ratio['clients']} client(s): {ratio['throughput_ratio']}x "
                f"orders/s, p99 x{ratio['p99_ratio']}, CPU per order x{ratio['cpu_per_order_ratio']}"
            )
        if aim is not None:
            say(
                f"aim ({database}, {aim['aim_workers']} process(es), steady state, {AIM_CLIENTS} clients): "
                f">= {aim['orders_per_second_aim']:g} orders/s with p99 < {aim['p99_aim_ms']:g} ms: "
                f"{aim['orders_per_second']:,.0f} orders/s ({aim['rate_factor']}x), p99 {aim['p99_ms']:.1f} ms "
                f"-> {'met' if aim['met'] else 'MISSED'}"
                + ("" if workers == aim["aim_workers"] else f" (measured with {workers} process(es))")
            )
        report.update(
            {
                "members": len(members),
                "rows": [
                    {"mix": r.mix, "clients": r.clients, "group_commit": r.group_commit}
                    | r.result.as_dict()
                    | {
                        "load_average": round(r.load_average, 2),
                        "share_of_ceiling": round(r.result.rps / c, 4) if (c := ceilings.get(r.mix)) else None,
                        "newcomers_used_up": r.supply_ran_out,
                    }
                    for r in rows
                ],
                "ceilings": raws,
                "group_commit_on_vs_off": ratios,
                "costs": costs,
                "ledger": checked,
                "aim": aim,
            }
        )
        api.RESULTS.mkdir(exist_ok=True)
        out = api.RESULTS / f"orders-{database}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        say(f"results written to {out}")
        bad = sum(r.result.unexpected for r in rows)
        return 0 if not checked["breach_count"] and not bad else 1
    finally:
        if options.keep:
            say(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
