"""The churn model on synthetic customers with a planted signal (fixed seeds)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from guanxi.analytics.churn_model import (
    ChurnModelConfig,
    ChurnModelError,
    ChurnModelResult,
    evaluation_markdown,
    train_churn_model,
)


def _customers(n: int, seed: int, prefix: str) -> tuple[pd.DataFrame, pd.Series]:
    """Churn is planted in recency against the own cycle, the drop in orders and app activity;
    p_alive sees only a blurred recency, so it is a weaker baseline."""
    rng = np.random.default_rng(seed)
    cycle = rng.uniform(15, 60, n)
    overdue = rng.lognormal(0.0, 0.7, n)
    orders_before = rng.poisson(3, n).astype(float)
    kept = rng.uniform(0, 1, n)
    orders_recent = np.round(orders_before * kept)
    active_before = rng.integers(0, 20, n).astype(float)
    active_recent = np.round(active_before * rng.uniform(0, 1.2, n))
    signal = 1.6 * np.log(overdue) - 1.5 * kept - 0.08 * active_recent + rng.normal(0, 0.4, n)
    churned = signal > np.quantile(signal, 0.7)
    p_alive = 1 / (1 + np.exp(0.8 * np.log(overdue) + rng.normal(0, 1.0, n)))
    frame = pd.DataFrame(
        {
            "customer_id": [f"{prefix}{i:05d}" for i in range(n)],
            "recency_days": overdue * cycle,
            "mean_cycle_days": np.where(rng.uniform(0, 1, n) < 0.1, np.nan, cycle),  # some bought once
            "frequency": orders_before + orders_recent + rng.poisson(2, n),
            "orders_recent": orders_recent,
            "orders_before": orders_before,
            "active_days_recent": active_recent,
            "active_days_before": active_before,
            "monetary": rng.gamma(2.0, 300.0, n),
            "p_alive": p_alive,
        }
    )
    return frame, pd.Series(churned, index=frame["customer_id"], name="churned")


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # OpenMP threads spin against each other on a busy machine: small fits run several times
    # faster on one thread (and the results do not depend on it)
    with threadpool_limits(limits=1):
        yield


# Small, fast settings; the defaults are for the real run.
FAST = ChurnModelConfig(max_iter=60, importance_repeats=3)


@pytest.fixture(scope="module")
def fitted() -> tuple[pd.DataFrame, ChurnModelResult]:
    training, labels = _customers(2000, seed=11, prefix="t")
    scoring, _ = _customers(300, seed=12, prefix="s")
    scoring.loc[3, "recency_days"] = np.inf  # replaced by NaN, not propagated
    scoring.loc[4, "monetary"] = -np.inf
    return scoring, train_churn_model(training, labels, scoring, FAST)


def test_probabilities_cover_every_scoring_customer_within_0_and_1(
    fitted: tuple[pd.DataFrame, ChurnModelResult],
) -> None:
    scoring, result = fitted
    probabilities = result.probabilities
    assert list(probabilities.index) == scoring["customer_id"].tolist()
    assert not probabilities.isna().any()
    assert probabilities.between(0.0, 1.0).all()
    assert result.infinite_values_replaced == 2


def test_the_model_beats_the_p_alive_baseline_on_the_held_out_split(
    fitted: tuple[pd.DataFrame, ChurnModelResult],
) -> None:
    _, result = fitted
    evaluation = result.evaluation
    model, baseline = evaluation["model"], evaluation["baseline"]
    assert evaluation["training_customers"] == 2000
    assert evaluation["fitting_customers"] == 1500
    assert evaluation["churn_rate"] == pytest.approx(0.3)
    assert evaluation["calibration_method"] == "isotonic"
    assert model["customers"] == baseline["customers"] == 500
    assert model["k"] == baseline["k"] == 50
    assert model["auc"] > 0.85
    assert model["auc"] > baseline["auc"] + 0.1
    assert model["precision_at_k"] > baseline["precision_at_k"]
    assert model["brier"] < baseline["brier"]
    for metrics in (model, baseline):
        bins = metrics["calibration"]
        assert sum(b["customers"] for b in bins) == 500
        assert all(0.0 <= b["mean_predicted"] <= 1.0 and 0.0 <= b["observed_rate"] <= 1.0 for b in bins)
        assert all(b["bin_high"] - b["bin_low"] == pytest.approx(0.1) for b in bins)


def test_permutation_importance_finds_the_planted_features(fitted: tuple[pd.DataFrame, ChurnModelResult]) -> None:
    _, result = fitted
    importances = result.importances
    assert sorted(importances["feature"]) == sorted(result.features)
    by_feature = importances.set_index("feature")["importance_mean"]
    assert importances["feature"].iloc[0] == "recency_days"
    # monetary carries no signal: permuting it barely moves the AUC
    assert by_feature["monetary"] < 0.01 < by_feature["orders_recent"]
    assert not importances[["importance_mean", "importance_std"]].isna().any().any()


def test_the_same_data_gives_the_same_probabilities() -> None:
    training, labels = _customers(400, seed=21, prefix="t")
    scoring, _ = _customers(50, seed=22, prefix="s")
    config = ChurnModelConfig(max_iter=30, importance_repeats=2)
    first = train_churn_model(training, labels, scoring, config)
    second = train_churn_model(training, labels, scoring, config)
    pd.testing.assert_series_equal(first.probabilities, second.probabilities)
    assert first.calibration_method == "sigmoid"  # 300 fitting customers: below isotonic_from
    assert first.evaluation == second.evaluation


def test_labels_may_be_a_column_and_absent_or_empty_features_are_left_out() -> None:
    training, labels = _customers(400, seed=31, prefix="t")
    training = training.assign(churned=labels.to_numpy(), nps_score=np.nan).drop(columns="p_alive")
    scoring, _ = _customers(20, seed=32, prefix="s")
    result = train_churn_model(training, "churned", scoring, ChurnModelConfig(max_iter=30, importance_repeats=2))
    assert "churned" not in result.features
    assert "p_alive" not in result.features
    assert result.dropped_features == ()  # nps_score is not in scoring, so never considered
    assert result.evaluation["baseline"] is None
    report = evaluation_markdown(result)
    assert "No baseline" in report
    assert "| AUC |" in report


def test_the_markdown_report_has_the_metrics_of_both() -> None:
    training, labels = _customers(400, seed=41, prefix="t")
    scoring, _ = _customers(20, seed=42, prefix="s")
    result = train_churn_model(training, labels, scoring, ChurnModelConfig(max_iter=30, importance_repeats=2))
    report = evaluation_markdown(result, title="Demo churn")
    model, baseline = result.evaluation["model"], result.evaluation["baseline"]
    assert baseline is not None
    assert report.startswith("# Demo churn\n")
    assert f"| AUC | {model['auc']:.3f} | {baseline['auc']:.3f} |" in report
    assert f"(k = {model['k']})" in report
    assert report.count("\n| `") == len(result.features)  # one importance row per feature


@pytest.mark.parametrize(
    ("n", "churn_share", "code"),
    [
        (150, 0.3, "too_few_customers"),
        (300, 0.0, "one_class"),
        (300, 1.0, "one_class"),
        (300, 0.03, "too_few_in_class"),
    ],
)
def test_tiny_or_one_class_data_is_refused_with_a_code(n: int, churn_share: float, code: str) -> None:
    training, _ = _customers(n, seed=51, prefix="t")
    labels = pd.Series(np.arange(n) < math.floor(churn_share * n), index=training["customer_id"])
    with pytest.raises(ChurnModelError) as refused:
        train_churn_model(training, labels, training, FAST)
    assert refused.value.code == code


def test_no_shared_feature_and_duplicate_customers_are_refused() -> None:
    training, labels = _customers(300, seed=61, prefix="t")
    scoring = pd.DataFrame({"customer_id": ["x"], "unrelated": [1.0]})
    with pytest.raises(ChurnModelError) as refused:
        train_churn_model(training, labels, scoring, FAST)
    assert refused.value.code == "no_features"
    doubled = pd.concat([training, training.head(1)])
    with pytest.raises(ChurnModelError) as refused:
        train_churn_model(doubled, labels, training, FAST)
    assert refused.value.code == "duplicate_customers"
