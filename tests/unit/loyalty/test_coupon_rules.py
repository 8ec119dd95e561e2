"""What a coupon takes off an order, and which coupons combine: no database needed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.loyalty.catalog.coupon_rules import Line, Reason, Refusal, Terms, quote, stacking_conflict

D = Decimal


def _message(reason: Reason | None) -> str | None:
    return reason.message if reason else None


LINES = [Line("apparel", 2, D("100.00")), Line("food", 1, D("50.00")), Line(None, 1, D("9.90"))]


def test_categories_limit_the_eligible_amount_and_the_minimum_spend() -> None:
    terms = Terms("percentage", D(10), categories=("apparel",), min_spend=D(150))
    got = quote(terms, D("259.90"), LINES)
    assert (got.eligible_amount, got.discount) == (D("200.00"), D("20.00"))
    with pytest.raises(Refusal) as caught:
        quote(Terms("fixed_amount", D(5), categories=("food",), min_spend=D(60)), D("259.90"), LINES)
    assert (caught.value.code, caught.value.field) == ("below_min_spend", "order_amount")
    assert "in the eligible categories" in caught.value.message


def test_a_discounted_order_caps_the_eligible_lines() -> None:
    # Lines add up to 259.90 but 120.00 was paid: the coupon works on what was paid.
    got = quote(Terms("percentage", D(50), categories=("apparel",)), D("120.00"), LINES)
    assert (got.eligible_amount, got.discount) == (D("120.00"), D("60.00"))


@pytest.mark.parametrize(
    ("value", "amount", "discount"),
    [("33.33", "10.01", "3.34"), ("12.5", "0.04", "0.01"), ("12.5", "0.03", "0.00"), ("100", "88.88", "88.88")],
)
def test_percentages_round_half_up_to_the_cent(value: str, amount: str, discount: str) -> None:
    assert quote(Terms("percentage", D(value)), D(amount)).discount == D(discount)


def test_lines_are_needed_for_a_category_coupon() -> None:
    for lines in ([], [Line("food", 1, D(10))]):
        with pytest.raises(Refusal) as caught:
            quote(Terms("fixed_amount", D(5), categories=("apparel",)), D(10), lines)
        assert (caught.value.code, caught.value.field) == ("category_mismatch", "lines")


@given(
    kind=st.sampled_from(["fixed_amount", "percentage"]),
    value=st.decimals(min_value=D("0.01"), max_value=D(100), places=2),
    amount=st.decimals(min_value=0, max_value=D(100000), places=2),
    cap=st.none() | st.decimals(min_value=D("0.01"), max_value=D(1000), places=2),
)
def test_a_discount_is_never_negative_nor_more_than_the_order(
    kind: str, value: Decimal, amount: Decimal, cap: Decimal | None
) -> None:
    got = quote(Terms(kind, value, max_discount=cap if kind == "percentage" else None), amount)
    assert D(0) <= got.discount <= amount
    if cap is not None and kind == "percentage":
        assert got.discount <= cap
    assert got.discount == got.discount.quantize(D("0.01"))


def test_stacking() -> None:
    alone = Terms("fixed_amount", D(5))
    a = Terms("fixed_amount", D(5), stackable=True, stack_group="g")
    b = Terms("percentage", D(5), stackable=True, stack_group="g")
    c = Terms("free_shipping", D(0), stackable=True)
    assert stacking_conflict(("A", alone), []) is None
    assert stacking_conflict(("A", alone), [("A", alone)]) is None  # the same coupon presented twice
    assert _message(stacking_conflict(("A", alone), [("C", c)])) == "coupon A cannot be combined with other coupons (C)"
    assert _message(stacking_conflict(("C", c), [("A", alone)])) == (
        "coupon A on the same order cannot be combined with other coupons"
    )
    assert _message(stacking_conflict(("X", a), [("Y", b)])) == "coupons X and Y are both in group 'g'; use one of them"
    assert stacking_conflict(("X", a), [("C", c)]) is None
