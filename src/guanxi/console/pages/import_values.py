"""What the import page's mapping step knows about the values of a file: a bounded sample of the
cells each column holds, the fields whose values come from a fixed set (an order's status, a
customer's gender) with their names in the console's language, how the importer reads a cell of
such a field by itself, and the checks a constant gets before anything runs.

The sample reads the first `SAMPLE_ROWS` rows once, after the upload, and keeps at most
`MAX_DISTINCT` distinct cells per column: a file of a million rows costs the page no more than one
of two thousand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.lists import format_list
from babel.numbers import get_currency_name, list_currencies

from guanxi.console.session import language, tr
from guanxi.customers.schemas import GENDERS, SOURCE_CHANNELS
from guanxi.dataio import readers
from guanxi.dataio import values as cells
from guanxi.dataio.import_customers import DROPPABLE as CUSTOMER_DROPPABLE
from guanxi.dataio.import_orders import DROPPABLE as ORDER_DROPPABLE
from guanxi.dataio.importers import VALUE_CHECKS
from guanxi.dataio.mappings import Mapping, Resolved
from guanxi.kit.i18n import catalog
from guanxi.loyalty.orders import statuses

SAMPLE_ROWS = 2000
MAX_DISTINCT = 50
# Two choices of a value map that are no value of the field.
KEEP = "="  # the cell goes to the importer as written
EMPTY = "∅"  # the cell is emptied (null in the mapping)


@dataclass
class Sample:
    """The first rows of a file: per column, its distinct cells with their counts."""

    rows: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    more: set[str] = field(default_factory=set)  # columns with more distinct cells than were kept
    first: dict[str, str] = field(default_factory=dict)  # the first row's cells
    first_line: int = 0  # and its line in the file

    def distinct(self, column: str) -> list[str]:
        """The column's distinct cells, most frequent first (ties in the order they came)."""
        return [cell for cell, _ in self.counts.get(column, Counter()).most_common()]

    def examples(self, column: str, count: int = 3) -> list[str]:
        return list(self.counts.get(column, Counter()))[:count]


def read_sample(path: Path, columns: list[str]) -> Sample:
    sample = Sample(counts={c: Counter() for c in columns})
    with readers.open_rows(path, check=False) as source:
        for row in source:
            if sample.rows >= SAMPLE_ROWS:
                break
            if row.problem:
                continue
            sample.rows += 1
            if sample.rows == 1:
                sample.first_line = row.line
            for column in columns:
                cell = cells.unprotect(readers.cell_text(row.values.get(column)).strip())
                if sample.rows == 1:
                    sample.first[column] = cell
                if not cell:
                    continue
                counts = sample.counts[column]
                if cell in counts or len(counts) < MAX_DISTINCT:
                    counts[cell] += 1
                else:
                    sample.more.add(column)
    return sample


@dataclass(frozen=True)
class FixedField:
    """A field whose values come from a fixed set: the values, how the console names them, and
    how the importer reads a cell of it by itself (None: it does not)."""

    values: Callable[[], tuple[str, ...]]
    label: Callable[[str], str]
    read: Callable[[str], str | None]


def _reader(check: Callable[[str], object]) -> Callable[[str], str | None]:
    def read(cell: str) -> str | None:
        try:
            return str(check(cell))
        except (cells.BadValue, ValueError):
            return None

    return read


@lru_cache(maxsize=1)
def _currencies() -> tuple[str, ...]:
    return tuple(sorted(list_currencies()))


@lru_cache(maxsize=4)
def _locale(lang: str) -> Locale:
    return Locale.parse(lang.replace("-", "_"))


def currency_label(code: str) -> str:
    return f"{code} · {get_currency_name(code, locale=_locale(language()))}"


def spoken_list(items: list[str]) -> str:
    """Items as a sentence lists them in the console's language ("A, B, and C", "A、B和C")."""
    return format_list(items, locale=_locale(language())) if items else ""


