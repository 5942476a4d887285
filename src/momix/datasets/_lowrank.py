r"""Sampler for the heteroscedastic low-rank Gaussian mixture (DGMM Model 1.1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import check_rng
from ._common import (
    check_count,
    check_range,
    check_simplex,
    draw_labels,
    draw_uniform,
    random_orthogonal,
    random_unit_vectors,
)

__all__ = ["LowRankGaussianMixtureData", "make_lowrank_gaussian_mixture", "dgmm_default_weights"]


@dataclass(frozen=True)
class LowRankGaussianMixtureData:
    """Samples of a low-rank Gaussian mixture with the parameters that generated them.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        The samples.
    labels : ndarray of shape (n_samples,)
        Latent component of each sample.
    weights : ndarray of shape (n_components,)
        Mixing weights :math:`\\pi`.
    means : ndarray of shape (n_components, n_features)
        Component means :math:`\\mu_j`.
    factors : ndarray of shape (n_components, n_features, max_rank)
        Factors :math:`V_j`, zero-padded: columns ``ranks[j]:`` of ``factors[j]`` are zero
        (the DGMM convention of giving every component ``R_max`` columns). ``V_j`` is
        identified only up to :math:`V_j Q`; compare covariances, not factors.
    ranks : ndarray of shape (n_components,)
        :math:`R_j = \\operatorname{rank}(V_j V_j^\\top)`.
    covariances : ndarray of shape (n_components, n_features, n_features)
        :math:`\\Sigma_j = V_j V_j^\\top + \\sigma^2 I`, noise included.
    noise_variance : float
        :math:`\\sigma^2` of the isotropic noise (0 for Model 1.1 itself).
    """

    X: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    factors: np.ndarray
    ranks: np.ndarray
    covariances: np.ndarray
    noise_variance: float


def dgmm_default_weights(rng: np.random.Generator, n_components: int) -> np.ndarray:
    r"""Mixing weights of the DGMM reference generator.

    :math:`\pi_j \sim U(a, 0.9/(K-1))` for :math:`j < K` and
    :math:`\pi_K = 1 - \sum_{j<K}\pi_j \ge 0.1`, with :math:`a = 0.1` (dgmm.md §1). The
    interval is empty for :math:`K > 10`; then (our choice) :math:`a = 0.45/(K-1)`, half
    the upper end.
    """
    k = n_components
    if k == 1:
        return np.ones(1)
    hi = 0.9 / (k - 1)
    lo = 0.1 if k <= 10 else 0.5 * hi
    head = rng.uniform(lo, hi, size=k - 1)
    return np.append(head, 1.0 - head.sum())


def _check_ranks(rank, n_components: int, n_features: int) -> np.ndarray:
    if isinstance(rank, Sequence) or isinstance(rank, np.ndarray):
        ranks = [check_count(r, "rank") for r in rank]
        if len(ranks) != n_components:
            raise ValueError(
                f"rank has {len(ranks)} entries; expected one per component ({n_components})"
            )
    else:
        ranks = [check_count(rank, "rank")] * n_components
    ranks = np.asarray(ranks, dtype=np.intp)
    if ranks.max() > n_features:
        raise ValueError(f"rank {ranks.max()} exceeds n_features={n_features}")
    return ranks


def _draw_factors(rng, ranks, n_features, factor_norm) -> np.ndarray:
    k, r_max = len(ranks), int(ranks.max())
    factors = np.zeros((k, n_features, r_max))
    for j, r in enumerate(ranks):
        columns = random_orthogonal(rng, n_features)[:, :r]
        factors[j, :, :r] = columns * draw_uniform(rng, factor_norm, r)
    return factors


def _sample_lowrank(rng, labels, means, factors, noise_variance) -> np.ndarray:
    n, d = len(labels), means.shape[1]
    X = np.empty((n, d))
    for j in range(len(means)):
        idx = np.flatnonzero(labels == j)
        z = rng.standard_normal((len(idx), factors.shape[2]))
        X[idx] = means[j] + z @ factors[j].T
    if noise_variance > 0:
        X += np.sqrt(noise_variance) * rng.standard_normal((n, d))
    return X


def make_lowrank_gaussian_mixture(
    n_samples: int,
    n_features: int,
    n_components: int,
    rank: int | Sequence[int] = 1,
    *,
    noise_variance: float = 0.0,
    mean_norm: float | tuple[float, float] = 1.0,
    factor_norm: float | tuple[float, float] = (1.0, 2.0),
    weights=None,
    random_state=None,
) -> LowRankGaussianMixtureData:
    r"""Draw from a heteroscedastic low-rank Gaussian mixture (DGMM Model 1.1).

    .. math::

        Y \sim \sum_{j=1}^K \pi_j\, \mathcal N\!\left(\mu_j,\; V_j V_j^\top + \sigma^2 I_d\right),
        \qquad V_j \in \mathbb R^{d \times R_j},

    generated as in the DGMM reference code (dgmm.md §1) with the weakly separated
    setting of dgmm.md §6 as default:

    - weights: :func:`dgmm_default_weights` (:math:`\pi_j \sim U(0.1, 0.9/(K-1))`,
      :math:`j<K`, last weight the remainder) unless ``weights`` is given;
    - means: :math:`\mu_j = r_j u_j` with :math:`u_j` uniform on the unit sphere and
      :math:`r_j \sim U(\text{mean\_norm})` (a number means a fixed norm; default 1);
    - factors: the first :math:`R_j` columns of a random orthogonal matrix
      (:math:`UV^\top` from the SVD of a Gaussian :math:`d\times d` matrix), column
      :math:`r` rescaled to length :math:`w_{j,r} \sim U(\text{factor\_norm})`, so the
      non-zero eigenvalues of :math:`V_jV_j^\top` are :math:`w_{j,r}^2`;
    - samples: :math:`z_i \sim \pi`, then
      :math:`y_i = \mu_{z_i} + V_{z_i} g_i + \sigma \varepsilon_i` with
      :math:`g_i, \varepsilon_i` standard normal.

    ``noise_variance`` = :math:`\sigma^2 > 0` adds the optional known isotropic noise of
    dgmm.md §1 (equivalent to augmenting every factor with :math:`\sigma I`); Model 1.1
    itself is noiseless (the default).

    Parameters
    ----------
    n_samples : int
    n_features : int
        Dimension :math:`d`.
    n_components : int
        :math:`K`.
    rank : int or sequence of int, default=1
        :math:`R_j`, one for all components or one per component (unequal ranks allowed,
        each between 1 and ``n_features``).
    noise_variance : float, default=0.0
    mean_norm : float or (float, float), default=1.0
        Norm of the means, or the interval it is drawn from uniformly.
    factor_norm : float or (float, float), default=(1.0, 2.0)
        Length of each factor column, or the interval it is drawn from uniformly.
    weights : array-like of shape (n_components,), optional
        Mixing weights (positive, summing to one).
    random_state : None, int, numpy.random.Generator or RandomState

    Returns
    -------
    LowRankGaussianMixtureData

    References
    ----------
    L. Zhang, O. Mickelin, S. Xu, A. Singer, "Diagonally-weighted generalized method of
    moments estimation for Gaussian mixture modeling", arXiv:2507.20459 (2025), Model 1.1.

    Examples
    --------
    >>> data = make_lowrank_gaussian_mixture(500, 10, 3, rank=[1, 1, 2], random_state=0)
    >>> data.X.shape, data.factors.shape, data.ranks.tolist()
    ((500, 10), (3, 10, 2), [1, 1, 2])
    """
    n = check_count(n_samples, "n_samples")
    d = check_count(n_features, "n_features")
    k = check_count(n_components, "n_components")
    ranks = _check_ranks(rank, k, d)
    if not np.isfinite(noise_variance) or noise_variance < 0:
        raise ValueError(f"noise_variance must be finite and >= 0, got {noise_variance!r}")
    mean_range = check_range(mean_norm, "mean_norm", positive=False)
    if mean_range[0] < 0:
        raise ValueError(f"mean_norm must be >= 0, got {mean_norm!r}")
    factor_range = check_range(factor_norm, "factor_norm")
    rng = check_rng(random_state)
    w = dgmm_default_weights(rng, k) if weights is None else check_simplex(weights, k)
    means = random_unit_vectors(rng, k, d) * draw_uniform(rng, mean_range, k)[:, None]
    factors = _draw_factors(rng, ranks, d, factor_range)
    labels = draw_labels(rng, w, n)
    X = _sample_lowrank(rng, labels, means, factors, float(noise_variance))
    covariances = factors @ factors.transpose(0, 2, 1) + noise_variance * np.eye(d)
    return LowRankGaussianMixtureData(
        X=X,
        labels=labels,
        weights=w,
        means=means,
        factors=factors,
        ranks=ranks,
        covariances=covariances,
        noise_variance=float(noise_variance),
    )
