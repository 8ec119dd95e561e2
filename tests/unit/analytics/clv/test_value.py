"""Discounted CLV: equal to lifetimes' sum at the same params, margin and cost, finite on extremes."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from guanxi.analytics.clv import BgNbdFit, GammaGammaFit, discounted_clv

BG = BgNbdFit(0.243, 4.414, 0.793, 2.426, {}, 0.0, True, 0, 0.0, 0)
GG = GammaGammaFit(6.25, 3.74, 15.44, {}, 0.0, True, 0, 0.0, 0)
X = np.array([0.0, 1.0, 2.0, 5.0, 10.0, 30.0])
TX = np.array([0.0, 5.0, 10.0, 30.0, 35.0, 38.0])
T = np.array([38.86, 38.0, 20.0, 35.0, 38.0, 39.0])
M = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0])


def test_equals_lifetimes_customer_lifetime_value() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes

    bg = lifetimes.BetaGeoFitter()
    bg.params_ = pd.Series({"r": BG.r, "alpha": BG.alpha, "a": BG.a, "b": BG.b})
    bg.predict = bg.conditional_expected_number_of_purchases_up_to_time
    gg = lifetimes.GammaGammaFitter()
    gg.params_ = pd.Series({"p": GG.p, "q": GG.q, "v": GG.gamma})
    theirs = gg.customer_lifetime_value(
        bg, pd.Series(X), pd.Series(TX), pd.Series(T), pd.Series(M), time=12, discount_rate=0.01, freq="W"
    )
    # lifetimes counts a month as 4.345 weeks
    ours = discounted_clv(
        BG, GG, X, TX, T, M, months=12, monthly_discount=0.01, time_unit_days=7.0, days_per_month=4.345 * 7
    )
    np.testing.assert_allclose(ours, theirs.to_numpy(), rtol=1e-6)


def test_margin_and_cost_per_purchase() -> None:
    gross = discounted_clv(BG, GG, X, TX, T, M, months=6, monthly_discount=0.0, time_unit_days=7.0)
    purchases = BG.expected_purchases(6 * (365.25 / 12) / 7, X, TX, T)
    # without discounting the monthly increments add up to the expectation over the horizon
    np.testing.assert_allclose(gross, purchases * GG.expected_spend(X, M), rtol=1e-10)
    net = discounted_clv(
        BG, GG, X, TX, T, M, months=6, monthly_discount=0.0, time_unit_days=7.0, margin=0.3, cost_per_purchase=2.0
    )
    np.testing.assert_allclose(net, purchases * (0.3 * GG.expected_spend(X, M) - 2.0), rtol=1e-10)


def test_discounting_lowers_value_and_days_match_weeks() -> None:
    weekly = discounted_clv(BG, GG, X, TX, T, M, months=24, monthly_discount=0.01, time_unit_days=7.0)
    undiscounted = discounted_clv(BG, GG, X, TX, T, M, months=24, monthly_discount=0.0, time_unit_days=7.0)
    assert np.all(weekly[M > 0] < undiscounted[M > 0])
    daily_fit = BgNbdFit(BG.r, BG.alpha * 7, BG.a, BG.b, {}, 0.0, True, 0, 0.0, 0)
    daily = discounted_clv(daily_fit, GG, X, TX * 7, T * 7, M, months=24, monthly_discount=0.01, time_unit_days=1.0)
    np.testing.assert_allclose(daily, weekly, rtol=1e-9)


def test_extreme_customers_give_finite_values() -> None:
    x = np.array([500.0, 10_000.0, 0.0, 200.0])
    t_x = np.array([4999.0, 49_999.0, 0.0, 38.0])
    age = np.array([5000.0, 50_000.0, 5000.0, 40.0])
    m = np.array([1e6, 35.0, 0.0, 20.0])
    value = discounted_clv(BG, GG, x, t_x, age, m, months=120, monthly_discount=0.01, time_unit_days=7.0)
    assert np.all(np.isfinite(value)) and np.all(value >= 0)


@pytest.mark.parametrize(
    "options",
    [{"months": 0}, {"months": 1.5}, {"monthly_discount": -1.0}, {"time_unit_days": 0.0}, {"margin": float("nan")}],
)
def test_bad_options_are_refused(options: dict[str, float]) -> None:
    arguments: dict[str, float] = {"months": 12, "monthly_discount": 0.01, "time_unit_days": 7.0, **options}
    with pytest.raises(ValueError):
        discounted_clv(BG, GG, X, TX, T, M, **arguments)  # type: ignore[arg-type]
