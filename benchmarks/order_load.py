"""The order benchmark's clients: keep-alive JSON POSTs of realistic orders, timed per request.

Who orders comes from a `Pick`: for the steady-state mix a random member (a customer already
enrolled, with earlier orders); for the new-member mix the next never-enrolled customer from a
supply shared by all clients, so each of those orders is a first order and enrols its customer.
A client stops when the time is up or the supply is used up.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.loadgen import RawConnection, Result, host_and_port, machine_busy_seconds, servers_cpu_seconds

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

Customer = tuple[str, str]  # (customer id, phone as staff type it)
Pick = Callable[[random.Random], Customer | None]


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


def post_pool(bases: Sequence[str], count: int) -> list[PostConnection]:
    """`count` connections spread round-robin over the server processes."""
    return [PostConnection(*host_and_port(bases[n % len(bases)])) for n in range(count)]


def order_body(rng: random.Random, external_id: str, who: Customer) -> bytes:
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


def members(pool: Sequence[Customer]) -> Pick:
    """Steady state: any of the enrolled members, at random."""
    return lambda rng: rng.choice(pool)


class Supply:
    """Never-enrolled customers, each handed out once, shared by all clients and runs."""

    def __init__(self, customers: Sequence[Customer]) -> None:
        self._left: Iterator[Customer] = iter(customers)
        self.exhausted = False

    def take(self, _rng: random.Random | None = None) -> Customer | None:
        found = next(self._left, None)
        self.exhausted = self.exhausted or found is None
        return found


def newcomers(supply: Supply) -> Pick:
    """New members: each never-enrolled customer once."""
    return supply.take


async def drive(
    bases: Sequence[str],
    pids: Sequence[int] | None,
    name: str,
    headers: dict[str, str],
    pick: Pick,
    *,
    seconds: float,
    concurrency: int,
    prefix: str,
) -> Result:
    pool = post_pool(bases, concurrency)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    bad = 0
    deadline = time.perf_counter() + seconds

    async def client(number: int, conn: PostConnection) -> None:
        nonlocal bad
        rng = random.Random(f"{prefix}-{number}")
        sent = 0
        while time.perf_counter() < deadline:
            who = pick(rng)
            if who is None:
                return
            sent += 1
            body = order_body(rng, f"{prefix}-{number}-{sent}", who)
            started = time.perf_counter()
            status, answer = await asyncio.wait_for(conn.post(ORDERS_PATH, headers, body), timeout=60)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
            if status != 201 or b'"points_earned"' not in answer:
                bad += 1

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
    return Result(name, len(latencies), elapsed, latencies, dict(statuses), bad, cpu, client_cpu, busy)
