r"""Sampler for the Gaussian mixtures of the Polymom experiment table (polymom.md §2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_rng
from ._common import (
    check_count,
    check_range,
    check_simplex,
    draw_labels,
    random_orthogonal,
)

__all__ = ["GaussianMixtureData", "make_gaussian_mixture", "sample_gaussian_mixture"]

COVARIANCE_TYPES = ("spherical", "diagonal", "constrained", "full")
# variance ranges of the Polymom generator at the table's commits (polymom.md §2.2)
_DEFAULT_VARIANCES = {
    "spherical": (2.0, 4.0),
    "diagonal": (1.0, 4.0),
    "constrained": (1.0, 4.0),
    "full": (1.0, 4.0),
}


@dataclass(frozen=True)
class GaussianMixtureData:
    r"""Samples of a Gaussian mixture with the parameters that generated them.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)
        Always full matrices, whatever ``covariance_type``; use
        ``np.diagonal(covariances, axis1=1, axis2=2)`` for the diagonal parametrisation
        :math:`(\xi, c)` of Polymom.
    covariance_type : str
        The generator setting used.
    """

    X: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str


def sample_gaussian_mixture(
    rng: np.random.Generator, labels: np.ndarray, means: np.ndarray, covariances: np.ndarray
) -> np.ndarray:
    r"""Draw :math:`x_i = \mu_{z_i} + L_{z_i} g_i` for given labels :math:`z_i`.

    :math:`L_k L_k^\top = \Sigma_k` is taken from a symmetric eigendecomposition
    (:math:`L = U\,\mathrm{diag}(\sqrt{\max(\lambda, 0)})`), so singular covariances are
    allowed.
    """
    n, d = len(labels), means.shape[1]
    X = np.empty((n, d))
    for k in range(len(means)):
        idx = np.flatnonzero(labels == k)
        lam, u = np.linalg.eigh(covariances[k])
        root = u * np.sqrt(np.clip(lam, 0.0, None))
        X[idx] = means[k] + rng.standard_normal((len(idx), d)) @ root.T
    return X


def _hypercube_means(rng, k: int, d: int) -> np.ndarray:
    """Vertices of the unit hypercube plus 0.02 U[0,1) jitter: ``e_1..e_d`` first."""
    if k > 2**d:
        raise ValueError(
            f"n_components={k} exceeds the {2**d} vertices of the hypercube in {d} dimensions; "
            "pass means explicitly"
        )
    vertices = np.eye(d)[: min(k, d)]
    if k > d:  # further distinct vertices (our extension; the paper has K <= D)
        others = [v for v in range(2**d) if bin(v).count("1") != 1]
        pick = rng.choice(len(others), size=k - d, replace=False)
        bits = np.array([[(others[p] >> i) & 1 for i in range(d)] for p in pick], dtype=float)
        vertices = np.vstack([vertices, bits])
    return vertices + 0.02 * rng.random((k, d))


def _constrained_means(rng, k: int, d: int) -> np.ndarray:
    """``e_k`` plus a zero-sum perturbation, so every mean's coordinates sum to exactly 1."""
    if k > d:
        raise ValueError(
            f"covariance_type='constrained' places means near e_1..e_d and needs "
            f"n_components <= n_features, got {k} > {d}"
        )
    u = 0.1 * rng.random((k, d))
    return np.eye(d)[:k] + u - u.mean(axis=1, keepdims=True)


def _covariances(rng, covariance_type: str, k: int, d: int, var_range) -> np.ndarray:
    lo, hi = var_range
    if covariance_type == "spherical":
        return rng.uniform(lo, hi, size=k)[:, None, None] * np.eye(d)
    if covariance_type in ("diagonal", "constrained"):
        return rng.uniform(lo, hi, size=(k, d))[:, :, None] * np.eye(d)
    out = np.empty((k, d, d))
    for j in range(k):
        q = random_orthogonal(rng, d)
        out[j] = (q * rng.uniform(lo, hi, size=d)) @ q.T
    return out