def _label(group: str) -> Callable[[str], str]:
    return lambda value: tr(f"{group}.{value}")


FIXED: dict[str, FixedField] = {
    "status": FixedField(lambda: statuses.INPUT_STATUSES, _label("order.status"), _reader(VALUE_CHECKS["status"])),
    "gender": FixedField(lambda: GENDERS, _label("gender"), _reader(VALUE_CHECKS["gender"])),
    "currency": FixedField(_currencies, currency_label, _reader(VALUE_CHECKS["currency"])),
    "source_channel": FixedField(
        lambda: SOURCE_CHANNELS, _label("source"), lambda cell: cell if cell in SOURCE_CHANNELS else None
    ),
}


def value_options(name: str, *extra: str) -> dict[str, str]:
    """The choices of a value map's select: keep, empty, then the field's values by name; `extra`
    (a value a saved mapping gives that the field does not know) is offered as written."""
    fixed = FIXED[name]
    choices = {KEEP: tr("import.map.keep"), EMPTY: tr("import.map.empty")}
    choices.update({value: fixed.label(value) for value in fixed.values()})
    choices.update({value: value for value in extra if value not in choices})
    return choices


def constant_options(name: str, *extra: str) -> dict[str, str]:
    fixed = FIXED[name]
    choices = {value: fixed.label(value) for value in fixed.values()}
    choices.update({value: value for value in extra if value and value not in choices})
    return choices


def field_label(kind: str, name: str) -> str:
    """A field by its name in the console's language, in what it means for the kind (an order's
    external id is its order number); an event property column as it is written."""
    if name.startswith("properties."):
        return name
    own = f"import.field.{kind}.{name}"
    return tr(own) if own in catalog(language()) else tr(f"import.field.{name}")


def missing_texts(kind: str, resolved: Resolved) -> list[str]:
    """The fields the file as mapped leaves without a value, in the console's words."""
    texts = []
    separator = tr("merge.list_separator")
    if resolved.missing:
        texts.append(tr("import.missing", fields=separator.join(field_label(kind, f) for f in resolved.missing)))
    if resolved.missing_one_of:
        names = separator.join(field_label(kind, f) for f in resolved.missing_one_of)
        texts.append(tr("import.missing_one_of", fields=names))
    return texts


# What a bad value does when the mapping says nothing (the importers' own defaults), per kind;
# kinds not listed do not read `on_invalid`.
DROPPED_BY_DEFAULT: dict[str, frozenset[str]] = {"customers": CUSTOMER_DROPPABLE, "orders": ORDER_DROPPABLE}
# Fields a customer row can disagree on with a known customer (identities are added, never conflict).
CONFLICT_FIELDS = (
    "name",
    "gender",
    "birthday",
    "province",
    "city",
    "region",
    "occupation",
    "source_channel",
    "address",
)
# Fields read as dates or times, which a mapping may give a format of its own.
DATE_FIELDS = frozenset({"birthday", "occurred_at", "points_expire_on"})
DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%Y%m%d%H%M%S")


def constant_problem(name: str, value: str) -> str | None:
    """Why the field refuses the constant on every row, or None when it takes it."""
    if name in FIXED:
        fixed = FIXED[name]
        if fixed.read(value) is not None:
            return None
        if name == "currency":
            return tr("import.map.unknown_currency")
        return tr("import.map.not_one_of", values=spoken_list([fixed.label(v) for v in fixed.values()]))
    check = VALUE_CHECKS.get(name)
    try:
        if check is not None:
            check(value)
    except cells.BadValue as exc:  # the catalog's sentence for it (the English names the format)
        return exc.field_error(name).text(language())
    except ValueError as exc:
        return str(exc)
    return None


def constant_problems(mapping: Mapping) -> list[tuple[str, str, str]]:
    """(field, value, why) for each constant its field would refuse on every row."""
    found = ((name, value, constant_problem(name, value)) for name, value in mapping.constants.items())
    return [(name, value, why) for name, value, why in found if why is not None]
