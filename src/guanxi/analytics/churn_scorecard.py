"""The explainable churn health score (流失评分卡): a weighted checklist of warning signs.

Each indicator is a plain rule over the per-customer features frame (see docs/churn.md): recency
against the customer's own purchase cycle, drops in frequency, spend and app activity, complaints,
an NPS detractor score, unused coupons and points about to expire. A fired indicator adds its
weight; the score is the fired weight over the weight that could be evaluated for that customer,
times 100, so a data source the brand does not have yet (no NPS before the service desk) neither
lowers nor raises anybody's risk.

Pure: pandas and numpy only. `render_reason` reads the catalogs through guanxi.kit (imported
where it is used, so scoring itself needs nothing of the application).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

CUSTOMER_ID = "customer_id"
BAND_LOW, BAND_MEDIUM, BAND_HIGH, BAND_UNKNOWN = "low", "medium", "high", "unknown"
SKIPPED_NO_DATA = "no_data"
REASON_KEY_PREFIX = "churn.reason."

# How a reason's parameter is put in words: an integer count, a ratio (one decimal), a share
# shown as a percentage, an amount of money (CNY), or a score.
ParamKind = Literal["count", "ratio", "percent", "money", "score"]


class ScorecardError(ValueError):
    """The features frame or the configuration cannot be scored; `code` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Indicator:
    """One warning sign: `code` names the rule, `weight` its share of the score, `threshold` where
    it fires (its meaning per code is in KNOWN_INDICATORS)."""

    code: str
    weight: float
    threshold: float

    def __post_init__(self) -> None:
        if self.code not in KNOWN_INDICATORS:
            raise ScorecardError("unknown_indicator", f"unknown indicator {self.code!r}")
        if not np.isfinite(self.weight) or self.weight <= 0:
            raise ScorecardError("invalid_weight", f"indicator {self.code}: weight must be a positive number")
        if not np.isfinite(self.threshold) or self.threshold < 0:
            raise ScorecardError("invalid_threshold", f"indicator {self.code}: threshold must be a number >= 0")
        if self.code in _FRACTION_THRESHOLDS and not 0 < self.threshold <= 1:
            raise ScorecardError("invalid_threshold", f"indicator {self.code}: a drop threshold is a share in (0, 1]")


@dataclass(frozen=True)
class ScorecardConfig:
    """The indicators and the band cut-offs: score < medium_from is low, >= high_from is high.
    `default_cycle_days` overrides the population median cycle used for customers without one."""

    indicators: tuple[Indicator, ...]
    medium_from: float = 30.0
    high_from: float = 60.0
    default_cycle_days: float | None = None

    def __post_init__(self) -> None:
        if not self.indicators:
            raise ScorecardError("no_indicators", "a scorecard needs at least one indicator")
        codes = [indicator.code for indicator in self.indicators]
        if len(set(codes)) != len(codes):
            raise ScorecardError("duplicate_indicator", "each indicator may appear once")
        if not 0 < self.medium_from < self.high_from <= 100:
            raise ScorecardError("invalid_bands", "band cut-offs need 0 < medium_from < high_from <= 100")
        if self.default_cycle_days is not None and not (
            np.isfinite(self.default_cycle_days) and self.default_cycle_days > 0
        ):
            raise ScorecardError("invalid_cycle", "default_cycle_days must be a positive number")


@dataclass(frozen=True)
class Reason:
    """A fired indicator for one customer: the catalog `key` and the numbers to render it."""

    code: str
    key: str
    weight: float
    params: Mapping[str, float | int]


@dataclass(frozen=True)
class SkippedIndicator:
    code: str
    reason: str  # SKIPPED_NO_DATA
    missing_columns: tuple[str, ...]


