from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.loyalty.rules.tiering import (
    LadderError,
    ReviewMode,
    ReviewPolicy,
    TierDef,
    due_review_date,
    first_review_date,
    grace_ends_on,
    next_review_date,
    progress,
    qualified_tier,
    review,
    upgrade,
    validate_ladder,
)

BASIC = TierDef("basic", "普卡", 0, Decimal(0))
SILVER = TierDef("silver", "银卡", 1, Decimal(2000), Decimal("1.2"))
GOLD = TierDef("gold", "金卡", 2, Decimal(5000), Decimal("1.5"), is_core=True)
DIAMOND = TierDef("diamond", "钻石卡", 3, Decimal(20000), Decimal(2), is_core=True)
LADDER = [GOLD, BASIC, DIAMOND, SILVER]  # any order: rank decides
ANNUAL = ReviewPolicy()
ONE_LEVEL = ReviewPolicy(drop="one_level")


def test_qualified_tier() -> None:
    assert qualified_tier(LADDER, Decimal(0)) == BASIC
    assert qualified_tier(LADDER, Decimal("1999.99")) == BASIC
    assert qualified_tier(LADDER, 2000) == SILVER
    assert qualified_tier(LADDER, Decimal(5200)) == GOLD
    assert qualified_tier(LADDER, Decimal(10**9)) == DIAMOND
    assert qualified_tier(LADDER, Decimal(-50)) == BASIC  # refunds can push growth below 0


def test_upgrade_is_immediate_and_may_skip_levels() -> None:
    decision = upgrade(LADDER, "basic", Decimal(5200))
    assert decision is not None
    assert (decision.kind, decision.tier, decision.value) == ("upgrade", GOLD, Decimal(5200))
    assert decision.reason == "growth value 5200 reached 金卡 threshold 5000"
    assert decision.params == {"basis": "growth_value", "value": "5200", "tier": "gold", "threshold": "5000"}
    assert decision.detail == {"code": "reached", "params": decision.params}


def test_upgrade_only_when_the_rank_rises() -> None:
    assert upgrade(LADDER, "gold", Decimal(5200)) is None
    assert upgrade(LADDER, "gold", Decimal(100)) is None  # never a downgrade
    assert upgrade(LADDER, "diamond", Decimal(10**6)) is None


def test_a_new_member_gets_the_qualified_tier() -> None:
    decision = upgrade(LADDER, None, Decimal(0))
    assert decision is not None and decision.tier == BASIC


def test_upgrade_with_a_spend_label() -> None:
    decision = upgrade(LADDER, "basic", Decimal("2000.50"), label="qualifying spend")
    assert decision is not None
    assert decision.reason == "qualifying spend 2000.5 reached 银卡 threshold 2000"


def test_review_keeps_a_tier_whose_threshold_is_held() -> None:
    decision = review(LADDER, "gold", Decimal(5000), ANNUAL)
    assert (decision.kind, decision.tier) == ("keep", GOLD)
    assert decision.reason == "growth value 5000 maintained 金卡 threshold 5000"


def test_review_drops_to_the_qualified_tier() -> None:
    decision = review(LADDER, "diamond", Decimal(1000), ANNUAL)
    assert (decision.kind, decision.tier) == ("downgrade", BASIC)
    assert decision.reason == "growth value 1000 is below 钻石卡 threshold 20000: down to 普卡"
    assert decision.params["to_tier"] == "basic"
    assert decision.code == "below"


def test_review_drops_one_level_but_never_below_qualified() -> None:
    assert review(LADDER, "diamond", Decimal(1000), ONE_LEVEL).tier == GOLD
    assert review(LADDER, "diamond", Decimal(6000), ONE_LEVEL).tier == GOLD
    assert review(LADDER, "gold", Decimal(0), ONE_LEVEL).tier == SILVER
    assert review(LADDER, "silver", Decimal(0), ONE_LEVEL).tier == BASIC


def test_review_catches_up_a_missed_upgrade() -> None:
    decision = review(LADDER, "silver", Decimal(25000), ANNUAL)
    assert (decision.kind, decision.tier) == ("upgrade", DIAMOND)
    assert review(LADDER, None, Decimal(0), ANNUAL).kind == "upgrade"


def test_unknown_current_tier() -> None:
    with pytest.raises(LadderError) as caught:
        review(LADDER, "platinum", Decimal(0), ANNUAL)
    assert caught.value.field == "current_code"


