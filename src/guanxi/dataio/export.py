"""Customer lists out: CSV (UTF-8 with a BOM, so Excel reads Chinese) or XLSX, streamed page by
page from the same service calls as the API's list (`customers.service.list_customers`) or a
segment's members (`marketing.segments.members`), so scope and masking are exactly the API's.

Cells that a spreadsheet would read as a formula (starting with = + - @ tab or CR) get a leading
apostrophe (and XLSX cells are typed as text), so an exported "=HYPERLINK(...)" name is shown,
never run. Every export is audited: who, the filter, the format and the number of rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict
from typing import IO, Any

from sqlalchemy.orm import Session

from guanxi.auth import permissions
from guanxi.auth import service as auth_service
from guanxi.customers import service as customers
from guanxi.customers.schemas import CustomerOut
from guanxi.customers.service import CustomerFilter
from guanxi.dataio.values import neutralise
from guanxi.kit.errors import FieldError, ValidationFailed
from guanxi.kit.pagination import PageRequest
from guanxi.kit.principal import Principal
from guanxi.kit.text import strip_control
from guanxi.marketing import segments
from guanxi.privacy import audit

FORMATS = ("csv", "xlsx")
COLUMNS = (
    "member_no",
    "name",
    "gender",
    "birthday",
    "phone",
    "email",
    "province",
    "city",
    "region",
    "source_channel",
    "tags",
    "created_at",
)
PAGE = 500
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _cells(item: CustomerOut) -> list[str]:
    values: dict[str, Any] = item.model_dump()
    out = []
    for column in COLUMNS:
        value = values.get(column)
        if column == "tags":
            text = ",".join(value or [])
        elif value is None:
            text = ""
        elif hasattr(value, "isoformat"):
            text = value.isoformat()
        else:
            text = str(value)
        # Text stored before control characters were refused (or written by an import) would
        # stop an XLSX midway: they are left out of every cell, then formulas are neutralised.
        out.append(neutralise(strip_control(text)))
    return out


def _rows(session: Session, actor: Principal, flt: CustomerFilter, segment_id: str | None) -> Iterator[list[str]]:
    cursor: str | None = None
    while True:
        if segment_id:
            page = segments.members(session, actor, segment_id, limit=PAGE, cursor=cursor)
        else:
            page = customers.list_customers(session, actor, flt, PageRequest(limit=PAGE, cursor=cursor))
        for item in page.items:
            yield _cells(item)
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValidationFailed(
            message=f"format: must be one of {', '.join(FORMATS)}",
            errors=[FieldError("format", f"must be one of {', '.join(FORMATS)}", "invalid_format")],
        )
    return fmt


def export_customers(
    session: Session,
    actor: Principal,
    out: IO[bytes],
    *,
    flt: CustomerFilter | None = None,
    fmt: str = "csv",
    segment_id: str | None = None,
) -> int:
    """Write the customers to `out`; returns the number of rows. Audited as `customer.export`."""
    auth_service.require(actor, "customers", "export")
    check_format(fmt)
    flt = flt or CustomerFilter()
    rows = _rows(session, actor, flt, segment_id)
    count = _write_csv(out, rows) if fmt == "csv" else _write_xlsx(out, rows)
    # Which filters were used, never their values: a search term or a city can identify a person.
    used = sorted(k for k, v in asdict(flt).items() if v)
    audit.record(
        session,
        actor,
        "customer.export",
        entity_type="segment" if segment_id else "customer",
        entity_id=segment_id,
        fields=list(COLUMNS),
        detail={"filters": used, "format": fmt, "rows": count, "visibility": permissions.visibility(actor).value},
    )
    return count


def _write_csv(out: IO[bytes], rows: Iterator[list[str]]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow(COLUMNS)
        count = 0
        for row in rows:
            writer.writerow(row)
            count += 1
        text.flush()
    finally:
        # Hand `out` back even on a failure: a wrapper left to the garbage collector closes it.
        text.detach()
    return count


def _write_xlsx(out: IO[bytes], rows: Iterator[list[str]]) -> int:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook(write_only=True)
    try:
        return _fill_xlsx(book, out, rows)
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


def _fill_xlsx(book: Any, out: IO[bytes], rows: Iterator[list[str]]) -> int:
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]

    sheet = book.create_sheet("customers")
    sheet.append(list(COLUMNS))
    count = 0
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # text, never a formula
            cells.append(cell)
        sheet.append(cells)
        count += 1
    book.save(out)
    return count
