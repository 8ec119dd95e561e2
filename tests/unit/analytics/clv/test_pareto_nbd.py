"""Pareto/NBD: the CDNOW fit of Fader, Hardie & Lee, predictions against lifetimes, extremes, guards."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from guanxi.analytics.clv import ClvFitError, GammaGammaFit, ParetoNbdFit, discounted_clv, fit_pareto_nbd
from guanxi.analytics.clv.pareto_nbd import log_likelihood_rows, prepared_log_likelihood
from guanxi.analytics.clv.rows import unique_rows

X = np.array([0.0, 1.0, 2.0, 5.0, 10.0, 30.0])
TX = np.array([0.0, 5.0, 10.0, 30.0, 35.0, 38.0])
T = np.array([38.86, 38.0, 20.0, 35.0, 38.0, 39.0])


def fit_at(r: float, alpha: float, s: float, beta: float) -> ParetoNbdFit:
    return ParetoNbdFit(r, alpha, s, beta, {}, 0.0, True, 0, 0.0, 0)


def test_cdnow_fit_reproduces_the_published_figures(cdnow_summary: pd.DataFrame) -> None:
    fit = fit_pareto_nbd(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    assert fit.converged and fit.n_customers == 2357
    assert fit.r == pytest.approx(0.55, abs=5e-3)
    assert fit.alpha == pytest.approx(10.58, abs=5e-3)
    assert fit.s == pytest.approx(0.61, abs=5e-3)
    assert fit.beta == pytest.approx(11.67, abs=5e-3)
    assert fit.log_likelihood == pytest.approx(-9595.0, abs=0.05)
    assert all(np.isfinite(se) and se > 0 for se in fit.standard_errors.values())


@pytest.mark.parametrize(
    "params", [(0.553, 10.578, 0.606, 11.669), (0.8, 20.0, 1.4, 5.0), (1.2, 3.0, 1.3, 3.0)]
)  # the last: alpha = beta
def test_predictions_equal_lifetimes_at_the_same_params(params: tuple[float, float, float, float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes

    ours = fit_at(*params)
    theirs = lifetimes.ParetoNBDFitter()
    theirs.params_ = pd.Series(dict(zip(("r", "alpha", "s", "beta"), params, strict=True)))
    np.testing.assert_allclose(ours.p_alive(X, TX, T), theirs.conditional_probability_alive(X, TX, T), rtol=1e-6)
    for t in (1.0, 10.0, 52.0):
        np.testing.assert_allclose(
            ours.expected_purchases(t, X, TX, T),
            theirs.conditional_expected_number_of_purchases_up_to_time(t, X, TX, T),
            rtol=1e-6,
        )


def test_s_equal_one_is_the_limit_not_nan() -> None:
    # lifetimes divides 0 by 0 here; the exprel form gives the limit
    values = [fit_at(0.8, 5.0, s, 6.0).expected_purchases(26.0, X, TX, T) for s in (1.0 - 1e-6, 1.0, 1.0 + 1e-6)]
    assert np.all(np.isfinite(values[1]))
    np.testing.assert_allclose(values[1], (values[0] + values[2]) / 2, rtol=1e-9)


def test_prepared_total_equals_the_rows(cdnow_summary: pd.DataFrame) -> None:
    x, t_x, age = (cdnow_summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    params = np.array([0.5, 9.0, 0.7, 12.0])
    ll, grad = prepared_log_likelihood(unique_rows([x, t_x, age]))(params)
    assert ll == pytest.approx(log_likelihood_rows(params, x, t_x, age).sum(), rel=1e-12)
    assert np.all(np.isfinite(grad))


def test_extreme_inputs_give_finite_numbers() -> None:
    fit = fit_at(0.553, 10.578, 0.606, 11.669)
    x = np.array([500.0, 2000.0, 10_000.0, 0.0, 200.0, 500.0])
    t_x = np.array([4999.0, 1000.0, 49_999.0, 0.0, 38.0, 5000.0])
    age = np.array([5000.0, 5000.0, 50_000.0, 5000.0, 40.0, 5000.0])
    for t in (0.0, 52.0, 1e6):
        assert np.all(np.isfinite(fit.expected_purchases(t, x, t_x, age)))
    alive = fit.p_alive(x, t_x, age)
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    assert alive[-1] == 1.0  # a purchase at the very end of the observation: certainly alive
    assert np.all(np.isfinite(fit.log_likelihood_rows(x, t_x, age)))
    gg = GammaGammaFit(6.25, 3.74, 15.44, {}, 0.0, True, 0, 0.0, 0)
    value = discounted_clv(fit, gg, x, t_x, age, np.full(6, 30.0), months=24, monthly_discount=0.01, time_unit_days=7)
    assert np.all(np.isfinite(value)) and np.all(value >= 0)


def test_weighted_fit_equals_fit_on_expanded_rows(cdnow_summary: pd.DataFrame) -> None:
    head = cdnow_summary.iloc[:400]
    counts = np.random.default_rng(5).integers(1, 4, size=len(head))
    weighted = fit_pareto_nbd(head["frequency"], head["recency"], head["T"], counts)
    expanded = head.loc[head.index.repeat(counts)]
    plain = fit_pareto_nbd(expanded["frequency"], expanded["recency"], expanded["T"])
    for name in ("r", "alpha", "s", "beta"):
        assert weighted.params[name] == pytest.approx(plain.params[name], rel=1e-9)


def test_refusals() -> None:
    with pytest.raises(ClvFitError) as caught:
        fit_pareto_nbd(np.zeros(30), np.zeros(30), np.full(30, 20.0))
    assert caught.value.code == "no_repeat_buyers"
    with pytest.raises(ClvFitError) as caught:
        fit_pareto_nbd([1.0, 2.0], [1.0, 2.0], [5.0, 5.0])
    assert caught.value.code == "too_few_customers"
    with pytest.raises(ClvFitError) as caught:
        fit_pareto_nbd([1.0] * 20, [6.0] * 20, [5.0] * 20)
    assert caught.value.code == "invalid_input"
