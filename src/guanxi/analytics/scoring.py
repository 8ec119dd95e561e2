"""Every per-customer score of one analytics run, computed from the warehouse as of a date.

Each model runs on its own: one that cannot (too little data, a fit that does not converge)
is skipped with its reason in the report, its columns are left unknown, and the write-back keeps
those customers' previous values. No NaN or infinity leaves this module: unknown is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from guanxi.analytics import clv, lifecycle, rfm
from guanxi.analytics.churn_model import ChurnModelConfig, ChurnModelError, ChurnModelResult, train_churn_model
from guanxi.analytics.churn_scorecard import ScorecardError, score_customers
from guanxi.analytics.clusters import ClusterConfig, ClusterError, cluster_customers
from guanxi.analytics.features import RECENT_DAYS, features_frame
from guanxi.analytics.purchases import Warehouse, behaviour, customer_days

WEEK = 7.0
MODEL_THREADS = 1
# The nightly run's model settings: the explanations' samples kept small (permutation importance
# on 10,000 customers was most of a 200,000-customer run's model time, the silhouette of 20,000
# rows per k most of the clusters'); the fits themselves use every customer.
CHURN_MODEL = ChurnModelConfig(importance_sample=3_000, importance_repeats=3)
CLUSTERS = ClusterConfig(selection_sample=5_000, silhouette_sample=5_000)
# the columns each model fills; a skipped model leaves them to the previous run
MODEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "rfm": ("r_score", "f_score", "m_score", "rfm_score", "rfm_segment"),
    "lifecycle": ("lifecycle_stage",),
    "clv": ("clv", "p_alive", "expected_purchases"),
    "scorecard": ("churn_risk", "churn_band", "churn_reasons"),
    "churn_model": ("churn_probability",),
    "clusters": ("cluster", "cluster_name"),
    "value_tier": ("value_tier",),
}


@dataclass(frozen=True)
class Options:
    as_of: date
    window_days: int = 365
    preset: str = "balanced"
    segment_rules: tuple[rfm.SegmentRule, ...] = rfm.STANDARD_MAP
    lifecycle: lifecycle.LifecycleSettings = field(default_factory=lifecycle.LifecycleSettings)
    clv_months: int = 12
    monthly_discount: float = 0.01
    margin: float = 1.0
    modified_bgnbd: bool = True
    prediction_days: int = 90


@dataclass
class Computed:
    scores: pd.DataFrame  # one row per scored customer
    features: pd.DataFrame
    report: dict[str, Any]
    skipped: dict[str, dict[str, str]]
    churn_model: ChurnModelResult | None = None
    cluster_profiles: list[dict[str, Any]] = field(default_factory=list)


def compute(w: Warehouse, options: Options) -> Computed:
    # The models' OpenMP and BLAS threads fight over the machine's cores with each other and with
    # the server (a churn model fit took 140 s with the default threads, 10 s with one; the
    # results are the same).
    with threadpool_limits(limits=MODEL_THREADS):
        return _compute(w, options)


def _compute(w: Warehouse, options: Options) -> Computed:
    as_of = options.as_of
    feats = features_frame(w, as_of, window_days=options.window_days)
    opted_out = feats["profiling_opt_out"].fillna(False).astype(bool)
    feats = feats[~opted_out].reset_index(drop=True)
    report: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "customers": len(feats),
        "profiling_opt_out": int(opted_out.sum()),
        "buyers": int((feats["purchase_days"] > 0).sum()),
        "over_refunded_orders": int(feats["over_refunded_orders"].fillna(0).sum()),
    }
    skipped: dict[str, dict[str, str]] = {}
    scores = feats[["customer_id", "recency_days", "frequency", "monetary"]].copy()
    keep = set(feats["customer_id"])

    scored = rfm.with_segments(
        rfm.scores(behaviour(w, as_of, window_days=options.window_days), weights=rfm.PRESETS[options.preset]),
        options.segment_rules,
    )
    rfm_frame = scored.select("customer_id", *MODEL_COLUMNS["rfm"]).execute()
    scores = scores.merge(rfm_frame[rfm_frame.customer_id.isin(keep)], on="customer_id", how="left")
    report["segments"] = {k: int(v) for k, v in scores["rfm_segment"].value_counts().items()}

    median_cycle = float(feats["mean_cycle_days"].median()) if feats["mean_cycle_days"].notna().any() else 30.0
    staged = lifecycle.stages(
        behaviour(w, as_of, window_days=options.window_days),
        lifecycle.last_gaps(customer_days(w, as_of)),
        median_cycle,
        options.lifecycle,
    )
    stage_frame = staged.select("customer_id", "lifecycle_stage").execute()
    scores = scores.merge(stage_frame, on="customer_id", how="left")
    scores["lifecycle_stage"] = scores["lifecycle_stage"].fillna("prospect")
    report["stages"] = {k: int(v) for k, v in scores["lifecycle_stage"].value_counts().items()}

    _clv(feats, scores, options, report, skipped)
    feats = feats.merge(scores[["customer_id", "p_alive"]], on="customer_id", how="left")
    _scorecard(feats, scores, report, skipped)
    model = _churn_model(w, feats, scores, options, report, skipped)
    profiles = _clusters(feats, scores, report, skipped)
    scores["value_tier"] = value_tiers(scores)
    return Computed(clean(scores), feats, report, skipped, model, profiles)


def clv_inputs(buyers: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD's (x, t, T) in weeks: repeat purchase days, first to last purchase, first purchase
    to the as-of day."""
    frequency = (buyers["purchase_days"] - 1).to_numpy(dtype=float)
    span = (buyers["tenure_days"] - buyers["recency_days"]).to_numpy(dtype=float) / WEEK
    return frequency, span, buyers["tenure_days"].to_numpy(dtype=float) / WEEK


