"""The columns of a customer export and what each cell holds (pure: no database, no web).

Two layouts. A *report* is for people: column titles in the reader's language, codes shown by
their display names (性别 女, 来源渠道 官网, the tier's name), times in the configured zone, dates
as dates, counts and money as numbers, and the member's figures (tier, points, orders, spend)
when the reader may see loyalty data. The *data* layout is the API's machine-readable contract:
field names as titles, codes as stored, ISO 8601 times in UTC, every cell text.

A row here holds typed values; how a value is written (text in a CSV, a typed cell in an XLSX)
is the writers' business (`export_files`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from guanxi.kit import i18n
from guanxi.kit.text import strip_control

Value = str | int | Decimal | date | datetime | None


class Kind(StrEnum):
    TEXT = "text"  # written as text whatever it looks like (phones, member numbers)
    LABEL = "label"  # a stored code shown by its display name
    DATE = "date"
    TIME = "time"  # an instant, shown in the configured zone
    COUNT = "count"
    MONEY = "money"
    NUMBER = "number"  # a score or a probability, two decimals


@dataclass(frozen=True)
class Column:
    field: str
    kind: Kind
    labels: str | None = None  # the catalog group of a LABEL column's display names
    shown: str | None = None  # what a report shows in it instead of the field itself


CUSTOMER_COLUMNS = (
    Column("member_no", Kind.TEXT),
    # A report names a customer without a name by member number; the data layout keeps it empty.
    Column("name", Kind.TEXT, shown="display_name"),
    Column("gender", Kind.LABEL, "gender"),
    Column("birthday", Kind.DATE),
    Column("phone", Kind.TEXT),
    Column("email", Kind.TEXT),
    Column("province", Kind.TEXT),
    Column("city", Kind.TEXT),
    Column("region", Kind.TEXT),
    Column("source_channel", Kind.LABEL, "source"),
    Column("tags", Kind.TEXT),
    Column("created_at", Kind.TIME),
)
# After the customer's own columns, for readers who may see loyalty data.
MEMBER_COLUMNS = (
    Column("tier", Kind.LABEL),
    Column("points_balance", Kind.COUNT),
    Column("order_count", Kind.COUNT),
    Column("spend", Kind.MONEY),
    Column("last_order_at", Kind.TIME),
)
# After those, for readers of analytics: the last run's scores (none for who refused profiling).
SCORE_COLUMNS = (
    Column("rfm_segment", Kind.LABEL, "rfm.segment"),
    Column("lifecycle_stage", Kind.LABEL, "lifecycle.stage"),
    Column("value_tier", Kind.LABEL, "value_tier"),
    Column("clv", Kind.MONEY),
    Column("p_alive", Kind.NUMBER),
    Column("churn_risk", Kind.NUMBER),
    Column("churn_band", Kind.LABEL, "churn.band"),
    Column("cluster_name", Kind.TEXT),
)
DATA_COLUMNS = tuple(column.field for column in CUSTOMER_COLUMNS)


@dataclass(frozen=True)
class Layout:
    """How one export reads. `language` None is the data layout."""

    language: str | None
    zone: ZoneInfo
    with_member_figures: bool = False
    with_scores: bool = False

    @property
    def columns(self) -> tuple[Column, ...]:
        if self.language is None:
            return CUSTOMER_COLUMNS
        return (
            CUSTOMER_COLUMNS
            + (MEMBER_COLUMNS if self.with_member_figures else ())
            + (SCORE_COLUMNS if self.with_scores else ())
        )

    @property
    def fields(self) -> list[str]:
        return [column.field for column in self.columns]

    def headers(self) -> list[str]:
        if self.language is None:
            return self.fields
        return [i18n.t(f"export.column.{column.field}", self.language) for column in self.columns]

    def row(
        self,
        customer: Mapping[str, Any],
        member: Mapping[str, Any] | None = None,
        scores: Mapping[str, Any] | None = None,
    ) -> list[Value]:
        """One customer's cells: `customer` as the API shows it (masked for the reader),
        `member` the figures of `loyalty.members.figures` (as a mapping) and `scores` the
        analytics' (as `analytics.presenter.export_scores` gives them) for a report."""
        values = {**customer, **(member or {}), **(scores or {})}
        if self.language is None:
            return [_data_text(values.get(column.field)) for column in self.columns]
        return [self._report_value(column, values) for column in self.columns]

    def _report_value(self, column: Column, values: Mapping[str, Any]) -> Value:
        value = values.get(column.field)
        if column.shown is not None and column.shown in values:
            value = values[column.shown]
        if column.field == "tier":
            return self._tier_name(values)
        if value is None:
            return None
        if column.kind is Kind.LABEL:
            return display_name(column.labels or column.field, str(value), self._language)
        if column.kind is Kind.TIME:
            return as_local(value, self.zone)
        if column.kind is Kind.NUMBER:
            return Decimal(str(round(float(value), 2)))
        if column.kind is not Kind.TEXT and isinstance(value, date | int | Decimal):
            return value  # a date, a count or an amount stays what it is: the writer types it
        return _text(value)

    def _tier_name(self, values: Mapping[str, Any]) -> str | None:
        english = values.get("tier_name_en") if self._language == "en" else None
        name = english or values.get("tier_name") or values.get("tier_code")
        return _text(name) if name else None

    @property
    def _language(self) -> str:
        return self.language or i18n.DEFAULT_LANGUAGE


def display_name(group: str, code: str, language: str) -> str:
    """The catalog's name for a stored code (`gender.female` -> 女 / Female); a code the catalog
    does not know (an integration's own channel) is shown as stored."""
    key = f"{group}.{code}"
    name = i18n.t(key, language)
    return code if name == key else name


def as_local(instant: datetime, zone: ZoneInfo) -> datetime:
    """A stored instant in the configured zone (storage is UTC; a naive value is UTC)."""
    aware = instant if instant.tzinfo is not None else instant.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(zone)


def _text(value: Any) -> str:
    # Text stored before control characters were refused (or written by an import) would stop
    # an XLSX midway: they are left out of every cell.
    if isinstance(value, list | tuple):
        return strip_control(",".join(str(v) for v in value))
    return strip_control(str(value))


def _data_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return _text(value)
