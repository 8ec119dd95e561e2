"""`guanxi export customers`: a report in the operator's language, masked unless an administrator
asks for full values with --unmasked (audited), refusals that write nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import load_workbook  # type: ignore[import-untyped]
from typer.testing import CliRunner

from guanxi.auth.permissions import Role
from guanxi.cli.export import least_privileged_exporter
from guanxi.cli.main import app
from guanxi.kit.db import Database
from guanxi.kit.i18n import t
from tests.api.helpers import audit_records
from tests.factories import create_customer, create_staff

runner = CliRunner()


def _seed(db: Database) -> None:
    with db.unit_of_work() as session:
        create_customer(session, name="张伟", phone="13800138000", gender="female", city="上海")
        create_customer(session, name="李娜", phone="13900139000", city="北京")
        create_staff(session, username="boss", role="admin")
        create_staff(session, username="mkt", role="marketing")


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_without_as_the_report_is_masked_as_the_least_privileged_exporter(db: Database, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "all.csv"
    result = runner.invoke(app, ["export", "customers", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert t("export.cli_done", "zh-CN", count=2, path=out) in result.output
    assert t("export.cli_masked", "zh-CN", role="市场") in result.output
    header, *rows = _csv(out)
    assert header[:5] == ["会员号", "姓名", "性别", "生日", "手机"]
    assert sorted((row[1], row[2], row[4]) for row in rows) == [
        ("张伟", "女", "138****8000"),
        ("李娜", "未知", "139****9000"),
    ]
    (record,) = audit_records(db, "customer.export")
    assert (record.actor_id, record.actor_role, record.actor_kind) == ("cli", "marketing", "system")
    assert record.detail == {"filters": [], "format": "csv", "rows": 2, "visibility": "masked", "language": "zh-CN"}


def test_the_least_privileged_exporter_is_marketing() -> None:
    # Admin sees everything; manager and marketing see masked values, marketing with fewer grants.
    assert least_privileged_exporter() is Role.MARKETING


def test_lang_en_and_a_city_filter(db: Database, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "sh.xlsx"
    result = runner.invoke(app, ["export", "customers", "--out", str(out), "--lang", "en", "--city", "上海"])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out).worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:5] == ["Member no.", "Name", "Gender", "Birthday", "Phone"]
    assert [(row[1], row[2], row[4]) for row in rows[1:]] == [("张伟", "Female", "138****8000")]


def test_unmasked_for_an_administrator_is_full_and_audited_with_the_row_count(db: Database, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "full.xlsx"
    result = runner.invoke(app, ["export", "customers", "--out", str(out), "--as", "boss", "--unmasked"])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out).worksheets[0]
    phones = sorted((row[4].value, row[4].data_type) for row in sheet.iter_rows(min_row=2))
    assert phones == [("+8613800138000", "s"), ("+8613900139000", "s")]  # text, no apostrophe
    (record,) = audit_records(db, "customer.export")
    assert (record.actor_name, record.actor_role) == ("boss", "admin")
    assert record.detail == {
        "filters": [],
        "format": "xlsx",
        "rows": 2,
        "visibility": "full",
        "language": "zh-CN",
        "unmasked": True,
    }


def test_unmasked_is_refused_for_a_user_who_is_not_an_administrator(db: Database, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "x.csv"
    result = runner.invoke(app, ["export", "customers", "--out", str(out), "--as", "mkt", "--unmasked"])
    assert result.exit_code == 2
    assert (
        result.output
        == t("cli.error", "zh-CN", message=t("export.cli_unmasked_not_admin", "zh-CN", user="mkt", role="市场")) + "\n"
    )
    assert not out.exists() and not out.with_name("x.csv.part").exists()
    assert audit_records(db, "customer.export") == []
    (denied,) = audit_records(db, "permission.denied")
    assert (denied.actor_name, denied.outcome) == ("mkt", "denied")
    assert denied.detail == {"via": "cli", "resource": "customers", "action": "export_unmasked"}


def test_unmasked_without_as_and_an_administrator_without_unmasked_are_refused(db: Database, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "x.csv"
    alone = runner.invoke(app, ["export", "customers", "--out", str(out), "--unmasked"])
    assert alone.exit_code == 2
    assert alone.output == t("cli.error", "zh-CN", message=t("export.cli_unmasked_needs_as", "zh-CN")) + "\n"
    admin = runner.invoke(app, ["export", "customers", "--out", str(out), "--as", "boss"])
    assert admin.exit_code == 2
    assert (
        admin.output
        == t("cli.error", "zh-CN", message=t("export.cli_admin_needs_unmasked", "zh-CN", user="boss")) + "\n"
    )
    assert not out.exists()
    assert audit_records(db, "customer.export") == [] and audit_records(db, "permission.denied") == []


def test_as_a_masked_user_exports_as_they_see_it(db: Database, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "mkt.csv"
    result = runner.invoke(app, ["export", "customers", "--out", str(out), "--as", "mkt", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert sorted(row[4] for row in _csv(out)[1:]) == ["138****8000", "139****9000"]
    (record,) = audit_records(db, "customer.export")
    assert record.actor_name == "mkt" and record.detail["visibility"] == "masked"


def test_an_unknown_user_or_language_is_refused_and_nothing_is_written(db: Database, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "x.csv"
    nobody = runner.invoke(app, ["export", "customers", "--out", str(out), "--as", "nobody"])
    assert nobody.exit_code == 2
    assert nobody.output == t("cli.error", "zh-CN", message=t("export.cli_no_user", "zh-CN", user="nobody")) + "\n"
    french = runner.invoke(app, ["export", "customers", "--out", str(out), "--lang", "fr"])
    assert french.exit_code == 2
    assert french.output == "错误：未知语言“fr”：请选择 zh-CN 或 en\n"
    assert not out.exists() and not out.with_name("x.csv.part").exists()
    assert audit_records(db, "customer.export") == []


def test_export_to_a_missing_directory_is_a_sentence_not_a_traceback(db: Database, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "missing" / "x.csv"
    result = runner.invoke(app, ["export", "customers", "--out", str(out)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output == f"错误：无法使用文件 {out.parent}：文件或目录不存在。\n"
    assert "Traceback" not in result.output
    assert not (tmp_path / "missing").exists()
