"""The batch path against the per-order path: the same orders, from the same starting state, give
the same answers and the same rows.

A fixed-seed mix of orders (existing and new members, by id and by phone, with and without
lines, replays, conflicts, orders in dollars and Hong Kong dollars converted at the rate of their
day, currencies without a rate that day or unknown, future dates, unknown customers, members reaching an
upgrade, several orders of one member in a batch, members with a debt, pending points or a
downgrade under review, other roles and scopes, orders recorded as cancelled, returned or partly
returned (and partial returns with a bad amount); the demo's rules with birthday, category and
campaign bonuses) goes once through `orders.record_order`, one order per transaction, and once
through `order_batch.record_orders` in batches of varied sizes. Both runs start from the same
seeded state in the test database (emptied in between); every answer and every row written is
compared after replacing generated ids and keys by natural keys.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from guanxi.demo.campaigns import earning_rules
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.errors import DomainError
from guanxi.kit.models import table_of
from guanxi.kit.outbox import OutboxEvent
from guanxi.kit.principal import SYSTEM, Principal
from guanxi.loyalty.ledger import verify
from guanxi.loyalty.members import points
from guanxi.loyalty.orders import apply as order_apply
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders.batch import record_orders
from guanxi.loyalty.orders.models import Order, OrderLine, Refund
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program import settings as config
from guanxi.loyalty.program.models import (
    GrowthEntry,
    LotMovement,
    LoyaltyAccount,
    PointEntry,
    PointLot,
    RuleUsage,
    TierChange,
)
from guanxi.loyalty.program.schemas import OrderIn, RedeemIn, RefundIn
from guanxi.privacy import audit
from guanxi.privacy.models import AuditRecord
from tests.conftest import clear_tables
from tests.factories import create_customer, put_rates

START = datetime(2026, 6, 16, 2, 0, tzinfo=UTC)  # 618 falls inside the run
SEED = 20261202
CUSTOMERS = 600
ORDERS = 1500
POS = Principal(id="pos-1", name="till", role="integration", kind="api_key")
CLERK = Principal(id="clerk-1", name="clerk", role="manager", scope="own")
SERVICE = Principal(id="svc-1", name="desk", role="service")


@pytest.fixture
def frozen() -> Iterator[clock.FrozenClock]:
    with clock.frozen(START) as fake:
        yield fake


def _order(external_id: str, amount: str, at: datetime, **fields: Any) -> OrderIn:
    return OrderIn.model_validate(
        {"external_id": external_id, "source": "pos", "paid_amount": amount, "occurred_at": at.isoformat(), **fields}
    )


def _name(n: int) -> str:
    return (
        "顾客" + "甲乙丙丁戊己庚辛壬癸"[n % 10] + "子丑寅卯辰巳午未申酉戌亥"[n // 10 % 12] + "东南西北中"[n // 120 % 5]
    )


_FOREIGN = ("USD", "usd", "HKD", "EUR", "ABC")


def _seed(db: Database) -> list[str]:
    """Customers (some members with history, debt, pending points or a downgrade under review)
    and the demo's earning rules. Returns the customer ids in creation order."""
    program.clear_cache()
    rng = random.Random(SEED)
    ids: list[str] = []
    with db.unit_of_work() as session:
        program.ensure(session)
        # Dollars have a rate every day of the run (a new one from the 17th); Hong Kong dollars
        # until the 16th only; euros none.
        put_rates(
            session,
            ("USD", "7.1234", "2026-06-01", "2026-06-16"),
            ("USD", "7.2046", "2026-06-17", None),
            ("HKD", "0.9087", "2026-06-01", "2026-06-16"),
        )
        for definition in earning_rules(date(2026, 1, 1), date(2026, 12, 31)):
            config.put_rule(session, SYSTEM, definition["code"], definition)
        for n in range(CUSTOMERS):
            birthday = date(1990, rng.choice([6, 7, 12]), 10) if n % 3 == 0 else None
            customer = create_customer(session, name=_name(n), phone=f"1380013{n:04d}", birthday=birthday)
            ids.append(customer.id)
    with db.unit_of_work() as session:
        # Pending points for customers 10-14, from a program with a pending period at the time.
        config.update_settings(session, SYSTEM, config.ProgramSettingsIn(pending_days=7))
    for n in range(10, 15):
        with db.unit_of_work() as session:
            orders.record_order(session, SYSTEM, _order(f"seed-pending-{n}", "120.00", START, customer_id=ids[n]))
    with db.unit_of_work() as session:
        config.update_settings(session, SYSTEM, config.ProgramSettingsIn(pending_days=0))
    for n in range(0, 60):  # members with some history; 15-19 end in debt, 20-24 under review
        with db.unit_of_work() as session:
            amount = "1950.00" if n % 10 == 5 else f"{100 + n * 7}.00"
            orders.record_order(session, SYSTEM, _order(f"seed-{n}", amount, START, customer_id=ids[n]))
    for n in range(15, 20):
        with db.unit_of_work() as session:
            points.redeem(session, SYSTEM, ids[n], RedeemIn(points=100 + n * 7), f"spend-{n}")
        with db.unit_of_work() as session:
            order = session.scalar(select(Order).where(Order.external_id == f"seed-{n}"))
            assert order is not None
            orders.refund_order(session, SYSTEM, order.id, RefundIn(amount=order.paid_amount), f"refund-{n}")
    with db.unit_of_work() as session:
        session.execute(
            update(LoyaltyAccount)
            .where(LoyaltyAccount.customer_id.in_(ids[20:25]))
            .values(
                tier_code="silver",
                downgrade_due_at=START + timedelta(days=20),
                downgrade_to="basic",
                grace_needed=150,
            )
        )
    return ids


