"""Historical orders in bulk (imports).

Each order is checked by the API's own schema (`OrderIn`) and the order service's rules
(`orders._check_order`: currency, time zone, not in the future, paid within the lines' total), and
is unique per (source, external id) exactly as a posted order: importing it again changes nothing,
and an order already recorded with other content is refused. The customer is found by id or
identity within the importer's scope; customers without a loyalty account are enrolled in the
default program at its lowest tier, as the first live order would.

Imported history earns no points and no growth value by default (see docs/decisions.md,
"Importing and exporting"): it happened before the program knew the member, and replaying years of
orders through today's rules would hand out points nobody promised and set off upgrade coupons and
referral rewards. The orders count for everything that reads orders (segments, analytics, the
customer's history, spend ladders). `award_points=True` posts every order through the order service
instead (points, growth, tiers, outbox events; much slower).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from guanxi.auth import service as auth_service
from guanxi.config import get_settings
from guanxi.customers import bulk, repository
from guanxi.customers.identities import blind_index
from guanxi.customers.models import Customer
from guanxi.customers.normalize import NAMESPACED_KINDS, IdentityKind, InvalidValue
from guanxi.kit import clock, idempotency
from guanxi.kit.errors import DomainError, FieldError
from guanxi.kit.models import table_of
from guanxi.kit.principal import Principal
from guanxi.loyalty.currency import service as currency
from guanxi.loyalty.currency.coverage import RateUsed
from guanxi.loyalty.orders import foreign_currency, statuses
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders.import_rows import OrderRecord, order_key, recheck, validate, whole_order_line
from guanxi.loyalty.orders.models import Order, OrderLine, Refund
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.models import LoyaltyAccount, TierChange
from guanxi.loyalty.program.schemas import OrderIn
from guanxi.loyalty.rules import expiry, tiering
from guanxi.privacy import audit

Status = Literal["created", "updated", "unchanged", "rejected"]
IMPORT_NOTE = "imported history: no points awarded"
# A row read as an order lives in import_rows; these names are the importer's.
__all__ = ["OrderRecord", "Outcome", "apply", "order_key", "recheck", "validate", "whole_order_line"]


@dataclass
class Outcome:
    line: int
    status: Status
    order_id: str | None = None
    reason: str | None = None
    fields: list[str] = field(default_factory=list)


def _answer(order: dict[str, Any], account: dict[str, Any]) -> dict[str, Any]:
    """What a replay of this order through the API answers (the shape of `OrderAnswer`)."""
    return {
        "id": order["id"],
        "external_id": order["external_id"],
        "source": order["source"],
        "customer_id": order["customer_id"],
        "paid_amount": str(order["paid_amount"]),
        "currency": order["currency"],
        "occurred_at": order["occurred_at"].isoformat(),
        "points_earned": 0,
        "pending": False,
        "awards": [],
        "notes": [IMPORT_NOTE],
        "growth_earned": 0,
        "points_balance": account["points_balance"],
        "pending_points": account["pending_points"],
        "tier": account["tier_code"],
        "tier_change": None,
        "status": order["status"],
        "refunded_amount": str(order["refunded_amount"]),
        "points_reversed": 0,
    }


def apply(
    session: Session,
    actor: Principal,
    records: list[OrderRecord],
    *,
    job_id: str | None = None,
    award_points: bool = False,
) -> list[Outcome]:
    auth_service.require(actor, "orders", "create")
    if not records:
        return []
    if award_points:
        return _through_service(session, actor, records)
    config = program.ensure(session)
    outcomes: dict[int, Outcome] = {}
    hashes = {r.line: idempotency.request_hash(r.data.model_dump(mode="json")) for r in records}
    known = _existing(session, records)
    wanted = {r.line: foreign_currency.rate_key(config.currency, config.timezone, r.data) for r in records}
    rates = currency.rates_for(
        session, {key for key in wanted.values() if key is not None}, to_currency=config.currency
    )
    pending: list[tuple[OrderRecord, list[Decimal]]] = []
    given: dict[int, OrderIn] = {}  # line -> the order as the file gave it, for a foreign currency
    for record in records:
        seen = known.get((record.data.source, record.data.external_id))
        if seen is not None:
            if seen == hashes[record.line]:
                outcomes[record.line] = Outcome(record.line, "unchanged")
            else:
                outcomes[record.line] = Outcome(
                    record.line, "rejected", reason="external_id: already recorded with different content"
                )
            continue
        key = wanted[record.line]
        if key is not None:
            if key not in rates:
                outcomes[record.line] = Outcome(record.line, "rejected", reason=_no_rate(*key))
                continue
            given[record.line] = record.data
            record = replace(
                record, data=foreign_currency.in_program_currency(config.currency, record.data, rates[key])
            )
        try:
            shares = orders._check_order(config, record.data)
        except DomainError as exc:
            outcomes[record.line] = Outcome(record.line, "rejected", reason=exc.message)
            continue
        problems = statuses.returned_amount_errors(
            record.data.status, record.data.paid_amount, record.data.refunded_amount
        )
        if problems:
            outcomes[record.line] = Outcome(record.line, "rejected", reason=describe(problems))
            continue
        pending.append((record, shares))
    customer_of = _resolve_customers(session, actor, [r for r, _ in pending], outcomes)
    pending = [(r, s) for r, s in pending if r.line in customer_of]
    accounts = _accounts(session, actor, config, sorted({customer_of[r.line] for r, _ in pending}))
    now = clock.now()
    order_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    refund_rows: list[dict[str, Any]] = []
    last_order: dict[str, datetime] = {}
    for record, shares in pending:
        data = record.data
        account = accounts[customer_of[record.line]]
        refunded = _refunded(data)
        row = {
            "id": bulk.next_id(),
            "source": data.source,
            "external_id": data.external_id,
            "request_hash": hashes[record.line],
            "customer_id": account["customer_id"],
            "account_id": account["id"],
            "paid_amount": data.paid_amount,
            "refunded_amount": refunded,
            "currency": config.currency,
            "occurred_at": data.occurred_at,
            "store": data.store,
            "channel": data.channel,
            "status": _stored_status(data.status),
            "cancelled_at": now if data.status == statuses.CANCELLED else None,
            **_exchange(given.get(record.line), data, _rate_of(rates, wanted[record.line])),
            "points_earned": 0,
            "points_reversed": 0,
            "growth_earned": 0,
            "growth_reversed": 0,
            "tier_code": account["tier_code"],
            "created_by": actor.id,
            "created_at": now,
        }
        row["answer"] = _answer(row, account)
        order_rows.append(row)
        whole = data.status == statuses.RETURNED
        for i, (line, share) in enumerate(zip(data.lines, shares, strict=True), start=1):
            line_rows.append(
                {
                    "id": bulk.next_id(),
                    "order_id": row["id"],
                    "line_no": i,
                    "sku": line.sku,
                    "category": line.category,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "paid_share": share,
                    "refunded_quantity": line.quantity if whole else 0,
                    "refunded_amount": share if whole else Decimal(0),
                }
            )
        if refunded:
            refund_rows.append(
                {
                    "id": bulk.next_id(),
                    "order_id": row["id"],
                    "idempotency_key": IMPORTED_RETURN,
                    "amount": refunded,
                    "lines": [],
                    "policy": IMPORTED_RETURN,
                    "points_reversed": 0,
                    "points_shortfall": 0,
                    "cash_deduction": Decimal(0),
                    "growth_reversed": 0,
                    "created_by": actor.id,
                    "created_at": now,
                }
            )
        when = data.occurred_at
        counts_as_visit = data.status != statuses.CANCELLED
        if counts_as_visit and (account["id"] not in last_order or when > last_order[account["id"]]):
            last_order[account["id"]] = when
        outcomes[record.line] = Outcome(record.line, "created", row["id"])
    if order_rows:
        session.execute(insert(table_of(Order)), order_rows)
    if line_rows:
        session.execute(insert(table_of(OrderLine)), line_rows)
    if refund_rows:
        session.execute(insert(table_of(Refund)), refund_rows)
    _advance_last_order(session, accounts, last_order)
    result = [outcomes[r.line] for r in records]
    if order_rows:
        counts = {s: sum(1 for o in result if o.status == s) for s in ("created", "unchanged", "rejected")}
        audit.record(
            session,
            actor,
            "order.import",
            entity_type="import_job" if job_id else "order",
            entity_id=job_id,
            detail={**counts, "first_line": records[0].line, "last_line": records[-1].line, "points": 0},
        )
    return result


# A return that came with the history: recorded as a refund of the amount given back, reversing
# nothing (the imported order earned nothing).
IMPORTED_RETURN = "imported"


def _refunded(data: OrderIn) -> Decimal:
    if data.status == statuses.RETURNED:
        return data.paid_amount
    if data.status == statuses.PARTIALLY_RETURNED and data.refunded_amount is not None:
        return data.refunded_amount
    return Decimal(0)


def _stored_status(status: str) -> str:
    stored: dict[str, str] = {statuses.RETURNED: "refunded", statuses.PARTIALLY_RETURNED: "partially_refunded"}
    return stored.get(status, status)


def _no_rate(code: str, day: date) -> str:
    # the currency and day in "(got …)", so the job's counts by reason group every such row
    return f"currency: no exchange rate covers the order's day, load one with `guanxi rates load` (got {code} {day})"


def _rate_of(rates: dict[tuple[str, date], RateUsed], key: tuple[str, date] | None) -> RateUsed | None:
    return rates.get(key) if key is not None else None


def _exchange(given: OrderIn | None, data: OrderIn, rate: RateUsed | None) -> dict[str, Any]:
    """The order row's record of its conversion: the order as given, and the rate (None: none)."""
    return foreign_currency.exchange_columns(given or data, rate if given is not None else None)


