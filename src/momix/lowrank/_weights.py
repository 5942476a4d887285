"""Data-only kernel sums and the diagonal (DGMM) moment weights.

The DGMM weight of order k is the minimiser of :math:`\\|WS - I\\|_F^2` over
order-block-diagonal :math:`W = \\operatorname{blockdiag}(w_1 I, \\dots, w_L I)`,

.. math:: w_k = \\frac{\\operatorname{tr} S_{kk}}{\\sum_{k'} \\|S_{kk'}\\|_F^2},
          \\qquad S = \\sum_n \\omega_n f_n f_n^\\top,\\quad
          f_{k}(y) = M^{(k)}(\\theta) - y^{\\otimes k},

and every term reduces to scalars: :math:`\\alpha_k = \\|M^{(k)}\\|^2`,
:math:`\\beta_{k,n} = \\langle M^{(k)}, y_n^{\\otimes k}\\rangle` and the data-only kernel sums
:math:`G_k(n) = \\sum_{n'} \\omega_{n'} \\langle y_n, y_{n'}\\rangle^k` (k <= 2L), computed once
(exactly in blocks, or by the Nystrom method with landmarks).

References
----------
.. [1] L. Zhang, O. Mickelin, S. Xu, A. Singer, arXiv:2507.20459 (2025), Sections 3-4.
.. [2] C. Williams, M. Seeger, "Using the Nystrom method to speed up kernel machines",
   NIPS 2001.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from sklearn.cluster import kmeans_plusplus

from ..exceptions import NumericalError
from ._engine import MixtureParams, alpha_moments, beta_moments

__all__ = [
    "KernelSums",
    "exact_kernel_sums",
    "nystrom_kernel_sums",
    "nystrom_landmark_count",
    "dgmm_weights",
    "make_weight_fn",
    "weight_function",
]

logger = logging.getLogger("momix.lowrank")

#: ``nystrom='auto'`` uses the exact kernel sums up to this many samples
EXACT_SUMS_MAX_SAMPLES = 3000


@dataclass(frozen=True)
class KernelSums:
    """Data-only sums needed by the DGMM weights.

    Attributes
    ----------
    rows : ndarray of shape (n_samples, L)
        :math:`G_k(n) = \\sum_{n'} \\omega_{n'}\\langle y_n, y_{n'}\\rangle^k`, k = 1..L.
    totals : ndarray of shape (2L,)
        :math:`\\bar G_k = \\sum_n \\omega_n G_k(n) = \\|\\hat M^{(k)}\\|_F^2`, k = 1..2L.
    diag : ndarray of shape (L,)
        :math:`\\sum_n \\omega_n \\|y_n\\|^{2k}`, k = 1..L (always exact).
    n_landmarks : int or None
        Landmarks used (None for the exact sums).
    """

    rows: np.ndarray
    totals: np.ndarray
    diag: np.ndarray
    n_landmarks: int | None = None


def _diag_sums(X, omega, L):
    sq = np.einsum("nd,nd->n", X, X)
    return np.array([omega @ sq**k for k in range(1, L + 1)])


def exact_kernel_sums(
    X: np.ndarray, omega: np.ndarray, max_order: int, block_size: int = 1024
) -> KernelSums:
    """Exact :math:`G_k(n)` by blocked Gram matrices.

    :math:`O(N^2 (d + L))` time, :math:`O(N b)` memory.

    Parameters
    ----------
    X : ndarray of shape (n_samples, d)
    omega : ndarray of shape (n_samples,)
        Sample weights summing to one.
    max_order : int
        L; sums are formed for k = 1..2L.
    """
    N, L = X.shape[0], max_order
    G = np.empty((N, 2 * L))
    for start in range(0, N, block_size):
        gram = X[start : start + block_size] @ X.T
        power = np.ones_like(gram)
        for k in range(2 * L):
            power *= gram
            G[start : start + block_size, k] = power @ omega
    return KernelSums(rows=G[:, :L], totals=omega @ G, diag=_diag_sums(X, omega, L))


def nystrom_landmark_count(n_samples: int, n_components: int, rank: int, max_order: int) -> int:
    """Default landmark count for ``nystrom="auto"``.

    For noiseless Model-1.1 data every :math:`y` lies in a union of K subspaces of dimension
    R + 1, so :math:`\\operatorname{rank} H^{(k)} \\le K\\binom{R+k}{k}`; the default takes this
    bound at k = 2L (the largest order needed), at least 200 landmarks (noise makes
    :math:`H^{(k)}` full rank, and extra landmarks only improve the approximation), and at
    most 1000 (the cost is :math:`O(N d m + L m^3)`) and N.
    """
    bound = n_components * _comb(rank + 2 * max_order, 2 * max_order)
    return int(min(n_samples, 1000, max(200, bound)))


def _comb(n, k):
    from math import comb

    return comb(n, k)


def nystrom_kernel_sums(
    X: np.ndarray,
    omega: np.ndarray,
    max_order: int,
    n_landmarks: int,
    rng: np.random.Generator,
    chunk_size: int = 8192,
) -> KernelSums:
    """Nystrom approximation of :math:`G_k(n)` with one landmark set for every order.

    With landmarks :math:`Z` (k-means++ seeding among at most :math:`10m` random rows of
    ``X``),
    :math:`C_k = (X Z^\\top)^{\\circ k}` and :math:`W_k = (Z Z^\\top)^{\\circ k}`,

    .. math:: G_k \\approx C_k W_k^{+} C_k^\\top \\omega,

    with the pseudo-inverse cut at :math:`10^{-14}` of the largest eigenvalue. Exact when
    :math:`\\operatorname{rank} H^{(k)}` is at most the landmark rank (noiseless low-rank data).
    The diagonal sums :math:`\\|y_n\\|^{2k}` stay exact. Cost :math:`O(N d m + L m^3)`; two
    passes over row chunks keep the memory at :math:`O(\\text{chunk}\\cdot m)`.
    """
    N, L = X.shape[0], max_order
    m = int(min(n_landmarks, N))
    pool = np.arange(N) if N <= 10 * m else rng.choice(N, 10 * m, replace=False)
    seed = int(rng.integers(np.iinfo(np.int32).max))
    _, idx = kmeans_plusplus(X[pool], m, random_state=seed)
    Z = X[pool[idx]]
    inner = Z @ Z.T
    # pass 1: C_k^T omega for every k, in row chunks (memory O(chunk * m))
    ct_omega = np.zeros((2 * L, m))
    for start in range(0, N, chunk_size):
        cross = X[start : start + chunk_size] @ Z.T
        power = np.ones_like(cross)
        for k in range(2 * L):
            power *= cross
            ct_omega[k] += omega[start : start + chunk_size] @ power
    coef = np.empty((2 * L, m))  # W_k^+ C_k^T omega
    Wk = np.ones_like(inner)
    for k in range(2 * L):
        Wk *= inner
        evals, evecs = np.linalg.eigh(Wk)
        keep = evals > 1e-14 * evals[-1]
        coef[k] = evecs[:, keep] @ ((evecs[:, keep].T @ ct_omega[k]) / evals[keep])
    # pass 2: G_k = C_k coef_k
    G = np.empty((N, 2 * L))
    for start in range(0, N, chunk_size):
        cross = X[start : start + chunk_size] @ Z.T
        power = np.ones_like(cross)
        for k in range(2 * L):
            power *= cross
            G[start : start + chunk_size, k] = power @ coef[k]
    return KernelSums(rows=G[:, :L], totals=omega @ G, diag=_diag_sums(X, omega, L), n_landmarks=m)


def dgmm_weights(
    alpha: np.ndarray, beta: np.ndarray, omega: np.ndarray, sums: KernelSums
) -> np.ndarray:
    """Diagonal GMM weights :math:`w_k = \\operatorname{tr} S_{kk} / \\sum_{k'} \\|S_{kk'}\\|_F^2`.

    With :math:`b_k = \\sum_n \\omega_n\\beta_{k,n}` and
    :math:`\\bar G_k = \\sum_n \\omega_n G_k(n)`,

    .. math::
        \\operatorname{tr} S_{kk} &= \\alpha_k - 2 b_k
          + \\textstyle\\sum_n \\omega_n\\|y_n\\|^{2k},\\\\
        \\|S_{kk'}\\|_F^2 &= \\alpha_k\\alpha_{k'} - 2\\alpha_k b_{k'} - 2\\alpha_{k'} b_k
          + 2 b_k b_{k'}
          + \\alpha_k \\bar G_{k'} + \\alpha_{k'} \\bar G_k + \\bar G_{k+k'} \\\\
          &\\quad + \\textstyle\\sum_n \\omega_n \\big[2\\beta_{k,n}\\beta_{k',n}
          - 2\\beta_{k,n} G_{k'}(n) - 2\\beta_{k',n} G_k(n)\\big].

    Parameters
    ----------
    alpha : ndarray of shape (L,)
    beta : ndarray of shape (n_samples, L)
    omega : ndarray of shape (n_samples,)
    sums : KernelSums

    Raises
    ------
    NumericalError
        If a denominator is not positive (possible only with a too coarse Nystrom
        approximation); increase ``nystrom``.
    """
    L = alpha.shape[0]
    b = omega @ beta
    Gbar = sums.totals
    wb = beta * omega[:, None]
    cross = wb.T @ sums.rows  # sum_n w beta_k G_k'
    idx = np.arange(L)
    S2 = (
        np.outer(alpha, alpha)
        - 2 * np.outer(alpha, b)
        - 2 * np.outer(b, alpha)
        + 2 * np.outer(b, b)
        + np.outer(alpha, Gbar[:L])
        + np.outer(Gbar[:L], alpha)
        + Gbar[idx[:, None] + idx[None, :] + 1]
        + 2 * wb.T @ beta
        - 2 * cross
        - 2 * cross.T
    )
    trace = alpha - 2 * b + sums.diag
    denom = S2.sum(axis=1)
    if not (np.all(np.isfinite(denom)) and np.all(denom > 0) and np.all(trace > 0)):
        raise NumericalError(
            "the moment covariance S came out non-positive (tr S_kk = "
            f"{trace}, row sums of ||S_kk'||^2 = {denom}); the Nystrom approximation is too "
            "coarse -- increase `nystrom` (landmarks) or use nystrom='exact'"
        )
    return trace / denom


def make_weight_fn(
    data, max_order: int, sums=None, fallback: Callable | None = None
) -> Callable[[MixtureParams], np.ndarray]:
    """``params -> DGMM weights`` for a :class:`._solver.MomentData` ``data``.

    ``sums`` is a :class:`KernelSums` (exact or Nystrom sample sums, the paper's estimate of
    S), or None for the *model-based* estimate: the data kernel sums are replaced by their
    values under the current fit, :math:`G_k(n) \\to \\beta_{k,n}` and
    :math:`\\bar G_k \\to \\alpha_k` (k <= 2L), which gives

    .. math:: \\|S_{kk'}\\|_F^2 = \\alpha_{k+k'}
              - 2\\textstyle\\sum_n\\omega_n\\beta_{k,n}\\beta_{k',n}
              + \\alpha_k\\alpha_{k'} + 2(\\alpha_k - b_k)(\\alpha_{k'} - b_{k'})

    (at a consistent fit, :math:`b_k \\approx \\alpha_k`, the population value
    :math:`\\|\\operatorname{Cov}(y^{\\otimes k}, y^{\\otimes k'})\\|_F^2` with the cross term
    averaged over the data) at cost :math:`O(NKL + K^2 L^2 dR)`. Unlike the sample sums it
    has no :math:`n = n'` (V-statistic) term, which dominates the sample sums of
    :math:`\\langle y_n, y_{n'}\\rangle^{k+k'}` when noise is strong in high dimension.

    The model-based value is not guaranteed positive away from a consistent fit (the data
    average of :math:`\\beta_{k}\\beta_{k'}` need not match the model); where it is not,
    ``fallback(params)`` gives the weights instead (and this is logged).
    """
    diag = np.array([data.omega @ data.sqnorm**k for k in range(1, max_order + 1)])

    def weight_fn(params: MixtureParams) -> np.ndarray:
        beta = beta_moments(data.X, data.sqnorm, params, max_order)
        if sums is not None:
            alpha = alpha_moments(params, max_order, ambient_dim=data.ambient_dim).alpha
            return dgmm_weights(alpha, beta, data.omega, sums)
        alpha = alpha_moments(params, 2 * max_order, ambient_dim=data.ambient_dim).alpha
        model = KernelSums(rows=beta, totals=alpha, diag=diag)
        try:
            return dgmm_weights(alpha[:max_order], beta, data.omega, model)
        except NumericalError:
            if fallback is None:
                raise
            logger.info("model-based S not positive here; weights from exact sums on a subsample")
            return fallback(params)

    return weight_fn


def _subsample_weight_fn(data, fit_data, max_order: int, rng: np.random.Generator) -> Callable:
    """Weights from exact sample sums on at most :data:`EXACT_SUMS_MAX_SAMPLES` random rows.

    Always a valid (positive) estimate of S; the sums are formed on first use.
    """
    n = data.X.shape[0]
    idx = np.sort(rng.choice(n, min(n, EXACT_SUMS_MAX_SAMPLES), replace=False))
    omega = data.omega[idx] / data.omega[idx].sum()
    sub_fit = replace(
        fit_data, X=fit_data.X[idx], omega=omega, sqnorm=fit_data.sqnorm[idx], statistics=None
    )
    cache: dict = {}

    def fallback(params: MixtureParams) -> np.ndarray:
        if "fn" not in cache:
            sums = exact_kernel_sums(data.X[idx], omega, max_order)
            cache["fn"] = make_weight_fn(sub_fit, max_order, sums)
        return cache["fn"](params)

    return fallback


def weight_function(
    mode,
    data,
    fit_data,
    noise: float,
    n_components: int,
    rank: int,
    max_order: int,
    rng: np.random.Generator,
):
    """Resolve ``nystrom`` and build the DGMM weight function.

    ``mode`` is ``'auto'``, ``'exact'``, ``'model'`` or a landmark count; ``'auto'`` means
    exact sums up to :data:`EXACT_SUMS_MAX_SAMPLES` samples, above that Nystrom for
    noiseless data and ``'model'`` for noisy data. ``'model'`` falls back to exact sums on
    a random subsample of :data:`EXACT_SUMS_MAX_SAMPLES` rows wherever the model-based S
    is not positive. Kernel sums use the full data ``data``;
    the weights are evaluated on ``fit_data`` (possibly subspace coordinates).

    Returns
    -------
    weight_fn : callable ``params -> (L,) weights``
    mode : str or int
        The resolved mode.
    """
    n, L = data.X.shape[0], max_order
    if mode == "auto":
        landmarks = nystrom_landmark_count(n, n_components, rank, L)
        mode = "exact" if n <= EXACT_SUMS_MAX_SAMPLES else ("model" if noise > 0 else landmarks)
    if mode == "model":
        fallback = _subsample_weight_fn(data, fit_data, L, rng)
        return make_weight_fn(fit_data, L, None, fallback), mode
    if mode == "exact":
        return make_weight_fn(fit_data, L, exact_kernel_sums(data.X, data.omega, L)), mode
    sums = nystrom_kernel_sums(data.X, data.omega, L, int(mode), rng)
    return make_weight_fn(fit_data, L, sums), int(mode)
