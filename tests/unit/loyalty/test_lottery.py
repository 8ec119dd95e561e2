"""Lottery draws: by weight, within the budget, with undrawable weight going to nothing."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.loyalty.catalog import lottery
from guanxi.loyalty.catalog.lottery import NOTHING, Prize

PRIZES = [
    Prize("grand", 1, "goods", Decimal("500.00")),
    Prize("coupon", 9, "coupon", Decimal("10.00")),
    Prize("points", 40, "points", Decimal("1.00")),
    Prize("none", 50, NOTHING),
]


def test_the_table_keeps_weights_when_everything_is_drawable() -> None:
    assert [(p.code, w) for p, w in lottery.table(PRIZES, None)] == [
        ("grand", 1),
        ("coupon", 9),
        ("points", 40),
        ("none", 50),
    ]


def test_a_prize_over_the_budget_left_moves_its_weight_to_nothing() -> None:
    rows = lottery.table(PRIZES, Decimal("100.00"))
    assert [(p.code, w) for p, w in rows] == [("coupon", 9), ("points", 40), ("none", 51)]
    rows = lottery.table(PRIZES, Decimal("100.00"), unavailable={"coupon"})
    assert [(p.code, w) for p, w in rows] == [("points", 40), ("none", 60)]


def test_without_a_nothing_prize_the_moved_weight_is_a_plain_miss() -> None:
    prizes = [Prize("a", 3, "points", Decimal(5)), Prize("b", 1, "goods", Decimal(50))]
    rows = lottery.table(prizes, Decimal(10))
    assert [(p.code, p.kind, w) for p, w in rows] == [("a", "points", 3), (NOTHING, NOTHING, 1)]


def test_draws_follow_the_weights_exactly_over_every_pick() -> None:
    class Sweep(random.Random):
        """Returns every possible pick once, in order, to count outcomes exactly."""

        def __init__(self) -> None:
            super().__init__()
            self.next_pick = 0

        def randrange(self, stop: int, *args: object, **kwargs: object) -> int:  # type: ignore[override]
            pick = self.next_pick % stop
            self.next_pick += 1
            return pick

    rng = Sweep()
    counts = Counter(lottery.draw(PRIZES, None, rng).code for _ in range(100))
    assert counts == {"grand": 1, "coupon": 9, "points": 40, "none": 50}


def test_an_exhausted_lottery_refuses_to_draw() -> None:
    assert not lottery.can_draw(PRIZES, Decimal("0.50"))
    with pytest.raises(lottery.Exhausted):
        lottery.draw(PRIZES, Decimal("0.50"), random.Random(1))
    assert lottery.can_draw(PRIZES, Decimal("1.00"))


def test_odds_are_published_from_the_configured_weights() -> None:
    assert lottery.odds(PRIZES) == {
        "grand": Decimal("1.00"),
        "coupon": Decimal("9.00"),
        "points": Decimal("40.00"),
        "none": Decimal("50.00"),
    }
    assert lottery.odds([Prize("x", 0)]) == {"x": Decimal(0)}


prize_lists = st.lists(
    st.builds(
        Prize,
        code=st.text(alphabet="abcdef", min_size=1, max_size=4),
        weight=st.integers(min_value=0, max_value=50),
        kind=st.sampled_from(lottery.KINDS),
        cost=st.decimals(min_value=0, max_value=100, places=2),
    ),
    min_size=1,
    max_size=8,
)


@given(prize_lists, st.decimals(min_value=0, max_value=300, places=2), st.integers(min_value=0, max_value=2**32))
def test_draws_never_spend_more_than_the_budget(prizes: list[Prize], budget: Decimal, seed: int) -> None:
    rng = random.Random(seed)
    left = budget
    for _ in range(30):
        if not lottery.can_draw(prizes, left):
            with pytest.raises(lottery.Exhausted):
                lottery.draw(prizes, left, rng)
            break
        prize = lottery.draw(prizes, left, rng)
        if prize.kind != NOTHING:
            assert prize.cost <= left
            left -= prize.cost
    assert 0 <= left <= budget


@given(prize_lists, st.decimals(min_value=0, max_value=300, places=2))
def test_the_table_keeps_the_total_weight(prizes: list[Prize], budget: Decimal) -> None:
    total = sum(p.weight for p in prizes if p.weight > 0)
    assert sum(w for _, w in lottery.table(prizes, budget)) == total
