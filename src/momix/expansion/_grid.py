"""The fixed tensor grid of a GMM expansion and its per-axis Gaussian kernel matrices.

A GMM expansion in :math:`d` dimensions places one Gaussian on every node of a tensor grid
:math:`\\mu_{i_1 \\dots i_d} = (g^{(1)}_{i_1}, \\dots, g^{(d)}_{i_d})` with evenly spaced
nodes :math:`g^{(j)}` on each axis, and gives every component the same diagonal covariance
:math:`\\operatorname{diag}(\\sigma_1^2, \\dots, \\sigma_d^2)`. The component density then
factorises over axes,

.. math::

    \\phi_{i_1 \\dots i_d}(x) = \\prod_{j=1}^d \\varphi_{\\sigma_j}(x_j - g^{(j)}_{i_j}),

so every quantity the estimator needs is a contraction of the weight tensor with the
per-axis kernel values :math:`\\varphi_{\\sigma_j}(x_{nj} - g^{(j)}_i)`, kept only on a window
of nodes within :math:`8\\sigma_j` of each point (see :mod:`momix.expansion._kernels`). The
cost per pass is :math:`O(n\\, m^d)` with :math:`m \\approx 16\\sigma/\\Delta + 1`, independent
of the data range; the full :math:`n \\times N^d` design matrix is never formed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..exceptions import DataError

__all__ = [
    "GRID_PADDING",
    "NODES_PER_BANDWIDTH",
    "MIN_RESOLUTION",
    "UNIT_EXPONENT",
    "robust_scale",
    "power_of_two_unit",
    "grid_size",
    "make_grid",
    "grid_means",
    "TRUNCATION",
    "LocalKernels",
    "local_kernels",
    "window_sizes",
    "truncation_bound",
    "axis_log_kernels",
]

#: the grid extends this many bandwidths beyond the data range on every side
GRID_PADDING = 3.0
#: with ``n_grid="auto"`` the node spacing is ``bandwidth / NODES_PER_BANDWIDTH``
NODES_PER_BANDWIDTH = 1.0
#: kernels are evaluated on the nodes within this many bandwidths of a point, per axis
TRUNCATION = 8.0
#: windows are used only for grids more than this many times larger than a window
DENSE_FACTOR = 16
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
#: an IQR below this fraction of the standard deviation counts as zero (tied middle half)
_TIED = math.sqrt(np.finfo(np.float64).eps)
#: neighbouring grid nodes must be at least this many units in the last place apart
MIN_RESOLUTION = 1024.0
#: spreads within ``2**±UNIT_EXPONENT`` are fitted as they are; beyond, in a power-of-two unit
UNIT_EXPONENT = 20


def robust_scale(X: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Per-feature spread :math:`\\min(\\mathrm{sd}, \\mathrm{IQR}/1.349)` (Silverman's choice).

    Both statistics use the sample weights (quantiles by the inverted empirical CDF), so
    integer weights are equivalent to repeated rows. A feature whose robust spread is zero
    -- or below :math:`\\sqrt{\\epsilon}\\,\\mathrm{sd}` (:math:`\\epsilon` the float64 machine
    epsilon), i.e. a middle half tied up to rounding, whose tiny IQR would give kernels
    that underflow -- falls back to its standard deviation, and a constant feature to 1, so
    the bandwidth is always positive and representable. The standard deviation is computed
    on deviations divided by a power of two near the largest, so it neither underflows nor
    overflows at any magnitude.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,), optional

    Returns
    -------
    scale : ndarray of shape (n_features,)
    """
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    w = w / w.sum()
    mean = w @ X
    dev = X - mean
    # deviations divided by a power of two near the largest one: exact, and the squares of
    # tiny or huge deviations neither underflow nor overflow
    top = np.max(np.abs(dev), axis=0) if dev.size else np.ones(X.shape[1])
    unit = np.ldexp(1.0, np.frexp(np.where(top > 0, top, 1.0))[1])
    sd = unit * np.sqrt(np.maximum(w @ (dev / unit) ** 2, 0.0))
    iqr = (_weighted_quantile(X, w, 0.75) - _weighted_quantile(X, w, 0.25)) / 1.349
    scale = np.where(iqr > _TIED * sd, np.minimum(sd, iqr), sd)
    return np.where(scale > 0, scale, 1.0)


