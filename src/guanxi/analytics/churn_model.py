"""The churn model: calibrated gradient boosting on features split in time.

The caller builds two features frames (one row per customer, see docs/churn.md): `training`, as of
a cutoff t0 - N days, with the label "no purchase in (t0 - N, t0]", and `scoring`, as of t0. The
model learns on the training customers, is judged on a stratified held-out part of them (AUC,
precision in the top k %, Brier score, a 10-bin calibration curve, and the same for the baseline
1 - p_alive of the CLV model), and then scores the customers as of t0.

Pure: pandas, numpy and scikit-learn only (an import-linter contract keeps it so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

CUSTOMER_ID = "customer_id"

# The behaviour features the model may use, when the frames have them.
FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "mean_cycle_days",
    "orders_recent",
    "orders_before",
    "spend_recent",
    "spend_before",
    "refund_share",
    "discount_share",
    "coupon_use_share",
    "unused_coupons",
    "points_expiring_30d",
    "category_count",
    "active_days_recent",
    "active_days_before",
    "complaints_90d",
    "nps_score",
    "p_alive",
)


class ChurnModelError(ValueError):
    """The data cannot train a meaningful model; `code` is stable (too_few_customers, one_class,
    too_few_in_class, no_features, unlabelled_customers, duplicate_customers, no_scoring_customers)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ChurnModelConfig:
    random_state: int = 20261204
    holdout_share: float = 0.25
    top_share: float = 0.10  # precision at the top k = 10 % of the held-out customers
    calibration_bins: int = 10
    min_customers: int = 200
    min_per_class: int = 20
    # isotonic calibration overfits small samples; below this many fitting customers, sigmoid
    isotonic_from: int = 1000
    calibration_folds: int = 3
    importance_repeats: int = 5
    importance_sample: int = 10_000
    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    l2_regularization: float = 1.0
    refit_on_all: bool = True  # score with a model fitted on every training customer
    features: tuple[str, ...] = FEATURES


class CalibrationBin(TypedDict):
    bin_low: float
    bin_high: float
    customers: int
    mean_predicted: float
    observed_rate: float


class Metrics(TypedDict):
    customers: int
    auc: float
    k: int
    precision_at_k: float
    brier: float
    calibration: list[CalibrationBin]


class Evaluation(TypedDict):
    training_customers: int
    fitting_customers: int
    churn_rate: float
    features: list[str]
    calibration_method: str
    scoring_calibration_method: str
    top_share: float
    model: Metrics
    baseline: Metrics | None  # 1 - p_alive, when the frames have p_alive


@dataclass(frozen=True)
class ChurnModelResult:
    """`probabilities`: churn probability per scoring customer (index customer_id, in [0, 1]).
    `evaluation`: the held-out metrics of the model and of the baseline (see evaluation_markdown).
    `importances`: permutation importance (drop in AUC) per feature on the held-out split."""

    probabilities: pd.Series
    evaluation: Evaluation
    importances: pd.DataFrame
    features: tuple[str, ...]
    calibration_method: str
    infinite_values_replaced: int = 0
    dropped_features: tuple[str, ...] = field(default_factory=tuple)


