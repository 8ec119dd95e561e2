"""What the three kinds of import share: typed cell values, a row's fields from the mapping, and
the shape every importer answers in (one outcome per row)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from guanxi.config import get_settings
from guanxi.dataio import headers, readers
from guanxi.dataio import values as cells
from guanxi.dataio.mappings import LINE_TOKEN, Mapping, Resolved
from guanxi.kit import row_problems as problems
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal

# "conflict": the row differs from what is known and was held back (customers, see `conflicts`);
# "repeated": an earlier row of the file named the same entity with the same values.
Status = Literal["created", "updated", "unchanged", "rejected", "conflict", "repeated"]


@dataclass
class RowOutcome:
    line: int
    status: Status
    reason: str | None = None
    entity_id: str | None = None
    fields: list[str] = field(default_factory=list)
    # Bad values dropped from a row that was kept ("gender: must be 男/女/未知 ... (got '#N/A')"),
    # each a `problems.Noted` when the importer knows its field and code.
    warnings: list[str] = field(default_factory=list)
    # field -> (value before, value in the file) for an update or a conflict
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


class Importer(Protocol):
    kind: str
    batch_size: int

    def prepare(self, line: int, fields: dict[str, Any], mapping: Mapping) -> Any | list[FieldError]:
        """The row's typed, validated record, or what is wrong with it."""

    def keys(self, record: Any) -> list[str]:
        """What makes two rows the same (repeated inside a file = duplicate row)."""

    def apply(
        self, session: Session, actor: Principal, records: list[Any], *, job_id: str | None, options: dict[str, Any]
    ) -> list[RowOutcome]:
        """Write a batch; one outcome per record, in order."""


class GroupingImporter(Importer, Protocol):
    """An importer whose rows are lines of a record (order lines): staged, then combined."""

    def group_key(self, record: Any) -> str:
        """Rows with the same key are lines of one record."""

    def raw_key(self, fields: dict[str, Any]) -> str | None:
        """`group_key` from a row's mapped cells, before they are read (None: the row has none)."""

    def combine(self, records: list[Any]) -> Any | str:
        """The record the rows make together, or why they cannot be one."""


def describe(errors: list[FieldError]) -> str:
    """A refused row's reason: the English sentence, carrying each problem's field and code."""
    return problems.refusal(errors)


def row_fields(values: dict[str, Any], resolved: Resolved, mapping: Mapping, line: int = 0) -> dict[str, Any]:
    """field -> cell value for one row: mapped columns (through their value maps), derived fields,
    then constants for fields still empty. Text is trimmed; a leading apostrophe that protected a
    formula-like cell (our own errors files write them) is dropped; event property columns are
    gathered under "properties."."""
    out: dict[str, Any] = {}
    for column, name in resolved.fields.items():
        value = values.get(column)
        if isinstance(value, str):
            value = cells.unprotect(value.strip())
        table = mapping.value_map(column, name) if mapping.values else None
        if table is not None and value not in (None, ""):
            value = map_value(table, value)
        if value in (None, ""):
            continue
        out[name] = value
    for name, parts in mapping.derive.items():
        out[name] = derived_value(values, parts, line)
    for name, value in mapping.constants.items():
        if out.get(name) in (None, ""):
            out[name] = value
    return out


_UNMAPPED = object()


def map_value(table: dict[str, str | None], value: Any) -> Any:
    """A cell through its value map: exact text first, then ignoring case; unlisted cells pass."""
    key = readers.cell_text(value).strip()
    found = table.get(key, _UNMAPPED)
    if found is _UNMAPPED:
        folded = key.casefold()
        found = next((v for k, v in table.items() if k.casefold() == folded), _UNMAPPED)
    return value if found is _UNMAPPED else found


DERIVED_MAX = 64


def derived_value(values: dict[str, Any], parts: list[str], line: int) -> str:
    """A stable id from other columns ("C1024-2024-05-01"); too long for an id, a digest of them.
    The same cells give the same id on every run, so a re-run finds the rows it wrote."""
    pieces = [str(line) if part == LINE_TOKEN else readers.cell_text(values.get(part)).strip() for part in parts]
    joined = "-".join(pieces)
    if len(joined) <= DERIVED_MAX:
        return joined
    return "h" + hashlib.blake2b("\x1f".join(pieces).encode(), digest_size=16).hexdigest()


def zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def typed(
    fields: dict[str, Any],
    errors: list[FieldError],
    name: str,
    parse: Any,
    *args: Any,
    warnings: list[str] | None = None,
) -> Any:
    """Parse one field with `parse(text, *args)`. A bad value becomes a FieldError, or, when the
    field's bad values are dropped (`warnings` given), a warning and no value."""
    raw = fields.get(name)
    if raw in (None, ""):
        return None
    try:
        return parse(text(raw), *args)
    except cells.BadValue as exc:
        error = FieldError(name, f"{exc} (got {text(raw)[:40]!r})", bad_value_code(exc), exc.params, key=exc.key)
        if warnings is not None:
            warnings.append(problems.dropped(error))
        else:
            errors.append(error)
        return None


# Codes whose catalog key's last part would not say what is wrong on its own.
_CODES = {"gender": "not_a_gender"}


def bad_value_code(exc: cells.BadValue) -> str:
    """The stable code of a cell that does not read: its catalog message's name
    (error.import.not_a_real_date -> not_a_real_date), "invalid" for one without."""
    if not exc.key:
        return "invalid"
    name = exc.key.rsplit(".", 1)[-1]
    return _CODES.get(name, name)


def parse_currency(text: str) -> str:
    code = text.strip().upper()
    if code not in _iso_currencies():
        raise cells.BadValue("is not an ISO 4217 currency code (e.g. CNY, USD)", "error.import.not_a_currency")
    return code


@lru_cache(maxsize=1)
def _iso_currencies() -> frozenset[str]:
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


def parse_status(text: str) -> str:
    from guanxi.loyalty.orders import statuses

    try:
        return statuses.normalise_status(text)
    except ValueError as exc:
        raise cells.BadValue(str(exc)) from None


# How a mapped value of each typed field is checked (value maps are checked before the first row).
VALUE_CHECKS: dict[str, Callable[[str], object]] = {
    "gender": cells.parse_gender,
    "birthday": cells.parse_date,
    "paid_amount": cells.parse_amount,
    "unit_price": cells.parse_amount,
    "refunded_amount": cells.parse_amount,
    "quantity": cells.parse_quantity,
    "occurred_at": lambda text: cells.parse_datetime(text, zone()),
    "currency": parse_currency,
    "status": parse_status,
    "source_channel": lambda text: parse_source_channel(text),
}


def parse_source_channel(text: str) -> str:
    from guanxi.customers.schemas import SOURCE_CHANNELS

    value = text.strip()
    if value not in SOURCE_CHANNELS:
        choices = ", ".join(SOURCE_CHANNELS)
        raise cells.BadValue(f"must be one of {choices}", "error.import.not_a_source_channel", choices=choices)
    return value


def value_map_problems(mapping: Mapping, resolved: Resolved | None = None) -> list[str]:
    """What is wrong with the mapping's value maps and constants: a cell mapped to, or a constant
    of, a value its field refuses ("values.Gender.M: 'mal' must be 男/女/未知 or male/female/unknown",
    "constants.currency: 'XYZ' is not an ISO 4217 currency code"). With the file's columns
    (`resolved`) value maps keyed by a recognised column are checked too."""
    problems = []
    fields = set(headers.FIELDS[mapping.kind])
    for key, table in mapping.values.items():
        name = key if key in fields else mapping.columns.get(key) or (resolved.fields.get(key) if resolved else None)
        check = VALUE_CHECKS.get(name or "")
        if check is None:
            continue
        for cell, value in table.items():
            if value is None:
                continue
            try:
                check(value)
            except cells.BadValue as exc:
                problems.append(f"values.{key}.{cell}: {value!r} {exc}")
    for name, value in mapping.constants.items():
        check = VALUE_CHECKS.get(name)
        if check is None:
            continue
        try:
            check(value)
        except cells.BadValue as exc:
            problems.append(f"constants.{name}: {value!r} {exc}")
    return problems
