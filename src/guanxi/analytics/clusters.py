"""Customer clusters: k-means on standardised behaviour, each cluster named and described in words.

The features frame (one row per customer, see docs/clusters.md) is reduced to the behaviour
columns it has; skewed money and count columns go through log1p, unknown values are imputed
(median; recency of a customer who never bought: the largest recency), and every column is
standardised. k is the best silhouette score over k = 2..8 on a fixed-seed sample, so choosing it
costs the same on a million customers as on twenty thousand; the final model is KMeans, or
MiniBatchKMeans above 100,000 customers. Clusters are numbered by size, largest first.

A cluster's traits are the features whose cluster mean is furthest from the overall mean, in
standard deviations (z); its name comes from the dominant pattern. Both are catalog keys.

Pure: pandas, numpy and scikit-learn only (an import-linter contract keeps it so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

CUSTOMER_ID = "customer_id"
TRAIT_KEY = "cluster.trait.{feature}_{direction}"
NAME_KEY = "cluster.name.{pattern}"
GENERIC_NAME_KEY = "cluster.name.generic"

# The behaviour columns clustered, when the frame has them, and whether they go through log1p.
FEATURES: dict[str, bool] = {
    "recency_days": True,
    "frequency": True,
    "monetary": True,
    "avg_order_value": True,
    "tenure_days": True,
    "category_count": True,
    "active_days_recent": True,
    "refund_share": False,
    "discount_share": False,
    "coupon_use_share": False,
}


class ClusterError(ValueError):
    """The data cannot be clustered; `code` is stable (too_few_customers, no_features,
    identical_rows, duplicate_customers)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Pattern:
    """A named cluster shape: every (feature, sign) must hold at |z| >= the trait threshold
    (sign +1 high, -1 low); `any_of` lists alternatives of which one must hold. Its strength is
    the mean signed z of the conditions that hold."""

    name: str
    all_of: tuple[tuple[str, int], ...]
    any_of: tuple[tuple[str, int], ...] = ()


PATTERNS: tuple[Pattern, ...] = (
    Pattern("price_sensitive", (("avg_order_value", -1),), (("coupon_use_share", 1), ("discount_share", 1))),
    Pattern("loyal_high_value", (("frequency", 1), ("monetary", 1))),
    Pattern("dormant", (("recency_days", 1),)),
    Pattern("newcomers", (("tenure_days", -1),)),
    Pattern("explorers", (("category_count", 1),)),
)


@dataclass(frozen=True)
class ClusterConfig:
    k_min: int = 2
    k_max: int = 8
    selection_sample: int = 20_000  # rows the k-means of the k search is fitted on
    silhouette_sample: int = 10_000  # of those, rows the silhouette is computed on
    minibatch_from: int = 100_000  # rows from which the final fit is MiniBatchKMeans
    min_customers: int = 50
    trait_threshold: float = 0.5  # |z| at which a feature is a trait
    max_traits: int = 3
    random_state: int = 20261204
    n_init: int = 4


@dataclass(frozen=True)
class ClusterProfile:
    cluster: int
    size: int
    share: float
    means: Mapping[str, float | None]  # in the features' own units; None when all unknown
    z_scores: Mapping[str, float]  # (cluster mean - overall mean) / overall std, transformed scale
    traits: tuple[tuple[str, Mapping[str, float]], ...]  # (catalog key, params), strongest first
    name_key: str
    name_params: Mapping[str, int]


@dataclass(frozen=True)
class ClusteringResult:
    labels: pd.Series  # cluster per customer (index customer_id), 0 = the largest cluster
    profiles: tuple[ClusterProfile, ...]
    k: int
    silhouette_by_k: Mapping[int, float]
    features: tuple[str, ...]
    final_model: str  # "kmeans" or "minibatch_kmeans"


def _by_customer(features: pd.DataFrame) -> pd.DataFrame:
    frame = features.set_index(CUSTOMER_ID) if CUSTOMER_ID in features.columns else features.copy()
    frame.index.name = CUSTOMER_ID
    if frame.index.has_duplicates:
        raise ClusterError("duplicate_customers", "the features frame has more than one row for a customer")
    return frame


