"""Customer clusters on synthetic customers with three planted groups (fixed seeds)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from guanxi.analytics.clusters import (
    GENERIC_NAME_KEY,
    ClusterConfig,
    ClusterError,
    ClusteringResult,
    cluster_customers,
)

# group -> (customers, coupon_use_share, discount_share, avg_order_value, frequency, recency_days,
# tenure_days, category_count)
GROUPS = {
    "dormant": (250, 0.10, 0.05, 250.0, 2.0, 300.0, 700.0, 2.0),
    "price": (200, 0.80, 0.30, 80.0, 6.0, 20.0, 400.0, 3.0),
    "loyal": (150, 0.15, 0.05, 600.0, 20.0, 10.0, 900.0, 5.0),
}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # OpenMP threads spin against each other on a busy machine; small fits run faster on one
    with threadpool_limits(limits=1):
        yield


def _planted(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for group, (n, coupons, discount, aov, frequency, recency, tenure, categories) in GROUPS.items():
        wobble = lambda centre, n=n: centre * rng.lognormal(0.0, 0.15, n)  # noqa: E731
        frequency_values = np.round(wobble(frequency))
        aov_values = wobble(aov)
        parts.append(
            pd.DataFrame(
                {
                    "group": group,
                    "coupon_use_share": np.clip(coupons + rng.normal(0, 0.04, n), 0, 1),
                    "discount_share": np.clip(discount + rng.normal(0, 0.02, n), 0, 1),
                    "avg_order_value": aov_values,
                    "frequency": frequency_values,
                    "monetary": aov_values * frequency_values,
                    "recency_days": wobble(recency),
                    "tenure_days": wobble(tenure),
                    "category_count": np.round(wobble(categories)),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "customer_id", [f"c{i:04d}" for i in range(len(frame))])
    return frame


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, ClusteringResult]:
    frame = _planted()
    return frame, cluster_customers(frame.drop(columns="group"))


def test_three_planted_groups_give_k_3_and_each_group_is_one_cluster(
    planted: tuple[pd.DataFrame, ClusteringResult],
) -> None:
    frame, result = planted
    assert result.k == 3
    assert max(result.silhouette_by_k, key=result.silhouette_by_k.__getitem__) == 3
    assert sorted(result.silhouette_by_k) == [2, 3, 4, 5, 6, 7, 8]
    assert result.final_model == "kmeans"
    labels = result.labels.to_numpy()
    groups = frame["group"].to_numpy()
    # numbered by size: the 250 dormant customers are cluster 0, the 200 price-sensitive 1, the 150 loyal 2
    for group, cluster in (("dormant", 0), ("price", 1), ("loyal", 2)):
        assert set(labels[groups == group]) == {cluster}
    assert [p.size for p in result.profiles] == [250, 200, 150]
    assert [p.share for p in result.profiles] == [pytest.approx(250 / 600), pytest.approx(200 / 600), 0.25]


def test_the_planted_groups_get_their_names_and_traits(planted: tuple[pd.DataFrame, ClusteringResult]) -> None:
    _, result = planted
    dormant, price, loyal = result.profiles
    assert price.name_key == "cluster.name.price_sensitive"
    assert loyal.name_key == "cluster.name.loyal_high_value"
    assert dormant.name_key == "cluster.name.dormant"
    assert [key for key, _ in dormant.traits] == [
        "cluster.trait.recency_days_high",
        "cluster.trait.frequency_low",
        "cluster.trait.category_count_low",
    ]
    assert [key for key, _ in price.traits] == [
        "cluster.trait.coupon_use_share_high",
        "cluster.trait.discount_share_high",
        "cluster.trait.avg_order_value_low",
    ]
    assert [key for key, _ in loyal.traits] == [
        "cluster.trait.monetary_high",
        "cluster.trait.frequency_high",
        "cluster.trait.category_count_high",
    ]
    params = price.traits[0][1]
    assert params == {
        "z": price.z_scores["coupon_use_share"],
        "mean": pytest.approx(0.7997, abs=1e-4),
        "overall": pytest.approx(0.3469, abs=1e-4),
    }
    assert params["z"] == pytest.approx(1.401, abs=1e-3)
    # price-sensitive customers are newer too (z = -1.23), but that pattern is weaker than theirs
    assert price.z_scores["tenure_days"] == pytest.approx(-1.227, abs=1e-3)


def test_profiles_carry_means_in_the_features_units(planted: tuple[pd.DataFrame, ClusteringResult]) -> None:
    frame, result = planted
    price = result.profiles[1]
    expected = frame.loc[frame["group"] == "price", "coupon_use_share"].mean()
    assert price.means["coupon_use_share"] == pytest.approx(expected)
    assert set(price.means) == set(result.features)
    assert all(np.isfinite(list(p.z_scores.values())).all() for p in result.profiles)


def test_the_same_data_gives_the_same_labels_even_in_another_row_order() -> None:
    frame = _planted(seed=5).drop(columns="group")
    first = cluster_customers(frame)
    second = cluster_customers(frame)
    pd.testing.assert_series_equal(first.labels, second.labels)
    assert first.silhouette_by_k == second.silhouette_by_k
    shuffled = cluster_customers(frame.sample(frac=1.0, random_state=1))
    pd.testing.assert_series_equal(shuffled.labels.sort_index(), first.labels.sort_index())


def test_a_cluster_no_pattern_fits_gets_the_generic_name() -> None:
    rng = np.random.default_rng(9)
    # two groups that differ in refunds and app activity: no named pattern applies
    refund = np.concatenate([rng.normal(0.05, 0.01, 60), rng.normal(0.6, 0.01, 40)])
    active = np.concatenate([rng.normal(3.0, 0.3, 60), rng.normal(20.0, 1.0, 40)])
    frame = pd.DataFrame({"refund_share": refund, "active_days_recent": active})
    result = cluster_customers(frame)
    assert result.k == 2
    assert [(p.name_key, dict(p.name_params)) for p in result.profiles] == [
        (GENERIC_NAME_KEY, {"number": 1}),
        (GENERIC_NAME_KEY, {"number": 2}),
    ]
    assert result.profiles[1].traits[0][0] == "cluster.trait.refund_share_high"
    assert list(result.labels.index) == list(range(100))  # no customer_id column: the index is the id


def test_unknown_values_are_imputed_and_never_nan() -> None:
    frame = _planted(seed=7).drop(columns="group")
    frame.loc[::7, "recency_days"] = np.nan  # never bought
    frame.loc[::11, "avg_order_value"] = np.inf
    frame["nps_score"] = np.nan  # not a clustering column anyway
    result = cluster_customers(frame)
    assert result.k == 3
    assert not result.labels.isna().any()
    for profile in result.profiles:
        assert all(value is not None and np.isfinite(value) for value in profile.means.values())


def test_a_large_frame_uses_minibatch_kmeans_on_a_sample_for_k() -> None:
    frame = _planted(seed=8).drop(columns="group")
    config = ClusterConfig(minibatch_from=500, selection_sample=300, silhouette_sample=200)
    result = cluster_customers(frame, config)
    assert result.final_model == "minibatch_kmeans"
    assert result.k == 3
    assert [p.size for p in result.profiles] == [250, 200, 150]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (pd.DataFrame({"monetary": np.arange(49.0)}), "too_few_customers"),
        (pd.DataFrame({"monetary": np.full(80, 120.0), "frequency": np.full(80, 3.0)}), "identical_rows"),
        (pd.DataFrame({"monetary": np.full(80, np.nan)}), "no_features"),
        (pd.DataFrame({"nps_score": np.arange(80.0)}), "no_features"),
        (pd.DataFrame({"customer_id": ["a"] * 60, "monetary": np.arange(60.0)}), "duplicate_customers"),
    ],
)
def test_tiny_or_uniform_data_is_refused_with_a_code(frame: pd.DataFrame, code: str) -> None:
    with pytest.raises(ClusterError) as refused:
        cluster_customers(frame)
    assert refused.value.code == code
