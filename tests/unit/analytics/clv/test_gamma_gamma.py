"""Gamma-Gamma spend: the CDNOW figures of Fader & Hardie's note, predictions against lifetimes, guards."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from guanxi.analytics.clv import ClvFitError, GammaGammaFit, fit_gamma_gamma
from guanxi.analytics.clv.gamma_gamma import log_likelihood_rows, prepared_log_likelihood
from guanxi.analytics.clv.rows import unique_rows


def test_cdnow_repeat_buyers_reproduce_the_note(cdnow_summary: pd.DataFrame) -> None:
    # the note fits the 946 customers with a repeat purchase in the 39 weeks, on the mean value of
    # their repeat purchase days (first purchase excluded, same-day purchases merged)
    fit = fit_gamma_gamma(cdnow_summary["frequency"], cdnow_summary["monetary"])
    assert fit.n_customers == 946
    assert fit.converged
    assert fit.p == pytest.approx(6.25, abs=5e-3)
    assert fit.q == pytest.approx(3.74, abs=5e-3)
    assert fit.gamma == pytest.approx(15.44, abs=5e-3)
    assert all(np.isfinite(se) and se > 0 for se in fit.standard_errors.values())
    repeat = cdnow_summary["frequency"] > 0
    # the population mean spend and a customer's shrunk mean
    assert fit.population_mean_spend == pytest.approx(fit.p * fit.gamma / (fit.q - 1), rel=1e-12)
    spend = fit.expected_spend(cdnow_summary["frequency"][repeat], cdnow_summary["monetary"][repeat])
    assert np.all(np.isfinite(spend))


def test_expected_spend_equals_lifetimes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes

    ours = GammaGammaFit(6.25, 3.74, 15.44, {}, 0.0, True, 0, 0.0, 0)
    theirs = lifetimes.GammaGammaFitter()
    theirs.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
    x = pd.Series([1.0, 2.0, 5.0, 10.0, 30.0])
    m = pd.Series([10.0, 20.0, 35.5, 40.0, 500.0])
    np.testing.assert_allclose(ours.expected_spend(x, m), theirs.conditional_expected_average_profit(x, m), rtol=1e-6)
    # no repeat purchase: the population mean
    assert ours.expected_spend(0.0, 0.0) == pytest.approx(6.25 * 15.44 / 2.74, rel=1e-12)


def test_weighted_fit_equals_fit_on_expanded_rows(cdnow_summary: pd.DataFrame) -> None:
    rows = cdnow_summary[cdnow_summary["frequency"] > 0].iloc[:300]
    counts = np.random.default_rng(7).integers(1, 4, size=len(rows))
    weighted = fit_gamma_gamma(rows["frequency"], rows["monetary"], counts)
    expanded = rows.loc[rows.index.repeat(counts)]
    plain = fit_gamma_gamma(expanded["frequency"], expanded["monetary"])
    for name in ("p", "q", "gamma"):
        assert weighted.params[name] == pytest.approx(plain.params[name], rel=1e-9)
    assert weighted.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-12)


def test_q_at_most_one_keeps_spend_finite() -> None:
    fit = GammaGammaFit(2.0, 0.8, 10.0, {}, 0.0, True, 0, 0.0, 0)
    spend = fit.expected_spend([0.0, 3.0], [0.0, 25.0])
    np.testing.assert_array_equal(spend, [0.0, 25.0])


def test_no_repeat_buyers() -> None:
    with pytest.raises(ClvFitError) as caught:
        fit_gamma_gamma(np.zeros(30), np.zeros(30))
    assert caught.value.code == "no_repeat_buyers"


def test_too_few_customers() -> None:
    with pytest.raises(ClvFitError) as caught:
        fit_gamma_gamma([1.0, 2.0, 0.0, 3.0], [10.0, 12.0, 0.0, 9.0])
    assert caught.value.code == "too_few_customers"


def test_identical_spend_does_not_converge() -> None:
    # no spread in spend: the individual shape p runs to infinity
    with pytest.raises(ClvFitError) as caught:
        fit_gamma_gamma(np.full(50, 3.0), np.full(50, 20.0))
    assert caught.value.code == "not_converged"


def test_non_positive_spend_of_a_repeat_buyer_is_invalid() -> None:
    with pytest.raises(ClvFitError) as caught:
        fit_gamma_gamma(np.full(20, 2.0), np.r_[np.full(19, 10.0), 0.0])
    assert caught.value.code == "invalid_input"


def test_prepared_likelihood_and_gradient(cdnow_summary: pd.DataFrame) -> None:
    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    x, m = repeat["frequency"].to_numpy(), repeat["monetary"].to_numpy()
    total = prepared_log_likelihood(unique_rows([x, m]))
    params = np.array([5.0, 3.0, 12.0])
    ll, grad = total(params)
    assert ll == pytest.approx(log_likelihood_rows(params, x, m).sum(), rel=1e-12)
    for j in range(3):
        step = np.eye(3)[j] * 1e-6 * params[j]
        numeric = (total(params + step)[0] - total(params - step)[0]) / (2 * step[j])
        assert grad[j] == pytest.approx(numeric, rel=1e-6)


def test_summary_is_plain_json(cdnow_summary: pd.DataFrame) -> None:
    import json

    fit = fit_gamma_gamma(cdnow_summary["frequency"], cdnow_summary["monetary"])
    summary = json.loads(json.dumps(fit.summary()))
    assert summary["model"] == "gamma_gamma"
    assert summary["n_customers"] == 946.0
    assert summary["standard_errors"] == fit.standard_errors