def power_of_two_unit(spread: np.ndarray) -> np.ndarray:
    """Per-feature unit :math:`2^{e_j}`: the power of two nearest a spread beyond
    :math:`2^{\\pm 20}`, else 1.

    Dividing data by powers of two is exact, and the expansion is equivariant under it
    (grid, bandwidths and kernel values all follow, the log-densities shift by
    :math:`-\\sum_j e_j \\log 2`), so fitting and evaluating ``x / unit`` gives the density of
    ``x`` without kernel values :math:`1/\\sigma_j` that overflow (tiny spreads) or underflow
    (huge ones) in products over the features.
    """
    e = np.round(np.log2(spread))
    e = np.where(np.abs(e) > UNIT_EXPONENT, e, 0.0).astype(int)
    return np.ldexp(1.0, e)


def _weighted_quantile(X: np.ndarray, w: np.ndarray, q: float) -> np.ndarray:
    """Per-column quantile by the inverted weighted CDF (numpy's ``inverted_cdf`` method)."""
    order = np.argsort(X, axis=0, kind="stable")
    cw = np.cumsum(w[order], axis=0)
    idx = np.argmax(cw >= q * cw[-1] * (1 - 1e-12), axis=0)
    cols = np.arange(X.shape[1])
    return X[order[idx, cols], cols]


def grid_size(X: np.ndarray, n_grid, sigmas: np.ndarray) -> tuple[int, ...]:
    """Number of nodes per axis: ``n_grid`` itself, or the ``"auto"`` rule.

    With ``"auto"`` the padded range :math:`[\\min_j - 3\\sigma_j, \\max_j + 3\\sigma_j]` is
    covered with spacing :math:`\\Delta_j \\le \\sigma_j` (the paper's :math:`\\sigma = \\Delta`),
    so every point lies within half a bandwidth of a node.
    """
    if n_grid != "auto":
        return (int(n_grid),) * X.shape[1]
    span = X.max(axis=0) - X.min(axis=0) + 2 * GRID_PADDING * sigmas
    return tuple(
        int(math.ceil(s / (sig / NODES_PER_BANDWIDTH))) + 1
        for s, sig in zip(span, sigmas, strict=True)
    )


def make_grid(X: np.ndarray, n_grid, sigmas: np.ndarray, max_grid_size: int) -> list[np.ndarray]:
    """Evenly spaced nodes per axis over the data range padded by three bandwidths.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_grid : int or "auto"
        Nodes per axis (the same on every axis) or the spacing rule of :func:`grid_size`.
    sigmas : ndarray of shape (n_features,)
        Per-axis component standard deviations.
    max_grid_size : int
        Largest number of components :math:`\\prod_j N_j` accepted.

    Returns
    -------
    grid : list of ndarray
        ``grid[j]`` holds the ``N_j`` nodes of axis ``j``.

    Raises
    ------
    DataError
        If the tensor grid would hold more than ``max_grid_size`` components: the
        expansion needs :math:`N^d` components, which is only practical in low dimension.
        Also if neighbouring nodes of an axis are closer than ``MIN_RESOLUTION`` units in
        the last place of their magnitude (a spread at the rounding level of a large
        offset): such a grid is not evenly spaced in float64.
    """
    sizes = grid_size(X, n_grid, sigmas)
    total = math.prod(sizes)
    if total > max_grid_size:
        raise DataError(
            f"the expansion grid would have {' x '.join(map(str, sizes))} = {total} components "
            f"for {X.shape[1]} feature(s), above max_grid_size={max_grid_size}; a tensor grid "
            "grows like n_grid**n_features, so use fewer features (1-D or 2-D), a smaller "
            "n_grid, a larger bandwidth, or raise max_grid_size"
        )
    lo = X.min(axis=0) - GRID_PADDING * sigmas
    hi = X.max(axis=0) + GRID_PADDING * sigmas
    grid = [
        np.linspace(a, b, m) if m > 1 else np.array([(a + b) / 2])
        for a, b, m in zip(lo, hi, sizes, strict=True)
    ]
    for j, nodes in enumerate(grid):
        if len(nodes) < 2:
            continue
        magnitude = float(np.max(np.abs(nodes[[0, -1]])))
        if not (nodes[1] - nodes[0]) > MIN_RESOLUTION * np.spacing(magnitude):
            raise DataError(
                f"feature {j}: grid nodes {nodes[1] - nodes[0]:.3g} apart cannot be told apart "
                f"in float64 at magnitude {magnitude:.3g} (the feature's spread is too small "
                "for its offset, or the bandwidth too small); subtract the feature's mean "
                "from X or use a larger bandwidth"
            )
    return grid


