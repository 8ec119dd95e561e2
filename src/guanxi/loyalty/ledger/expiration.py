"""End-of-day jobs on the ledger: expire lots whose last day has ended, release pending lots, and
remind members before their points expire.

Expiry is set-based: a batch of accounts at a time, one unit of work per batch, each a handful of
statements keyed by id (`expiration_sql`) instead of one ORM object or one statement per lot.
`benchmarks/expiry.py` measures it beside a single UPDATE of the same lots. A rerun finds nothing
left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.kit.models import table_of
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import expiration_sql
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import ExpiryReminder, LoyaltyAccount, PointLot
from guanxi.loyalty.rules import expiry
from guanxi.privacy import audit

ACCOUNTS_PER_BATCH = 2000


@dataclass
class ExpiryReport:
    as_of: date
    accounts: int = 0
    lots: int = 0
    points: int = 0


def last_ended_day(tz: str) -> date:
    """The most recent local day that is over: expiry never runs on a day still in progress."""
    return clock.today(tz) - timedelta(days=1)


def _due_accounts(session: Session, cutoff: datetime) -> list[str]:
    """Every account with a lot due, found in one pass over the (status, expires_at) index."""
    return sorted(
        session.scalars(
            select(PointLot.account_id).where(PointLot.status == "available", PointLot.expires_at <= cutoff).distinct()
        )
    )


def _lock_balances(session: Session, account_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """Lock the batch's accounts in id order and read (balance, pending, lifetime expired): plain
    rows, since a batch is thousands of accounts. The few with pending points go through
    `ledger.lock_accounts` too, which releases those that matured; that is flushed now, as the
    Core statements that follow do not flush."""
    table = table_of(LoyaltyAccount)
    stmt = (
        select(table.c.id, table.c.points_balance, table.c.pending_points, table.c.lifetime_expired)
        .where(table.c.id.in_(sorted(account_ids)))
        .order_by(table.c.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    rows = {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in session.execute(stmt)}
    waiting = [account_id for account_id, (_, pending, _) in rows.items() if pending > 0]
    if waiting:
        for account in ledger.lock_accounts(session, waiting).values():
            rows[account.id] = (account.points_balance, account.pending_points, account.lifetime_expired)
        session.flush()
    return rows


def _due_lots(session: Session, account_ids: list[str], cutoff: datetime) -> list[tuple[int, str, int]]:
    """(lot, account, remaining) of the batch's due lots, by account and lot."""
    lots = table_of(PointLot)
    rows = session.execute(
        select(lots.c.id, lots.c.account_id, lots.c.remaining)
        .where(lots.c.account_id.in_(account_ids), lots.c.status == "available", lots.c.expires_at <= cutoff)
        .order_by(lots.c.account_id, lots.c.id)
    )
    return [(int(lot_id), account_id, int(remaining)) for lot_id, account_id, remaining in rows]


def _expire_batch(session: Session, account_ids: list[str], cutoff: datetime, as_of: date) -> tuple[int, int, int]:
    """Expire the batch's due lots; returns the accounts, lots and points this call expired.

    Python builds one entry per account (its detail names every lot) and inserts them in one
    go; the per-lot writes (movements, closed lots) and the projections are a few set-based
    statements keyed by id (`expiration_sql`), not a row object per lot."""
    accounts = _lock_balances(session, account_ids)
    lots = _due_lots(session, account_ids, cutoff)
    by_account: dict[str, list[tuple[int, int]]] = {}
    for lot_id, account_id, remaining in lots:
        by_account.setdefault(account_id, []).append((lot_id, remaining))
    if not by_account:
        return 0, 0, 0
    now = clock.now()
    entry_rows: list[dict[str, Any]] = []
    for account_id, account_lots in by_account.items():
        balance, pending, _ = accounts[account_id]
        points = sum(p for _, p in account_lots)
        entry_rows.append(
            {
                "account_id": account_id,
                "kind": "expire",
                "points": -points,
                "balance_after": balance - points,
                "pending_after": pending,
                "reason": "expiry",
                "actor_id": SYSTEM.id,
                "detail": {"as_of": as_of.isoformat(), "lots": [{"lot_id": i, "points": p} for i, p in account_lots]},
                "occurred_at": cutoff,
                "created_at": now,
            }
        )
    entry_ids = expiration_sql.insert_entries(session, entry_rows)
    moved = expiration_sql.insert_movements(
        session, [(entry_ids[account_id], lot_id, points) for lot_id, account_id, points in lots]
    )
    closed = expiration_sql.close_lots(session, [lot_id for lot_id, _, _ in lots])
    projected = expiration_sql.project_accounts(
        session, [(row["account_id"], row["balance_after"], -row["points"]) for row in entry_rows], now
    )
    if (moved, closed, projected) != (len(lots), len(lots), len(entry_rows)):  # rolls the batch back
        raise RuntimeError(
            f"expiry batch wrote {moved} movements, closed {closed} lots and projected {projected} accounts "
            f"for {len(lots)} lots of {len(entry_rows)} accounts"
        )
    outbox.emit_many(
        session,
        "loyalty.points_expired",
        [{"account_id": row["account_id"], "points": -row["points"], "as_of": as_of.isoformat()} for row in entry_rows],
    )
    return len(entry_rows), len(lots), sum(-row["points"] for row in entry_rows)


