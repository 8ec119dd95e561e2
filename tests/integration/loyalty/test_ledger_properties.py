"""Random sequences of earn / redeem / refund / expire / adjust / transfer: after every step every
ledger invariant holds, a refused step changes nothing, and each step moves the balance by exactly
what it says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.principal import SYSTEM
from guanxi.loyalty.ledger import expiration, verify
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.errors import InsufficientPoints
from guanxi.loyalty.program.models import LoyaltyAccount
from tests.conftest import clear_tables
from tests.factories import create_customer

START = datetime(2026, 1, 10, 4, 0, tzinfo=UTC)

account_index = st.integers(min_value=0, max_value=1)
steps = st.one_of(
    st.tuples(st.just("earn"), account_index, st.integers(1, 500), st.integers(0, 400), st.booleans()),
    st.tuples(st.just("redeem"), account_index, st.integers(1, 700)),
    st.tuples(st.just("refund"), account_index, st.integers(0, 20), st.integers(1, 600)),
    st.tuples(st.just("adjust"), account_index, st.integers(-300, 300).filter(bool)),
    st.tuples(st.just("transfer"), account_index, st.integers(1, 400)),
    st.tuples(st.just("time"), st.integers(1, 200)),
)


def _totals(db: Database, ids: list[str]) -> list[tuple[int, int]]:
    with db.unit_of_work(read_only=True) as session:
        return [
            (a.points_balance, a.pending_points)
            for a in (session.get(LoyaltyAccount, account_id) for account_id in ids)
            if a is not None
        ]


def _step(db: Database, ids: list[str], orders: list[tuple[int, str]], step: tuple[Any, ...], n: int) -> None:
    kind = step[0]
    before = _totals(db, ids)
    if kind == "time":
        clock_now = clock.now() + timedelta(days=step[1])
        clock.set_clock(clock.FrozenClock(clock_now))
        expiration.release_pending(db)
        expiration.expire(db)
        return
    who = ids[step[1]]
    try:
        with db.unit_of_work() as session:
            cfg = program.ensure(session)
            account = ledger.lock_accounts(session, [who])[who]
            if kind == "earn":
                order_id = f"O{n:025d}"
                ledger.credit(
                    session,
                    account,
                    cfg,
                    points=step[2],
                    kind="earn",
                    reason="order",
                    source="order",
                    actor_id="t",
                    occurred_at=clock.now() - timedelta(days=step[3]),
                    pending_days=7 if step[4] else 0,
                    order_id=order_id,
                )
                orders.append((step[1], order_id))
                expected = step[2]
            elif kind == "redeem":
                ledger.debit(session, account, points=step[2], kind="redeem", reason="redeem", actor_id="t")
                expected = -step[2]
            elif kind == "refund":
                mine = [o for i, o in orders if i == step[1]]
                if not mine:
                    return
                result = ledger.reverse(
                    session,
                    account,
                    cfg,
                    points=step[3],
                    order_id=mine[step[2] % len(mine)],
                    refund_id=None,
                    actor_id="t",
                )
                expected = -result.points
                assert result.points + result.uncollected == step[3]
            elif kind == "adjust":
                if step[2] > 0:
                    ledger.credit(
                        session,
                        account,
                        cfg,
                        points=step[2],
                        kind="adjust",
                        reason="manual",
                        source="adjust",
                        actor_id="t",
                        pending_days=0,
                    )
                else:
                    ledger.debit(session, account, points=-step[2], kind="adjust", reason="manual", actor_id="t")
                expected = step[2]
            else:
                other = ids[1 - step[1]]
                locked = ledger.lock_accounts(session, [who, other])
                ledger.transfer(session, locked[who], locked[other], cfg, points=step[2], actor_id="t")
                expected = -step[2]
    except InsufficientPoints:
        assert _totals(db, ids) == before, "a refused step changed a balance"
        return
    after = _totals(db, ids)
    moved = sum(b + p for b, p in after) - sum(b + p for b, p in before)
    if kind == "transfer":
        assert moved == 0
        assert sum(after[step[1]]) - sum(before[step[1]]) == expected
    else:
        assert moved == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=st.sampled_from(["allow_negative", "claw_back", "reduce_refund"]), plan=st.lists(steps, max_size=25))
def test_invariants_hold_after_every_step(db: Database, policy: str, plan: list[tuple[Any, ...]]) -> None:
    clear_tables(db)
    program.clear_cache()
    clock.set_clock(clock.FrozenClock(START))
    try:
        with db.unit_of_work() as session:
            config.update_settings(session, SYSTEM, config.ProgramSettingsIn(refund_policy=policy))
            cfg = program.ensure(session)
            ids = [ledger.enroll(session, cfg, create_customer(session, name=name).id).id for name in ("甲", "乙")]
        orders: list[tuple[int, str]] = []
        for n, step in enumerate(plan):
            _step(db, ids, orders, step, n)
            with db.unit_of_work(read_only=True) as session:
                assert verify.check(session) == [], (n, step)
            balances = _totals(db, ids)
            if policy != "allow_negative":
                assert all(balance >= 0 for balance, _ in balances)
    finally:
        clock.set_clock(clock.SystemClock())
