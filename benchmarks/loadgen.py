"""A bounded HTTP load generator: fixed concurrency for a fixed time, latencies per request.

Traffic only goes to the loopback server the benchmark started. Each concurrent client keeps one
HTTP/1.1 keep-alive connection and sends GETs one after another. The default client is a minimal
asyncio one: on a two-core machine `httpx.AsyncClient` spends so much CPU per request that it,
not the server, sets the pace (about 230 req/s against an endpoint that does no work, where the
server manages several times that); `--client httpx` measures with it anyway.

The generator shares the machine with the server, so the server's own CPU time per request is
measured too (from /proc): that figure does not depend on the client's speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

# (path, headers) for the next request; the check says whether the response (status, body) is
# what we wanted.
RequestMaker = Callable[[random.Random], tuple[str, dict[str, str]]]
Check = Callable[[int, bytes], bool]


class Connection(Protocol):
    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


class RawConnection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads whole responses."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._get(path, headers)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closed an idle keep-alive connection: reconnect once and resend.
            await self.close()
            if not reused:
                raise
            return await self._get(path, headers)

    async def _get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in fields:
            body = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return b"".join(parts)
            parts.append(chunk[:-2])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


class HttpxConnection:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        response = await self.client.get(path, headers=headers)
        return response.status_code, response.content

    async def close(self) -> None:
        return None


def host_and_port(base: str) -> tuple[str, int]:
    host, _, port = base.removeprefix("http://").partition(":")
    return host, int(port)


@contextlib.asynccontextmanager
async def connections(base: str | Sequence[str], count: int, kind: str = "raw") -> AsyncIterator[list[Connection]]:
    """`count` connections, raw or through httpx clients, spread round-robin over the servers
    `base` names (http://127.0.0.1:port, one per server process)."""
    bases = [base] if isinstance(base, str) else list(base)
    if kind == "httpx":
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(httpx.AsyncClient(base_url=b, limits=limits, timeout=30)) for b in bases
            ]
            yield [HttpxConnection(clients[n % len(clients)]) for n in range(count)]
        return
    pool: list[Connection] = [RawConnection(*host_and_port(bases[n % len(bases)])) for n in range(count)]
    try:
        yield pool
    finally:
        for conn in pool:
            await conn.close()


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    statuses: dict[int, int]
    unexpected: int
    server_cpu_seconds: float | None
    client_cpu_seconds: float = 0.0
    machine_busy_seconds: float | None = None  # all cores, all processes

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    @property
    def server_cpu_ms_per_request(self) -> float | None:
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return self.server_cpu_seconds * 1000 / self.requests

    @property
    def server_cpu_share(self) -> float | None:
        if self.server_cpu_seconds is None or not self.seconds:
            return None
        return self.server_cpu_seconds / self.seconds

    @property
    def background_share(self) -> float | None:
        """CPU used by everything except the server and this load generator, in cores."""
        if self.machine_busy_seconds is None or self.server_cpu_seconds is None or not self.seconds:
            return None
        other = self.machine_busy_seconds - self.server_cpu_seconds - self.client_cpu_seconds
        return max(other, 0.0) / self.seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(50), 3),
            "p90_ms": round(self.percentile(90), 3),
            "p99_ms": round(self.percentile(99), 3),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 3) if self.latencies_ms else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "unexpected": self.unexpected,
            "server_cpu_ms_per_request": _round(self.server_cpu_ms_per_request),
            "server_cpu_share": _round(self.server_cpu_share),
            "client_cpu_share": _round(self.client_cpu_seconds / self.seconds if self.seconds else None),
            "background_cpu_share": _round(self.background_share),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process and its children (uvicorn workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid, *_children(pid)]
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            if one == pid:
                return None
            continue
        # utime, stime are fields 14 and 15 of stat; after the ")" split they are at 11 and 12.
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def servers_cpu_seconds(pids: int | Sequence[int] | None) -> float | None:
    """The CPU of every server process (and its children) together; None if one is unreadable."""
    if pids is None:
        return None
    total = 0.0
    for pid in [pids] if isinstance(pids, int) else pids:
        one = process_cpu_seconds(pid)
        if one is None:
            return None
        total += one
    return total


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent not idle since boot (from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    steal = values[7]
    return (sum(values) - idle - steal) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


async def run(
    pool: list[Connection],
    name: str,
    make: RequestMaker,
    *,
    seconds: float,
    check: Check | None = None,
    server_pid: int | Sequence[int] | None = None,
    seed: int = 1,
) -> Result:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    unexpected = 0
    deadline = time.perf_counter() + seconds

    async def worker(number: int, conn: Connection) -> None:
        nonlocal unexpected
        rng = random.Random(seed * 1000 + number)
        while time.perf_counter() < deadline:
            path, headers = make(rng)
            started = time.perf_counter()
            status, body = await asyncio.wait_for(conn.get(path, headers), timeout=60)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
            if check is not None and not check(status, body):
                unexpected += 1

    cpu_before = servers_cpu_seconds(server_pid)
    busy_before = machine_busy_seconds()
    client_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker(n, conn) for n, conn in enumerate(pool)))
    elapsed = time.perf_counter() - started
    client = time.process_time() - client_before
    busy_after = machine_busy_seconds()
    cpu_after = servers_cpu_seconds(server_pid)
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    busy = busy_after - busy_before if busy_before is not None and busy_after is not None else None
    return Result(name, len(latencies), elapsed, latencies, dict(statuses), unexpected, cpu, client, busy)
