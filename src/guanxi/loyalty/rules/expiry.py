"""When earned points expire.

A lot of points is usable through its expiry date, a local date in the program's time zone: it expires
at the end of that day, which `end_of_day_utc` turns into the UTC instant the ledger stores.

- Rolling (`ROLLING_MONTHS`): usable through the same day `months` later, clamped to the end of a
  shorter month (earned 2024-02-29, 12 months: through 2025-02-28).
- End of period (`END_OF_PERIOD`): usable through the end of the month, quarter or year that contains
  the day `months` after earning; with YEAR and 12 months this is the common "次年年底清零" (cleared
  at the end of next year), with 0 months "当年年底清零".
- Never (`NEVER`): no expiry date.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from guanxi.kit.errors import FieldError, ValidationFailed

MAX_MONTHS: Final = 1200  # a hundred years: longer is a typo, and date arithmetic would overflow sooner


class ExpiryMode(StrEnum):
    ROLLING_MONTHS = "rolling_months"
    END_OF_PERIOD = "end_of_period"
    NEVER = "never"


class Period(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class ExpiryPolicyError(ValidationFailed):
    """A policy field out of range, named so a settings form can show it next to the field."""

    code = "invalid_expiry_policy"

    def __init__(self, field: str, message: str, key: str | None = None, **params: object) -> None:
        """`key` names the catalog message (`loyalty.expiry.<key>`) that says it with `params`."""
        error = FieldError(field, message, params=params, key=key and f"loyalty.expiry.{key}")
        super().__init__(message=f"{field}: {message}", errors=[error])
        self.field = field


@dataclass(frozen=True)
class ExpiryPolicy:
    mode: ExpiryMode = ExpiryMode.ROLLING_MONTHS
    months: int = 12
    period: Period = Period.YEAR

    def __post_init__(self) -> None:
        # Coerce stored strings ("rolling_months") so a policy read from a row compares like an enum.
        try:
            object.__setattr__(self, "mode", ExpiryMode(self.mode))
        except ValueError as exc:
            raise ExpiryPolicyError(
                "mode", f"unknown expiry mode {self.mode!r}", "unknown_mode", mode=repr(self.mode)
            ) from exc
        try:
            object.__setattr__(self, "period", Period(self.period))
        except ValueError as exc:
            raise ExpiryPolicyError(
                "period", f"unknown period {self.period!r}", "unknown_period", period=repr(self.period)
            ) from exc
        if isinstance(self.months, bool) or not isinstance(self.months, int):
            raise ExpiryPolicyError("months", "must be a whole number of months", "whole_months")
        if not 0 <= self.months <= MAX_MONTHS:
            raise ExpiryPolicyError("months", f"must be between 0 and {MAX_MONTHS}", "months_range", max=MAX_MONTHS)
        if self.mode is ExpiryMode.ROLLING_MONTHS and self.months == 0:
            raise ExpiryPolicyError("months", "rolling expiry needs at least 1 month", "rolling_minimum")


def add_months(d: date, months: int) -> date:
    """The same day `months` later (earlier when negative), clamped to the last day of a shorter month."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def end_of_period(d: date, period: Period) -> date:
    """The last day of the month, quarter or year that contains `d`."""
    if period is Period.YEAR:
        return date(d.year, 12, 31)
    last_month = d.month if period is Period.MONTH else (d.month - 1) // 3 * 3 + 3
    return date(d.year, last_month, calendar.monthrange(d.year, last_month)[1])


def expiry_date(earned_on: date, policy: ExpiryPolicy) -> date | None:
    """The last local day on which points earned on `earned_on` can still be spent; None: never."""
    if policy.mode is ExpiryMode.NEVER:
        return None
    shifted = add_months(earned_on, policy.months)
    if policy.mode is ExpiryMode.ROLLING_MONTHS:
        return shifted
    return end_of_period(shifted, policy.period)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def end_of_day_utc(d: date, tz: str) -> datetime:
    """The aware UTC instant at which local day `d` ends in `tz`: the start of the next local day."""
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=_zone(tz)).astimezone(UTC)


def local_date(at: datetime, tz: str) -> date:
    """The local calendar day in `tz` at the aware instant `at`."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("local_date needs an aware datetime")
    return at.astimezone(_zone(tz)).date()


def expires_at(earned_at: datetime, policy: ExpiryPolicy, tz: str) -> datetime | None:
    """The UTC instant at which points earned at `earned_at` expire; None: never."""
    last_day = expiry_date(local_date(earned_at, tz), policy)
    return None if last_day is None else end_of_day_utc(last_day, tz)
