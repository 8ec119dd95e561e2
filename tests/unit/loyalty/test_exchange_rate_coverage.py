"""Which rate covers a day, what makes a currency's periods incoherent, and conversion to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from guanxi.loyalty.currency import coverage
from guanxi.loyalty.currency.coverage import RatePeriod, RateUsed


def _p(start: str, end: str | None = None, rate: str = "7.1", currency: str = "USD") -> RatePeriod:
    return RatePeriod(
        currency=currency,
        valid_from=date.fromisoformat(start),
        valid_to=date.fromisoformat(end) if end else None,
        rate=Decimal(rate),
    )


CARRIED = [_p("2026-01-01", rate="7.10"), _p("2026-02-01", rate="7.20"), _p("2026-03-01", rate="7.30")]


@pytest.mark.parametrize(
    ("day", "rate"),
    [
        ("2025-12-31", None),  # before the first row
        ("2026-01-01", "7.10"),
        ("2026-01-31", "7.10"),  # carried forward to the day before the next row
        ("2026-02-01", "7.20"),
        ("2026-02-28", "7.20"),
        ("2026-03-01", "7.30"),
        ("2031-06-30", "7.30"),  # the newest row is open-ended
    ],
)
def test_a_row_without_an_end_lasts_until_the_next(day: str, rate: str | None) -> None:
    found = coverage.covering(CARRIED, date.fromisoformat(day))
    assert (found.rate if found else None) == (Decimal(rate) if rate else None)


@pytest.mark.parametrize(
    ("day", "rate"),
    [
        ("2026-01-01", "7.10"),
        ("2026-01-31", "7.10"),  # the last day of an explicit range is covered
        ("2026-02-01", "7.20"),
        ("2026-02-28", "7.20"),
        ("2026-03-01", None),  # past the last explicit end: nothing covers it
    ],
)
def test_a_row_with_an_end_covers_exactly_its_range(day: str, rate: str | None) -> None:
    periods = [_p("2026-01-01", "2026-01-31", "7.10"), _p("2026-02-01", "2026-02-28", "7.20")]
    found = coverage.covering(periods, date.fromisoformat(day))
    assert (found.rate if found else None) == (Decimal(rate) if rate else None)


def test_consecutive_explicit_ranges_and_open_rows_fit() -> None:
    periods = [
        _p("2026-01-01", "2026-01-31"),
        _p("2026-02-01"),  # open: ends where the next starts
        _p("2026-05-01", "2026-05-31"),
        _p("2026-06-01"),
    ]
    assert coverage.range_problems(periods) == []


def test_an_overlap_and_a_gap_are_found_with_their_dates() -> None:
    periods = [
        _p("2026-01-01", "2026-02-10"),
        _p("2026-02-01", "2026-02-28"),  # starts inside the range before it
        _p("2026-03-15", "2026-03-31"),  # leaves 1-14 March uncovered
        _p("2026-04-01"),
    ]
    problems = coverage.range_problems(periods)
    assert [(p.kind, p.first.valid_from, p.second.valid_from) for p in problems] == [
        ("overlap", date(2026, 1, 1), date(2026, 2, 1)),
        ("gap", date(2026, 2, 1), date(2026, 3, 15)),
    ]
    assert problems[0].gap is None
    assert problems[1].gap == (date(2026, 3, 1), date(2026, 3, 14))
    assert problems[1].currency == "USD"


def test_an_explicit_end_the_day_the_next_starts_overlaps_it() -> None:
    problems = coverage.range_problems([_p("2026-01-01", "2026-02-01"), _p("2026-02-01")])
    assert [p.kind for p in problems] == ["overlap"]


@pytest.mark.parametrize(
    ("amount", "rate", "converted"),
    [
        ("100.00", "7.1234", "712.34"),
        ("0.01", "7.1234", "0.07"),
        ("1.00", "0.005", "0.01"),  # half up, not to even
        ("3.00", "0.0050", "0.02"),  # 0.015 -> 0.02
        ("99999999.99", "1000000", "99999999990000.00"),
        ("0.00", "7.1", "0.00"),
    ],
)
def test_convert_rounds_half_up_to_the_cent(amount: str, rate: str, converted: str) -> None:
    used = RateUsed("USD", "CNY", Decimal(rate), date(2026, 1, 1), None)
    result = coverage.convert(Decimal(amount), used)
    assert result == Decimal(converted)
    assert result.as_tuple().exponent == -2


def test_the_rate_used_carries_eight_places_and_its_period() -> None:
    used = coverage.used(_p("2026-01-01", "2026-01-31", "7.1"), "CNY")
    assert used == RateUsed("USD", "CNY", Decimal("7.10000000"), date(2026, 1, 1), date(2026, 1, 31))
    assert str(used.rate) == "7.10000000"


def test_iso_codes_come_from_babel() -> None:
    assert coverage.is_currency("USD") and coverage.is_currency("JPY") and coverage.is_currency("HKD")
    assert not coverage.is_currency("ABC")
    assert not coverage.is_currency("usd")  # callers upper-case first
