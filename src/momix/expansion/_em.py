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

from ._grid import LocalKernels, local_kernels
from ._kernels import WeightFit, _chunks, backproject, contract, window_elements

__all__ = ["PrecomputedKernels", "precompute", "em_map", "em_weights"]

logger = logging.getLogger("momix.expansion")


@dataclass(frozen=True)
class PrecomputedKernels:
    """Per-chunk windowed kernels and sample weights, reused by every EM iteration."""

    kernels: tuple[LocalKernels, ...]
    sample_weight: tuple[np.ndarray, ...]
    total_weight: float


def precompute(X: np.ndarray, sample_weight: np.ndarray, grid, sigmas) -> PrecomputedKernels:
    """Evaluate the windowed kernels of every chunk of ``X`` once."""
    slices = list(_chunks(X.shape[0], window_elements(grid, sigmas)))
    return PrecomputedKernels(
        tuple(local_kernels(X[sl], grid, sigmas) for sl in slices),
        tuple(sample_weight[sl] for sl in slices),
        float(sample_weight.sum()),
    )


def em_map(weights: np.ndarray, pre: PrecomputedKernels) -> tuple[np.ndarray, float, float]:
    """One application of the fixed-point map.

    Returns
    -------
    new_weights : ndarray of shape grid_shape
        :math:`F(\\pi)`.
    log_likelihood : float
        :math:`\\ell(\\pi)` at the *input* weights.
    gap : float
        :math:`\\log\\max_i g_i(\\pi)` at the input weights (:math:`\\ge 0`, zero at the optimum).
    """
    G = np.zeros_like(weights)
    ll = 0.0
    for K, w in zip(pre.kernels, pre.sample_weight, strict=True):
        p = contract(weights, K)
        with np.errstate(divide="ignore"):
            ll += float(np.dot(w, np.log(p)))
        ratio = np.divide(w, p, out=np.zeros_like(p), where=p > 0)
        G += backproject(ratio, K)
    G /= pre.total_weight
    new = weights * G
    return new / new.sum(), ll / pre.total_weight, float(np.log(G.max()))


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
