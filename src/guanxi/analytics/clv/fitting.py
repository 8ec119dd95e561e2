"""Shared fitting machinery: collapse to weighted unique rows, maximise, standard errors.

Every model here is fitted the same way:

* identical input rows are collapsed into unique rows with a count (times the caller's weights),
  so the work grows with the number of distinct (frequency, recency, T) rows, not customers
  (rows.py), and the special functions are evaluated once per distinct value of a column;
* the positive parameters are optimised as their logarithms, theta = log(params), by BFGS on the
  weighted negative log-likelihood divided by the total weight (so the tolerance does not depend
  on the number of customers), with the analytic gradient;
* standard errors come from the observed information: the Hessian of the total negative
  log-likelihood in the natural parameters at the optimum, obtained by central differences of
  the analytic gradient (step 1e-5 relative per parameter), symmetrised and inverted;
  SE = sqrt(diag(H^-1)). A Hessian that is not positive definite means there is no interior
  optimum (a parameter drifts towards 0 or infinity): the fit is refused as not_converged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize

from guanxi.analytics.clv.errors import ClvFitError

FloatArray = npt.NDArray[np.float64]
# params -> (total weighted log-likelihood over the prepared unique rows, its gradient in params)
LogLikelihood = Callable[[FloatArray], tuple[float, FloatArray]]

GRADIENT_TOLERANCE = 1e-7
MAX_ITERATIONS = 2000
_HESSIAN_STEP = 1e-5


def weighted_sum(weights: FloatArray, values: FloatArray) -> float:
    """sum(weights * values) without BLAS: np.dot hands vectors this long to threaded BLAS,
    whose threads spin and stall (milliseconds per call) when the cores are shared."""
    return float(np.einsum("i,i->", weights, values))


def as_column(name: str, values: npt.ArrayLike) -> FloatArray:
    """A 1-D float64 copy of one input column; refuses non-finite values."""
    column = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(column)):
        raise ClvFitError("invalid_input", f"{name} has non-finite values")
    return column


def input_weights(weights: npt.ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n)
    w = as_column("weights", weights)
    if w.shape[0] != n:
        raise ClvFitError("invalid_input", "weights must have one value per row")
    if np.any(w < 0):
        raise ClvFitError("invalid_input", "weights must not be negative")
    return w


@dataclass(frozen=True)
class Optimum:
    params: FloatArray
    standard_errors: FloatArray
    log_likelihood: float
    converged: bool
    iterations: int


def maximise(
    log_likelihood: LogLikelihood, start: FloatArray, total_weight: float, *, max_iterations: int = MAX_ITERATIONS
) -> Optimum:
    """Maximise the weighted log-likelihood over positive params; raise ClvFitError on failure."""

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(theta)
        try:
            ll, grad = log_likelihood(params)
        except (ArithmeticError, ValueError):  # a parameter under/overflowed on the way to a boundary
            return 1e300, np.zeros_like(theta)
        if not np.isfinite(ll) or not np.all(np.isfinite(grad)):
            # steer the line search away from overflow instead of stopping on a NaN
            return 1e300, np.zeros_like(theta)
        # d/dtheta = params * d/dparams
        return -ll / total_weight, -(grad * params) / total_weight

    with np.errstate(all="ignore"):
        result = optimize.minimize(
            objective,
            np.log(start),
            jac=True,
            method="BFGS",
            options={"gtol": GRADIENT_TOLERANCE, "maxiter": max_iterations},
        )
    params = np.exp(result.x)
    if np.any(params <= 0) or not np.all(np.isfinite(params)):
        raise ClvFitError("non_finite", f"optimum is not finite (params {params.tolist()})")
    ll, grad = log_likelihood(params)
    if not (np.all(np.isfinite(params)) and np.isfinite(ll)) or np.any(params <= 0):
        raise ClvFitError("non_finite", f"optimum is not finite (params {params.tolist()}, log-likelihood {ll})")
    scaled_gradient = np.max(np.abs(grad * params)) / total_weight
    # BFGS may stop on "precision loss" at a true optimum; accept that only if the gradient is tiny
    converged = bool(result.success) or scaled_gradient < 1e-5
    if not converged:
        raise ClvFitError(
            "not_converged",
            f"optimiser stopped after {result.nit} iterations: {result.message} (gradient {scaled_gradient:.2e})",
        )
    if np.any(params > 1e8) or np.any(params < 1e-8):
        # a parameter running off to 0 or infinity means the optimum is on the boundary
        raise ClvFitError("not_converged", f"parameters ran to the boundary: {params.tolist()}")
    errors = standard_errors(log_likelihood, params)
    if not np.all(np.isfinite(errors)):
        # a likelihood flat or curving the wrong way at the "optimum": a parameter is drifting off
        # towards a boundary (e.g. identical spends send p to infinity) and the point is not an answer
        raise ClvFitError(
            "not_converged", f"the Hessian is not positive definite at {params.tolist()}: no interior optimum"
        )
    return Optimum(
        params=params,
        standard_errors=errors,
        log_likelihood=float(ll),
        converged=converged,
        iterations=int(result.nit),
    )


def standard_errors(log_likelihood: LogLikelihood, params: FloatArray) -> FloatArray:
    """sqrt(diag(H^-1)), H = Hessian of the total negative log-likelihood by differences of the gradient."""
    k = params.shape[0]
    hessian = np.empty((k, k))
    for j in range(k):
        step = _HESSIAN_STEP * params[j]
        up, down = params.copy(), params.copy()
        up[j] += step
        down[j] -= step
        hessian[:, j] = -(log_likelihood(up)[1] - log_likelihood(down)[1]) / (2 * step)
    hessian = (hessian + hessian.T) / 2
    with np.errstate(all="ignore"):
        try:
            covariance = np.linalg.inv(hessian)
        except np.linalg.LinAlgError:
            return np.full(k, np.nan)
        variances = np.diag(covariance)
    return np.where(variances > 0, np.sqrt(np.abs(variances)), np.nan)
