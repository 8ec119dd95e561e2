"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987), in the form of Fader, Hardie & Lee (2005).

While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); the lifetime
is exponential with rate mu ~ Gamma(s, beta), so dropout can happen at any time, not only after a
purchase. For a customer with x repeat purchases, the last at t_x, observed for T:

    L = G(r+x) alpha^r beta^s / G(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s/(r+s+x) * A0 ]

    A0 = F(t_x) - F(T),  F(t) = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+t)) / (alpha+t)^(r+s+x)
    (alpha >= beta; otherwise 2F1(r+s+x, r+x; r+s+x+1; (beta-alpha)/(beta+t)) / (beta+t)^(r+s+x)).

Everything is in log space: log 2F1 comes from special.log_scaled_hyp2f1 (Euler's transformation,
then a positive series in log space where scipy overflows), log A0 = log F(t_x) + log1p(-F(T)/F(t_x)),
and the bracket is a log-sum-exp. The gradient is by central differences (the analytic one needs
derivatives of 2F1 in its parameters); the fit otherwise runs like the BG/NBD's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from guanxi.analytics.clv.errors import ClvFitError
from guanxi.analytics.clv.fitting import FloatArray, LogLikelihood, as_column, input_weights, maximise, weighted_sum
from guanxi.analytics.clv.rows import UniqueRows, unique_rows
from guanxi.analytics.clv.special import log_scaled_hyp2f1

PARAM_NAMES = ("r", "alpha", "s", "beta")
MIN_CUSTOMERS = 10
_GRADIENT_STEP = 1e-6


def _log_hyp2f1(
    a: FloatArray | float, b: FloatArray | float, c: FloatArray | float, z: FloatArray | float
) -> FloatArray:
    """log 2F1(a, b; c; z) for 0 <= z < 1 through the safe scaled form."""
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z)))
    return np.asarray(log_scaled_hyp2f1(a, b, c, z) - a * np.log1p(-z))


