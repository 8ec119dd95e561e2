"""The set-based side of a batch of orders: read what the batch needs with one query per table,
plan each order (`order_plan`), write the rows with one statement per table.

`prepare` decides, per order, whether the plan covers it. It does not when anything about the
order or its member is not plain arithmetic on rows read here: a status other than completed,
a permission or scope other than the whole customer base, a validation error, an identity that
does not normalise, an unknown customer, an order already recorded or named twice in the
batch, a member named twice in the batch, a member the plan does not cover (pending points,
debt, downgrade under review).
Those orders go through `orders.record_order`, which the caller runs in a savepoint in
the order's position. Every planned order touches a member and an order key no other order of
the batch touches, so writing the planned orders together gives what one-by-one would give.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.customers import identities
from guanxi.customers.models import Customer, CustomerIdentity
from guanxi.customers.normalize import IdentityKind
from guanxi.customers.schemas import IdentityIn
from guanxi.kit import clock, idempotency, outbox
from guanxi.kit.errors import DomainError, FieldError
from guanxi.kit.ids import new_id
from guanxi.kit.models import keys_in, table_of
from guanxi.kit.principal import Principal
from guanxi.loyalty.currency import service as exchange_rates
from guanxi.loyalty.currency.coverage import RateUsed
from guanxi.loyalty.orders import plan as order_plan
from guanxi.loyalty.orders import statuses, usage
from guanxi.loyalty.orders.foreign_currency import rate_key
from guanxi.loyalty.orders.models import Order, OrderLine
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.models import GrowthEntry, LoyaltyAccount, PointEntry, PointLot, TierChange
from guanxi.loyalty.program.schemas import OrderIn
from guanxi.privacy import audit

IdentityKey = tuple[str, str, str]  # kind, namespace, blind index


@dataclass
class Planned:
    actor: Principal
    plan: order_plan.OrderPlan


@dataclass
class _Item:
    actor: Principal
    data: OrderIn
    eligible: bool
    identity: IdentityKey | None = None
    shares: list[Any] | None = None
    customer_id: str | None = None
    rate: RateUsed | None = None


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _identity_key(data: OrderIn) -> IdentityKey | None:
    """The identity's blind-index key as `identity_service.find_by_identity` computes it (None:
    it does not normalise, and the per-order path gives the exact error)."""
    assert data.identity is not None
    ref = data.identity
    try:
        item = IdentityIn(kind=IdentityKind(ref.kind).value, value=ref.value, namespace=ref.namespace)
    except (PydanticValidationError, ValueError):
        return None
    errors: list[FieldError] = []
    normalized = identities.normalize_all([("", item)], errors)
    if errors or not normalized:
        return None
    ident = normalized[0]
    return ident.kind.value, ident.namespace, ident.index


def _allowed(actor: Principal) -> bool:
    """Whether the actor may record orders for any customer (else: the per-order path, which
    applies the row scope and names the refusal)."""
    if actor.scope != "all":
        return False
    try:
        require(actor, "orders", "create")
        require(actor, "customers", "read")
    except DomainError:
        return False
    return True


def _item(config: ProgramConfig, actor: Principal, data: OrderIn, rate: RateUsed | None) -> _Item:
    # The plan covers completed orders only: a cancelled or returned one is recorded per order.
    plain = data.status == statuses.COMPLETED and data.refunded_amount is None
    item = _Item(actor, data, eligible=plain and _allowed(actor))
    if data.identity is not None:
        item.identity = _identity_key(data)
        if item.identity is None:
            item.eligible = False
    if item.eligible:
        try:
            item.shares = order_plan.check_order(config, data, rate)
            item.rate = rate
        except DomainError:
            item.eligible = False
    return item


def _customers(session: Session, batch: list[_Item]) -> dict[str, order_plan.CustomerFacts]:
    """Each order's candidate customer, ignoring row scope (scope only narrows what the per-order
    path finds): by id and by identity, one query each."""
    ids = {i.data.customer_id for i in batch if i.data.customer_id is not None}
    keys = {i.identity for i in batch if i.identity is not None}
    by_identity: dict[IdentityKey, str] = {}
    if keys:
        ident = CustomerIdentity
        rows = session.execute(
            select(ident.kind, ident.namespace, ident.value_index, ident.customer_id)
            .join(Customer, Customer.id == ident.customer_id)
            .where(Customer.deleted_at.is_(None), keys_in((ident.kind, ident.namespace, ident.value_index), keys))
        ).all()
        by_identity = {(r.kind, r.namespace, r.value_index): r.customer_id for r in rows}
        ids |= set(by_identity.values())
    found: dict[str, order_plan.CustomerFacts] = {}
    if ids:
        facts = session.execute(
            select(Customer.id, Customer.birthday).where(Customer.deleted_at.is_(None), Customer.id.in_(ids))
        )
        found = {r.id: order_plan.CustomerFacts(id=r.id, birthday=r.birthday) for r in facts}
    for item in batch:
        cid = by_identity.get(item.identity) if item.identity is not None else item.data.customer_id
        item.customer_id = cid if cid in found else None
        if item.customer_id is None:
            item.eligible = False
    return found


def _recorded(session: Session, batch: list[_Item]) -> set[tuple[str, str]]:
    keys = {(i.data.source, i.data.external_id) for i in batch if i.eligible}
    if not keys:
        return set()
    rows = session.execute(
        select(Order.source, Order.external_id).where(keys_in((Order.source, Order.external_id), keys))
    )
    return {(r.source, r.external_id) for r in rows}


def _drop_recorded(session: Session, batch: list[_Item]) -> None:
    recorded = _recorded(session, batch)
    for item in batch:
        if (item.data.source, item.data.external_id) in recorded:
            item.eligible = False


def _accounts(session: Session, config: ProgramConfig, customer_ids: set[str]) -> dict[str, Any]:
    """The members' accounts by customer, locked in id order on PostgreSQL (as `ledger.lock_accounts`)."""
    if not customer_ids:
        return {}
    t = table_of(LoyaltyAccount)
    stmt = select(t).where(t.c.program_id == config.id, t.c.customer_id.in_(customer_ids)).order_by(t.c.id)
    if _is_postgres(session):
        stmt = stmt.with_for_update()
    return {r.customer_id: r for r in session.execute(stmt)}


