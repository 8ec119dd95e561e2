"""The churn health score on hand-built customers whose fired indicators and scores are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from guanxi.analytics.churn_scorecard import (
    BAND_HIGH,
    BAND_LOW,
    BAND_MEDIUM,
    BAND_UNKNOWN,
    DEFAULT_CONFIG,
    DEFAULT_INDICATORS,
    Indicator,
    Reason,
    ScorecardConfig,
    ScorecardError,
    SkippedIndicator,
    render_reason,
    score_customers,
)

NAN = float("nan")


def _features() -> pd.DataFrame:
    # No nps_score column: the service desk does not exist yet. Weights evaluable = 100 - 10 = 90.
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "recency_days": [94, 10, NAN, 60, 5],
            "mean_cycle_days": [30, 30, NAN, NAN, 20],  # population median of own cycles: 30
            "orders_recent": [1, 3, 0, 1, 2],
            "orders_before": [4, 3, 0, 2, 2],
            "spend_recent": [100, 300, 0, 50, 200],
            "spend_before": [400, 300, 0, 90, 200],
            "complaints_90d": [1, 0, 0, 0, 2],
            "active_days_recent": [2, 5, NAN, 3, 4],
            "active_days_before": [10, 5, NAN, 4, 4],
            "unused_coupons": [0, 2, 1, 0, 0],
            "points_expiring_30d": [0, 50, NAN, 0, 0],
        }
    )


def test_scores_bands_and_weights_of_each_customer() -> None:
    run = score_customers(_features())
    scores = run.scores
    assert list(scores.index) == ["a", "b", "c", "d", "e"]
    # a: recency 25 + frequency 15 + spend 15 + complaints 15 + activity 10 = 80 of 90
    # b: coupons 5 + points 5 = 10 of 90
    # c: never bought, no baselines: complaints (15) and coupons (5) evaluable, coupons fire
    # d: no own cycle, 60 / 30 = 2.0 and orders 1 vs 2 (a drop of exactly 50 %) = 40 of 90
    # e: complaints 15 of 90
    assert scores["fired_weight"].tolist() == [80, 10, 5, 40, 15]
    assert scores["evaluated_weight"].tolist() == [90, 90, 20, 90, 90]
    assert scores["score"].tolist() == [88.89, 11.11, 25.0, 44.44, 16.67]
    assert scores["band"].tolist() == [BAND_HIGH, BAND_LOW, BAND_LOW, BAND_MEDIUM, BAND_LOW]


def test_fired_reasons_are_ranked_by_weight_with_their_parameters() -> None:
    run = score_customers(_features())
    assert run.reasons_for("a") == (
        Reason("recency_cycle", "churn.reason.recency_cycle", 25.0, {"days": 94, "ratio": 3.1, "cycle": 30}),
        Reason("frequency_drop", "churn.reason.frequency_drop", 15.0, {"recent": 1, "before": 4, "drop": 0.75}),
        Reason("spend_drop", "churn.reason.spend_drop", 15.0, {"recent": 100.0, "before": 400.0, "drop": 0.75}),
        Reason("complaints", "churn.reason.complaints", 15.0, {"count": 1}),
        Reason("activity_drop", "churn.reason.activity_drop", 10.0, {"recent": 2, "before": 10, "drop": 0.8}),
    )
    assert run.reasons_for("b") == (
        Reason("unused_coupons", "churn.reason.unused_coupons", 5.0, {"count": 2}),
        Reason("points_expiring", "churn.reason.points_expiring", 5.0, {"points": 50}),
    )
    assert run.reasons_for("d") == (
        Reason("recency_cycle", "churn.reason.recency_default_cycle", 25.0, {"days": 60, "ratio": 2.0, "cycle": 30}),
        Reason("frequency_drop", "churn.reason.frequency_drop", 15.0, {"recent": 1, "before": 2, "drop": 0.5}),
    )
    assert run.reasons["rank"].tolist() == [1, 2, 3, 4, 5, 1, 2, 1, 1, 2, 1]


def test_an_absent_column_skips_its_indicator_and_the_summary_says_so() -> None:
    run = score_customers(_features())
    assert run.skipped == (SkippedIndicator("nps_detractor", "no_data", ("nps_score",)),)
    summary = run.summary()
    assert summary["indicators_used"] == [i.code for i in DEFAULT_INDICATORS if i.code != "nps_detractor"]
    assert summary["indicators_skipped"] == [
        {"code": "nps_detractor", "reason": "no_data", "missing_columns": ["nps_score"]}
    ]
    assert summary["default_cycle_days"] == 30.0
    assert summary["bands"] == {"low": 3, "medium": 1, "high": 1, "unknown": 0}
    assert summary["fired"] == {
        "recency_cycle": 2,
        "frequency_drop": 2,
        "spend_drop": 1,
        "complaints": 2,
        "activity_drop": 1,
        "unused_coupons": 2,
        "points_expiring": 1,
    }


def test_nps_counts_where_it_is_known_and_not_where_it_is_nan() -> None:
    features = _features().assign(nps_score=[3, 9, NAN, 6, 7])
    run = score_customers(features)
    # a gains nps (fired, 10) -> 90 of 100; b 10 of 100; c unchanged; d 6 <= 6 fires -> 50 of 100
    assert run.scores["score"].tolist() == [90.0, 10.0, 25.0, 50.0, 15.0]
    assert run.skipped == ()


def test_without_any_purchase_cycle_recency_is_skipped_unless_one_is_configured() -> None:
    features = _features().drop(columns="mean_cycle_days")
    run = score_customers(features)
    assert [s.code for s in run.skipped] == ["recency_cycle", "nps_detractor"]
    assert run.skipped[0].missing_columns == ("mean_cycle_days",)
    assert run.scores["score"].tolist() == [round(100 * 55 / 65, 2), round(100 * 10 / 65, 2), 25.0, 23.08, 23.08]

    configured = ScorecardConfig(DEFAULT_INDICATORS, default_cycle_days=40)
    run = score_customers(features, configured)
    assert run.default_cycle_days == 40
    # a: 94 / 40 = 2.35 fires; d: 60 / 40 = 1.5 does not
    assert run.reasons_for("a")[0].params == {"days": 94, "ratio": 2.4, "cycle": 40}
    assert run.scores["fired_weight"].tolist() == [80, 10, 5, 15, 15]


def test_a_customer_with_nothing_to_evaluate_has_no_score_and_an_unknown_band() -> None:
    features = pd.DataFrame({"customer_id": ["x", "y"], "recency_days": [NAN, 3.0], "complaints_90d": [NAN, 0.0]})
    run = score_customers(features)
    assert math.isnan(run.scores.loc["x", "score"])
    assert run.scores.loc["x", "band"] == BAND_UNKNOWN
    # y: recency cannot be judged (no cycle anywhere: skipped), complaints evaluated and not fired
    assert run.scores.loc["y", "score"] == 0.0
    assert run.reasons.empty
    assert list(run.reasons.columns) == ["customer_id", "rank", "code", "key", "weight", "params"]


def test_infinite_values_are_unknown_and_customer_id_may_be_the_index() -> None:
    features = _features().set_index("customer_id").astype(float)
    features.loc["a", "recency_days"] = np.inf
    features.loc["b", "orders_before"] = -np.inf
    run = score_customers(features)
    # a loses recency (25 evaluable, fired); b loses frequency (15 evaluable, not fired)
    assert run.scores.loc["a", "evaluated_weight"] == 65
    assert run.scores.loc["a", "fired_weight"] == 55
    assert run.scores.loc["b", "evaluated_weight"] == 75


def test_weights_thresholds_and_bands_are_configurable() -> None:
    config = ScorecardConfig(
        (Indicator("complaints", weight=3, threshold=2), Indicator("unused_coupons", weight=1, threshold=1)),
        medium_from=20,
        high_from=70,
    )
    run = score_customers(_features(), config)
    # complaints now needs 2: only e; coupons: b and c
    assert run.scores["score"].tolist() == [0.0, 25.0, 25.0, 0.0, 75.0]
    assert run.scores["band"].tolist() == [BAND_LOW, BAND_MEDIUM, BAND_MEDIUM, BAND_LOW, BAND_HIGH]
    assert run.used == ("complaints", "unused_coupons")


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda: Indicator("birthday", weight=1, threshold=1), "unknown_indicator"),
        (lambda: Indicator("complaints", weight=0, threshold=1), "invalid_weight"),
        (lambda: Indicator("spend_drop", weight=1, threshold=50), "invalid_threshold"),
        (lambda: ScorecardConfig((DEFAULT_INDICATORS[0], DEFAULT_INDICATORS[0])), "duplicate_indicator"),
        (lambda: ScorecardConfig(DEFAULT_INDICATORS, medium_from=60, high_from=30), "invalid_bands"),
        (lambda: ScorecardConfig(()), "no_indicators"),
    ],
)
def test_invalid_configuration_is_refused_with_a_code(build: object, code: str) -> None:
    with pytest.raises(ScorecardError) as refused:
        build()  # type: ignore[operator]
    assert refused.value.code == code


def test_duplicate_customers_are_refused() -> None:
    features = pd.DataFrame({"customer_id": ["a", "a"], "complaints_90d": [1.0, 0.0]})
    with pytest.raises(ScorecardError) as refused:
        score_customers(features, DEFAULT_CONFIG)
    assert refused.value.code == "duplicate_customers"


def test_reasons_render_in_both_languages() -> None:
    run = score_customers(_features())
    recency, _frequency, spend, complaints, _activity = run.reasons_for("a")
    assert render_reason(recency, "zh-CN") == "上次消费距今 94 天，是其平均周期的 3.1 倍"
    assert render_reason(recency, "en") == "Last purchase 94 days ago, 3.1 times their usual interval"
    assert (
        render_reason(spend, "en")
        == "Spend fell by 75%: CN¥100.00 in the last 90 days against CN¥400.00 in the 90 before"
    )
    assert render_reason(spend, "zh-CN") == "消费金额下降 75%：近 90 天 ¥100.00，之前 90 天 ¥400.00"
    assert render_reason(complaints, "zh-CN") == "近 90 天投诉 1 次"
    default_cycle = run.reasons_for("d")[0]
    assert render_reason(default_cycle, "zh-CN") == "上次消费距今 60 天，是一般顾客购买周期（30 天）的 2 倍"
    assert render_reason(default_cycle, "en") == (
        "Last purchase 60 days ago, 2 times the typical customer's interval of 30 days"
    )
