"""Expiry over a few hundred varied accounts, in several batches: every row the run writes is the
one the rules ask for, nothing else changes, a rerun the same day writes nothing, and a run cut
short by a failure finishes on the next run as if it had never stopped.

The expected rows are derived from the database as it stands just before the run, with the rules
written out plainly here (release matured pending points, settling any debt, then close every
available lot whose last day is over, one expire entry per account), so the test does not depend
on how `expiration` goes about it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from guanxi.customers.models import Customer
from guanxi.kit import clock, outbox
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import expiration, verify
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import LotMovement, LoyaltyAccount, PointEntry, PointLot
from guanxi.loyalty.rules import expiry
from guanxi.privacy.models import AuditRecord

SHANGHAI = ZoneInfo("Asia/Shanghai")
TZ = "Asia/Shanghai"
AS_OF = date(2026, 6, 10)
CUTOFF = expiry.end_of_day_utc(AS_OF, TZ)
RUN_AT = CUTOFF + timedelta(hours=1, minutes=7)
ACCOUNTS = 240
SEED = 20261202

LOT_COLUMNS = ("id", "account_id", "entry_id", "issued", "used", "expired", "reversed", "remaining", "status")
LOT_TIMES = ("available_at", "expires_at")
ACCOUNT_COLUMNS = ("id", "points_balance", "pending_points", "lifetime_expired", "lifetime_redeemed")


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class State:
    """The ledger's rows as plain values, keyed by id."""

    lots: dict[int, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    movements: dict[int, tuple[int, int, str, int]] = field(default_factory=dict)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    audits: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)


def _read(db: Database) -> State:
    state = State()
    with db.unit_of_work(read_only=True) as session:
        for lot in session.scalars(select(PointLot)):
            row = {c: getattr(lot, c) for c in LOT_COLUMNS}
            row.update({c: _aware(getattr(lot, c)) for c in LOT_TIMES})
            state.lots[lot.id] = row
        for account in session.scalars(select(LoyaltyAccount)):
            state.accounts[account.id] = {c: getattr(account, c) for c in ACCOUNT_COLUMNS}
            state.accounts[account.id]["updated_at"] = _aware(account.updated_at)
        for entry in session.scalars(select(PointEntry)):
            state.entries[entry.id] = {
                "account_id": entry.account_id,
                "kind": entry.kind,
                "points": entry.points,
                "balance_after": entry.balance_after,
                "pending_after": entry.pending_after,
                "reason": entry.reason,
                "actor_id": entry.actor_id,
                "detail": entry.detail,
                "occurred_at": _aware(entry.occurred_at),
                "created_at": _aware(entry.created_at),
            }
        for m in session.scalars(select(LotMovement)):
            state.movements[m.id] = (m.entry_id, m.lot_id, m.kind, m.points)
        for event in session.scalars(select(outbox.OutboxEvent)):
            state.events[event.id] = {
                "topic": event.topic,
                "payload": event.payload,
                "created_at": _aware(event.created_at),
                "available_at": _aware(event.available_at),
            }
        for record in session.scalars(select(AuditRecord).order_by(AuditRecord.seq)):
            state.audits.append((record.action, record.actor_id, record.detail))
    return state


