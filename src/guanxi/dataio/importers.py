"""What the three kinds of import share: typed cell values, a row's fields from the mapping, and
the shape every importer answers in (one outcome per row)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from guanxi.config import get_settings
from guanxi.dataio import values as cells
from guanxi.dataio.headers import Mapping, Resolved
from guanxi.kit.errors import FieldError
from guanxi.kit.principal import Principal

Status = Literal["created", "updated", "unchanged", "rejected"]


@dataclass
class RowOutcome:
    line: int
    status: Status
    reason: str | None = None
    entity_id: str | None = None
    fields: list[str] = field(default_factory=list)


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


def describe(errors: list[FieldError]) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in errors)


def row_fields(values: dict[str, Any], resolved: Resolved, mapping: Mapping) -> dict[str, Any]:
    """field -> cell value for one row: mapped columns, then constants for fields still empty.
    Text is trimmed; a leading apostrophe that protected a formula-like cell (our own errors
    files write them) is dropped; event property columns are gathered under "properties."."""
    out: dict[str, Any] = {}
    for column, name in resolved.fields.items():
        value = values.get(column)
        if isinstance(value, str):
            value = cells.unprotect(value.strip())
        if value in (None, ""):
            continue
        out[name] = value
    for name, value in mapping.constants.items():
        if out.get(name) in (None, ""):
            out[name] = value
    return out


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
) -> Any:
    """Parse one field with `parse(text, *args)`; a bad value becomes a FieldError."""
    raw = fields.get(name)
    if raw in (None, ""):
        return None
    try:
        return parse(text(raw), *args)
    except cells.BadValue as exc:
        errors.append(FieldError(name, f"{exc} (got {text(raw)[:40]!r})", "invalid"))
        return None
