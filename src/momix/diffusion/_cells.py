"""Crude parameter estimates and the likelihood-ratio partition into cells.

Crude estimates (Chen-Kontonis-Shah, Lemma 2.7 and Section 5, simplified): project the data on
its top principal directions, run k-means++ there, and take each cluster's weight, mean and
covariance (computed in the full space). They need not be accurate -- k-means is biased when
components overlap -- because they are used only to cut space into cells, to warm-start the
parameter read-off and to bound the noise grid.

Cells at diffusion time :math:`t` (Section 6, Definition 2.4): noise each crude component with
the forward process, :math:`\\mu_j(t) = a_t\\mu_j`, :math:`\\Sigma_j(t) = a_t^2\\Sigma_j + s_t^2 I`,
join components whose noised Mahalanobis separation

.. math::

    \\Delta_{jl}(t) = \\big\\|\\big(\\tfrac12(\\Sigma_j(t)+\\Sigma_l(t))\\big)^{-1/2}
        (\\mu_j(t)-\\mu_l(t))\\big\\|

is below ``merge_distance`` (single linkage), and send each point to the group with the largest
crude log-likelihood :math:`\\log\\sum_{j\\in g} w_j N(x;\\mu_j(t),\\Sigma_j(t))`. At large ``t``
the noised components coincide and everything merges into one cell; at small ``t`` each crude
component keeps its own cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import KMeans

from .._base import covariance_cholesky
from .._validation import count_distinct_rows
from ._process import noised_mixture

__all__ = ["CrudeMixture", "crude_estimates", "merge_groups", "crude_log_joint",
           "group_log_likelihood", "assign_cells", "weighted_moments", "row_blocks",
           "BLOCK_ENTRIES"]

_LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class CrudeMixture:
    """Crude Gaussian-mixture estimate: one entry per k-means cluster.

    Attributes
    ----------
    weights : ndarray of shape (n_clusters,)
    means : ndarray of shape (n_clusters, n_features)
    covariances : ndarray of shape (n_clusters, n_features, n_features)
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


#: rows per block of the streamed passes over the data (a block of ``n_features`` columns
#: holds at most this many float64 entries, 8 MiB)
BLOCK_ENTRIES = 1 << 20


