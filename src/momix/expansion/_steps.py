"""Early-stopped EM: the number of weight steps from uniform chosen by held-out likelihood.

The weight-only EM from uniform weights is a deconvolution iteration (Richardson 1972;
Lucy 1974; Vardi, Shepp and Kaufman 1985 for the EM reading): the first step is the
paper's soft histogram, a kernel density estimate smoothed twice; later steps sharpen it
towards the smoothed nonparametric maximum-likelihood fit, whose weights follow the
sample noise. Stopping the iteration early is the classical regularisation of such
iterations (the number of steps plays the role of a smoothing parameter; Silverman,
Jones, Wilson and Nychka 1990 discuss it for EM deconvolution), so momix chooses it
the way it chooses the bandwidth: by K-fold held-out log-likelihood, along the path.

For one bandwidth, every fold runs the plain (unaccelerated) map
:math:`\\pi^{(m+1)} = F(\\pi^{(m)})` from the soft histogram :math:`\\pi^{(1)}`, all folds in
lockstep, and the mean held-out log-likelihood (tail component included) is recorded
after each step:

.. math::

    S(m) = \\frac{1}{W} \\sum_k \\sum_{n \\in \\text{fold } k} w_n
    \\log p_{\\pi^{(m)}_{-k}}(x_n), \\qquad m^\\star = \\arg\\max_m S(m).

The path stops at ``max_steps``, once ``m >= STOP_FACTOR * m_best + STOP_SLACK`` (the
held-out curve of an EM path rises, peaks and then falls or flattens; the rule costs at
most about twice the passes needed to reach the peak), or once the last doubling of the
steps (from :math:`m/2` to :math:`m`) gained less than ``PATH_TOL`` = 1e-3 nats. The
path contains :math:`m = 1`, so at every bandwidth the selected fit scores at least as
well on the folds as the paper's one-step update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._em import SparseKernels, precompute_levels
from ._grid import truncation_bound
from ._kernels import backproject, contract, mixture_log_density
from ._levels import add_tail, tail_level, tail_mass

__all__ = [
    "STOP_FACTOR",
    "STOP_SLACK",
    "MAX_AUTO_STEPS",
    "StepPath",
    "batch_density",
    "batch_adjoint",
    "held_out_step_path",
]

#: the path stops once the step count reaches ``STOP_FACTOR * best + STOP_SLACK``
STOP_FACTOR = 1.5
#: see ``STOP_FACTOR``
STOP_SLACK = 5
#: the path also stops once doubling the steps gained less than this (nats)
PATH_TOL = 1e-3
#: relative error allowed in a held-out density before it is recomputed exactly
SCORE_RTOL = 1e-6
#: default cap on the number of steps of ``max_iter="auto"``
MAX_AUTO_STEPS = 100


@dataclass(frozen=True)
class StepPath:
    """Mean held-out log-likelihood along the early-stopped EM path of one bandwidth.

    Attributes
    ----------
    scores : ndarray of shape (n_steps,)
        ``scores[m - 1]`` = :math:`S(m)`, the held-out score after ``m`` steps from uniform.
    best_steps : int
        :math:`m^\\star` (1-based; ties go to the fewest steps).
    best_score : float
        :math:`S(m^\\star)`.
    """

    scores: np.ndarray
    best_steps: int
    best_score: float


def _batch_apply(W: np.ndarray, K, shape: tuple[int, ...]) -> np.ndarray:
    """Densities of B weight vectors of one level, ``W`` (size, B) -> (n, B)."""
    if isinstance(K, SparseKernels):
        return K.design @ W
    if len(shape) == 1:
        return K.values[0] @ W
    if len(shape) == 2:
        A, B = K.values
        T = A @ W.T.reshape(-1, *shape)  # (B, n, N2)
        return np.einsum("bnj,nj->nb", T, B)
    return np.column_stack([contract(W[:, b].reshape(shape), K) for b in range(W.shape[1])])


def _batch_adjoint(R: np.ndarray, K, shape: tuple[int, ...]) -> np.ndarray:
    """:math:`G_{ib} = \\sum_n R_{nb} \\phi_i(x_n)` of one level, ``R`` (n, B) -> (size, B)."""
    if isinstance(K, SparseKernels):
        return K.transpose @ R
    if len(shape) == 1:
        return K.values[0].T @ R
    if len(shape) == 2:
        A, B = K.values
        G = (A.T[None, :, :] * R.T[:, None, :]) @ B  # (B, N1, N2)
        return G.reshape(R.shape[1], -1).T
    return np.column_stack([backproject(R[:, b], K).ravel() for b in range(R.shape[1])])


def _levels_apply(W: np.ndarray, pre, op) -> list[np.ndarray]:
    """Per chunk: ``op`` over the levels' blocks of ``W`` (n_components, B)."""
    bounds = np.cumsum([0] + [lv.size for lv in pre.levels])
    return [
        sum(
            op(W[bounds[k] : bounds[k + 1]], K, lv.shape)
            for k, (K, lv) in enumerate(zip(Ks, pre.levels, strict=True))
        )
        for Ks in pre.kernels
    ]


def batch_density(W: np.ndarray, pre) -> np.ndarray:
    """Windowed densities of B weight vectors at the precomputed points, (n_samples, B)."""
    if pre.design is not None:
        return pre.design @ W
    return np.vstack(_levels_apply(W, pre, _batch_apply))


