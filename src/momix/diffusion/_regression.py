"""Denoising score matching by ridge regression on polynomial features, one fit per cell.

At a fixed time :math:`t` the denoising-score-matching loss (Vincent 2011)

.. math::

    L_t(s) = \\mathbb{E}_{x_0, z}\\, \\big\\| s(a_t x_0 + s_t z) + z / s_t \\big\\|^2

is minimised by :math:`\\nabla\\log p_t`, so the score is the regression of the target
:math:`y = -z/s_t` on the input :math:`x_t = a_t x_0 + s_t z`. On each cell :math:`C` the model
is a polynomial of total degree ``D`` in the cell's whitened coordinates
(:mod:`._features`), fitted by ridge least squares with all ``d`` outputs sharing the design:

.. math::

    B_C = (\\Phi_C^\\top\\Phi_C + \\alpha\\, n_C I)^{-1} \\Phi_C^\\top Y_C .

Noise draws come in antithetic pairs :math:`(z, -z)` [ours]: a pair that stays in one cell
contributes :math:`-\\tfrac{1}{s_t}z\\,(\\phi(a x_0 + s z) - \\phi(a x_0 - s z)) = O(1)` to
:math:`\\Phi^\\top Y` instead of :math:`O(1/s_t)`, which cuts the target noise at small ``t``.

**Extrapolation guard** (part of the model, required: raw polynomials overflow outside their
data and the sampler then returns NaN). Each cell keeps a box
:math:`[\\ell, h]` in whitened coordinates (the ``box_quantile`` and ``1 - box_quantile``
quantiles of its training inputs). Outside the box the score is the polynomial at the
projection :math:`\\pi(x)` of the point onto the box plus a linear restoring term,

.. math::

    \\hat s(x) = P_C(\\pi(x)) + M_C\\,(x - \\pi(x)),

where :math:`M_C` is the symmetric part of the cell's best linear (degree-1) score fit with its
eigenvalues capped at :math:`-1/(4\\lambda_{\\max}(\\operatorname{Cov} C))`, so it is negative
definite. The extension is continuous at the box boundary, grows linearly like a Gaussian
score and is finite everywhere. Evaluations report which points used it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._cells import (
    CrudeMixture,
    assign_cells,
    crude_log_joint,
    group_log_likelihood,
    merge_groups,
)
from ._features import Whitening, fit_whitening, hermite_features, multi_indices
from ._process import vp_coefficients

__all__ = ["RegressionConfig", "CellPolynomial", "LevelScore", "ScoreEvaluation",
           "fit_level", "evaluate_level"]


@dataclass(frozen=True)
class RegressionConfig:
    """Options of the per-level regression.

    Attributes
    ----------
    degree : int
        Total degree ``D`` of each cell's polynomial.
    noise_reps : int
        Noise draws per data point (even: antithetic pairs).
    alpha : float
        Ridge strength relative to the cell size.
    merge_distance : float
        Noised Mahalanobis distance below which crude components share a cell
        (``0`` never merges; ``inf`` gives a single cell).
    box_quantile : float
        Tail quantile that delimits the guard box of a cell.
    min_cell_factor : float
        A cell needs at least ``min_cell_factor * n_terms`` training points, else it is merged
        into the neighbouring cell most of its points would go to next.
    """

    degree: int = 3
    noise_reps: int = 4
    alpha: float = 1e-6
    merge_distance: float = 0.5
    box_quantile: float = 1e-4
    min_cell_factor: float = 5.0


@dataclass(frozen=True)
class CellPolynomial:
    """Polynomial score on one cell, with its extrapolation guard.

    Attributes
    ----------
    whitening : Whitening
        Map to the cell's whitened coordinates ``u``.
    coef : ndarray of shape (n_terms, n_features)
        Coefficients of the Hermite features.
    lower, upper : ndarray of shape (n_features,)
        Guard box in whitened coordinates.
    slope_u : ndarray of shape (n_features, n_features)
        Linear extension in whitened offsets: the guard adds ``(u - clip(u)) @ slope_u``.
    """

    whitening: Whitening
    coef: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    slope_u: np.ndarray


@dataclass(frozen=True)
class LevelScore:
    """Learned score at one diffusion time.

    Attributes
    ----------
    t : float
    groups : ndarray of shape (n_crude,)
        Cell of each crude component.
    cells : tuple of CellPolynomial
        One polynomial per cell.
    train_extrapolated : float
        Fraction of fresh noised training points (at most 5000, new noise) that fall outside
        their cell's box.
    """

    t: float
    groups: np.ndarray
    cells: tuple
    train_extrapolated: float


@dataclass(frozen=True)
class ScoreEvaluation:
    """Learned score at some points.

    Attributes
    ----------
    score : ndarray of shape (n_samples, n_features)
    cell : ndarray of shape (n_samples,)
        Cell of each point.
    extrapolated : ndarray of shape (n_samples,)
        True where the point lay outside its cell's box and the guard was used.
    """

    score: np.ndarray
    cell: np.ndarray
    extrapolated: np.ndarray


def _merge_small_cells(log_joint, groups, min_count):
    """Merge the smallest under-populated cell into its most common runner-up until all fit.

    Returns the final groups and the cell of every point.
    """
    groups = groups.copy()
    while True:
        loglik = group_log_likelihood(log_joint, groups)
        cells = np.argmax(loglik, axis=1)
        if groups.max() == 0:
            return groups, cells
        counts = np.bincount(cells, minlength=groups.max() + 1)
        small = int(np.argmin(counts))
        if counts[small] >= min_count:
            return groups, cells
        loglik[:, small] = -np.inf
        runner = np.argmax(loglik[cells == small], axis=1) if counts[small] else np.array([])
        target = int(np.bincount(runner).argmax()) if runner.size else (small + 1) % len(counts)
        groups[groups == small] = target
        groups = np.unique(groups, return_inverse=True)[1]


def _linear_slope(gram1: np.ndarray, cross1: np.ndarray, whitening: Whitening) -> np.ndarray:
    """Symmetric negative-definite slope matrix ``M`` of the cell's degree-1 score fit.

    ``gram1`` and ``cross1`` are the normal equations of the features ``[1, u]`` (the
    degree-0 and degree-1 Hermite features of the whitened inputs), so the least-squares
    slope in ``u`` is mapped to ``x`` by :math:`L^{-\\top}`.
    """
    coef_u = np.linalg.lstsq(gram1, cross1, rcond=None)[0][1:]
    coef = whitening.inv_chol.T @ coef_u
    M = 0.5 * (coef.T + coef)
    chol = np.linalg.inv(whitening.inv_chol)
    cap = -0.25 / max(float(np.linalg.eigvalsh(chol @ chol.T)[-1]), 1e-300)
    vals, vecs = np.linalg.eigh(M)
    return (vecs * np.minimum(vals, cap)) @ vecs.T


def _fit_cell(Xt, Y, indices, config: RegressionConfig) -> CellPolynomial:
    """Ridge fit on one cell through its normal equations (one BLAS ``Phi^T Phi``)."""
    d = Xt.shape[1]
    whitening = fit_whitening(Xt)
    U = whitening.apply(Xt)
    Phi = hermite_features(U, indices)
    gram = Phi.T @ Phi
    cross = Phi.T @ Y
    if config.degree >= 1:
        gram1, cross1 = gram[:d + 1, :d + 1], cross[:d + 1]
    else:
        design = np.hstack([np.ones((len(U), 1)), U])
        gram1, cross1 = design.T @ design, design.T @ Y
    coef = np.linalg.solve(gram + config.alpha * len(Xt) * np.eye(len(gram)), cross)
    lower, upper = np.quantile(U, [config.box_quantile, 1 - config.box_quantile], axis=0)
    M = _linear_slope(gram1, cross1, whitening)
    chol = np.linalg.inv(whitening.inv_chol)
    return CellPolynomial(whitening, coef, lower, upper, chol.T @ M.T)


def fit_level(X0: np.ndarray, t: float, crude: CrudeMixture, config: RegressionConfig,
              rng: np.random.Generator) -> LevelScore:
    """Fit the piecewise-polynomial score at time ``t`` by denoising score matching.

    Parameters
    ----------
    X0 : ndarray of shape (n_samples, n_features)
        Clean training data.
    t : float
        Diffusion time.
    crude : CrudeMixture
        Crude estimates that define the cells.
    config : RegressionConfig
    rng : numpy.random.Generator
        Source of the noise draws.
    """
    n, d = X0.shape
    a, s2 = vp_coefficients(t)
    s = float(np.sqrt(s2))
    half = rng.standard_normal((config.noise_reps // 2, n, d))
    z = np.concatenate([half, -half]).reshape(-1, d)
    Xt = a * np.tile(X0, (config.noise_reps, 1)) + s * z
    indices = multi_indices(d, config.degree)
    groups = merge_groups(crude, t, config.merge_distance)
    groups, cells = _merge_small_cells(crude_log_joint(Xt, crude, t), groups,
                                       config.min_cell_factor * len(indices))
    order = np.argsort(cells, kind="stable")
    bounds = np.searchsorted(cells[order], np.arange(groups.max() + 2))
    Xt, z = Xt[order], z[order]
    fitted = tuple(_fit_cell(Xt[lo:hi], z[lo:hi] / -s, indices, config)
                   for lo, hi in zip(bounds[:-1], bounds[1:], strict=True))
    level = LevelScore(float(t), groups, fitted, 0.0)
    fresh = X0[rng.choice(n, size=min(n, 5000), replace=False)]
    check = evaluate_level(level, crude, a * fresh + s * rng.standard_normal(fresh.shape),
                           config.degree)
    return LevelScore(float(t), groups, fitted, float(np.mean(check.extrapolated)))


def evaluate_level(level: LevelScore, crude: CrudeMixture, X: np.ndarray,
                   degree: int) -> ScoreEvaluation:
    """Evaluate a level's guarded piecewise-polynomial score at the rows of ``X``."""
    indices = multi_indices(X.shape[1], degree)
    cell = assign_cells(X, crude, level.groups, level.t)
    score = np.empty_like(X)
    extrapolated = np.zeros(len(X), dtype=bool)
    for g, poly in enumerate(level.cells):
        mask = cell == g
        if not np.any(mask):
            continue
        U = poly.whitening.apply(X[mask])
        inside = np.clip(U, poly.lower, poly.upper)
        offset = U - inside
        score[mask] = hermite_features(inside, indices) @ poly.coef + offset @ poly.slope_u
        extrapolated[mask] = np.any(offset != 0, axis=1)
    return ScoreEvaluation(score, cell, extrapolated)
