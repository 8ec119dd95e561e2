"""The imports API: upload -> 202 job run by the queue -> progress and counts -> refused rows;
bad files refused with specific problem codes and nothing written; saved mappings; exports."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]

from guanxi.dataio import service
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, exported, table_counts
from tests.factories import headers_for

GOOD = "姓名,手机号,城市\n张伟,13800138000,上海\n李娜,13900139000,北京\n王芳,12345,广州\n"


def _folders() -> set[str]:
    root = service.imports_dir()
    return {p.name for p in root.iterdir()} if root.exists() else set()


def _upload(client: TestClient, headers: dict[str, str], data: bytes, name: str = "c.csv", **form: Any) -> Any:
    fields = {"kind": "customers", **{k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()}}
    return client.post("/api/v1/imports", headers=headers, files={"file": (name, data)}, data=fields)


def test_upload_runs_a_job_and_reports(
    db: Database, client: TestClient, admin_headers: dict[str, str], worker: None
) -> None:
    response = _upload(client, admin_headers, GOOD.encode("gbk"))
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/api/v1/imports/{job['id']}"
    assert job["status"] == "queued"
    done = client.get(f"/api/v1/imports/{job['id']}", headers=admin_headers).json()
    assert {k: done[k] for k in ("status", "progress", "rows_read", "created", "updated", "unchanged", "rejected")} == {
        "status": "done",
        "progress": 1.0,
        "rows_read": 3,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
    }
    assert done["reasons"] == {"phone: is not a valid phone number": 1}
    assert done["errors_file"] == f"/api/v1/imports/{job['id']}/errors"
    errors = client.get(done["errors_file"], headers=admin_headers)
    assert errors.status_code == 200
    assert errors.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig"))))
    assert rows == [
        ["line", "姓名", "手机号", "城市", "error"],
        ["4", "王芳", "12345", "广州", "phone: is not a valid phone number (got '12345')"],
    ]
    listed = client.get("/api/v1/imports", headers=admin_headers).json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert [r.action for r in audit_records(db) if r.action.startswith("import.")] == [
        "import.create",
        "import.finish",
        "import.errors_download",
    ]


def test_dry_run_over_the_api(db: Database, client: TestClient, admin_headers: dict[str, str], worker: None) -> None:
    before = table_counts(db)
    job = _upload(client, admin_headers, GOOD.encode(), dry_run=True).json()
    done = client.get(f"/api/v1/imports/{job['id']}", headers=admin_headers).json()
    assert (done["dry_run"], done["created"], done["rejected"]) == (True, 2, 1)
    after = table_counts(db)
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {
        "import_jobs": 1,
        "audit_records": 2,
    }


@pytest.mark.parametrize(
    ("name", "data", "form", "status", "code"),
    [
        ("c.csv", "城市\n上海\n".encode(), {}, 422, "missing_columns"),
        ("c.csv", b"\xe5\xa7\x93\xe5\x90\x8d,\xff\xfe\n", {}, 422, "bad_encoding"),
        ("c.csv", b"", {}, 422, "empty_file"),
        ("c.pdf", b"%PDF-1.4", {}, 422, "unsupported_format"),
        ("c.xlsx", b"PK\x03\x04 not a workbook", {}, 422, "unreadable_file"),
        ("c.csv", GOOD.encode(), {"kind": "pets"}, 422, "unknown_kind"),
        ("c.csv", GOOD.encode(), {"mapping": "{nope"}, 422, "invalid_mapping"),
        (
            "c.csv",
            GOOD.encode(),
            {"mapping": '{"kind": "customers", "columns": {"a": "shoe"}}'},
            422,
            "invalid_mapping",
        ),
    ],
)
def test_bad_files_are_refused_with_specific_codes(
    db: Database,
    client: TestClient,
    admin_headers: dict[str, str],
    worker: None,
    name: str,
    data: bytes,
    form: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = table_counts(db)
    folders = _folders()
    response = _upload(client, admin_headers, data, name, **form)
    assert_problem(response, status, code)
    assert table_counts(db) == before
    assert _folders() == folders  # the upload is not kept either


def test_a_header_read_as_one_column_asks_about_the_delimiter(
    db: Database, client: TestClient, admin_headers: dict[str, str], worker: None
) -> None:
    before = table_counts(db)
    response = _upload(client, admin_headers, "姓名#手机号\n张伟#13800138000\n".encode())
    body = assert_problem(response, 422, "missing_columns")
    assert body["errors"][0] == {
        "field": "file",
        "message": "1 column found in the header line: wrong delimiter?",
        "code": "one_column",
    }
    assert body["detail"].startswith("1 column found in the header line: wrong delimiter?")
    assert table_counts(db) == before


def test_a_pipe_separated_file_imports(
    db: Database, client: TestClient, admin_headers: dict[str, str], worker: None
) -> None:
    data = "姓名|手机号|城市\n张伟|13800138000|上海市\n李娜|13900139000|杭州市\n".encode()
    job = _upload(client, admin_headers, data).json()
    done = client.get(f"/api/v1/imports/{job['id']}", headers=admin_headers).json()
    assert (done["status"], done["created"], done["rejected"]) == ("done", 2, 0)


def test_too_large(
    db: Database, client: TestClient, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from guanxi.config import get_settings

    monkeypatch.setattr(get_settings(), "max_upload_bytes", 40)
    before = table_counts(db)
    response = _upload(client, admin_headers, GOOD.encode())
    assert_problem(response, 413, "file_too_large")
    assert table_counts(db) == before


def test_permissions(db: Database, client: TestClient, worker: None) -> None:
    analyst = headers_for(db, client, "analyst")
    assert_problem(_upload(client, analyst, GOOD.encode()), 403, "permission_denied")
    marketing = headers_for(db, client, "marketing")  # may import events, not customers
    assert_problem(_upload(client, marketing, GOOD.encode()), 403, "permission_denied")
    assert client.get("/api/v1/imports/01M00000000000000000000000", headers=marketing).status_code == 404


def test_errors_file_only_for_the_importer_or_an_admin(
    db: Database, client: TestClient, admin_headers: dict[str, str], worker: None
) -> None:
    job = _upload(client, admin_headers, GOOD.encode()).json()
    manager = headers_for(db, client, "manager", region="华东")
    read = client.get(f"/api/v1/imports/{job['id']}", headers=manager)
    assert read.status_code == 200
    assert read.json() == client.get(f"/api/v1/imports/{job['id']}", headers=admin_headers).json()
    assert_problem(client.get(f"/api/v1/imports/{job['id']}/errors", headers=manager), 403, "permission_denied")
    clean = _upload(client, admin_headers, "姓名,手机号\n张伟,13800138000\n".encode()).json()
    assert_problem(client.get(f"/api/v1/imports/{clean['id']}/errors", headers=admin_headers), 404, "not_found")


def test_saved_mappings_crud_and_use(
    db: Database, client: TestClient, admin_headers: dict[str, str], worker: None
) -> None:
    body = {"name": "老CRM", "mapping": {"kind": "customers", "columns": {"客户": "name", "联系方式": "phone"}}}
    created = client.post("/api/v1/imports/mappings", headers=admin_headers, json=body)
    assert created.status_code == 201, created.text
    mapping_id = created.json()["id"]
    assert_problem(client.post("/api/v1/imports/mappings", headers=admin_headers, json=body), 409, "conflict")
    bad = {"name": "x", "mapping": {"kind": "customers", "columns": {"a": "shoe"}}}
    assert_problem(client.post("/api/v1/imports/mappings", headers=admin_headers, json=bad), 422, "invalid_mapping")
    saved = client.get("/api/v1/imports/mappings", headers=admin_headers).json()
    assert ([m["name"] for m in saved["items"]], saved["next_cursor"]) == (["老CRM"], None)
    job = _upload(client, admin_headers, "客户,联系方式\n张伟,13800138000\n".encode(), mapping_id=mapping_id).json()
    assert client.get(f"/api/v1/imports/{job['id']}", headers=admin_headers).json()["created"] == 1
    renamed = client.put(f"/api/v1/imports/mappings/{mapping_id}", headers=admin_headers, json={"name": "CRM 2019"})
    assert renamed.json()["name"] == "CRM 2019"
    assert client.delete(f"/api/v1/imports/mappings/{mapping_id}", headers=admin_headers).status_code == 204
    assert_problem(client.get(f"/api/v1/imports/mappings/{mapping_id}", headers=admin_headers), 404, "not_found")


def test_export_endpoint(db: Database, client: TestClient, admin_headers: dict[str, str], worker: None) -> None:
    _upload(client, admin_headers, GOOD.encode())
    response = exported(client, admin_headers, {"format": "csv", "city": "上海"})
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["name"], r["phone"]) for r in rows] == [("张伟", "'+8613800138000")]
    assert "attachment" in response.headers["content-disposition"]
    marketing = headers_for(db, client, "marketing")
    masked = exported(client, marketing, {"format": "xlsx"})
    book = load_workbook(io.BytesIO(masked.content), read_only=True)
    header, *values = [list(row) for row in book["customers"].iter_rows(values_only=True)]
    book.close()
    phones = sorted((row[header.index("name")], row[header.index("phone")]) for row in values)
    assert phones == [("张伟", "138****8000"), ("李娜", "139****9000")]  # 王芳's 12345 was refused
    analyst = headers_for(db, client, "analyst")
    assert_problem(client.post("/api/v1/exports/customers", headers=analyst, json={}), 403, "permission_denied")
    assert_problem(
        client.post("/api/v1/exports/customers", headers=admin_headers, json={"format": "pdf"}),
        422,
        "validation_failed",
    )