def describe(errors: list[FieldError]) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in errors)


def _existing(session: Session, records: list[OrderRecord]) -> dict[tuple[str, str], str]:
    """(source, external id) -> request hash of the orders of the batch already recorded."""
    table = table_of(Order)
    by_source: dict[str, list[str]] = defaultdict(list)
    for record in records:
        by_source[record.data.source].append(record.data.external_id)
    found: dict[tuple[str, str], str] = {}
    for source, ids in by_source.items():
        for start in range(0, len(ids), 5000):
            rows = session.execute(
                select(table.c.external_id, table.c.request_hash).where(
                    table.c.source == source, table.c.external_id.in_(ids[start : start + 5000])
                )
            )
            for external_id, request_hash in rows:
                found[(source, external_id)] = request_hash
    return found


def _resolve_customers(
    session: Session, actor: Principal, records: list[OrderRecord], outcomes: dict[int, Outcome]
) -> dict[int, str]:
    """line -> customer id, within the importer's scope; rows naming no one known are refused."""
    customers = table_of(Customer)
    region = get_settings().default_region_code
    by_id: dict[int, str] = {}
    by_index: dict[int, tuple[str, str, str]] = {}
    for record in records:
        data = record.data
        if data.customer_id is not None:
            by_id[record.line] = data.customer_id
            continue
        assert data.identity is not None
        kind = IdentityKind(data.identity.kind)
        namespace = data.identity.namespace.strip() if kind in NAMESPACED_KINDS else ""
        try:
            value = bulk.normalize_value(kind, data.identity.value, region)
        except InvalidValue as exc:
            outcomes[record.line] = Outcome(record.line, "rejected", reason=f"{kind.value}: {exc}")
            continue
        by_index[record.line] = (kind.value, namespace, blind_index(kind.value, namespace, value))
    scope = repository.scope_clause(actor, customers.c)
    visible: dict[str, str] = {}
    ids = sorted(set(by_id.values()))
    for start in range(0, len(ids), 5000):
        rows = session.execute(
            select(customers.c.id).where(
                customers.c.id.in_(ids[start : start + 5000]), customers.c.deleted_at.is_(None), scope
            )
        )
        for (cid,) in rows:
            visible[cid] = cid
    held = bulk.holders_of(session, set(by_index.values()))
    holders: dict[tuple[str, str, str], str] = {}
    candidates = sorted(set(held.values()))
    live: set[str] = set()
    for start in range(0, len(candidates), 5000):
        live.update(
            session.scalars(
                select(customers.c.id).where(
                    customers.c.id.in_(candidates[start : start + 5000]), customers.c.deleted_at.is_(None), scope
                )
            )
        )
    for key, cid in held.items():
        if cid in live:
            holders[key] = cid
    result: dict[int, str] = {}
    for record in records:
        line = record.line
        if line in by_id:
            if by_id[line] in visible:
                result[line] = by_id[line]
            else:
                outcomes[line] = Outcome(line, "rejected", reason="customer_id: no customer has this id")
        elif line in by_index:
            key = by_index[line]
            if key in holders:
                result[line] = holders[key]
            else:
                outcomes[line] = Outcome(line, "rejected", reason=f"{key[0]}: no customer has this {key[0]}")
    return result


