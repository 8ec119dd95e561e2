"""Mapping files: what a user says about an import file (column -> field, constants, date
formats, value maps, bad-value and conflict choices, derived fields), checked against the fields
of its kind (`headers`), and `resolve`: what each column of a file feeds. Pure: no database, no web.

A mapping file is JSON::

    {"kind": "customers",
     "columns": {"客户名": "name", "联系电话": "phone", "备注": null},
     "constants": {"source_channel": "store"},
     "date_formats": {"birthday": "%d/%m/%Y"},
     "values": {"Gender": {"M": "male", "F": "female", "#N/A": null}},
     "on_invalid": {"birthday": "drop"},
     "conflicts": {"*": "keep", "city": "file"},
     "derive": {"external_id": ["Customer ID", "Date"]}}

`columns` wins over recognition; a column mapped to null (or "") is ignored; columns the mapping
does not name are still recognised by their header unless `"recognise": false`. `constants` give a
field the same value on every row (a column value, when present, wins). `values` rewrites cells
before they are read (keyed by column or by field; null empties the cell). `on_invalid` says per
field whether a bad value refuses the row ("reject") or is dropped with a warning ("drop");
`conflicts` (customers) which side wins when a row differs from a known customer's non-empty
value; `derive` builds a field (an order's id) from other columns, `{line}` being the file's line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from guanxi.dataio.headers import DERIVABLE, FIELDS, KINDS, ONE_OF, REQUIRED, property_column, recognise


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names what is wrong."""


BAD_VALUE_CHOICES = ("reject", "drop")
CONFLICT_CHOICES = ("keep", "file", "survivorship")
LINE_TOKEN = "{line}"


@dataclass(frozen=True)
class Mapping:
    kind: str
    columns: dict[str, str | None] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)
    recognise: bool = True
    values: dict[str, dict[str, str | None]] = field(default_factory=dict)  # column or field -> cell -> value
    on_invalid: dict[str, str] = field(default_factory=dict)  # field or "*" -> reject | drop
    conflicts: dict[str, str] = field(default_factory=dict)  # field or "*" -> keep | file | survivorship
    derive: dict[str, list[str]] = field(default_factory=dict)  # field -> columns (or {line})

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "columns": dict(self.columns),
            "constants": dict(self.constants),
            "date_formats": dict(self.date_formats),
            "recognise": self.recognise,
        }
        for name in ("values", "on_invalid", "conflicts", "derive"):
            if getattr(self, name):
                out[name] = dict(getattr(self, name))
        return out

    def bad_value_policy(self, name: str, default: str) -> str:
        return self.on_invalid.get(name) or self.on_invalid.get("*") or default

    def conflict_policy(self, name: str) -> str:
        return self.conflicts.get(name) or self.conflicts.get("*") or "keep"

    def value_map(self, column: str, name: str) -> dict[str, str | None] | None:
        """The value map of a column: named by the column, else by the field it feeds."""
        return self.values.get(column) if column in self.values else self.values.get(name)


_MAPPING_KEYS = {
    "kind",
    "columns",
    "constants",
    "date_formats",
    "recognise",
    "name",
    "values",
    "on_invalid",
    "conflicts",
    "derive",
}