@pytest.mark.parametrize(
    ("tiers", "field", "message"),
    [
        ([], "tiers", "at least one tier"),
        ([BASIC, replace(SILVER, code="basic")], "tiers[1].code", "duplicates"),
        ([BASIC, replace(SILVER, rank=0)], "tiers[1].rank", "duplicates"),
        ([replace(BASIC, threshold=Decimal(10)), SILVER], "tiers[0].threshold", "must be 0"),
        ([BASIC, SILVER, replace(GOLD, threshold=Decimal(2000))], "tiers[2].threshold", "must be above 2000"),
        ([BASIC, replace(SILVER, rank=5), GOLD], "tiers[1].threshold", "must be above 5000"),
        ([BASIC, replace(SILVER, threshold=Decimal(-1))], "tiers[1].threshold", "negative"),
        ([BASIC, replace(SILVER, points_multiplier=Decimal(-1))], "tiers[1].points_multiplier", "negative"),
        ([BASIC, replace(SILVER, points_multiplier=Decimal(0))], "tiers[1].points_multiplier", "greater than 0"),
        ([BASIC, replace(SILVER, threshold=2000.0)], "tiers[1].threshold", "Decimal"),  # type: ignore[arg-type]
        ([replace(BASIC, code=" ")], "tiers[0].code", "empty"),
        ([replace(BASIC, name="")], "tiers[0].name", "empty"),
    ],
)
def test_bad_ladders_name_the_field(tiers: list[TierDef], field: str, message: str) -> None:
    with pytest.raises(LadderError, match=message) as caught:
        validate_ladder(tiers)
    assert caught.value.field == field
    assert caught.value.errors[0].field == field
    assert caught.value.status == 422


def test_every_decision_validates_the_ladder_first() -> None:
    broken = [BASIC, replace(SILVER, rank=0)]
    for call in (
        lambda: qualified_tier(broken, 0),
        lambda: upgrade(broken, None, 0),
        lambda: review(broken, "basic", 0, ANNUAL),
        lambda: progress(broken, "basic", 0),
    ):
        with pytest.raises(LadderError):
            call()