def _enrol(session: Session, config: ProgramConfig, new: list[_Item], now: datetime) -> dict[str, str]:
    """Enrol the new members of the batch as `ledger.enroll` does; returns account id by customer
    for those this insert created (one enrolled meanwhile by another writer is left to the
    per-order path)."""
    if not new:
        return {}
    rows = {
        i.customer_id: order_plan.enrolment(config, i.customer_id, new_id(), i.actor.id, now)
        for i in new
        if i.customer_id
    }
    t = table_of(LoyaltyAccount)
    dialect_insert = pg_insert if _is_postgres(session) else sqlite_insert
    created = session.execute(
        dialect_insert(t).on_conflict_do_nothing().returning(t.c.id, t.c.customer_id, sort_by_parameter_order=True),
        [account for account, _ in rows.values()],
    ).all()
    made = {r.customer_id: r.id for r in created}
    changes = [change for cid, (_, change) in rows.items() if cid in made]
    if changes:
        session.execute(insert(table_of(TierChange)), changes)
    return made


def _snapshot(row: Any) -> order_plan.AccountSnapshot:
    return order_plan.AccountSnapshot(
        id=row.id,
        customer_id=row.customer_id,
        tier_code=row.tier_code,
        tier_since=row.tier_since,
        downgrade_to=row.downgrade_to,
        grace_needed=row.grace_needed,
        points_balance=row.points_balance,
        pending_points=row.pending_points,
        lifetime_earned=row.lifetime_earned,
        growth_value=row.growth_value,
        lifetime_growth=row.lifetime_growth,
        checkin_streak=row.checkin_streak,
        last_order_at=row.last_order_at,
        downgrade_due_at=row.downgrade_due_at,
    )


