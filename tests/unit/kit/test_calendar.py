from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guanxi.kit import calendar
from guanxi.kit.calendar import HolidayCalendar, default_calendar


def test_the_official_data_covers_2024_to_2026() -> None:
    years = calendar.official_years()
    assert {2024, 2025, 2026} <= set(years)
    assert all(default_calendar.covers(y) for y in (2024, 2025, 2026))


def test_national_day_2026_is_a_seven_day_break() -> None:
    days = [date(2026, 10, d) for d in range(1, 8)]
    assert all(calendar.is_holiday(d) for d in days)
    assert not any(calendar.is_workday(d) for d in days)
    assert calendar.holiday_name(date(2026, 10, 1)) == "国庆节"
    assert calendar.holiday_name(date(2026, 10, 1), "en") == "National Day"
    # The Sunday inside the break is a holiday, not merely a weekend.
    assert calendar.holiday_name(date(2026, 10, 4)) == "国庆节"
    assert calendar.is_workday(date(2026, 10, 8))
    assert not calendar.is_holiday(date(2026, 10, 8))


@pytest.mark.parametrize(
    "day",
    [date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10)],
)
def test_2026_make_up_workdays_are_weekend_workdays(day: date) -> None:
    assert day.isoweekday() in (6, 7)
    assert calendar.is_workday(day)
    assert not calendar.is_holiday(day)
    assert calendar.holiday_name(day) is None


def test_spring_festival_2026() -> None:
    break_days = [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]  # Feb 15 to Feb 23
    assert [calendar.holiday_name(d) for d in break_days] == ["春节"] * 9
    assert calendar.is_workday(date(2026, 2, 24))


def test_2024_and_2025_breaks_and_make_up_days() -> None:
    assert calendar.is_holiday(date(2024, 2, 10))  # 春节 2024
    assert calendar.is_workday(date(2024, 2, 4))  # Sunday, 调休
    assert calendar.is_workday(date(2024, 9, 29))  # Sunday before National Day
    assert calendar.holiday_name(date(2025, 1, 28)) == "春节"  # New Year's Eve, statutory since 2025
    assert calendar.holiday_name(date(2025, 10, 6)) == "中秋节"
    assert calendar.holiday_name(date(2025, 4, 4), "en") == "Qingming Festival"
    assert calendar.is_workday(date(2025, 9, 28))


def test_ordinary_days() -> None:
    assert calendar.is_workday(date(2026, 3, 4))  # Wednesday
    assert not calendar.is_workday(date(2026, 3, 7))  # Saturday
    assert not calendar.is_holiday(date(2026, 3, 7))  # a weekend is no public holiday
    assert calendar.holiday_name(date(2026, 3, 4)) is None


def test_unknown_year_falls_back_to_weekends_and_fixed_date_holidays() -> None:
    assert not default_calendar.covers(2031)
    assert calendar.holiday_name(date(2031, 1, 1)) == "元旦"
    assert calendar.holiday_name(date(2031, 5, 2)) == "劳动节"
    assert [calendar.is_holiday(date(2031, 10, d)) for d in range(1, 5)] == [True, True, True, False]
    assert calendar.holiday_name(date(2031, 4, 5)) == "清明节"  # the Qingming solar term
    assert not calendar.is_holiday(date(2031, 1, 23))  # 春节 needs the lunar calendar: not known
    assert calendar.is_workday(date(2031, 10, 6))  # Monday
    assert not calendar.is_workday(date(2031, 10, 4))  # Saturday, no make-up days without a notice
    assert calendar.holiday_name(date(1999, 10, 1)) == "国庆节"


def test_overrides_add_remove_and_move_days() -> None:
    cal = HolidayCalendar(
        extra_holidays={date(2031, 1, 23): "春节", date(2026, 3, 9): "店庆"},
        extra_workdays=[date(2031, 1, 18), date(2026, 10, 7)],
        removed_holidays=[date(2026, 10, 6), date(2026, 10, 4)],
    )
    assert cal.holiday_name(date(2031, 1, 23)) == "春节"
    assert cal.holiday_name(date(2026, 3, 9), "en") == "店庆"
    assert not cal.is_workday(date(2026, 3, 9))
    assert cal.is_workday(date(2031, 1, 18))  # a Saturday made a workday
    assert cal.is_workday(date(2026, 10, 7)) and not cal.is_holiday(date(2026, 10, 7))
    assert cal.is_workday(date(2026, 10, 6))  # a removed Tuesday is an ordinary weekday again
    assert not cal.is_holiday(date(2026, 10, 4)) and not cal.is_workday(date(2026, 10, 4))  # a removed Sunday
    assert default_calendar.is_holiday(date(2026, 10, 6))  # overrides are per instance


def test_overrides_that_contradict_each_other_are_refused() -> None:
    with pytest.raises(ValueError, match="extra holiday and an extra workday"):
        HolidayCalendar(extra_holidays={date(2026, 3, 9): "店庆"}, extra_workdays=[date(2026, 3, 9)])
    with pytest.raises(ValueError, match="removed holiday"):
        HolidayCalendar(extra_holidays={date(2026, 3, 9): "店庆"}, removed_holidays=[date(2026, 3, 9)])
    with pytest.raises(ValueError, match="name"):
        HolidayCalendar(extra_holidays={date(2026, 3, 9): " "})
    with pytest.raises(TypeError):
        HolidayCalendar(extra_workdays=[datetime(2026, 3, 9, 10)])
    with pytest.raises(TypeError):
        calendar.is_workday(datetime(2026, 3, 9, 10))


def test_add_workdays_skips_the_break_and_counts_make_up_days() -> None:
    assert default_calendar.add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert default_calendar.add_workdays(date(2026, 10, 8), 2) == date(2026, 10, 10)  # Saturday 调休
    assert default_calendar.add_workdays(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert default_calendar.add_workdays(date(2026, 10, 3), 0) == date(2026, 10, 3)


def test_holidays_between() -> None:
    assert list(default_calendar.holidays_between(date(2026, 1, 1), date(2026, 1, 5))) == [
        (date(2026, 1, 1), "元旦"),
        (date(2026, 1, 2), "元旦"),
        (date(2026, 1, 3), "元旦"),
    ]


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31)))
def test_a_holiday_is_never_a_workday(day: date) -> None:
    assert not (calendar.is_holiday(day) and calendar.is_workday(day))
    assert (calendar.holiday_name(day) is not None) == calendar.is_holiday(day)
    if not calendar.is_holiday(day) and day.isoweekday() <= 5:
        assert calendar.is_workday(day)
