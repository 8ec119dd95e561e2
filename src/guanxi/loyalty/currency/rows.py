"""Rate rows as a caller gives them (text cells of a CSV line, or values of a JSON item) checked
one by one: a known currency that is not the program's, a positive finite rate, real dates in
order, no (currency, valid_from) twice. Every bad row is reported, each error naming its row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from guanxi.kit.errors import FieldError
from guanxi.kit.i18n import t
from guanxi.kit.inputs import EARLIEST, LATEST
from guanxi.loyalty.currency import coverage

_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")


@dataclass(frozen=True)
class RowRef:
    """Where a row was given: a line of a file (counting the header as line 1), or the position
    of an item in a JSON list."""

    line: int | None = None
    index: int | None = None

    @property
    def name(self) -> str:
        return f"line {self.line}" if self.line is not None else f"rates[{self.index}]"

    def field(self, name: str) -> str:
        return f"{self.name}: {name}" if self.line is not None else f"{self.name}.{name}"


@dataclass(frozen=True)
class RawRate:
    where: RowRef
    currency: str | None
    rate: str | Decimal | None
    valid_from: str | date | None
    valid_to: str | date | None = None


@dataclass(frozen=True)
class GivenRate:
    """A row that passed the checks of its own."""

    where: RowRef
    period: coverage.RatePeriod


class _Row:
    """Collects one row's errors in the caller's language."""

    def __init__(self, raw: RawRate, language: str, errors: list[FieldError]) -> None:
        self.raw = raw
        self.language = language
        self.errors = errors
        self.bad = False

    def refuse(self, name: str, code: str, **params: object) -> None:
        self.errors.append(FieldError(self.raw.where.field(name), t(f"currency.{code}", self.language, **params), code))
        self.bad = True


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _currency(row: _Row, program_currency: str) -> str | None:
    value = row.raw.currency
    if value is None or _blank(value):
        row.refuse("currency", "required")
        return None
    code = value.strip().upper()
    if not coverage.is_currency(code):
        row.refuse("currency", "unknown_currency", currency=value.strip())
        return None
    if code == program_currency:
        row.refuse("currency", "program_currency", currency=code)
        return None
    return code


def _rate(row: _Row) -> Decimal | None:
    value = row.raw.rate
    if value is None or _blank(value):
        row.refuse("rate", "required")
        return None
    try:
        rate = value if isinstance(value, Decimal) else Decimal(value.strip())
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite():
        row.refuse("rate", "invalid_rate", value=str(value).strip())
        return None
    if rate <= 0:
        row.refuse("rate", "rate_not_positive")
        return None
    if rate > coverage.MAX_RATE:
        row.refuse("rate", "rate_too_large", limit=coverage.MAX_RATE)
        return None
    if rate != rate.quantize(coverage.RATE_QUANTUM):  # exact: normalize() would round to 28 digits
        row.refuse("rate", "rate_too_precise", places=coverage.RATE_PLACES)
        return None
    return rate


def _date(row: _Row, name: str, value: str | date | None) -> date | None:
    if isinstance(value, date):
        day: date | None = value
    else:
        assert value is not None
        match = _DATE.fullmatch(value.strip())
        try:
            day = date(*(int(part) for part in match.groups())) if match else None
        except ValueError:
            day = None
        if day is None:
            row.refuse(name, "invalid_date", value=value.strip())
            return None
    assert day is not None
    if not EARLIEST <= day <= LATEST:
        row.refuse(name, "date_out_of_range", earliest=EARLIEST.isoformat(), latest=LATEST.isoformat())
        return None
    return day


def _period(row: _Row, program_currency: str) -> coverage.RatePeriod | None:
    currency = _currency(row, program_currency)
    rate = _rate(row)
    valid_from = None
    if _blank(row.raw.valid_from):
        row.refuse("valid_from", "required")
    else:
        valid_from = _date(row, "valid_from", row.raw.valid_from)
    valid_to = None if _blank(row.raw.valid_to) else _date(row, "valid_to", row.raw.valid_to)
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        row.refuse("valid_to", "ends_before_start", valid_to=valid_to.isoformat(), valid_from=valid_from.isoformat())
    if row.bad or currency is None or rate is None or valid_from is None:
        return None
    return coverage.RatePeriod(currency=currency, valid_from=valid_from, valid_to=valid_to, rate=rate)


def check_rows(
    rows: Sequence[RawRate], program_currency: str, language: str
) -> tuple[list[GivenRate], list[FieldError], set[str]]:
    """The rows that pass their own checks, every error of those that do not, and the currencies
    that had a bad row (their periods cannot be checked against each other yet)."""
    errors: list[FieldError] = []
    good: list[GivenRate] = []
    spoiled: set[str] = set()
    first_at: dict[tuple[str, date], RowRef] = {}
    for raw in rows:
        row = _Row(raw, language, errors)
        period = _period(row, program_currency)
        if period is None:
            if isinstance(raw.currency, str) and raw.currency.strip():
                spoiled.add(raw.currency.strip().upper())
            continue
        key = (period.currency, period.valid_from)
        if key in first_at:
            row.refuse(
                "valid_from",
                "duplicate_row",
                currency=period.currency,
                valid_from=period.valid_from.isoformat(),
                other=first_at[key].name,
            )
            spoiled.add(period.currency)
            continue
        first_at[key] = raw.where
        good.append(GivenRate(raw.where, period))
    return good, errors, spoiled
