r"""Pure kernels of the one-pass moment summary: chunk statistics, exact merge, shifts.

A chunk of rows :math:`x_n \in \mathbb R^d` with weights :math:`w_n \ge 0` is summarised
about its own weighted mean :math:`\mu`:

.. math::

    W = \sum_n w_n, \qquad
    T_k = \sum_n w_n (x_n - \mu)^{\otimes k} \ (k = 2..K_t), \qquad
    P_{jk} = \sum_n w_n \big(a_j^\top (x_n - \mu)\big)^k \ (k = 0..K).

Two summaries about :math:`\mu_A`, :math:`\mu_B` merge exactly (Chan, Golub and LeVeque;
Pébay for higher orders). With :math:`\delta = \mu_B - \mu_A` the merged mean is
:math:`\mu = \mu_A + (W_B/W)\delta`, and each side is moved to :math:`\mu` by the binomial
shift :math:`y + e` with :math:`e_A = -(W_B/W)\delta`, :math:`e_B = (W_A/W)\delta`:

.. math::

    \sum_n w_n (y_n + e)^{\otimes k} = \sum_{S \subseteq \{1..k\}}
    T_{|S|}[\text{axes } S] \otimes e^{\otimes S^c},
    \qquad T_0 = W,\ T_1 = \sum_n w_n y_n = 0.

The same shift with :math:`e = \mu - c` turns the central sums into moments about any centre
:math:`c` (the raw moments are :math:`c = 0`). Because every chunk is centred at its own
mean before any power is taken, data offset by a large constant keeps its precision: the
covariance of :math:`10^6 + \mathcal N(0, 1)` data comes out to about :math:`10^{-12}`
relative, where the textbook :math:`E[xx^\top] - \mu\mu^\top` loses every digit.
For the scalar projections the shift is
:math:`P'_{jk} = \sum_i \binom{k}{i} P_{ji}\, (a_j^\top e)^{k-i}`.

References
----------
.. [1] Chan, T. F., Golub, G. H. and LeVeque, R. J. (1979). Updating formulae and a pairwise
   algorithm for computing sample variances. Stanford CS report STAN-CS-79-773.
.. [2] Pébay, P. (2008). Formulas for robust, one-pass parallel computation of covariances
   and arbitrary-order statistical moments. Sandia report SAND2008-6212.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

__all__ = ["Plan", "State", "chunk_state", "merge_states", "shift_tensor", "shift_projected"]

#: rows x columns of the largest temporary Kronecker block built while summing one chunk
_BLOCK_FLOATS = 1 << 21


@dataclass(frozen=True)
class Plan:
    """What a summary holds: feature count, orders and projection directions.

    Attributes
    ----------
    n_features : int
    max_order : int
        Highest order of the projected moments (and of the tensors when requested).
    tensor_order : int
        Highest order of the stored central tensors (2, or ``max_order`` with tensors).
    directions : ndarray of shape (n_directions, n_features)
    """

    n_features: int
    max_order: int
    tensor_order: int
    directions: np.ndarray

    @property
    def packed_size(self) -> int:
        d = self.n_features
        tensors = sum(d**k for k in range(2, self.tensor_order + 1))
        return 2 + d + tensors + self.directions.shape[0] * (self.max_order + 1)


@dataclass(frozen=True)
class State:
    """Weighted sums about the running mean; see the module docstring.

    Attributes
    ----------
    weight : float
        :math:`W = \\sum_n w_n`.
    n_samples : int
        Rows seen (including rows of zero weight).
    mean : ndarray of shape (n_features,)
    central : tuple of ndarray
        ``central[k - 2]`` has shape ``(n_features,) * k`` and holds :math:`T_k`.
    projected : ndarray of shape (n_directions, max_order + 1)
        :math:`P_{jk}` about ``mean``.
    """

    weight: float
    n_samples: int
    mean: np.ndarray
    central: tuple
    projected: np.ndarray


def empty_state(plan: Plan, n_samples: int = 0) -> State:
    """The summary of no weight (the identity of :func:`merge_states`)."""
    d = plan.n_features
    central = tuple(np.zeros((d,) * k) for k in range(2, plan.tensor_order + 1))
    proj = np.zeros((plan.directions.shape[0], plan.max_order + 1))
    return State(0.0, n_samples, np.zeros(d), central, proj)


def _central_sums(Y: np.ndarray, w: np.ndarray, order: int) -> list[np.ndarray]:
    """:math:`\\sum_n w_n y_n^{\\otimes k}`, k = 2..order, by row-wise Kronecker blocks.

    ``Z_{k-1}`` (rows x d^{k-1}) is built from ``Z_{k-2}`` and contracted with ``w * Y`` by a
    matrix product; rows are processed in blocks so no temporary exceeds ``_BLOCK_FLOATS``.
    The second order is the symmetric product :math:`(\\sqrt w\\,Y)^\\top(\\sqrt w\\,Y)`.
    """
    n, d = Y.shape
    sums = [np.zeros(d**k) for k in range(2, order + 1)]
    step = max(1, _BLOCK_FLOATS // max(1, d ** (order - 1)))
    root = np.sqrt(w)  # weights are validated non-negative
    for start in range(0, n, step):
        y, sy = Y[start : start + step], root[start : start + step, None] * Y[start : start + step]
        sums[0] += (sy.T @ sy).reshape(-1)  # symmetric: a BLAS syrk, half the products
        z, wy = y, (sy * root[start : start + step, None] if order > 2 else None)
        for k in range(3, order + 1):
            z = (z[:, :, None] * y[:, None, :]).reshape(len(y), -1)
            sums[k - 2] += (z.T @ wy).reshape(-1)  # (d^(k-1), d): the fast BLAS layout
    return [s.reshape((d,) * k) for k, s in zip(range(2, order + 1), sums, strict=True)]


def _projected_sums(Y: np.ndarray, w: np.ndarray, A: np.ndarray, order: int) -> np.ndarray:
    r""":math:`\sum_n w_n (a_j^\top y_n)^k`, k = 0..order, shape (n_directions, order + 1)."""
    out = np.empty((A.shape[0], order + 1))
    proj = Y @ A.T
    power = np.ones_like(proj)
    for k in range(order + 1):
        out[:, k] = w @ power
        power = power * proj
    return out


def chunk_state(X: np.ndarray, w: np.ndarray, plan: Plan) -> State:
    """Summarise one validated chunk ``X`` (n, d) with weights ``w`` (n,).

    The chunk mean is computed twice (the second pass adds the weighted mean residual), so
    the centring is accurate even when the data sit far from the origin.
    """
    weight = float(w.sum())
    if weight <= 0.0:
        return empty_state(plan, X.shape[0])
    mean = (w @ X) / weight
    Y = X - mean
    residual = (w @ Y) / weight
    mean, Y = mean + residual, Y - residual
    central = tuple(_central_sums(Y, w, plan.tensor_order))
    proj = _projected_sums(Y, w, plan.directions, plan.max_order)
    return State(weight, X.shape[0], mean, central, proj)


def shift_tensor(weight: float, central: tuple, e: np.ndarray, order: int) -> np.ndarray:
    r""":math:`\sum_n w_n (y_n + e)^{\otimes k}` from the central sums (``order`` = k).

    Sums over every subset :math:`S` of tensor axes: :math:`T_{|S|}` on the axes in
    :math:`S`, :math:`e` on the others; :math:`T_1 = 0`, so subsets of size one drop out.
    """
    axes = list(range(order))
    out = np.zeros((e.shape[0],) * order)
    if order == 0:
        return np.asarray(weight)
    for j in range(order + 1):
        if j == 1:
            continue
        base = weight if j == 0 else central[j - 2]
        for subset in combinations(axes, j):
            rest = [i for i in axes if i not in subset]
            operands = [base, list(subset)] if j else []
            for i in rest:
                operands += [e, [i]]
            term = np.einsum(*operands, axes)
            out += weight * term if j == 0 else term
    return out


def shift_projected(proj: np.ndarray, e_proj: np.ndarray) -> np.ndarray:
    r"""Move projected power sums by :math:`a_j^\top e`: binomial expansion per direction.

    Parameters
    ----------
    proj : ndarray of shape (n_directions, max_order + 1)
    e_proj : ndarray of shape (n_directions,)
    """
    order = proj.shape[1] - 1
    out = np.zeros_like(proj)
    powers = e_proj[:, None] ** np.arange(order + 1)
    for k in range(order + 1):
        for i in range(k + 1):
            out[:, k] += comb(k, i) * proj[:, i] * powers[:, k - i]
    return out


def merge_states(a: State, b: State, plan: Plan) -> State:
    """Exact pairwise merge of two summaries (Chan / Pébay update)."""
    n_samples = a.n_samples + b.n_samples
    if b.weight == 0.0:
        return State(a.weight, n_samples, a.mean, a.central, a.projected)
    if a.weight == 0.0:
        return State(b.weight, n_samples, b.mean, b.central, b.projected)
    weight = a.weight + b.weight
    delta = b.mean - a.mean
    mean = a.mean + (b.weight / weight) * delta
    e_a, e_b = -(b.weight / weight) * delta, (a.weight / weight) * delta
    central = tuple(
        shift_tensor(a.weight, a.central, e_a, k) + shift_tensor(b.weight, b.central, e_b, k)
        for k in range(2, plan.tensor_order + 1)
    )
    A = plan.directions
    proj = shift_projected(a.projected, A @ e_a) + shift_projected(b.projected, A @ e_b)
    return State(weight, n_samples, mean, central, proj)


# ---------------------------------------------------------------------------
# flat packing (for dask blocks)
# ---------------------------------------------------------------------------


def pack_state(state: State) -> np.ndarray:
    """Flatten a summary into one float64 vector of length ``plan.packed_size``."""
    parts = [np.array([state.weight, float(state.n_samples)]), state.mean]
    parts += [t.reshape(-1) for t in state.central]
    parts.append(state.projected.reshape(-1))
    return np.concatenate(parts)


def unpack_state(vec: np.ndarray, plan: Plan) -> State:
    """Inverse of :func:`pack_state`."""
    d = plan.n_features
    weight, n_samples = float(vec[0]), int(round(vec[1]))
    pos = 2 + d
    mean = np.array(vec[2:pos])
    central = []
    for k in range(2, plan.tensor_order + 1):
        central.append(np.array(vec[pos : pos + d**k]).reshape((d,) * k))
        pos += d**k
    proj = np.array(vec[pos:]).reshape(plan.directions.shape[0], plan.max_order + 1)
    return State(weight, n_samples, mean, tuple(central), proj)
