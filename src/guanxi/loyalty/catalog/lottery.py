"""Lottery draws: a weighted choice among prizes that never spends more than the budget left.

A prize whose cost would exceed what is left of the budget (or that cannot be given right now, e.g.
its coupon template is sold out) is not drawable, and its weight goes to "nothing": the published
odds of every other prize never go up because a big prize ran out. When no real prize is drawable
any more, the lottery is exhausted and no draw is sold.

Weights are integers, so the draw is exact (`randrange` over their sum), and the random source is
passed in: `secrets.SystemRandom()` in production, a seeded `random.Random` in tests.
"""

from __future__ import annotations

import random
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

NOTHING = "nothing"
KINDS = (NOTHING, "points", "coupon", "goods")


@dataclass(frozen=True)
class Prize:
    code: str
    weight: int
    kind: str = NOTHING
    cost: Decimal = Decimal(0)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


# Where undrawable weight goes when the lottery defines no "nothing" prize of its own.
NO_PRIZE = Prize(code=NOTHING, weight=0, kind=NOTHING)


class Exhausted(Exception):
    """No real prize can be drawn within the budget left."""


def is_drawable(prize: Prize, budget_left: Decimal | None, unavailable: Set[str] = frozenset()) -> bool:
    if prize.kind == NOTHING:
        return True
    if prize.code in unavailable:
        return False
    return budget_left is None or prize.cost <= budget_left


def table(
    prizes: Sequence[Prize], budget_left: Decimal | None, unavailable: Set[str] = frozenset()
) -> list[tuple[Prize, int]]:
    """The prizes with the weights they are drawn with now (undrawable weight moved to nothing)."""
    moved = 0
    rows: list[tuple[Prize, int]] = []
    for prize in prizes:
        if prize.weight <= 0:
            continue
        if is_drawable(prize, budget_left, unavailable):
            rows.append((prize, prize.weight))
        else:
            moved += prize.weight
    if moved:
        for i, (prize, weight) in enumerate(rows):
            if prize.kind == NOTHING:
                rows[i] = (prize, weight + moved)
                break
        else:
            rows.append((NO_PRIZE, moved))
    return rows


def can_draw(prizes: Sequence[Prize], budget_left: Decimal | None, unavailable: Set[str] = frozenset()) -> bool:
    return any(prize.kind != NOTHING for prize, _ in table(prizes, budget_left, unavailable))


def draw(
    prizes: Sequence[Prize],
    budget_left: Decimal | None,
    rng: random.Random,
    unavailable: Set[str] = frozenset(),
) -> Prize:
    """One prize, by weight, among those drawable within `budget_left` (None: no budget)."""
    rows = table(prizes, budget_left, unavailable)
    if not any(prize.kind != NOTHING for prize, _ in rows):
        raise Exhausted("no prize is left within the budget")
    pick = rng.randrange(sum(weight for _, weight in rows))
    for prize, weight in rows:
        if pick < weight:
            return prize
        pick -= weight
    raise AssertionError("unreachable: pick is below the total weight")


def odds(prizes: Sequence[Prize]) -> dict[str, Decimal]:
    """Each prize's published chance in percent (two decimals), from the configured weights."""
    total = sum(p.weight for p in prizes if p.weight > 0)
    if total == 0:
        return {p.code: Decimal(0) for p in prizes}
    return {p.code: (Decimal(100 * max(p.weight, 0)) / total).quantize(Decimal("0.01")) for p in prizes}
