"""Expiry of a million lots: `loyalty.ledger.expiration.expire` next to a single UPDATE of the same lots.

A fresh database (SQLite, or a new PostgreSQL database on the --database-url server) is filled
with bulk inserts: 100,000 members, each with ten earned lots and their earn entries, all due to
expire by yesterday. The baseline, measured first in the same run, is one UPDATE closing the same
lots (committed, then undone without timing). Then the real job: an expire entry per member, a
movement per lot, the lots closed, the balances projected, outbox events, all in batches. The
ledger is verified afterwards.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks import api
from benchmarks.loadgen import machine_busy_seconds
from benchmarks.orders import fresh_database

ACCOUNTS = 100_000
LOTS_PER_ACCOUNT = 10
AIM_SECONDS = 60.0
BATCH = 5_000  # accounts per insert batch


@contextlib.contextmanager
def scratch_database(database_url: str | None, label: str) -> Iterator[tuple[Path, Any]]:
    """A scratch GUANXI_HOME and a migrated, empty database (SQLite in it, or PostgreSQL)."""
    from guanxi.kit.db import get_database
    from guanxi.migrations import runner

    scratch = Path(tempfile.mkdtemp(prefix=f"guanxi-bench-{label}-"))
    try:
        with fresh_database(database_url, label) as url, api.settings_for(scratch, url):
            database = get_database()
            runner.upgrade(database.engine)
            yield scratch, database
            database.dispose()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def insert_members(database: Any, count: int, *, start: int = 0) -> tuple[str, list[tuple[str, str]]]:
    """`count` bare customers and their loyalty accounts (the program's lowest tier); returns the
    program id and (customer id, account id) pairs."""
    from sqlalchemy import insert

    from guanxi.customers.models import Customer
    from guanxi.kit.ids import new_id
    from guanxi.loyalty.program import config as program
    from guanxi.loyalty.program.models import LoyaltyAccount

    now = datetime.now(UTC)
    with database.unit_of_work() as session:
        config = program.ensure(session)
        assert config.id is not None
        program_id, tier = config.id, config.base_tier.code
    pairs = [(new_id(), new_id()) for _ in range(count)]
    for first in range(0, count, BATCH):
        chunk = pairs[first : first + BATCH]
        with database.engine.begin() as conn:
            conn.execute(
                insert(Customer),
                [
                    {
                        "id": customer_id,
                        "member_no": f"B{start + first + i:012d}",
                        "name": "会员",
                        "name_pinyin": "huiyuan",
                        "name_initials": "hy",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, (customer_id, _) in enumerate(chunk)
                ],
            )
            conn.execute(
                insert(LoyaltyAccount),
                [
                    {
                        "id": account_id,
                        "program_id": program_id,
                        "customer_id": customer_id,
                        "tier_code": tier,
                        "tier_since": now,
                        "enrolled_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for customer_id, account_id in chunk
                ],
            )
    return program_id, pairs


def insert_lots(
    database: Any, accounts: list[str], per_account: int, expires: list[datetime], *, first_entry: int = 1
) -> int:
    """For each account, `per_account` earn entries and their available lots (expiring at one of
    `expires`), with the balance projected. Entry and lot ids are given, so no RETURNING is needed."""
    from sqlalchemy import bindparam, insert, update

    from guanxi.loyalty.program.models import LoyaltyAccount, PointEntry, PointLot

    rng = random.Random(11)
    now = datetime.now(UTC)
    earned_at = min(expires) - timedelta(days=365)
    entry_id = first_entry
    for first in range(0, len(accounts), BATCH):
        entries: list[dict[str, Any]] = []
        lots: list[dict[str, Any]] = []
        balances: list[dict[str, Any]] = []
        for account_id in accounts[first : first + BATCH]:
            balance = 0
            for _ in range(per_account):
                points = rng.randint(10, 500)
                balance += points
                entries.append(
                    {
                        "id": entry_id,
                        "account_id": account_id,
                        "kind": "earn",
                        "points": points,
                        "balance_after": balance,
                        "pending_after": 0,
                        "reason": "order",
                        "actor_id": "bench",
                        "detail": {},
                        "occurred_at": earned_at,
                        "created_at": now,
                    }
                )
                lots.append(
                    {
                        "id": entry_id,
                        "account_id": account_id,
                        "entry_id": entry_id,
                        "source": "order",
                        "issued": points,
                        "used": 0,
                        "expired": 0,
                        "reversed": 0,
                        "remaining": points,
                        "status": "available",
                        "available_at": earned_at,
                        "expires_at": rng.choice(expires),
                        "created_at": now,
                    }
                )
                entry_id += 1
            balances.append({"aid": account_id, "balance": balance})
        with database.engine.begin() as conn:
            conn.execute(insert(PointEntry), entries)
            conn.execute(insert(PointLot), lots)
            conn.execute(
                update(LoyaltyAccount)
                .where(LoyaltyAccount.id == bindparam("aid"))
                .values(
                    points_balance=LoyaltyAccount.points_balance + bindparam("balance"),
                    lifetime_earned=LoyaltyAccount.lifetime_earned + bindparam("balance"),
                ),
                balances,
            )
    sync_sequences(database)
    return entry_id - first_entry


def sync_sequences(database: Any) -> None:
    """After inserts with explicit ids, move PostgreSQL's sequences past them."""
    from sqlalchemy import text

    if database.dialect != "postgresql":
        return
    with database.engine.begin() as conn:
        for table in ("loyalty_point_entries", "loyalty_point_lots", "loyalty_lot_movements"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1))"
                )
            )


