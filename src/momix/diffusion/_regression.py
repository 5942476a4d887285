"""Denoising score matching by ridge regression on polynomial features, one fit per cell.

At a fixed time :math:`t` the denoising-score-matching loss (Vincent 2011)

.. math::

    L_t(s) = \\mathbb{E}_{x_0, z}\\, \\big\\| s(a_t x_0 + s_t z) + z / s_t \\big\\|^2

is minimised by :math:`\\nabla\\log p_t`, so the score is the regression of the target
:math:`y = -z/s_t` on the input :math:`x_t = a_t x_0 + s_t z`. On each cell :math:`C` the model
is a polynomial of total degree ``D`` in the cell's whitened coordinates
(:mod:`._features`), fitted by ridge least squares with all ``d`` outputs sharing the design:

.. math::

    B_C = (\\Phi_C^\\top W_C \\Phi_C + \\alpha\\, w_C I)^{-1} \\Phi_C^\\top W_C Y_C ,

with :math:`W_C` the diagonal of the sample weights of the cell's noised points (each noise
draw of a training row carries the row's weight) and :math:`w_C` their sum (the number of
points for unit weights): the weighted DSM loss, so a row of weight 2 counts as the row
twice. The normal equations are solved by least squares (the minimum-norm solution if
``alpha = 0`` leaves them singular).

**Memory.** The noised training set (``noise_reps`` draws per row) is never held whole: it is
regenerated block by block from per-block seeds, and each pass over it accumulates only
per-cell sums -- cell counts and weighted moments (for the cell assignment, the merging of
small cells and the whitening), then :math:`\\Phi^\\top W\\Phi` and :math:`\\Phi^\\top W Y`
and the extreme values that give the guard boxes. Beyond the data, a level needs the cell
of each noised point (one small integer each), one block's design matrices
(:data:`momix.diffusion._cells.BLOCK_ENTRIES` entries per matrix) and the per-cell normal
equations (``n_cells * n_terms**2``).

Noise draws come in antithetic pairs :math:`(z, -z)` [ours]: a pair that stays in one cell
contributes :math:`-\\tfrac{1}{s_t}z\\,(\\phi(a x_0 + s z) - \\phi(a x_0 - s z)) = O(1)` to
:math:`\\Phi^\\top Y` instead of :math:`O(1/s_t)`, which cuts the target noise at small ``t``.

**Extrapolation guard** (part of the model, required: raw polynomials overflow outside their
data and the sampler then returns NaN). Each cell keeps a box :math:`[\\ell, h]` in
whitened coordinates (the weighted ``box_quantile`` and ``1 - box_quantile`` quantiles of
its training inputs, by the inverted empirical CDF). Outside the box the score is the
polynomial at the projection :math:`\\pi(x)` of the point onto the box plus a linear restoring term,

.. math::

    \\hat s(x) = P_C(\\pi(x)) + M_C\\,(x - \\pi(x)),

where :math:`M_C` is the symmetric part of the cell's best linear (degree-1) score fit with its
eigenvalues capped at :math:`-1/(4\\lambda_{\\max}(\\operatorname{Cov} C))`, so it is negative
definite. The extension is continuous at the box boundary, grows linearly like a Gaussian
score and is finite everywhere. Evaluations report which points used it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

import numpy as np

from ._cells import (
    CrudeMixture,
    assign_cells,
    crude_log_joint,
    group_log_likelihood,
    merge_groups,
    row_blocks,
)
from ._features import (
    Whitening,
    hermite_features,
    multi_indices,
    whitening_from_moments,
)
from ._process import vp_coefficients

__all__ = ["RegressionConfig", "CellPolynomial", "LevelScore", "ScoreEvaluation",
           "NoisedData", "CellStatistics", "cell_statistics", "fit_cells", "fit_level",
           "evaluate_level"]


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


class NoisedData:
    """The noised training set of one level, regenerated block by block from fixed seeds.

    Each training row :math:`x_0` gets ``noise_reps`` draws in antithetic pairs; iterating
    yields, per block of rows, the noised inputs :math:`x_t = a_t x_0 + s_t z`, the targets
    :math:`-z/s_t` and the row weights (repeated per draw). The draws of block ``b`` come from
    ``default_rng([seed, b])``, so every pass sees the same points.
    """

    def __init__(self, X0: np.ndarray, weights: np.ndarray, t: float, noise_reps: int,
                 seed: int, row_entries: int):
        a, s2 = vp_coefficients(t)
        self.X0, self.weights, self.reps, self.seed = X0, weights, noise_reps, seed
        self.a, self.s = float(a), float(np.sqrt(s2))
        block = next(row_blocks(X0.shape[0] * noise_reps, row_entries))
        self.rows = max(1, (block.stop - block.start) // noise_reps)

    def __iter__(self):
        n, d = self.X0.shape
        for b, start in enumerate(range(0, n, self.rows)):
            X0 = self.X0[start:start + self.rows]
            half = np.random.default_rng([self.seed, b]).standard_normal(
                (self.reps // 2, len(X0), d))
            z = np.concatenate([half, -half]).reshape(-1, d)
            Xt = self.a * np.tile(X0, (self.reps, 1)) + self.s * z
            z /= -self.s
            yield Xt, z, np.tile(self.weights[start:start + self.rows], self.reps)


@dataclass
class CellStatistics:
    """One pass over the noised points under a grouping of the crude components.

    Attributes
    ----------
    cells : ndarray of shape (n_points,)
        Cell (group with the largest crude likelihood) of every noised point, in pass order.
    counts : ndarray of shape (n_cells,)
    runner_up : ndarray of shape (n_cells, n_cells)
        ``runner_up[g, h]``: points of cell ``g`` whose second most likely group is ``h``.
    mass : ndarray of shape (n_cells,)
        Total weight of each cell.
    refs : ndarray of shape (n_cells, n_features)
        Reference point of each cell (its noised crude mean); moments are taken about it.
    first, second : ndarray of shapes (n_cells, n_features), (n_cells, n_features, n_features)
        Weighted sums of :math:`x - r` and :math:`(x - r)(x - r)^\\top`.
    """

    cells: np.ndarray
    counts: np.ndarray
    runner_up: np.ndarray
    mass: np.ndarray
    refs: np.ndarray
    first: np.ndarray
    second: np.ndarray

    def whitening(self, g: int) -> Whitening:
        """Whitening of cell ``g`` by its weighted mean and covariance."""
        m = self.first[g] / self.mass[g]
        cov = self.second[g] / self.mass[g] - np.outer(m, m)
        return whitening_from_moments(self.refs[g] + m, cov)


def cell_statistics(noised, crude: CrudeMixture, t: float, groups: np.ndarray) -> CellStatistics:
    """Assign every noised point to its cell and accumulate the per-cell sums.

    Parameters
    ----------
    noised : iterable of (Xt, Y, weights)
        Blocks of noised points (a :class:`NoisedData` or a list); iterated once.
    crude : CrudeMixture
    t : float
    groups : ndarray of shape (n_crude,)
        Cell of each crude component.
    """
    G = int(groups.max()) + 1
    d = crude.means.shape[1]
    a = float(vp_coefficients(t)[0])
    refs = np.array([a * np.average(crude.means[groups == g], axis=0,
                                    weights=crude.weights[groups == g]) for g in range(G)])
    cells, counts = [], np.zeros(G, dtype=np.int64)
    runner = np.zeros(G * G, dtype=np.int64)
    mass, first, second = np.zeros(G), np.zeros((G, d)), np.zeros((G, d, d))
    dtype = np.min_scalar_type(G)
    for Xt, _, wt in noised:
        loglik = group_log_likelihood(crude_log_joint(Xt, crude, t), groups)
        cell = np.argmax(loglik, axis=1)
        if G > 1:
            loglik[np.arange(len(cell)), cell] = -np.inf
            runner += np.bincount(cell * G + np.argmax(loglik, axis=1), minlength=G * G)
        del loglik
        counts += np.bincount(cell, minlength=G)
        for g in np.unique(cell):
            rows = cell == g
            diff = Xt[rows] - refs[g]
            wr = wt[rows]
            mass[g] += wr.sum()
            first[g] += wr @ diff
            second[g] += (diff * wr[:, None]).T @ diff
        cells.append(cell.astype(dtype))
    return CellStatistics(np.concatenate(cells), counts, runner.reshape(G, G), mass, refs,
                          first, second)


def _merge_small_cells(statistics, groups, min_count):
    """Merge the smallest under-populated cell into its most common runner-up until all fit.

    ``statistics(groups)`` is one pass (:func:`cell_statistics`); a pass follows every
    merge, so cells are always the likelihood-ratio cells of the current grouping. Empty
    cells are merged whatever ``min_count``. Returns the final groups and their statistics.
    """
    groups = groups.copy()
    while True:
        stats = statistics(groups)
        if groups.max() == 0:
            return groups, stats
        counts = stats.counts
        small = int(np.argmin(counts))
        if counts[small] >= max(min_count, 1):
            return groups, stats
        if counts[small]:
            target = int(np.argmax(stats.runner_up[small]))
        else:
            target = (small + 1) % len(counts)
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


@dataclass
class _Tail:
    """The ``size`` smallest values of each column seen so far, with their weights."""

    size: int
    values: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    weights: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))

    def update(self, V: np.ndarray, w: np.ndarray) -> None:
        values = np.vstack([self.values.reshape(-1, V.shape[1]), V])
        weights = np.vstack([self.weights.reshape(-1, V.shape[1]),
                             np.broadcast_to(w[:, None], V.shape)])
        if len(values) > self.size:
            keep = np.argpartition(values, self.size - 1, axis=0)[:self.size]
            values = np.take_along_axis(values, keep, axis=0)
            weights = np.take_along_axis(weights, keep, axis=0)
        self.values, self.weights = values, weights

    def quantile(self, level: float) -> np.ndarray:
        """Per column, the smallest kept value whose cumulative weight reaches ``level``
        (the innermost kept value where the kept weight falls short)."""
        order = np.argsort(self.values, axis=0, kind="stable")
        values = np.take_along_axis(self.values, order, axis=0)
        cum = np.cumsum(np.take_along_axis(self.weights, order, axis=0), axis=0)
        reached = cum >= level * (1 - 1e-12)
        idx = np.where(reached[-1], np.argmax(reached, axis=0), len(values) - 1)
        return values[idx, np.arange(values.shape[1])]


class _CellNormalEquations:
    """Weighted normal equations and guard-box tails of one cell, accumulated by blocks."""

    def __init__(self, whitening: Whitening, n_terms: int, d: int, count: int,
                 config: RegressionConfig):
        self.whitening = whitening
        self.gram, self.cross = np.zeros((n_terms, n_terms)), np.zeros((n_terms, d))
        self.gram1, self.cross1 = np.zeros((d + 1, d + 1)), np.zeros((d + 1, d))
        size = min(count, 4 * ceil(config.box_quantile * count) + 16)
        self.low, self.high = _Tail(size), _Tail(size)

    def add(self, Xt: np.ndarray, Y: np.ndarray, w: np.ndarray, indices: np.ndarray) -> None:
        U = self.whitening.apply(Xt)
        Phi = hermite_features(U, indices)
        Pw = Phi * w[:, None]
        self.gram += Pw.T @ Phi
        self.cross += Pw.T @ Y
        if indices.shape[0] < U.shape[1] + 1:  # degree 0: the guard's linear fit separately
            D1 = np.hstack([np.ones((len(U), 1)), U])
            self.gram1 += (D1 * w[:, None]).T @ D1
            self.cross1 += (D1 * w[:, None]).T @ Y
        self.low.update(U, w)
        self.high.update(-U, w)

    def solve(self, mass: float, config: RegressionConfig) -> CellPolynomial:
        d = self.cross.shape[1]
        if len(self.gram) >= d + 1:
            self.gram1, self.cross1 = self.gram[:d + 1, :d + 1], self.cross[:d + 1]
        ridge = config.alpha * mass * np.eye(len(self.gram))
        coef = np.linalg.lstsq(self.gram + ridge, self.cross, rcond=None)[0]
        level = config.box_quantile * mass
        lower, upper = self.low.quantile(level), -self.high.quantile(level)
        M = _linear_slope(self.gram1, self.cross1, self.whitening)
        chol = np.linalg.inv(self.whitening.inv_chol)
        return CellPolynomial(self.whitening, coef, lower, upper, chol.T @ M.T)


def fit_cells(noised, stats: CellStatistics, indices: np.ndarray,
              config: RegressionConfig) -> tuple[CellPolynomial, ...]:
    """One pass over the noised points: each cell's weighted ridge fit and guard box.

    Parameters
    ----------
    noised : iterable of (Xt, Y, weights)
        The blocks ``stats`` was computed on, in the same order.
    stats : CellStatistics
        Cells of the points and per-cell moments (:func:`cell_statistics`).
    indices : ndarray of shape (n_terms, n_features)
    config : RegressionConfig
    """
    d = stats.first.shape[1]
    cells = [_CellNormalEquations(stats.whitening(g), len(indices), d, int(stats.counts[g]),
                                  config) for g in range(len(stats.counts))]
    start = 0
    for Xt, Y, wt in noised:
        cell = stats.cells[start:start + len(Xt)]
        start += len(Xt)
        for g in np.unique(cell):
            rows = cell == g
            cells[g].add(Xt[rows], Y[rows], wt[rows], indices)
    return tuple(c.solve(float(m), config) for c, m in zip(cells, stats.mass, strict=True))


def _row_entries(d: int, degree: int, n_crude: int) -> int:
    """float64 entries held per noised point while a block is processed."""
    n_terms = len(multi_indices(d, degree))
    return 2 * n_terms + d * n_crude + (degree + 1) * d + 6 * d


def fit_level(X0: np.ndarray, t: float, crude: CrudeMixture, config: RegressionConfig,
              rng: np.random.Generator, sample_weight: np.ndarray | None = None) -> LevelScore:
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
    sample_weight : ndarray of shape (n_samples,), optional
        Positive row weights of the DSM loss (unit weights when omitted).

    Returns
    -------
    LevelScore
    """
    n, d = X0.shape
    w = np.ones(n) if sample_weight is None else sample_weight
    indices = multi_indices(d, config.degree)
    noised = NoisedData(X0, w, t, config.noise_reps, int(rng.integers(2**63 - 1)),
                        _row_entries(d, config.degree, len(crude.weights)))
    groups, stats = _merge_small_cells(
        lambda g: cell_statistics(noised, crude, t, g),
        merge_groups(crude, t, config.merge_distance), config.min_cell_factor * len(indices))
    fitted = fit_cells(noised, stats, indices, config)
    level = LevelScore(float(t), groups, fitted, 0.0)
    pick = rng.choice(n, size=min(n, 5000), replace=False)
    fresh = noised.a * X0[pick] + noised.s * rng.standard_normal((len(pick), d))
    check = evaluate_level(level, crude, fresh, config.degree)
    rate = float(np.average(check.extrapolated, weights=w[pick]))
    return LevelScore(float(t), groups, fitted, rate)


def evaluate_level(level: LevelScore, crude: CrudeMixture, X: np.ndarray,
                   degree: int) -> ScoreEvaluation:
    """Evaluate a level's guarded piecewise-polynomial score at the rows of ``X``.

    Rows are taken in blocks (:func:`momix.diffusion._cells.row_blocks`), so the memory
    beyond the result is one block's design matrices.
    """
    n, d = X.shape
    indices = multi_indices(d, degree)
    score = np.empty_like(X)
    cell = np.empty(n, dtype=np.intp)
    extrapolated = np.zeros(n, dtype=bool)
    for sl in row_blocks(n, _row_entries(d, degree, len(crude.weights))):
        Xb = X[sl]
        cb = assign_cells(Xb, crude, level.groups, level.t)
        cell[sl] = cb
        out, flag = score[sl], extrapolated[sl]
        for g in np.unique(cb):
            poly = level.cells[g]
            mask = cb == g
            U = poly.whitening.apply(Xb[mask])
            inside = np.clip(U, poly.lower, poly.upper)
            offset = U - inside
            out[mask] = hermite_features(inside, indices) @ poly.coef + offset @ poly.slope_u
            flag[mask] = np.any(offset != 0, axis=1)
    return ScoreEvaluation(score, cell, extrapolated)