def parse_mapping(data: Any, kind: str | None = None) -> Mapping:
    """A mapping from its JSON form, checked against the fields of its kind."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise MappingError(f"the mapping is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MappingError("the mapping must be a JSON object")
    unknown = sorted(set(data) - _MAPPING_KEYS)
    if unknown:
        raise MappingError(
            f"unknown mapping key(s): {', '.join(unknown)}; valid keys: {', '.join(sorted(_MAPPING_KEYS))}"
        )
    mapped_kind = data.get("kind", kind)
    if mapped_kind not in KINDS:
        raise MappingError(f"kind must be one of {', '.join(KINDS)}")
    if kind is not None and mapped_kind != kind:
        raise MappingError(f"this mapping is for {mapped_kind}, not {kind}")
    fields = set(FIELDS[mapped_kind])
    columns = data.get("columns", {})
    if not isinstance(columns, dict):
        raise MappingError("columns must be an object of column -> field")
    clean_columns: dict[str, str | None] = {}
    for column, target in columns.items():
        if target in (None, ""):
            clean_columns[str(column)] = None
            continue
        if not isinstance(target, str) or (target not in fields and not _is_property(mapped_kind, target)):
            raise MappingError(f"columns.{column}: unknown field {target!r} for {mapped_kind}; {_valid(mapped_kind)}")
        clean_columns[str(column)] = target
    targets = [t for t in clean_columns.values() if t and not _is_property(mapped_kind, t)]
    doubled = sorted({t for t in targets if targets.count(t) > 1})
    if doubled:
        raise MappingError(f"several columns map to {', '.join(doubled)}")
    constants = data.get("constants", {})
    if not isinstance(constants, dict) or not all(isinstance(v, str | int | float) for v in constants.values()):
        raise MappingError("constants must be an object of field -> text")
    for name in constants:
        if name not in fields:
            raise MappingError(f"constants.{name}: unknown field for {mapped_kind}; {_valid(mapped_kind)}")
    formats = data.get("date_formats", {})
    if not isinstance(formats, dict) or not all(isinstance(v, str) and "%" in v for v in formats.values()):
        raise MappingError("date_formats must be an object of field -> strftime format, e.g. %d/%m/%Y")
    recognise_rest = data.get("recognise", True)
    if not isinstance(recognise_rest, bool):
        raise MappingError("recognise must be true or false")
    return Mapping(
        kind=mapped_kind,
        columns=clean_columns,
        constants={k: str(v) for k, v in constants.items()},
        date_formats=dict(formats),
        recognise=recognise_rest,
        values=_value_maps(data.get("values", {})),
        on_invalid=_choices(data.get("on_invalid", {}), "on_invalid", fields, BAD_VALUE_CHOICES, mapped_kind),
        conflicts=_conflicts(data.get("conflicts", {}), fields, mapped_kind),
        derive=_derive(data.get("derive", {}), mapped_kind),
    )


def _value_maps(raw: Any) -> dict[str, dict[str, str | None]]:
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise MappingError('values must be an object of column -> {"cell": "value"}, e.g. {"Gender": {"M": "male"}}')
    maps: dict[str, dict[str, str | None]] = {}
    for column, table in raw.items():
        clean: dict[str, str | None] = {}
        for cell, value in table.items():
            if value is not None and not isinstance(value, str | int | float):
                raise MappingError(f"values.{column}.{cell}: must map to text or null")
            clean[str(cell).strip()] = None if value in (None, "") else str(value)
        maps[str(column)] = clean
    return maps


def _choices(raw: Any, key: str, fields: set[str], allowed: tuple[str, ...], kind: str) -> dict[str, str]:
    if isinstance(raw, str):
        raw = {"*": raw}
    if not isinstance(raw, dict):
        raise MappingError(f"{key} must be an object of field -> {' | '.join(allowed)}")
    for name, choice in raw.items():
        if name != "*" and name not in fields:
            raise MappingError(f"{key}.{name}: unknown field for {kind}; {_valid(kind)}")
        if choice not in allowed:
            raise MappingError(f"{key}.{name}: must be one of {', '.join(allowed)} (got {choice!r})")
    return {str(k): str(v) for k, v in raw.items()}


def _conflicts(raw: Any, fields: set[str], kind: str) -> dict[str, str]:
    if raw and kind != "customers":
        raise MappingError("conflicts applies to customer imports only")
    return _choices(raw, "conflicts", fields, CONFLICT_CHOICES, kind)


def _derive(raw: Any, kind: str) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        raise MappingError(
            'derive must be an object of field -> list of columns, e.g. {"external_id": ["Customer ID", "Date"]}'
        )
    out: dict[str, list[str]] = {}
    for name, parts in raw.items():
        if name not in DERIVABLE[kind]:
            can = ", ".join(DERIVABLE[kind]) or "nothing"
            raise MappingError(f"derive.{name}: only {can} can be derived in a {kind} import")
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) and p for p in parts):
            raise MappingError(f"derive.{name}: must be a non-empty list of column names (or {LINE_TOKEN})")
        out[str(name)] = [str(p) for p in parts]
    return out


def _valid(kind: str) -> str:
    """The fields a mapping may name, for the message that refuses one it may not."""
    extra = " (and properties.<name> for event properties)" if kind == "events" else ""
    return f"valid fields: {', '.join(FIELDS[kind])}{extra}"


def _is_property(kind: str, target: str) -> bool:
    return kind == "events" and property_column(target) is not None


@dataclass(frozen=True)
class Resolved:
    """What each column of a file feeds: field per column, and the fields still missing."""

    fields: dict[str, str]  # column -> field (or "properties.<name>")
    ignored: list[str]  # columns that feed nothing
    missing: list[str]  # required fields with neither a column nor a constant
    missing_one_of: tuple[str, ...]  # a group none of whose fields is present (empty when satisfied)
    # what the mapping names that this file does not have (derive parts, value-map columns)
    absent: list[str] = field(default_factory=list)


def resolve(headers: list[str], kind: str, mapping: Mapping | None = None) -> Resolved:
    mapping = mapping or Mapping(kind=kind)
    chosen: dict[str, str] = {}
    explicit = mapping.columns
    for column in headers:
        if column in explicit:
            target = explicit[column]
            if target:
                chosen[column] = target
    if mapping.recognise:
        taken = set(chosen.values()) | set(mapping.derive)
        for column, name in recognise([h for h in headers if h not in explicit], kind).items():
            if name not in taken:
                chosen[column] = name
                taken.add(name)
        if kind == "events":
            for column in headers:
                if column not in explicit and column not in chosen and property_column(column):
                    chosen[column] = f"properties.{property_column(column)}"
    # a derived field is built from its columns, never read from one of its own
    chosen = {c: f for c, f in chosen.items() if f not in mapping.derive}
    present = set(chosen.values()) | set(mapping.constants) | set(mapping.derive)
    missing = [f for f in REQUIRED[kind] if f not in present]
    group = ONE_OF[kind]
    missing_group = () if present & set(group) else group
    ignored = [h for h in headers if h not in chosen]
    known = set(headers)
    absent = [
        f"derive.{name}: no column {part!r}"
        for name, parts in mapping.derive.items()
        for part in parts
        if part != LINE_TOKEN and part not in known
    ]
    fed = set(chosen.values())
    absent += [
        f"values.{key}: no column or field {key!r} in this file"
        for key in mapping.values
        if key not in known and key not in fed
    ]
    return Resolved(chosen, ignored, missing, missing_group, absent)
