"""Splitting a whole over parts without losing a unit, and rounding points.

`allocate` is the largest-remainder method: each part gets the whole units of its exact share, and
the units left over go to the parts with the largest fractions (the earlier part on a tie). The
parts always add up to the total, so an order's points or paid amount split over its lines never
gains or loses a point or a cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Final, Literal, overload

Rounding = Literal["floor", "half_up", "ceil"]

_MODES: Final[dict[str, str]] = {"floor": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "ceil": ROUND_CEILING}


def round_points(value: Decimal, rounding: Rounding) -> int:
    """Whole points from an exact figure: floor and ceil toward -inf/+inf, half_up away from zero."""
    return int(value.to_integral_value(rounding=_MODES[rounding]))


def _check_weight(value: object) -> Decimal | int:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"weights are Decimal or int, not {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError("weights must be finite")
    if value < 0:
        raise ValueError("weights must not be negative")
    return value


def _whole_weights(weights: Sequence[Decimal | int]) -> list[int]:
    """The same proportions as whole numbers (scaled by the finest decimal place), so the split
    runs in integer arithmetic: it is on every order's path."""
    checked = [_check_weight(w) for w in weights]
    exponent = min((int(w.as_tuple().exponent) for w in checked if isinstance(w, Decimal)), default=0)
    exponent = min(exponent, 0)
    return [int(Decimal(w).scaleb(-exponent)) for w in checked]


def _split(units: int, weights: Sequence[int]) -> list[int]:
    whole = sum(weights)
    if whole == 0:  # nothing to weigh by (free lines): share alike
        weights, whole = [1] * len(weights), len(weights)
    parts = [units * w // whole for w in weights]
    remainders = [units * w % whole for w in weights]
    # The units left over go to the largest remainders, the earlier part on a tie.
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[: units - sum(parts)]:
        parts[i] += 1
    return parts


@overload
def allocate(total: int, weights: Sequence[Decimal | int]) -> list[int]: ...
@overload
def allocate(total: Decimal, weights: Sequence[Decimal | int]) -> list[Decimal]: ...
def allocate(total: Decimal | int, weights: Sequence[Decimal | int]) -> list[int] | list[Decimal]:
    """Split `total` over `weights` in proportion, in whole units of the total's last decimal place
    (points for an int, cents for Decimal("100.00")). The parts add up to `total` exactly; for a
    total of 0 or more no part is negative, and a negative total splits like its opposite."""
    if isinstance(total, bool) or not isinstance(total, (Decimal, int)):
        raise TypeError(f"allocate a Decimal or an int, not {type(total).__name__}")
    whole_weights = _whole_weights(weights)
    if isinstance(total, int):
        if not whole_weights:
            if total:
                raise ValueError("cannot allocate a non-zero total over no weights")
            return []
        sign = -1 if total < 0 else 1
        return [sign * p for p in _split(abs(total), whole_weights)]
    if not total.is_finite():
        raise ValueError("the total must be finite")
    exponent = min(int(total.as_tuple().exponent), 0)
    units = int(total.scaleb(-exponent))
    return [Decimal(p).scaleb(exponent) for p in allocate(units, weights)]
