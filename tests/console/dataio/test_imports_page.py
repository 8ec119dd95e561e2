"""Console import and export: upload -> mapping (recognised headers preselected) -> preview with
verdicts -> background job with progress and counts; export from the customer list."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import select

from guanxi.customers.models import Customer
from guanxi.dataio import export
from guanxi.dataio.models import ImportJob
from guanxi.kit.db import Database
from guanxi.kit.principal import Principal
from tests.api.helpers import audit_records
from tests.console.conftest import MAIN_FILE, login
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)

FILE = "客户姓名,手机号码,城市,备注\n张伟,13800138000,上海,老客\n王芳,12345,广州,\n".encode("gbk")


async def _wait_job(db: Database) -> ImportJob:
    for _ in range(100):
        with db.unit_of_work(read_only=True) as session:
            job = session.scalar(select(ImportJob))
            if job is not None and job.status in ("done", "failed"):
                session.expunge(job)
                return job
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def test_upload_map_preview_and_run(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
    await login(console, "boss")
    console.find(marker="nav-imports").click()
    await console.should_see(marker="import-upload", retries=30)
    (upload,) = console.find(marker="import-upload").elements
    assert isinstance(upload, ui.upload)
    await upload.handle_uploads([SmallFileUpload("members.csv", "text/csv", FILE)])
    await console.should_see(marker="import-mapping", retries=30)
    selects: dict[str, Any] = {
        m: console.find(marker=f"map-{m}").elements.pop() for m in ("客户姓名", "手机号码", "城市", "备注")
    }
    assert {k: s.value for k, s in selects.items()} == {
        "客户姓名": "name",
        "手机号码": "phone",
        "城市": "city",
        "备注": "-",
    }
    console.find(marker="import-preview").click()
    await console.should_see(marker="import-preview-table", retries=30)
    (table,) = console.find(marker="import-preview-table").elements
    assert isinstance(table, ui.table)
    assert [(r["line"], r["verdict"]) for r in table.rows] == [
        (2, "正常"),
        (3, "手机号：不是有效的手机号码"),
    ]
    console.find(marker="import-run").click()
    job = await _wait_job(db)
    assert (job.status, job.created, job.rejected) == ("done", 1, 1)
    await console.should_see("新建 1，更新 0，未变 0，拒绝 1", retries=50)
    await console.should_see(marker="import-errors", retries=30)
    with db.unit_of_work(read_only=True) as session:
        assert [c.name for c in session.scalars(select(Customer))] == ["张伟"]
    (history,) = console.find(marker="import-jobs").elements
    assert isinstance(history, ui.table)
    for _ in range(100):  # the history refreshes itself while the job runs
        if history.rows and history.rows[0]["status"] == "已完成":
            break
        await asyncio.sleep(0.05)
    assert [(r["file_name"], r["status"], r["created"], r["rejected"]) for r in history.rows] == [
        ("members.csv", "已完成", "1", "1")
    ]
    (total,) = console.find(marker="import-pager-total").elements
    assert isinstance(total, ui.label) and total.text == "共 1 条"


async def test_the_column_legend_names_each_field_and_marks_the_required(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
    await login(console, "boss")
    await console.open("/imports")
    await console.should_see(marker="import-legend", retries=30)
    (legend,) = console.find(marker="import-legend-table").elements
    assert isinstance(legend, ui.table)
    rows = {r["key"]: r for r in legend.rows}
    assert (rows["phone"]["label"], rows["phone"]["need"]) == ("手机号", "识别客户（至少一项）")
    assert rows["birthday"]["help"] == "日期，例如 1990-05-01"
    (kind,) = console.find(marker="import-kind").elements
    with console:
        kind.value = "orders"
    rows = {r["key"]: r for r in legend.rows}
    assert [r["key"] for r in legend.rows][:3] == ["external_id", "paid_amount", "occurred_at"]
    assert (rows["external_id"]["label"], rows["external_id"]["need"]) == ("订单号", "必填")
    assert rows["external_id"]["help"] == "订单号，订单号相同的多行合并为一笔订单"


class _Downloads:
    """Stands in for `ui.download` and keeps each file's bytes and name, in whichever form the
    page hands them over (bytes or a path)."""

    def __init__(self) -> None:
        self.files: list[tuple[bytes, str | None]] = []

    def __call__(self, src: str | Path | bytes, filename: str | None = None, media_type: str = "") -> None:
        if isinstance(src, bytes):
            self.files.append((src, filename))
        else:
            self.files.append((Path(src).read_bytes(), filename))
            Path(src).unlink()

    def content(self, content: bytes | str, filename: str | None = None, media_type: str = "") -> None:
        self.files.append((content.encode() if isinstance(content, str) else content, filename))

    def file(self, path: str | Path, filename: str | None = None, media_type: str = "") -> None:
        self(path, filename)


async def test_export_from_the_customer_list(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="mkt", role="marketing")
        create_customer(session, name="张伟", phone="13800138000", city="上海")
    await login(console, "mkt")
    await console.open("/customers")
    console.find(marker="export-customers").click()
    await console.should_see(marker="export-card", retries=30)
    downloads = _Downloads()
    console.download = downloads  # type: ignore[assignment]
    console.find(marker="export-run").click()
    await console.should_see("已导出 1 位客户", retries=30)
    ((data, name),) = downloads.files
    book = load_workbook(io.BytesIO(data))  # not read-only: that mode drops a row's empty cells at its end
    header, *rows = [list(row) for row in book["客户"].iter_rows(values_only=True)]
    # A report in the console's language, with the member's figures (marketing may read loyalty).
    layout = export.layout_for(marketing_reader(), "zh-CN")
    assert (name, header) == ("customers.xlsx", layout.headers())
    (row,) = [dict(zip(header, values, strict=True)) for values in rows]
    assert (row["姓名"], row["手机"], row["性别"]) == ("张伟", "138****8000", "未知")  # masked for marketing
    (record,) = audit_records(db, "customer.export")
    assert (record.actor_name, record.entity_type, record.fields) == ("mkt", "customer", sorted(layout.fields))
    assert record.detail == {"filters": [], "format": "xlsx", "rows": 1, "visibility": "masked", "language": "zh-CN"}


def marketing_reader() -> Principal:
    return Principal(id="mkt", name="mkt", role="marketing")


async def test_an_english_speaking_user_exports_in_english(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="mkt", role="marketing").language = "en"
        create_customer(session, name="张伟", phone="13800138000", gender="female")
    await login(console, "mkt")
    await console.open("/exports")
    await console.should_see(marker="export-card", retries=30)
    downloads = _Downloads()
    console.download = downloads  # type: ignore[assignment]
    console.find(marker="export-run").click()
    await console.should_see("Exported 1 customers", retries=30)
    ((data, _),) = downloads.files
    book = load_workbook(io.BytesIO(data))
    header, row = [list(r) for r in book["Customers"].iter_rows(values_only=True)]
    assert header == export.layout_for(marketing_reader(), "en").headers()
    assert (row[1], row[2], row[4]) == ("张伟", "Female", "138****8000")


async def test_roles_without_import_permission_see_a_notice(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="aud", role="auditor")
    await login(console, "aud")
    await console.open("/imports")
    await console.should_see("您的角色无权导入数据。", retries=30)
    await console.should_see(marker="import-jobs")
