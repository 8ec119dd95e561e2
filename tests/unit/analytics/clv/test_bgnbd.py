"""BG/NBD and modified BG/NBD: likelihood values, the CDNOW fit, predictions against lifetimes, guards."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from guanxi.analytics.clv import BgNbdFit, ClvFitError, fit_bgnbd
from guanxi.analytics.clv.bgnbd import DEDUPLICATE_ABOVE, log_likelihood_rows, prepared_log_likelihood
from guanxi.analytics.clv.rows import unique_rows

CUSTOMERS_X = np.array([0.0, 1.0, 2.0, 5.0, 10.0, 30.0])
CUSTOMERS_TX = np.array([0.0, 5.0, 10.0, 30.0, 35.0, 38.0])
CUSTOMERS_T = np.array([38.86, 38.0, 20.0, 35.0, 38.0, 39.0])


def fit_at(r: float, alpha: float, a: float, b: float, *, modified: bool = False) -> BgNbdFit:
    return BgNbdFit(r, alpha, a, b, {}, 0.0, True, 0, 0.0, 0, modified)


def test_log_likelihood_point_values() -> None:
    ll = log_likelihood_rows(
        (0.25, 4.0, 0.8, 2.5), np.array([0.0, 200.0]), np.array([0.0, 38.0]), np.array([40.0, 40.0])
    )
    assert ll[0] == pytest.approx(-0.59947, abs=5e-5)
    assert ll[1] == pytest.approx(100.7957, abs=5e-5)


def test_cdnow_fit_reproduces_fader_hardie_lee(cdnow_summary: pd.DataFrame) -> None:
    fit = fit_bgnbd(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    assert fit.n_customers == 2357
    assert fit.converged
    assert fit.r == pytest.approx(0.243, abs=5e-4)
    assert fit.alpha == pytest.approx(4.414, abs=5e-4)
    assert fit.a == pytest.approx(0.793, abs=5e-4)
    assert fit.b == pytest.approx(2.426, abs=5e-4)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert fit.n_unique_rows < fit.n_customers
    assert all(np.isfinite(se) and se > 0 for se in fit.standard_errors.values())


def test_standard_errors_match_the_inverse_hessian_of_a_finer_difference(cdnow_summary: pd.DataFrame) -> None:
    fit = fit_bgnbd(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    x, t_x, age = (cdnow_summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    params = np.array([fit.r, fit.alpha, fit.a, fit.b])

    def nll(v: np.ndarray) -> float:
        return -float(log_likelihood_rows(v, x, t_x, age).sum())

    # second differences of the likelihood itself (not of the gradient), step 1e-3 relative
    h = 1e-3 * params
    hessian = np.empty((4, 4))
    for i in range(4):
        for j in range(4):
            e_i, e_j = np.eye(4)[i] * h[i], np.eye(4)[j] * h[j]
            hessian[i, j] = (
                nll(params + e_i + e_j) - nll(params + e_i - e_j) - nll(params - e_i + e_j) + nll(params - e_i - e_j)
            ) / (4 * h[i] * h[j])
    expected = np.sqrt(np.diag(np.linalg.inv(hessian)))
    got = np.array([fit.standard_errors[k] for k in ("r", "alpha", "a", "b")])
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_modified_fit_gives_frequency_zero_customers_p_alive_below_one(cdnow_summary: pd.DataFrame) -> None:
    fit = fit_bgnbd(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"], modified=True)
    assert fit.modified and fit.converged
    zero = cdnow_summary["frequency"] == 0
    alive = fit.p_alive(cdnow_summary["frequency"][zero], cdnow_summary["recency"][zero], cdnow_summary["T"][zero])
    assert np.all(alive < 1.0) and np.all(alive > 0.0)
    plain = fit_bgnbd(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"])
    assert np.all(plain.p_alive(np.zeros(3), np.zeros(3), np.array([1.0, 20.0, 38.0])) == 1.0)
    # the modified model nests no worse on CDNOW than the original
    assert fit.log_likelihood >= plain.log_likelihood - 1.0


@pytest.mark.parametrize("modified", [False, True])
def test_predictions_equal_lifetimes_at_the_same_params(modified: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes

    params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    ours = fit_at(**params, modified=modified)
    theirs = lifetimes.ModifiedBetaGeoFitter() if modified else lifetimes.BetaGeoFitter()
    theirs.params_ = pd.Series(params)
    x, t_x, age = CUSTOMERS_X, CUSTOMERS_TX, CUSTOMERS_T
    for t in (1.0, 10.0, 52.0):
        np.testing.assert_allclose(
            ours.expected_purchases(t, x, t_x, age),
            theirs.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, age),
            rtol=1e-6,
        )
    np.testing.assert_allclose(ours.p_alive(x, t_x, age), theirs.conditional_probability_alive(x, t_x, age), rtol=1e-6)
    horizons = np.array([1.0, 10.0, 39.0, 78.0])
    np.testing.assert_allclose(
        ours.expected_purchases_new_customer(horizons),
        theirs.expected_number_of_purchases_up_to_time(horizons),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        ours.log_likelihood_rows(x, t_x, age).sum(),
        -theirs._negative_log_likelihood(np.log(list(params.values())), x, t_x, age, np.ones_like(x), 0.0) * len(x),
        rtol=1e-6,
    )


@pytest.mark.parametrize("modified", [False, True])
def test_extreme_inputs_give_finite_predictions(modified: bool) -> None:
    fit = fit_at(0.243, 4.414, 0.793, 2.426, modified=modified)
    x = np.array([500.0, 500.0, 2000.0, 10_000.0, 500.0, 100.0, 0.0, 0.0])
    t_x = np.array([4999.0, 100.0, 4999.0, 49_999.0, 0.5, 0.0, 0.0, 0.0])
    age = np.array([5000.0, 5000.0, 5000.0, 50_000.0, 1.0, 40.0, 5000.0, 0.0])
    for t in (0.0, 0.5, 52.0, 5000.0, 1e5, 1e9):
        expected = fit.expected_purchases(t, x, t_x, age)
        assert np.all(np.isfinite(expected)), t
        assert np.all(expected >= 0)
        assert np.all(expected <= (fit.r + x) * t / (fit.alpha + age) + 1e-12)
    alive = fit.p_alive(x, t_x, age)
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    ll = fit.log_likelihood_rows(x, t_x, age)
    assert np.all(np.isfinite(ll))
    # a customer buying 500 times in 5000 weeks, last purchase just now, is alive: ~ (r+x)/(alpha+T) a week
    assert fit.expected_purchases(52.0, 500.0, 4999.0, 5000.0) == pytest.approx(52 * 500.243 / 5004.414, rel=0.01)


def test_expected_purchases_near_a_equal_one_is_continuous() -> None:
    values = [
        fit_at(0.5, 3.0, a, 2.0).expected_purchases(26.0, CUSTOMERS_X, CUSTOMERS_TX, CUSTOMERS_T)
        for a in (0.999, 1.0, 1.001)
    ]
    assert np.all(np.isfinite(values[1]))
    np.testing.assert_allclose(values[1], (values[0] + values[2]) / 2, rtol=1e-4)


def test_weighted_fit_equals_fit_on_expanded_rows(cdnow_summary: pd.DataFrame) -> None:
    head = cdnow_summary.iloc[:600]
    rng = np.random.default_rng(20261204)
    counts = rng.integers(1, 5, size=len(head))
    weighted = fit_bgnbd(head["frequency"], head["recency"], head["T"], counts)
    expanded = head.loc[head.index.repeat(counts)]
    plain = fit_bgnbd(expanded["frequency"], expanded["recency"], expanded["T"])
    assert weighted.n_customers == plain.n_customers == counts.sum()
    for name in ("r", "alpha", "a", "b"):
        assert weighted.params[name] == pytest.approx(plain.params[name], rel=1e-9)
    assert weighted.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-12)


def test_too_few_customers() -> None:
    with pytest.raises(ClvFitError) as caught:
        fit_bgnbd([1, 0, 2], [3.0, 0.0, 5.0], [10.0, 10.0, 10.0])
    assert caught.value.code == "too_few_customers"


def test_no_repeat_buyers() -> None:
    with pytest.raises(ClvFitError) as caught:
        fit_bgnbd(np.zeros(50), np.zeros(50), np.full(50, 30.0))
    assert caught.value.code == "no_repeat_buyers"


def test_nobody_dropping_out_does_not_converge() -> None:
    # everyone bought 5 times, the last at the very end: the dropout probability runs to zero
    with pytest.raises(ClvFitError) as caught:
        fit_bgnbd(np.full(50, 5.0), np.full(50, 40.0), np.full(50, 40.0))
    assert caught.value.code == "not_converged"


def test_iteration_cap_is_reported_as_not_converged(cdnow_summary: pd.DataFrame) -> None:
    with pytest.raises(ClvFitError) as caught:
        fit_bgnbd(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"], max_iterations=2)
    assert caught.value.code == "not_converged"


@pytest.mark.parametrize(
    ("frequency", "recency", "T"),
    [
        ([1.0] * 20, [11.0] * 20, [10.0] * 20),  # recency after T
        ([-1.0] * 20, [0.0] * 20, [10.0] * 20),
        ([0.0] * 20, [2.0] * 20, [10.0] * 20),  # no repeat purchase but a recency
        ([1.0] * 20, [float("nan")] * 20, [10.0] * 20),
        ([1.0] * 20, [1.0] * 19, [10.0] * 20),
    ],
)
def test_invalid_input(frequency: list[float], recency: list[float], T: list[float]) -> None:
    with pytest.raises(ClvFitError) as caught:
        fit_bgnbd(frequency, recency, T)
    assert caught.value.code == "invalid_input"


@pytest.mark.parametrize("modified", [False, True])
def test_prepared_likelihood_and_gradient(cdnow_summary: pd.DataFrame, modified: bool) -> None:
    x, t_x, age = (cdnow_summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    rows = unique_rows([x, t_x, age])
    total = prepared_log_likelihood(rows, int(modified))
    params = np.array([0.4, 3.0, 0.7, 2.0])
    ll, grad = total(params)
    assert ll == pytest.approx(log_likelihood_rows(params, x, t_x, age, modified=modified).sum(), rel=1e-12)
    for j in range(4):
        step = np.eye(4)[j] * 1e-6 * params[j]
        numeric = (total(params + step)[0] - total(params - step)[0]) / (2 * step[j])
        assert grad[j] == pytest.approx(numeric, rel=1e-6)


def test_many_customers_take_the_deduplicated_path_with_the_same_answer(cdnow_summary: pd.DataFrame) -> None:
    fit = fit_at(0.243, 4.414, 0.793, 2.426)
    repeats = DEDUPLICATE_ABOVE // len(cdnow_summary) + 1
    x, t_x, age = (np.tile(cdnow_summary[c].to_numpy(), repeats) for c in ("frequency", "recency", "T"))
    assert x.size > DEDUPLICATE_ABOVE
    many = fit.expected_purchases(39.0, x, t_x, age)
    few = fit.expected_purchases(39.0, x[: len(cdnow_summary)], t_x[: len(cdnow_summary)], age[: len(cdnow_summary)])
    np.testing.assert_allclose(many, np.tile(few, repeats), rtol=1e-14)
    per_customer_horizon = fit.expected_purchases(np.full(x.size, 39.0), x, t_x, age)
    np.testing.assert_allclose(per_customer_horizon, many, rtol=1e-14)


def test_summary_is_plain_json(cdnow_summary: pd.DataFrame) -> None:
    import json

    fit = fit_bgnbd(cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"], modified=True)
    summary = json.loads(json.dumps(fit.summary()))
    assert summary["model"] == "modified_bgnbd"
    assert summary["n_customers"] == 2357.0 and summary["n_unique_rows"] == fit.n_unique_rows
    assert summary["params"] == fit.params and summary["converged"] is True
