r"""One-pass weighted moments from arrays, memory maps, chunk streams and dask arrays.

:func:`one_pass` reads the data once and returns a :class:`MomentSummary`:

.. math::

    W = \sum_n w_n, \quad
    \mu = \frac1W \sum_n w_n x_n, \quad
    \Sigma = \frac1W \sum_n w_n (x_n - \mu)(x_n - \mu)^\top, \quad
    E[xx^\top] = \Sigma + \mu\mu^\top,

    M_k = \frac1W \sum_n w_n (x_n - c)^{\otimes k} \ (k \le K), \qquad
    p_{jk} = \frac1W \sum_n w_n \big(a_j^\top (x_n - c)\big)^k \ (k = 0..K),

with centre :math:`c = 0` by default (raw moments). Every chunk is summarised about its own
mean and summaries are merged exactly (Chan et al. for the covariance, Pébay's binomial shift
for higher orders; see :mod:`momix.moments._kernels`), in float64, so the result does not
depend on how the rows are split into chunks beyond rounding (about 1e-13 relative), and data
far from the origin keep their precision.

Sources (:func:`iter_chunks`): a numpy array or memory map (sliced by rows), a path to a
``.npy`` file (memory-mapped), an iterable of chunks or ``(X, w)`` tuples, and a dask array
(reduced on the cluster by :func:`dask.array.reduction`; dask is imported only then).
:class:`MomentAccumulator` exposes the same pass as ``update`` / ``merge`` / ``result``.

Full tensors take :math:`d^k` floats per order; they are computed only with
``tensors=True`` and refused beyond ``max_tensor_bytes``. For large ``d`` ask for projected
moments along chosen directions instead (:math:`O(n_{\mathrm{directions}} K)` memory).

Examples
--------
>>> import numpy as np
>>> from momix.moments import one_pass
>>> X = 1e6 + np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
>>> s = one_pass(X, chunk_size=1, max_order=3, directions=[[1.0, -1.0]])
>>> s.covariance  # exact although the data sit at 1e6
array([[2.66666667, 4.66666667],
       [4.66666667, 8.66666667]])
>>> s.projected  # E[(x_1 - x_2)^k], k = 0..3, with x_1 - x_2 in {-1, -1, -4}
array([[  1.,  -2.,   6., -22.]])
"""

from __future__ import annotations

from ..exceptions import DataError
from ._accumulate import (
    DEFAULT_MAX_TENSOR_BYTES,
    MomentAccumulator,
    MomentSummary,
    make_plan,
    summarize_state,
)
from ._kernels import Plan, State, chunk_state, merge_states
from ._sources import (
    ChunkSource,
    default_chunk_size,
    is_dask_array,
    is_streaming_source,
    iter_chunks,
)
from ._threads import map_ordered, n_threads

__all__ = [
    "one_pass",
    "iter_chunks",
    "is_streaming_source",
    "ChunkSource",
    "MomentAccumulator",
    "MomentSummary",
    "Plan",
    "State",
    "chunk_state",
    "merge_states",
    "default_chunk_size",
    "map_ordered",
    "n_threads",
]


def one_pass(
    data,
    *,
    max_order: int = 2,
    directions=None,
    tensors: bool = False,
    sample_weight=None,
    chunk_size: int | None = None,
    center=None,
    max_tensor_bytes: int = DEFAULT_MAX_TENSOR_BYTES,
    split_every: int | None = None,
) -> MomentSummary:
    """Weighted moments of ``data`` in a single pass.

    Parameters
    ----------
    data : array-like of shape (n_samples, n_features), path, dask array or iterable
        Any source accepted by :func:`iter_chunks`: an array or memory map, a ``.npy``
        path, a dask array, or an iterable of chunks or ``(X, w)`` tuples.
    max_order : int, default=2
        Highest order of the projected moments and, with ``tensors=True``, of the tensors.
    directions : array-like of shape (n_directions, n_features), optional
        Directions :math:`a_j` of the projected moments ``projected[j, k]``.
    tensors : bool, default=False
        Also return the full moment tensors of orders 1..``max_order``.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights (for dask a dask or numpy array; for iterables put them in
        ``(X, w)`` tuples instead).
    chunk_size : int, optional
        Rows per chunk (see :func:`iter_chunks`; for dask arrays, rows per block).
    center : array-like of shape (n_features,), optional
        Centre :math:`c` of ``tensors`` and ``projected`` (default: the origin).
    max_tensor_bytes : int, default=2**28
        Refuse tensors whose storage exceeds this many bytes.
    split_every : int, optional
        Fan-in of the dask reduction tree (dask's default when ``None``).

    Returns
    -------
    MomentSummary

    Raises
    ------
    DataError
        Unreadable, non-finite or empty data, bad weights, or zero total weight.
    ValueError
        A bad ``max_order``, ``directions``, ``center`` or a tensor request above
        ``max_tensor_bytes``.
    """
    if is_dask_array(data):
        from ._dask import dask_state

        if data.ndim != 2:
            raise DataError(f"data must be 2-D of shape (n_samples, n_features), got {data.shape}")
        plan = make_plan(data.shape[1], max_order, directions, tensors, max_tensor_bytes)
        state = dask_state(data, sample_weight, plan, chunk_size, split_every)
        return summarize_state(state, plan, center, with_tensors=tensors)
    acc = MomentAccumulator(
        max_order=max_order,
        directions=directions,
        tensors=tensors,
        max_tensor_bytes=max_tensor_bytes,
    )
    chunks = iter_chunks(data, chunk_size, sample_weight)
    for X, w in chunks:  # the first chunk fixes the plan
        acc.update(X, w)
        break
    if acc.plan is not None:
        plan = acc.plan
        for state in map_ordered(lambda X, w: chunk_state(X, w, plan), chunks):
            acc.update_state(state)
    if acc.plan is None or acc.state.n_samples == 0:
        raise DataError("data is empty: no rows were read")
    return acc.result(center)
