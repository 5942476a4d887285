"""Initial parameters and the isotropic noise estimate.

The papers do not fix these; the choices here are documented in
:class:`momix.lowrank.LowRankGaussianMixture`.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from threadpoolctl import threadpool_limits

from ..exceptions import DataError
from ._blocks import row_slices
from ._engine import MixtureParams

__all__ = [
    "weighted_second_moment",
    "weighted_covariance",
    "estimate_noise_variance",
    "noise_from_covariance",
    "noise_from_clusters",
    "initial_params",
    "restart_init",
    "user_params",
]

#: rows used by the k-means initialisation (a weighted subsample of larger data)
KMEANS_MAX_SAMPLES = 5_000


def weighted_second_moment(
    X: np.ndarray, omega: np.ndarray, center: np.ndarray | None = None
) -> np.ndarray:
    """:math:`\\sum_n \\omega_n (y_n - c)(y_n - c)^\\top` (d, d) over row blocks; c = 0 default."""
    out = np.zeros((X.shape[1], X.shape[1]))
    for sl in row_slices(*X.shape):
        rows = np.asarray(X[sl], dtype=np.float64)
        if center is not None:
            rows = rows - center
        out += (rows * omega[sl, None]).T @ rows
    return out


def weighted_covariance(X: np.ndarray, omega: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean (d,) and covariance (d, d), centred before squaring (no cancellation)."""
    mean = np.zeros(X.shape[1])
    for sl in row_slices(*X.shape):
        mean += omega[sl] @ np.asarray(X[sl], dtype=np.float64)
    return mean, weighted_second_moment(X, omega, center=mean)


def estimate_noise_variance(
    X: np.ndarray, omega: np.ndarray, n_components: int, rank: int
) -> float:
    """:math:`\\hat\\sigma^2` = mean of the trailing eigenvalues of the data covariance.

    Under the model the covariance is
    :math:`\\sum_j \\pi_j (V_jV_j^\\top + (\\mu_j - \\bar\\mu)(\\mu_j - \\bar\\mu)^\\top)
    + \\sigma^2 I`,
    whose signal part has rank at most :math:`r = K(R+1) - 1`; the remaining
    :math:`d - r` eigenvalues all equal :math:`\\sigma^2`, so their mean estimates it.

    Raises
    ------
    DataError
        If :math:`d \\le r` (no noise-only directions); pass ``noise_variance`` explicitly.
    """
    _, cov = weighted_covariance(X, omega)
    return noise_from_covariance(cov, n_components, rank)


def noise_from_covariance(cov: np.ndarray, n_components: int, rank: int) -> float:
    """:func:`estimate_noise_variance` from a (d, d) covariance already computed."""
    d = cov.shape[0]
    r = n_components * (rank + 1) - 1
    if d <= r:
        raise DataError(
            f"noise_variance='estimate' needs n_features > n_components*(rank+1)-1 = {r} "
            f"noise-only directions, got n_features={d}; pass noise_variance as a number"
        )
    evals = np.linalg.eigvalsh(cov)  # ascending
    return float(max(np.mean(evals[: d - r]), 0.0))


def _top_factors(Xc: np.ndarray, w: np.ndarray, rank: int, noise: float) -> np.ndarray:
    """Top-``rank`` principal axes of weighted rows, scaled by :math:`\\sqrt{\\lambda-s}`."""
    d = Xc.shape[1]
    if Xc.shape[0] < 2:
        return np.zeros((d, rank))
    cov = (Xc * (w / w.sum())[:, None]).T @ Xc
    evals, evecs = np.linalg.eigh(cov)
    top = evals[::-1][:rank]
    scale = np.sqrt(np.maximum(top - noise, 1e-3 * max(top[0], 1e-12)))
    out = np.zeros((d, rank))
    out[:, : top.size] = evecs[:, ::-1][:, :rank] * scale
    return out


def initial_params(
    X: np.ndarray,
    omega: np.ndarray,
    n_components: int,
    rank: int,
    noise: float,
    method: str,
    rng: np.random.Generator,
) -> MixtureParams:
    """Initial mixture.

    - ``'kmeans++'``: k-means (k-means++ seeding, one run) on a weighted subsample of at most
      5 000 rows; weights = cluster fractions, means = centroids, factors = top-R
      principal axes of each cluster scaled by
      :math:`\\sqrt{\\max(\\lambda - \\sigma^2, \\epsilon)}`.
    - ``'random'``: uniform weights; :math:`\\mu_j = \\bar y + c\\,u_j` and
      :math:`V_j = c\\,Q_j` with :math:`u_j` random unit vectors, :math:`Q_j` random orthonormal
      columns and :math:`c^2 = \\max(\\operatorname{tr}\\hat C - d\\sigma^2, 0) / (KR)`.
    """
    N, d = X.shape
    K, R = n_components, rank
    if method == "random":
        mean, cov = weighted_covariance(X, omega)
        c = np.sqrt(max(np.trace(cov) - d * noise, 1e-12 * np.trace(cov) + 1e-300) / (K * R))
        u = rng.standard_normal((K, d))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        Q = np.stack([np.linalg.qr(rng.standard_normal((d, R)))[0] for _ in range(K)])
        return MixtureParams(np.full(K, 1.0 / K), mean + c * u, c * Q, noise)
    sub, w, labels, centers = _cluster(X, omega, K, rng)
    weights = np.array([w[labels == j].sum() for j in range(K)]) / w.sum()
    means = centers
    factors = np.stack(
        [_top_factors(sub[labels == j] - means[j], w[labels == j], R, noise) for j in range(K)]
    )
    weights = np.clip(weights, 1e-3, None)
    return MixtureParams(weights / weights.sum(), means, factors, noise)


