"""Order ingestion with points through the HTTP API, next to the raw database doing the same writes.

1. A fresh database (SQLite in a scratch home, or a new PostgreSQL database created on the server
   given by --database-url and dropped afterwards) with demo customers and an integration API key.
2. The real API under uvicorn on loopback; concurrent keep-alive clients POST /api/v1/orders with
   distinct external ids, half naming the customer by id and half by phone, for a fixed time.
3. The ceiling, measured in the same run: the rows those orders wrote (copies of them, into the
   same tables with the same indexes, plus each order's account and audit-head update) written
   with Core executemany in one transaction, no ORM, no HTTP.
4. The ledger is verified afterwards: concurrent ingestion must leave it consistent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks import api, order_costs
from benchmarks.loadgen import RawConnection, Result, machine_busy_seconds, process_cpu_seconds

AIM_ORDERS_PER_SECOND = 500.0
AIM_P99_MS = 50.0
ORDERS_PATH = "/api/v1/orders"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# A small basket catalogue: (sku, category, unit price).
ITEMS = (
    ("AP-TEE-01", "apparel", "129.00"),
    ("SH-RUN-01", "shoes", "699.00"),
    ("BT-SERUM-01", "beauty", "680.00"),
    ("MB-DIAPER-01", "母婴", "199.00"),
    ("FD-TEA-02", "food", "288.00"),
    ("HM-CUP-02", "home", "149.00"),
)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    customers: int = 5000
    seconds: float = 10.0
    warmup: float = 2.0
    concurrency: int = 8
    workers: int = 1
    database_url: str | None = None  # a PostgreSQL server; a fresh database is created on it
    keep: bool = False
    breakdown_orders: int = 500  # recorded in-process first, to show where the CPU goes


@contextlib.contextmanager
def fresh_database(server_url: str | None, label: str) -> Iterator[str | None]:
    """None for SQLite (the scratch home holds it); for PostgreSQL a new database, dropped after."""
    if server_url is None:
        yield None
        return
    from sqlalchemy import create_engine, text

    url = server_url.replace("postgresql://", "postgresql+psycopg://", 1)
    base = url.rpartition("/")[0]
    name = f"guanxi_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class PostConnection(RawConnection):
    """The load generator's keep-alive connection, sending JSON POSTs. A resend after the server
    closed an idle connection is safe here: an order repeats under its (source, external id)."""

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._post(path, headers, body)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            if not reused:
                raise
            return await self._post(path, headers, body)

    async def _post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        )
        self.writer.write(head.encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        answer = await self.reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, answer


def prepare(home: Path, database_url: str | None, customers: int, say: Say) -> tuple[str, list[tuple[str, str]]]:
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
            pairs = [(r.customer_id, identity_store.clear_value(r).removeprefix("+86")) for r in rows]
        database.dispose()
    return raw_key, pairs


def order_body(rng: random.Random, external_id: str, who: tuple[str, str]) -> bytes:
    picked = rng.sample(ITEMS, rng.choice((1, 1, 2, 3)))
    quantities = [rng.choice((1, 1, 2)) for _ in picked]
    lines = [
        {"sku": sku, "category": category, "quantity": quantity, "unit_price": price}
        for (sku, category, price), quantity in zip(picked, quantities, strict=True)
    ]
    total = sum((Decimal(price) * q for (_, _, price), q in zip(picked, quantities, strict=True)), Decimal(0))
    paid = (total * Decimal(rng.choice(("1", "1", "0.9", "0.8")))).quantize(Decimal("0.01"))
    body: dict[str, Any] = {
        "external_id": external_id,
        "source": "bench-pos",
        "paid_amount": str(paid),
        "currency": "CNY",
        "occurred_at": datetime.now(SHANGHAI).isoformat(timespec="seconds"),
        "store": "SH-01",
        "channel": "store",
        "lines": lines,
    }
    customer_id, phone = who
    if rng.random() < 0.5:
        body["customer_id"] = customer_id
    else:
        body["identity"] = {"kind": "phone", "value": phone}
    return json.dumps(body).encode()


async def drive(
    base: str,
    pid: int | None,
    name: str,
    headers: dict[str, str],
    customers: list[tuple[str, str]],
    *,
    seconds: float,
    concurrency: int,
    prefix: str,
) -> Result:
    host, _, port = base.removeprefix("http://").partition(":")
    pool = [PostConnection(host, int(port)) for _ in range(concurrency)]
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    bad = 0
    deadline = time.perf_counter() + seconds

    async def client(number: int, conn: PostConnection) -> None:
        nonlocal bad
        rng = random.Random(number)
        sent = 0
        while time.perf_counter() < deadline:
            sent += 1
            body = order_body(rng, f"{prefix}-{number}-{sent}", rng.choice(customers))
            started = time.perf_counter()
            status, answer = await asyncio.wait_for(conn.post(ORDERS_PATH, headers, body), timeout=60)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
            if status != 201 or b'"points_earned"' not in answer:
                bad += 1

    cpu_before = process_cpu_seconds(pid) if pid else None
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
    cpu_after = process_cpu_seconds(pid) if pid else None
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    busy = busy_after - busy_before if busy_before is not None and busy_after is not None else None
    return Result(name, len(latencies), elapsed, latencies, dict(statuses), bad, cpu, client_cpu, busy)


def markers(home: Path, database_url: str | None) -> dict[str, Any]:
    """Each table's highest key now, so the rows a run adds can be found afterwards."""
    from sqlalchemy import func, select

    from guanxi.kit.db import get_database
    from guanxi.migrations.all_models import metadata

    found: dict[str, Any] = {}
    with api.settings_for(home, database_url):
        database = get_database()
        with database.engine.connect() as conn:
            for table in metadata.sorted_tables:
                keys = list(table.primary_key.columns)
                if len(keys) == 1:
                    found[table.name] = conn.execute(select(func.max(keys[0]))).scalar()
                else:
                    found[table.name] = conn.execute(select(func.count()).select_from(table)).scalar()
        database.dispose()
    return found