def prepare_matrix(frame: pd.DataFrame) -> tuple[np.ndarray, list[str], pd.DataFrame]:
    """The standardised matrix, its columns, and the raw (finite-or-NaN) values of those columns.
    Columns with no known value or a single value are left out: they cannot separate anybody."""
    raw = frame.loc[:, [c for c in FEATURES if c in frame.columns]].astype(np.float64)
    raw = raw.replace([np.inf, -np.inf], np.nan)
    transformed: dict[str, np.ndarray] = {}
    for column in raw.columns:
        values = np.array(raw[column].to_numpy(), copy=True)
        known = np.isfinite(values)
        if not known.any():
            continue
        if FEATURES[column]:
            # log1p of the money and count columns, so a few big spenders do not make the scale
            values = np.log1p(np.clip(values, 0.0, None))
        # a customer who never bought is as dormant as the most dormant; else the typical value
        fill = np.nanmax(values) if column == "recency_days" else np.nanmedian(values)
        values[~known] = fill
        if np.ptp(values) > 0:
            transformed[column] = values
    if not transformed:
        if raw.shape[1] == 0 or raw.isna().all().all():
            raise ClusterError("no_features", "the features frame has no known behaviour column")
        raise ClusterError("identical_rows", "every customer has the same behaviour: there is nothing to cluster")
    columns = list(transformed)
    matrix = StandardScaler().fit_transform(np.column_stack([transformed[c] for c in columns]))
    return matrix, columns, raw[columns]


def _kmeans(k: int, config: ClusterConfig) -> KMeans:
    return KMeans(n_clusters=k, n_init=config.n_init, random_state=config.random_state)


def choose_k(matrix: np.ndarray, config: ClusterConfig) -> dict[int, float]:
    """Silhouette score per k on a fixed-seed sample; a k the sample cannot support (fewer
    distinct rows than k + 1) is left out."""
    rng = np.random.default_rng(config.random_state)
    sample = matrix
    if len(matrix) > config.selection_sample:
        sample = matrix[np.sort(rng.choice(len(matrix), size=config.selection_sample, replace=False))]
    distinct = len(np.unique(sample, axis=0))
    scores: dict[int, float] = {}
    for k in range(config.k_min, config.k_max + 1):
        if k >= distinct:
            break
        labels = _kmeans(k, config).fit_predict(sample)
        if len(np.unique(labels)) < 2:
            continue
        size = min(config.silhouette_sample, len(sample))
        scores[k] = float(silhouette_score(sample, labels, sample_size=size, random_state=config.random_state))
    return scores


