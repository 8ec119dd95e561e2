"""The rows of the history replay (`members.history`): the imported orders and the members'
accounts it starts from, read a chunk at a time, and what a batch of replayed members writes, one
statement per table.

Entries go in in the order they happened per member, so each one's balance after is the running
sum `guanxi loyalty verify` checks; a lot names its earn entry and a refund's movement names the
lot, so lots follow the entries and movements the lots. Accounts are projected once, at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from guanxi.customers.models import Customer
from guanxi.kit.models import table_of
from guanxi.kit.principal import Principal
from guanxi.loyalty.members.history import CHUNK, HistoryOrder, MemberReplay, MemberStart
from guanxi.loyalty.orders import apply as order_apply
from guanxi.loyalty.orders.bulk_import import IMPORT_NOTE
from guanxi.loyalty.orders.models import Order, OrderLine, Refund
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.models import GrowthEntry, LotMovement, LoyaltyAccount, PointEntry, PointLot, TierChange
from guanxi.loyalty.program.schemas import OrderIn, OrderLineIn
from guanxi.privacy import audit

_ORDER_FIELDS = ("points_earned", "growth_earned", "points_reversed", "growth_reversed", "tier_code", "answer")
_ORDER_COLUMNS = (
    "id",
    "source",
    "external_id",
    "customer_id",
    "paid_amount",
    "refunded_amount",
    "currency",
    "occurred_at",
    "store",
    "channel",
    "status",
    "points_earned",
    "growth_earned",
    "answer",
)


def read_orders(session: Session, order_ids: Sequence[str]) -> list[HistoryOrder]:
    """The orders (with their lines) among `order_ids` that are still history only, as the
    importer wrote them: no points, no growth, its note. One query for the orders, one for
    their lines and one for their refunds per 5,000."""
    orders = table_of(Order)
    lines = table_of(OrderLine)
    found: list[HistoryOrder] = []
    for start in range(0, len(order_ids), CHUNK):
        ids = list(order_ids[start : start + CHUNK])
        rows = session.execute(select(*(orders.c[c] for c in _ORDER_COLUMNS)).where(orders.c.id.in_(ids))).all()
        by_order: dict[str, list[Any]] = {}
        for line in session.execute(
            select(lines.c.order_id, lines.c.sku, lines.c.category, lines.c.quantity, lines.c.unit_price)
            .add_columns(lines.c.paid_share)
            .where(lines.c.order_id.in_(ids))
            .order_by(lines.c.order_id, lines.c.line_no)
        ):
            by_order.setdefault(line.order_id, []).append(line)
        refunds = {
            r.order_id: r.id
            for r in session.execute(
                select(Refund.order_id, Refund.id).where(Refund.order_id.in_(ids)).order_by(Refund.created_at)
            )
        }
        for row in rows:
            if row.points_earned or row.growth_earned or (row.answer or {}).get("notes") != [IMPORT_NOTE]:
                continue
            own = by_order.get(row.id, [])
            data = OrderIn.model_construct(
                external_id=row.external_id,
                source=row.source,
                customer_id=row.customer_id,
                identity=None,
                paid_amount=Decimal(row.paid_amount),
                currency=row.currency,
                occurred_at=row.occurred_at,
                store=row.store,
                channel=row.channel,
                lines=[
                    OrderLineIn.model_construct(
                        sku=ln.sku, category=ln.category, quantity=ln.quantity, unit_price=Decimal(ln.unit_price)
                    )
                    for ln in own
                ],
            )
            found.append(
                HistoryOrder(
                    order_id=row.id,
                    customer_id=row.customer_id,
                    data=data,
                    shares=tuple(Decimal(ln.paid_share) for ln in own),
                    status=row.status,
                    refunded_amount=Decimal(row.refunded_amount or 0),
                    answer=dict(row.answer or {}),
                    refund_id=refunds.get(row.id),
                )
            )
    return found


def read_members(
    session: Session, config: ProgramConfig, customer_ids: Iterable[str], *, lock: bool
) -> dict[str, MemberStart]:
    """customer id -> start, for the members among `customer_ids` (locked in id order on
    PostgreSQL when `lock`, as every writer of accounts takes them)."""
    accounts = table_of(LoyaltyAccount)
    ids = sorted(set(customer_ids))
    found: dict[str, MemberStart] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        stmt = (
            select(accounts)
            .where(accounts.c.program_id == config.id, accounts.c.customer_id.in_(chunk))
            .order_by(accounts.c.id)
        )
        if lock and session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        rows = session.execute(stmt).all()
        birthdays = dict(
            session.execute(select(Customer.id, Customer.birthday).where(Customer.id.in_(chunk))).tuples().all()
        )
        for row in rows:
            found[row.customer_id] = MemberStart(order_apply._snapshot(row), birthdays.get(row.customer_id))
    return found


def write(
    session: Session, actor: Principal, members: Sequence[MemberReplay], *, choice: str, job_id: str | None
) -> None:
    """Write what the replays planned (held-back members write nothing) and audit the batch."""
    done = [m for m in members if m.held is None and m.orders]
    if not done:
        return
    _ledger(session, done)
    growth = [row for m in done for row in m.growth]
    if growth:
        session.execute(insert(table_of(GrowthEntry)), growth)
    changes = [row for m in done for row in m.tier_changes]
    if changes:
        session.execute(insert(table_of(TierChange)), changes)
    orders = table_of(Order)
    session.execute(
        update(orders)
        .where(orders.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in _ORDER_FIELDS}),
        [_order_params(row) for m in done for row in m.orders],
    )
    refunds = [row for m in done for row in m.refunds]
    if refunds:
        table = table_of(Refund)
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(points_reversed=bindparam("b_points"), growth_reversed=bindparam("b_growth")),
            refunds,
        )
    # The account's projection as the order fast path writes it, once per member.
    accounts = table_of(LoyaltyAccount)
    session.execute(order_apply._account_update(accounts), [m.account for m in done if m.account is not None])
    waiting = [{"b_id": m.account_id, "b_pending": m.pending} for m in done if m.pending != m.pending_start]
    if waiting:
        session.execute(
            update(accounts).where(accounts.c.id == bindparam("b_id")).values(pending_points=bindparam("b_pending")),
            waiting,
        )
    audit.record(
        session,
        actor,
        "loyalty.history_import",
        entity_type="import_job" if job_id else "loyalty_program",
        entity_id=job_id,
        detail={
            "choice": choice,
            "members": len(done),
            "orders": sum(len(m.orders) for m in done),
            "points": sum(m.points for m in done),
            "upgrades": sum(m.upgrades for m in done),
        },
    )


def _order_params(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "b_id": row["id"],
        "b_points_reversed": row.get("points_reversed", 0),
        "b_growth_reversed": row.get("growth_reversed", 0),
        **{f"b_{k}": row[k] for k in ("points_earned", "growth_earned", "tier_code", "answer")},
    }


def insert_numbered(
    session: Session, table: Table, rows: list[dict[str, Any]], keys: tuple[str, ...]
) -> dict[tuple[Any, ...], int]:
    """Insert rows into a table numbered by the database (a ledger table) and return each row's
    id by its `keys`, ids rising in the order of `rows` (the order entries happened in).

    PostgreSQL: the ids come from the table's sequence first and the rows go in as a plain
    executemany; a many-row INSERT ... RETURNING is a statement psycopg parses in Python, which
    costs several times the insert. SQLite: RETURNING, keyed (asking for the rows' order makes it
    insert one statement per row)."""
    if not rows:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        ids = sorted(
            session.scalars(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                {"table": table.name, "n": len(rows)},
            )
        )
        session.execute(insert(table), [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)])
        return {tuple(row[k] for k in keys): row_id for row, row_id in zip(rows, ids, strict=True)}
    made = session.execute(insert(table).returning(table.c.id, *(table.c[k] for k in keys)), rows)
    return {tuple(r[1:]): r[0] for r in made}


def _ledger(session: Session, members: Sequence[MemberReplay]) -> None:
    entries = [entry for m in members for entry in m.entries]
    if not entries:
        return
    table = table_of(PointEntry)
    entry_of = insert_numbered(session, table, entries, ("order_id", "kind"))
    lots = [{**lot, "entry_id": entry_of[(lot["order_id"], "earn")]} for m in members for lot in m.lots]
    lot_of = {
        key[0]: lot_id for key, lot_id in insert_numbered(session, table_of(PointLot), lots, ("order_id",)).items()
    }
    reversals = [(order_id, points) for m in members for order_id, points in m.reversals.items()]
    if not reversals:
        return
    session.execute(
        insert(table_of(LotMovement)),
        [
            {
                "entry_id": entry_of[(order_id, "reverse")],
                "lot_id": lot_of[order_id],
                "kind": "reverse",
                "points": points,
            }
            for order_id, points in reversals
        ],
    )
    # The reverse entries name the lot they took from, as `ledger.reverse` writes them.
    details = {e["order_id"]: e["detail"] for e in entries if e["kind"] == "reverse"}
    expiries = {lot["order_id"]: lot["expires_at"] for lot in lots}
    session.execute(
        update(table).where(table.c.id == bindparam("b_id")).values(detail=bindparam("b_detail")),
        [
            {
                "b_id": entry_of[(order_id, "reverse")],
                "b_detail": {
                    **details[order_id],
                    "lots": [
                        {
                            "lot_id": lot_of[order_id],
                            "points": points,
                            "expires_at": expiries[order_id].isoformat() if expiries[order_id] else None,
                        }
                    ],
                },
            }
            for order_id, points in reversals
        ],
    )
