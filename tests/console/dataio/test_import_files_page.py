"""Console downloads of refused rows and exports: the same CSV as before, from files that are
sealed or already gone; expired refused rows say so instead of failing."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User

from guanxi.dataio import files, service
from guanxi.dataio.models import ImportJob
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.i18n import t
from tests.console.conftest import MAIN_FILE, login
from tests.console.dataio.test_imports_page import _wait_job
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)

FILE = "客户姓名,手机号码,城市\n张伟,13800138000,上海\n王芳,12345,广州\n".encode("gbk")


async def _run_import(db: Database, console: User) -> ImportJob:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
    await login(console, "boss")
    await console.open("/imports")
    await console.should_see(marker="import-upload", retries=30)
    (upload,) = console.find(marker="import-upload").elements
    assert isinstance(upload, ui.upload)
    await upload.handle_uploads([SmallFileUpload("members.csv", "text/csv", FILE)])
    await console.should_see(marker="import-mapping", retries=30)
    console.find(marker="import-run").click()
    job = await _wait_job(db)
    await console.should_see(marker="import-errors", retries=50)
    return job


async def test_refused_rows_download_as_the_csv_and_the_upload_is_gone(db: Database, console: User) -> None:
    job = await _run_import(db, console)
    assert (job.status, job.created, job.rejected) == ("done", 1, 1)
    assert sorted(p.name for p in service.job_dir(job.id).iterdir()) == ["errors.csv"]
    console.find(marker="import-errors").click()
    response = await console.download.next(timeout=5)
    assert list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")))) == [
        ["行号", "客户姓名", "手机号码", "城市", "拒绝原因"],
        ["3", "王芳", "12345", "广州", "手机号：不是有效的手机号码"],
    ]


async def test_expired_refused_rows_say_so(db: Database, console: User) -> None:
    job = await _run_import(db, console)
    with db.unit_of_work() as session:
        row = session.get(ImportJob, job.id)
        assert row is not None
        row.errors_expires_at = clock.now() - timedelta(seconds=1)
    downloads = len(console.download.http_responses)
    console.find(marker="import-errors").click()
    await console.should_see(marker="import-errors-expired", retries=30)
    await console.should_see(t("import.errors_expired", "zh-CN", days=7), retries=30)
    assert len(console.download.http_responses) == downloads


async def test_an_export_downloads_and_leaves_no_file(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        create_customer(session, name="张伟", phone="13800138000", city="上海")
    await login(console, "boss")
    await console.open("/exports")
    await console.should_see(marker="export-card", retries=30)
    console.find(marker="export-format").elements.pop().value = "csv"
    console.find(marker="export-run").click()
    response = await console.download.next(timeout=5)
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    # A report in the console's language; CSV has no cell types, so a full phone keeps its apostrophe.
    assert [(r["姓名"], r["手机"]) for r in rows] == [("张伟", "'+8613800138000")]
    assert list(files.exports_dir().iterdir()) == []
