"""Order statuses: the four an order can be given when it is recorded, and the words shops, tills
and marketplace exports use for them, in English and Chinese. Pure: the order API reads a status
through `normalise_status`, and so does the importer.

Given at recording                 stored on the order
  completed                          completed (partially_refunded / refunded after refunds)
  cancelled                          cancelled: kept for the record, earns and counts nothing
  returned                           refunded: the order, then a full refund
  partially_returned                 partially_refunded: the order, then a refund of refunded_amount
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Literal, get_args

from guanxi.kit.errors import FieldError

OrderStatusName = Literal["completed", "cancelled", "returned", "partially_returned"]
COMPLETED: OrderStatusName = "completed"
CANCELLED: OrderStatusName = "cancelled"
RETURNED: OrderStatusName = "returned"
PARTIALLY_RETURNED: OrderStatusName = "partially_returned"
INPUT_STATUSES: tuple[str, ...] = get_args(OrderStatusName)
# Given at recording, these run the refund machinery after the order.
RETURNS = frozenset({RETURNED, PARTIALLY_RETURNED})
# What an order row's status can be.
STORED_STATUSES = ("completed", "partially_refunded", "refunded", "cancelled")

_WORDS: dict[str, tuple[str, ...]] = {
    COMPLETED: (
        "completed",
        "complete",
        "done",
        "paid",
        "delivered",
        "shipped",
        "已完成",
        "完成",
        "已支付",
        "已付款",
        "交易成功",
        "已签收",
    ),
    CANCELLED: ("cancelled", "canceled", "cancel", "void", "voided", "已取消", "取消", "交易关闭", "已关闭"),
    RETURNED: ("returned", "refunded", "return", "已退货", "退货", "已退款", "退款"),
    PARTIALLY_RETURNED: ("partially returned", "partially refunded", "部分退货", "部分退款"),
}
_STATUS_OF = {word: status for status, words in _WORDS.items() for word in words}
_SEPARATORS = re.compile(r"[\s_\-]+")
# Longer text is no status word: it is refused without being read further.
_MAX_LENGTH = 40


class UnknownOrderStatus(ValueError):
    """The text names none of the statuses. Its message lists the values that are understood."""

    def __init__(self, text: str) -> None:
        shown = text if len(text) <= _MAX_LENGTH else text[:_MAX_LENGTH] + "…"
        super().__init__(
            f"unknown order status {shown!r}: use one of {', '.join(INPUT_STATUSES)} "
            f"(also understood: {', '.join(w for words in _WORDS.values() for w in words[1:])})"
        )
        self.text = text


def _key(text: str) -> str:
    # NFKC folds full-width letters and spaces (ＣＡＮＣＥＬＬＥＤ, 　) into their plain forms.
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SEPARATORS.sub(" ", folded).strip()


def normalise_status(text: str) -> str:
    """The status `text` names (one of INPUT_STATUSES), read case-insensitively; underscores,
    hyphens and runs of spaces count as one space. Raises UnknownOrderStatus otherwise."""
    if len(text) > _MAX_LENGTH * 2:
        raise UnknownOrderStatus(text)
    status = _STATUS_OF.get(_key(text))
    if status is None:
        raise UnknownOrderStatus(text)
    return status


def returned_amount_errors(status: str, paid_amount: Decimal, refunded_amount: Decimal | None) -> list[FieldError]:
    """What is wrong with an order's status and returned amount together: a partial return names
    an amount above nothing and below what was paid; no other status takes one; a return needs
    something paid to give back."""
    if status == PARTIALLY_RETURNED:
        if refunded_amount is None:
            return [FieldError("refunded_amount", "is required with status partially_returned", "required")]
        if not Decimal(0) < refunded_amount < paid_amount:
            return [
                FieldError(
                    "refunded_amount",
                    f"must be above 0 and below the paid amount of {paid_amount} (a full return is status returned)",
                    "outside_paid_amount",
                    params={"paid": paid_amount},
                    key="problem.orders.partial_amount",
                )
            ]
        return []
    if refunded_amount is not None:
        return [
            FieldError(
                "refunded_amount",
                "is given only with status partially_returned",
                "not_with_status",
                key="problem.orders.refunded_only_partial",
            )
        ]
    if status == RETURNED and paid_amount <= 0:
        return [
            FieldError(
                "status",
                "a returned order must have paid something; record it as cancelled",
                "nothing_paid",
                key="problem.orders.nothing_paid",
            )
        ]
    return []
