"""The import page shows what a kept row drops in its preview, and when a (dry) run ends, every
update and conflict field by field (the field's name, the customer's value -> the file's) and the
dropped values by kind."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User
from sqlalchemy import select

from guanxi.customers.models import Customer
from guanxi.kit.db import Database
from tests.console.conftest import MAIN_FILE, login
from tests.console.dataio.test_imports_page import _wait_job
from tests.factories import create_customer, create_staff

pytestmark = pytest.mark.nicegui_main_file(MAIN_FILE)

FILE = "姓名,手机号,城市,性别\n王五,13800138000,北京市,\n李娜,13900139000,杭州,#N/A\n".encode()


def _table(console: User, marker: str) -> ui.table:
    (table,) = console.find(marker=marker).elements
    assert isinstance(table, ui.table)
    return table


async def test_a_dry_run_shows_the_conflict_field_by_field_and_the_dropped_values(db: Database, console: User) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
        city = create_customer(session, name="张伟", phone="13800138000", city="上海市").city
    await login(console, "boss")
    await console.open("/imports")
    await console.should_see(marker="import-upload", retries=30)
    (upload,) = console.find(marker="import-upload").elements
    assert isinstance(upload, ui.upload)
    await upload.handle_uploads([SmallFileUpload("members.csv", "text/csv", FILE)])
    await console.should_see(marker="import-mapping", retries=30)
    console.find(marker="import-preview").click()
    await console.should_see(marker="import-preview-table", retries=30)
    assert [(r["line"], r["verdict"]) for r in _table(console, "import-preview-table").rows] == [
        (2, "正常"),
        (3, "正常，已舍弃错误值：性别：须为 男/女/未知（或 male/female/unknown）"),
    ]
    console.find(marker="import-dry-run").click()
    console.find(marker="import-run").click()
    job = await _wait_job(db)
    assert (job.dry_run, job.created, job.updated, job.conflicts) == (True, 1, 0, 1)
    await console.should_see(marker="import-changes", retries=50)
    assert [(r["line"], r["outcome"], r["field"], r["change"]) for r in _table(console, "import-changes").rows] == [
        (2, "冲突，未写入", "姓名", "张伟 → 王五"),
        (2, "冲突，未写入", "城市", f"{city} → 北京市"),
    ]
    await console.should_see("因冲突未写入：1")
    await console.should_see("性别：须为 男/女/未知（或 male/female/unknown）（1 行）")
    with db.unit_of_work(read_only=True) as session:
        assert [c.name for c in session.scalars(select(Customer))] == ["张伟"]


PROBLEMS = (
    "姓名,手机号,生日,性别\n"
    "张伟,13800138000,1990-02-30,男\n"
    "李娜,13900139000,1991-01-01,#N/A\n"
    "王芳,12345,1992-13-01,未知\n"
).encode()


def _lines(console: User, marker: str) -> list[str]:
    (column,) = console.find(marker=marker).elements
    return [child.text for child in column.default_slot.children if isinstance(child, ui.label)]


async def test_a_chinese_report_says_why_each_value_was_dropped_and_each_row_refused(
    db: Database, console: User
) -> None:
    with db.unit_of_work() as session:
        create_staff(session, username="boss", role="admin")
    await login(console, "boss")
    await console.open("/imports")
    await console.should_see(marker="import-upload", retries=30)
    (upload,) = console.find(marker="import-upload").elements
    assert isinstance(upload, ui.upload)
    await upload.handle_uploads([SmallFileUpload("members.csv", "text/csv", PROBLEMS)])
    await console.should_see(marker="import-mapping", retries=30)
    console.find(marker="import-run").click()
    job = await _wait_job(db)
    assert (job.created, job.rejected) == (2, 1)
    await console.should_see(marker="import-refusals", retries=50)
    assert _lines(console, "import-refusals") == [
        "手机号：不是有效的手机号码（1 行）",
        "生日：不是真实存在的日期（1 行）",
    ]
    assert _lines(console, "import-warnings") == [
        "生日：不是真实存在的日期（1 行）",
        "性别：须为 男/女/未知（或 male/female/unknown）（1 行）",
    ]
    with db.unit_of_work(read_only=True) as session:
        assert sorted(c.name for c in session.scalars(select(Customer))) == ["张伟", "李娜"]