def batch_adjoint(R: np.ndarray, pre) -> np.ndarray:
    """:math:`\\sum_n R_{nb} \\phi_i(x_n)` for every component and column, (n_components, B)."""
    if pre.design is not None:
        return pre.design.T @ R
    bounds = np.cumsum([0] + [len(w) for w in pre.sample_weight])
    out = np.zeros((sum(lv.size for lv in pre.levels), R.shape[1]))
    for c, Ks in enumerate(pre.kernels):
        Rc = R[bounds[c] : bounds[c + 1]]
        out += np.vstack(
            [_batch_adjoint(Rc, K, lv.shape) for K, lv in zip(Ks, pre.levels, strict=True)]
        )
    return out


def _tail_terms(X, folds, fold_of, tail_weight, scale) -> tuple[np.ndarray, np.ndarray | None]:
    """Per point: log(1 - eps) and log(eps q(x)) of the tail built from its training part."""
    n = X.shape[0]
    log_keep, log_tail = np.zeros(n), None
    for k, test in enumerate(folds):
        train = fold_of != k
        mass = tail_mass(tail_weight, int(train.sum()))
        if mass <= 0:
            continue
        log_tail = np.full(n, -np.inf) if log_tail is None else log_tail
        log_keep[test] = math.log1p(-mass)
        tail = tail_level(X[train], scale)
        log_tail[test] = add_tail(np.full(len(test), -np.inf), X[test], tail, mass)
    return log_keep, log_tail


def _first_steps(pre, train_w: np.ndarray) -> np.ndarray:
    """Every fold's soft histogram (one EM step from uniform weights), (n_components, B).

    With uniform weights all folds share one density column, so the first step costs one
    density pass and one adjoint pass over the windowed kernels (the points are training
    points, inside the grid: no underflow), like every later step.
    """
    size = sum(lv.size for lv in pre.levels)
    p = batch_density(np.full((size, 1), 1.0 / size), pre)[:, 0]
    G = batch_adjoint(train_w / p[:, None], pre)
    return G / G.sum(axis=0)


def held_out_step_path(
    X: np.ndarray,
    sample_weight: np.ndarray,
    folds: list[np.ndarray],
    levels,
    *,
    scale: np.ndarray,
    tail_weight=0.0,
    max_steps: int = MAX_AUTO_STEPS,
) -> StepPath:
    """Held-out log-likelihood after each plain EM weight step from uniform, folds in lockstep.

    All folds' weight vectors are updated together from one set of kernels over all the
    points: a pass computes the densities of every fold's mixture at every point (a
    matrix of B columns), uses the training rows of column ``k`` for fit ``k``'s EM map
    and its held-out rows for the score, so the held-out evaluation costs nothing extra.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,)
    folds : list of ndarray
        Disjoint index arrays covering the samples; fold ``k`` is held out from fit ``k``.
    levels : sequence of Level
        The dictionary (one bandwidth).
    scale : ndarray of shape (n_features,)
        Fallback spread of the tail component on constant axes.
    tail_weight : float or "auto"
        Mass of the tail component mixed into every fold's density (built from its
        training part), as in the bandwidth search.
    max_steps : int
        Largest number of steps (1 = the soft histogram only).

    Returns
    -------
    StepPath
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    n, n_folds = X.shape[0], len(folds)
    fold_of = np.empty(n, dtype=np.intp)
    for k, f in enumerate(folds):
        fold_of[f] = k
    train = fold_of[:, None] != np.arange(n_folds)[None, :]
    train_w = sample_weight[:, None] * train
    pre = precompute_levels(X, sample_weight, levels)
    W = _first_steps(pre, train_w)
    log_keep, log_tail = _tail_terms(X, folds, fold_of, tail_weight, scale)
    floor = math.log(sum(truncation_bound(lv.sigmas) for lv in levels) / SCORE_RTOL)
    rows = np.arange(n)
    held_weight = float(sample_weight.sum())
    scores: list[float] = []
    best = 0
    for m in range(1, max_steps + 1):
        P = batch_density(W, pre)
        with np.errstate(divide="ignore"):
            log_p = np.log(P[rows, fold_of])
        # the windowed density misses at most the truncation bound: exact where that
        # could matter relative to the density (tail component included)
        known = log_p if log_tail is None else np.logaddexp(log_p, log_tail - log_keep)
        far = ~(known > floor)
        for k in np.unique(fold_of[far]):  # far from all weight: exact log-sum-exp
            rows_k = far & (fold_of == k)
            log_p[rows_k] = mixture_log_density(X[rows_k], W[:, k], levels)
        if log_tail is not None:
            log_p = np.logaddexp(log_keep + log_p, log_tail)
        scores.append(float(np.dot(sample_weight, log_p)) / held_weight)
        if scores[-1] > scores[best]:
            best = m - 1
        flat = m >= STOP_SLACK and scores[-1] - scores[m // 2 - 1] < PATH_TOL
        if flat or m >= STOP_FACTOR * (best + 1) + STOP_SLACK or m == max_steps:
            break
        R = np.divide(train_w, P, out=np.zeros_like(P), where=P > 0)
        W = W * batch_adjoint(R, pre) / train_w.sum(axis=0)
        W /= W.sum(axis=0)
    return StepPath(np.array(scores), best + 1, scores[best])