_ACCOUNT_COLUMNS = ("id", "customer_id", "tier_code", "points_balance", "pending_points", "last_order_at")


def _accounts(
    session: Session, actor: Principal, config: ProgramConfig, customer_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """customer id -> account row, enrolling those without one (lowest tier, as `ledger.enroll`)."""
    assert config.id is not None
    table = table_of(LoyaltyAccount)
    cols = [table.c[c] for c in _ACCOUNT_COLUMNS]

    def read(ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 5000):
            rows = session.execute(
                select(*cols).where(table.c.program_id == config.id, table.c.customer_id.in_(ids[start : start + 5000]))
            )
            for row in rows:
                found[row.customer_id] = dict(row._mapping)
        return found

    accounts = read(customer_ids)
    missing = [cid for cid in customer_ids if cid not in accounts]
    if missing:
        now = clock.now()
        today = expiry.local_date(now, config.timezone)
        base = config.base_tier
        review = tiering.next_review_date(config.review, enrolled_on=today, after=today)
        rows = [
            {
                "id": bulk.next_id(),
                "program_id": config.id,
                "customer_id": cid,
                "tier_code": base.code,
                "tier_since": now,
                "next_review_on": review,
                "enrolled_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for cid in missing
        ]
        dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(dialect_insert(table).on_conflict_do_nothing(), rows)
        fresh = read(missing)
        new_ids = {r["id"] for r in rows}
        changes = [
            {
                "account_id": acc["id"],
                "from_tier": None,
                "to_tier": base.code,
                "kind": "enrol",
                "reason": f"enrolled at {base.name}",
                "detail": tiering.reason_detail("enrolled", tier=base.code),
                "value": Decimal(0),
                "actor_id": actor.id,
                "created_at": now,
            }
            for acc in fresh.values()
            if acc["id"] in new_ids
        ]
        if changes:
            session.execute(insert(table_of(TierChange)), changes)
        accounts.update(fresh)
    return accounts


def _advance_last_order(session: Session, accounts: dict[str, dict[str, Any]], last_order: dict[str, datetime]) -> None:
    table = table_of(LoyaltyAccount)
    params = []
    for account in accounts.values():
        newest = last_order.get(account["id"])
        if newest is None:
            continue
        current = account["last_order_at"]
        if current is None or newest > current:
            params.append({"b_id": account["id"], "b_last": newest})
            account["last_order_at"] = newest
    if params:
        stmt = update(table).where(table.c.id == bindparam("b_id")).values(last_order_at=bindparam("b_last"))
        session.execute(stmt, params)


def _through_service(session: Session, actor: Principal, records: list[OrderRecord]) -> list[Outcome]:
    """Each order posted by the order service (points, growth, tiers, events), each in a savepoint
    so a refused order leaves nothing behind."""
    result: list[Outcome] = []
    for record in records:
        savepoint = session.begin_nested()
        try:
            answer, created = orders.record_order(session, actor, record.data)
        except DomainError as exc:
            savepoint.rollback()
            result.append(Outcome(record.line, "rejected", reason=exc.message))
            continue
        savepoint.commit()
        result.append(Outcome(record.line, "created" if created else "unchanged", answer.id))
    return result
