"""Unique rows with counts: every coding path gives the same rows, counts and inverse."""

from __future__ import annotations

import numpy as np

from guanxi.analytics.clv.rows import factorise, unique_rows


def check(columns: list[np.ndarray], weights: np.ndarray | None = None) -> None:
    rows = unique_rows(columns, weights)
    stacked = np.column_stack(columns)
    expected_rows, expected_inverse = np.unique(stacked, axis=0, return_inverse=True)
    got = np.column_stack(rows.columns)
    # same set of rows, in the same (lexicographic) order
    np.testing.assert_array_equal(got, expected_rows)
    np.testing.assert_array_equal(rows.inverse, expected_inverse.reshape(-1))
    np.testing.assert_array_equal(got[rows.inverse], stacked)
    w = np.ones(len(stacked)) if weights is None else weights
    np.testing.assert_allclose(rows.counts, np.bincount(expected_inverse.reshape(-1), weights=w), rtol=1e-15)
    for levels, codes, column in zip(rows.levels, rows.codes, rows.columns, strict=True):
        np.testing.assert_array_equal(levels[codes], column)


def test_whole_numbers_weeks_as_sevenths_cents_and_arbitrary_floats() -> None:
    rng = np.random.default_rng(11)
    n = 5000
    whole = rng.integers(0, 30, n).astype(np.float64)
    sevenths = rng.integers(0, 300, n) / 7.0
    cents = np.round(rng.gamma(2.0, 20.0, n), 2)
    arbitrary = rng.random(n)
    check([whole, sevenths])
    check([whole, cents], rng.integers(1, 4, n).astype(np.float64))
    check([whole, arbitrary])
    check([arbitrary, sevenths, whole])


def test_factorise_uses_the_lattice_when_exact() -> None:
    levels, codes = factorise(np.array([3.0, 5.0, 3.0]))
    np.testing.assert_array_equal(levels, [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(codes, [0, 2, 0])
    levels, codes = factorise(np.array([1 / 7, 3 / 7]))
    np.testing.assert_array_equal(levels[codes], [1 / 7, 3 / 7])
    levels, codes = factorise(np.array([0.1234567, 0.5]))
    np.testing.assert_array_equal(levels, [0.1234567, 0.5])


def test_key_space_too_large_to_pack_falls_back_to_sorting() -> None:
    rng = np.random.default_rng(3)
    columns = [rng.random(300) for _ in range(4)] + [np.repeat(rng.random(3), 100)]
    check(columns)
