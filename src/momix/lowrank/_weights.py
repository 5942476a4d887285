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
from math import comb

import numpy as np
from sklearn.cluster import kmeans_plusplus

from ..exceptions import NumericalError
from ._blocks import row_slices
from ._engine import MixtureParams, alpha_moments, beta_moments

__all__ = [
    "KernelSums",
    "BetaSums",
    "beta_sums",
    "weights_from_sums",
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

#: an order whose tr S_kk is at most this fraction of sum_n w_n ||y_n||^{2k} has sample
#: moments that do not vary over the rows: its DGMM weight is undefined
DEGENERATE_RTOL = 1e-9

#: noise variances up to this (in the fit's standardised units: relative to the data's mean
#: variance) count as noiseless for ``nystrom='auto'`` (kernel matrices of low rank)
NOISELESS_VARIANCE = 1e-6


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
    """:math:`\\sum_n \\omega_n \\|y_n\\|^{2k}`, k = 1..L, over row blocks."""
    out = np.zeros(L)
    for sl in row_slices(*X.shape):
        rows = np.asarray(X[sl], dtype=np.float64)
        sq = np.einsum("nd,nd->n", rows, rows)
        out += [omega[sl] @ sq**k for k in range(1, L + 1)]
    return out


def exact_kernel_sums(
    X: np.ndarray, omega: np.ndarray, max_order: int, block_size: int = 1024
) -> KernelSums:
    """Exact :math:`G_k(n)` by blocked Gram matrices.

    :math:`O(N^2 (d + L))` time, :math:`O(N b)` memory (plus a float64 copy of a float32
    ``X``: the powers up to :math:`2L` need double precision).

    Parameters
    ----------
    X : ndarray of shape (n_samples, d)
    omega : ndarray of shape (n_samples,)
        Sample weights summing to one.
    max_order : int
        L; sums are formed for k = 1..2L.
    """
    X = np.asarray(X, dtype=np.float64)
    N, L = X.shape[0], max_order
    rows, totals = np.empty((N, L)), np.zeros(2 * L)
    for start in range(0, N, block_size):
        gram = X[start : start + block_size] @ X.T
        power = np.ones_like(gram)
        block = np.empty((gram.shape[0], 2 * L))
        for k in range(2 * L):
            power *= gram
            block[:, k] = power @ omega
        rows[start : start + block_size] = block[:, :L]
        totals += omega[start : start + block_size] @ block
    return KernelSums(rows=rows, totals=totals, diag=_diag_sums(X, omega, L))


def nystrom_landmark_count(n_samples: int, n_components: int, rank: int, max_order: int) -> int:
    """Default landmark count for ``nystrom="auto"``.

    For noiseless Model-1.1 data every :math:`y` lies in a union of K subspaces of dimension
    R + 1, so :math:`\\operatorname{rank} H^{(k)} \\le K\\binom{R+k}{k}`; the default takes this
    bound at k = 2L (the largest order needed), at least 200 landmarks (noise makes
    :math:`H^{(k)}` full rank, and extra landmarks only improve the approximation), and at
    most 1000 (the cost is :math:`O(N d m + L m^3)`) and N.
    """
    bound = n_components * comb(rank + 2 * max_order, 2 * max_order)
    return int(min(n_samples, 1000, max(200, bound)))


def nystrom_kernel_sums(
    X: np.ndarray,
    omega: np.ndarray,
    max_order: int,
    n_landmarks: int,
    rng: np.random.Generator,
) -> KernelSums:
    """Nystrom approximation of :math:`G_k(n)` with one landmark set for every order.

    With landmarks :math:`Z` (k-means++ seeding among at most :math:`10m` random rows of
    ``X``),
    :math:`C_k = (X Z^\\top)^{\\circ k}` and :math:`W_k = (Z Z^\\top)^{\\circ k}`,

    .. math:: G_k \\approx C_k W_k^{+} C_k^\\top \\omega,

    with the pseudo-inverse cut at :math:`10^{-14}` of the largest eigenvalue. Exact when
    :math:`\\operatorname{rank} H^{(k)}` is at most the landmark rank (noiseless low-rank data).
    The diagonal sums :math:`\\|y_n\\|^{2k}` stay exact. Cost :math:`O(N d m + L m^3)`; two
    passes over row blocks of about 2 MiB of :math:`C_k` (:mod:`._blocks`) keep the memory
    at the :math:`N \\times L` sums kept.
    """
    N, L = X.shape[0], max_order
    m = int(min(n_landmarks, N))
    pool = np.arange(N) if N <= 10 * m else rng.choice(N, 10 * m, replace=False)
    seed = int(rng.integers(np.iinfo(np.int32).max))
    candidates = np.asarray(X[pool], dtype=np.float64)
    _, idx = kmeans_plusplus(candidates, m, random_state=seed)
    Z = candidates[idx]
    inner = Z @ Z.T
    # pass 1: C_k^T omega for every k, in row blocks of about 2 MiB of C_k
    ct_omega = np.zeros((2 * L, m))
    for sl in row_slices(N, m):
        cross = np.asarray(X[sl], dtype=np.float64) @ Z.T
        power = np.ones_like(cross)
        for k in range(2 * L):
            power *= cross
            ct_omega[k] += omega[sl] @ power
    coef = np.empty((2 * L, m))  # W_k^+ C_k^T omega
    Wk = np.ones_like(inner)
    for k in range(2 * L):
        Wk *= inner
        evals, evecs = np.linalg.eigh(Wk)
        keep = evals > 1e-14 * evals[-1]
        coef[k] = evecs[:, keep] @ ((evecs[:, keep].T @ ct_omega[k]) / evals[keep])
    # pass 2: G_k = C_k coef_k; the rows of orders <= L are kept, all orders summed
    rows, totals = np.empty((N, L)), np.zeros(2 * L)
    for sl in row_slices(N, m):
        cross = np.asarray(X[sl], dtype=np.float64) @ Z.T
        power = np.ones_like(cross)
        block = np.empty((cross.shape[0], 2 * L))
        for k in range(2 * L):
            power *= cross
            block[:, k] = power @ coef[k]
        rows[sl] = block[:, :L]
        totals += omega[sl] @ block
    return KernelSums(rows=rows, totals=totals, diag=_diag_sums(X, omega, L), n_landmarks=m)


@dataclass(frozen=True)
class BetaSums:
    """Sums over samples of the per-sample :math:`\\beta_{k,n}` that the weights need.

    Attributes
    ----------
    b : ndarray of shape (L,)
        :math:`\\sum_n \\omega_n \\beta_{k,n}`.
    beta_beta : ndarray of shape (L, L)
        :math:`\\sum_n \\omega_n \\beta_{k,n}\\beta_{k',n}`.
    beta_rows : ndarray of shape (L, L)
        :math:`\\sum_n \\omega_n \\beta_{k,n} G_{k'}(n)` (equal to ``beta_beta`` for the
        model-based sums, where :math:`G_{k'}(n) \\to \\beta_{k',n}`).
    """

    b: np.ndarray
    beta_beta: np.ndarray
    beta_rows: np.ndarray


def beta_sums(X, sqnorm, omega, params: MixtureParams, max_order: int, rows=None) -> BetaSums:
    """:class:`BetaSums` over row blocks: per-sample :math:`\\beta` never exists for all N."""
    L = max_order
    b, bb, br = np.zeros(L), np.zeros((L, L)), np.zeros((L, L))
    for sl in row_slices(*X.shape):
        beta = beta_moments(X[sl], sqnorm[sl], params, L)
        wb = beta * omega[sl, None]
        b += wb.sum(axis=0)
        bb += wb.T @ beta
        if rows is not None:
            br += wb.T @ rows[sl]
    return BetaSums(b, bb, bb if rows is None else br)


def weights_from_sums(
    alpha: np.ndarray,
    sums: BetaSums,
    totals: np.ndarray,
    diag: np.ndarray,
    hint: str = "the Nystrom approximation is too coarse -- increase `nystrom` (landmarks) "
    "or use nystrom='exact'",
) -> np.ndarray:
    """Diagonal GMM weights :math:`w_k = \\operatorname{tr} S_{kk} / \\sum_{k'} \\|S_{kk'}\\|_F^2`.

    With :math:`b_k = \\sum_n \\omega_n\\beta_{k,n}` and
    :math:`\\bar G_k = \\sum_n \\omega_n G_k(n)` (``totals``),

    .. math::
        \\operatorname{tr} S_{kk} &= \\alpha_k - 2 b_k
          + \\textstyle\\sum_n \\omega_n\\|y_n\\|^{2k},\\\\
        \\|S_{kk'}\\|_F^2 &= \\alpha_k\\alpha_{k'} - 2\\alpha_k b_{k'} - 2\\alpha_{k'} b_k
          + 2 b_k b_{k'}
          + \\alpha_k \\bar G_{k'} + \\alpha_{k'} \\bar G_k + \\bar G_{k+k'} \\\\
          &\\quad + \\textstyle\\sum_n \\omega_n \\big[2\\beta_{k,n}\\beta_{k',n}
          - 2\\beta_{k,n} G_{k'}(n) - 2\\beta_{k',n} G_k(n)\\big].

    Raises
    ------
    NumericalError
        If an order's sample moments do not vary over the rows (:math:`\\operatorname{tr}
        S_{kk}` at most :data:`DEGENERATE_RTOL` of :math:`\\sum_n\\omega_n\\|y_n\\|^{2k}`:
        e.g. two distinct points, whose second moments :math:`y^{\\otimes 2}` coincide after
        centring), or if a trace or a denominator is not positive and finite (``hint`` says
        what to change).
    """
    L = alpha.shape[0]
    b, idx = sums.b, np.arange(L)
    S2 = (
        np.outer(alpha, alpha)
        - 2 * np.outer(alpha, b)
        - 2 * np.outer(b, alpha)
        + 2 * np.outer(b, b)
        + np.outer(alpha, totals[:L])
        + np.outer(totals[:L], alpha)
        + totals[idx[:, None] + idx[None, :] + 1]
        + 2 * sums.beta_beta
        - 2 * sums.beta_rows
        - 2 * sums.beta_rows.T
    )
    trace = alpha - 2 * b + diag
    denom = S2.sum(axis=1)
    flat = np.flatnonzero(np.abs(trace) <= DEGENERATE_RTOL * np.abs(diag))
    if flat.size:
        orders = ", ".join(str(k + 1) for k in flat)
        raise NumericalError(
            f"the sample moments of order(s) {orders} do not vary over the rows (tr S_kk = "
            f"{trace[flat]}, against sum_n w_n ||y_n||^2k = {diag[flat]}): the data are too "
            "few distinct points, or too symmetric, for the DGMM order weights; use "
            "weighting='identity' (the method of moments)"
        )
    ok = np.all(np.isfinite(denom)) and np.all(np.isfinite(trace))
    if not (ok and np.all(denom > 0) and np.all(trace > 0)):
        raise NumericalError(
            "the moment covariance S came out non-positive (tr S_kk = "
            f"{trace}, row sums of ||S_kk'||^2 = {denom}); {hint}"
        )
    return trace / denom


def dgmm_weights(
    alpha: np.ndarray, beta: np.ndarray, omega: np.ndarray, sums: KernelSums
) -> np.ndarray:
    """:func:`weights_from_sums` from per-sample ``beta`` (n_samples, L) and kernel sums.

    Raises
    ------
    NumericalError
        If a denominator is not positive (possible only with a too coarse Nystrom
        approximation); increase ``nystrom``.
    """
    wb = beta * omega[:, None]
    bs = BetaSums(omega @ beta, wb.T @ beta, wb.T @ sums.rows)
    return weights_from_sums(alpha, bs, sums.totals, sums.diag)


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
    ``fallback(params)`` gives the weights instead (and this is logged). The per-sample
    :math:`\\beta` are summed over row blocks (:func:`beta_sums`).
    """
    diag = _diag_sums_from_norms(data.sqnorm, data.omega, max_order)

    def weight_fn(params: MixtureParams) -> np.ndarray:
        rows = None if sums is None else sums.rows
        bs = beta_sums(data.X, data.sqnorm, data.omega, params, max_order, rows)
        if sums is not None:
            alpha = alpha_moments(params, max_order, ambient_dim=data.ambient_dim).alpha
            hint = (
                "the Nystrom approximation is too coarse -- increase `nystrom` (landmarks) "
                "or use nystrom='exact'"
                if sums.n_landmarks
                else "the exact sample sums are inconsistent; use weighting='identity'"
            )
            return weights_from_sums(alpha, bs, sums.totals, sums.diag, hint)
        alpha = alpha_moments(params, 2 * max_order, ambient_dim=data.ambient_dim).alpha
        hint = "the model-based estimate of S is not positive here; use nystrom='exact'"
        try:
            return weights_from_sums(alpha[:max_order], bs, alpha, diag, hint)
        except NumericalError:
            if fallback is None:
                raise
            logger.info("model-based S not positive here; weights from exact sums on a subsample")
            return fallback(params)

    return weight_fn


def _diag_sums_from_norms(sqnorm: np.ndarray, omega: np.ndarray, L: int) -> np.ndarray:
    """:math:`\\sum_n \\omega_n \\|y_n\\|^{2k}`, k = 1..L, from the (ambient) squared norms."""
    return np.array([omega @ sqnorm**k for k in range(1, L + 1)])


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
    noiseless data (``noise`` at most :data:`NOISELESS_VARIANCE`) and ``'model'`` for noisy
    data. ``'model'`` falls back to exact sums on
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
        mode = (
            "exact"
            if n <= EXACT_SUMS_MAX_SAMPLES
            else ("model" if noise > NOISELESS_VARIANCE else landmarks)
        )
    if mode == "model":
        fallback = _subsample_weight_fn(data, fit_data, L, rng)
        return make_weight_fn(fit_data, L, None, fallback), mode
    if mode == "exact":
        return make_weight_fn(fit_data, L, exact_kernel_sums(data.X, data.omega, L)), mode
    sums = nystrom_kernel_sums(data.X, data.omega, L, int(mode), rng)
    return make_weight_fn(fit_data, L, sums), int(mode)
