"""`guanxi import ...` and `guanxi export ...`: output, progress, summary and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.kit.db import Database

from .support import data_counts, write_csv

runner = CliRunner()
GOOD = "姓名,手机号,城市\n张伟,13800138000,上海\n李娜,13900139000,北京\n"
BAD = GOOD + "王芳,12345,广州\n"


def test_clean_import_exits_zero(db: Database, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "customers", str(write_csv(tmp_path / "c.csv", GOOD, "gbk"))])
    assert result.exit_code == 0, result.output
    assert "created" in result.output and "│ 2" in result.output
    assert "100%" in result.output


def test_rejected_rows_exit_one_and_the_errors_file_is_written(db: Database, tmp_path: Path) -> None:
    out = tmp_path / "bad.csv"
    result = runner.invoke(app, ["import", "customers", str(write_csv(tmp_path / "c.csv", BAD)), "--errors", str(out)])
    assert result.exit_code == 1, result.output
    assert "phone: is not a valid phone number" in result.output
    assert f"refused rows: {out}" in result.output
    assert out.read_text(encoding="utf-8-sig").splitlines()[1] == "4,王芳,12345,广州,phone: is not a valid phone number"


def test_dry_run_says_would_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    before = data_counts(db)
    result = runner.invoke(app, ["import", "customers", str(write_csv(tmp_path / "c.csv", GOOD)), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would create │ 2" in result.output
    assert data_counts(db) == before


def test_refused_files_exit_two(db: Database, tmp_path: Path) -> None:
    before = data_counts(db)
    missing = runner.invoke(app, ["import", "customers", str(write_csv(tmp_path / "c.csv", "城市\n上海\n"))])
    assert missing.exit_code == 2
    assert "required column(s) missing: name" in missing.output
    bad = tmp_path / "x.csv"
    bad.write_bytes(b"\xe5\xa7\x93\xe5\x90\x8d,\xff\xfe\n")
    encoding = runner.invoke(app, ["import", "customers", str(bad)])
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
    assert "no mapping file or saved mapping named no-such-mapping" in unknown.output


def test_export(db: Database, tmp_path: Path) -> None:
    runner.invoke(app, ["import", "customers", str(write_csv(tmp_path / "c.csv", GOOD))])
    out = tmp_path / "out.xlsx"
    result = runner.invoke(app, ["export", "customers", "--out", str(out), "--city", "上海"])
    assert result.exit_code == 0, result.output
    assert f"exported 1 customers to {out}" in result.output
    assert out.read_bytes()[:2] == b"PK"
    denied = runner.invoke(app, ["export", "customers", "--out", str(tmp_path / "x.csv"), "--as", "nobody"])
    assert denied.exit_code == 2
