"""Which rate covers a day, and what makes a currency's rate periods incoherent. Pure: plain data
in, plain data out, tested without a database.

A period without `valid_to` lasts until the next period of the same currency starts (the newest
one is open-ended); a period with `valid_to` covers exactly [valid_from, valid_to]. Periods with
an explicit end must neither overlap the next period nor leave a gap before it.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from babel.numbers import list_currencies

CENT = Decimal("0.01")
RATE_PLACES = 8  # the column is Numeric(18, 8)
RATE_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)
# Keeps every converted order amount (at most 99,999,999.99) inside Numeric(18, 2).
MAX_RATE = Decimal(1_000_000)


@cache
def _iso_codes() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    """Whether `code` (upper case) is an ISO 4217 currency code Babel knows."""
    return code in _iso_codes()


@dataclass(frozen=True)
class RatePeriod:
    """One row of the rate table: 1 `currency` is worth `rate` of the program's currency."""

    currency: str
    valid_from: date
    valid_to: date | None
    rate: Decimal


@dataclass(frozen=True)
class RateUsed:
    """The rate a conversion used, and the period it came from."""

    currency: str
    to_currency: str
    rate: Decimal
    valid_from: date
    valid_to: date | None


def used(period: RatePeriod, to_currency: str) -> RateUsed:
    return RateUsed(
        currency=period.currency,
        to_currency=to_currency,
        rate=Decimal(period.rate).quantize(RATE_QUANTUM),
        valid_from=period.valid_from,
        valid_to=period.valid_to,
    )


def covering(periods: Sequence[RatePeriod], day: date) -> RatePeriod | None:
    """The period of one currency (sorted by `valid_from`) that covers `day`: the latest one
    starting on or before it, unless that one has ended before it."""
    at = bisect.bisect_right([p.valid_from for p in periods], day)
    if at == 0:
        return None
    period = periods[at - 1]
    if period.valid_to is not None and period.valid_to < day:
        return None
    return period


def convert(amount: Decimal, rate: RateUsed) -> Decimal:
    """`amount` of `rate.currency` in the program's currency, to the cent (half up)."""
    return (Decimal(amount) * rate.rate).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class RangeProblem:
    """Two consecutive periods of a currency that do not fit: `first` ends on or after the day
    `second` starts (overlap), or more than a day before it (gap)."""

    kind: str  # overlap | gap
    first: RatePeriod
    second: RatePeriod

    @property
    def currency(self) -> str:
        return self.first.currency

    @property
    def gap(self) -> tuple[date, date] | None:
        """The days no period covers (a gap only)."""
        if self.kind != "gap":
            return None
        assert self.first.valid_to is not None
        return self.first.valid_to + timedelta(days=1), self.second.valid_from - timedelta(days=1)


def range_problems(periods: Sequence[RatePeriod]) -> list[RangeProblem]:
    """Every overlap and gap between consecutive periods of one currency (sorted by `valid_from`,
    one period per start day). An open-ended period reaches the next by definition."""
    found: list[RangeProblem] = []
    for first, second in itertools.pairwise(periods):
        if first.valid_to is None:
            continue
        if first.valid_to >= second.valid_from:
            found.append(RangeProblem("overlap", first, second))
        elif first.valid_to + timedelta(days=1) < second.valid_from:
            found.append(RangeProblem("gap", first, second))
    return found
