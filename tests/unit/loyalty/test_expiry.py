from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.loyalty.rules.expiry import (
    ExpiryMode,
    ExpiryPolicy,
    ExpiryPolicyError,
    Period,
    add_months,
    end_of_day_utc,
    end_of_period,
    expires_at,
    expiry_date,
    local_date,
)

ROLLING_12 = ExpiryPolicy()
SHANGHAI = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("earned", "months", "expected"),
    [
        (date(2026, 1, 31), 12, date(2027, 1, 31)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 8, 31), 1, date(2026, 9, 30)),
        (date(2026, 12, 15), 3, date(2027, 3, 15)),
        (date(2026, 3, 5), 24, date(2028, 3, 5)),
    ],
)
def test_rolling_months(earned: date, months: int, expected: date) -> None:
    assert expiry_date(earned, ExpiryPolicy(ExpiryMode.ROLLING_MONTHS, months)) == expected


@pytest.mark.parametrize(
    ("earned", "months", "period", "expected"),
    [
        (date(2026, 3, 5), 12, Period.YEAR, date(2027, 12, 31)),  # 次年年底清零
        (date(2026, 3, 5), 0, Period.YEAR, date(2026, 12, 31)),  # 当年年底清零
        (date(2026, 12, 31), 12, Period.YEAR, date(2027, 12, 31)),
        (date(2026, 1, 1), 12, Period.YEAR, date(2027, 12, 31)),
        (date(2026, 3, 5), 0, Period.QUARTER, date(2026, 3, 31)),
        (date(2026, 3, 5), 1, Period.QUARTER, date(2026, 6, 30)),
        (date(2026, 11, 30), 3, Period.QUARTER, date(2027, 3, 31)),
        (date(2026, 1, 31), 1, Period.MONTH, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, Period.MONTH, date(2024, 2, 29)),
        (date(2026, 3, 5), 6, Period.MONTH, date(2026, 9, 30)),
    ],
)
def test_end_of_period(earned: date, months: int, period: Period, expected: date) -> None:
    assert expiry_date(earned, ExpiryPolicy(ExpiryMode.END_OF_PERIOD, months, period)) == expected


def test_never() -> None:
    assert expiry_date(date(2026, 3, 5), ExpiryPolicy(ExpiryMode.NEVER)) is None


def test_policy_accepts_stored_strings() -> None:
    policy = ExpiryPolicy("end_of_period", 12, "quarter")  # type: ignore[arg-type]
    assert policy.mode is ExpiryMode.END_OF_PERIOD and policy.period is Period.QUARTER


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"months": -1}, "months"),
        ({"months": 1201}, "months"),
        ({"months": 0}, "months"),  # rolling 0 months would expire on the day earned
        ({"months": True}, "months"),
        ({"mode": "weekly"}, "mode"),
        ({"period": "decade"}, "period"),
    ],
)
def test_bad_policies_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ExpiryPolicyError) as caught:
        ExpiryPolicy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert caught.value.errors[0].field == field
    assert caught.value.status == 422


def test_end_of_day_utc_in_shanghai() -> None:
    assert end_of_day_utc(date(2027, 1, 31), SHANGHAI) == datetime(2027, 1, 31, 16, 0, tzinfo=UTC)
    assert end_of_day_utc(date(2027, 1, 31), "UTC") == datetime(2027, 2, 1, tzinfo=UTC)
    assert end_of_day_utc(date(2027, 1, 31), SHANGHAI).tzinfo is UTC


def test_end_of_day_across_a_dst_change() -> None:
    # New York springs forward on 2026-03-08: that local day has 23 hours.
    start = end_of_day_utc(date(2026, 3, 7), "America/New_York")
    end = end_of_day_utc(date(2026, 3, 8), "America/New_York")
    assert end - start == timedelta(hours=23)


def test_local_date() -> None:
    assert local_date(datetime(2026, 12, 31, 16, 0, tzinfo=UTC), SHANGHAI) == date(2027, 1, 1)
    assert local_date(datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC), SHANGHAI) == date(2026, 12, 31)
    assert local_date(datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=8))), "UTC") == date(2026, 12, 31)
    with pytest.raises(ValueError, match="aware"):
        local_date(datetime(2026, 1, 1), SHANGHAI)
    with pytest.raises(ValueError, match="time zone"):
        local_date(datetime(2026, 1, 1, tzinfo=UTC), "Mars/Olympus")


def test_expires_at_uses_the_local_day_of_earning() -> None:
    # 23:30 on Jan 31 in Shanghai (15:30 UTC): earned on Jan 31.
    earned = datetime(2026, 1, 31, 15, 30, tzinfo=UTC)
    assert expires_at(earned, ROLLING_12, SHANGHAI) == datetime(2027, 1, 31, 16, 0, tzinfo=UTC)
    # 00:30 on Feb 1 in Shanghai is Jan 31 in UTC, but the program's day is Feb 1.
    earned = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)
    assert expires_at(earned, ROLLING_12, SHANGHAI) == datetime(2027, 2, 1, 16, 0, tzinfo=UTC)
    assert expires_at(earned, ExpiryPolicy(ExpiryMode.NEVER), SHANGHAI) is None


def test_add_months_goes_both_ways() -> None:
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 1, 15), -13) == date(2024, 12, 15)
    assert end_of_period(date(2026, 8, 9), Period.QUARTER) == date(2026, 9, 30)


policies = st.builds(
    ExpiryPolicy,
    st.sampled_from([ExpiryMode.ROLLING_MONTHS, ExpiryMode.END_OF_PERIOD]),
    st.integers(min_value=1, max_value=120),
    st.sampled_from(list(Period)),
)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2200, 12, 31)), policies)
def test_points_never_expire_before_they_are_earned(earned: date, policy: ExpiryPolicy) -> None:
    last_day = expiry_date(earned, policy)
    assert last_day is not None
    assert last_day >= add_months(earned, policy.months) > earned
    if policy.mode is ExpiryMode.END_OF_PERIOD:
        assert (last_day + timedelta(days=1)).day == 1  # always the last day of a month


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2200, 12, 31)))
def test_end_of_day_is_the_start_of_the_next_local_day(day: date) -> None:
    end = end_of_day_utc(day, SHANGHAI)
    assert local_date(end, SHANGHAI) == day + timedelta(days=1)
    assert local_date(end - timedelta(microseconds=1), SHANGHAI) == day