def ceiling(home: Path, database_url: str | None, before: dict[str, Any], orders: int) -> dict[str, Any]:
    """Write again, in one transaction, copies of every row the HTTP run added (new keys, same
    tables and indexes) and one account and one audit-head update per order."""
    from sqlalchemy import PrimaryKeyConstraint, String, UniqueConstraint, bindparam, func, select, update

    from guanxi.kit.db import get_database
    from guanxi.kit.ids import new_id
    from guanxi.loyalty.models import LoyaltyAccount
    from guanxi.loyalty.order_models import Order
    from guanxi.migrations.all_models import metadata
    from guanxi.privacy.models import AuditChainHead

    with api.settings_for(home, database_url):
        database = get_database()
        batches: list[tuple[Any, list[dict[str, Any]]]] = []
        skipped: dict[str, int] = {}
        with database.engine.connect() as conn:
            for table in metadata.sorted_tables:
                keys = list(table.primary_key.columns)
                if len(keys) == 1:
                    mark = before.get(table.name)
                    stmt = select(table) if mark is None else select(table).where(keys[0] > mark)
                    rows = [dict(r._mapping) for r in conn.execute(stmt)]
                    top = conn.execute(select(func.max(keys[0]))).scalar()
                else:
                    added = conn.execute(select(func.count()).select_from(table)).scalar_one() - before[table.name]
                    rows = [dict(r._mapping) for r in conn.execute(select(table).limit(max(added, 0)))]
                    top = None
                if not rows:
                    continue
                unique = [
                    list(c.columns)
                    for c in table.constraints
                    if isinstance(c, UniqueConstraint | PrimaryKeyConstraint) and len(c.columns)
                ] + [list(i.columns) for i in table.indexes if i.unique]
                if not all(
                    _fresh(row, cols, i, top, new_id, String) for i, row in enumerate(rows, 1) for cols in unique
                ):
                    skipped[table.name] = len(rows)  # only foreign keys make it unique (a new account)
                    continue
                batches.append((table, rows))
            accounts = [
                {"aid": r[0], "now": datetime.now(UTC), "zero": 0}
                for r in conn.execute(select(Order.account_id).where(Order.external_id.like("bench-%")))
            ]
        written = sum(len(rows) for _, rows in batches)
        started = time.perf_counter()
        with database.engine.begin() as conn:
            for table, rows in batches:
                conn.execute(table.insert(), rows)
            if accounts:
                conn.execute(
                    update(LoyaltyAccount)
                    .where(LoyaltyAccount.id == bindparam("aid"))
                    .values(updated_at=bindparam("now")),
                    accounts,
                )
                conn.execute(
                    update(AuditChainHead)
                    .where(AuditChainHead.id == 1)
                    .values(last_seq=AuditChainHead.last_seq + bindparam("zero")),
                    accounts,
                )
        seconds = time.perf_counter() - started
        database.dispose()
    updated = 2 * len(accounts)
    return {
        "rows_inserted": written,
        "rows_updated": updated,
        "orders": orders,
        "rows_per_order": round((written + updated) / orders, 1) if orders else None,
        "tables": {table.name: len(rows) for table, rows in batches},
        "not_copied": skipped,
        "seconds": round(seconds, 3),
        "orders_per_second": round(orders / seconds, 1) if seconds else None,
    }


def _fresh(row: dict[str, Any], cols: list[Any], i: int, top: Any, new_id: Any, string: Any) -> bool:
    """Make a copied row's key (or unique column set) new by changing one column that is not a
    foreign key: a fresh string, or an integer past the largest. False if there is none."""
    free = [c for c in cols if not c.foreign_keys]
    for col in free:
        if isinstance(col.type, string):
            length = col.type.length or 64
            row[col.name] = (f"R{i:x}" + new_id())[-length:] if length >= 20 else f"{i:0{length}x}"[-length:]
            return True
    for col in free:
        if isinstance(row.get(col.name), int):
            row[col.name] = (top if col.primary_key and isinstance(top, int) else 10**6) + i
            return True
    return False


