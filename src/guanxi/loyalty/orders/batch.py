"""Many orders in one transaction: each order's outcome is exactly what `orders.record_order`
would give it if the orders were recorded one after another in the order given.

The orders the plan covers (`order_apply.prepare`: existing or new members in the steady state)
are written together, one statement per table; every other order goes through
`orders.record_order` in a savepoint of its own, in its position: the planned orders before it
are written first, so one order's failure rolls back that order only and the history reads in
the order the orders came.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from guanxi.kit import group_commit
from guanxi.kit.errors import DomainError
from guanxi.kit.principal import Principal
from guanxi.loyalty.orders import apply as order_apply
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.schemas import OrderAnswer, OrderIn

Outcome = tuple[OrderAnswer, bool] | BaseException


def record_one(session: Session, actor: Principal, data: OrderIn) -> Outcome:
    """One order through the per-order path, inside a savepoint; a refusal is its outcome."""
    try:
        with session.begin_nested():
            return orders.record_order(session, actor, data)
    except DomainError as exc:
        return exc


def record_orders(session: Session, items: Sequence[tuple[Principal, OrderIn]]) -> list[Outcome]:
    """Record each (actor, order) in turn; one outcome per item, a result or the refusal it raised."""
    if not items:
        return []
    prepared = order_apply.prepare(session, program.ensure(session), items)
    outcomes: list[Outcome] = []
    waiting: list[order_apply.Planned] = []
    for (actor, data), planned in zip(items, prepared, strict=True):
        if planned is not None:
            waiting.append(planned)
            outcomes.append((planned.plan.answer, True))
            continue
        order_apply.apply(session, waiting)
        waiting = []
        outcomes.append(record_one(session, actor, data))
    order_apply.apply(session, waiting)
    return outcomes


group_commit.register_batch("order", record_orders)
