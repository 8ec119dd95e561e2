"""Calibration/holdout report: fit on the calibration period, check the forecast on the holdout.

`calibration_report` fits the (modified) BG/NBD and, where there are enough repeat buyers, the
Gamma-Gamma model on the calibration period, then compares the conditional expected holdout
purchases with what each customer did: totals, means per calibration frequency (0, 1, ...,
"7+" as in Fader, Hardie & Lee 2005, figure 4), the mean absolute error per customer, and a
weekly chart of cumulative repeat purchases, actual against the model's unconditional
expectation summed over the customers' first-purchase days (the paper's figure 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from guanxi.analytics.clv.bgnbd import BgNbdFit, fit_bgnbd
from guanxi.analytics.clv.errors import ClvFitError
from guanxi.analytics.clv.gamma_gamma import fit_gamma_gamma
from guanxi.analytics.clv.summary import TimeUnit, calibration_holdout, daily_purchases, day_of, unit_days

# chart words: the caller passes {name: i18n.t(key, language)}; the English defaults are the catalog's
CHART_LABEL_KEYS = {
    "actual": "clv.chart.actual",
    "model": "clv.chart.model",
    "week": "clv.chart.week",
    "cumulative_repeat": "clv.chart.cumulative_repeat",
    "calibration_end": "clv.chart.calibration_end",
}
DEFAULT_CHART_LABELS = {
    "actual": "actual",
    "model": "model",
    "week": "week",
    "cumulative_repeat": "cumulative repeat purchases",
    "calibration_end": "calibration end",
}
# DejaVu first for Latin text, then CJK faces so zh-CN labels render (matplotlib falls back per glyph)
_FONTS = ("DejaVu Sans", "Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC")


def _installed_fonts() -> list[str]:
    # naming only installed faces keeps matplotlib from logging a "not found" line per missing one
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return [name for name in _FONTS if name in installed] or ["sans-serif"]


@dataclass(frozen=True)
class FrequencyBucket:
    frequency: str  # "0", "1", ..., "7+"
    customers: int
    actual_mean: float
    predicted_mean: float


@dataclass(frozen=True)
class SpendFit:
    params: dict[str, float]
    standard_errors: dict[str, float]
    log_likelihood: float
    n_customers: float
    # holdout check: customers who bought in both periods, mean of their holdout spend per purchase day
    holdout_customers: int
    holdout_actual_mean_spend: float
    holdout_predicted_mean_spend: float


@dataclass(frozen=True)
class ClvReport:
    model: str  # "bgnbd" or "modified_bgnbd"
    time_unit: str
    calibration_end: str
    holdout_end: str
    holdout_length: float  # in time_unit
    n_customers: int
    params: dict[str, float]
    standard_errors: dict[str, float]
    log_likelihood: float
    iterations: int
    holdout_actual_total: float
    holdout_predicted_total: float
    mean_absolute_error: float
    buckets: list[FrequencyBucket]
    spend: SpendFit | None
    spend_error: str | None  # the ClvFitError code when the spend model could not be fitted
    weeks: list[float]  # ends of weeks since the first customer's first purchase day (day 7w - 1)
    cumulative_actual: list[float]
    cumulative_predicted: list[float]
    png_path: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return asdict(self)


def calibration_report(
    transactions: pd.DataFrame,
    *,
    calibration_end: object,
    holdout_end: object,
    png_path: str | Path,
    customer_col: str = "customer_id",
    datetime_col: str = "date",
    amount_col: str | None = "amount",
    time_unit: TimeUnit = "weeks",
    modified: bool = False,
    top_bucket: int = 7,
    labels: Mapping[str, str] | None = None,
) -> ClvReport:
    """Fit on purchases up to calibration_end, score on (calibration_end, holdout_end], chart to png_path.

    transactions: one row per purchase (customer, timestamp or date, amount); same-day purchases
    are merged. Customers whose first purchase falls after calibration_end are left out.
    Raises ClvFitError when the BG/NBD cannot be fitted; a Gamma-Gamma failure is reported in
    spend_error instead (the purchase forecast does not depend on it).
    labels: the chart's words by CHART_LABEL_KEYS name, e.g. {n: t(k, lang) for n, k in
    CHART_LABEL_KEYS.items()}; missing names take the English defaults.
    """
    split = calibration_holdout(
        transactions,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        customer_col=customer_col,
        datetime_col=datetime_col,
        amount_col=amount_col,
        time_unit=time_unit,
    )
    x, t_x, age = (split[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
    fit = fit_bgnbd(x, t_x, age, modified=modified)
    length = float(split["duration_holdout"].iloc[0])
    predicted = fit.expected_purchases(length, x, t_x, age)
    actual = split["frequency_holdout"].to_numpy(dtype=np.float64)

    spend: SpendFit | None = None
    spend_error: str | None = None
    if amount_col is not None:
        try:
            spend = _spend_fit(split)
        except ClvFitError as error:
            spend_error = error.code

    weeks, cumulative_actual, cumulative_predicted = _tracking(
        fit, transactions, split, customer_col, datetime_col, day_of(holdout_end), time_unit
    )
    path = Path(png_path)
    words = {**DEFAULT_CHART_LABELS, **(labels or {})}
    _chart(path, weeks, cumulative_actual, cumulative_predicted, _weeks_since(split, calibration_end), words)
    return ClvReport(
        model="modified_bgnbd" if modified else "bgnbd",
        time_unit=time_unit,
        calibration_end=day_of(calibration_end).date().isoformat(),
        holdout_end=day_of(holdout_end).date().isoformat(),
        holdout_length=length,
        n_customers=len(split),
        params=fit.params,
        standard_errors=fit.standard_errors,
        log_likelihood=fit.log_likelihood,
        iterations=fit.iterations,
        holdout_actual_total=float(actual.sum()),
        holdout_predicted_total=float(predicted.sum()),
        mean_absolute_error=float(np.mean(np.abs(predicted - actual))),
        buckets=_buckets(x, actual, predicted, top_bucket),
        spend=spend,
        spend_error=spend_error,
        weeks=weeks.tolist(),
        cumulative_actual=cumulative_actual.tolist(),
        cumulative_predicted=cumulative_predicted.tolist(),
        png_path=str(path),
    )


def _buckets(x: np.ndarray, actual: np.ndarray, predicted: np.ndarray, top: int) -> list[FrequencyBucket]:
    buckets = []
    for k in range(top + 1):
        members = x >= top if k == top else x == k
        if not members.any():
            continue
        buckets.append(
            FrequencyBucket(
                frequency=f"{k}+" if k == top else str(k),
                customers=int(members.sum()),
                actual_mean=float(actual[members].mean()),
                predicted_mean=float(predicted[members].mean()),
            )
        )
    return buckets


def _spend_fit(split: pd.DataFrame) -> SpendFit:
    gg = fit_gamma_gamma(split["frequency"], split["monetary"])
    both = (split["frequency"] > 0) & (split["frequency_holdout"] > 0)
    expected = gg.expected_spend(split["frequency"][both], split["monetary"][both])
    return SpendFit(
        params=gg.params,
        standard_errors=gg.standard_errors,
        log_likelihood=gg.log_likelihood,
        n_customers=gg.n_customers,
        holdout_customers=int(both.sum()),
        holdout_actual_mean_spend=float(split["monetary_holdout"][both].mean()) if both.any() else 0.0,
        holdout_predicted_mean_spend=float(expected.mean()) if both.any() else 0.0,
    )


def _weeks_since(split: pd.DataFrame, moment: object) -> float:
    origin = split["first_purchase"].min()
    return float(((day_of(moment) - origin).days + 1) / 7)


def _tracking(
    fit: BgNbdFit,
    transactions: pd.DataFrame,
    split: pd.DataFrame,
    customer_col: str,
    datetime_col: str,
    end: pd.Timestamp,
    time_unit: TimeUnit,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weekly cumulative repeat purchases of the calibration customers: actual and expected."""
    origin = split["first_purchase"].min()
    total_days = (end - origin).days
    # week w ends with day 7w - 1 after the origin; as with T, purchases on a grid day count in it
    grid_days = np.arange(6, total_days + 1, 7, dtype=np.float64)
    if grid_days.size == 0 or grid_days[-1] != total_days:
        grid_days = np.append(grid_days, float(total_days))
    # expected: sum over first-purchase days of customers * E[X(time since that day)]
    cohorts = split.groupby("first_purchase").size()
    cohort_start = (cohorts.index - origin).days.to_numpy(dtype=np.float64)
    elapsed = np.clip(grid_days[:, None] - cohort_start[None, :], 0.0, None) / unit_days(time_unit)
    per_customer = fit.expected_purchases_new_customer(elapsed)
    predicted = per_customer @ cohorts.to_numpy(dtype=np.float64)
    # actual: purchase days after each customer's first, counted up to each grid point
    days = daily_purchases(transactions, customer_col=customer_col, datetime_col=datetime_col, amount_col=None)
    days = days[days["customer"].isin(split.index) & (days["day"] <= end)]
    repeat = days[days["day"] > days["customer"].map(split["first_purchase"])]
    offsets = np.sort((repeat["day"] - origin).dt.days.to_numpy(dtype=np.float64))
    actual = np.searchsorted(offsets, grid_days, side="right").astype(np.float64)
    return (grid_days + 1) / 7, actual, np.asarray(predicted)


def _chart(
    path: Path,
    weeks: np.ndarray,
    actual: np.ndarray,
    predicted: np.ndarray,
    calibration_week: float,
    words: Mapping[str, str],
) -> None:
    # a Figure with its own Agg canvas: no pyplot, so the caller's backend and global state are untouched
    with matplotlib.rc_context({"font.family": _installed_fonts()}):
        figure = Figure(figsize=(8, 4.5), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.plot(weeks, actual, label=words["actual"], color="#1f77b4")
        axes.plot(weeks, predicted, label=words["model"], color="#d62728", linestyle="--")
        axes.axvline(calibration_week, color="#777777", linewidth=0.8, linestyle=":", label=words["calibration_end"])
        axes.set_xlabel(words["week"])
        axes.set_ylabel(words["cumulative_repeat"])
        axes.legend(loc="upper left")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
