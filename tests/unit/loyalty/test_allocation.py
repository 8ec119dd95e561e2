from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.loyalty.rules.allocation import allocate, round_points


def test_largest_remainder_with_ties_to_the_earlier_part() -> None:
    assert allocate(10, [Decimal(1)] * 3) == [4, 3, 3]
    assert allocate(100, [Decimal("33.50")] * 3) == [34, 33, 33]
    assert allocate(7, [Decimal(1), Decimal(2), Decimal(4)]) == [1, 2, 4]
    assert allocate(5, [Decimal("0.7"), Decimal("0.2"), Decimal("0.1")]) == [4, 1, 0]


def test_cents_follow_the_totals_decimal_places() -> None:
    assert allocate(Decimal("100.00"), [Decimal(1), Decimal(2)]) == [Decimal("33.33"), Decimal("66.67")]
    assert allocate(Decimal("0.05"), [1, 1, 1]) == [Decimal("0.02"), Decimal("0.02"), Decimal("0.01")]
    assert allocate(Decimal("1E+2"), [1, 3]) == [Decimal(25), Decimal(75)]
    assert [str(p) for p in allocate(Decimal("10.00"), [1, 1])] == ["5.00", "5.00"]


def test_edge_cases() -> None:
    assert allocate(-7, [1, 1]) == [-4, -3]  # a negative total splits like its opposite
    assert allocate(5, [0, 0]) == [3, 2]  # nothing to weigh by: share alike
    assert allocate(5, [Decimal(0), Decimal(3)]) == [0, 5]
    assert allocate(0, []) == []
    with pytest.raises(ValueError, match="no weights"):
        allocate(1, [])
    with pytest.raises(ValueError, match="negative"):
        allocate(10, [Decimal(1), Decimal(-1)])
    with pytest.raises(TypeError):
        allocate(10, [1.5])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        allocate(10.0, [1])  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="finite"):
        allocate(Decimal("NaN"), [1])


def test_round_points() -> None:
    assert [round_points(Decimal(v), "floor") for v in ("2.9", "-2.1")] == [2, -3]
    assert [round_points(Decimal(v), "ceil") for v in ("2.1", "-2.9")] == [3, -2]
    assert [round_points(Decimal(v), "half_up") for v in ("2.5", "2.49", "-2.5")] == [3, 2, -3]


weights = st.lists(
    st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False), min_size=1, max_size=30
)


@given(st.integers(min_value=0, max_value=10**9), weights)
def test_allocate_sums_to_the_total_and_never_goes_negative(total: int, ws: list[Decimal]) -> None:
    parts = allocate(total, ws)
    assert sum(parts) == total
    assert all(p >= 0 for p in parts)
    whole = sum(ws, Decimal(0))
    if whole:  # each part is its exact share rounded down or up
        for part, w in zip(parts, ws, strict=True):
            share = Fraction(total) * Fraction(w) / Fraction(whole)
            assert share - 1 < part < share + 1


@given(st.decimals(min_value=0, max_value=10**8, places=2, allow_nan=False, allow_infinity=False), weights)
def test_allocating_cents_keeps_every_cent(total: Decimal, ws: list[Decimal]) -> None:
    parts = allocate(total, ws)
    assert sum(parts, Decimal(0)) == total
    assert all(p >= 0 and p == p.quantize(Decimal("0.01")) for p in parts)


@given(st.integers(min_value=-(10**6), max_value=10**6), weights)
def test_negative_totals_mirror_positive_ones(total: int, ws: list[Decimal]) -> None:
    assert allocate(-total, ws) == [-p for p in allocate(total, ws)]