@dataclass(frozen=True)
class ScorecardRun:
    """`scores`: one row per customer (index customer_id) with score (0-100, NaN only when no
    indicator could be evaluated for that customer), band, fired_weight, evaluated_weight.
    `reasons`: one row per fired indicator (customer_id, rank, code, key, weight, params), ranked by
    weight within a customer."""

    scores: pd.DataFrame
    reasons: pd.DataFrame
    used: tuple[str, ...]
    skipped: tuple[SkippedIndicator, ...]
    default_cycle_days: float | None

    def reasons_for(self, customer_id: Hashable) -> tuple[Reason, ...]:
        rows = self.reasons[self.reasons[CUSTOMER_ID] == customer_id]
        return tuple(
            Reason(code=row.code, key=row.key, weight=float(row.weight), params=row.params)
            for row in rows.itertuples(index=False)
        )

    def summary(self) -> dict[str, object]:
        bands = self.scores["band"].value_counts()
        return {
            "customers": len(self.scores),
            "indicators_used": list(self.used),
            "indicators_skipped": [
                {"code": s.code, "reason": s.reason, "missing_columns": list(s.missing_columns)} for s in self.skipped
            ],
            "default_cycle_days": self.default_cycle_days,
            "bands": {band: int(bands.get(band, 0)) for band in (BAND_LOW, BAND_MEDIUM, BAND_HIGH, BAND_UNKNOWN)},
            "fired": {code: int((self.reasons["code"] == code).sum()) for code in self.used},
        }


# --- the indicators -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Evaluation:
    """Per customer: whether the rule could be judged, whether it fired, and its parameters."""

    evaluable: np.ndarray
    fired: np.ndarray
    params: dict[str, np.ndarray]
    # a reason may be phrased differently per customer (own cycle vs the population's)
    keys: np.ndarray | None = None


@dataclass(frozen=True)
class _Rule:
    columns: tuple[str, ...]  # all required to evaluate
    evaluate: Callable[[pd.DataFrame, float, ScorecardConfig], _Evaluation]
    param_kinds: Mapping[str, ParamKind] = field(default_factory=dict)


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=np.float64)


def _recency_cycle(frame: pd.DataFrame, threshold: float, config: ScorecardConfig) -> _Evaluation:
    recency = _column(frame, "recency_days")
    own_cycle = _column(frame, "mean_cycle_days") if "mean_cycle_days" in frame else np.full(len(frame), np.nan)
    has_own = np.isfinite(own_cycle) & (own_cycle > 0)
    default_cycle = _default_cycle(frame, config)
    cycle = np.where(has_own, own_cycle, np.nan if default_cycle is None else default_cycle)
    evaluable = np.isfinite(recency) & np.isfinite(cycle)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(evaluable, recency / cycle, np.nan)
    keys = np.where(has_own, REASON_KEY_PREFIX + "recency_cycle", REASON_KEY_PREFIX + "recency_default_cycle")
    return _Evaluation(
        evaluable=evaluable,
        fired=evaluable & (ratio >= threshold),
        params={"days": np.round(recency), "ratio": np.round(ratio, 1), "cycle": np.round(cycle)},
        keys=keys,
    )


