"""What a coupon takes off an order, and which coupons may be used together: plain functions over
plain data, so the till's answer can be tested without a database.

- The eligible amount is the whole order, or (when the template names categories) the lines in those
  categories, never more than what was paid. The minimum spend applies to the eligible amount.
- fixed_amount takes its value off, at most the eligible amount; percentage takes value% of the
  eligible amount (rounded half up to the cent), at most `max_discount`; free_shipping waives the
  shipping fee (up to `value` when that is not 0); gift takes nothing off and names the gift's SKU.
- Stacking: a coupon that is not stackable is used alone; stackable coupons combine unless two of
  them share a stack group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
KINDS = ("fixed_amount", "percentage", "free_shipping", "gift")


@dataclass(frozen=True)
class Terms:
    kind: str
    value: Decimal
    max_discount: Decimal | None = None
    min_spend: Decimal = Decimal(0)
    categories: tuple[str, ...] = ()
    gift_sku: str | None = None
    stackable: bool = False
    stack_group: str | None = None


@dataclass(frozen=True)
class Line:
    category: str | None
    quantity: int
    unit_price: Decimal
    sku: str | None = None

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Quote:
    discount: Decimal
    eligible_amount: Decimal
    free_shipping: bool
    gift_sku: str | None
    explanation: str


class Refusal(Exception):
    """The coupon does not apply to this order; `code` and `field` say why, `message` in English,
    `key` with `params` in the catalog's words."""

    def __init__(self, code: str, field: str, message: str, key: str, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Reason:
    """Why coupons cannot go together: the English sentence and its catalog message."""

    message: str
    key: str
    params: dict[str, object]


def _money(value: Decimal) -> str:
    return f"{value.quantize(CENT)}"


def eligible_amount(terms: Terms, order_amount: Decimal, lines: Sequence[Line]) -> Decimal:
    if not terms.categories:
        return order_amount
    if not lines:
        raise Refusal(
            "category_mismatch",
            "lines",
            f"the coupon applies only to {', '.join(terms.categories)}; send the order's lines",
            "problem.coupon.lines_needed",
            categories=", ".join(terms.categories),
        )
    wanted = set(terms.categories)
    matching = sum((line.amount for line in lines if line.category in wanted), Decimal(0))
    if matching <= 0:
        raise Refusal(
            "category_mismatch",
            "lines",
            f"no line of the order is in {', '.join(terms.categories)}, the categories this coupon applies to",
            "problem.coupon.no_matching_line",
            categories=", ".join(terms.categories),
        )
    return min(matching, order_amount)


def quote(
    terms: Terms, order_amount: Decimal, lines: Sequence[Line] = (), shipping_amount: Decimal = Decimal(0)
) -> Quote:
    """The discount this coupon gives on this order, or a Refusal."""
    eligible = eligible_amount(terms, order_amount, lines)
    if eligible < terms.min_spend:
        where = "in the eligible categories " if terms.categories else ""
        raise Refusal(
            "below_min_spend",
            "order_amount",
            f"the coupon needs a spend of {_money(terms.min_spend)} {where}and the order has {_money(eligible)}",
            "problem.coupon.min_spend_categories" if terms.categories else "problem.coupon.min_spend",
            min_spend=_money(terms.min_spend),
            amount=_money(eligible),
        )
    if terms.kind == "fixed_amount":
        discount = min(terms.value, eligible)
        why = f"{_money(terms.value)} off"
    elif terms.kind == "percentage":
        discount = (eligible * terms.value / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        why = f"{terms.value.normalize():f}% off {_money(eligible)}"
        if terms.max_discount is not None and discount > terms.max_discount:
            discount = terms.max_discount
            why += f", capped at {_money(terms.max_discount)}"
    elif terms.kind == "free_shipping":
        discount = shipping_amount if terms.value == 0 else min(terms.value, shipping_amount)
        why = "free shipping" if terms.value == 0 else f"shipping waived up to {_money(terms.value)}"
    elif terms.kind == "gift":
        discount = Decimal(0)
        why = f"gift {terms.gift_sku}"
    else:
        raise ValueError(f"unknown coupon kind {terms.kind!r}")
    if terms.kind != "gift" and terms.min_spend > 0:
        why += f" (minimum spend {_money(terms.min_spend)} met)"
    return Quote(
        discount=discount.quantize(CENT),
        eligible_amount=eligible.quantize(CENT),
        free_shipping=terms.kind == "free_shipping",
        gift_sku=terms.gift_sku if terms.kind == "gift" else None,
        explanation=why,
    )


def stacking_conflict(this: tuple[str, Terms], others: Sequence[tuple[str, Terms]]) -> Reason | None:
    """Why `this` coupon cannot be used together with `others` (labels are display codes), or None."""
    label, terms = this
    others = [(other_label, other) for other_label, other in others if other_label != label]
    if not others:
        return None
    if not terms.stackable:
        listed = ", ".join(o for o, _ in others)
        return Reason(
            f"coupon {label} cannot be combined with other coupons ({listed})",
            "problem.coupon.not_stackable",
            {"code": label, "others": listed},
        )
    for other_label, other in others:
        if not other.stackable:
            return Reason(
                f"coupon {other_label} on the same order cannot be combined with other coupons",
                "problem.coupon.other_not_stackable",
                {"other": other_label},
            )
        if terms.stack_group is not None and other.stack_group == terms.stack_group:
            return Reason(
                f"coupons {label} and {other_label} are both in group {terms.stack_group!r}; use one of them",
                "problem.coupon.same_group",
                {"code": label, "other": other_label, "group": terms.stack_group},
            )
    return None
