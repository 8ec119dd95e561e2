"""Customer API under load: lookup by phone and search by name, against the bare framework.

1. Load the demo into a fresh GUANXI_HOME (SQLite unless --database-url), timing the load.
2. Start the server as an operator does, `guanxi serve` in a subprocess on a free loopback port
   (API, console, outbox wake-ups, embedded job consumer; --workers N starts N such processes,
   clients spread over them; see benchmarks/server.py).
3. Log in as the demo service user (personal data masked, reads not audited) and as admin (full
   data, so every read appends an audit record).
4. Drive each endpoint with a fixed number of concurrent clients for a fixed time and report
   requests/s, p50/p99 latency, the server's CPU per request, and the ratio to `GET /livez`
   (an endpoint that does no work) measured in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from benchmarks import breakdown, server
from benchmarks.loadgen import (
    Check,
    RequestMaker,
    Result,
    connections,
    machine_busy_seconds,
    run,
    servers_cpu_seconds,
)

RESULTS = Path(__file__).parent / "results"

AIM_LOOKUP_P99_MS = 20.0
AIM_LOOKUP_SHARE = 0.25


@dataclass(frozen=True)
class Options:
    customers: int
    seconds: float
    warmup: float
    concurrency: int
    database_url: str | None
    home: Path | None
    keep: bool
    load_sizes: tuple[int, ...]
    workers: int
    only: tuple[str, ...]
    client: str = "raw"
    wait_quiet: float = 0.0


APP = "guanxi serve"
LABEL = "the API"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    make: RequestMaker
    check: Check | None
    lookup: bool = False  # counts towards the lookup aims
    clients: int | None = None  # concurrency; None: the run's --concurrency


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


_environment = server.environment  # the imports suite starts its CLI runs with it


@contextlib.contextmanager
def settings_for(home: Path, database_url: str | None) -> Iterator[None]:
    """Point this process's guanxi settings at the benchmark home (restored afterwards)."""
    from guanxi.config import reset_settings
    from guanxi.kit.db import set_database

    saved = {k: v for k, v in os.environ.items() if k.startswith("GUANXI_")}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in server.environment(home, database_url).items() if k.startswith("GUANXI_")})
    reset_settings()
    try:
        yield
    finally:
        set_database(None)
        for key in [k for k in os.environ if k.startswith("GUANXI_")]:
            del os.environ[key]
        os.environ.update(saved)
        reset_settings()


