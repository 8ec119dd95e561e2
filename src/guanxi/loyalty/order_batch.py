"""Many orders in one transaction: each order's outcome is exactly what `orders.record_order`
would give it if the orders were recorded one after another in the order given.

Each order runs in a savepoint of its own, so one order's failure rolls back that order only.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from guanxi.kit.errors import DomainError
from guanxi.kit.principal import Principal
from guanxi.loyalty import orders
from guanxi.loyalty.schemas import OrderAnswer, OrderIn

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
    return [record_one(session, actor, data) for actor, data in items]


def _register() -> None:
    try:
        from guanxi.kit import group_commit  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # the writer is not part of this build yet
        return
    group_commit.register_batch("order", record_orders)


_register()
