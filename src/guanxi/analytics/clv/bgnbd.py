"""BG/NBD (Fader, Hardie & Lee 2005) and the modified BG/NBD (Batislam, Denizel & Filiztekin 2007).

Both models: while alive, a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha)
(shape r, rate alpha); after each purchase the customer drops out with probability
p ~ Beta(a, b). In the BG/NBD the first purchase carries no dropout chance, so a customer with no
repeat purchase is certainly alive; the modified BG/NBD lets the customer drop out at time 0 as
well, so frequency-0 customers get P(alive) < 1.

With s = 0 (BG/NBD) or s = 1 (modified), for a customer with x repeat purchases, the last at t_x,
observed for T since the first purchase:

    log L = log G(r+x)/G(r) + r log alpha
          + log B(a, b+x+s)/B(a, b)
          + log[ (alpha+T)^-(r+x)  +  d * a/(b+x-1+s) * (alpha+t_x)^-(r+x) ]

with d = 1 for the modified model or x > 0, else 0 (the bracket is a log-sum-exp).
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
from guanxi.analytics.clv.special import log_scaled_hyp2f1

PARAM_NAMES = ("r", "alpha", "a", "b")
MIN_CUSTOMERS = 10
# predictions for more customers than this compute the hypergeometric part once per distinct (x, T)
DEDUPLICATE_ABOVE = 20_000
# within this distance of a = 1 the expectation's c/(a-1) * (1 - G) is a 0/0; interpolate across it
_A_NEAR_ONE = 1e-4


def _parts(
    params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray, shift: int
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """(A1 + A2, A3, A4, has_A4) of the log-likelihood; A4 is -inf where the term is absent."""
    r, alpha, a, b = params
    head = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.gammaln(a + b)
        + special.gammaln(b + x + shift)
        - special.gammaln(b)
        - special.gammaln(a + b + x + shift)
    )
    alive_term = -(r + x) * np.log(alpha + T)
    has_dropout = np.ones_like(x, dtype=bool) if shift else x > 0
    denominator = np.where(has_dropout, b + x - 1 + shift, 1.0)
    dropout_term = np.where(has_dropout, np.log(a) - np.log(denominator) - (r + x) * np.log(alpha + t_x), -np.inf)
    return np.asarray(head), np.asarray(alive_term), np.asarray(dropout_term), np.asarray(has_dropout)


def log_likelihood_rows(
    params: Sequence[float], frequency: FloatArray, recency: FloatArray, T: FloatArray, *, modified: bool = False
) -> FloatArray:
    """Per-customer log-likelihood at params (r, alpha, a, b)."""
    x, t_x, age = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    head, alive_term, dropout_term, _ = _parts(np.asarray(params, dtype=np.float64), x, t_x, age, int(modified))
    return np.asarray(head + np.logaddexp(alive_term, dropout_term))


def prepared_log_likelihood(rows: UniqueRows, shift: int) -> LogLikelihood:
    """The weighted total log-likelihood and its analytic gradient over unique rows.

    Everything that depends on a single column (the gamma functions of x; log(alpha + T) and
    log(alpha + t_x)) is computed once per distinct value and gathered by code, so per row only
    a log-sum-exp and a few products remain.
    """
    x_levels, tx_levels, age_levels = rows.levels
    x_code, tx_code, age_code = rows.codes
    x = rows.columns[0]
    w = rows.counts
    w_total = float(w.sum())
    w_by_x = np.bincount(x_code, weights=w, minlength=x_levels.shape[0]).astype(np.float64)
    # x = 0 in the BG/NBD has no dropout term; its level constant is -inf so the term vanishes
    dropout_levels = (x_levels + shift) > 0

    def total(params: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = (np.float64(v) for v in params)
        rx = r + x
        with np.errstate(divide="ignore", invalid="ignore"):
            dropout_denominator = np.where(dropout_levels, b + x_levels - 1 + shift, 1.0)
            log_dropout = np.where(dropout_levels, np.log(a) - np.log(dropout_denominator), -np.inf)
        head = (
            special.gammaln(r + x_levels)
            - special.gammaln(r)
            + r * np.log(alpha)
            + special.gammaln(a + b)
            + special.gammaln(b + x_levels + shift)
            - special.gammaln(b)
            - special.gammaln(a + b + x_levels + shift)
        )
        log_age = np.log(alpha + age_levels)[age_code]
        log_recency = np.log(alpha + tx_levels)[tx_code]
        alive_term = -rx * log_age
        dropout_term = log_dropout[x_code] - rx * log_recency
        tail = np.logaddexp(alive_term, dropout_term)
        ll = float(weighted_sum(w_by_x, head) + weighted_sum(w, tail))
        w4 = np.exp(dropout_term - tail)  # share of the bracket carried by the dropout term
        w3 = 1.0 - w4
        dig_ab = special.digamma(a + b)
        dig_abx = special.digamma(a + b + x_levels + shift)
        d_r = weighted_sum(w_by_x, special.digamma(r + x_levels)) - w_total * (special.digamma(r) - np.log(alpha))
        d_r -= weighted_sum(w, w3 * log_age + w4 * log_recency)
        inverse_age = (1.0 / (alpha + age_levels))[age_code]
        inverse_recency = (1.0 / (alpha + tx_levels))[tx_code]
        d_alpha = w_total * r / alpha - weighted_sum(w * rx, w3 * inverse_age + w4 * inverse_recency)
        weighted_w4 = w * w4
        d_a = weighted_sum(w_by_x, dig_ab - dig_abx) + weighted_w4.sum() / a
        inverse_denominator = np.where(dropout_levels, 1.0 / dropout_denominator, 0.0)[x_code]
        d_b = weighted_sum(w_by_x, dig_ab + special.digamma(b + x_levels + shift) - special.digamma(b) - dig_abx)
        d_b -= weighted_sum(weighted_w4, inverse_denominator)
        return ll, np.array([d_r, d_alpha, d_a, d_b])

    return total


@dataclass(frozen=True)
class BgNbdFit:
    """Fitted (modified) BG/NBD parameters and the per-customer predictions they give."""

    r: float
    alpha: float
    a: float
    b: float
    standard_errors: dict[str, float]
    log_likelihood: float
    converged: bool
    iterations: int
    n_customers: float
    n_unique_rows: int
    modified: bool = False
    params: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(zip(PARAM_NAMES, (self.r, self.alpha, self.a, self.b), strict=True)))

    def summary(self) -> dict[str, Any]:
        """The fit as plain JSON-ready values (for run reports)."""
        return {
            "model": "modified_bgnbd" if self.modified else "bgnbd",
            "params": dict(self.params),
            "standard_errors": dict(self.standard_errors),
            "log_likelihood": float(self.log_likelihood),
            "converged": bool(self.converged),
            "iterations": int(self.iterations),
            "n_customers": float(self.n_customers),
            "n_unique_rows": int(self.n_unique_rows),
        }

    @property
    def _shift(self) -> int:
        return int(self.modified)

    def _log_odds_dead(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        """log of P(dropped out) / P(alive) given the history."""
        has_dropout = np.ones_like(x, dtype=bool) if self.modified else x > 0
        denominator = np.where(has_dropout, self.b + x - 1 + self._shift, 1.0)
        odds = np.log(self.a) - np.log(denominator) + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
        return np.asarray(np.where(has_dropout, odds, -np.inf))

    def p_alive(self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        """P(the customer is still alive at T | x, t_x, T)."""
        x, t_x, age = _prediction_inputs(frequency, recency, T)
        return np.asarray(special.expit(-self._log_odds_dead(x, t_x, age)))

    def expected_purchases(
        self, t: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T + t] | x, t_x, T], in the fit's time unit."""
        x, t_x, age = _prediction_inputs(frequency, recency, T)
        horizon = np.asarray(t, dtype=np.float64)
        if np.any(~np.isfinite(horizon)) or np.any(horizon < 0):
            raise ValueError("t must be finite and non-negative")
        if horizon.ndim == 0:
            shape = x.shape
            (expected,) = self.expected_purchases_at([float(horizon)], x.reshape(-1), t_x.reshape(-1), age.reshape(-1))
            return np.asarray(expected.reshape(shape))
        x, t_x, age, horizon = np.broadcast_arrays(x, t_x, age, horizon)
        return self._bounded(horizon, x, age, self.p_alive(x, t_x, age), self._given_alive(horizon, x, age))

    def expected_purchases_at(
        self, horizons: Sequence[float], x: FloatArray, t_x: FloatArray, age: FloatArray
    ) -> list[FloatArray]:
        """E[purchases in (T, T + t]] for each scalar t in horizons, on validated 1-D inputs.

        The expectation factors as P(alive | x, t_x, T) * E[purchases | alive, x, T]: the second
        factor, the costly one (the hypergeometric term), does not depend on t_x, so for many
        customers it is computed once per distinct (x, T) pair and gathered.
        """
        alive = self.p_alive(x, t_x, age)
        pairs = unique_rows([x, age]) if x.size > DEDUPLICATE_ABOVE else None
        out = []
        for t in horizons:
            horizon = np.float64(t)
            if pairs is None:
                given_alive = self._given_alive(horizon, x, age)
            else:
                given_alive = self._given_alive(horizon, *pairs.columns)[pairs.inverse]
            out.append(self._bounded(horizon, x, age, alive, given_alive))
        return out

    def _given_alive(self, horizon: FloatArray | np.float64, x: FloatArray, age: FloatArray) -> FloatArray:
        if abs(self.a - 1.0) < _A_NEAR_ONE:
            below = _conditional_given_alive(self, self.a - _A_NEAR_ONE, horizon, x, age)
            above = _conditional_given_alive(self, self.a + _A_NEAR_ONE, horizon, x, age)
            return (below + above) / 2
        return _conditional_given_alive(self, self.a, horizon, x, age)

    def _bounded(
        self, horizon: FloatArray | np.float64, x: FloatArray, age: FloatArray, alive: FloatArray, given: FloatArray
    ) -> FloatArray:
        expected = alive * given
        # E[Y(t) | history] <= E[lambda | history] * t (staying alive can only add purchases)
        bound = (self.r + x) * horizon / (self.alpha + age)
        expected = np.where(np.isfinite(expected), expected, alive * bound)
        return np.asarray(np.clip(expected, 0.0, bound))

    def expected_purchases_new_customer(self, t: npt.ArrayLike) -> FloatArray:
        """E[repeat purchases in (0, t]] for a customer whose first purchase was at 0."""
        horizon = np.asarray(t, dtype=np.float64)
        zeros = np.zeros_like(horizon)
        return self.expected_purchases(horizon, zeros, zeros, zeros)

    def log_likelihood_rows(self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        x, t_x, age = _prediction_inputs(frequency, recency, T)
        return log_likelihood_rows((self.r, self.alpha, self.a, self.b), x, t_x, age, modified=self.modified)


def _conditional_given_alive(
    fit: BgNbdFit, a: float, t: FloatArray | np.float64, x: FloatArray, T: FloatArray
) -> FloatArray:
    """c/(a-1) * (1 - (1-z)^(r+x) 2F1(r+x, b+x+s; c; z)), c = a+b+x-1+s, z = t/(alpha+T+t)."""
    c = a + fit.b + x - 1 + fit._shift
    z = t / (fit.alpha + T + t)
    log_g = log_scaled_hyp2f1(fit.r + x, fit.b + x + fit._shift, c, z)
    return np.asarray(c / (a - 1) * -np.expm1(log_g))


def _prediction_inputs(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x, t_x, age = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    x, t_x, age = np.broadcast_arrays(x, t_x, age)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(age))):
        raise ValueError("frequency, recency and T must be finite")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > age):
        raise ValueError("need frequency >= 0 and 0 <= recency <= T")
    return x, t_x, age