def _clv(
    feats: pd.DataFrame, scores: pd.DataFrame, options: Options, report: dict[str, Any], skipped: dict[str, Any]
) -> None:
    buyers = feats[feats["purchase_days"] > 0]
    frequency, span, T = clv_inputs(buyers)
    # Gamma-Gamma's spend: the mean of the repeat purchases (the first one is left out, as the model asks)
    repeat_total = np.maximum((buyers["spend"] - buyers["first_spend"]).to_numpy(dtype=float), 0.0)
    repeat_spend = np.divide(repeat_total, frequency, out=np.zeros_like(repeat_total), where=frequency > 0)
    for column in MODEL_COLUMNS["clv"]:
        scores[column] = np.nan
    try:
        bg = clv.fit_bgnbd(frequency, span, T, modified=options.modified_bgnbd)
        spenders = (frequency > 0) & (repeat_spend > 0)
        gg = clv.fit_gamma_gamma(frequency[spenders], repeat_spend[spenders])
    except clv.ClvFitError as error:
        skipped["clv"] = {"code": error.code, "message": str(error)}
        return
    horizon = options.prediction_days / WEEK
    value = clv.discounted_clv(
        bg,
        gg,
        frequency,
        span,
        T,
        repeat_spend,
        months=options.clv_months,
        monthly_discount=options.monthly_discount,
        time_unit_days=WEEK,
        margin=options.margin,
    )
    index = scores.index[scores["customer_id"].isin(buyers["customer_id"])]
    order = pd.Series(range(len(buyers)), index=buyers["customer_id"].to_numpy())
    at = order.loc[scores.loc[index, "customer_id"]].to_numpy()
    scores.loc[index, "p_alive"] = bg.p_alive(frequency, span, T)[at]
    scores.loc[index, "expected_purchases"] = bg.expected_purchases(horizon, frequency, span, T)[at]
    scores.loc[index, "clv"] = np.round(value[at], 2)
    report["clv"] = {
        "bgnbd": bg.summary() if hasattr(bg, "summary") else {},
        "gamma_gamma": gg.summary() if hasattr(gg, "summary") else {},
    }


def _scorecard(feats: pd.DataFrame, scores: pd.DataFrame, report: dict[str, Any], skipped: dict[str, Any]) -> None:
    try:
        card = score_customers(feats[feats["purchase_days"] > 0])
    except ScorecardError as error:
        skipped["scorecard"] = {"code": error.code, "message": str(error)}
        return
    reasons: dict[Any, list[dict[str, Any]]] = {}
    for row in card.reasons.itertuples(index=False):
        reasons.setdefault(row.customer_id, []).append({"code": row.code, "key": row.key, "params": dict(row.params)})
    by_customer = card.scores
    scores["churn_risk"] = scores["customer_id"].map(by_customer["score"])
    scores["churn_band"] = scores["customer_id"].map(by_customer["band"])
    scores["churn_reasons"] = scores["customer_id"].map(lambda c: reasons.get(c, []))
    report["scorecard"] = card.summary()


