"""A rate table as a CSV file: UTF-8 (with or without a byte-order mark), a header line naming
the columns in English or Chinese, then one rate per line.

    currency,rate,valid_from,valid_to          币种,汇率,生效日期,失效日期
    USD,7.1234,2026-01-01,                     USD,7.1234,2026-01-01,

Columns may come in any order; valid_to / 失效日期 may be left out. A column the table does not
know is refused rather than ignored, so a misspelt valid_to cannot silently make rates open-ended.
"""

from __future__ import annotations

import csv
import io

from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.i18n import t
from guanxi.loyalty.currency.rows import RawRate, RowRef

COLUMNS = {
    "currency": "currency",
    "币种": "currency",
    "rate": "rate",
    "汇率": "rate",
    "valid_from": "valid_from",
    "生效日期": "valid_from",
    "valid_to": "valid_to",
    "失效日期": "valid_to",
}
REQUIRED = ("currency", "rate", "valid_from")
_DELIMITERS = (",", "\t", ";")


def _refuse(key: str, language: str, **params: object) -> ValidationFailed:
    message = t(f"currency.csv.{key}", language, **params)
    return ValidationFailed(message=message, errors=[FieldError("file", message, key)])


def _column(header: str) -> str | None:
    name = header.strip().lower().replace(" ", "_").replace("-", "_")
    return COLUMNS.get(name)


def _header(cells: list[str], language: str) -> list[str]:
    names: list[str] = []
    while cells and not cells[-1].strip():  # spreadsheets pad lines with empty cells
        cells = cells[:-1]
    for cell in cells:
        name = _column(cell)
        if name is None:
            raise _refuse("unknown_column", language, column=cell.strip())
        if name in names:
            raise _refuse("duplicate_column", language, column=cell.strip())
        names.append(name)
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise _refuse("missing_columns", language, columns=", ".join(missing))
    return names


def read(data: bytes, language: str) -> tuple[list[RawRate], list[FieldError]]:
    """The file's rows with their line numbers, and the lines whose shape is wrong (more cells
    than the header names). A file that is not UTF-8 text, or whose header is wrong, is refused
    as a whole."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse("not_utf8", language) from None
    first = text.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=first.count) if any(d in first for d in _DELIMITERS) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    names: list[str] | None = None
    rows: list[RawRate] = []
    errors: list[FieldError] = []
    ended = 0
    try:
        for cells in reader:
            line, ended = ended + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if names is None:
                names = _header(cells, language)
                continue
            if any(cell.strip() for cell in cells[len(names) :]):
                message = t("currency.csv.extra_cells", language, columns=len(names))
                errors.append(FieldError(f"line {line}", message, "extra_cells"))
                continue
            values = dict(zip(names, cells, strict=False))
            rows.append(
                RawRate(
                    where=RowRef(line=line),
                    currency=values.get("currency"),
                    rate=values.get("rate"),
                    valid_from=values.get("valid_from"),
                    valid_to=values.get("valid_to"),
                )
            )
    except csv.Error as exc:  # a cell longer than the csv module's limit
        raise _refuse("unreadable", language, line=reader.line_num, reason=str(exc)) from None
    if names is None:
        raise _refuse("empty", language)
    return rows, errors