def prepare(
    session: Session, config: ProgramConfig, items: Sequence[tuple[Principal, OrderIn]]
) -> list[Planned | None]:
    """A plan for each order the plan covers, None for each that takes the per-order path."""
    if not order_plan.terms_covered(config, rules_need_usage=usage.needs_usage(config.rules)):
        return [None] * len(items)
    now = clock.now()
    # The rates the batch's orders in other currencies need, in one query.
    rate_keys = [rate_key(config.currency, config.timezone, data) for _, data in items]
    rates = exchange_rates.rates_for(session, {k for k in rate_keys if k}, to_currency=config.currency)
    batch = [
        _item(config, actor, data, rates.get(key) if key else None)
        for (actor, data), key in zip(items, rate_keys, strict=True)
    ]
    customers = _customers(session, batch)
    members = Counter(i.customer_id for i in batch if i.customer_id is not None)
    keys = Counter((i.data.source, i.data.external_id) for i in batch)
    for item in batch:
        if (item.customer_id is not None and members[item.customer_id] > 1) or keys[
            (item.data.source, item.data.external_id)
        ] > 1:
            item.eligible = False
    accounts = _accounts(session, config, set(members))
    # Looked up under the members' locks, so a concurrent post of the same order for a member has
    # committed by now. A new member's concurrent post enrols them first: then the enrolment
    # below conflicts and the per-order path replays the order.
    _drop_recorded(session, batch)
    new = [i for i in batch if i.eligible and i.customer_id not in accounts]
    enrolled = _enrol(session, config, new, now)
    for item in new:
        if item.customer_id not in enrolled:
            item.eligible = False
    result: list[Planned | None] = []
    for item in batch:
        plan = None
        if item.eligible and item.customer_id is not None and item.shares is not None:
            row = accounts.get(item.customer_id)
            snapshot = (
                _snapshot(row)
                if row is not None
                else order_plan.new_account(config, enrolled[item.customer_id], item.customer_id, now)
            )
            keys_of = order_plan.OrderKeys(
                order_id=new_id(),
                request_hash=idempotency.request_hash(item.data.model_dump(mode="json")),
                actor_id=item.actor.id,
                now=now,
            )
            plan = order_plan.plan_order(
                config,
                snapshot,
                customers[item.customer_id],
                item.data,
                item.shares,
                keys_of,
                item.rate,
            )
        result.append(Planned(item.actor, plan) if plan is not None else None)
    return result


_ACCOUNT_FIELDS = (
    "points_balance",
    "lifetime_earned",
    "growth_value",
    "lifetime_growth",
    "last_order_at",
    "tier_code",
    "tier_since",
    "downgrade_due_at",
    "downgrade_to",
    "grace_needed",
    "updated_at",
)


def _account_update(t: Table) -> Any:
    return (
        update(t).where(t.c.id == bindparam("b_id")).values({name: bindparam(f"b_{name}") for name in _ACCOUNT_FIELDS})
    )


def apply(session: Session, planned: Sequence[Planned]) -> None:
    """Write the planned orders: one statement per table."""
    if not planned:
        return
    plans = [p.plan for p in planned]
    session.execute(insert(table_of(Order)), [p.order for p in plans])
    lines = [line | {"id": new_id()} for p in plans for line in p.lines]
    if lines:
        session.execute(insert(table_of(OrderLine)), lines)
    credits = [p.credit for p in plans if p.credit is not None]
    if credits:
        entries = table_of(PointEntry)
        # Keyed by order (one earn entry per planned order): asking RETURNING for the rows'
        # order instead makes SQLite insert them one statement each.
        made = session.execute(insert(entries).returning(entries.c.id, entries.c.order_id), [e for e, _ in credits])
        entry_of = {r.order_id: r.id for r in made}
        lots = [{**lot, "entry_id": entry_of[lot["order_id"]]} for _, lot in credits]
        session.execute(insert(table_of(PointLot)), lots)
    growth = [p.growth for p in plans if p.growth is not None]
    if growth:
        session.execute(insert(table_of(GrowthEntry)), growth)
    changed = [{f"b_{k}": v for k, v in p.account.items()} for p in plans if p.account_changed]
    if changed:
        session.execute(_account_update(table_of(LoyaltyAccount)), changed)
    upgrades = [p.upgrade for p in plans if p.upgrade is not None]
    if upgrades:
        session.execute(insert(table_of(TierChange)), [change for change, _ in upgrades])
        # Before the orders' events, as `record_order` emits them.
        outbox.emit_many(session, "loyalty.tier_changed", [event for _, event in upgrades])
    outbox.emit_many(session, "loyalty.order_recorded", [p.event for p in plans])
    audit.record_many(
        session,
        [audit.Draft(p.actor, "order.create", entity_type="order", entity_id=p.plan.order["id"]) for p in planned],
    )
