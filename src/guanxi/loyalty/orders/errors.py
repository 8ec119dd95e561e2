"""Refusals of an order's status changes, each a 409 with its own code."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from guanxi.kit.errors import Conflict, FieldError


class _OrderFacts(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def paid_amount(self) -> Decimal: ...
    @property
    def refunded_amount(self) -> Decimal: ...
    @property
    def currency(self) -> str: ...


def _amounts(order: _OrderFacts) -> dict[str, object]:
    """The figures a refusal's catalog message names, as the English sentence writes them."""
    return {
        "order_id": order.id,
        "refunded": order.refunded_amount,
        "paid": order.paid_amount,
        "currency": order.currency,
    }


class OrderCancelled(Conflict):
    """A cancelled order takes no refund and no return: nothing was paid that could come back."""

    code = "order_cancelled"
    title = "Order cancelled"

    @classmethod
    def of(cls, order: _OrderFacts) -> OrderCancelled:
        return cls(
            message=f"order {order.id} is cancelled: it cannot be refunded or returned",
            errors=[FieldError("order_id", "the order is cancelled", cls.code, key="error.order_cancelled")],
            extra={"order_id": order.id},
            key="problem.order.cancelled",
            params={"order_id": order.id},
        )


class OrderHasRefunds(Conflict):
    """Only an order without refunds can be cancelled; one with refunds is refunded the rest of
    the way (or returned) instead, so its refunds stay as they were recorded."""

    code = "order_has_refunds"
    title = "Order has refunds"

    @classmethod
    def of(cls, order: _OrderFacts) -> OrderHasRefunds:
        return cls(
            message=(
                f"order {order.id} has {order.refunded_amount} {order.currency} of {order.paid_amount} refunded: "
                "refund or return the rest instead of cancelling it"
            ),
            errors=[FieldError("order_id", "the order has refunds", cls.code, key="error.order_has_refunds")],
            extra={"order_id": order.id, "refunded_amount": str(order.refunded_amount)},
            key="problem.order.has_refunds",
            params=_amounts(order),
        )


class NothingToReturn(Conflict):
    code = "nothing_to_return"
    title = "Nothing left to return"

    @classmethod
    def of(cls, order: _OrderFacts) -> NothingToReturn:
        return cls(
            message=f"order {order.id} has nothing left to return ({order.refunded_amount} of {order.paid_amount} "
            f"{order.currency} refunded)",
            errors=[FieldError("order_id", "nothing left to return", cls.code, key="problem.order.nothing_left")],
            extra={"order_id": order.id},
            key="problem.order.nothing_to_return",
            params=_amounts(order),
        )