def verify_after(home: Path, database_url: str | None) -> dict[str, Any]:
    """The ledger after concurrent ingestion: every invariant, and the orders the API accepted."""
    from sqlalchemy import func, select

    from guanxi.kit.db import get_database
    from guanxi.loyalty import verify
    from guanxi.loyalty.order_models import Order

    with api.settings_for(home, database_url):
        database = get_database()
        with database.unit_of_work(read_only=True) as session:
            breaches = [str(b) for b in verify.check(session)]
            recorded = session.scalar(select(func.count()).select_from(Order).where(Order.external_id.like("bench-%")))
        database.dispose()
    return {"breaches": breaches[:10], "breach_count": len(breaches), "bench_orders_recorded": int(recorded or 0)}


def line(title: str, result: Result) -> str:
    cpu = result.server_cpu_ms_per_request
    other = result.background_share
    return (
        f"  {title:34} {result.rps:8,.0f} orders/s  p50 {result.percentile(50):7.2f} ms  "
        f"p99 {result.percentile(99):7.2f} ms  server CPU {'-' if cpu is None else f'{cpu:.2f}'} ms/order"
        + (f"  (other processes: {other:.0%} CPU)" if other else "")
    )


def main(options: Options) -> int:
    say = print
    info = api.machine()
    database = "postgresql" if options.database_url else "sqlite"
    say(f"guanxi order ingestion benchmark ({database}) on {info['cpu']} ({info['cores']} cores)")
    scratch = Path(tempfile.mkdtemp(prefix="guanxi-bench-orders-"))
    home = scratch / "home"
    home.mkdir(parents=True)
    report: dict[str, Any] = {
        "benchmark": "orders",
        "database": database,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "options": {k: v for k, v in vars(options).items() if k != "database_url"},
    }
    try:
        with fresh_database(options.database_url, "orders") as url:
            raw_key, customers = prepare(home, url, options.customers, say)
            headers = {"X-API-Key": raw_key}
            say("where an order's CPU goes, in-process:")
            costs = order_costs.measure(home, url, customers, say, options.breakdown_orders)
            with api.serve(home, url, options.workers) as (base, process):
                say(f"server at {base}; {options.concurrency} clients, {options.seconds:g} s")
                asyncio.run(
                    drive(base, None, "warmup", headers, customers, seconds=options.warmup, concurrency=2, prefix="w")
                )
                solo = asyncio.run(
                    drive(
                        base,
                        process.pid,
                        "1 client",
                        headers,
                        customers,
                        seconds=options.seconds / 2,
                        concurrency=1,
                        prefix="solo",
                    )
                )
                say(line("POST /api/v1/orders, 1 client", solo))
                before = markers(home, url)
                result = asyncio.run(
                    drive(
                        base,
                        process.pid,
                        "orders",
                        headers,
                        customers,
                        seconds=options.seconds,
                        concurrency=options.concurrency,
                        prefix="bench",
                    )
                )
                say(line(f"POST /api/v1/orders, {options.concurrency} clients", result))
            checked = verify_after(home, url)
            say(
                f"  ledger after the run: {checked['breach_count']} breaches; "
                f"{checked['bench_orders_recorded']:,} orders recorded, {result.statuses.get(201, 0):,} answered 201"
            )
            raw = ceiling(home, url, before, checked["bench_orders_recorded"])
            say(
                f"  raw database, same writes in one transaction: {raw['orders_per_second']:,.0f} orders/s "
                f"({raw['rows_inserted']:,} rows inserted + {raw['rows_updated']:,} updated in {raw['seconds']} s, "
                f"{raw['rows_per_order']} rows per order)"
            )
        p99 = result.percentile(99)
        verdict = {
            "orders_per_second": round(result.rps, 1),
            "orders_per_second_aim": AIM_ORDERS_PER_SECOND,
            "p99_ms": round(p99, 2),
            "p99_aim_ms": AIM_P99_MS,
            "met": result.rps >= AIM_ORDERS_PER_SECOND and p99 < AIM_P99_MS,
            "share_of_ceiling": round(result.rps / raw["orders_per_second"], 4) if raw["orders_per_second"] else None,
        }
        report.update(
            {
                "customers": options.customers,
                "single_client": solo.as_dict(),
                "concurrent": result.as_dict(),
                "ceiling": raw,
                "costs": costs,
                "ledger": checked,
                "aim": verdict,
            }
        )
        say(
            f"aim: >= {AIM_ORDERS_PER_SECOND:g} orders/s with p99 < {AIM_P99_MS:g} ms: "
            f"{result.rps:,.0f} orders/s, p99 {p99:.1f} ms -> {'met' if verdict['met'] else 'MISSED'}; "
            f"{verdict['share_of_ceiling'] or 0:.1%} of the raw database's rate"
        )
        api.RESULTS.mkdir(exist_ok=True)
        out = api.RESULTS / f"orders-{database}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        say(f"results written to {out}")
        return 0 if not checked["breach_count"] else 1
    finally:
        if options.keep:
            say(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