def load_demo(home: Path, database_url: str | None, customers: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Migrate and load the demo; returns the timing and counts."""
    from guanxi.demo import loader
    from guanxi.kit.db import get_database
    from guanxi.migrations import runner

    with settings_for(home, database_url):
        database = get_database()
        runner.upgrade(database.engine)
        started = time.perf_counter()
        summary = loader.load(database, customers=customers, behaviour=False, progress=lambda m: say(f"  {m}"))
        seconds = time.perf_counter() - started
        database.dispose()
    return {
        "customers": summary.customers,
        "reused": summary.reused,
        "seconds": round(seconds, 2),
        "customers_per_second": round(summary.customers / seconds) if not summary.reused else None,
        "identities": sum(summary.identities.values()),
        "accounts": summary.accounts,
        "contacts": summary.contacts,
    }


def sample_queries(home: Path, database_url: str | None, count: int = 2000) -> dict[str, list[str]]:
    """Existing phones (as staff type them: 11 digits) and name prefixes to search for."""
    from sqlalchemy import func, select

    from guanxi.customers import identities as identity_store
    from guanxi.customers.models import Customer, CustomerIdentity
    from guanxi.kit.db import get_database

    with settings_for(home, database_url):
        database = get_database()
        with database.unit_of_work(read_only=True) as session:
            rows = list(
                session.scalars(
                    select(CustomerIdentity)
                    .where(CustomerIdentity.kind == "phone")
                    .order_by(func.random())
                    .limit(count)
                )
            )
            phones = [identity_store.clear_value(r).removeprefix("+86") for r in rows]
            names = list(session.scalars(select(Customer.name_pinyin).order_by(func.random()).limit(count)))
            surnames = list(session.scalars(select(Customer.name).order_by(func.random()).limit(count)))
        database.dispose()
    rng = random.Random(5)
    from guanxi.customers.normalize import SURNAME_READINGS

    compound = [s for s in SURNAME_READINGS if len(s) > 1]
    return {
        "phones": phones,
        # Staff type the first few letters of the pinyin ("zhang", "wangf").
        "pinyin": [name[: rng.randint(3, 6)] for name in names],
        # Or the surname in characters: a realistic mix, weighted like the customer base.
        "surnames": [next((c for c in compound if n.startswith(c)), n[:1]) for n in surnames],
    }


def serve(
    home: Path, database_url: str | None, workers: int = 1, extra_env: dict[str, str] | None = None
) -> contextlib.AbstractContextManager[server.Servers]:
    """`workers` `guanxi serve` processes on loopback ports (see benchmarks/server.py)."""
    return server.serve(home, database_url, workers, extra_env)


def _token(base: str, username: str, password: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": password}, timeout=30)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _found_one(status: int, body: bytes) -> bool:
    if status != 200:
        return False
    data = json.loads(body)
    return len(data["items"]) == 1 if "items" in data else bool(data.get("id"))


def _ok(status: int, body: bytes) -> bool:
    return status == 200


def scenarios(queries: dict[str, list[str]], service: dict[str, str], admin: dict[str, str]) -> list[Scenario]:
    phones, pinyin, surnames = queries["phones"], queries["pinyin"], queries["surnames"]
    no_auth: dict[str, str] = {}
    return [
        Scenario("livez", "GET /livez (no work: baseline)", lambda rng: ("/livez", no_auth), _ok),
        Scenario("healthz", "GET /healthz (one SELECT 1)", lambda rng: ("/healthz", no_auth), _ok),
        Scenario("me", "GET /api/v1/me (token check only)", lambda rng: ("/api/v1/me", service), _ok),
        Scenario(
            "phone",
            "customers?phone= (service, masked)",
            lambda rng: (f"/api/v1/customers?phone={rng.choice(phones)}&limit=20", service),
            _found_one,
            lookup=True,
        ),
        Scenario(
            "lookup",
            "customers/lookup?kind=phone (service)",
            lambda rng: (f"/api/v1/customers/lookup?kind=phone&value={rng.choice(phones)}", service),
            _found_one,
            lookup=True,
        ),
        Scenario(
            "surname",
            "customers?q=<surname>&limit=20 (service)",
            lambda rng: (f"/api/v1/customers?q={quote(rng.choice(surnames))}&limit=20", service),
            _ok,
        ),
        Scenario(
            "pinyin",
            "customers?q=<pinyin prefix>&limit=20 (service)",
            lambda rng: (f"/api/v1/customers?q={rng.choice(pinyin)}&limit=20", service),
            _ok,
        ),
        Scenario(
            "phone_1",
            "customers?phone= (service), 1 client",
            lambda rng: (f"/api/v1/customers?phone={rng.choice(phones)}&limit=20", service),
            _found_one,
            clients=1,
        ),
        Scenario(
            "lookup_1",
            "customers/lookup?kind=phone (service), 1 client",
            lambda rng: (f"/api/v1/customers/lookup?kind=phone&value={rng.choice(phones)}", service),
            _found_one,
            clients=1,
        ),
        Scenario(
            "phone_admin",
            "customers?phone= (admin: full data, audited)",
            lambda rng: (f"/api/v1/customers?phone={rng.choice(phones)}&limit=20", admin),
            _found_one,
        ),
    ]


async def measure(
    bases: Sequence[str], pids: Sequence[int], chosen: list[Scenario], options: Options, say: Callable[[str], None]
) -> list[Result]:
    results = []
    for scenario in chosen:
        clients = scenario.clients or options.concurrency
        async with connections(bases, clients, options.client) as pool:
            if options.warmup:
                await run(pool, scenario.key, scenario.make, seconds=options.warmup)
            await wait_for_quiet(options.wait_quiet, say, exclude=pids)
            result = await run(
                pool,
                scenario.key,
                scenario.make,
                seconds=options.seconds,
                check=scenario.check,
                server_pid=pids,
            )
        other = result.background_share
        say(
            f"  {scenario.title:50} {result.rps:8,.0f} req/s  p50 {result.percentile(50):7.2f} ms  "
            f"p99 {result.percentile(99):7.2f} ms" + (f"  (other processes: {other:.0%} CPU)" if other else "")
        )
        results.append(result)
    return results


async def wait_for_quiet(
    limit: float, say: Callable[[str], None], threshold: float = 0.15, exclude: Sequence[int] = ()
) -> None:
    """Wait (up to `limit` seconds) until processes other than this one and `exclude` (the
    servers under test, idle meanwhile) use less than `threshold` of a core."""
    if limit <= 0:
        return
    deadline = time.monotonic() + limit
    own = [os.getpid(), *exclude]
    while True:
        busy, mine = machine_busy_seconds(), servers_cpu_seconds(own)
        await asyncio.sleep(1.0)
        busy_after, mine_after = machine_busy_seconds(), servers_cpu_seconds(own)
        if None in (busy, mine, busy_after, mine_after):
            return
        assert busy is not None and mine is not None and busy_after is not None and mine_after is not None
        other = (busy_after - busy) - (mine_after - mine)
        if other < threshold or time.monotonic() > deadline:
            if other >= threshold:
                say(f"  (machine still busy: other processes use {other:.0%} of a core)")
            return


def table(chosen: list[Scenario], results: list[Result]) -> str:
    base = next((r for r in results if r.name == "livez"), None)
    header = (
        f"{'endpoint':50} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs /livez':>9} "
        f"{'server CPU ms/req':>17} {'CPU vs /livez':>13} {'server CPU':>10} {'other CPU':>9} {'errors':>6}"
    )
    lines = [header, "-" * len(header)]
    for scenario, result in zip(chosen, results, strict=True):
        ratio = f"{result.rps / base.rps:8.1%}" if base and base.rps else "-"
        cpu_ratio = cpu_share_of_bare(result, base)
        cpu = result.server_cpu_ms_per_request
        share = result.server_cpu_share
        other = result.background_share
        errors = result.unexpected if scenario.check else sum(n for code, n in result.statuses.items() if code >= 500)
        lines.append(
            f"{scenario.title:50} {result.rps:8,.0f} {result.percentile(50):8.2f} {result.percentile(99):8.2f} "
            f"{ratio:>9} {'-' if cpu is None else f'{cpu:.2f}':>17} "
            f"{'-' if cpu_ratio is None else f'{cpu_ratio:.1%}':>13} {'-' if share is None else f'{share:.0%}':>10} "
            f"{'-' if other is None else f'{other:.0%}':>9} {errors:>6}"
        )
    return "\n".join(lines)


def cpu_share_of_bare(result: Result, base: Result | None) -> float | None:
    """Throughput relative to /livez if the server's CPU were the only limit: the ratio of CPU
    per request. Unlike the req/s ratio it holds when other processes share the machine."""
    if base is None or not result.server_cpu_ms_per_request or not base.server_cpu_ms_per_request:
        return None
    return base.server_cpu_ms_per_request / result.server_cpu_ms_per_request


def aims(chosen: list[Scenario], results: list[Result]) -> list[dict[str, Any]]:
    base = next((r for r in results if r.name == "livez"), None)
    verdicts = []
    for scenario, result in zip(chosen, results, strict=True):
        if not scenario.lookup:
            continue
        p99 = result.percentile(99)
        share = result.rps / base.rps if base and base.rps else None
        cpu_share = cpu_share_of_bare(result, base)
        verdicts.append(
            {
                "endpoint": scenario.key,
                "p99_ms": round(p99, 2),
                "p99_aim_ms": AIM_LOOKUP_P99_MS,
                "p99_met": p99 < AIM_LOOKUP_P99_MS,
                "share_of_bare": None if share is None else round(share, 3),
                "share_aim": AIM_LOOKUP_SHARE,
                "share_met": None if share is None else share >= AIM_LOOKUP_SHARE,
                "cpu_share_of_bare": None if cpu_share is None else round(cpu_share, 3),
            }
        )
    return verdicts


def main(options: Options) -> int:
    say = print
    info = machine()
    say(f"guanxi API benchmark on {info['cpu']} ({info['cores']} cores), Python {info['python']}")
    scratch = Path(tempfile.mkdtemp(prefix="guanxi-bench-"))
    home = options.home or scratch / "home"
    home.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "benchmark": "api",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "options": {
            "customers": options.customers,
            "seconds": options.seconds,
            "concurrency": options.concurrency,
            "workers": options.workers,
            "client": options.client,
            "wait_quiet": options.wait_quiet,
            "database": "postgresql" if options.database_url else "sqlite",
        },
        "loads": [],
    }
    try:
        for size in options.load_sizes:
            say(f"demo load of {size:,} customers into a scratch home")
            scratch_home = scratch / f"load-{size}"
            scratch_home.mkdir()
            report["loads"].append(load_demo(scratch_home, None, size, say))
            say(f"  -> {report['loads'][-1]['seconds']} s")
        say(f"demo load of {options.customers:,} customers into {home}")
        report["loads"].append(load_demo(home, options.database_url, options.customers, say))
        say(f"  -> {report['loads'][-1]['seconds']} s")
        queries = sample_queries(home, options.database_url)
        say("where a lookup's time goes, in-process (CPU per call, best of 5 rounds):")
        report["breakdown"] = breakdown.measure(home, options.database_url, queries["phones"], say)
        report["runs"] = []
        with serve(home, options.database_url, options.workers) as servers:
            service = _token(servers.base, "service", "service-demo")
            admin = _token(servers.base, "admin", "admin-demo")
            chosen = [s for s in scenarios(queries, service, admin) if not options.only or s.key in options.only]
            say(
                f"{LABEL}: guanxi serve at {', '.join(servers.bases)} ({options.workers} process(es)), "
                f"{options.concurrency} concurrent "
                f"{options.client} clients, {options.seconds:g} s per endpoint"
            )
            results = asyncio.run(measure(servers.bases, servers.pids, chosen, options, say))
        verdicts = aims(chosen, results)
        report["runs"].append(
            {
                "app": APP,
                "label": LABEL,
                "results": [r.as_dict() | {"title": s.title} for s, r in zip(chosen, results, strict=True)],
                "aims": verdicts,
            }
        )
        say("")
        say(f"{LABEL} ({APP})")
        say(table(chosen, results))
        for verdict in verdicts:
            say(
                f"aim {verdict['endpoint']}: p99 {verdict['p99_ms']} ms (< {AIM_LOOKUP_P99_MS:g}: "
                f"{'met' if verdict['p99_met'] else 'MISSED'}), {verdict['share_of_bare']:.0%} of /livez "
                f"(>= {AIM_LOOKUP_SHARE:.0%}: {'met' if verdict['share_met'] else 'MISSED'}; "
                f"by server CPU {verdict['cpu_share_of_bare'] or 0:.0%})"
            )
        say("")
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"api-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
        say(f"results written to {out}")
    finally:
        if options.keep:
            say(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0
