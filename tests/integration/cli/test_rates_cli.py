"""`guanxi rates load|list`: the rate table from the command line, refusals listed line by line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from guanxi.config import get_settings
from guanxi.kit.db import Database
from tests.api.helpers import audit_records, table_counts

TABLE = (
    "currency,rate,valid_from,valid_to\nUSD,7.10,2026-01-01,2026-01-31\nUSD,7.20,2026-02-01,\nHKD,0.91,2026-01-01,\n"
)


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "default_language", "en")


def _cli(*args: str) -> tuple[int, str, str]:
    from guanxi.cli.main import app

    result = CliRunner().invoke(app, ["rates", *args])
    return result.exit_code, result.stdout, result.stderr


def _file(tmp_path: Path, text: str, name: str = "rates.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_load_then_list(db: Database, tmp_path: Path) -> None:
    path = _file(tmp_path, TABLE, encoding="utf-8-sig")
    assert _cli("load", path, "--dry-run") == (
        0,
        "dry run of rates.csv, nothing written: 3 would be added, 0 replaced, 0 unchanged\n",
        "",
    )
    assert table_counts(db)["loyalty_exchange_rates"] == 0
    assert _cli("load", path) == (0, "rates.csv: 3 added, 0 replaced, 0 unchanged\n", "")
    assert _cli("load", path) == (0, "rates.csv: 0 added, 0 replaced, 3 unchanged\n", "")
    assert [r.actor_id for r in audit_records(db, "exchange_rates.load")] == ["system", "system"]
    code, out, _ = _cli("list", "--currency", "usd")
    assert code == 0
    assert [line.split() for line in out.splitlines()] == [
        ["currency", "valid", "from", "valid", "to", "rate", "source"],
        ["USD", "2026-01-01", "2026-01-31", "7.1", "rates.csv"],
        ["USD", "2026-02-01", "until", "the", "next", "rate", "7.2", "rates.csv"],
    ]
    code, out, _ = _cli("list", "--on", "2026-01-15")
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [["HKD", "2026-01-01"], ["USD", "2026-01-01"]]
    assert _cli("list", "--currency", "EUR") == (0, "no exchange rates\n", "")


def test_a_refused_file_lists_every_problem_exits_2_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    _cli("load", _file(tmp_path, TABLE))
    before = table_counts(db)
    bad = "币种,汇率,生效日期,失效日期\nUSD,7.15,2026-01-20,\nEUR,0,2026-01-01,\nXYZ,1,2026-01-01,\n"
    code, out, err = _cli("load", _file(tmp_path, bad, "bad.csv"))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "the rate table was refused, nothing was written:",
        "  line 3: rate: must be greater than 0",
        "  line 4: currency: XYZ is not an ISO 4217 currency code",
        "  line 2: valid_from: USD: the rate for 2026-01-01 to 2026-01-31 overlaps the rate from 2026-01-20",
    ]
    code, _, err = _cli("load", _file(tmp_path, "currency,rate,valid_from\nHKD,0.95,2026-01-01\n", "hkd.csv"))
    assert code == 2
    assert "line 2: rate: HKD from 2026-01-01 already has the rate 0.91000000" in err
    assert table_counts(db) == before
    code, out, _ = _cli(
        "load", _file(tmp_path, "currency,rate,valid_from\nHKD,0.95,2026-01-01\n", "hkd.csv"), "--replace"
    )
    assert (code, out) == (0, "hkd.csv: 0 added, 1 replaced, 0 unchanged\n")


def test_a_file_that_cannot_be_used(db: Database, tmp_path: Path) -> None:
    code, _, err = _cli("load", str(tmp_path / "missing.csv"))
    assert (code, err) == (2, f"error: {tmp_path / 'missing.csv'}: no such file\n")
    code, _, err = _cli("load", _file(tmp_path, "币种,汇率,生效日期\nUSD,7.1,2026-01-01\n", encoding="gbk"))
    assert code == 2
    assert err.splitlines()[1] == "  file: the file is not UTF-8 text; save it as CSV UTF-8"
    code, _, err = _cli("list", "--on", "someday")
    assert code == 2 and "someday is not a date like 2026-01-31" in err
    assert table_counts(db)["loyalty_exchange_rates"] == 0


def test_messages_follow_the_configured_language(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "default_language", "zh-CN")
    code, out, _ = _cli("load", _file(tmp_path, TABLE))
    assert (code, out) == (0, "rates.csv：新增 3 条，替换 0 条，未变 0 条\n")
    code, _, err = _cli("load", _file(tmp_path, "currency,rate,valid_from\nUSD,-1,2026-03-01\n", "bad.csv"))
    assert err.splitlines() == ["汇率表被拒绝，未写入任何内容：", "  line 2: rate: 必须大于 0"]
