"""The member card reads in constant time, whatever the length of the ledger.

Two members in a fresh database: one with 10 ledger entries, one with 100,000 (years of orders
whose points were all spent, the same 10 open lots as the first). `loyalty.members.card.get_card` is
timed for each in its own read-only unit of work, as the API reads it: the ratio of the two
should be about 1, and both should run the same number of SQL statements.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks import api
from benchmarks.expiry import insert_lots, insert_members, scratch_database, sync_sequences

SHORT = 10
LONG = 100_000
OPEN_LOTS = 10


def insert_spent_history(database: Any, account_id: str, pairs: int) -> int:
    """`pairs` earned lots, each spent by a redemption: 2 x `pairs` entries, balance unchanged."""
    from sqlalchemy import insert, update

    from guanxi.loyalty.program.models import LotMovement, LoyaltyAccount, PointEntry, PointLot

    rng = random.Random(5)
    now = datetime.now(UTC)
    start = now - timedelta(days=3 * 365)
    entries: list[dict[str, Any]] = []
    lots: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    total = 0
    for n in range(pairs):
        points = rng.randint(10, 500)
        total += points
        at = start + timedelta(minutes=15 * n)
        earn_id, spend_id = 2 * n + 1, 2 * n + 2
        common = {"account_id": account_id, "pending_after": 0, "actor_id": "bench", "created_at": at}
        entries.append(
            {**common, "id": earn_id, "kind": "earn", "points": points, "balance_after": points, "reason": "order"}
        )
        entries.append(
            {**common, "id": spend_id, "kind": "redeem", "points": -points, "balance_after": 0, "reason": "redeem"}
        )
        lots.append(
            {
                "id": n + 1,
                "account_id": account_id,
                "entry_id": earn_id,
                "source": "order",
                "issued": points,
                "used": points,
                "expired": 0,
                "reversed": 0,
                "remaining": 0,
                "status": "closed",
                "available_at": at,
                "expires_at": at + timedelta(days=365),
                "created_at": at,
            }
        )
        moves.append({"id": n + 1, "entry_id": spend_id, "lot_id": n + 1, "kind": "use", "points": points})
    for entry in entries:
        entry.update(detail={}, occurred_at=entry["created_at"])
    with database.engine.begin() as conn:
        for model, rows in ((PointEntry, entries), (PointLot, lots), (LotMovement, moves)):
            for first in range(0, len(rows), 20_000):
                conn.execute(insert(model), rows[first : first + 20_000])
        conn.execute(
            update(LoyaltyAccount)
            .where(LoyaltyAccount.id == account_id)
            .values(lifetime_earned=total, lifetime_redeemed=total)
        )
    sync_sequences(database)
    return 2 * pairs


def time_cards(database: Any, customers: list[str], *, calls: int, rounds: int) -> list[tuple[float, float]]:
    """Per customer: the median time of a `get_card` call (ms), and the statements one call runs.
    Rounds of `calls` alternate between the customers, and the median ignores the calls another
    process interrupted, so a busy machine weighs on both alike."""
    from sqlalchemy import event

    from guanxi.kit.principal import SYSTEM
    from guanxi.loyalty.members import card

    per_call: list[list[float]] = [[] for _ in customers]
    for _ in range(rounds):
        for i, customer_id in enumerate(customers):
            for _ in range(calls):
                started = time.perf_counter()
                with database.unit_of_work(read_only=True) as session:
                    card.get_card(session, SYSTEM, customer_id)
                per_call[i].append((time.perf_counter() - started) * 1000)
    statements: list[float] = []
    for customer_id in customers:
        count = [0]

        def counted(*_: Any, count: list[int] = count) -> None:
            count[0] += 1

        event.listen(database.engine, "before_cursor_execute", counted)
        try:
            with database.unit_of_work(read_only=True) as session:
                card.get_card(session, SYSTEM, customer_id)
        finally:
            event.remove(database.engine, "before_cursor_execute", counted)
        statements.append(float(count[0]))
    return [(statistics.median(times), n) for times, n in zip(per_call, statements, strict=True)]


def analyze(database: Any) -> None:
    """Fresh planner statistics, as autovacuum would gather after a bulk load."""
    from sqlalchemy import text

    with database.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def main(database_url: str | None = None, *, long: int = LONG, calls: int = 50, rounds: int = 40) -> int:
    from sqlalchemy import func, select

    from guanxi.loyalty.ledger import verify
    from guanxi.loyalty.program.models import PointEntry

    say = print
    info = api.machine()
    kind = "postgresql" if database_url else "sqlite"
    say(f"guanxi member card benchmark ({kind}): {SHORT} vs {long:,} ledger entries on {info['cpu']}")
    with scratch_database(database_url, "card") as (_, database):
        _, members = insert_members(database, 2)
        (short_customer, short_account), (long_customer, long_account) = members
        spent = insert_spent_history(database, long_account, (long - OPEN_LOTS) // 2)
        soon = [datetime.now(UTC) + timedelta(days=d) for d in (20, 90, 200, 300)]
        insert_lots(database, [short_account, long_account], OPEN_LOTS, soon, first_entry=spent + 1)
        with database.unit_of_work(read_only=True) as session:
            lengths = dict(
                session.execute(select(PointEntry.account_id, func.count()).group_by(PointEntry.account_id)).all()
            )
            breaches = verify.check(session)
        say(f"  ledgers: {lengths[short_account]:,} and {lengths[long_account]:,} entries; {len(breaches)} breaches")
        analyze(database)
        time_cards(database, [short_customer, long_customer], calls=50, rounds=2)  # warm caches and pages
        (short_ms, short_sql), (long_ms, long_sql) = time_cards(
            database, [short_customer, long_customer], calls=calls, rounds=rounds
        )
    ratio = long_ms / short_ms
    say(
        f"  card with {lengths[short_account]:,} entries: {short_ms:.3f} ms per read (median), {short_sql:g} statements"
    )
    say(f"  card with {lengths[long_account]:,} entries: {long_ms:.3f} ms per read (median), {long_sql:g} statements")
    met = ratio < 1.5 and long_sql == short_sql
    say(f"aim: O(1) in the ledger's length: ratio {ratio:.2f} -> {'met' if met else 'MISSED'}")
    report = {
        "benchmark": "card",
        "database": kind,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "entries": {"short": lengths[short_account], "long": lengths[long_account]},
        "ms_per_read": {"short": round(short_ms, 4), "long": round(long_ms, 4)},
        "statements_per_read": {"short": short_sql, "long": long_sql},
        "ratio": round(ratio, 3),
        "breaches": len(breaches),
        "met": met,
    }
    api.RESULTS.mkdir(exist_ok=True)
    out = api.RESULTS / f"card-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    say(f"results written to {out}")
    return 0 if met and not breaches else 1
