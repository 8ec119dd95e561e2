"""The safe log of (1 - z)^p 2F1(p, q; c; z): both paths agree, and large parameters stay finite."""

from __future__ import annotations

import numpy as np
from scipy import special

from guanxi.analytics.clv.special import log_hyp2f1_series, log_scaled_hyp2f1


def test_series_matches_scipy_where_scipy_is_finite() -> None:
    p = np.array([0.5, 3.2, 500.25, 1.1, 10.0])
    q = np.array([2.5, 4.5, 502.5, 0.3, 12.0])
    c = np.array([2.3, 5.1, 502.7, 4.0, 21.0])
    z = np.array([0.3, 0.9, 0.5, 0.99, 0.0])
    np.testing.assert_allclose(
        log_hyp2f1_series(p, q, c, z), np.log(special.hyp2f1(p, q, c, z)), rtol=1e-12, atol=1e-14
    )


def test_scaled_value_matches_the_direct_product() -> None:
    p, q, c = np.array([1.2, 5.0, 30.0]), np.array([2.0, 6.5, 31.0]), np.array([2.5, 10.0, 32.0])
    z = np.array([0.2, 0.7, 0.95])
    direct = p * np.log1p(-z) + np.log(special.hyp2f1(p, q, c, z))
    np.testing.assert_allclose(log_scaled_hyp2f1(p, q, c, z), direct, rtol=1e-12)


def test_large_parameters_are_finite_where_the_direct_product_is_not() -> None:
    # frequency 10,000: (1 - z)^p underflows to 0 and 2F1 overflows to inf
    p, q, c, z = np.array([10_000.24]), np.array([10_002.4]), np.array([10_002.2]), np.array([0.95])
    with np.errstate(all="ignore"):
        direct = (1 - z) ** p * special.hyp2f1(p, q, c, z)
    assert not np.isfinite(direct[0]) or direct[0] == 0.0
    value = log_scaled_hyp2f1(p, q, c, z)
    series = p * np.log1p(-z) + log_hyp2f1_series(p, q, c, z)
    assert np.isfinite(value[0])
    np.testing.assert_allclose(value, series, rtol=1e-9)


def test_series_refuses_outside_its_domain() -> None:
    out = log_hyp2f1_series(np.array([-1.0, 1.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0]), np.array([0.5, 1.0]))
    assert np.all(np.isnan(out))
