"""Multi-level dictionaries: several fixed grids, each with its own bandwidth.

The paper's expansion is one tensor grid with one shared bandwidth. momix also offers a
*multi-level* expansion, the union of ``L`` such grids with bandwidths growing
geometrically,

.. math::

    p(x) = \\sum_{l=0}^{L-1} \\sum_i \\pi_{l,i}\\, \\mathcal N\\big(x;\\ \\mu_{l,i},\\
    \\operatorname{diag}(\\sigma_{l,1}^2, \\dots, \\sigma_{l,d}^2)\\big), \\qquad
    \\sigma_{l,j} = r^{\\,l} \\sigma_{0,j},\\quad r = 2,

each level a grid of spacing :math:`\\sigma_{l,j}` over the data range padded by
:math:`3\\sigma_{l,j}` (the paper's :math:`\\sigma = \\Delta` rule at every level). The weights
of all levels live on one simplex, so the log-likelihood is still concave in them and the
weight-only EM still converges to the global optimum from any positive start; EM then
chooses the scale locally, like an adaptive kernel estimator: fine components where the
data are dense, broad ones in the tails. The coarsest level of ``n_levels="auto"`` is the
first whose bandwidth reaches a quarter of the data range on every axis, so points far
beyond the training range fall under a broad Gaussian rather than the tail of a narrow
edge component. Coarse levels are small (a level at bandwidth :math:`2^l\\sigma` has about
:math:`2^{-ld}` times the nodes of the finest), so the dictionary grows by at most a factor
:math:`1/(1-2^{-d})`: 2 in 1-D, 4/3 in 2-D.

**Tail component.** Held-out points beyond the training range are the weak spot of any
grid: a Gaussian tail gives a point :math:`k` bandwidths beyond the last node a
log-density of about :math:`-k^2/2`, and EM (a maximum-likelihood fit) gives the broad
levels almost no weight, because no *training* point needs them. momix can therefore mix
in one fixed broad Gaussian :math:`q` centred on the data's bounding box with standard
deviation equal to its range per axis,

.. math::

    p_\\epsilon(x) = (1-\\epsilon)\\, p(x) + \\epsilon\\, q(x), \\qquad
    \\epsilon = \\frac{1}{n+1},

a defensive mixture (Hesterberg 1995). :math:`1/(n+1)` is the probability that a new
exchangeable draw exceeds the sample maximum of a given coordinate, a distribution-free
reference for the mass the sample has not seen. The cost where the fit is good is at
most :math:`-\\log(1-\\epsilon) \\approx 1/n` nats per point; a far point's log-density
falls like :math:`-\\tfrac12 (x/\\mathrm{range})^2` instead of
:math:`-\\tfrac12 (x/\\sigma)^2`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..exceptions import DataError
from ._grid import grid_means, make_grid

__all__ = [
    "LEVEL_RATIO",
    "MAX_LEVELS",
    "Level",
    "auto_levels",
    "make_levels",
    "split_weights",
    "level_means",
    "level_variances",
    "scale_levels",
    "tail_level",
    "tail_mass",
    "add_tail",
]

#: bandwidth ratio between consecutive levels
LEVEL_RATIO = 2.0
#: largest number of levels (``n_levels="auto"`` stops earlier on any realistic data)
MAX_LEVELS = 12
#: ``n_levels="auto"`` stops at the first bandwidth reaching this fraction of the data range
RANGE_FRACTION = 0.25
#: standard deviation of the tail component relative to the data range, per axis
TAIL_SCALE = 1.0


@dataclass(frozen=True)
class Level:
    """One grid of the dictionary: nodes per axis and the per-axis standard deviations.

    Attributes
    ----------
    grid : tuple of ndarray
        ``grid[j]`` holds the nodes of axis ``j``.
    sigmas : ndarray of shape (n_features,)
    """

    grid: tuple[np.ndarray, ...]
    sigmas: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(g) for g in self.grid)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def auto_levels(X: np.ndarray, sigmas: np.ndarray) -> int:
    """Levels until :math:`\\sigma_{L-1,j} \\ge` ``RANGE_FRACTION`` x range_j on every axis."""
    span = np.ptp(X, axis=0)
    need = np.log(np.maximum(RANGE_FRACTION * span / sigmas, 1.0)) / math.log(LEVEL_RATIO)
    return int(min(MAX_LEVELS, math.ceil(float(need.max())) + 1))


def make_levels(
    X: np.ndarray, n_grid, sigmas: np.ndarray, n_levels, max_grid_size: int
) -> tuple[Level, ...]:
    """The finest grid (``n_grid`` nodes per axis or the spacing rule) and coarser levels.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_grid : int or "auto"
        Nodes per axis of the finest level; coarser levels always use spacing = bandwidth.
    sigmas : ndarray of shape (n_features,)
        Standard deviations of the finest level.
    n_levels : int or "auto"
        Number of levels (1 = the paper's single grid), or :func:`auto_levels`.
    max_grid_size : int
        Largest total number of components over all levels.

    Raises
    ------
    DataError
        If the dictionary would exceed ``max_grid_size`` components.
    """
    L = auto_levels(X, sigmas) if n_levels == "auto" else int(n_levels)
    levels = [Level(tuple(make_grid(X, n_grid, sigmas, max_grid_size)), sigmas)]
    for lev in range(1, L):
        s = sigmas * LEVEL_RATIO**lev
        levels.append(Level(tuple(make_grid(X, "auto", s, max_grid_size)), s))
    total = sum(lv.size for lv in levels)
    if total > max_grid_size:
        raise DataError(
            f"the {L}-level expansion would have {total} components, above "
            f"max_grid_size={max_grid_size}; use fewer levels, a larger bandwidth or raise "
            "max_grid_size"
        )
    return tuple(levels)


def split_weights(weights: np.ndarray, levels) -> list[np.ndarray]:
    """Views of a flat weight vector as one grid-shaped array per level."""
    flat = weights.ravel()
    out, start = [], 0
    for lv in levels:
        out.append(flat[start : start + lv.size].reshape(lv.shape))
        start += lv.size
    if start != flat.size:
        raise ValueError(f"{flat.size} weights for a dictionary of {start} components")
    return out


def level_means(levels) -> np.ndarray:
    """All component means, level by level, shape (n_components, n_features)."""
    return np.vstack([grid_means(list(lv.grid)) for lv in levels])


def level_variances(levels) -> np.ndarray:
    """Diagonal variances of every component, shape (n_components, n_features)."""
    return np.vstack([np.tile(lv.sigmas**2, (lv.size, 1)) for lv in levels])


# ---------------------------------------------------------------------------------------
# The tail component
# ---------------------------------------------------------------------------------------


def scale_levels(levels, factor: np.ndarray) -> tuple[Level, ...]:
    """The levels of the density of :math:`x \\odot` ``factor``: nodes and standard deviations
    multiplied per feature (exact when ``factor`` holds powers of two)."""
    return tuple(
        Level(tuple(g * f for g, f in zip(lv.grid, factor, strict=True)), lv.sigmas * factor)
        for lv in levels
    )


def tail_level(X: np.ndarray, fallback: np.ndarray) -> Level:
    """One broad Gaussian at the centre of the data's bounding box, standard deviation = range.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    fallback : ndarray of shape (n_features,)
        Standard deviation used on axes where the data are constant.
    """
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = TAIL_SCALE * (hi - lo)
    return Level(tuple(np.array([m]) for m in (lo + hi) / 2), np.where(span > 0, span, fallback))


def tail_mass(tail_weight, n_samples: float) -> float:
    """Weight of the tail component: ``tail_weight`` or, for ``"auto"``, :math:`1/(n+1)`."""
    return 1.0 / (n_samples + 1.0) if tail_weight == "auto" else float(tail_weight)


def add_tail(log_density: np.ndarray, X: np.ndarray, tail: Level, mass: float) -> np.ndarray:
    """:math:`\\log((1-\\epsilon) p(x) + \\epsilon\\, q(x))` from :math:`\\log p`."""
    if mass <= 0:
        return log_density
    u = (X - np.concatenate(tail.grid)) / tail.sigmas
    log_q = -0.5 * (u * u).sum(axis=1) - np.log(tail.sigmas * math.sqrt(2 * math.pi)).sum()
    return np.logaddexp(math.log1p(-mass) + log_density, math.log(mass) + log_q)