def _seed(db: Database) -> None:
    """Accounts whose ids sort in another order than they were made, each with a mix of lots:
    due, due at the very cutoff, due a second later, never expiring, partly spent, pending (matured
    or not, some due), transferred, already expired by an earlier run, and debts."""
    rng = random.Random(SEED)
    numbers = list(range(ACCOUNTS))
    rng.shuffle(numbers)
    with clock.frozen(_at(date(2025, 5, 1))) as now:
        with db.unit_of_work() as session:
            config = program.ensure(session)
            assert config.id is not None
            session.execute(
                insert(Customer),
                [
                    {
                        "id": f"C{n:025d}",
                        "member_no": f"T{n:08d}",
                        "name": "会员",
                        "name_pinyin": "huiyuan",
                        "name_initials": "hy",
                    }
                    for n in numbers
                ],
            )
            session.execute(
                insert(LoyaltyAccount),
                [
                    {
                        "id": f"A{n:025d}",
                        "program_id": config.id,
                        "customer_id": f"C{n:025d}",
                        "tier_code": config.base_tier.code,
                    }
                    for n in numbers
                ],
            )
        ids = [f"A{n:025d}" for n in numbers]
        due_days = [CUTOFF - timedelta(days=d) for d in (1, 2, 5, 20, 45, 50)] + [CUTOFF]
        later = [CUTOFF + timedelta(seconds=1), CUTOFF + timedelta(days=3), None]

        def credit(session: Any, account: LoyaltyAccount, points: int, expires: datetime | None, **kw: Any) -> None:
            ledger.credit(
                session,
                account,
                config,
                points=points,
                kind="earn",
                reason="order",
                source="order",
                actor_id="t",
                pending_days=kw.pop("pending_days", 0),
                expires_at=expires,
                **kw,
            )

        with db.unit_of_work() as session:
            accounts = ledger.lock_accounts(session, ids)
            for i, account_id in enumerate(ids):
                account = accounts[account_id]
                kind = i % 8
                if kind == 7:
                    continue  # a member with no points at all
                for _ in range(rng.randint(1, 6)):
                    expires = rng.choice(due_days + later)
                    credit(session, account, rng.randint(1, 400), expires)
                if kind == 1:  # partly spent: soonest-expiring lots go first
                    ledger.debit(
                        session,
                        account,
                        points=max(1, account.points_balance // 3),
                        kind="redeem",
                        reason="reward",
                        actor_id="t",
                    )
                if kind == 2:  # spent to the last point
                    ledger.debit(
                        session, account, points=account.points_balance, kind="redeem", reason="reward", actor_id="t"
                    )
                if kind == 3 and i + 1 < len(ids):  # a gift to the next member keeps its lots' expiry
                    ledger.transfer(
                        session,
                        account,
                        accounts[ids[i + 1]],
                        config,
                        points=max(1, account.points_balance // 2),
                        actor_id="t",
                    )
                if kind == 4:  # a debt: the order's points were spent, then the order was refunded
                    credit(session, account, 120, due_days[0], order_id=f"O{i:025d}")
                    ledger.debit(
                        session, account, points=account.points_balance, kind="redeem", reason="reward", actor_id="t"
                    )
                    ledger.reverse(
                        session,
                        account,
                        config,
                        points=120,
                        order_id=f"O{i:025d}",
                        refund_id=None,
                        actor_id="t",
                        policy="allow_negative",
                    )
        # An earlier run closed what was due 40 days before the cutoff (the 45- and 50-day lots).
        now.set(CUTOFF - timedelta(days=40) + timedelta(hours=3))
        early = expiration.expire(db, as_of=AS_OF - timedelta(days=40))
        assert early.accounts > 0
        now.set(CUTOFF - timedelta(days=20))
        with db.unit_of_work() as session:
            accounts = ledger.lock_accounts(session, ids)
            for i, account_id in enumerate(ids):
                account = accounts[account_id]
                if i % 3 == 0:  # matured before the run, never released: the run's lock releases it
                    credit(session, account, rng.randint(1, 300), rng.choice(due_days[:3] + later), pending_days=7)
                if i % 5 == 0:  # still waiting at the run
                    credit(session, account, rng.randint(1, 300), rng.choice(due_days[:3] + later), pending_days=30)


def _due(lot: dict[str, Any]) -> bool:
    return lot["status"] == "available" and lot["expires_at"] is not None and lot["expires_at"] <= CUTOFF


def _expected(before: State) -> tuple[State, tuple[int, int, int], list[tuple[int, int, str, int]]]:
    """The rows after the run as the rules have them; the report figures; the settle movements."""
    after = State(
        lots={k: dict(v) for k, v in before.lots.items()},
        accounts={k: dict(v) for k, v in before.accounts.items()},
    )
    settles: list[tuple[int, int, str, int]] = []
    new_entries: list[dict[str, Any]] = []
    new_moves: list[tuple[str, int, int]] = []
    lots_by_account: dict[str, list[dict[str, Any]]] = {}
    for lot in sorted(after.lots.values(), key=lambda r: r["id"]):
        lots_by_account.setdefault(lot["account_id"], []).append(lot)
    for account_id in sorted(after.accounts):
        account = after.accounts[account_id]
        lots = lots_by_account.get(account_id, [])
        if not any(_due(x) for x in lots):
            # Only accounts with a spendable lot due are visited; a matured pending lot of a quiet
            # account waits for `release_pending`, which the daily job runs first.
            continue
        if account["pending_points"] > 0:
            for lot in [x for x in lots if x["status"] == "pending" and x["available_at"] <= RUN_AT]:
                lot["status"] = "available" if lot["remaining"] > 0 else "closed"
                account["pending_points"] -= lot["remaining"]
                account["points_balance"] += lot["remaining"]
                account["updated_at"] = RUN_AT
                debt = -(account["points_balance"] - lot["remaining"])
                if lot["remaining"] > 0 and debt > 0:
                    settle = min(debt, lot["remaining"])
                    lot["remaining"] -= settle
                    lot["used"] += settle
                    lot["status"] = "closed" if lot["remaining"] == 0 else lot["status"]
                    settles.append((lot["entry_id"], lot["id"], "settle", settle))
        due = [x for x in lots if _due(x)]
        points = sum(x["remaining"] for x in due)
        account["points_balance"] -= points
        account["lifetime_expired"] += points
        account["updated_at"] = RUN_AT
        new_entries.append(
            {
                "account_id": account_id,
                "kind": "expire",
                "points": -points,
                "balance_after": account["points_balance"],
                "pending_after": account["pending_points"],
                "reason": "expiry",
                "actor_id": SYSTEM.id,
                "detail": {
                    "as_of": AS_OF.isoformat(),
                    "lots": [{"lot_id": x["id"], "points": x["remaining"]} for x in due],
                },
                "occurred_at": CUTOFF,
                "created_at": RUN_AT,
            }
        )
        for lot in due:
            new_moves.append((account_id, lot["id"], lot["remaining"]))
            lot["expired"] += lot["remaining"]
            lot["remaining"] = 0
            lot["status"] = "closed"
    figures = (len(new_entries), len(new_moves), sum(-e["points"] for e in new_entries))
    after.entries = {i: e for i, e in enumerate(new_entries)}  # ids are checked by the caller
    after.movements = {i: (0, lot_id, "expire", points) for i, (_, lot_id, points) in enumerate(new_moves)}
    after.events = {
        i: {"account_id": e["account_id"], "points": -e["points"], "as_of": AS_OF.isoformat()}
        for i, e in enumerate(new_entries)
    }
    return after, figures, settles


def _check_run(before: State, after: State, report: expiration.ExpiryReport) -> None:
    expected, figures, settles = _expected(before)
    assert (report.as_of, report.accounts, report.lots, report.points) == (AS_OF, *figures)
    assert after.lots == expected.lots
    assert after.accounts == expected.accounts
    fresh = {i: e for i, e in after.entries.items() if i not in before.entries}
    assert {i: before.entries[i] for i in before.entries} == {i: after.entries[i] for i in before.entries}
    # One entry per account in account order, exactly as the rules have it.
    assert [fresh[i] for i in sorted(fresh)] == [expected.entries[i] for i in sorted(expected.entries)]
    entry_of = {fresh[i]["account_id"]: i for i in fresh}
    moves = [m for i, m in sorted(after.movements.items()) if i not in before.movements]
    assert sorted(m for m in moves if m[2] == "settle") == sorted(settles)
    expire_moves = [m for m in moves if m[2] == "expire"]
    lot_account = {lot_id: lot["account_id"] for lot_id, lot in after.lots.items()}
    assert expire_moves == sorted(expire_moves)  # by entry, then lot
    assert expire_moves == sorted(
        (entry_of[lot_account[lot_id]], lot_id, kind, points) for _, lot_id, kind, points in expected.movements.values()
    )
    events = [e for i, e in sorted(after.events.items()) if i not in before.events]
    assert [e["topic"] for e in events] == ["loyalty.points_expired"] * len(events)
    assert {(e["created_at"], e["available_at"]) for e in events} <= {(RUN_AT, RUN_AT)}
    assert [e["payload"] for e in events] == [expected.events[i] for i in sorted(expected.events)]


def test_a_run_over_many_batches_writes_exactly_what_the_rules_ask(db: Database, monkeypatch: Any) -> None:
    _seed(db)
    monkeypatch.setattr(expiration, "ACCOUNTS_PER_BATCH", 37)
    before = _read(db)
    with clock.frozen(RUN_AT):
        report = expiration.expire(db, as_of=AS_OF)
    after = _read(db)
    _check_run(before, after, report)
    # The seed covers every case: released under the run's lock, due at the very cutoff, a second
    # after it, partly spent, debts left standing. (A debt is paid by any spendable lot at once,
    # so an account the run visits has none: the settling the rules allow for does not occur.)
    expired = [i for i, lot in after.lots.items() if lot["expired"] > before.lots[i]["expired"]]
    assert report.accounts > 100 and report.lots > 250
    assert any(before.lots[i]["status"] == "pending" for i in expired)
    assert any(before.lots[i]["expires_at"] == CUTOFF for i in expired)
    assert any(before.lots[i]["used"] > 0 for i in expired)
    assert any(lot["expires_at"] == CUTOFF + timedelta(seconds=1) and lot["remaining"] for lot in after.lots.values())
    assert any(a["points_balance"] < 0 for a in after.accounts.values())
    assert after.audits[len(before.audits) :] == [
        (
            "loyalty.expire",
            SYSTEM.id,
            {"as_of": AS_OF.isoformat(), "accounts": report.accounts, "lots": report.lots, "points": report.points},
        )
    ]
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []
    with clock.frozen(RUN_AT + timedelta(minutes=30)):  # the same night again: nothing twice
        again = expiration.expire(db, as_of=AS_OF)
    assert (again.accounts, again.lots, again.points) == (0, 0, 0)
    assert _read(db) == after


def test_a_run_cut_short_finishes_on_the_next_run(db: Database, monkeypatch: Any) -> None:
    """Each batch commits on its own: a failure keeps the batches before it, and the rerun does
    the rest, so together they write what one run would have."""
    _seed(db)
    monkeypatch.setattr(expiration, "ACCOUNTS_PER_BATCH", 50)
    before = _read(db)
    real = expiration._expire_batch
    calls = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(expiration, "_expire_batch", failing)
    with clock.frozen(RUN_AT), pytest.raises(RuntimeError):
        expiration.expire(db, as_of=AS_OF)
    partial = _read(db)
    assert len(partial.entries) > len(before.entries)
    assert partial.audits == before.audits  # the run's audit record comes only with its end
    monkeypatch.setattr(expiration, "_expire_batch", real)
    with clock.frozen(RUN_AT):
        rest = expiration.expire(db, as_of=AS_OF)
    after = _read(db)
    _, (accounts, lots, points), _ = _expected(before)
    done = len(partial.entries) - len(before.entries)
    assert rest.accounts == accounts - done and rest.accounts > 0
    _check_run(before, after, expiration.ExpiryReport(AS_OF, accounts, lots, points))
    assert after.audits[-1][2]["accounts"] == rest.accounts
    with db.unit_of_work(read_only=True) as session:
        assert verify.check(session) == []