def single_update(database: Any, cutoff: datetime) -> tuple[float, int]:
    """The floor: one UPDATE closing every due lot, committed. Undone afterwards, untimed."""
    from sqlalchemy import update

    from guanxi.loyalty.program.models import PointLot

    due = (PointLot.status == "available") & (PointLot.expires_at <= cutoff)
    started = time.perf_counter()
    with database.engine.begin() as conn:
        closed = conn.execute(
            update(PointLot)
            .where(due)
            .values(expired=PointLot.expired + PointLot.remaining, remaining=0, status="closed")
        ).rowcount
    seconds = time.perf_counter() - started
    with database.engine.begin() as conn:
        conn.execute(
            update(PointLot)
            .where(PointLot.status == "closed", PointLot.expires_at <= cutoff, PointLot.used == 0)
            .values(remaining=PointLot.issued, expired=0, status="available")
        )
    return seconds, int(closed)


def main(database_url: str | None = None, *, accounts: int = ACCOUNTS, per_account: int = LOTS_PER_ACCOUNT) -> int:
    from guanxi.kit import clock
    from guanxi.loyalty.ledger import expiration, verify

    say = print
    info = api.machine()
    kind = "postgresql" if database_url else "sqlite"
    lots = accounts * per_account
    say(f"guanxi expiry benchmark ({kind}): {lots:,} lots of {accounts:,} members on {info['cpu']}")
    report: dict[str, Any] = {
        "benchmark": "expiry",
        "database": kind,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "accounts": accounts,
        "lots": lots,
    }
    with scratch_database(database_url, "expiry") as (_, database):
        started = time.perf_counter()
        _, pairs = insert_members(database, accounts)
        as_of = date.today() - timedelta(days=1)
        from guanxi.loyalty.rules import expiry as expiry_rules

        last_days = [expiry_rules.end_of_day_utc(as_of - timedelta(days=d), "Asia/Shanghai") for d in range(30)]
        insert_lots(database, [a for _, a in pairs], per_account, last_days)
        report["fill_seconds"] = round(time.perf_counter() - started, 1)
        say(f"  filled in {report['fill_seconds']} s")
        cutoff = expiry_rules.end_of_day_utc(as_of, "Asia/Shanghai")
        floor_seconds, floor_lots = single_update(database, cutoff)
        say(f"  one UPDATE of the same lots: {floor_lots:,} lots in {floor_seconds:.2f} s")
        busy_before, cpu_before = machine_busy_seconds(), time.process_time()
        started = time.perf_counter()
        with clock.frozen(cutoff + timedelta(hours=1)):
            result = expiration.expire(database, as_of=as_of)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        busy_after = machine_busy_seconds()
        busy = busy_after - busy_before if busy_before is not None and busy_after is not None else None
        say(
            f"  expiration.expire: {result.lots:,} lots, {result.points:,} points of {result.accounts:,} members "
            f"in {seconds:.2f} s ({result.lots / seconds:,.0f} lots/s), {seconds / floor_seconds:.1f}x the UPDATE; "
            f"this process used {cpu:.1f} s CPU, the whole machine {busy or 0:.1f} s"
        )
        started = time.perf_counter()
        with database.unit_of_work(read_only=True) as session:
            breaches = verify.check(session)
        verify_seconds = time.perf_counter() - started
        say(f"  ledger verified in {verify_seconds:.1f} s: {len(breaches)} breaches")
        report.update(
            {
                "expire_seconds": round(seconds, 3),
                "expire_cpu_seconds": round(cpu, 2),
                "machine_busy_seconds": None if busy is None else round(busy, 2),
                "expired_lots": result.lots,
                "expired_accounts": result.accounts,
                "expired_points": result.points,
                "lots_per_second": round(result.lots / seconds),
                "single_update_seconds": round(floor_seconds, 3),
                "single_update_lots": floor_lots,
                "ratio_to_update": round(seconds / floor_seconds, 2),
                "verify_seconds": round(verify_seconds, 2),
                "breaches": len(breaches),
                "aim_seconds": AIM_SECONDS,
                "met": seconds < AIM_SECONDS and result.lots == lots,
            }
        )
    say(f"aim: {lots:,} lots in under {AIM_SECONDS:g} s: {seconds:.1f} s -> {'met' if report['met'] else 'MISSED'}")
    api.RESULTS.mkdir(exist_ok=True)
    out = api.RESULTS / f"expiry-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    say(f"results written to {out}")
    return 0 if not breaches and result.lots == lots else 1


if __name__ == "__main__":  # python -m benchmarks.expiry [--accounts N] [--database-url URL]
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m benchmarks.expiry", description=__doc__)
    parser.add_argument("--accounts", type=int, default=ACCOUNTS, help=f"members (default {ACCOUNTS:,})")
    parser.add_argument("--lots-per-account", type=int, default=LOTS_PER_ACCOUNT, help="due lots per member")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL instead of SQLite")
    options = parser.parse_args()
    sys.exit(main(options.database_url, accounts=options.accounts, per_account=options.lots_per_account))
