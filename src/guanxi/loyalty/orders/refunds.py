"""The refund itself: the cash an order gives back (by amount or by lines), its points and growth
taken back in proportion (the last refund takes exactly what is left) under the program's refund
policy. Callers read the order fresh under its member's lock first (`orders.refund_order`, a
return, an order recorded as returned).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guanxi.kit import clock, outbox
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.principal import Principal
from guanxi.loyalty.ledger import service as ledger
from guanxi.loyalty.orders import statuses
from guanxi.loyalty.orders.errors import OrderCancelled
from guanxi.loyalty.orders.models import Order, OrderLine, Refund
from guanxi.loyalty.orders.plan import CENT
from guanxi.loyalty.orders.plan import invalid as _invalid
from guanxi.loyalty.program.config import ProgramConfig
from guanxi.loyalty.program.models import LoyaltyAccount
from guanxi.loyalty.program.schemas import RefundAnswer, RefundIn
from guanxi.loyalty.tiers import service as tiers
from guanxi.privacy import audit


def proportional(total: int, part: Decimal, whole: Decimal) -> int:
    if whole <= 0:
        return total
    return int((Decimal(total) * part / whole).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _refund_amount(order: Order, lines: list[OrderLine], data: RefundIn) -> tuple[Decimal, list[dict[str, Any]]]:
    """The cash this refund returns, from an amount or from lines (their paid share per unit)."""
    left = Decimal(order.paid_amount) - Decimal(order.refunded_amount)
    if data.amount is not None:
        if data.amount > left:
            raise _invalid(
                "amount",
                f"exceeds what is left to refund ({left} {order.currency})",
                "exceeds_order",
                key="problem.refund.exceeds_order",
                left=left,
                currency=order.currency,
            )
        return data.amount, []
    assert data.lines is not None
    picked: list[dict[str, Any]] = []
    amount = Decimal(0)
    errors: list[FieldError] = []
    for i, item in enumerate(data.lines):
        line = next(
            (
                ln
                for ln in lines
                if (item.line_no is not None and ln.line_no == item.line_no)
                or (item.line_no is None and ln.sku == item.sku and ln.quantity > ln.refunded_quantity)
            ),
            None,
        )
        where = f"lines[{i}]"
        if line is None:
            errors.append(
                FieldError(where, "names no line of this order", "unknown_line", key="problem.refund.unknown_line")
            )
            continue
        open_qty = line.quantity - line.refunded_quantity
        if item.quantity > open_qty:
            errors.append(
                FieldError(
                    f"{where}.quantity",
                    f"only {open_qty} left to refund on this line",
                    "exceeds_line",
                    {"count": open_qty},
                    key="problem.refund.exceeds_line",
                )
            )
            continue
        # The last units of a line return exactly what is left of its share, so cents never drift.
        if item.quantity == open_qty:
            value = Decimal(line.paid_share) - Decimal(line.refunded_amount)
        else:
            value = (Decimal(line.paid_share) * item.quantity / line.quantity).quantize(CENT, rounding=ROUND_HALF_UP)
        line.refunded_quantity += item.quantity
        line.refunded_amount = Decimal(line.refunded_amount) + value
        amount += value
        picked.append({"line_no": line.line_no, "sku": line.sku, "quantity": item.quantity, "amount": str(value)})
    if errors:
        raise ValidationFailed(message="; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    return amount, picked


def refund_locked(
    session: Session,
    actor: Principal,
    config: ProgramConfig,
    account: LoyaltyAccount,
    order: Order,
    data: RefundIn,
    key: str | None,
) -> RefundAnswer:
    """The refund itself, for an order read fresh under its member's lock (`account`)."""
    if order.status == statuses.CANCELLED:
        raise OrderCancelled.of(order)
    lines = list(session.scalars(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)))
    amount, picked = _refund_amount(order, lines, data)
    refunded_total = Decimal(order.refunded_amount) + amount
    order.refunded_amount = refunded_total
    full = refunded_total >= Decimal(order.paid_amount)
    order.status = "refunded" if full else "partially_refunded"
    points_target = (
        order.points_earned if full else proportional(order.points_earned, refunded_total, order.paid_amount)
    )
    growth_target = (
        order.growth_earned if full else proportional(order.growth_earned, refunded_total, order.paid_amount)
    )
    refund = Refund(
        order_id=order.id,
        idempotency_key=key,
        amount=amount,
        lines=picked,
        policy=config.refund_policy,
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(refund)
    session.flush()
    reversal = ledger.reverse(
        session,
        account,
        config,
        points=points_target - order.points_reversed,
        order_id=order.id,
        refund_id=refund.id,
        actor_id=actor.id,
    )
    order.points_reversed += reversal.requested
    refund.points_reversed = reversal.points
    refund.points_shortfall = reversal.uncollected + reversal.debt
    if config.refund_policy == "reduce_refund":
        refund.cash_deduction = min(ledger.points_value(config, reversal.uncollected), amount)
    growth_back = tiers.add_growth(
        session, account, value=-(growth_target - order.growth_reversed), kind="refund", order_id=order.id
    )
    order.growth_reversed = growth_target
    refund.growth_reversed = -growth_back
    if config.tier_basis == "qualifying_spend":
        account.qualifying_spend = tiers.qualifying_spend(session, config, account, clock.now())
    answer = RefundAnswer(
        id=refund.id,
        order_id=order.id,
        amount=amount,
        refund_cash=amount - Decimal(refund.cash_deduction),
        cash_deduction=Decimal(refund.cash_deduction),
        currency=order.currency,
        policy=config.refund_policy,
        points_reversed=reversal.points,
        points_from_order=reversal.from_order,
        points_from_other_lots=reversal.from_other_lots,
        debt_created=reversal.debt,
        points_uncollected=reversal.uncollected,
        growth_reversed=refund.growth_reversed,
        points_balance=account.points_balance,
        pending_points=account.pending_points,
        order_status=order.status,
        order_refunded_amount=refunded_total,
    )
    outbox.emit(
        session,
        "loyalty.order_refunded",
        {"order_id": order.id, "refund_id": refund.id, "account_id": account.id, "amount": str(amount)},
    )
    audit.record(
        session, actor, "order.refund", entity_type="order", entity_id=order.id, detail={"refund_id": refund.id}
    )
    return answer