def expire(database: Database, *, as_of: date | None = None) -> ExpiryReport:
    """Expire every lot whose last spendable day is `as_of` or earlier (default: yesterday, local).
    One unit of work per batch of accounts; safe to rerun and to run beside live traffic."""
    with database.unit_of_work() as session:
        config = program.ensure(session)
    tz = config.timezone
    today = clock.today(tz)
    as_of = as_of or last_ended_day(tz)
    if as_of >= today:
        raise ValueError(f"{as_of} has not ended yet in {tz}; expiry runs for days that are over")
    cutoff = expiry.end_of_day_utc(as_of, tz)
    report = ExpiryReport(as_of=as_of)
    with database.unit_of_work(read_only=True) as session:
        due = _due_accounts(session, cutoff)
    for start in range(0, len(due), ACCOUNTS_PER_BATCH):
        with database.unit_of_work() as session:
            accounts, lots, points = _expire_batch(session, due[start : start + ACCOUNTS_PER_BATCH], cutoff, as_of)
            # The report counts what this run wrote, never what earlier runs at the same cutoff did.
            report.accounts += accounts
            report.lots += lots
            report.points += points
    if report.accounts:
        with database.unit_of_work() as session:
            audit.record(
                session,
                SYSTEM,
                "loyalty.expire",
                entity_type="loyalty_program",
                entity_id=config.id,
                detail={
                    "as_of": as_of.isoformat(),
                    "accounts": report.accounts,
                    "lots": report.lots,
                    "points": report.points,
                },
            )
    return report


def release_pending(database: Database, *, batch: int = 500) -> int:
    """Make pending lots whose waiting period is over spendable. Accounts also do this whenever
    they are locked for a change; this catches the quiet ones. Returns the points released."""
    now = clock.now()
    with database.unit_of_work(read_only=True) as session:
        due = sorted(
            session.scalars(
                select(PointLot.account_id).where(PointLot.status == "pending", PointLot.available_at <= now).distinct()
            )
        )
    released = 0
    for start in range(0, len(due), batch):
        with database.unit_of_work() as session:
            accounts = ledger.lock_accounts(session, due[start : start + batch], release=False)
            for account in accounts.values():
                released += ledger.release_matured(session, account, now=now)
    return released


def send_reminders(database: Database, *, today: date | None = None) -> int:
    """For each lead time (e.g. 30 and 7 days), one outbox event per account whose points expire
    on that day; recorded so a rerun sends nothing twice."""
    with database.unit_of_work() as session:
        config = program.ensure(session)
        tz = config.timezone
        today = today or clock.today(tz)
        sent = 0
        for days in sorted(set(config.reminder_days)):
            day = today + timedelta(days=days)
            start = expiry.end_of_day_utc(day - timedelta(days=1), tz)
            end = expiry.end_of_day_utc(day, tz)
            rows = session.execute(
                select(PointLot.account_id, func.sum(PointLot.remaining))
                .where(
                    PointLot.status.in_(("available", "pending")),
                    PointLot.expires_at > start,
                    PointLot.expires_at <= end,
                )
                .group_by(PointLot.account_id)
            ).all()
            if not rows:
                continue
            already = set(
                session.scalars(
                    select(ExpiryReminder.account_id).where(
                        ExpiryReminder.expires_on == day, ExpiryReminder.days_before == days
                    )
                )
            )
            fresh = [(account_id, int(points)) for account_id, points in rows if account_id not in already]
            if not fresh:
                continue
            customers = dict(
                session.execute(
                    select(LoyaltyAccount.id, LoyaltyAccount.customer_id).where(
                        LoyaltyAccount.id.in_([a for a, _ in fresh])
                    )
                ).all()
            )
            session.execute(
                insert(ExpiryReminder),
                [{"account_id": a, "expires_on": day, "days_before": days, "points": p} for a, p in fresh],
            )
            sent += outbox.emit_many(
                session,
                "loyalty.points_expiring",
                [
                    {
                        "account_id": a,
                        "customer_id": customers.get(a),
                        "points": p,
                        "expires_on": day.isoformat(),
                        "days_before": days,
                    }
                    for a, p in fresh
                ],
            )
        return sent
