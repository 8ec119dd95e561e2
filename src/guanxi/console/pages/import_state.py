"""What the mapping step's form holds, and the mapping it stands for. No web code: the page draws
and edits a `MappingState`; `data()` is the mapping's JSON form, as an integrator would write it,
and `load` puts a saved mapping back into the form.

The form names every column of the file (a field or null), so the file maps exactly as shown; a
value map lists only what the importer would not read by itself the same way (a cell the
importer already reads as "completed" mapped to "completed" says nothing), and `on_invalid` only
the fields whose choice is not the importer's default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guanxi.console.pages.import_values import (
    CONFLICT_FIELDS,
    DATE_FIELDS,
    DROPPED_BY_DEFAULT,
    EMPTY,
    FIXED,
    KEEP,
    Sample,
    field_label,
)
from guanxi.console.session import tr
from guanxi.dataio import headers, mappings
from guanxi.dataio.headers import DERIVABLE
from guanxi.dataio.importers import map_value
from guanxi.dataio.mappings import LINE_TOKEN, Mapping
from guanxi.loyalty.members.history import RECORD


@dataclass
class Constant:
    field: str = ""
    value: str = ""


@dataclass
class MappingState:
    kind: str
    columns: list[str]
    sample: Sample
    fields: dict[str, str | None] = field(default_factory=dict)  # column -> field (None: ignored)
    choices: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> cell -> value, KEEP or EMPTY
    # entries of a loaded value map for cells the sample does not hold: kept as they were
    kept_values: dict[str, dict[str, str | None]] = field(default_factory=dict)
    constants: list[Constant] = field(default_factory=list)
    derive: dict[str, list[str]] = field(default_factory=dict)
    date_formats: dict[str, str] = field(default_factory=dict)
    on_invalid: dict[str, str] = field(default_factory=dict)  # field -> reject | drop (as chosen)
    conflicts: dict[str, str] = field(default_factory=dict)  # field or "*" -> keep | file | survivorship
    recognise: bool = True
    history: str = RECORD

    @classmethod
    def for_file(cls, kind: str, columns: list[str], sample: Sample) -> MappingState:
        """The form as the importer would read the file by itself: recognised headers, and an
        empty constant offered where a source system is needed and no column gives one."""
        recognised = mappings.resolve(columns, kind).fields
        state = cls(kind, columns, sample, fields={c: recognised.get(c) for c in columns})
        fed = set(recognised.values())
        if kind == "customers" and "external_id" in fed and "external_source" not in fed:
            state.constants.append(Constant("external_source"))
        if kind == "orders" and "customer_external_id" in fed and not fed & {"source", "customer_source"}:
            state.constants.append(Constant("source"))
        return state

    # What the form says -----------------------------------------------------------------------

    def column_of(self, name: str) -> str | None:
        return next((c for c, f in self.fields.items() if f == name), None)

    def doubled(self) -> dict[str, list[str]]:
        """Fields more than one column is chosen for, with those columns (a mapping may not)."""
        by_field: dict[str, list[str]] = {}
        for column, name in self.fields.items():
            if name and not name.startswith("properties."):
                by_field.setdefault(name, []).append(column)
        return {name: columns for name, columns in by_field.items() if len(columns) > 1}

    def fed(self) -> list[str]:
        """The fields a column feeds, in the kind's order."""
        given = {f for f in self.fields.values() if f}
        return [f for f in headers.FIELDS[self.kind] if f in given]

    def derivable(self) -> list[str]:
        """Fields the form may build from other columns: those no column feeds."""
        given = set(self.fed())
        return [name for name in DERIVABLE[self.kind] if name not in given]

    def fixed_columns(self) -> list[tuple[str, str]]:
        """(column, field) for the columns feeding a field with a fixed set of values."""
        return [(c, f) for c, f in self.fields.items() if f in FIXED]

    def choice(self, column: str, cell: str) -> str:
        """What a cell becomes: the form's choice, else what the importer reads it as, else kept."""
        chosen = self.choices.get(column, {}).get(cell)
        if chosen is not None:
            return chosen
        name = self.fields.get(column)
        return (FIXED[name].read(cell) if name in FIXED else None) or KEEP

    def recognised(self, column: str, cell: str) -> bool:
        name = self.fields.get(column)
        return name in FIXED and FIXED[name].read(cell) is not None

    def bad_value_default(self, name: str) -> str:
        return "drop" if name in DROPPED_BY_DEFAULT.get(self.kind, ()) else "reject"

    def bad_value_choice(self, name: str) -> str:
        return self.on_invalid.get(name) or self.bad_value_default(name)

    def conflict_fields(self) -> list[str]:
        given = set(self.fed()) | {c.field for c in self.constants if c.field}
        return [f for f in CONFLICT_FIELDS if f in given]

    def date_fields(self) -> list[str]:
        return [f for f in self.fed() if f in DATE_FIELDS]

    def data(self) -> dict[str, Any]:
        """The mapping's JSON form (what `service.parse_mapping` reads)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "columns": dict(self.fields),
            "constants": {c.field: c.value.strip() for c in self.constants if c.field and c.value.strip()},
            "date_formats": {f: self.date_formats[f] for f in self.date_fields() if self.date_formats.get(f)},
            "recognise": self.recognise,
        }
        values = self._value_maps()
        if values:
            out["values"] = values
        fed = self.fed()
        on_invalid = {f: c for f, c in self.on_invalid.items() if f in fed and c != self.bad_value_default(f)}
        if on_invalid and self.kind in DROPPED_BY_DEFAULT:
            out["on_invalid"] = on_invalid
        if self.kind == "customers":
            named = set(self.conflict_fields()) | {"*"}
            conflicts = {f: c for f, c in self.conflicts.items() if f in named and c}
            if conflicts:
                out["conflicts"] = conflicts
        derive = {
            name: parts
            for name, parts in self.derive.items()
            if name in self.derivable() and any(p != LINE_TOKEN for p in parts)
        }
        if derive:
            out["derive"] = derive
        return out

    def _value_maps(self) -> dict[str, dict[str, str | None]]:
        maps: dict[str, dict[str, str | None]] = {}
        for column, name in self.fixed_columns():
            table = dict(self.kept_values.get(column, {}))
            for cell in self.sample.distinct(column):
                chosen = self.choice(column, cell)
                if chosen == EMPTY:
                    table[cell] = None
                elif chosen != KEEP and chosen != FIXED[name].read(cell):
                    table[cell] = chosen
            if table:
                maps[column] = table
        return maps

    def options(self) -> dict[str, Any]:
        """The job's options: an order import's history choice."""
        return {"history": self.history} if self.kind == "orders" else {}

    # A saved mapping put back into the form ---------------------------------------------------

    def load(self, mapping: Mapping) -> list[str]:
        """Take what `mapping` says for this file; returns what it names that the file lacks."""
        resolved = mappings.resolve(self.columns, self.kind, mapping)
        self.fields = {c: resolved.fields.get(c) for c in self.columns}
        self.recognise = mapping.recognise
        self.constants = [Constant(k, v) for k, v in mapping.constants.items()]
        self.date_formats = dict(mapping.date_formats)
        self.conflicts = dict(mapping.conflicts)
        self.derive = {k: list(v) for k, v in mapping.derive.items()}
        self.on_invalid = {
            f: mapping.bad_value_policy(f, self.bad_value_default(f))
            for f in headers.FIELDS[self.kind]
            if f in mapping.on_invalid or "*" in mapping.on_invalid
        }
        self.choices, self.kept_values = {}, {}
        for column, name in self.fixed_columns():
            table = mapping.value_map(column, name or "")
            if table:
                self._load_values(column, table)
        # what the mapping names that the file lacks, as `mappings.resolve` finds it (its `absent`
        # says so in English codes), in the console's words
        known = set(self.columns)
        lacking = [c for c in mapping.columns if c not in known]
        lacking += [
            tr("import.map.lacking_derive", field=field_label(self.kind, name), column=part)
            for name, parts in mapping.derive.items()
            for part in parts
            if part != LINE_TOKEN and part not in known
        ]
        fed = set(resolved.fields.values())
        lacking += [tr("import.map.lacking_values", column=key) for key in mapping.values if key not in known | fed]
        return lacking

    def _load_values(self, column: str, table: dict[str, str | None]) -> None:
        cells = self.sample.distinct(column)
        chosen: dict[str, str] = {}
        for cell in cells:
            found = map_value(table, cell)
            if found is None:
                chosen[cell] = EMPTY
            elif found != cell or cell in table:
                chosen[cell] = str(found)
        self.choices[column] = chosen
        folded = {c.casefold() for c in cells}
        kept = {k: v for k, v in table.items() if k not in cells and k.casefold() not in folded}
        if kept:
            self.kept_values[column] = kept
