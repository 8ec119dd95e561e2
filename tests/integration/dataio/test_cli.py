"""`guanxi import ...`: output, progress, summary and exit codes (exports: test_export_cli.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.config import get_settings
from guanxi.dataio.models import ImportJob
from guanxi.kit import clock
from guanxi.kit.db import Database
from guanxi.kit.i18n import t

from .support import data_counts, write_csv

runner = CliRunner()
GOOD = "姓名,手机号,城市\n张伟,13800138000,上海\n李娜,13900139000,北京\n"
BAD = GOOD + "王芳,12345,广州\n"


def test_clean_import_exits_zero(db: Database, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "customers", str(write_csv(tmp_path / "c.csv", GOOD, "gbk"))])
    assert result.exit_code == 0, result.output
    assert f"{t('import.cli.created', get_settings().default_language)} │ 2" in result.output
    assert "100%" in result.output


def test_rejected_rows_exit_one_and_the_errors_file_is_written(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "bad.csv"
    source = write_csv(tmp_path / "c.csv", BAD)
    result = runner.invoke(app, ["import", "customers", str(source), "--errors", str(out)])
    assert result.exit_code == 1, result.output
    assert "phone:" not in result.output
    assert "      1  手机号：不是有效的手机号码\n" in result.output
    assert t("import.errors_saved", "zh-CN", path=out) in result.output
    assert out.read_text(encoding="utf-8-sig").splitlines() == [
        "行号,姓名,手机号,城市,拒绝原因",
        "4,王芳,12345,广州,手机号：不是有效的手机号码",
    ]
    # The operator's own file is theirs: the import never deletes it.
    assert source.read_text(encoding="utf-8") == BAD


def test_an_english_operator_reads_the_importers_sentences(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "bad.csv"
    result = runner.invoke(
        app, ["--lang", "en", "import", "customers", str(write_csv(tmp_path / "c.csv", BAD)), "--errors", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert "      1  phone: is not a valid phone number\n" in result.output
    assert out.read_text(encoding="utf-8-sig").splitlines() == [
        "line,姓名,手机号,城市,error",
        "4,王芳,12345,广州,phone: is not a valid phone number (got '12345')",
    ]


def test_refused_rows_are_kept_encrypted_and_opened_on_demand_until_they_expire(db: Database, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "customers", str(write_csv(tmp_path / "c.csv", BAD))])
    assert result.exit_code == 1, result.output
    with db.unit_of_work(read_only=True) as session:
        job = session.scalars(select(ImportJob)).one()
        job_id, stored = job.id, Path(str(job.errors_path))
    assert t("import.errors_hint", "zh-CN", days=7, job=job_id) in result.output
    assert "王芳".encode() not in stored.read_bytes() and b"12345" not in stored.read_bytes()
    out = tmp_path / "refused.csv"
    opened = runner.invoke(app, ["import", "errors", job_id, "--out", str(out)])
    assert opened.exit_code == 0, opened.output
    assert out.read_text(encoding="utf-8-sig").splitlines() == [
        "行号,姓名,手机号,城市,拒绝原因",
        "4,王芳,12345,广州,手机号：不是有效的手机号码",
    ]
    with clock.frozen(clock.now() + timedelta(days=7, seconds=1)):
        purged = runner.invoke(app, ["import", "purge"])
        assert purged.exit_code == 0, purged.output
        assert t("import.purged", "zh-CN", errors_files=1, uploads=0, interrupted=0, orphans=0, exports=0) in (
            purged.output
        )
        late = runner.invoke(app, ["import", "errors", job_id, "--out", str(tmp_path / "late.csv")])
    assert late.exit_code == 2
    assert t("import.errors_expired", "zh-CN", days=7) in late.output
    assert not stored.exists() and not (tmp_path / "late.csv").exists()


def test_dry_run_says_would_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    before = data_counts(db)
    result = runner.invoke(app, ["import", "customers", str(write_csv(tmp_path / "c.csv", GOOD)), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"{t('import.cli.would_create', get_settings().default_language)} │ 2" in result.output
    assert data_counts(db) == before


def test_refused_files_exit_two(db: Database, tmp_path: Path) -> None:
    before = data_counts(db)
    missing = runner.invoke(
        app, ["--lang", "en", "import", "customers", str(write_csv(tmp_path / "c.csv", "城市\n上海\n"))]
    )
    assert missing.exit_code == 2
    assert "at least one of these columns is needed" in missing.output
    bad = tmp_path / "x.csv"
    bad.write_bytes(b"\xe5\xa7\x93\xe5\x90\x8d,\xff\xfe\n")
    encoding = runner.invoke(app, ["--lang", "en", "import", "customers", str(bad)])
    assert encoding.exit_code == 2
    assert "line 1" in encoding.output
    nofile = runner.invoke(app, ["import", "orders", str(tmp_path / "none.csv")])
    assert nofile.exit_code == 2
    assert data_counts(db) == before


def test_mapping_file_and_saved_mapping(db: Database, tmp_path: Path) -> None:
    mapping = tmp_path / "crm.json"
    mapping.write_text(json.dumps({"kind": "customers", "columns": {"客户": "name", "联系方式": "phone"}}))
    path = write_csv(tmp_path / "c.csv", "客户,联系方式\n张伟,13800138000\n")
    result = runner.invoke(app, ["import", "customers", str(path), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    unknown = runner.invoke(app, ["import", "customers", str(path), "--mapping", "no-such-mapping"])
    assert unknown.exit_code == 2
    assert "没有名为 no-such-mapping 的映射文件或已保存映射" in unknown.output  # the operator's language
    english = runner.invoke(app, ["--lang", "en", "import", "customers", str(path), "--mapping", "no-such-mapping"])
    assert english.exit_code == 2
    assert "no mapping file or saved mapping named no-such-mapping" in english.output
