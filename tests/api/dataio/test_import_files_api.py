"""Over the API: an upload is gone once its job ends, the refused rows download as the CSV the
importer wrote (from their sealed copy) until they expire, then 410 `errors_file_expired`;
exports leave no file behind."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient

from guanxi.dataio import files, service
from guanxi.kit import clock, sealed
from guanxi.kit.db import Database
from tests.api.helpers import assert_problem, audit_records, exported, table_counts
from tests.factories import token_headers

DATA = "姓名,手机号,城市\n张伟,13800138000,上海\n王芳,12345,广州\n"


def _upload(client: TestClient, headers: dict[str, str]) -> str:
    response = client.post(
        "/api/v1/imports", headers=headers, files={"file": ("c.csv", DATA.encode("gbk"))}, data={"kind": "customers"}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_the_upload_goes_and_the_refused_rows_expire(
    db: Database, client: TestClient, admin_headers: dict[str, str], worker: None
) -> None:
    job_id = _upload(client, admin_headers)
    folder = service.job_dir(job_id)
    assert sorted(p.name for p in folder.iterdir()) == ["errors.csv"]  # the upload is gone
    assert sealed.is_sealed(folder / "errors.csv")
    done = client.get(f"/api/v1/imports/{job_id}", headers=admin_headers).json()
    finished = clock.now()
    assert (done["status"], done["errors_file"], done["errors_file_expired"]) == (
        "done",
        f"/api/v1/imports/{job_id}/errors",
        False,
    )
    expires = done["errors_expires_at"]
    assert expires is not None
    response = client.get(done["errors_file"], headers=admin_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="import-{job_id}-errors.csv"'
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")))) == [
        ["line", "姓名", "手机号", "城市", "error"],
        ["3", "王芳", "12345", "广州", "phone: is not a valid phone number (got '12345')"],
    ]

    with clock.frozen(finished + timedelta(days=7, minutes=1)):
        assert files.purge(db).errors_files == 1
        admin_headers = token_headers(client, "admin")  # a week later: signed in again
        before = table_counts(db)
        expired = client.get(f"/api/v1/imports/{job_id}", headers=admin_headers).json()
        assert (expired["errors_file"], expired["errors_file_expired"], expired["rejected"]) == (None, True, 1)
        problem = assert_problem(
            client.get(f"/api/v1/imports/{job_id}/errors", headers=admin_headers), 410, "errors_file_expired"
        )
        assert "errors file expired" in problem["detail"]
        assert table_counts(db) == before  # the refusal writes nothing
    assert not folder.exists()
    assert [r.action for r in audit_records(db) if r.action.startswith("import.")] == [
        "import.create",
        "import.finish",
        "import.errors_download",
        "import.files_purged",
    ]


def test_an_export_leaves_no_file(
    db: Database, client: TestClient, admin_headers: dict[str, str], worker: None
) -> None:
    _upload(client, admin_headers)
    response = exported(client, admin_headers, {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(r["name"], r["phone"]) for r in rows] == [("张伟", "'+8613800138000")]
    assert list(files.exports_dir().iterdir()) == []
