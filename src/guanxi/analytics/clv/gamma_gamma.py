"""Gamma-Gamma model of average spend (Fader & Hardie, "The Gamma-Gamma Model of Monetary Value", 2013).

A customer's individual transaction values are Gamma(p, nu); across customers nu ~ Gamma(q, gamma).
For a customer with x repeat transactions of mean value m (x > 0), the density of m is

    f(m | p, q, gamma, x) = G(px+q) / (G(px) G(q)) * gamma^q * m^(px-1) * x^px / (gamma + m x)^(px+q)

and the conditional expected average spend is

    E[M | p, q, gamma, m, x] = (q - 1) / (px + q - 1) * p gamma / (q - 1) + px / (px + q - 1) * m,

a weighted mean of the population mean p gamma / (q - 1) and the customer's own mean (needs q > 1).
Only customers with x > 0 enter the fit: without repeat transactions there is no repeat spend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from guanxi.analytics.clv.errors import ClvFitError
from guanxi.analytics.clv.fitting import (
    FloatArray,
    LogLikelihood,
    as_column,
    input_weights,
    maximise,
    weighted_sum,
)
from guanxi.analytics.clv.rows import UniqueRows, unique_rows

PARAM_NAMES = ("p", "q", "gamma")
MIN_CUSTOMERS = 10


def log_likelihood_rows(
    params: Sequence[float] | FloatArray, frequency: FloatArray, monetary: FloatArray
) -> FloatArray:
    """Per-customer log density of the mean spend (customers with frequency > 0 only)."""
    p, q, gamma = (np.float64(v) for v in params)
    x, m = np.asarray(frequency, dtype=np.float64), np.asarray(monetary, dtype=np.float64)
    px = p * x
    return np.asarray(
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(gamma + m * x)
    )


def prepared_log_likelihood(rows: UniqueRows) -> LogLikelihood:
    """The weighted total log-likelihood and its analytic gradient over unique (x, m) rows.

    The gamma functions depend on x only (evaluated per distinct x); the sums of the terms that
    do not depend on the parameters (log m, log x) are taken once; per row only log(gamma + m x)
    and its reciprocal are left.
    """
    x_levels, _ = rows.levels
    x_code, _ = rows.codes
    x, m = rows.columns
    w = rows.counts
    w_total = float(w.sum())
    w_by_x = np.bincount(x_code, weights=w, minlength=x_levels.shape[0]).astype(np.float64)
    used = w_by_x > 0  # unused lattice levels (x = 0 among them) must not reach gammaln(0)
    x_used, w_used = x_levels[used], w_by_x[used]
    wx = w * x
    mx = m * x
    log_m = np.log(m)
    sum_w_log_m = float(weighted_sum(w, log_m))
    sum_wx_log_m = float(weighted_sum(wx, log_m))
    sum_wx_log_x = float(weighted_sum(w_used * x_used, np.log(x_used)))

    def total(params: FloatArray) -> tuple[float, FloatArray]:
        p, q, gamma = (np.float64(v) for v in params)
        px = p * x_used
        log_spend = np.log(gamma + mx)
        ll = (
            weighted_sum(w_used, special.gammaln(px + q) - special.gammaln(px))
            - w_total * special.gammaln(q)
            + w_total * q * np.log(gamma)
            + p * sum_wx_log_m
            - sum_w_log_m
            + p * sum_wx_log_x
            - p * weighted_sum(wx, log_spend)
            - q * weighted_sum(w, log_spend)
        )
        dig = special.digamma(px + q)
        d_p = weighted_sum(w_used * x_used, dig - special.digamma(px)) + sum_wx_log_m + sum_wx_log_x
        d_p -= weighted_sum(wx, log_spend)
        d_q = weighted_sum(w_used, dig) - w_total * (special.digamma(q) - np.log(gamma)) - weighted_sum(w, log_spend)
        inverse_spend = 1.0 / (gamma + mx)
        d_gamma = w_total * q / gamma - p * weighted_sum(wx, inverse_spend) - q * weighted_sum(w, inverse_spend)
        return float(ll), np.array([d_p, d_q, d_gamma])

    return total


@dataclass(frozen=True)
class GammaGammaFit:
    """Fitted Gamma-Gamma spend parameters and the conditional expected average spend."""

    p: float
    q: float
    gamma: float
    standard_errors: dict[str, float]
    log_likelihood: float
    converged: bool
    iterations: int
    n_customers: float
    n_unique_rows: int
    params: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(zip(PARAM_NAMES, (self.p, self.q, self.gamma), strict=True)))

    def summary(self) -> dict[str, Any]:
        """The fit as plain JSON-ready values (for run reports)."""
        return {
            "model": "gamma_gamma",
            "params": dict(self.params),
            "standard_errors": dict(self.standard_errors),
            "log_likelihood": float(self.log_likelihood),
            "converged": bool(self.converged),
            "iterations": int(self.iterations),
            "n_customers": float(self.n_customers),
            "n_unique_rows": int(self.n_unique_rows),
        }

    @property
    def population_mean_spend(self) -> float:
        """E[M] = p gamma / (q - 1); infinite when q <= 1."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")

    def expected_spend(self, frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> FloatArray:
        """E[average spend per transaction | x, m]; customers with x = 0 get the population mean.

        When q <= 1 the population mean is infinite; the customer's own mean (or 0 for x = 0) is
        returned instead so the result stays finite.
        """
        x, m = np.broadcast_arrays(np.asarray(frequency, dtype=np.float64), np.asarray(monetary, dtype=np.float64))
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(m))) or np.any(x < 0) or np.any(m < 0):
            raise ValueError("frequency and monetary must be finite and non-negative")
        if self.q <= 1:
            return np.asarray(np.where(x > 0, m, 0.0))
        px = self.p * x
        shrink = (self.q - 1) / (px + self.q - 1)
        return np.asarray(shrink * self.population_mean_spend + (1 - shrink) * m)


