"""Where an order's time goes, in-process: the steps of POST /api/v1/orders measured in CPU time.

The HTTP benchmark says how fast; this says why. Orders like the benchmark's are recorded through
`loyalty.orders.service.record_order` in units of work of one order each (as the API does), with the steps
it calls wrapped in timers for the duration of the measurement. Times are the calling thread's CPU
time, so other processes on the machine do not inflate them. Steps nest: a step's time includes
the flushes (the ORM writing pending rows) its first statement triggers.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import api

# (module path, function name, label), in the order record_order calls them.
STEPS = (
    ("guanxi.loyalty.program.config", "ensure", "program.ensure: read the program (2 SELECTs)"),
    ("guanxi.loyalty.orders.service", "resolve_customer", "resolve the customer (by id or phone)"),
    ("guanxi.loyalty.ledger.service", "enroll", "ledger.enroll: find the account"),
    ("guanxi.loyalty.ledger.service", "lock_accounts", "ledger.lock_accounts: select it again, locked"),
    ("guanxi.loyalty.rules.engine", "evaluate_order", "rules.evaluate_order (pure)"),
    ("guanxi.loyalty.ledger.service", "credit", "ledger.credit: entry and lot (2 flushes)"),
    ("guanxi.loyalty.orders.usage", "record", "usage.record: per-rule usage upserts"),
    ("guanxi.loyalty.tiers.service", "add_growth", "tiers.add_growth"),
    ("guanxi.loyalty.tiers.service", "check_upgrade", "tiers.check_upgrade"),
    ("guanxi.kit.outbox", "emit", "outbox.emit"),
    ("guanxi.privacy.audit", "record", "audit.record: chain head, hash, insert (flushes the rest)"),
)


@contextmanager
def _timed(counters: defaultdict[str, float], calls: Counter[str]) -> Iterator[None]:
    import importlib

    saved: list[tuple[Any, str, Any]] = []

    def wrap(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                counters[label] += time.thread_time() - started
                calls[label] += 1

        return timed

    for module_name, name, label in STEPS:
        try:  # a step moved or renamed since this list was written is left out, not an error
            module = importlib.import_module(module_name)
            fn = getattr(module, name)
        except (ImportError, AttributeError):
            continue
        saved.append((module, name, fn))
        setattr(module, name, wrap(fn, label))
    try:
        yield
    finally:
        for module, name, fn in saved:
            setattr(module, name, fn)


def measure(
    home: Path, database_url: str | None, customers: list[tuple[str, str]], say: Callable[[str], None], count: int
) -> dict[str, Any]:
    """CPU per order by step, statements per order and the driver's share, over `count` orders."""
    from sqlalchemy import event

    from benchmarks.order_load import order_body
    from guanxi.auth import service as auth_service
    from guanxi.kit.db import get_database
    from guanxi.kit.principal import SYSTEM
    from guanxi.loyalty.orders import service as orders
    from guanxi.loyalty.program.schemas import OrderIn

    with api.settings_for(home, database_url):
        database = get_database()
        with database.unit_of_work() as session:
            raw_key, _ = auth_service.create_api_key(session, SYSTEM, name="bench-costs")
        rng = random.Random(3)
        run = uuid.uuid4().hex[:6]
        bodies = [order_body(rng, f"costs-{run}-{n}", rng.choice(customers)) for n in range(count + 50)]
        driver = [0, 0.0]

        def before(conn: Any, *_: Any) -> None:
            conn.info["bench_t"] = time.thread_time()
            driver[0] += 1

        def after(conn: Any, *_: Any) -> None:
            driver[1] += time.thread_time() - conn.info["bench_t"]

        def one(body: bytes) -> dict[str, float]:
            marks: dict[str, float] = {}
            t0 = time.thread_time()
            data = OrderIn.model_validate_json(body)
            t1 = time.thread_time()
            work = database.begin()
            actor = auth_service.principal_from_api_key(work.session, raw_key)
            t2 = time.thread_time()
            answer, _ = orders.record_order(work.session, actor, data)
            t3 = time.thread_time()
            work.finish(failed=False)
            t4 = time.thread_time()
            answer.model_dump_json()
            t5 = time.thread_time()
            marks["request body to OrderIn (pydantic)"] = t1 - t0
            marks["API key check"] = t2 - t1
            marks["record_order"] = t3 - t2
            marks["commit"] = t4 - t3
            marks["answer to JSON"] = t5 - t4
            return marks

        for body in bodies[:50]:  # warm caches
            one(body)
        steps: defaultdict[str, float] = defaultdict(float)
        calls: Counter[str] = Counter()
        phases: defaultdict[str, float] = defaultdict(float)
        event.listen(database.engine, "before_cursor_execute", before)
        event.listen(database.engine, "after_cursor_execute", after)
        try:
            with _timed(steps, calls):
                for body in bodies[50:]:
                    for label, seconds in one(body).items():
                        phases[label] += seconds
        finally:
            event.remove(database.engine, "before_cursor_execute", before)
            event.remove(database.engine, "after_cursor_execute", after)
        database.dispose()
    per = {label: round(seconds * 1000 / count, 3) for label, seconds in sorted(phases.items(), key=lambda kv: -kv[1])}
    inner = {label: round(steps[label] * 1000 / count, 3) for _, _, label in STEPS}
    total = sum(phases.values()) * 1000 / count
    say(
        f"  CPU per order in-process: {total:.2f} ms, {driver[0] / count:.1f} SQL statements, of which the driver "
        f"(SQLite/psycopg) {driver[1] * 1000 / count:.2f} ms"
    )
    for label, ms in per.items():
        say(f"    {ms:7.3f} ms  {label}")
    for label, ms in inner.items():
        say(f"    {ms:7.3f} ms    {label}")
    return {
        "orders": count,
        "cpu_ms_per_order": round(total, 3),
        "statements_per_order": round(driver[0] / count, 1),
        "driver_ms_per_order": round(driver[1] * 1000 / count, 3),
        "phases_ms": per,
        "record_order_steps_ms": inner,
    }
