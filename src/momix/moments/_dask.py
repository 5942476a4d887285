r"""The moment pass as a dask graph: one summary per block, merged up a reduction tree.

Each row block of ``X`` (with its weights) becomes a packed summary vector
(:func:`momix.moments._kernels.pack_state`) by :func:`dask.array.map_blocks`; the vectors
form a small ``(n_blocks, L)`` dask array which :func:`dask.array.reduction` merges with the
exact pairwise update, ``split_every`` vectors per tree node. The graph is computed with
dask's own scheduler (the active ``distributed.Client`` if there is one, otherwise the
scheduler in ``dask.config``), so nothing but the length-``L`` summaries leaves the workers.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ._accumulate import check_chunk
from ._kernels import Plan, State, chunk_state, empty_state, merge_states, pack_state, unpack_state
from ._sources import align_dask

__all__ = ["dask_state"]


def _block_summary(x: np.ndarray, w: np.ndarray | None, *, plan: Plan) -> np.ndarray:
    x, wv = check_chunk(x, None if w is None else w[:, 0], plan.n_features, 0)
    return pack_state(chunk_state(x, wv, plan))[None, :]


def _merge_packed(stack: np.ndarray, axis=None, keepdims=True, *, plan: Plan) -> np.ndarray:
    state = empty_state(plan)
    for row in np.atleast_2d(stack):
        state = merge_states(state, unpack_state(row, plan), plan)
    return pack_state(state)[None, :]


def _identity(x: np.ndarray, axis=None, keepdims=True) -> np.ndarray:
    return x


def dask_state(
    X, sample_weight, plan: Plan, chunk_size: int | None, split_every: int | None
) -> State:
    """Summarise a dask array ``X`` (and weights) into one :class:`State` by a tree reduction."""
    import dask.array as da

    X, w = align_dask(X, sample_weight, chunk_size)
    n_blocks, size = X.numblocks[0], plan.packed_size
    out_chunks = ((1,) * n_blocks, (size,))
    if w is None:
        block = partial(_block_summary, w=None, plan=plan)
        states = da.map_blocks(
            block, X, chunks=out_chunks, dtype=np.float64, token="momix-block-summary"
        )
    else:
        block = partial(_block_summary, plan=plan)
        states = da.map_blocks(
            block, X, w[:, None], chunks=out_chunks, dtype=np.float64, token="momix-block-summary"
        )
    merge = partial(_merge_packed, plan=plan)
    total = da.reduction(
        states,
        chunk=_identity,
        combine=merge,
        aggregate=merge,
        axis=0,
        keepdims=True,
        concatenate=True,
        split_every=split_every,
        dtype=np.float64,
        meta=np.empty((0, 0), dtype=np.float64),
        name="momix-merge",
    )
    return unpack_state(np.asarray(total.compute())[0], plan)