def row_blocks(n_rows: int, row_entries: int):
    """Slices of consecutive rows holding at most :data:`BLOCK_ENTRIES` entries (at least 64
    rows) each."""
    size = max(64, BLOCK_ENTRIES // max(int(row_entries), 1))
    for start in range(0, n_rows, size):
        yield slice(start, min(start + size, n_rows))


def weighted_moments(X: np.ndarray, w: np.ndarray,
                     unit: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and covariance (divided by the total weight), by blocks of rows.

    The covariance is accumulated about the mean (a second pass), so a large common offset
    costs no precision. With ``unit`` it is the covariance of ``X / unit`` (the mean stays
    that of ``X``): pass powers of two near the features' spreads for data whose squares
    would under- or overflow.
    """
    total = float(w.sum())
    center = w @ X / total
    cov = np.zeros((X.shape[1], X.shape[1]))
    for sl in row_blocks(*X.shape):
        diff = X[sl] - center
        if unit is not None:
            diff /= unit
        cov += (diff * w[sl, None]).T @ diff
    return center, cov / total


def crude_estimates(X: np.ndarray, n_clusters: int, rng: np.random.Generator,
                    *, sample_weight: np.ndarray | None = None, reg: float = 1e-6,
                    max_kmeans_samples: int = 20_000) -> CrudeMixture:
    """PCA + k-means++ crude estimates of a Gaussian mixture.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_clusters : int
        Number of k-means clusters (capped at the number of distinct rows).
    rng : numpy.random.Generator
    sample_weight : ndarray of shape (n_samples,), optional
        Positive row weights: the principal directions, k-means (scikit-learn's weighted
        k-means) and every cluster's weight, mean and covariance are weighted.
    reg : float
        Added to each cluster covariance, relative to the trace of the data covariance
        divided by ``n_features`` (so that singleton clusters stay positive definite).
    max_kmeans_samples : int
        k-means runs on a random subset of at most this many rows (all rows when the subset
        has fewer distinct rows than ``n_clusters``); every row is then assigned to its
        nearest centre and the cluster statistics use all rows (the crude estimates only
        place cells, and k-means on 1e5 rows cost 3x the whole regression).

    Notes
    -----
    k-means runs in the span of the top ``r = min(d, max(2, n_clusters))`` principal
    directions of the centred data (each feature divided by a power of two near its largest
    deviation), scaled to unit spread in that span; in the whole space (``r = d``) when that
    projection leaves fewer than ``n_clusters`` distinct rows.
    The data are read in blocks of rows, so the memory beyond ``X`` is the projection
    (``n_samples x r``) and the labels.
    """
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    n_clusters = int(max(1, min(n_clusters, count_distinct_rows(X, n_clusters))))
    # principal directions of the features divided by powers of two near their largest
    # deviations (exact): the directions survive data too small for their squares
    center = w @ X / w.sum()
    unit = np.maximum(X.max(axis=0) - center, center - X.min(axis=0))
    unit = np.ldexp(1.0, np.frexp(np.where(unit > 0, unit, 1.0))[1])
    center, cov = weighted_moments(X, w, unit)
    _, vecs = np.linalg.eigh(cov)
    vecs = vecs[:, ::-1] / unit[:, None]
    r = min(d, max(2, n_clusters))
    Z = _project(X, center, vecs[:, :r])
    if r < d and count_distinct_rows(Z, n_clusters) < n_clusters:
        Z = _project(X, center, vecs)
    seed = int(rng.integers(2**31 - 1))
    subset = slice(None)
    if n > max_kmeans_samples:
        subset = rng.choice(n, size=max_kmeans_samples, replace=False)
        if count_distinct_rows(Z[subset], n_clusters) < n_clusters:
            subset = slice(None)
    km = KMeans(n_clusters, n_init=3, random_state=seed).fit(Z[subset], sample_weight=w[subset])
    labels = km.predict(Z)
    del Z
    mass = np.bincount(labels, weights=w, minlength=n_clusters)
    keep = np.flatnonzero(mass > 0)
    means = np.zeros((n_clusters, d))
    for sl in row_blocks(n, d):
        for k in np.unique(labels[sl]):
            rows = labels[sl] == k
            means[k] += w[sl][rows] @ X[sl][rows]
    means = means[keep] / mass[keep, None]
    covs = np.zeros((len(keep), d, d))
    slot = np.full(n_clusters, -1)
    slot[keep] = np.arange(len(keep))
    for sl in row_blocks(n, d):
        for k in np.unique(labels[sl]):
            rows = labels[sl] == k
            i = slot[k]
            diff = X[sl][rows] - means[i]
            covs[i] += (diff * w[sl][rows, None]).T @ diff
    floor = reg * max(float(np.sum(np.diag(cov) * unit**2)) / d, 1e-300)
    covs = covs / mass[keep, None, None] + floor * np.eye(d)
    weights = mass[keep] / mass[keep].sum()
    return CrudeMixture(weights, means, covs)


def _project(X, center, vecs):
    """Coordinates ``(X - center) V``, each scaled to unit (unweighted) spread."""
    Z = np.empty((X.shape[0], vecs.shape[1]))
    for sl in row_blocks(*X.shape):
        Z[sl] = (X[sl] - center) @ vecs
    top = np.max(np.abs(Z), axis=0)
    top = np.where(top > 0, top, 1.0)
    Z /= top
    spread = np.sqrt(np.mean(Z**2, axis=0))
    Z /= np.where(spread > 0, spread, 1.0)
    return Z


def merge_groups(crude: CrudeMixture, t: float, merge_distance: float) -> np.ndarray:
    """Group label of each crude component at time ``t`` (single linkage on noised distances).

    Returns
    -------
    groups : ndarray of shape (n_clusters,)
        Labels ``0..n_groups-1``.
    """
    K = len(crude.weights)
    if K == 1 or merge_distance <= 0:
        return np.arange(K)
    mu, cov = noised_mixture(crude.means, crude.covariances, t)
    dist = []
    for j in range(K):
        for l in range(j + 1, K):
            diff = mu[j] - mu[l]
            dist.append(np.sqrt(diff @ np.linalg.solve(0.5 * (cov[j] + cov[l]), diff)))
    tree = linkage(np.array(dist), method="single")
    return fcluster(tree, t=merge_distance, criterion="distance") - 1


def crude_log_joint(X: np.ndarray, crude: CrudeMixture, t: float) -> np.ndarray:
    """:math:`\\log w_j + \\log N(x; \\mu_j(t), \\Sigma_j(t))` for every point and crude component.

    All components are whitened by one product ``X @ A`` with ``A`` the stacked
    :math:`L_j^{-\\top}` (shape ``(d, d K)``; column ``i K + j`` holds row ``i`` of
    :math:`L_j^{-1}`), so the cost is one BLAS call per evaluation.

    Returns
    -------
    log_joint : ndarray of shape (n_samples, n_clusters)
    """
    mu, cov = noised_mixture(crude.means, crude.covariances, t)
    chol = covariance_cholesky(cov)
    inv_chol = np.linalg.inv(chol)
    n, d = X.shape
    K = len(crude.weights)
    stacked = inv_chol.transpose(2, 1, 0).reshape(d, d * K)
    offset = np.einsum("kij,kj->ik", inv_chol, mu).reshape(d * K)
    Z = X @ stacked
    Z -= offset
    Z *= Z
    maha = Z[:, :K].copy()
    for i in range(1, d):
        maha += Z[:, i * K:(i + 1) * K]
    logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    return np.log(crude.weights) - 0.5 * (d * _LOG_2PI + logdet) - 0.5 * maha


def group_log_likelihood(log_joint: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Crude log-likelihood of each point under each group, shape (n_samples, n_groups)."""
    n_groups = int(groups.max()) + 1
    if n_groups == len(groups):
        return log_joint[:, np.argsort(groups)]
    out = np.empty((log_joint.shape[0], n_groups))
    for g in range(n_groups):
        cols = np.flatnonzero(groups == g)
        if len(cols) == 1:
            out[:, g] = log_joint[:, cols[0]]
            continue
        block = log_joint[:, cols]
        top = block.max(axis=1)
        out[:, g] = top + np.log(np.exp(block - top[:, None]).sum(axis=1))
    return out


def assign_cells(X: np.ndarray, crude: CrudeMixture, groups: np.ndarray, t: float) -> np.ndarray:
    """Likelihood-ratio cell of each point: the group with the largest crude likelihood."""
    return np.argmax(group_log_likelihood(crude_log_joint(X, crude, t), groups), axis=1)
