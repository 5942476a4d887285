"""Weight-only EM on a fixed grid: the fixed-point map, plain iteration and SQUAREM.

See :mod:`momix.expansion._kernels` for the objective, the map
:math:`F(\\pi)_i = \\pi_i g_i(\\pi)` and the optimality certificate
:math:`\\ell(\\pi^\\star) - \\ell(\\pi) \\le \\log\\max_i g_i(\\pi)`.

Because :math:`\\ell` is concave in :math:`\\pi` and :math:`F` never decreases it, plain EM
converges to the global maximum value from *any* start with all weights positive; the
maximiser is unique whenever the component densities evaluated at the data are linearly
independent (otherwise the optimal density values :math:`p(x_n)` are still unique).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ._grid import LocalKernels, local_kernels
from ._kernels import (
    WeightFit,
    _chunks,
    _dictionary_elements,
    _levels_of,
    _window_index,
    _window_product,
    backproject,
    contract,
)
from ._levels import split_weights

__all__ = [
    "PrecomputedKernels",
    "precompute",
    "precompute_levels",
    "dense_design",
    "em_map",
    "em_weights",
    "mixture_density",
]

#: largest design matrix (entries) that ``precompute_levels`` keeps whole (128 MiB)
DESIGN_BUDGET = 1 << 24

logger = logging.getLogger("momix.expansion")


@dataclass(frozen=True)
class PrecomputedKernels:
    """Per-chunk windowed kernels of every level and sample weights, reused by every EM map.

    Attributes
    ----------
    kernels : tuple of tuple of (LocalKernels or SparseKernels)
        ``kernels[c][l]``: chunk ``c``, level ``l``; windowed levels as sparse matrices.
    sample_weight : tuple of ndarray
    total_weight : float
    levels : tuple of Level
    design : ndarray of shape (n_samples, n_components) or None
        The whole design matrix :math:`\\phi_i(x_n)` over every level, kept for 1-D data
        when it has at most ``DESIGN_BUDGET`` entries: a pass is then two matrix-vector
        products, with no per-level Python overhead. (In 2-D the per-axis factorisation
        costs :math:`O(n(N_1+N_2))` per level instead of :math:`O(n N_1 N_2)`, so the
        factors are kept.)
    """

    kernels: tuple[tuple[LocalKernels, ...], ...]
    sample_weight: tuple[np.ndarray, ...]
    total_weight: float
    levels: tuple
    design: np.ndarray | None = None


def precompute(X: np.ndarray, sample_weight: np.ndarray, grid, sigmas) -> PrecomputedKernels:
    """Evaluate the windowed kernels of every chunk of ``X`` once (one grid)."""
    return precompute_levels(X, sample_weight, _levels_of(grid, sigmas))


def precompute_levels(X: np.ndarray, sample_weight: np.ndarray, levels) -> PrecomputedKernels:
    """Evaluate the windowed kernels of every chunk of ``X`` on every level once."""
    n_components = sum(lv.size for lv in levels)
    if X.shape[1] == 1 and X.shape[0] * n_components <= DESIGN_BUDGET:
        blocks = [dense_design(local_kernels(X, list(lv.grid), lv.sigmas)) for lv in levels]
        design = np.hstack(blocks) if len(blocks) > 1 else blocks[0]
        return PrecomputedKernels(
            (), (sample_weight,), float(sample_weight.sum()), tuple(levels), design
        )
    slices = list(_chunks(X.shape[0], _dictionary_elements(levels)))
    return PrecomputedKernels(
        tuple(
            tuple(_kernels(local_kernels(X[sl], list(lv.grid), lv.sigmas)) for lv in levels)
            for sl in slices
        ),
        tuple(sample_weight[sl] for sl in slices),
        float(sample_weight.sum()),
        tuple(levels),
    )


@dataclass(frozen=True)
class SparseKernels:
    """A windowed level as a sparse design matrix (and its transpose), both CSR.

    For a grid much larger than a window, a pass is then two sparse matrix-vector
    products in compiled code instead of gathering and scattering each point's window.
    """

    design: sparse.csr_matrix
    transpose: sparse.csr_matrix


def _kernels(lk: LocalKernels):
    """Dense (factorised) levels stay as they are; windowed ones become sparse matrices."""
    if lk.dense:
        return lk
    n = lk.starts.shape[0]
    prod = _window_product(lk)
    cols = np.broadcast_to(np.ravel_multi_index(_window_index(lk), lk.shape), prod.shape)
    rows = np.repeat(np.arange(n), prod[0].size)
    size = int(np.prod(lk.shape))
    design = sparse.csr_matrix((prod.ravel(), (rows, cols.reshape(-1))), shape=(n, size))
    return SparseKernels(design, design.T.tocsr())


def _apply(W: np.ndarray, K) -> np.ndarray:
    if isinstance(K, SparseKernels):
        return K.design @ W.ravel()
    return contract(W, K)


def _adjoint(c: np.ndarray, K, shape) -> np.ndarray:
    if isinstance(K, SparseKernels):
        return (K.transpose @ c).reshape(shape)
    return backproject(c, K)


def dense_design(lk: LocalKernels) -> np.ndarray:
    """Component densities at every point, shape (n_samples, prod N_j), from windowed kernels."""
    n = lk.starts.shape[0]
    size = int(np.prod(lk.shape))
    if lk.dense:
        out = lk.values[0]
        for v in lk.values[1:]:
            out = (out[:, :, None] * v[:, None, :]).reshape(n, -1)
        return np.ascontiguousarray(out)
    prod = _window_product(lk).reshape(n, -1)
    flat = np.ravel_multi_index(_window_index(lk), lk.shape)
    flat = np.broadcast_to(flat, _window_product(lk).shape).reshape(n, -1)
    out = np.zeros((n, size))
    np.put_along_axis(out, flat, prod, axis=1)
    return out


def mixture_density(weights: np.ndarray, pre: PrecomputedKernels) -> np.ndarray:
    """Windowed mixture density :math:`\\sum_i \\pi_i \\phi_i(x_n)` at the precomputed points.

    Below the truncation bound of :func:`momix.expansion._grid.local_kernels` the value may
    be an underestimate (zero far outside the grid); :func:`mixture_log_density` is exact.
    """
    if pre.design is not None:
        return pre.design @ weights.ravel()
    parts = split_weights(weights, pre.levels)
    return np.concatenate(
        [sum(_apply(W, K) for W, K in zip(parts, Ks, strict=True)) for Ks in pre.kernels]
    )


def em_map(weights: np.ndarray, pre: PrecomputedKernels) -> tuple[np.ndarray, float, float]:
    """One application of the fixed-point map.

    Parameters
    ----------
    weights : ndarray
        One weight per component of ``pre.levels`` (grid-shaped for one level, or flat).

    Returns
    -------
    new_weights : ndarray of the shape of ``weights``
        :math:`F(\\pi)`.
    log_likelihood : float
        :math:`\\ell(\\pi)` at the *input* weights.
    gap : float
        :math:`\\log\\max_i g_i(\\pi)` at the input weights (:math:`\\ge 0`, zero at the optimum).
    """
    if pre.design is not None:
        w = pre.sample_weight[0]
        p = pre.design @ weights.ravel()
        with np.errstate(divide="ignore"):
            ll = float(np.dot(w, np.log(p)))
        ratio = np.divide(w, p, out=np.zeros_like(p), where=p > 0)
        g = (ratio @ pre.design).reshape(weights.shape) / pre.total_weight
        new = weights * g
        return new / new.sum(), ll / pre.total_weight, float(np.log(g.max()))
    parts = split_weights(weights, pre.levels)
    G = [np.zeros_like(W) for W in parts]
    ll = 0.0
    for Ks, w in zip(pre.kernels, pre.sample_weight, strict=True):
        p = sum(_apply(W, K) for W, K in zip(parts, Ks, strict=True))
        with np.errstate(divide="ignore"):
            ll += float(np.dot(w, np.log(p)))
        ratio = np.divide(w, p, out=np.zeros_like(p), where=p > 0)
        for k, K in enumerate(Ks):
            G[k] += _adjoint(ratio, K, G[k].shape)
    g = np.concatenate([x.ravel() for x in G]).reshape(weights.shape) / pre.total_weight
    new = weights * g
    return new / new.sum(), ll / pre.total_weight, float(np.log(g.max()))


def em_weights(
    pre: PrecomputedKernels, init: np.ndarray, *, max_iter: int, tol: float, accelerate: bool = True
) -> WeightFit:
    """Iterate the weight-only EM map from ``init`` until the gap certificate is below ``tol``.

    Parameters
    ----------
    pre : PrecomputedKernels
    init : ndarray of shape grid_shape
        Starting weights (all positive for convergence to the global optimum).
    max_iter : int
        Largest number of map evaluations.
    tol : float
        Stop when :math:`\\log\\max_i g_i(\\pi) \\le` ``tol`` (nats per sample).
    accelerate : bool
        Use SQUAREM (Varadhan and Roland 2008, scheme S3) with step-length backtracking to
        stay on the simplex and a monotone safeguard: the extrapolated point is kept only if
        its log-likelihood is at least that of the plain EM iterate it replaces. With
        ``False`` the plain map is iterated.
    """
    W = init / init.sum()
    history: list[float] = []
    n_eval = 0
    while True:
        W1, ll0, gap = em_map(W, pre)
        n_eval += 1
        history.append(ll0)
        if gap <= tol or n_eval >= max_iter:
            return WeightFit(W, ll0, n_eval, gap <= tol, gap, tuple(history))
        if not accelerate:
            W = W1
            continue
        W2, ll1, _ = em_map(W1, pre)
        W_ext = _squarem_point(W, W1, W2)
        W3, ll_ext, _ = em_map(W_ext, pre)
        n_eval += 2
        W = W3 if ll_ext >= ll1 else W2
        logger.debug("em: %d map evaluations, ll=%.10f, gap=%.3g", n_eval, ll0, gap)


def _squarem_point(W0: np.ndarray, W1: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """SQUAREM-S3 extrapolation, stepping back towards plain EM until every weight is positive.

    Keeping all weights strictly positive matters: a zero weight is a fixed point of the
    multiplicative map, so clipping could stall the iteration away from the optimum.
    """
    r = W1 - W0
    v = W2 - W1 - r
    nv = float(np.linalg.norm(v))
    if nv == 0.0:
        return W2
    alpha = min(-float(np.linalg.norm(r)) / nv, -1.0)
    while alpha < -1.0:
        W = W0 - 2 * alpha * r + alpha * alpha * v
        if W.min() > 0:
            return W / W.sum()
        alpha = (alpha - 1.0) / 2 if alpha < -1.5 else -1.0
    return W2