def fit_bgnbd(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    modified: bool = False,
    max_iterations: int = 2000,
) -> BgNbdFit:
    """Fit the BG/NBD (or, with modified=True, the modified BG/NBD) by maximum likelihood.

    frequency: repeat purchases; recency: time of the last purchase after the first; T: time from
    the first purchase to the end of observation (same unit as recency). weights: customers per
    row (default 1). Identical rows are collapsed first, so the cost follows the unique rows.
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
    # start: a Gamma of shape 1 with the pooled purchase rate; a dropout Beta with mean 1/3
    rate = max(float(weighted_sum(counts, rows.columns[0]) / weighted_sum(counts, rows.columns[2] + 1e-9)), 1e-6)
    start = np.array([1.0, 1.0 / rate, 1.0, 2.0])
    optimum = maximise(prepared_log_likelihood(rows, int(modified)), start, n_customers, max_iterations=max_iterations)
    r, alpha, a, b = (float(v) for v in optimum.params)
    return BgNbdFit(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        standard_errors=dict(zip(PARAM_NAMES, (float(v) for v in optimum.standard_errors), strict=True)),
        log_likelihood=optimum.log_likelihood,
        converged=optimum.converged,
        iterations=optimum.iterations,
        n_customers=n_customers,
        n_unique_rows=int(counts.shape[0]),
        modified=modified,
    )