def test_float_values_are_refused() -> None:
    with pytest.raises(TypeError):
        qualified_tier(LADDER, 12.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"month": 13}, "review.month"),
        ({"month": 4, "day": 31}, "review.day"),
        ({"grace_days": -1}, "review.grace_days"),
        ({"drop": "all_the_way"}, "review.drop"),
        ({"mode": "weekly"}, "review.mode"),
    ],
)
def test_bad_review_policies(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(LadderError) as caught:
        ReviewPolicy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_next_review_annual() -> None:
    assert next_review_date(ANNUAL, enrolled_on=date(2025, 6, 1), after=date(2026, 3, 5)) == date(2027, 1, 1)
    assert next_review_date(ANNUAL, enrolled_on=date(2025, 6, 1), after=date(2026, 1, 1)) == date(2027, 1, 1)
    assert next_review_date(ANNUAL, enrolled_on=date(2025, 6, 1), after=date(2025, 12, 31)) == date(2026, 1, 1)
    # Never before the member joined.
    assert next_review_date(ANNUAL, enrolled_on=date(2026, 5, 1), after=date(2020, 1, 1)) == date(2027, 1, 1)


def test_next_review_fixed_date() -> None:
    policy = ReviewPolicy(ReviewMode.FIXED_DATE, month=7, day=1)
    assert next_review_date(policy, enrolled_on=date(2025, 1, 1), after=date(2026, 6, 30)) == date(2026, 7, 1)
    assert next_review_date(policy, enrolled_on=date(2025, 1, 1), after=date(2026, 7, 1)) == date(2027, 7, 1)
    leap = ReviewPolicy(ReviewMode.FIXED_DATE, month=2, day=29)
    assert next_review_date(leap, enrolled_on=date(2025, 1, 1), after=date(2026, 1, 1)) == date(2026, 2, 28)
    assert next_review_date(leap, enrolled_on=date(2025, 1, 1), after=date(2027, 3, 1)) == date(2028, 2, 29)


def test_next_review_anniversary() -> None:
    policy = ReviewPolicy(ReviewMode.ANNIVERSARY)
    enrolled = date(2025, 8, 20)
    assert next_review_date(policy, enrolled_on=enrolled, after=enrolled) == date(2026, 8, 20)
    assert next_review_date(policy, enrolled_on=enrolled, after=date(2026, 8, 19)) == date(2026, 8, 20)
    assert next_review_date(policy, enrolled_on=enrolled, after=date(2026, 8, 20)) == date(2027, 8, 20)


def test_next_review_anniversary_of_february_29() -> None:
    policy = ReviewPolicy(ReviewMode.ANNIVERSARY)
    enrolled = date(2024, 2, 29)
    assert next_review_date(policy, enrolled_on=enrolled, after=enrolled) == date(2025, 2, 28)
    assert next_review_date(policy, enrolled_on=enrolled, after=date(2025, 2, 28)) == date(2026, 2, 28)
    assert next_review_date(policy, enrolled_on=enrolled, after=date(2027, 2, 28)) == date(2028, 2, 29)


ANNIVERSARY = ReviewPolicy(ReviewMode.ANNIVERSARY)
NEW_YEARS_EVE = ReviewPolicy(ReviewMode.FIXED_DATE, month=12, day=31)
LEAP_DAY = ReviewPolicy(ReviewMode.FIXED_DATE, month=2, day=29)


@pytest.mark.parametrize(
    ("policy", "enrolled_on", "first"),
    [
        # 31 Dec: the annual review is the next day (a one-day first period), never the same day.
        (ANNUAL, date(2025, 12, 31), date(2026, 1, 1)),
        (ANNUAL, date(2026, 1, 1), date(2027, 1, 1)),
        (ANNIVERSARY, date(2025, 12, 31), date(2026, 12, 31)),
        (ANNIVERSARY, date(2026, 1, 1), date(2027, 1, 1)),
        (NEW_YEARS_EVE, date(2025, 12, 31), date(2026, 12, 31)),
        (NEW_YEARS_EVE, date(2025, 12, 30), date(2025, 12, 31)),
        # 29 Feb: Feb 28 outside leap years, Feb 29 again in the next leap year.
        (ANNIVERSARY, date(2024, 2, 29), date(2025, 2, 28)),
        (LEAP_DAY, date(2024, 2, 29), date(2025, 2, 28)),
        (LEAP_DAY, date(2024, 2, 28), date(2024, 2, 29)),
        (LEAP_DAY, date(2027, 3, 1), date(2028, 2, 29)),
        # Month ends keep their day when the month has it.
        (ANNIVERSARY, date(2025, 1, 31), date(2026, 1, 31)),
        (ANNIVERSARY, date(2025, 4, 30), date(2026, 4, 30)),
        (ReviewPolicy(ReviewMode.FIXED_DATE, month=4, day=30), date(2026, 4, 29), date(2026, 4, 30)),
        (ReviewPolicy(ReviewMode.FIXED_DATE, month=4, day=30), date(2026, 4, 30), date(2027, 4, 30)),
    ],
)
def test_first_review_is_the_first_policy_date_after_enrolment(
    policy: ReviewPolicy, enrolled_on: date, first: date
) -> None:
    assert first_review_date(policy, enrolled_on) == first
    # The review held on that date schedules the next one by the same rule, a year on.
    assert next_review_date(policy, enrolled_on=enrolled_on, after=first) > first
    assert due_review_date(policy, enrolled_on=enrolled_on, scheduled=first, today=first) == first
    assert due_review_date(policy, enrolled_on=enrolled_on, scheduled=first, today=first - timedelta(days=1)) is None


def test_the_anniversary_of_february_29_over_a_leap_cycle() -> None:
    enrolled = date(2024, 2, 29)
    held, on = [], first_review_date(ANNIVERSARY, enrolled)
    while on.year <= 2029:
        held.append(on)
        on = next_review_date(ANNIVERSARY, enrolled_on=enrolled, after=on)
    assert held == [date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 29), date(2029, 2, 28)]


def test_a_review_is_due_once_per_policy_date() -> None:
    enrolled = date(2025, 12, 31)
    scheduled = first_review_date(ANNUAL, enrolled)  # 1 Jan 2026
    held = []
    for day in (enrolled + timedelta(days=n) for n in range(800)):  # every day, as the daily job
        if due_review_date(ANNUAL, enrolled_on=enrolled, scheduled=scheduled, today=day) is not None:
            held.append(day)
            scheduled = next_review_date(ANNUAL, enrolled_on=enrolled, after=day)
    assert held == [date(2026, 1, 1), date(2027, 1, 1), date(2028, 1, 1)]


