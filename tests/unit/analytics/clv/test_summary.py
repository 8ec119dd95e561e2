"""Transactions to (frequency, recency, T, monetary), the calibration/holdout split and the CDNOW loader."""

from __future__ import annotations

import pandas as pd
import pytest

from guanxi.analytics.clv import calibration_holdout, summarise_transactions
from guanxi.analytics.clv.cdnow import load_cdnow


def transactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c", "c", "c"],
            "date": pd.to_datetime(
                [
                    "2026-01-01 09:00",
                    "2026-01-01 18:30",  # same day: merged with the first purchase
                    "2026-01-15 10:00",
                    "2026-02-12 12:00",
                    "2026-01-20 08:00",
                    "2026-01-05 10:00",
                    "2026-03-01 10:00",  # after the calibration end
                    "2026-03-20 10:00",  # after the holdout end
                ]
            ),
            "amount": [10.0, 5.0, 20.0, 40.0, 7.0, 12.0, 30.0, 99.0],
        }
    )


def test_summary_in_days() -> None:
    summary = summarise_transactions(transactions(), observation_end="2026-02-28")
    assert list(summary.index) == ["a", "b", "c"]
    assert summary["frequency"].tolist() == [2.0, 0.0, 0.0]
    assert summary["recency"].tolist() == [42.0, 0.0, 0.0]
    assert summary["T"].tolist() == [58.0, 39.0, 54.0]
    # repeat purchases only: (20 + 40) / 2; the merged first day (15) is left out
    assert summary["monetary"].tolist() == [30.0, 0.0, 0.0]


def test_summary_in_weeks_counts_the_end_day() -> None:
    summary = summarise_transactions(transactions(), observation_end="2026-03-01", time_unit="weeks")
    assert summary.loc["c", "frequency"] == 1.0
    assert summary.loc["c", "recency"] == pytest.approx(55 / 7, rel=1e-12)
    assert summary.loc["c", "T"] == pytest.approx(55 / 7, rel=1e-12)
    assert summary.loc["a", "T"] == pytest.approx(59 / 7, rel=1e-12)


def test_calibration_holdout_split() -> None:
    split = calibration_holdout(transactions(), calibration_end="2026-02-28", holdout_end="2026-03-14")
    assert split["frequency"].tolist() == [2.0, 0.0, 0.0]
    assert split["frequency_holdout"].tolist() == [0.0, 0.0, 1.0]
    assert split["monetary_holdout"].tolist() == [0.0, 0.0, 30.0]
    assert split["duration_holdout"].tolist() == [14.0, 14.0, 14.0]


def test_customers_first_seen_in_the_holdout_are_left_out() -> None:
    late = pd.concat(
        [transactions(), pd.DataFrame({"customer_id": ["d"], "date": pd.to_datetime(["2026-03-02"]), "amount": [1.0]})]
    )
    split = calibration_holdout(late, calibration_end="2026-02-28", holdout_end="2026-03-14")
    assert "d" not in split.index


def test_holdout_end_must_follow_calibration_end() -> None:
    with pytest.raises(ValueError):
        calibration_holdout(transactions(), calibration_end="2026-02-28", holdout_end="2026-02-28")


def test_cdnow_files() -> None:
    sample = load_cdnow("sample")
    assert len(sample) == 6919
    assert sample["customer_id"].nunique() == 2357
    assert list(sample.columns) == ["customer_id", "date", "quantity", "amount"]
    assert sample["date"].min() == pd.Timestamp("1997-01-01")
    assert sample["date"].max() == pd.Timestamp("1998-06-30")
    master = load_cdnow("master")
    assert len(master) == 69659
    assert master["customer_id"].nunique() == 23570


def test_cdnow_summary_matches_the_published_calibration_data(cdnow_summary: pd.DataFrame) -> None:
    # Hardie's file (shipped as cdnow_customers_summary.csv) gives customer 4 x=2, t_x=30.43, T=38.86
    first = cdnow_summary.loc[4]
    assert first["frequency"] == 2.0
    assert first["recency"] == pytest.approx(30.43, abs=5e-3)
    assert first["T"] == pytest.approx(38.86, abs=5e-3)
    assert int((cdnow_summary["frequency"] > 0).sum()) == 946
    # the 2,457 repeat transactions of the calibration period (Fader, Hardie & Lee 2005)
    assert cdnow_summary["frequency"].sum() == 2457.0


def test_aware_timestamps_count_by_their_own_day() -> None:
    frame = transactions()
    # 23:30 in Shanghai is still the same calendar day there, whatever UTC says
    frame["date"] = frame["date"].dt.tz_localize("Asia/Shanghai")
    aware = summarise_transactions(frame, observation_end=pd.Timestamp("2026-02-28", tz="Asia/Shanghai"))
    naive = summarise_transactions(transactions(), observation_end="2026-02-28")
    pd.testing.assert_frame_equal(
        aware[["frequency", "recency", "T", "monetary"]], naive[["frequency", "recency", "T", "monetary"]]
    )
