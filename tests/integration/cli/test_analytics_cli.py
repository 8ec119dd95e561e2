"""`guanxi analytics run` and `guanxi analytics clv-report`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from guanxi.cli.main import app
from guanxi.kit.db import Database
from tests.integration.analytics.conftest import buy, customer, frozen  # noqa: F401 (a fixture)


@pytest.mark.usefixtures("frozen")
def test_the_run_prints_what_it_computed_and_what_it_skipped(db: Database) -> None:
    zhang = customer(db)
    buy(db, zhang, "100.00", 30, 1)
    buy(db, zhang, "80.00", 3, 2)
    result = CliRunner().invoke(app, ["analytics", "run", "--as-of", "2026-06-30", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["as_of"] == "2026-06-30"
    assert report["computed"]["customers"] == 1
    assert report["written"] == {"written": 1, "removed": 0, "stage_changes": 0}
    plain = CliRunner().invoke(app, ["analytics", "run", "--as-of", "2026-06-30"])
    assert plain.exit_code == 0
    assert "skipped churn_model" in plain.stdout and "previous scores kept" in plain.stdout


def test_a_bad_date_is_refused_without_a_run(db: Database) -> None:
    result = CliRunner().invoke(app, ["analytics", "run", "--as-of", "30/06/2026"])
    assert result.exit_code == 2
    assert "is not a date (YYYY-MM-DD)" in result.output


def test_the_cdnow_report_reproduces_the_published_fit(tmp_path: Path) -> None:
    chart = tmp_path / "cdnow.png"
    result = CliRunner().invoke(app, ["analytics", "clv-report", "--cdnow", "--json", "--out", str(chart)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_customers"] == 2357
    assert {k: round(v, 3) for k, v in report["params"].items()} == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert round(report["log_likelihood"], 1) == -9582.4
    assert chart.stat().st_size > 10_000


def test_the_brand_report_before_any_run_says_so(db: Database, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["analytics", "clv-report", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "no analytics run has completed yet" in result.output
    assert not (tmp_path / "x.png").exists()