def grid_means(grid: list[np.ndarray]) -> np.ndarray:
    """All grid nodes as rows, shape (prod N_j, n_features), in C (row-major) order."""
    mesh = np.meshgrid(*grid, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


@dataclass(frozen=True)
class LocalKernels:
    """Per-axis Gaussian kernel values on a window of nodes around each point.

    Attributes
    ----------
    starts : ndarray of shape (n_samples, n_features)
        Index of the first node of each point's window on each axis.
    values : tuple of ndarray
        ``values[j]`` has shape (n_samples, m_j): :math:`\\varphi_{\\sigma_j}(x_{nj} -
        g^{(j)}_{s_{nj} + a})` for :math:`a < m_j` (or its logarithm).
    shape : tuple of int
        Number of nodes per axis of the full grid.
    dense : bool
        True when every window is the whole axis (``starts`` all zero): the contractions
        then use matrix products, which beat gathering windows unless the grid is much
        larger than a window.
    """

    starts: np.ndarray
    values: tuple[np.ndarray, ...]
    shape: tuple[int, ...]
    dense: bool


def window_sizes(grid: list[np.ndarray], sigmas: np.ndarray) -> tuple[int, ...]:
    """Nodes per axis within ``TRUNCATION`` bandwidths of a point; whole axes if the grid is small.

    Windows are used only when the full grid has more than ``DENSE_FACTOR`` times as many
    nodes as a window; otherwise every axis is taken whole.
    """
    sizes = []
    for j, nodes in enumerate(grid):
        delta = nodes[1] - nodes[0] if len(nodes) > 1 else np.inf
        half = int(math.ceil(TRUNCATION * sigmas[j] / delta)) if len(nodes) > 1 else 0
        sizes.append(min(2 * half + 1, len(nodes)))
    full = tuple(len(g) for g in grid)
    return full if math.prod(full) <= DENSE_FACTOR * math.prod(sizes) else tuple(sizes)


def local_kernels(
    X: np.ndarray, grid: list[np.ndarray], sigmas: np.ndarray, *, log: bool = False
) -> LocalKernels:
    """Kernel values on the nodes within ``TRUNCATION`` bandwidths of each point, per axis.

    A node outside the window is at least :math:`8\\sigma_j` away on axis :math:`j`, so the
    dropped part of :math:`\\sum_i \\pi_i \\phi_i(x)` is at most
    :math:`e^{-32} \\prod_j (\\sigma_j\\sqrt{2\\pi})^{-1}` (see :func:`truncation_bound`).
    Points outside the grid get the window at the nearest edge.
    """
    sizes = window_sizes(grid, sigmas)
    dense = sizes == tuple(len(g) for g in grid)
    starts, values = [], []
    for j, (nodes, m) in enumerate(zip(grid, sizes, strict=True)):
        n_nodes = len(nodes)
        if dense:
            start = np.zeros(len(X), dtype=np.intp)
        else:
            delta = nodes[1] - nodes[0]
            centre = np.rint((X[:, j] - nodes[0]) / delta)
            start = np.clip(centre - (m - 1) // 2, 0, n_nodes - m).astype(np.intp)
        u = (X[:, j, None] - nodes[start[:, None] + np.arange(m)]) / sigmas[j]
        logv = -0.5 * u * u - _LOG_SQRT_2PI - math.log(sigmas[j])
        starts.append(start)
        values.append(logv if log else np.exp(logv))
    shape = tuple(len(g) for g in grid)
    return LocalKernels(np.stack(starts, axis=1), tuple(values), shape, dense)


def truncation_bound(sigmas: np.ndarray) -> float:
    """Upper bound on the mixture density left out by :func:`local_kernels`."""
    return float(math.exp(-0.5 * TRUNCATION**2) / np.prod(sigmas * math.sqrt(2 * math.pi)))


def axis_log_kernels(X: np.ndarray, grid: list[np.ndarray], sigmas: np.ndarray) -> list[np.ndarray]:
    """Log-kernels against every node of each axis (the exact path), shapes (n_samples, N_j)."""
    out = []
    for j, nodes in enumerate(grid):
        u = (X[:, j, None] - nodes[None, :]) / sigmas[j]
        out.append(-0.5 * u * u - _LOG_SQRT_2PI - math.log(sigmas[j]))
    return out