Batch = tuple[datetime, list[tuple[Principal, OrderIn]]]


def _orders(ids: list[str]) -> list[Batch]:
    """The batches and the time each arrives: the same for both runs."""
    rng = random.Random(SEED + 1)
    statuses = random.Random(SEED + 2)  # its own stream: the mix above stays as it was
    made: list[OrderIn] = []
    batches: list[Batch] = []
    at = START
    while len(made) < ORDERS:
        at += timedelta(minutes=rng.choice([1, 7, 45, 180]))
        batch: list[tuple[Principal, OrderIn]] = []
        for _ in range(rng.choice([1, 2, 5, 17, 40, 128])):
            roll = rng.random()
            n = rng.randrange(CUSTOMERS) if rng.random() < 0.8 else rng.randrange(30)  # some busy members
            amount = f"{rng.choice([9, 30, 88, 88, 120, 199, 199, 320, 520, 1500])}.{rng.randrange(100):02d}"
            when = at - timedelta(minutes=rng.randrange(0, 600))
            who: dict[str, Any] = {"customer_id": ids[n]}
            if rng.random() < 0.3:
                who = {"identity": {"kind": "phone", "value": f"+86 138 0013 {n:04d}"}}
            extra: dict[str, Any] = {}
            if rng.random() < 0.4:
                price = Decimal(amount)
                extra["lines"] = [
                    {
                        "sku": "A1",
                        "category": rng.choice(["beauty", "food", None]),
                        "quantity": 1,
                        "unit_price": str(price),
                    },
                    {"sku": "B2", "category": "beauty", "quantity": 2, "unit_price": "10.00"},
                ]
            if rng.random() < 0.2:
                extra["channel"] = rng.choice(["app", "store"])
                extra["store"] = "SH-01"
            actor = POS if rng.random() < 0.9 else rng.choice([SYSTEM, CLERK, SERVICE])
            if made and roll < 0.04:
                data = rng.choice(made)  # a replay
            elif made and roll < 0.06:
                data = rng.choice(made).model_copy(update={"paid_amount": Decimal("1.00")})  # a conflict
            elif roll < 0.08:
                data = _order(f"o{len(made)}", amount, when, currency=_FOREIGN[len(made) % 5], **who, **extra)
            elif roll < 0.10:
                data = _order(f"o{len(made)}", amount, at + timedelta(hours=2), **who)
            elif roll < 0.12:
                data = _order(f"o{len(made)}", amount, when, customer_id="01UNKNOWNCUSTOMER000000000")
            elif roll < 0.13:
                data = _order(f"o{len(made)}", amount, when, identity={"kind": "phone", "value": "13900000000"})
            else:
                data = _order(f"o{len(made)}", amount, when, **who, **extra, **_status(statuses, amount))
            made.append(data)
            batch.append((actor, data))
        batches.append((at, batch))
    return batches


