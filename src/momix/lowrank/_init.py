"""Initial parameters and the isotropic noise estimate.

The papers do not fix these; the choices here are documented in
:class:`momix.lowrank.LowRankGaussianMixture`.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from ..exceptions import DataError
from ._engine import MixtureParams

__all__ = [
    "weighted_second_moment",
    "weighted_covariance",
    "estimate_noise_variance",
    "noise_from_covariance",
    "initial_params",
    "restart_init",
    "user_params",
]

#: rows used by the k-means initialisation (a weighted subsample of larger data)
KMEANS_MAX_SAMPLES = 5_000


def weighted_second_moment(
    X: np.ndarray, omega: np.ndarray, center: np.ndarray | None = None, chunk_size: int = 16384
) -> np.ndarray:
    """:math:`\\sum_n \\omega_n (y_n - c)(y_n - c)^\\top` (d, d) over row chunks; c = 0 default."""
    out = np.zeros((X.shape[1], X.shape[1]))
    for start in range(0, X.shape[0], chunk_size):
        rows = X[start : start + chunk_size]
        if center is not None:
            rows = rows - center
        out += (rows * omega[start : start + chunk_size, None]).T @ rows
    return out


def weighted_covariance(X: np.ndarray, omega: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean (d,) and covariance (d, d), centred before squaring (no cancellation)."""
    mean = omega @ X
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
    idx = np.arange(N) if N <= KMEANS_MAX_SAMPLES else rng.choice(N, KMEANS_MAX_SAMPLES, p=omega)
    sub, w = X[idx], (omega[idx] if N <= KMEANS_MAX_SAMPLES else np.ones(idx.size))
    km = KMeans(K, init="k-means++", n_init=1, random_state=int(rng.integers(2**31 - 1)))
    with threadpool_limits(limits=1):  # <= 5 000 rows: OpenMP threads only synchronise
        labels = km.fit(sub, sample_weight=w).labels_
    weights = np.array([w[labels == j].sum() for j in range(K)]) / w.sum()
    means = km.cluster_centers_.copy()
    factors = np.stack(
        [_top_factors(sub[labels == j] - means[j], w[labels == j], R, noise) for j in range(K)]
    )
    weights = np.clip(weights, 1e-3, None)
    return MixtureParams(weights / weights.sum(), means, factors, noise)


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