def _cluster(X, omega, K: int, rng: np.random.Generator):
    """k-means (k-means++ seeding, one run) on a weighted subsample of at most 5 000 rows.

    Returns the subsample (float64), its weights, its cluster labels and the centroids.
    """
    N = X.shape[0]
    idx = np.arange(N) if N <= KMEANS_MAX_SAMPLES else rng.choice(N, KMEANS_MAX_SAMPLES, p=omega)
    sub = np.asarray(X[idx], dtype=np.float64)
    w = omega[idx] if N <= KMEANS_MAX_SAMPLES else np.ones(idx.size)
    km = KMeans(K, init="k-means++", n_init=1, random_state=int(rng.integers(2**31 - 1)))
    with threadpool_limits(limits=1), warnings.catch_warnings():  # <= 5 000 rows
        # fewer distinct positive-weight rows than K is refused before; k-means still warns
        # when rows of zero weight are the only other points
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        km.fit(sub, sample_weight=w)
    return sub, w, km.labels_, np.asarray(km.cluster_centers_, dtype=np.float64)


def _weighted_rows_mean(X: np.ndarray, w: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Weighted mean of the rows ``mask`` (the plain mean if their weights sum to zero)."""
    rows, wr = X[mask], w[mask]
    if rows.shape[0] == 0:
        return X.mean(axis=0)
    total = wr.sum()
    return (wr @ rows) / total if total > 0 else rows.mean(axis=0)


def noise_from_clusters(
    X: np.ndarray, omega: np.ndarray, n_components: int, rank: int, rng: np.random.Generator
) -> float:
    """:math:`\\hat\\sigma^2` where the data spectrum cannot give it: the smaller of two upper
    estimates.

    When :math:`d \\le K(R+1) - 1` the signal part of the data covariance may have full
    rank and :func:`noise_from_covariance` has no noise-only directions. Two estimates that
    err upward remain:

    * the smallest eigenvalue of the data covariance (signal PSD plus :math:`\\sigma^2 I`:
      never below :math:`\\sigma^2`, equal to it when the signal part is rank-deficient);
    * within-cluster spectra: each component covariance :math:`V_jV_j^\\top + \\sigma^2 I` has
      :math:`d - R` eigenvalues equal to :math:`\\sigma^2`, so the rows are clustered by
      k-means (as ``init='kmeans++'`` does) and the trailing :math:`d - R` eigenvalues of each
      cluster's weighted covariance are averaged, weighted by the cluster weights (clusters
      of at most d rows skipped). Where components overlap, clusters mix them and this
      errs upward.

    The smaller one is returned. Measured on 4 000 rows of
    :func:`momix.datasets.make_lowrank_gaussian_mixture` ((d, K, R) = (3, 2, 1), (2, 2, 1),
    (5, 3, 1), (5, 2, 2); means of norm 1 and 3; :math:`\\sigma^2 \\in \\{0, 0.25, 1\\}`;
    3 seeds: 72 cases): the error of the minimum is within 0.1 in 50 cases (median +0.011,
    range -0.17 to +0.45; the largest at d = 2 with overlapping components), that of the
    smallest eigenvalue alone in 36 (up to +1.7).
    """
    d = X.shape[1]
    _, cov_all = weighted_covariance(X, omega)
    smallest = max(float(np.linalg.eigvalsh(cov_all)[0]), 0.0)
    sub, w, labels, _ = _cluster(X, omega, n_components, rng)
    total, mass = 0.0, 0.0
    for j in range(n_components):
        mask = labels == j
        wj = w[mask]
        if mask.sum() <= d or wj.sum() <= 0:
            continue
        mu = _weighted_rows_mean(sub, w, mask)
        D = sub[mask] - mu
        cov = (D * (wj / wj.sum())[:, None]).T @ D
        total += wj.sum() * float(np.mean(np.linalg.eigvalsh(cov)[: d - rank]))
        mass += wj.sum()
    if mass > 0:
        return min(max(total / mass, 0.0), smallest)
    return smallest


def restart_init(init: str, index: int) -> str:
    """The start method of restart ``index`` (0-based) under ``init``.

    ``'mixed'`` gives the k-means++ start to the first restart and random starts to the
    others; ``'kmeans++'`` and ``'random'`` give every restart their own kind.
    """
    if init == "mixed":
        return "kmeans++" if index == 0 else "random"
    return init


def user_params(
    init: dict, n_components: int, n_features: int, rank: int, noise: float
) -> MixtureParams:
    """Validate user initial values ``{'means', 'factors'[, 'weights']}``."""
    unknown = set(init) - {"weights", "means", "factors"}
    if unknown or not {"means", "factors"} <= set(init):
        raise ValueError(
            "init as a dict needs keys 'means' and 'factors' (and optionally 'weights'), "
            f"got {sorted(init)}"
        )
    K, d, R = n_components, n_features, rank
    means = np.asarray(init["means"], dtype=float)
    factors = np.asarray(init["factors"], dtype=float)
    weights = np.asarray(init.get("weights", np.full(K, 1.0 / K)), dtype=float)
    for name, arr, shape in (
        ("weights", weights, (K,)),
        ("means", means, (K, d)),
        ("factors", factors, (K, d, R)),
    ):
        if arr.shape != shape:
            raise ValueError(f"init['{name}'] must have shape {shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"init['{name}'] contains NaN or infinite values")
    if np.any(weights <= 0):
        raise ValueError("init['weights'] must be positive")
    return MixtureParams(weights / weights.sum(), means.copy(), factors.copy(), noise)
