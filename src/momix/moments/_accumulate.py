r"""Streaming accumulator and the summary it returns.

:class:`MomentAccumulator` is the mutable shell around the pure kernels of
:mod:`momix.moments._kernels`: ``update`` summarises a chunk and merges it in, ``merge``
folds in another accumulator (from another process or another part of the data),
``result`` turns the central sums into the moments of :class:`MomentSummary`.

With total weight :math:`W = \sum_n w_n` every moment is a weighted average,

.. math::

    \bar\mu = \frac1W \sum_n w_n x_n, \quad
    \Sigma = \frac1W \sum_n w_n (x_n - \bar\mu)(x_n - \bar\mu)^\top, \quad
    M_k(c) = \frac1W \sum_n w_n (x_n - c)^{\otimes k}, \quad
    p_{jk}(c) = \frac1W \sum_n w_n \big(a_j^\top (x_n - c)\big)^k .

The covariance is the plug-in (maximum-likelihood) one, normalised by :math:`W`, not
:math:`W - 1`: moment estimators match population moments, and with fractional weights
there is no sample size to subtract one from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..exceptions import DataError
from ._kernels import (
    Plan,
    State,
    chunk_state,
    empty_state,
    merge_states,
    shift_projected,
    shift_tensor,
)

__all__ = ["MomentSummary", "MomentAccumulator", "make_plan", "summarize_state"]

#: default cap on the bytes of the stored moment tensors (all orders together)
DEFAULT_MAX_TENSOR_BYTES = 1 << 28


@dataclass(frozen=True, eq=False)
class MomentSummary:
    """One-pass weighted moments of a data set.

    Attributes
    ----------
    count : float
        Total weight :math:`W` (the number of rows for unit weights).
    n_samples : int
        Number of rows read, including rows of zero weight.
    mean : ndarray of shape (n_features,)
    second : ndarray of shape (n_features, n_features)
        Raw second moment :math:`E[x x^\\top]` about the origin.
    covariance : ndarray of shape (n_features, n_features)
        :math:`E[(x - \\mu)(x - \\mu)^\\top]`, normalised by ``count``.
    tensors : dict of int to ndarray
        ``tensors[k]`` of shape ``(n_features,) * k`` is :math:`E[(x - c)^{\\otimes k}]`,
        k = 1..max_order, about ``center`` (the origin by default: raw moments). Empty
        unless ``tensors=True`` was asked for.
    central_tensors : dict of int to ndarray
        ``central_tensors[k]`` is :math:`E[(x - \\mu)^{\\otimes k}]`, k = 2..max_order
        (empty unless ``tensors=True``).
    projected : ndarray of shape (n_directions, max_order + 1)
        ``projected[j, k]`` is :math:`E[(a_j^\\top (x - c))^k]`; ``projected[:, 0] == 1``.
    projected_central : ndarray of shape (n_directions, max_order + 1)
        :math:`E[(a_j^\\top (x - \\mu))^k]`.
    directions : ndarray of shape (n_directions, n_features)
    center : ndarray of shape (n_features,)
        The centre :math:`c` of ``tensors`` and ``projected``.
    max_order : int
    """

    count: float
    n_samples: int
    mean: np.ndarray
    second: np.ndarray
    covariance: np.ndarray
    tensors: dict = field(repr=False)
    central_tensors: dict = field(repr=False)
    projected: np.ndarray = field(repr=False)
    projected_central: np.ndarray = field(repr=False)
    directions: np.ndarray = field(repr=False)
    center: np.ndarray = field(repr=False)
    max_order: int = 2


def make_plan(
    n_features: int,
    max_order: int,
    directions,
    tensors: bool,
    max_tensor_bytes: int,
) -> Plan:
    """Validate the moment request and fix what each summary stores.

    Raises
    ------
    ValueError
        If ``max_order < 1``, ``directions`` has the wrong shape or is not finite, or the
        tensors up to ``max_order`` need more than ``max_tensor_bytes``.
    """
    if isinstance(max_order, bool) or not isinstance(max_order, (int, np.integer)) or max_order < 1:
        raise ValueError(f"max_order must be an integer >= 1, got {max_order!r}")
    if directions is None:
        A = np.zeros((0, n_features))
    else:
        A = np.asarray(directions, dtype=np.float64)
        if A.ndim == 1:
            A = A[None, :]
        if A.ndim != 2 or A.shape[1] != n_features:
            raise ValueError(
                f"directions must have shape (n_directions, {n_features}), "
                f"got {np.shape(directions)}"
            )
        if not np.all(np.isfinite(A)):
            raise ValueError("directions contain NaN or infinite values")
    tensor_order = max(2, int(max_order)) if tensors else 2
    need = 8 * sum(n_features**k for k in range(2, tensor_order + 1))
    if need > max_tensor_bytes:
        raise ValueError(
            f"moment tensors up to order {tensor_order} with n_features={n_features} need "
            f"{need / 2**20:.1f} MiB, above max_tensor_bytes={max_tensor_bytes / 2**20:.1f} MiB; "
            "lower max_order, raise max_tensor_bytes, or use projected moments (directions=)"
        )
    return Plan(int(n_features), int(max_order), tensor_order, A)


def summarize_state(
    state: State, plan: Plan, center=None, with_tensors: bool = False
) -> MomentSummary:
    """Turn central sums into the moments of a :class:`MomentSummary`."""
    if state.weight <= 0.0:
        raise DataError(
            f"total sample weight is zero after {state.n_samples} row(s); "
            "at least one row needs positive weight"
        )
    d, W = plan.n_features, state.weight
    c = np.zeros(d) if center is None else np.asarray(center, dtype=np.float64).reshape(-1)
    if c.shape != (d,) or not np.all(np.isfinite(c)):
        raise ValueError(
            f"center must be a finite vector of length {d}, got shape {np.shape(center)}"
        )
    cov = state.central[0] / W
    cov = 0.5 * (cov + cov.T)  # exactly symmetric (the BLAS product is only to rounding)
    second = cov + np.outer(state.mean, state.mean)
    e = state.mean - c
    tensors, central = {}, {}
    if with_tensors:
        tensors = {
            k: shift_tensor(W, state.central, e, k) / W for k in range(1, plan.max_order + 1)
        }
        central = {k: state.central[k - 2] / W for k in range(2, plan.max_order + 1)}
    A = plan.directions
    proj = shift_projected(state.projected, A @ e) / W
    return MomentSummary(
        count=W,
        n_samples=state.n_samples,
        mean=state.mean.copy(),
        second=second,
        covariance=cov,
        tensors=tensors,
        central_tensors=central,
        projected=proj,
        projected_central=state.projected / W,
        directions=A.copy(),
        center=c,
        max_order=plan.max_order,
    )


def check_chunk(X, w, n_features: int | None, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate one chunk: float64, 2-D, finite, matching width; weights finite and >= 0."""
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"chunk {index} is not numeric: {exc}") from None
    if X.ndim != 2:
        raise DataError(f"chunk {index} must be 2-D (n_rows, n_features), got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise DataError(f"chunk {index} has {X.shape[1]} features, expected {n_features}")
    if not np.all(np.isfinite(X)):
        bad = int(np.sum(~np.isfinite(X)))
        raise DataError(f"chunk {index} contains {bad} NaN or infinite value(s)")
    if w is None:
        return X, np.ones(X.shape[0])
    w = np.asarray(w, dtype=np.float64).reshape(-1) if np.ndim(w) else np.full(X.shape[0], float(w))
    if w.shape != (X.shape[0],):
        raise DataError(
            f"sample_weight of chunk {index} has {w.shape[0]} entries for {X.shape[0]} rows"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError(f"sample_weight of chunk {index} must be finite and non-negative")
    return X, w


class MomentAccumulator:
    """Streaming, mergeable weighted moment summary.

    Parameters
    ----------
    n_features : int, optional
        Width of the data; taken from the first chunk when omitted (needed up front only
        to merge before any update).
    max_order : int, default=2
        Highest order of the projected moments and, with ``tensors=True``, of the tensors.
    directions : array-like of shape (n_directions, n_features), optional
        Directions :math:`a_j` of the projected moments.
    tensors : bool, default=False
        Store full moment tensors up to ``max_order`` (second order is always kept).
    max_tensor_bytes : int, default=2**28
        Refuse (``ValueError``) tensors whose storage would exceed this.

    Examples
    --------
    >>> import numpy as np
    >>> acc = MomentAccumulator(max_order=3, directions=[[1.0, 0.0]])
    >>> X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> _ = acc.update(X[:2]).update(X[2:])
    >>> acc.result().mean
    array([2., 3.])
    >>> acc.result().projected  # E[x_1^k], k = 0..3
    array([[ 1.        ,  2.        ,  6.66666667, 24.        ]])
    """

    def __init__(
        self,
        n_features: int | None = None,
        *,
        max_order: int = 2,
        directions=None,
        tensors: bool = False,
        max_tensor_bytes: int = DEFAULT_MAX_TENSOR_BYTES,
    ) -> None:
        self._request = (max_order, directions, bool(tensors), max_tensor_bytes)
        self._plan: Plan | None = None
        self._state: State | None = None
        self._n_chunks = 0
        if n_features is not None:
            self._start(int(n_features))

    def _start(self, n_features: int) -> None:
        self._plan = make_plan(n_features, *self._request)
        self._state = empty_state(self._plan)

    @property
    def plan(self) -> Plan | None:
        """What the summary stores (``None`` until the width is known)."""
        return self._plan

    @property
    def state(self) -> State | None:
        """The central sums accumulated so far."""
        return self._state

    def update(self, X, sample_weight=None) -> MomentAccumulator:
        """Fold one chunk ``X`` of shape (n_rows, n_features) into the summary."""
        n_features = None if self._plan is None else self._plan.n_features
        X, w = check_chunk(X, sample_weight, n_features, self._n_chunks)
        if self._plan is None:
            self._start(X.shape[1])
        self._n_chunks += 1
        if X.shape[0]:
            self._state = merge_states(self._state, chunk_state(X, w, self._plan), self._plan)
        return self

    def update_state(self, state: State) -> MomentAccumulator:
        """Fold in a summary computed elsewhere with the same plan."""
        self._state = merge_states(self._state, state, self._plan)
        return self

    def merge(self, other: MomentAccumulator) -> MomentAccumulator:
        """Fold another accumulator (same orders, directions and width) into this one."""
        if other._plan is None:
            return self
        if self._plan is None:
            self._start(other._plan.n_features)
        mine, theirs = self._plan, other._plan
        same = (
            mine.n_features == theirs.n_features
            and mine.max_order == theirs.max_order
            and mine.tensor_order == theirs.tensor_order
            and np.array_equal(mine.directions, theirs.directions)
        )
        if not same:
            raise ValueError(
                "cannot merge accumulators with different n_features, orders or directions"
            )
        self._n_chunks += other._n_chunks
        return self.update_state(other._state)

    def result(self, center=None) -> MomentSummary:
        """The moments so far; ``center`` (default the origin) anchors tensors and projections."""
        if self._plan is None:
            raise DataError("no data: call update() with at least one chunk first")
        return summarize_state(self._state, self._plan, center, with_tensors=self._request[2])
