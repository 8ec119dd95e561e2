"""The calibration/holdout report on CDNOW: fitted figures, holdout comparison, the chart file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from guanxi.analytics.clv.cdnow import CALIBRATION_END, HOLDOUT_END
from guanxi.analytics.clv.report import CHART_LABEL_KEYS, calibration_report
from guanxi.kit.i18n import t


def test_cdnow_report(cdnow_transactions: pd.DataFrame, tmp_path: Path) -> None:
    png = tmp_path / "charts" / "cdnow.png"
    report = calibration_report(
        cdnow_transactions, calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END, png_path=png
    )
    assert report.model == "bgnbd"
    assert report.n_customers == 2357
    assert report.holdout_length == 39.0
    assert report.params["r"] == pytest.approx(0.243, abs=5e-4)
    assert report.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert set(report.standard_errors) == {"r", "alpha", "a", "b"}
    assert report.holdout_actual_total == 1882.0
    assert report.holdout_predicted_total == pytest.approx(1653.4, abs=0.1)
    assert report.mean_absolute_error == pytest.approx(0.7855, abs=1e-4)
    assert [b.frequency for b in report.buckets] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert [b.customers for b in report.buckets] == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert report.buckets[0].actual_mean == pytest.approx(334 / 1411, rel=1e-12)
    assert report.buckets[0].predicted_mean == pytest.approx(0.2251, abs=1e-4)
    assert report.spend is not None and report.spend_error is None
    assert report.spend.params["p"] == pytest.approx(6.25, abs=5e-3)
    assert report.spend.holdout_customers == 491
    # weekly tracking: 78 weeks, the 2,457 calibration repeat purchases at week 39, 4,339 by week 78
    assert len(report.weeks) == 78 and report.weeks[38] == 39.0 and report.weeks[-1] == 78.0
    assert report.cumulative_actual[38] == 2457.0
    assert report.cumulative_actual[-1] == 4339.0
    assert report.cumulative_predicted[-1] == pytest.approx(4160.6, abs=0.1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.png_path == str(png)
    json.dumps(report.to_dict())


def test_report_without_amounts_and_in_chinese(cdnow_transactions: pd.DataFrame, tmp_path: Path) -> None:
    png = tmp_path / "zh.png"
    labels = {name: t(key, "zh-CN") for name, key in CHART_LABEL_KEYS.items()}
    assert labels["week"] == "周"
    report = calibration_report(
        cdnow_transactions.drop(columns="amount"),
        calibration_end=CALIBRATION_END,
        holdout_end=HOLDOUT_END,
        png_path=png,
        amount_col=None,
        modified=True,
        labels=labels,
    )
    assert report.model == "modified_bgnbd"
    assert report.spend is None and report.spend_error is None
    assert report.holdout_actual_total == 1882.0
    assert png.stat().st_size > 0


def test_spend_model_failure_is_reported_not_raised(cdnow_transactions: pd.DataFrame, tmp_path: Path) -> None:
    flat = cdnow_transactions.assign(amount=10.0)  # every purchase day worth the same: no spend spread
    report = calibration_report(
        flat, calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END, png_path=tmp_path / "flat.png", top_bucket=3
    )
    assert report.spend is None
    assert report.spend_error == "not_converged"
    assert [b.frequency for b in report.buckets] == ["0", "1", "2", "3+"]
    assert sum(b.customers for b in report.buckets) == 2357