def cluster_customers(features: pd.DataFrame, config: ClusterConfig | None = None) -> ClusteringResult:
    """Cluster the customers of `features` (one row per customer) and describe each cluster."""
    config = config or ClusterConfig()
    frame = _by_customer(features)
    if len(frame) < config.min_customers:
        raise ClusterError(
            "too_few_customers", f"{len(frame)} customers; clustering needs at least {config.min_customers}"
        )
    matrix, columns, raw = prepare_matrix(frame)
    scores = choose_k(matrix, config)
    if not scores:
        raise ClusterError("identical_rows", "too few distinct customers to form two clusters")
    # best silhouette; a tie goes to the smaller k
    k = max(scores, key=lambda candidate: (round(scores[candidate], 12), -candidate))
    if len(matrix) >= config.minibatch_from:
        final: KMeans | MiniBatchKMeans = MiniBatchKMeans(
            n_clusters=k, n_init=3, batch_size=4096, random_state=config.random_state
        )
        final_model = "minibatch_kmeans"
    else:
        final = _kmeans(k, config)
        final_model = "kmeans"
    fitted_labels = final.fit_predict(matrix)
    labels = _by_size(fitted_labels)
    profiles = _profiles(labels, matrix, columns, raw, config)
    return ClusteringResult(
        labels=pd.Series(labels, index=frame.index, name="cluster"),
        profiles=profiles,
        k=int(labels.max()) + 1,
        silhouette_by_k=scores,
        features=tuple(columns),
        final_model=final_model,
    )


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters by size, largest first (ties: the fitted number), so the numbers do not
    depend on the order k-means happened to find them in; empty clusters disappear."""
    found, counts = np.unique(labels, return_counts=True)
    order = sorted(range(len(found)), key=lambda i: (-counts[i], found[i]))
    renumber = {int(found[i]): number for number, i in enumerate(order)}
    return np.array([renumber[int(label)] for label in labels], dtype=np.int64)


def _profiles(
    labels: np.ndarray, matrix: np.ndarray, columns: Sequence[str], raw: pd.DataFrame, config: ClusterConfig
) -> tuple[ClusterProfile, ...]:
    n = len(labels)
    z_by_cluster: list[dict[str, float]] = []
    drafts: list[tuple[int, int, dict[str, float | None], tuple[tuple[str, Mapping[str, float]], ...]]] = []
    raw_values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    overall = {c: _mean_or_none(raw_values[:, j]) for j, c in enumerate(columns)}
    for cluster in range(int(labels.max()) + 1):
        members = labels == cluster
        # the matrix is standardised: its overall mean is 0 and its std 1, so a cluster's mean is z
        z = {c: round(float(matrix[members, j].mean()), 4) for j, c in enumerate(columns)}
        means = {c: _mean_or_none(raw_values[members, j]) for j, c in enumerate(columns)}
        z_by_cluster.append(z)
        drafts.append((cluster, int(members.sum()), means, _traits(z, means, overall, config)))
    names = _names(z_by_cluster, config)
    return tuple(
        ClusterProfile(
            cluster=cluster,
            size=size,
            share=round(size / n, 6),
            means=means,
            z_scores=z_by_cluster[cluster],
            traits=traits,
            name_key=names[cluster][0],
            name_params=names[cluster][1],
        )
        for cluster, size, means, traits in drafts
    )


def _mean_or_none(values: np.ndarray) -> float | None:
    known = values[np.isfinite(values)]
    return float(known.mean()) if known.size else None


def _traits(
    z: Mapping[str, float],
    means: Mapping[str, float | None],
    overall: Mapping[str, float | None],
    config: ClusterConfig,
) -> tuple[tuple[str, Mapping[str, float]], ...]:
    standing_out = sorted((c for c in z if abs(z[c]) >= config.trait_threshold), key=lambda c: (-abs(z[c]), c))[
        : config.max_traits
    ]
    traits: list[tuple[str, Mapping[str, float]]] = []
    for column in standing_out:
        key = TRAIT_KEY.format(feature=column, direction="high" if z[column] > 0 else "low")
        params: dict[str, float] = {"z": z[column]}
        cluster_mean, overall_mean = means[column], overall[column]
        if cluster_mean is not None and overall_mean is not None:
            params |= {"mean": round(cluster_mean, 4), "overall": round(overall_mean, 4)}
        traits.append((key, params))
    return tuple(traits)


def _strength(pattern: Pattern, z: Mapping[str, float], threshold: float) -> float | None:
    """The mean signed z of the pattern's conditions, None when one does not hold."""
    held: list[float] = []
    for column, sign in pattern.all_of:
        if column not in z or sign * z[column] < threshold:
            return None
        held.append(sign * z[column])
    if pattern.any_of:
        alternatives = [sign * z[c] for c, sign in pattern.any_of if c in z and sign * z[c] >= threshold]
        if not alternatives:
            return None
        held.append(max(alternatives))
    return sum(held) / len(held)


def _names(z_by_cluster: Sequence[Mapping[str, float]], config: ClusterConfig) -> list[tuple[str, dict[str, int]]]:
    """Each pattern names at most one cluster, the one it fits best, strongest matches first; a
    cluster no pattern fits is "group N" (N = its number + 1)."""
    candidates = sorted(
        (
            (strength, cluster, pattern.name)
            for cluster, z in enumerate(z_by_cluster)
            for pattern in PATTERNS
            if (strength := _strength(pattern, z, config.trait_threshold)) is not None
        ),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    names: dict[int, str] = {}
    taken: set[str] = set()
    for _, cluster, pattern_name in candidates:
        if cluster not in names and pattern_name not in taken:
            names[cluster] = pattern_name
            taken.add(pattern_name)
    return [
        (NAME_KEY.format(pattern=names[c]), {}) if c in names else (GENERIC_NAME_KEY, {"number": c + 1})
        for c in range(len(z_by_cluster))
    ]