def _drop(recent_column: str, before_column: str) -> Callable[[pd.DataFrame, float, ScorecardConfig], _Evaluation]:
    """A drop from the period before to the recent one; no baseline (before <= 0) cannot drop."""

    def evaluate(frame: pd.DataFrame, threshold: float, config: ScorecardConfig) -> _Evaluation:
        recent, before = _column(frame, recent_column), _column(frame, before_column)
        evaluable = np.isfinite(recent) & np.isfinite(before) & (before > 0) & (recent >= 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            drop = np.where(evaluable, (before - recent) / before, np.nan)
        return _Evaluation(
            evaluable=evaluable,
            fired=evaluable & (drop >= threshold - 1e-12),
            params={"recent": recent, "before": before, "drop": np.round(drop, 3)},
        )

    return evaluate


def _at_least(column: str, param: str) -> Callable[[pd.DataFrame, float, ScorecardConfig], _Evaluation]:
    def evaluate(frame: pd.DataFrame, threshold: float, config: ScorecardConfig) -> _Evaluation:
        values = _column(frame, column)
        evaluable = np.isfinite(values)
        return _Evaluation(evaluable=evaluable, fired=evaluable & (values >= threshold), params={param: values})

    return evaluate


def _above(column: str, param: str) -> Callable[[pd.DataFrame, float, ScorecardConfig], _Evaluation]:
    def evaluate(frame: pd.DataFrame, threshold: float, config: ScorecardConfig) -> _Evaluation:
        values = _column(frame, column)
        evaluable = np.isfinite(values)
        return _Evaluation(evaluable=evaluable, fired=evaluable & (values > threshold), params={param: values})

    return evaluate


def _at_most(column: str, param: str) -> Callable[[pd.DataFrame, float, ScorecardConfig], _Evaluation]:
    def evaluate(frame: pd.DataFrame, threshold: float, config: ScorecardConfig) -> _Evaluation:
        values = _column(frame, column)
        evaluable = np.isfinite(values)
        return _Evaluation(evaluable=evaluable, fired=evaluable & (values <= threshold), params={param: values})

    return evaluate


# code -> rule. Thresholds: recency_cycle fires at recency / cycle >= threshold; the *_drop rules
# at a drop (share of the period before) >= threshold; complaints and unused_coupons at a count
# >= threshold; nps_detractor at a score <= threshold; points_expiring at points > threshold.
KNOWN_INDICATORS: dict[str, _Rule] = {
    "recency_cycle": _Rule(("recency_days",), _recency_cycle, {"days": "count", "ratio": "ratio", "cycle": "count"}),
    "frequency_drop": _Rule(
        ("orders_recent", "orders_before"),
        _drop("orders_recent", "orders_before"),
        {"recent": "count", "before": "count", "drop": "percent"},
    ),
    "spend_drop": _Rule(
        ("spend_recent", "spend_before"),
        _drop("spend_recent", "spend_before"),
        {"recent": "money", "before": "money", "drop": "percent"},
    ),
    "complaints": _Rule(("complaints_90d",), _at_least("complaints_90d", "count"), {"count": "count"}),
    "nps_detractor": _Rule(("nps_score",), _at_most("nps_score", "score"), {"score": "score"}),
    "activity_drop": _Rule(
        ("active_days_recent", "active_days_before"),
        _drop("active_days_recent", "active_days_before"),
        {"recent": "count", "before": "count", "drop": "percent"},
    ),
    "unused_coupons": _Rule(("unused_coupons",), _at_least("unused_coupons", "count"), {"count": "count"}),
    "points_expiring": _Rule(("points_expiring_30d",), _above("points_expiring_30d", "points"), {"points": "count"}),
}
_FRACTION_THRESHOLDS = frozenset({"frequency_drop", "spend_drop", "activity_drop"})

DEFAULT_INDICATORS: tuple[Indicator, ...] = (
    Indicator("recency_cycle", weight=25, threshold=2.0),
    Indicator("frequency_drop", weight=15, threshold=0.5),
    Indicator("spend_drop", weight=15, threshold=0.5),
    Indicator("complaints", weight=15, threshold=1),
    Indicator("nps_detractor", weight=10, threshold=6),
    Indicator("activity_drop", weight=10, threshold=0.5),
    Indicator("unused_coupons", weight=5, threshold=1),
    Indicator("points_expiring", weight=5, threshold=0),
)
DEFAULT_CONFIG = ScorecardConfig(DEFAULT_INDICATORS)


def _default_cycle(frame: pd.DataFrame, config: ScorecardConfig) -> float | None:
    """The cycle for customers without their own: configured, else the median of the customers'
    own cycles; None when nobody has one."""
    if config.default_cycle_days is not None:
        return config.default_cycle_days
    if "mean_cycle_days" not in frame:
        return None
    cycles = _column(frame, "mean_cycle_days")
    cycles = cycles[np.isfinite(cycles) & (cycles > 0)]
    return float(np.median(cycles)) if cycles.size else None


def customer_frame(features: pd.DataFrame) -> pd.DataFrame:
    """The features indexed by customer_id (taken from a column when there is one), infinities
    as NaN (unknown), one row per customer."""
    frame = features.set_index(CUSTOMER_ID) if CUSTOMER_ID in features.columns else features.copy()
    frame.index.name = CUSTOMER_ID
    if frame.index.has_duplicates:
        raise ScorecardError("duplicate_customers", "the features frame has more than one row for a customer")
    numeric = frame.select_dtypes(include="number").columns
    frame[numeric] = frame[numeric].replace([np.inf, -np.inf], np.nan)
    return frame


def score_customers(features: pd.DataFrame, config: ScorecardConfig = DEFAULT_CONFIG) -> ScorecardRun:
    """Score every customer of `features` (one row per customer) with `config`'s indicators."""
    frame = customer_frame(features)
    n = len(frame)
    used: list[str] = []
    skipped: list[SkippedIndicator] = []
    fired_weight = np.zeros(n)
    evaluated_weight = np.zeros(n)
    reason_parts: list[pd.DataFrame] = []
    default_cycle = _default_cycle(frame, config)
    for order, indicator in enumerate(config.indicators):
        rule = KNOWN_INDICATORS[indicator.code]
        missing = tuple(c for c in rule.columns if c not in frame.columns)
        if indicator.code == "recency_cycle" and not missing and default_cycle is None:
            missing = ("mean_cycle_days",)  # nobody has a cycle, and none is configured
        if missing:
            skipped.append(SkippedIndicator(indicator.code, SKIPPED_NO_DATA, missing))
            continue
        used.append(indicator.code)
        result = rule.evaluate(frame, indicator.threshold, config)
        evaluated_weight += np.where(result.evaluable, indicator.weight, 0.0)
        fired_weight += np.where(result.fired, indicator.weight, 0.0)
        if result.fired.any():
            reason_parts.append(_reason_rows(frame.index, indicator, order, rule, result))
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(evaluated_weight > 0, 100.0 * fired_weight / evaluated_weight, np.nan)
    scores = pd.DataFrame(
        {
            "score": np.round(score, 2),
            "band": _bands(score, config),
            "fired_weight": fired_weight,
            "evaluated_weight": evaluated_weight,
        },
        index=frame.index,
    )
    return ScorecardRun(
        scores=scores,
        reasons=_rank_reasons(reason_parts),
        used=tuple(used),
        skipped=tuple(skipped),
        default_cycle_days=default_cycle,
    )


def _bands(score: np.ndarray, config: ScorecardConfig) -> np.ndarray:
    bands = np.full(score.shape, BAND_UNKNOWN, dtype=object)
    known = np.isfinite(score)
    bands[known & (score < config.medium_from)] = BAND_LOW
    bands[known & (score >= config.medium_from) & (score < config.high_from)] = BAND_MEDIUM
    bands[known & (score >= config.high_from)] = BAND_HIGH
    return bands


def _reason_rows(index: pd.Index, indicator: Indicator, order: int, rule: _Rule, result: _Evaluation) -> pd.DataFrame:
    mask = result.fired
    keys = (
        result.keys[mask] if result.keys is not None else np.full(int(mask.sum()), REASON_KEY_PREFIX + indicator.code)
    )
    names = list(result.params)
    columns = [result.params[name][mask] for name in names]
    params = [
        {
            name: _plain_number(values[i], rule.param_kinds.get(name, "ratio"))
            for name, values in zip(names, columns, strict=True)
        }
        for i in range(int(mask.sum()))
    ]
    return pd.DataFrame(
        {
            CUSTOMER_ID: index[mask],
            "code": indicator.code,
            "key": keys,
            "weight": float(indicator.weight),
            "order": order,
            "params": params,
        }
    )


def _plain_number(value: float, kind: ParamKind) -> float | int:
    # Counts and scores are whole numbers in the catalog's sentences; the rest stay floats.
    return int(np.rint(value)) if kind in ("count", "score") else float(value)


def _rank_reasons(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    columns = [CUSTOMER_ID, "rank", "code", "key", "weight", "params"]
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    reasons = pd.concat(parts, ignore_index=True)
    # heaviest first; equal weights keep the configuration's order
    reasons = reasons.sort_values([CUSTOMER_ID, "weight", "order"], ascending=[True, False, True], kind="stable")
    reasons["rank"] = reasons.groupby(CUSTOMER_ID, sort=False).cumcount() + 1
    return reasons[columns].reset_index(drop=True)


# --- words ---------------------------------------------------------------------------------


def reason_param_kinds(code: str) -> Mapping[str, ParamKind]:
    return KNOWN_INDICATORS[code].param_kinds


def render_reason(reason: Reason, language: str) -> str:
    """The reason as a sentence in `language`, its figures written by kit.formatting (Babel)."""
    from guanxi.kit import formatting  # the application's catalogs and Babel; scoring does not need them
    from guanxi.kit.i18n import t

    kinds = reason_param_kinds(reason.code)
    words: dict[str, str] = {}
    for name, value in reason.params.items():
        kind = kinds.get(name, "ratio")
        if kind == "money":
            words[name] = formatting.money(value, "CNY", language)
        elif kind == "percent":
            words[name] = formatting.percent(value, language, decimals=0)
        elif kind == "ratio":
            words[name] = formatting.number(round(float(value), 1), language)
        else:
            words[name] = formatting.number(int(value), language)
    return t(reason.key, language, **words)
