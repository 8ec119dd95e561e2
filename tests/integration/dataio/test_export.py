"""Customer exports: CSV with a BOM and XLSX, masking per role, formula injection, audit."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from guanxi.customers.listing import CustomerFilter
from guanxi.dataio import export
from guanxi.kit.db import Database
from guanxi.kit.errors import PermissionDenied
from guanxi.kit.principal import SYSTEM, Principal
from tests.api.helpers import audit_records, table_counts
from tests.factories import create_customer, staff_principal


def _seed(db: Database) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="张伟", phone="13800138000", email="zhangwei@example.com", city="上海")
        create_customer(session, name="李娜", phone="13900139000", city="北京", tags=["=1+1", "vip"])


def _export(db: Database, actor: Principal, fmt: str = "csv", **flt: Any) -> bytes:
    out = io.BytesIO()
    with db.unit_of_work() as session:
        export.export_customers(session, actor, out, flt=CustomerFilter(**flt), fmt=fmt)
    return out.getvalue()


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM and shows Chinese correctly
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_admin_sees_full_values_neutralised_against_formulas(db: Database) -> None:
    _seed(db)
    rows = _csv_rows(_export(db, SYSTEM))
    by_name = {r["name"]: r for r in rows}
    assert sorted(by_name) == ["张伟", "李娜"]
    assert by_name["张伟"]["phone"] == "'+8613800138000"  # "+..." would be read as a formula
    assert by_name["张伟"]["email"] == "zhangwei@example.com"
    assert by_name["李娜"]["tags"] == "'=1+1,vip"
    assert list(rows[0]) == list(export.COLUMNS)


def test_marketing_sees_masked_values(db: Database) -> None:
    _seed(db)
    marketing = staff_principal(db, username="mkt", role="marketing")
    rows = {r["name"]: r for r in _csv_rows(_export(db, marketing))}
    assert rows["张伟"]["phone"] == "138****8000"
    assert rows["张伟"]["email"] == "zh***@example.com"


def test_filter_and_xlsx(db: Database) -> None:
    _seed(db)
    data = _export(db, SYSTEM, fmt="xlsx", city="北京")
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == list(export.COLUMNS)
    assert len(values) == 2
    assert values[1][1] == "李娜"
    assert values[1][10] == "=1+1,vip"  # a string cell: shown as it is stored, never evaluated


def test_formula_names_and_bare_formula_cells_never_run_in_xlsx(db: Database) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="Eve", phone="13700137000", city="@SUM(A1)")
    data = _export(db, SYSTEM, fmt="xlsx")
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    cell = sheet.cell(row=2, column=8)
    assert cell.value == "@SUM(A1)" and cell.data_type == "s" and cell.quotePrefix


def test_roles_without_export_are_refused_and_nothing_is_written(db: Database) -> None:
    _seed(db)
    analyst = staff_principal(db, username="ana", role="analyst")
    before = table_counts(db)
    with pytest.raises(PermissionDenied):
        _export(db, analyst)
    assert table_counts(db) == before


def test_every_export_is_audited_without_personal_values(db: Database) -> None:
    _seed(db)
    marketing = staff_principal(db, username="mkt", role="marketing")
    _export(db, marketing, city="上海", phone="13800138000")
    (record,) = audit_records(db, "customer.export")
    assert record.actor_name == "mkt"
    assert record.detail == {
        "filters": ["city", "phone"],
        "format": "csv",
        "rows": 1,
        "visibility": "masked",
    }


def test_bad_format(db: Database) -> None:
    from guanxi.kit.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="format"):
        _export(db, SYSTEM, fmt="pdf")
