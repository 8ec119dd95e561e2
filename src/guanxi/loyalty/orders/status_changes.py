"""An order's status after the fact: cancelling an order (its points and growth taken back as a
full refund would take them, and the order counted nowhere from then on) and returning what is
left of it (a refund of the rest).

Cancelling is for an order without refunds; an order with refunds is refunded or returned the
rest of the way, so the refunds already given stay as recorded. A cancelled order takes no
refund. Cancelling is idempotent per order, whoever asks: a second cancel answers what the first
one answered (an order recorded as cancelled took nothing back, and answers the balance it finds).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from guanxi.auth.service import require
from guanxi.kit import clock, idempotency, outbox
from guanxi.kit.principal import Principal
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.orders import refunds
from guanxi.loyalty.orders import service as orders
from guanxi.loyalty.orders.errors import NothingToReturn, OrderCancelled, OrderHasRefunds
from guanxi.loyalty.orders.models import Order
from guanxi.loyalty.orders.statuses import CANCELLED
from guanxi.loyalty.program import config as program
from guanxi.loyalty.program.models import LoyaltyAccount
from guanxi.loyalty.program.schemas import CancelAnswer, RefundAnswer, RefundIn
from guanxi.loyalty.tiers import service as tiers
from guanxi.privacy import audit

# A cancellation belongs to the order, not to whoever asked for it: its answer is kept under the
# order's id, so any caller's second cancel gets the first answer.
CANCEL_OWNER = "order"
CANCEL = "order.cancel"
_CANCEL_HASH = idempotency.request_hash({"cancel": True})
# A return shares the refunds' keys (one key, one refund), with a request of its own.
_RETURN_HASH = idempotency.request_hash({"return": "what is left"})


def cancel_order(session: Session, actor: Principal, order_id: str) -> tuple[CancelAnswer, bool]:
    """Cancel an order: reverse the points and growth it earned (under the refund policy, as a
    full refund does), mark it cancelled. Returns (answer, changed)."""
    require(actor, "orders", "refund")
    order = orders.get_order(session, actor, order_id)
    if order.status == CANCELLED:
        return _cancelled_before(session, order), False
    config = program.ensure(session)
    account = ledger.lock_accounts(session, [order.account_id])[order.account_id]
    session.refresh(order)
    if order.status == CANCELLED:  # cancelled meanwhile, under the lock we waited for
        return _cancelled_before(session, order), False
    if Decimal(order.refunded_amount) > 0:
        raise OrderHasRefunds.of(order)
    reversal = ledger.reverse(
        session,
        account,
        config,
        points=order.points_earned - order.points_reversed,
        order_id=order.id,
        refund_id=None,
        actor_id=actor.id,
        reason="cancel",
    )
    order.points_reversed += reversal.requested
    growth_back = tiers.add_growth(
        session, account, value=-(order.growth_earned - order.growth_reversed), kind="cancel", order_id=order.id
    )
    order.growth_reversed = order.growth_earned
    order.status = CANCELLED
    order.cancelled_at = clock.now()
    session.flush()
    if config.tier_basis == "qualifying_spend":
        account.qualifying_spend = tiers.qualifying_spend(session, config, account, clock.now())
    account.last_order_at = session.scalar(
        select(func.max(Order.occurred_at)).where(Order.account_id == account.id, Order.status != CANCELLED)
    )
    answer = CancelAnswer(
        order_id=order.id,
        status=order.status,
        cancelled_at=order.cancelled_at,
        points_reversed=reversal.points,
        points_from_order=reversal.from_order,
        points_from_other_lots=reversal.from_other_lots,
        debt_created=reversal.debt,
        points_uncollected=reversal.uncollected,
        growth_reversed=-growth_back,
        points_balance=account.points_balance,
        pending_points=account.pending_points,
    )
    idempotency.remember(session, CANCEL_OWNER, CANCEL, order.id, _CANCEL_HASH, answer.model_dump(mode="json"))
    outbox.emit(
        session,
        "loyalty.order_cancelled",
        {
            "order_id": order.id,
            "account_id": account.id,
            "customer_id": order.customer_id,
            "points_reversed": reversal.points,
        },
    )
    audit.record(
        session,
        actor,
        CANCEL,
        entity_type="order",
        entity_id=order.id,
        detail={"points_reversed": reversal.points, "growth_reversed": -growth_back},
    )
    return answer, True


def _cancelled_before(session: Session, order: Order) -> CancelAnswer:
    stored = idempotency.replay(session, CANCEL_OWNER, CANCEL, order.id, _CANCEL_HASH)
    if stored is not None:
        return CancelAnswer.model_validate({**stored.response, "replayed": True})
    # Recorded as cancelled: nothing was earned, so nothing was taken back.
    account = session.get(LoyaltyAccount, order.account_id)
    assert account is not None
    return CancelAnswer(
        order_id=order.id,
        status=order.status,
        cancelled_at=order.cancelled_at,
        points_reversed=0,
        points_from_order=0,
        points_from_other_lots=0,
        debt_created=0,
        points_uncollected=0,
        growth_reversed=0,
        points_balance=account.points_balance,
        pending_points=account.pending_points,
        replayed=True,
    )


def return_order(
    session: Session, actor: Principal, order_id: str, idempotency_key: str | None
) -> tuple[RefundAnswer, bool]:
    """Refund all that is left of an order (a refund by amount of the rest). Returns (answer,
    created); a retry with the same key answers the first return."""
    require(actor, "orders", "refund")
    key = idempotency.check_key(idempotency_key)
    assert key is not None
    order = orders.get_order(session, actor, order_id)
    stored = idempotency.replay(session, actor.id, "order.refund", f"{order.id}:{key}", _RETURN_HASH)
    if stored is not None:
        return RefundAnswer.model_validate({**stored.response, "replayed": True}), False
    config = program.ensure(session)
    account = ledger.lock_accounts(session, [order.account_id])[order.account_id]
    session.refresh(order)
    if order.status == CANCELLED:
        raise OrderCancelled.of(order)
    left = Decimal(order.paid_amount) - Decimal(order.refunded_amount)
    if left <= 0:
        raise NothingToReturn.of(order)
    answer = refunds.refund_locked(session, actor, config, account, order, RefundIn(amount=left), key)
    idempotency.remember(
        session, actor.id, "order.refund", f"{order.id}:{key}", _RETURN_HASH, answer.model_dump(mode="json"), 201
    )
    return answer, True