def _churn_model(
    w: Warehouse,
    feats: pd.DataFrame,
    scores: pd.DataFrame,
    options: Options,
    report: dict[str, Any],
    skipped: dict[str, Any],
) -> ChurnModelResult | None:
    """Trained on the features as of 90 days earlier, labelled by whether the customer bought in
    the 90 days since; then applied to today's features."""
    scores["churn_probability"] = np.nan
    cutoff = options.as_of - timedelta(days=RECENT_DAYS)
    past = features_frame(w, cutoff, window_days=options.window_days)
    past = past[(past["purchase_days"] > 0) & past["customer_id"].isin(feats["customer_id"])]
    now = feats.set_index("customer_id")
    labels = now.loc[past["customer_id"], "orders_recent"].to_numpy() == 0
    unused = ["profiling_opt_out", "created_at", "first_day", "last_day", "p_alive"]
    training = past.drop(columns=unused, errors="ignore").set_index("customer_id")
    # The baseline the model is judged against: P(alive) as the CLV model saw it at the cutoff
    # (today's would know the answer).
    baseline_skipped: str | None = None
    try:
        x, t, T = clv_inputs(past)
        training["p_alive"] = clv.fit_bgnbd(x, t, T, modified=options.modified_bgnbd).p_alive(x, t, T)
    except clv.ClvFitError as error:  # the model is still judged, with no baseline beside it
        baseline_skipped = error.code
    scoring_frame = (
        feats[feats["purchase_days"] > 0].drop(columns=unused[:-1], errors="ignore").set_index("customer_id")
    )
    needed = ChurnModelConfig().min_customers
    if len(training) < needed:
        skipped["churn_model"] = {
            "code": "too_few_customers",
            "message": f"{len(training)} customers had bought {RECENT_DAYS} days before; the model needs {needed}",
        }
        return None
    try:
        result = train_churn_model(training, pd.Series(labels, index=training.index), scoring_frame, CHURN_MODEL)
    except ChurnModelError as error:
        skipped["churn_model"] = {"code": error.code, "message": str(error)}
        return None
    scores["churn_probability"] = scores["customer_id"].map(result.probabilities)
    baseline = result.evaluation.get("baseline")
    report["churn_model"] = {
        "auc": result.evaluation["model"]["auc"],
        "baseline_auc": baseline["auc"] if baseline else None,
        "baseline_skipped": baseline_skipped,
    }
    return result


def _clusters(
    feats: pd.DataFrame, scores: pd.DataFrame, report: dict[str, Any], skipped: dict[str, Any]
) -> list[dict[str, Any]]:
    scores["cluster"] = np.nan
    scores["cluster_name"] = None
    try:
        result = cluster_customers(feats[feats["purchase_days"] > 0], CLUSTERS)
    except ClusterError as error:
        skipped["clusters"] = {"code": error.code, "message": str(error)}
        return []
    names = {p.cluster: p.name_key for p in result.profiles}
    scores["cluster"] = scores["customer_id"].map(result.labels)
    scores["cluster_name"] = scores["cluster"].map(names)
    report["clusters"] = {"k": result.k, "sizes": {p.name_key: p.size for p in result.profiles}}
    return [
        {
            "cluster": p.cluster,
            "size": p.size,
            "share": p.share,
            "name_key": p.name_key,
            "name_params": dict(p.name_params),
            "traits": [[key, dict(params)] for key, params in p.traits],
            "means": dict(p.means),
        }
        for p in result.profiles
    ]


def value_tiers(scores: pd.DataFrame) -> pd.Series:
    """core / potential / basic / churn_warning (see `lifecycle`), vectorised."""
    m = scores["m_score"].fillna(0)
    f = scores["f_score"].fillna(0)
    clv_rank = scores["clv"].rank(pct=True)
    valuable = (m >= 4) | (clv_rank >= 0.8)
    slipping = (scores["churn_band"] == "high") | scores["lifecycle_stage"].isin(["at_risk", "dormant"])
    tier = np.select(
        [
            valuable & slipping,
            valuable & (f >= 4),
            valuable | (f >= 3) | (clv_rank >= 0.6) | (scores["lifecycle_stage"] == "new"),
        ],
        ["churn_warning", "core", "potential"],
        default="basic",
    )
    return pd.Series(tier, index=scores.index)


def clean(scores: pd.DataFrame) -> pd.DataFrame:
    """No NaN or infinity leaves: numbers become None where unknown."""
    out = scores.replace([np.inf, -np.inf], np.nan).astype(object)
    return out.where(pd.notna(out), None)
