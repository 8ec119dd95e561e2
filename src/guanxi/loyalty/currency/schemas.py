"""API shapes of the rate table. Rows in a JSON body are checked by the same rules as a CSV file's
lines (`rows.check_rows`); their errors name `rates[i].field`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from guanxi.kit.inputs import BusinessDate
from guanxi.kit.text import StorableInput


class _Input(StorableInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RateIn(_Input):
    currency: str = Field(min_length=1, max_length=8, description="ISO 4217 code, e.g. USD")
    rate: Decimal = Field(description="Units of the program's currency per 1 unit of `currency`")
    valid_from: BusinessDate
    valid_to: BusinessDate | None = Field(default=None, description="Last day; left out: until the next row")


class RatesIn(_Input):
    rates: list[RateIn] = Field(min_length=1, max_length=10_000)
    replace: bool = Field(default=False, description="Replace a (currency, valid_from) given with another rate")
    dry_run: bool = Field(default=False, description="Check and report; write nothing")


class RateOut(BaseModel):
    id: str
    currency: str
    to_currency: str
    valid_from: date
    valid_to: date | None
    rate: Decimal
    source: str
    created_by: str
    created_at: datetime


class LoadedRateOut(BaseModel):
    currency: str
    valid_from: date
    valid_to: date | None
    rate: Decimal
    outcome: Literal["added", "replaced", "unchanged"]


class LoadReportOut(BaseModel):
    source: str
    dry_run: bool
    added: int
    replaced: int
    unchanged: int
    rates: list[LoadedRateOut]


class RateList(BaseModel):
    """The rate table, as every list of the API: `items`, and `next_cursor` (always null: the
    table is read whole, a handful of rows per currency and period)."""

    items: list[RateOut]
    next_cursor: str | None = None