def _by_customer(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    indexed = frame.set_index(CUSTOMER_ID) if CUSTOMER_ID in frame.columns else frame.copy()
    indexed.index.name = CUSTOMER_ID
    if indexed.index.has_duplicates:
        raise ChurnModelError("duplicate_customers", f"the {what} frame has more than one row for a customer")
    return indexed


def _matrix(frame: pd.DataFrame, features: Sequence[str]) -> tuple[np.ndarray, int]:
    """The features as float64, infinities replaced by NaN (unknown: the trees route NaN
    natively), and how many were replaced."""
    # a copy: pandas' copy-on-write hands out read-only views
    values = np.array(frame.loc[:, list(features)].to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
    infinite = np.isinf(values)
    values[infinite] = np.nan
    return values, int(infinite.sum())


def _labels(training: pd.DataFrame, labels: pd.Series | str) -> tuple[pd.DataFrame, np.ndarray]:
    if isinstance(labels, str):
        series = training[labels]
        training = training.drop(columns=labels)
    else:
        series = labels.reindex(training.index)
    known = series.notna().to_numpy()
    if not known.any():
        raise ChurnModelError("unlabelled_customers", "no training customer has a label")
    return training.loc[known], series[known].astype(bool).to_numpy().astype(np.int64)


def _check_size(y: np.ndarray, config: ChurnModelConfig) -> None:
    if len(y) < config.min_customers:
        raise ChurnModelError(
            "too_few_customers", f"{len(y)} labelled customers; the model needs at least {config.min_customers}"
        )
    churned = int(y.sum())
    if churned in (0, len(y)):
        raise ChurnModelError("one_class", "every training customer has the same label")
    if min(churned, len(y) - churned) < config.min_per_class:
        raise ChurnModelError(
            "too_few_in_class", f"the smaller label class has fewer than {config.min_per_class} customers"
        )


def _classifier(n_fit: int, config: ChurnModelConfig) -> tuple[CalibratedClassifierCV, str]:
    booster = HistGradientBoostingClassifier(
        max_iter=config.max_iter,
        learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes,
        l2_regularization=config.l2_regularization,
        random_state=config.random_state,
    )
    method = "isotonic" if n_fit >= config.isotonic_from else "sigmoid"
    folds = StratifiedKFold(n_splits=config.calibration_folds, shuffle=True, random_state=config.random_state)
    return CalibratedClassifierCV(booster, method=method, cv=folds), method


def _metrics(y: np.ndarray, p: np.ndarray, config: ChurnModelConfig) -> Metrics:
    k = max(1, math.ceil(config.top_share * len(y)))
    # the k highest probabilities; ties broken by position so the choice is deterministic
    top = np.argsort(-p, kind="stable")[:k]
    return Metrics(
        customers=len(y),
        auc=float(roc_auc_score(y, p)),
        k=k,
        precision_at_k=float(y[top].mean()),
        brier=float(brier_score_loss(y, p)),
        calibration=_calibration(y, p, config.calibration_bins),
    )


def _calibration(y: np.ndarray, p: np.ndarray, bins: int) -> list[CalibrationBin]:
    """Equal-width bins over [0, 1] (a bin holds low < p <= high, the first also 0); empty
    bins are left out, so no bin has an undefined rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    at = np.searchsorted(edges[1:-1], p, side="left")
    curve: list[CalibrationBin] = []
    for b in range(bins):
        members = at == b
        if members.any():
            curve.append(
                CalibrationBin(
                    bin_low=float(edges[b]),
                    bin_high=float(edges[b + 1]),
                    customers=int(members.sum()),
                    mean_predicted=float(p[members].mean()),
                    observed_rate=float(y[members].mean()),
                )
            )
    return curve


def _usable_features(
    training: pd.DataFrame, scoring: pd.DataFrame, config: ChurnModelConfig
) -> tuple[list[str], list[str]]:
    present = [f for f in config.features if f in training.columns and f in scoring.columns]
    dropped = [f for f in present if not np.isfinite(training[f].to_numpy(dtype=np.float64, na_value=np.nan)).any()]
    usable = [f for f in present if f not in dropped]
    if not usable:
        raise ChurnModelError("no_features", "the training and scoring frames share no usable feature column")
    return usable, dropped


def train_churn_model(
    training: pd.DataFrame,
    labels: pd.Series | str,
    scoring: pd.DataFrame,
    config: ChurnModelConfig | None = None,
) -> ChurnModelResult:
    """Fit on `training` (features as of t0 - N) with `labels` (True / 1 = no purchase in
    (t0 - N, t0]; a Series by customer_id, or the name of a column of `training`), evaluate on a
    held-out split, and return the churn probability of every customer of `scoring` (as of t0)."""
    config = config or ChurnModelConfig()
    train_frame, y = _labels(_by_customer(training, "training"), labels)
    score_frame = _by_customer(scoring, "scoring")
    if score_frame.empty:
        raise ChurnModelError("no_scoring_customers", "the scoring frame has no customers")
    _check_size(y, config)
    features, dropped = _usable_features(train_frame, score_frame, config)
    x, replaced_train = _matrix(train_frame, features)
    x_score, replaced_score = _matrix(score_frame, features)

    positions = np.arange(len(y))
    fit_at, hold_at = train_test_split(
        positions, test_size=config.holdout_share, stratify=y, random_state=config.random_state
    )
    model, method = _classifier(len(fit_at), config)
    model.fit(x[fit_at], y[fit_at])
    p_hold = model.predict_proba(x[hold_at])[:, 1]
    evaluated_method = method
    importances = _importances(model, x[hold_at], y[hold_at], features, config)
    if config.refit_on_all:
        model, method = _classifier(len(y), config)
        model.fit(x, y)
    evaluation = Evaluation(
        training_customers=len(y),
        fitting_customers=len(fit_at),
        churn_rate=float(y.mean()),
        features=list(features),
        calibration_method=evaluated_method,
        scoring_calibration_method=method,
        top_share=config.top_share,
        model=_metrics(y[hold_at], p_hold, config),
        baseline=_baseline(train_frame, hold_at, y, config),
    )
    probabilities = np.clip(model.predict_proba(x_score)[:, 1], 0.0, 1.0)
    return ChurnModelResult(
        probabilities=pd.Series(probabilities, index=score_frame.index, name="churn_probability"),
        evaluation=evaluation,
        importances=importances,
        features=tuple(features),
        calibration_method=method,
        infinite_values_replaced=replaced_train + replaced_score,
        dropped_features=tuple(dropped),
    )


def _baseline(frame: pd.DataFrame, hold_at: np.ndarray, y: np.ndarray, config: ChurnModelConfig) -> Metrics | None:
    """1 - p_alive judged on the held-out customers that have a p_alive (None without the column
    or when those customers are all one class)."""
    if "p_alive" not in frame.columns:
        return None
    p_alive = frame["p_alive"].to_numpy(dtype=np.float64, na_value=np.nan)[hold_at]
    known = np.isfinite(p_alive)
    held_y = y[hold_at][known]
    if held_y.size == 0 or held_y.min() == held_y.max():
        return None
    return _metrics(held_y, np.clip(1.0 - p_alive[known], 0.0, 1.0), config)


def _importances(
    model: CalibratedClassifierCV,
    x_hold: np.ndarray,
    y_hold: np.ndarray,
    features: Sequence[str],
    config: ChurnModelConfig,
) -> pd.DataFrame:
    if len(y_hold) > config.importance_sample:
        rng = np.random.default_rng(config.random_state)
        keep = np.sort(rng.choice(len(y_hold), size=config.importance_sample, replace=False))
        if y_hold[keep].min() != y_hold[keep].max():
            x_hold, y_hold = x_hold[keep], y_hold[keep]
    found = permutation_importance(
        model,
        x_hold,
        y_hold,
        scoring="roc_auc",
        n_repeats=config.importance_repeats,
        random_state=config.random_state,
    )
    table = pd.DataFrame(
        {
            "feature": list(features),
            "importance_mean": found.importances_mean,
            "importance_std": found.importances_std,
        }
    )
    return table.sort_values(["importance_mean", "feature"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def evaluation_markdown(result: ChurnModelResult, title: str = "Churn model: evaluation") -> str:
    """The evaluation as a markdown report (the analytics run writes it under docs/)."""
    evaluation = result.evaluation
    model = evaluation["model"]
    base = evaluation["baseline"]
    lines = [
        f"# {title}",
        "",
        f"- Training customers: {evaluation['training_customers']} "
        f"({evaluation['fitting_customers']} fitted, {model['customers']} held out, stratified)",
        f"- Churn rate in training: {_pct(evaluation['churn_rate'])}",
        f"- Features: {', '.join(f'`{f}`' for f in result.features)}",
        f"- Calibration: {evaluation['calibration_method']} (CalibratedClassifierCV, stratified folds)",
        f"- Infinite values replaced by NaN: {result.infinite_values_replaced}",
    ]
    if result.dropped_features:
        lines.append(f"- Dropped (no known value in training): {', '.join(result.dropped_features)}")
    lines += ["", "## Held-out metrics", "", "| Metric | Model | Baseline 1 − p_alive |", "|---|---|---|"]
    lines.append(f"| AUC | {model['auc']:.3f} | {_num(base['auc'] if base else None)} |")
    lines.append(
        f"| Precision at top {_pct(evaluation['top_share'])} (k = {model['k']}) | "
        f"{model['precision_at_k']:.3f} | {_num(base['precision_at_k'] if base else None)} |"
    )
    lines.append(f"| Brier score | {model['brier']:.4f} | {_num(base['brier'] if base else None, 4)} |")
    if base is None:
        lines += ["", "No baseline: the training frame has no usable `p_alive`."]
    lines += ["", "## Calibration (held-out, 10 equal-width bins)", ""]
    lines += ["| Predicted | Customers | Mean predicted | Observed churn |", "|---|---|---|---|"]
    for row in model["calibration"]:
        lines.append(
            f"| {row['bin_low']:.1f}–{row['bin_high']:.1f} | {row['customers']} | "
            f"{row['mean_predicted']:.3f} | {row['observed_rate']:.3f} |"
        )
    lines += ["", "## Permutation importance (drop in held-out AUC)", "", "| Feature | Mean | Std |", "|---|---|---|"]
    for row in result.importances.itertuples(index=False):
        lines.append(f"| `{row.feature}` | {row.importance_mean:.4f} | {row.importance_std:.4f} |")
    return "\n".join(lines) + "\n"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _num(value: float | None, decimals: int = 3) -> str:
    return "—" if value is None else f"{value:.{decimals}f}"