def make_gaussian_mixture(
    n_samples: int,
    n_features: int = 2,
    n_components: int = 2,
    covariance_type: str = "diagonal",
    *,
    weights=None,
    means=None,
    variance_range: tuple[float, float] | None = None,
    random_state=None,
) -> GaussianMixtureData:
    r"""Draw from a Gaussian mixture as generated for the Polymom experiment table.

    .. math::

        x \sim \sum_{k=1}^K \pi_k\, \mathcal N(\mu_k, \Sigma_k).

    The defaults follow the Polymom generator at the commits that produced the paper's
    table (``models/GaussianMixtures.generate``, polymom.md §2.2), where the components
    overlap heavily (:math:`\|\mu_1-\mu_2\| \approx \sqrt2`, :math:`\sigma \approx 1.4`--2):

    - weights :math:`\pi \sim \mathrm{Dirichlet}(10 \cdot 1_K)`;
    - ``'spherical'``: hypercube means, :math:`\Sigma_k = \sigma_k^2 I`,
      :math:`\sigma_k^2 \sim U[2, 4]`;
    - ``'diagonal'``: hypercube means, :math:`\Sigma_k = \mathrm{diag}(c_k)`, each
      :math:`c_{kd} \sim U[1, 4]`;
    - ``'constrained'``: the table's constrained row: diagonal covariances as above and
      means :math:`\mu_k = e_k + 0.1(u_k - \bar u_k 1)`, :math:`u_k \sim U[0,1)^D`, so
      that :math:`\sum_d \mu_{kd} = 1` **exactly** for every component (the constraint
      Polymom adds as :math:`(\sum_d \xi_d - 1)\xi^\beta = 0`). The original code meant
      this zero-sum perturbation but, through a numpy broadcasting slip, used
      :math:`0.1U_{ij} - \sum_l 0.1U_{jl}`, which satisfies the constraint only
      approximately; we implement the intended model. Needs ``n_components <= n_features``;
    - ``'full'`` (not in the table; our choice): hypercube means and
      :math:`\Sigma_k = Q_k \mathrm{diag}(\lambda_k) Q_k^\top` with :math:`Q_k` random
      orthogonal and :math:`\lambda_{kd} \sim U[1, 4]`.

    "Hypercube" means are :math:`\mu_k = e_k + 0.02\,U[0,1)^D` for :math:`k \le D`; for
    :math:`K > D` (our extension) further distinct vertices of :math:`\{0,1\}^D` are
    drawn at random, plus the same jitter.

    Parameters
    ----------
    n_samples : int
    n_features : int, default=2
    n_components : int, default=2
    covariance_type : {'spherical', 'diagonal', 'constrained', 'full'}, default='diagonal'
    weights : array-like of shape (n_components,), optional
        Replaces the Dirichlet draw.
    means : array-like of shape (n_components, n_features), optional
        Replaces the generated means.
    variance_range : (float, float), optional
        Interval of the variances (eigenvalues for ``'full'``); defaults as listed above.
    random_state : None, int, numpy.random.Generator or RandomState

    Returns
    -------
    GaussianMixtureData

    References
    ----------
    S. I. Wang, A. T. Chaganty, P. Liang, "Estimating mixture models via mixtures of
    polynomials", NIPS 2015, Table 3.

    Examples
    --------
    >>> data = make_gaussian_mixture(1000, 2, 2, "constrained", random_state=0)
    >>> data.means.sum(axis=1).round(12).tolist()
    [1.0, 1.0]
    """
    n = check_count(n_samples, "n_samples")
    d = check_count(n_features, "n_features")
    k = check_count(n_components, "n_components")
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}"
        )
    var_range = check_range(
        _DEFAULT_VARIANCES[covariance_type] if variance_range is None else variance_range,
        "variance_range",
    )
    rng = check_rng(random_state)
    w = rng.dirichlet(10.0 * np.ones(k)) if weights is None else check_simplex(weights, k)
    if means is not None:
        mu = np.asarray(means, dtype=np.float64)
        if mu.shape != (k, d) or not np.all(np.isfinite(mu)):
            raise ValueError(f"means must be finite with shape ({k}, {d}), got {mu.shape}")
    elif covariance_type == "constrained":
        mu = _constrained_means(rng, k, d)
    else:
        mu = _hypercube_means(rng, k, d)
    cov = _covariances(rng, covariance_type, k, d, var_range)
    labels = draw_labels(rng, w, n)
    X = sample_gaussian_mixture(rng, labels, mu, cov)
    return GaussianMixtureData(
        X=X, labels=labels, weights=w, means=mu, covariances=cov, covariance_type=covariance_type
    )
