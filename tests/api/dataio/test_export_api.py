"""POST /exports/customers (a background run; its file at /runs/{id}/file): the machine-readable
layout by default (the integrators' contract), a report for people with ?lang=zh-CN or ?lang=en."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]

from guanxi.dataio import export
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, exported, table_counts
from tests.factories import create_customer, headers_for

URL = "/api/v1/exports/customers"


def _seed(db: Database) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="张伟", phone="13800138000", gender="female", source_channel="web")


def _csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_without_lang_the_layout_is_the_machine_readable_contract(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    _seed(db)
    response = exported(client, admin_headers, {"format": "csv"})
    header, row = _csv(response.content)
    assert header == list(export.COLUMNS)
    assert (row[2], row[4], row[9]) == ("female", "'+8613800138000", "web")
    assert row[11].endswith("+00:00")  # ISO 8601 in UTC


def test_lang_makes_a_report_in_that_language(db: Database, client: TestClient, admin_headers: dict[str, str]) -> None:
    _seed(db)
    english = exported(client, admin_headers, {"format": "csv"}, {"lang": "en"})
    header, row = _csv(english.content)
    assert header[:5] == ["Member no.", "Name", "Gender", "Birthday", "Phone"] and header[-9] == "Last order at"
    assert (row[2], row[4], row[9]) == ("Female", "'+8613800138000", "Web shop")
    marketing = headers_for(db, client, "marketing")
    chinese = exported(client, marketing, {"format": "xlsx"}, {"lang": "zh-CN"})
    sheet = load_workbook(io.BytesIO(chinese.content))["客户"]
    rows = [[cell.value for cell in r] for r in sheet.iter_rows()]
    assert rows[0][:5] == ["会员号", "姓名", "性别", "生日", "手机"]
    assert (rows[1][2], rows[1][4], rows[1][9]) == ("女", "138****8000", "官网")
    assert [r.detail.get("language") for r in audit_records(db, "customer.export")] == ["en", "zh-CN"]


def test_an_unknown_lang_is_refused_and_nothing_is_exported(
    db: Database, client: TestClient, admin_headers: dict[str, str]
) -> None:
    _seed(db)
    before = table_counts(db)
    response = client.post(f"{URL}?lang=fr", headers=admin_headers, json={"format": "csv"})
    assert_problem(response, 422, "validation_failed", ["lang"])
    assert audit_records(db, "customer.export") == []
    assert table_counts(db) == before  # no background run recorded