def _status(rng: random.Random, amount: str) -> dict[str, Any]:
    """Most orders completed; some cancelled, returned or partly returned, in the words tills use."""
    roll = rng.random()
    if roll < 0.04:
        return {"status": rng.choice(["cancelled", "已取消", "Void"])}
    if roll < 0.07:
        return {"status": rng.choice(["returned", "退货"])}
    if roll < 0.10:
        return {"status": "partially_returned", "refunded_amount": str(max(Decimal(amount) // 3, Decimal("0.01")))}
    if roll < 0.11:
        return {"status": "partially_returned"}  # no amount: refused
    return {}


def _outcome(result: Any, customer_no: dict[str, int]) -> Any:
    if isinstance(result, DomainError):
        extra = dict(result.extra)
        if "existing_order_id" in extra:
            extra["existing_order_id"] = "<order>"
        return (type(result).__name__, result.message, [vars(e) for e in result.errors], extra)
    answer, created = result
    return {**answer.model_dump(mode="json", exclude={"id"}), "customer_id": customer_no[answer.customer_id]}, created


def _run_one_by_one(db: Database, fake: clock.FrozenClock, batches: list[Batch]) -> list[Any]:
    outcomes: list[Any] = []
    for at, batch in batches:
        fake.set(at)
        for actor, data in batch:
            try:
                with db.unit_of_work() as session:
                    outcomes.append(orders.record_order(session, actor, data))
            except DomainError as exc:
                outcomes.append(exc)
    return outcomes


def _run_batched(db: Database, fake: clock.FrozenClock, batches: list[Batch]) -> list[Any]:
    outcomes: list[Any] = []
    for at, batch in batches:
        fake.set(at)
        with db.unit_of_work() as session:
            outcomes += record_orders(session, batch)
    return outcomes


def _rows(session: Session, model: Any) -> list[dict[str, Any]]:
    table = table_of(model)
    return [dict(r._mapping) for r in session.execute(select(table).order_by(*table.primary_key.columns))]


def _payload_value(key: str, value: Any, nk: Callable[[Any], Any], entry_at: dict[int, tuple[int, int]]) -> Any:
    if key == "refund_id":
        return "<refund>"
    if key == "entry_id":
        return entry_at.get(value, value)
    return nk(value)


def _state(db: Database, ids: list[str]) -> dict[str, Any]:
    """Every row the order paths write, with generated ids replaced by natural keys."""
    customer_no = {cid: n for n, cid in enumerate(ids)}
    with db.unit_of_work(read_only=True) as session:
        orders_rows = _rows(session, Order)
        order_key = {r["id"]: (r["source"], r["external_id"]) for r in orders_rows}
        account_rows = _rows(session, LoyaltyAccount)
        member = {r["id"]: customer_no[r["customer_id"]] for r in account_rows}

        def per_account(model: Any) -> tuple[dict[Any, Any], dict[int, tuple[int, int]]]:
            grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
            where: dict[int, tuple[int, int]] = {}
            for row in _rows(session, model):
                account = member[row.pop("account_id")]
                where[row.pop("id")] = (account, len(grouped[account]))
                if "order_id" in row:
                    row["order_id"] = order_key.get(row["order_id"], row["order_id"])
                if row.get("refund_id"):
                    row["refund_id"] = "<refund>"
                grouped[account].append(row)
            return dict(grouped), where

        entries, entry_at = per_account(PointEntry)
        lots, lot_at = per_account(PointLot)
        for rows in entries.values():
            for row in rows:
                for use in row["detail"].get("lots", []):
                    use["lot_id"] = lot_at[use["lot_id"]]
        for rows in lots.values():
            for row in rows:
                row["entry_id"] = entry_at[row["entry_id"]]
        movements = sorted(
            (entry_at[m["entry_id"]], lot_at[m["lot_id"]], m["kind"], m["points"]) for m in _rows(session, LotMovement)
        )
        growth, _ = per_account(GrowthEntry)
        tier_changes, _ = per_account(TierChange)
        usage = sorted(
            (member[u["account_id"]], u["rule_code"], u["day"], u["points"]) for u in _rows(session, RuleUsage)
        )
        refunds = sorted(
            (order_key[r["order_id"]], *(v for k, v in r.items() if k not in ("id", "order_id", "idempotency_key")))
            for r in _rows(session, Refund)
        )

        def nk(value: Any) -> Any:
            if value in order_key:
                return order_key[value]
            if value in member:
                return ("member", member[value])
            return ("customer", customer_no[value]) if value in customer_no else value

        state: dict[str, Any] = {
            "orders": {
                order_key[r["id"]]: {
                    **{k: v for k, v in r.items() if k not in ("id", "account_id", "customer_id", "request_hash")},
                    "customer": customer_no[r["customer_id"]],
                    "answer": {k: v for k, v in r["answer"].items() if k not in ("id", "customer_id")},
                }
                for r in orders_rows
            },
            "lines": sorted(
                (
                    order_key[r["order_id"]],
                    r["line_no"],
                    r["sku"],
                    r["category"],
                    r["quantity"],
                    r["unit_price"],
                    r["paid_share"],
                    r["refunded_quantity"],
                    r["refunded_amount"],
                )
                for r in _rows(session, OrderLine)
            ),
            "accounts": {
                member[r["id"]]: {k: v for k, v in r.items() if k not in ("id", "program_id", "customer_id")}
                for r in account_rows
            },
            "entries": entries,
            "lots": lots,
            "movements": movements,
            "growth": growth,
            "tier_changes": tier_changes,
            "usage": usage,
            "refunds": refunds,
            "outbox": sorted(
                (
                    e["topic"],
                    sorted((k, _payload_value(k, v, nk, entry_at)) for k, v in e["payload"].items()),
                    e["created_at"],
                )
                for e in _rows(session, OutboxEvent)
            ),
            "audit": sorted(
                (
                    a["action"],
                    a["entity_type"],
                    nk(a["entity_id"]) if a["entity_type"] in ("order", "customer") else None,
                    a["actor_id"],
                    a["occurred_at"],
                )
                for a in _rows(session, AuditRecord)
            ),
        }
        assert verify.check(session) == []
        result = audit.verify(session)
        assert result.ok, result.reason
    return state


def _through(db: Database, fake: clock.FrozenClock, run: Callable[..., list[Any]]) -> tuple[list[Any], dict[str, Any]]:
    clear_tables(db)
    fake.set(START)
    ids = _seed(db)
    batches = _orders(ids)
    customer_no = {cid: n for n, cid in enumerate(ids)}
    outcomes = [_outcome(o, customer_no) for o in run(db, fake, batches)]
    return outcomes, _state(db, ids)


@pytest.mark.slow
def test_batches_give_exactly_what_one_order_at_a_time_gives(
    db: Database, frozen: clock.FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected_outcomes, expected_state = _through(db, frozen, _run_one_by_one)
    planned: list[int] = []
    apply = order_apply.apply

    def counted(session: Session, items: list[order_apply.Planned]) -> None:
        planned.append(len(items))
        apply(session, items)

    monkeypatch.setattr(order_apply, "apply", counted)
    outcomes, state = _through(db, frozen, _run_batched)
    print(f"{sum(planned)} of {len(outcomes)} orders planned")
    assert sum(planned) > ORDERS // 2  # most orders took the set-based path
    # (request hashes cover the customer's generated id; replays and conflicts above compare them)
    assert len(outcomes) == len(expected_outcomes) >= ORDERS
    for i, (got, want) in enumerate(zip(outcomes, expected_outcomes, strict=True)):
        assert got == want, f"order {i}"
    for table, rows in expected_state.items():
        if state[table] != rows and isinstance(rows, dict):
            for key in rows:
                assert state[table].get(key) == rows[key], (table, key)
        assert state[table] == rows, table
    # The mix exercised what it is meant to.
    kinds = {o[0] if isinstance(o[0], str) else "ok" for o in expected_outcomes}
    assert {"ok", "ValidationFailed", "Conflict", "PermissionDenied", "NoExchangeRate", "UnknownCurrency"} <= kinds
    converted = [o[0]["exchange"] for o in expected_outcomes if not isinstance(o[0], str) and o[0]["exchange"]]
    assert {e["currency"] for e in converted} == {"USD", "HKD"}
    assert {e["valid_from"] for e in converted if e["currency"] == "USD"} == {"2026-06-01", "2026-06-17"}
    assert any(change["kind"] == "upgrade" for rows in state["tier_changes"].values() for change in rows)
    assert any(o[1] is False for o in expected_outcomes if not isinstance(o[0], str))  # replays
    recorded = Counter(row["status"] for row in state["orders"].values())
    assert min(recorded[s] for s in ("completed", "cancelled", "refunded", "partially_refunded")) > 10
    assert any(
        isinstance(o[0], str) and o[2] and o[2][0]["field"] == "refunded_amount" for o in expected_outcomes
    )  # a partial return without its amount was refused on both paths