def fit_gamma_gamma(
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    max_iterations: int = 2000,
) -> GammaGammaFit:
    """Fit the Gamma-Gamma spend model on the customers with frequency > 0 (others are ignored).

    monetary: each customer's mean value of the repeat transactions (must be > 0 where x > 0).
    Raises ClvFitError (invalid_input, no_repeat_buyers, too_few_customers, not_converged, non_finite).
    """
    x = as_column("frequency", frequency)
    m = as_column("monetary", monetary)
    if x.shape != m.shape:
        raise ClvFitError("invalid_input", "frequency and monetary must have the same length")
    if np.any(x < 0):
        raise ClvFitError("invalid_input", "frequency must not be negative")
    w = input_weights(weights, x.shape[0])
    repeat = (x > 0) & (w > 0)
    if not repeat.any():
        raise ClvFitError("no_repeat_buyers", "no customer made a repeat purchase")
    if np.any(m[repeat] <= 0):
        raise ClvFitError("invalid_input", "monetary must be positive for customers with repeat purchases")
    n_customers = float(w[repeat].sum())
    if n_customers < MIN_CUSTOMERS:
        raise ClvFitError(
            "too_few_customers", f"{n_customers:g} repeat buyers; the model needs at least {MIN_CUSTOMERS}"
        )
    rows = unique_rows([x[repeat], m[repeat]], w[repeat])
    counts = rows.counts
    # start: individual shape 1, heterogeneity shape 2, scale matching the mean spend
    mean_spend = float(weighted_sum(counts, rows.columns[1]) / counts.sum())
    optimum = maximise(
        prepared_log_likelihood(rows), np.array([1.0, 2.0, mean_spend]), n_customers, max_iterations=max_iterations
    )
    p, q, gamma = (float(v) for v in optimum.params)
    return GammaGammaFit(
        p=p,
        q=q,
        gamma=gamma,
        standard_errors=dict(zip(PARAM_NAMES, (float(v) for v in optimum.standard_errors), strict=True)),
        log_likelihood=optimum.log_likelihood,
        converged=optimum.converged,
        iterations=optimum.iterations,
        n_customers=n_customers,
        n_unique_rows=int(counts.shape[0]),
    )