def test_a_date_stored_under_earlier_settings_is_not_a_review_day() -> None:
    # Enrolled under anniversary reviews (31 Dec 2026 stored), then the program moved to 1 January.
    enrolled, stored = date(2025, 12, 31), date(2026, 12, 31)
    assert due_review_date(ANNUAL, enrolled_on=enrolled, scheduled=stored, today=date(2026, 12, 31)) is None
    assert due_review_date(ANNUAL, enrolled_on=enrolled, scheduled=stored, today=date(2027, 1, 1)) == date(2027, 1, 1)
    # And the other way: 1 Jan stored, anniversary reviews now: the first 31 Dec on or after it.
    stored = date(2026, 1, 1)
    assert due_review_date(ANNIVERSARY, enrolled_on=enrolled, scheduled=stored, today=date(2026, 1, 1)) is None
    assert due_review_date(ANNIVERSARY, enrolled_on=enrolled, scheduled=stored, today=date(2026, 12, 31)) == date(
        2026, 12, 31
    )


def test_missed_review_dates_give_one_review_for_the_latest() -> None:
    enrolled = date(2025, 8, 20)
    # The daily job was down from 31 Dec 2025 to 3 Jan 2027: one review, for 1 Jan 2027.
    assert due_review_date(ANNUAL, enrolled_on=enrolled, scheduled=date(2026, 1, 1), today=date(2027, 1, 3)) == date(
        2027, 1, 1
    )
    # Down over only 1 Jan 2026: the review is held late, for that date.
    assert due_review_date(ANNUAL, enrolled_on=enrolled, scheduled=date(2026, 1, 1), today=date(2026, 1, 5)) == date(
        2026, 1, 1
    )


def test_grace_period() -> None:
    assert grace_ends_on(ANNUAL, date(2027, 1, 1)) == date(2027, 1, 31)
    assert grace_ends_on(ReviewPolicy(grace_days=0), date(2027, 1, 1)) == date(2027, 1, 1)


def test_progress_between_tiers() -> None:
    p = progress(LADDER, "silver", Decimal(3500))
    assert (p.current, p.next, p.value) == (SILVER, GOLD, Decimal(3500))
    assert p.needed == Decimal(1500)
    assert p.ratio == Decimal("0.5")


def test_progress_at_the_top_and_below_the_current_threshold() -> None:
    top = progress(LADDER, "diamond", Decimal(25000))
    assert (top.next, top.needed, top.ratio) == (None, Decimal(0), Decimal(1))
    kept = progress(LADDER, "gold", Decimal(100))  # kept gold until the review
    assert (kept.next, kept.needed, kept.ratio) == (DIAMOND, Decimal(19900), Decimal(0))
    thirds = progress(LADDER, "basic", Decimal(666))
    assert thirds.ratio == Decimal("0.3330")
    assert progress(LADDER, None, Decimal(2500)).current == SILVER


values = st.decimals(min_value=-1000, max_value=100000, places=2, allow_nan=False, allow_infinity=False)
codes = st.sampled_from([None, "basic", "silver", "gold", "diamond"])


@given(codes, values)
def test_upgrade_never_lowers_a_tier(current: str | None, value: Decimal) -> None:
    decision = upgrade(LADDER, current, value)
    ranks = {t.code: t.rank for t in LADDER}
    if decision is not None:
        assert current is None or decision.tier.rank > ranks[current]
        assert decision.tier == qualified_tier(LADDER, value)


@given(codes, values, st.sampled_from([ANNUAL, ONE_LEVEL]))
def test_review_never_goes_below_the_qualified_tier(current: str | None, value: Decimal, policy: ReviewPolicy) -> None:
    decision = review(LADDER, current, value, policy)
    assert decision.tier.rank >= qualified_tier(LADDER, value).rank
    if decision.kind == "downgrade":
        assert current is not None and decision.tier.rank < {t.code: t.rank for t in LADDER}[current]


@given(codes, values)
def test_progress_ratio_stays_between_0_and_1(current: str | None, value: Decimal) -> None:
    p = progress(LADDER, current, value)
    assert Decimal(0) <= p.ratio <= Decimal(1)
    assert p.needed >= 0
