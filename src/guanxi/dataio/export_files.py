"""Rows of an export written as CSV or XLSX.

CSV is text only: a text cell that a spreadsheet would read as a formula (= + - @ tab CR) gets a
leading apostrophe, the one defence a CSV has; numbers are plain digits, so Excel reads them as
numbers; a report's dates and times are written as its language writes them (Babel).

XLSX cells are typed. Text is a string cell, which no spreadsheet evaluates: it keeps its value
exactly (+8613800138000, "=cmd"), with no apostrophe, and one that starts like a formula is
marked quote-prefixed as well, so editing it in Excel keeps it text. Counts and amounts are
number cells and times and dates date cells, each with a number format.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from babel import Locale
from babel.dates import format_date, format_datetime

from guanxi.dataio.export_columns import Column, Kind, Layout, Value
from guanxi.dataio.values import FORMULA_STARTS, neutralise
from guanxi.kit import i18n

NUMBER_FORMATS = {
    Kind.COUNT: "#,##0",
    Kind.MONEY: "#,##0.00",
    Kind.NUMBER: "0.00",
    Kind.DATE: "yyyy-mm-dd",
    Kind.TIME: "yyyy-mm-dd hh:mm",
}
# Rough widths (characters) by what a column holds; a CJK character is about two.
WIDTHS = {Kind.TEXT: 18, Kind.LABEL: 10, Kind.DATE: 12, Kind.TIME: 17, Kind.COUNT: 10, Kind.MONEY: 13, Kind.NUMBER: 10}
WIDE_TEXT = {"email": 26, "tags": 24, "phone": 17}


class CsvText:
    """How a report's values read in a CSV, in its language."""

    def __init__(self, language: str | None) -> None:
        self.locale = Locale.parse(language or i18n.DEFAULT_LANGUAGE, sep="-")
        # The locale's own way of joining a medium date and a short time ("2024年5月1日 14:30").
        self.time_pattern = (
            str(self.locale.datetime_formats["medium"])
            .replace("{1}", self.locale.date_formats["medium"].pattern)
            .replace("{0}", self.locale.time_formats["short"].pattern)
        )

    def __call__(self, value: Value) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return neutralise(value)
        if isinstance(value, datetime):
            return format_datetime(value, self.time_pattern, tzinfo=value.tzinfo, locale=self.locale)
        if isinstance(value, date):
            return format_date(value, "medium", locale=self.locale)
        if isinstance(value, Decimal):
            return f"{value:.2f}"
        return str(value)


def write_csv(out: IO[bytes], layout: Layout, rows: Iterable[list[Value]]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    as_text = CsvText(layout.language)
    try:
        writer = csv.writer(text)
        writer.writerow(layout.headers())
        count = 0
        for row in rows:
            writer.writerow([as_text(value) for value in row])
            count += 1
        text.flush()
    finally:
        # Hand `out` back even on a failure: a wrapper left to the garbage collector closes it.
        text.detach()
    return count


def write_xlsx(out: IO[bytes], layout: Layout, rows: Iterable[list[Value]]) -> int:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook(write_only=True)
    try:
        return _fill_xlsx(book, out, layout, rows)
    except BaseException:
        _discard(book)
        raise


def _discard(book: Any) -> None:
    """Close a write-only workbook that failed midway. Each sheet's row generator writes into an
    open temporary file: ended now, in order (rows, then the file's stream), it closes cleanly;
    left to the garbage collector it writes into a file already closed, and the file, which holds
    customer data, stays on disk until the process exits."""
    for sheet in book.worksheets:
        rows, writer = getattr(sheet, "_rows", None), getattr(sheet, "_writer", None)
        if rows is not None:
            rows.close()
        if writer is not None:
            writer.close()
            writer.cleanup()


def _fill_xlsx(book: Any, out: IO[bytes], layout: Layout, rows: Iterable[list[Value]]) -> int:
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    report = layout.language is not None
    sheet = book.create_sheet(i18n.t("export.sheet", layout.language) if layout.language else "customers")
    columns = layout.columns
    if report:
        sheet.freeze_panes = "A2"
        for index, column in enumerate(columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = _width(column)
    bold = Font(bold=True)
    headers = []
    for title in layout.headers():
        cell = _text_cell(WriteOnlyCell, sheet, title)
        if report:
            cell.font = bold
        headers.append(cell)
    sheet.append(headers)
    count = 0
    for row in rows:
        sheet.append([_cell(WriteOnlyCell, sheet, column, value) for column, value in zip(columns, row, strict=True)])
        count += 1
    book.save(out)
    return count


def _cell(cell_type: Any, sheet: Any, column: Column, value: Value) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return _text_cell(cell_type, sheet, value)
    if isinstance(value, datetime):
        # A spreadsheet time has no zone: the local wall-clock time (the zone is in the docs).
        value = value.replace(tzinfo=None)
    cell = cell_type(sheet, value=value)
    cell.number_format = NUMBER_FORMATS.get(column.kind, "General")
    return cell


def _text_cell(cell_type: Any, sheet: Any, value: str) -> Any:
    cell = cell_type(sheet, value=value)
    # openpyxl takes a value starting with "=" for a formula; typed as a string it is one no
    # spreadsheet evaluates, and the quote prefix keeps it text when someone edits it in Excel.
    cell.data_type = "s"
    if value.startswith(FORMULA_STARTS):
        cell.quotePrefix = True
    return cell


def _width(column: Column) -> int:
    return WIDE_TEXT.get(column.field, WIDTHS[column.kind])
