"""Chinese public holidays and make-up workdays (调休).

The dates come from the `chinesecalendar` package (imported as `chinese_calendar`), which keeps the
State Council's yearly holiday notices: every day off of each break (including the weekend days
inside it) and every weekend day moved to a workday. Version 1.11 knows 2004 through 2026; a new
release follows each November's notice, so upgrading the package is how a new year arrives.

For a year the data does not know (before 2004, or after its last year until the package is
upgraded) the calendar falls back to what can be known without the notice: Saturdays and Sundays
are rest days, and the holidays fixed by the solar calendar are holidays: 元旦 (Jan 1), 劳动节
(May 1–2), 国庆节 (Oct 1–3) and 清明节 (the Qingming solar term, 1900–2100). The lunar holidays
(春节, 端午节, 中秋节) and all make-up workdays are missing from such a year. A brand that needs a
year before the package has it enters the notice as `HolidayCalendar` overrides, which win over
both the data and the fallback.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

# Our names for the package's holidays: the full common names (清明节 rather than 清明), Chinese first.
_NAMES: Final[dict[str, tuple[str, str]]] = {
    "New Year's Day": ("元旦", "New Year's Day"),
    "Spring Festival": ("春节", "Spring Festival"),
    "Tomb-sweeping Day": ("清明节", "Qingming Festival"),
    "Labour Day": ("劳动节", "Labour Day"),
    "Dragon Boat Festival": ("端午节", "Dragon Boat Festival"),
    "National Day": ("国庆节", "National Day"),
    "Mid-autumn Festival": ("中秋节", "Mid-Autumn Festival"),
}

# Fallback for years without an official schedule: holidays whose date never moves.
_FIXED: Final[dict[tuple[int, int], str]] = {
    (1, 1): "New Year's Day",
    (5, 1): "Labour Day",
    (5, 2): "Labour Day",
    (10, 1): "National Day",
    (10, 2): "National Day",
    (10, 3): "National Day",
}
_SOLAR_TERM_YEARS: Final = range(1900, 2101)

MAX_NAME_LENGTH: Final = 50


@dataclass(frozen=True)
class _Data:
    holidays: Mapping[date, tuple[str, str]]
    workdays: frozenset[date]
    years: range
    solar_terms: Any  # chinese_calendar.get_solar_terms


def _load() -> _Data:
    # Imported by name: the package ships no type information, so its values are checked here instead.
    lib: Any = importlib.import_module("chinese_calendar")
    names = {h.value: _NAMES.get(h.value, (h.chinese, h.value)) for h in lib.Holiday}
    holidays = {d: names[name] for d, name in lib.holidays.items()}
    years = range(min(d.year for d in holidays), max(d.year for d in holidays) + 1)
    return _Data(MappingProxyType(holidays), frozenset(lib.workdays), years, lib.get_solar_terms)


_DATA: Final = _load()


def official_years() -> range:
    """The years for which the official schedule (holidays and make-up workdays) is known."""
    return _DATA.years


def _qingming(year: int) -> date | None:
    if year not in _SOLAR_TERM_YEARS:
        return None
    terms = _DATA.solar_terms(date(year, 4, 1), date(year, 4, 30))
    return next((d for d, name in terms if name == "清明"), None)


def _fallback_holiday(d: date) -> tuple[str, str] | None:
    fixed = _FIXED.get((d.month, d.day))
    if fixed is not None:
        return _NAMES[fixed]
    if d.month == 4 and d == _qingming(d.year):
        return _NAMES["Tomb-sweeping Day"]
    return None


def _plain_date(value: object, what: str) -> date:
    # datetime is a date subclass; a timestamp here means the caller skipped the local-date step.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{what} must be a date, not {type(value).__name__}")
    return value


class HolidayCalendar:
    """Holidays and workdays for business-day arithmetic, with a brand's own per-year overrides.

    `extra_holidays` adds days off (a notice not yet in the package, a company holiday) with their
    names; `extra_workdays` makes days workdays (a make-up Saturday, or a holiday the brand works);
    `removed_holidays` takes days off the holiday list without making them workdays, so a removed
    weekday becomes a workday again and a removed weekend day stays a weekend.
    """

    def __init__(
        self,
        extra_holidays: Mapping[date, str] = MappingProxyType({}),
        extra_workdays: Iterable[date] = (),
        removed_holidays: Iterable[date] = (),
    ) -> None:
        holidays: dict[date, str] = {}
        for day, name in extra_holidays.items():
            day = _plain_date(day, "a holiday")
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
                raise ValueError(f"holiday {day}: the name must be 1 to {MAX_NAME_LENGTH} characters")
            holidays[day] = name.strip()
        workdays = frozenset(_plain_date(d, "a workday") for d in extra_workdays)
        removed = frozenset(_plain_date(d, "a removed holiday") for d in removed_holidays)
        # A day in two lists has no single meaning: refuse it rather than pick one silently.
        if clash := sorted(workdays & holidays.keys()):
            raise ValueError(f"{clash[0]} is both an extra holiday and an extra workday")
        if clash := sorted(removed & holidays.keys()):
            raise ValueError(f"{clash[0]} is both an extra holiday and a removed holiday")
        self._extra_holidays: Mapping[date, str] = MappingProxyType(holidays)
        self._extra_workdays = workdays
        self._removed = removed

    def __repr__(self) -> str:
        return (
            f"HolidayCalendar({len(self._extra_holidays)} extra holidays, "
            f"{len(self._extra_workdays)} extra workdays, {len(self._removed)} removed)"
        )

    def covers(self, year: int) -> bool:
        """Whether the official schedule for `year` is known (else the weekend-and-fixed-date fallback)."""
        return year in _DATA.years

    def _names(self, d: date) -> tuple[str, str] | None:
        d = _plain_date(d, "the day")
        if d in self._extra_holidays:
            name = self._extra_holidays[d]
            return name, name
        if d in self._removed or d in self._extra_workdays:
            return None
        if d.year in _DATA.years:
            return _DATA.holidays.get(d)
        return _fallback_holiday(d)

    def is_holiday(self, d: date) -> bool:
        """A public holiday (any day off of an official break), not an ordinary weekend."""
        return self._names(d) is not None

    def holiday_name(self, d: date, lang: str = "zh-CN") -> str | None:
        """The holiday's name (Chinese, or English for an `en` language tag), None on other days.
        A brand's own holidays keep the name they were given in every language."""
        names = self._names(d)
        if names is None:
            return None
        return names[1] if lang.lower().startswith("en") else names[0]

    def is_workday(self, d: date) -> bool:
        """Monday to Friday unless a holiday; Saturday and Sunday only as official make-up workdays."""
        d = _plain_date(d, "the day")
        if d in self._extra_workdays:
            return True
        if self.is_holiday(d):
            return False
        if d in _DATA.workdays:
            return True
        return d.isoweekday() <= 5

    def add_workdays(self, start: date, days: int) -> date:
        """The day `days` workdays after `start` (before it when negative); `start` itself does not count."""
        step = timedelta(days=1 if days >= 0 else -1)
        current, left = _plain_date(start, "the start"), abs(days)
        while left:
            current += step
            if self.is_workday(current):
                left -= 1
        return current

    def holidays_between(self, start: date, end: date) -> Iterator[tuple[date, str]]:
        """Each holiday from `start` to `end` inclusive with its Chinese name, in date order."""
        current, end = _plain_date(start, "the start"), _plain_date(end, "the end")
        while current <= end:
            name = self.holiday_name(current)
            if name is not None:
                yield current, name
            current += timedelta(days=1)


default_calendar: Final = HolidayCalendar()


def is_holiday(d: date) -> bool:
    return default_calendar.is_holiday(d)


def is_workday(d: date) -> bool:
    return default_calendar.is_workday(d)


def holiday_name(d: date, lang: str = "zh-CN") -> str | None:
    return default_calendar.holiday_name(d, lang)