def _log_a0(params: Sequence[float] | FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    r, alpha, s, beta = (np.float64(v) for v in params)
    rsx = r + s + x
    second: FloatArray | float
    if alpha >= beta:
        second, base = s + 1.0, alpha
    else:
        second, base = r + x, beta
    gap = abs(alpha - beta)

    def log_f(t: FloatArray) -> FloatArray:
        z = gap / (base + t)
        return np.asarray(_log_hyp2f1(second, rsx, rsx + 1.0, z) - rsx * np.log(base + t))

    upper, lower = log_f(t_x), log_f(T)
    with np.errstate(divide="ignore"):
        # F is decreasing in t, so F(t_x) >= F(T); equal when t_x = T, and then A0 = 0
        return np.asarray(upper + np.log(-np.expm1(np.minimum(lower - upper, 0.0))))


def log_likelihood_rows(
    params: Sequence[float] | FloatArray, frequency: FloatArray, recency: FloatArray, T: FloatArray
) -> FloatArray:
    """Per-customer log-likelihood at params (r, alpha, s, beta)."""
    r, alpha, s, beta = (np.float64(v) for v in params)
    x, t_x, age = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    head = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    dropped = np.log(s) - np.log(r + s + x) + _log_a0(params, x, t_x, age)
    return np.asarray(head + np.logaddexp(alive, dropped))


def prepared_log_likelihood(rows: UniqueRows) -> LogLikelihood:
    """Weighted total over unique rows; gradient by central differences in each parameter."""
    x, t_x, age = rows.columns
    w = rows.counts

    def value(params: FloatArray) -> float:
        return weighted_sum(w, log_likelihood_rows(params, x, t_x, age))

    def total(params: FloatArray) -> tuple[float, FloatArray]:
        grad = np.empty(4)
        for j in range(4):
            step = _GRADIENT_STEP * params[j]
            up, down = params.copy(), params.copy()
            up[j] += step
            down[j] -= step
            grad[j] = (value(up) - value(down)) / (2 * step)
        return value(params), grad

    return total


@dataclass(frozen=True)
class ParetoNbdFit:
    """Fitted Pareto/NBD parameters and the per-customer predictions they give."""

    r: float
    alpha: float
    s: float
    beta: float
    standard_errors: dict[str, float]
    log_likelihood: float
    converged: bool
    iterations: int
    n_customers: float
    n_unique_rows: int
    params: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(zip(PARAM_NAMES, (self.r, self.alpha, self.s, self.beta), strict=True)))

    def summary(self) -> dict[str, Any]:
        """The fit as plain JSON-ready values (for run reports)."""
        return {
            "model": "pareto_nbd",
            "params": dict(self.params),
            "standard_errors": dict(self.standard_errors),
            "log_likelihood": float(self.log_likelihood),
            "converged": bool(self.converged),
            "iterations": int(self.iterations),
            "n_customers": float(self.n_customers),
            "n_unique_rows": int(self.n_unique_rows),
        }

    def _as_tuple(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.s, self.beta)

    def p_alive(self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        """P(alive at T | x, t_x, T) = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0)."""
        x, t_x, age = _inputs(frequency, recency, T)
        log_odds = (
            np.log(self.s)
            - np.log(self.r + self.s + x)
            + (self.r + x) * np.log(self.alpha + age)
            + self.s * np.log(self.beta + age)
            + _log_a0(self._as_tuple(), x, t_x, age)
        )
        return np.asarray(special.expit(-log_odds))

    def expected_purchases(
        self, t: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T + t] | x, t_x, T]:

        P(alive) * (r+x)(beta+T) / ((alpha+T)(s-1)) * [1 - ((beta+T)/(beta+T+t))^(s-1)],
        with the bracket / (s-1) taken as u * exprel(-(s-1) u), u = log((beta+T+t)/(beta+T)), so
        s = 1 is its limit rather than 0/0.
        """
        x, t_x, age = _inputs(frequency, recency, T)
        horizon = np.asarray(t, dtype=np.float64)
        if np.any(~np.isfinite(horizon)) or np.any(horizon < 0):
            raise ValueError("t must be finite and non-negative")
        x, t_x, age, horizon = np.broadcast_arrays(x, t_x, age, horizon)
        alive = self.p_alive(x, t_x, age)
        return np.asarray(alive * self._given_alive(horizon, x, age))

    def _given_alive(self, horizon: FloatArray | np.float64, x: FloatArray, age: FloatArray) -> FloatArray:
        u = np.log1p(horizon / (self.beta + age))
        return np.asarray((self.r + x) * (self.beta + age) / (self.alpha + age) * u * special.exprel(-(self.s - 1) * u))

    def expected_purchases_at(
        self, horizons: Sequence[float], x: FloatArray, t_x: FloatArray, age: FloatArray
    ) -> list[FloatArray]:
        """E[purchases in (T, T + t]] for each scalar t in horizons (the form discounted_clv uses)."""
        alive = self.p_alive(x, t_x, age)
        return [np.asarray(alive * self._given_alive(np.float64(t), x, age)) for t in horizons]

    def log_likelihood_rows(self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        x, t_x, age = _inputs(frequency, recency, T)
        return log_likelihood_rows(self._as_tuple(), x, t_x, age)


def _inputs(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x, t_x, age = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (frequency, recency, T)))
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(age))):
        raise ValueError("frequency, recency and T must be finite")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > age):
        raise ValueError("need frequency >= 0 and 0 <= recency <= T")
    return x, t_x, age


def fit_pareto_nbd(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    max_iterations: int = 2000,
) -> ParetoNbdFit:
    """Fit the Pareto/NBD by maximum likelihood on weighted unique rows (inputs as for fit_bgnbd).

    Raises ClvFitError (invalid_input, too_few_customers, no_repeat_buyers, not_converged, non_finite).
    """
    x = as_column("frequency", frequency)
    t_x = as_column("recency", recency)
    age = as_column("T", T)
    if not (x.shape == t_x.shape == age.shape):
        raise ClvFitError("invalid_input", "frequency, recency and T must have the same length")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > age):
        raise ClvFitError("invalid_input", "need frequency >= 0 and 0 <= recency <= T")
    if np.any((x == 0) & (t_x != 0)):
        raise ClvFitError("invalid_input", "customers with frequency 0 must have recency 0")
    w = input_weights(weights, x.shape[0])
    n_customers = float(w.sum())
    if n_customers < MIN_CUSTOMERS:
        raise ClvFitError("too_few_customers", f"{n_customers:g} customers; the model needs at least {MIN_CUSTOMERS}")
    if not np.any((x > 0) & (w > 0)):
        raise ClvFitError("no_repeat_buyers", "no customer made a repeat purchase")
    rows = unique_rows([x, t_x, age], w)
    counts = rows.counts
    # start: a Gamma of shape 1 with the pooled purchase rate; lifetimes of the order of the mean T
    rate = max(weighted_sum(counts, rows.columns[0]) / weighted_sum(counts, rows.columns[2] + 1e-9), 1e-6)
    mean_age = max(weighted_sum(counts, rows.columns[2]) / counts.sum(), 1e-6)
    start = np.array([1.0, 1.0 / rate, 1.0, mean_age])
    optimum = maximise(prepared_log_likelihood(rows), start, n_customers, max_iterations=max_iterations)
    r, alpha, s, beta = (float(v) for v in optimum.params)
    return ParetoNbdFit(
        r=r,
        alpha=alpha,
        s=s,
        beta=beta,
        standard_errors=dict(zip(PARAM_NAMES, (float(v) for v in optimum.standard_errors), strict=True)),
        log_likelihood=optimum.log_likelihood,
        converged=optimum.converged,
        iterations=optimum.iterations,
        n_customers=n_customers,
        n_unique_rows=int(counts.shape[0]),
    )
