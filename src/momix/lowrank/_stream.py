r"""Out-of-core and distributed input: the fit from one or two passes over chunks.

A *streaming source* is anything that is not an in-memory array: a path to a ``.npy`` file
or a :class:`numpy.memmap` (read in row slices), a dask array (reduced on its scheduler,
e.g. a ``distributed`` cluster), or a re-iterable of chunks -- a list of 2-D arrays or
``(X, w)`` tuples, or a callable returning a fresh iterator of them (multi-pass
algorithms need to read the data more than once; a one-shot generator is refused).

The fit reads the source in two passes -- one when it is fitted in the whole space --
after which its cost does not depend on N:

1. the weighted mean, covariance and column ranges (exact chunk merges of the moments of
   :math:`(y - o)/m`, :mod:`momix.moments`), which give the standardisation
   :math:`z = (y - c)/s` of :mod:`._scaling`, and a bounded uniform subsample: every row gets a key
   :math:`u_n \sim U(0, 1)` drawn in row order from the fit's random stream, and the
   ``m`` rows with the smallest keys are kept (the keys of a chunk are drawn as it is
   read and its candidate rows -- keys below the running m-th smallest -- copied out; for
   dask the indices are drawn first; the same rows for every source and chunking);
2. the signal basis :math:`B` (top eigenvectors of the standardised covariance) and the
   statistics :math:`T_{a,l} = \sum_n\omega_n\|z_n\|^{2l}(B^\top z_n)^{\otimes a}`,
   :math:`a + 2l \le L`, of the standardised rows (:mod:`._stats`, :mod:`._gram`: one Gram
   per chunk), summed over chunks. Without a subspace (:math:`B = I`) they are summed in
   pass 1 and there is no pass 2.

Chunks are summarised on a thread pool (:func:`momix.moments.map_ordered`: one thread can
read while the others multiply) and reduced in chunk order, so the result does not
depend on the number of threads; dask sources run one task per block on dask's scheduler
(a ``distributed`` cluster if one is active), and only the small summaries travel.

The objective and its gradient then use :math:`T` only. The per-sample parts of the
in-memory fit use the subsample instead: k-means initialisation (at most 5 000 rows, as
in memory) and the DGMM order weights, estimated on the subsample exactly as the in-memory
fit estimates them on the data (``nystrom``; exact kernel sums up to 3 000 rows). The
weights only scale the orders -- any positive weights give a consistent estimator -- so a
subsample estimate of :math:`S` can cost efficiency, not consistency. With
:math:`N \le 3000` the subsample is the whole data and the streaming fit equals the
in-memory one to the solver's tolerance (its inputs agree to rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from itertools import chain

import numpy as np

from .._validation import check_magnitude
from ..exceptions import DataError
from ..moments import (
    ChunkSource,
    MomentAccumulator,
    is_streaming_source,
    map_ordered,
)
from ..moments._accumulate import check_chunk
from ..moments._kernels import Plan, State, empty_state
from ..moments._sources import align_dask
from ._scaling import DataSummary, Standardizer, summary_from_moments
from ._solver import MomentData, reduce_to_subspace
from ._stats import (
    MomentStatistics,
    moment_gram,
    statistics_from_gram,
    statistics_from_moment_gram,
    statistics_gram,
    statistics_size,
    unshift_statistics,
)

__all__ = [
    "is_streaming_source",
    "ChunkSource",
    "FirstPass",
    "first_pass",
    "statistics_pass",
    "reduce_chunks",
    "StreamContext",
    "state_from_gram",
]

#: rows of random keys drawn at a time when the length is known
_KEY_BLOCK = 1 << 20


@dataclass(frozen=True)
class FirstPass:
    """Result of :func:`first_pass`: moments, column ranges, the subsample and its raw weights.

    The moments are those of :math:`u = (y - o)/m` (``origin`` o, the first row, and
    ``unit`` m, a power of two near the spread of the first rows), so that no square
    under- or overflows at any accepted magnitude; :attr:`mean`, :attr:`covariance` and
    :attr:`second` give them in the data's units (where those are representable).

    Attributes
    ----------
    count : float
        Total weight.
    n_samples : int
    origin : ndarray of shape (d,)
    unit : float
    mean_u : ndarray of shape (d,)
    covariance_u : ndarray of shape (d, d)
    low, high : ndarray of shape (d,)
        Column minima and maxima over all rows.
    sub_X, sub_w : ndarray
        The subsample rows (raw) and their raw weights.
    statistics : MomentStatistics or None
        Whole-space statistics of the *standardised* rows :math:`(y - c)/s`
        (:mod:`._scaling`; ``summary``), when asked for.
    summary : DataSummary or None
        The standardisation, None when the data cannot be standardised (constant).
    weight_unit : float
        What every weight of the pass was divided by (the source's own ``weight_unit``
        times the first chunk's largest weight, :func:`first_pass`); later passes must read
        the source with it (``replace(source, weight_unit=...)``).
    """

    count: float
    n_samples: int
    origin: np.ndarray
    unit: float
    mean_u: np.ndarray
    covariance_u: np.ndarray
    low: np.ndarray
    high: np.ndarray
    sub_X: np.ndarray
    sub_w: np.ndarray
    statistics: MomentStatistics | None = None
    summary: DataSummary | None = None
    weight_unit: float = 1.0

    @property
    def mean(self) -> np.ndarray:
        """Weighted mean in the data's units."""
        return self.origin + self.unit * self.mean_u

    @property
    def covariance(self) -> np.ndarray:
        """Weighted covariance in the data's units (0 where it underflows)."""
        return self.unit**2 * self.covariance_u

    @property
    def second(self) -> np.ndarray:
        """Weighted second moment about the origin, in the data's units."""
        return self.covariance + np.outer(self.mean, self.mean)


def _power_of_two(value: float) -> float:
    """The power of two nearest to ``value`` > 0 (1 for 0 or non-finite values)."""
    if not (np.isfinite(value) and value > 0):
        return 1.0
    return float(2.0 ** np.round(np.log2(value)))


def _unit_of(rows: np.ndarray) -> tuple[np.ndarray, float]:
    """Origin (the first row) and unit (power of two near the rows' spread about it)."""
    rows = np.asarray(rows, dtype=np.float64)
    origin = rows[0].copy()
    spread = float(np.max(np.abs(rows - origin))) if rows.shape[0] > 1 else 0.0
    if spread == 0.0:
        spread = float(np.max(np.abs(origin))) if rows.size else 0.0
    return origin, _power_of_two(spread)


def _smallest_keys(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """Sorted indices of the ``m`` smallest of ``n`` uniform keys drawn in row order.

    Keys are drawn in blocks; once ``m`` candidates are held, only keys below the current
    m-th smallest can enter, so a block costs its draw and one comparison (0.4 s of CPU
    for 1e8 rows, 1.1 s when every block was merged and partitioned).
    """
    best_k, best_i, bound = np.empty(0), np.empty(0, dtype=np.int64), np.inf
    for start in range(0, n, _KEY_BLOCK):
        k = rng.random(min(_KEY_BLOCK, n - start))
        enter = np.flatnonzero(k < bound)
        best_k = np.concatenate([best_k, k[enter]])
        best_i = np.concatenate([best_i, start + enter])
        if best_k.size > m:
            keep = np.argpartition(best_k, m - 1)[:m]
            best_k, best_i = best_k[keep], best_i[keep]
        if best_k.size == m:
            bound = best_k.max()
    return np.sort(best_i)


def _first_work(X, w, take, keys=None, *, plan, max_order, shift, unit, dtype, validate):
    r"""Per-chunk work of pass 1: moment summary, column ranges, statistics Gram if asked,
    subsample rows.

    ``take``: local indices of the chunk's subsample rows or candidates, returned with their
    ``keys`` (None for dask blocks, whose indices are final). ``validate`` for raw dask
    blocks. Values beyond :data:`momix._validation.MAX_ABS_VALUE` are refused here, as at
    the door of an in-memory fit. The summary is read off the Gram of the monomials of
    :math:`u = (X - o)/m` (``shift`` o, ``unit`` m; :func:`._stats.moment_gram`) of order
    ``max_order`` (whole-space fits: the statistics too) or 2 (subspace fits:
    :math:`[\sqrt\omega, \sqrt\omega u]`, one syrk of d + 1 columns instead of
    the two means and three chunk copies of :func:`momix.moments.chunk_state`: 0.54
    against 0.66 us per row at d = 100).
    """
    if validate:
        X, w = check_chunk(X, w, plan.n_features, 0)
    check_magnitude(X)
    rows = (X[take], w[take])
    gram = moment_gram(X, w, 2 if max_order is None else max_order, shift, dtype=dtype, unit=unit)
    state = state_from_gram(gram, X.shape[0], plan, np.zeros(plan.n_features))
    ranges = (X.min(axis=0), X.max(axis=0)) if X.shape[0] else None
    return state, None if max_order is None else gram, X.shape[0], rows, keys, ranges


def state_from_gram(gram: np.ndarray, n_rows: int, plan: Plan, shift: np.ndarray) -> State:
    r"""The chunk summary of :func:`momix.moments.chunk_state`, read off a :func:`moment_gram`.

    The columns of :math:`A` start with :math:`\sqrt{\omega_n}` and
    :math:`\sqrt{\omega_n}(y_n - c)`, so its Gram already holds :math:`W = \sum\omega_n`,
    :math:`s = \sum\omega_n z_n` and :math:`S = \sum\omega_n z_nz_n^\top`,
    :math:`z = y - c`: the chunk's mean :math:`c + s/W` and central sum
    :math:`S - ss^\top/W` cost nothing more (the separate centred product took about a
    fifth of the pass's CPU time). Chunks are merged exactly (Chan) as before. With
    :math:`c` a row of the data, :math:`\|\bar z\|^2/\sigma^2` is of order d whatever
    the offset of the data, so the centring loses at most about :math:`d\epsilon` relative
    accuracy. ``plan`` is the default plan of :class:`momix.moments.MomentAccumulator`
    (second order, no directions).
    """
    d = plan.n_features
    if plan.tensor_order != 2 or plan.directions.shape[0]:
        raise ValueError("state_from_gram gives second-order summaries without directions only")
    weight = float(gram[0, 0])
    if weight <= 0.0:
        return empty_state(plan, n_rows)
    s, S = gram[0, 1 : d + 1], gram[1 : d + 1, 1 : d + 1]
    central = S - np.outer(s, s) / weight
    central = 0.5 * (central + central.T)
    proj = np.zeros((0, plan.max_order + 1))
    return State(weight, n_rows, shift + s / weight, (central,), proj)


def _with_keys(chunks, rng: np.random.Generator, m: int):
    r"""``(X, w, take, keys)``: each chunk with its subsample candidates and their keys.

    Every row gets a key :math:`u_n \sim U(0, 1)` drawn in row order from ``rng`` (the
    stream of :func:`_smallest_keys`: the same keys for any chunking). A row is a candidate
    when its key is below the m-th smallest key drawn so far and among the m smallest of
    its chunk, so the candidates hold the m rows of smallest key overall
    (:func:`_smallest_rows` picks them). Run in the reading thread while the pool computes:
    drawing the keys no longer delays the start of the pass (0.4 s for 1e8 rows).
    """
    best, bound = np.empty(0), np.inf
    for X, w in chunks:
        k = rng.random(X.shape[0])
        take = np.flatnonzero(k < bound)
        if take.size > m:
            take = np.sort(take[np.argpartition(k[take], m - 1)[:m]])
        best = np.concatenate([best, k[take]])
        if best.size >= m:
            best = np.partition(best, m - 1)[:m]
            bound = best[m - 1]
        yield X, w, take, k[take]


def _smallest_rows(rows: list, ws: list, keys: list, m: int) -> tuple[list, list, list]:
    """The candidate rows (and weights, keys) of the ``m`` smallest keys, in row order."""
    X, w, k = np.concatenate(rows), np.concatenate(ws), np.concatenate(keys)
    if k.size > m:
        keep = np.sort(np.argpartition(k, m - 1)[:m])
        X, w, k = X[keep], w[keep], k[keep]
    return [X], [w], [k]


def _dask_first(source: ChunkSource, idx, plan, order, shift, unit, dtype) -> tuple:
    """Pass 1 on dask: one task per row block, the small results gathered in block order."""
    import dask

    X, w = align_dask(source.data, source.sample_weight, source.chunk_size)
    xb = X.to_delayed().ravel()
    wb = [None] * len(xb) if w is None else w.to_delayed().ravel()
    bounds = np.concatenate([[0], np.cumsum(X.chunks[0])])
    cuts = np.searchsorted(idx, bounds)
    takes = [idx[cuts[i] : cuts[i + 1]] - bounds[i] for i in range(len(xb))]
    work = partial(_first_work, plan=plan, max_order=order, shift=shift, unit=unit, dtype=dtype)
    task = dask.delayed(work)
    return dask.compute(
        *[task(x, v, t, validate=True) for x, v, t in zip(xb, wb, takes, strict=True)]
    )


def _statistics_order(statistics_order, max_entries, d: int) -> int | None:
    order = None if statistics_order is None else statistics_order(d)
    if order is not None and max_entries is not None and statistics_size(d, order) > max_entries:
        return None
    return order


def first_pass(
    source: ChunkSource,
    subsample: int,
    rng: np.random.Generator,
    statistics_order: Callable[[int], int | None] | None = None,
    max_entries: int | None = None,
    dtype=np.float64,
) -> FirstPass:
    """Pass 1: weighted mean, covariance, column ranges and a uniform ``subsample`` of rows.

    One sequential read: the subsample rows are copied out of each chunk as it passes
    (candidates by their keys, drawn per chunk in the reading thread, :func:`_with_keys`;
    for dask the indices are drawn first, :func:`_smallest_keys`: the same rows).
    The weights of ``(X, w)`` chunks are divided by the first chunk's largest weight
    (``FirstPass.weight_unit``): uniform weights of any magnitude become exactly one.
    The moments are those of :math:`u = (y - o)/m` (:class:`FirstPass`), with o the first row
    and m the power of two nearest to the largest deviation from it among the first rows
    read (the first chunk, or the first 1 024 rows of a dask array): scaling by a power of
    two is exact, so o and m do not change the sums beyond their exponent, and u is of
    order one whatever the magnitude of the data. ``statistics_order(d)`` (called once the
    width d is known) may return the order L of a fit in the whole space: the same pass then
    also sums the statistics :math:`T_{a,l}` (at most ``max_entries`` entries; from the Gram
    of the monomials of u, :func:`._stats.moment_gram`, which also gives the moment summary:
    no separate centred product), returned for the standardised rows :math:`(y - c)/s` of
    :mod:`._scaling`, and :func:`stream_fit_data` needs no second pass. ``dtype`` is the
    precision of the pass's products (:func:`._stats.moment_gram`). Chunks are summarised
    on a thread pool (:func:`momix.moments.map_ordered`), dask blocks as tasks on dask's
    scheduler; either way the summaries are merged in chunk order.
    """
    if source.is_dask:
        if source.data.ndim != 2:
            raise DataError(f"data must be 2-D (n_samples, n_features), got {source.data.shape}")
        d, n_rows = int(source.data.shape[1]), int(source.data.shape[0])
        if n_rows == 0:
            raise DataError("data is empty: no rows were read")
        acc = MomentAccumulator(d)
        order = _statistics_order(statistics_order, max_entries, d)
        head_rows = check_chunk(source.data[:1024].compute(), None, d, 0)[0]
        shift, unit = _unit_of(check_magnitude(head_rows))
        idx = _smallest_keys(rng, n_rows, subsample)
        parts = _dask_first(source, idx, acc.plan, order, shift, unit, dtype)
        weight_unit = source.weight_unit
    else:
        chunks = source.chunks()
        head = next(chunks, None)
        if head is None or head[0].shape[0] == 0:
            raise DataError("data is empty: no rows were read")
        d = head[0].shape[1]
        # weights inside (X, w) chunks cannot be rescaled before they are read: dividing by
        # the first chunk's largest keeps 1e-300 or 1e300 weights from under/overflowing
        top = float(np.max(head[1]))
        extra = top if top > 0 else 1.0
        weight_unit = source.weight_unit * extra
        if extra != 1.0:
            chunks = ((X, w / extra) for X, w in chain([head], chunks))
            head = next(chunks)
        acc = MomentAccumulator(d)
        order = _statistics_order(statistics_order, max_entries, d)
        shift, unit = _unit_of(check_magnitude(head[0]))  # the same origin for every source
        work = partial(
            _first_work, plan=acc.plan, max_order=order, shift=shift, unit=unit, dtype=dtype,
            validate=False,
        )  # fmt: skip
        parts = map_ordered(work, _with_keys(chain([head], chunks), rng, subsample))
    gram, rows, ws, keys, pooled, seen = None, [], [], [], 0, 0
    low, high = np.full(d, np.inf), np.full(d, -np.inf)
    for state, part, size, (X, w), k, ranges in parts:
        acc.update_state(state)
        gram = part if gram is None else gram + part
        seen += size
        if ranges is not None:
            low, high = np.minimum(low, ranges[0]), np.maximum(high, ranges[1])
        rows.append(X)
        ws.append(w)
        keys.append(k)
        pooled += X.shape[0]
        if k is not None and pooled > 4 * subsample:  # bounded memory: prune the candidates
            rows, ws, keys = _smallest_rows(rows, ws, keys, subsample)
            pooled = rows[0].shape[0]
    if seen == 0:
        raise DataError("data is empty: no rows were read")
    s = acc.result()
    if keys[0] is not None:
        rows, ws, keys = _smallest_rows(rows, ws, keys, subsample)
    sub_X, sub_w = np.concatenate(rows), np.concatenate(ws)
    summary, stats = None, None
    if np.any(low < high) and s.covariance.trace() > 0:
        summary = summary_from_moments(shift, unit, s.mean, s.covariance, low == high, seen)
        if order is not None:
            sigma = summary.standardizer.scale / unit  # the scale in units of u
            stats = statistics_from_moment_gram(gram / s.count, -s.mean / sigma, order, sigma)
    return FirstPass(
        s.count, s.n_samples, shift, unit, s.mean, s.covariance, low, high, sub_X, sub_w,
        stats, summary, weight_unit,
    )  # fmt: skip


def _chunk_statistics(X, w, basis, max_order: int, point, dtype, scale: float = 1.0) -> dict:
    r"""Unnormalised statistics Gram of one chunk (raw weights) about the ambient ``point``.

    With :math:`D = (X - p)/s` (``point`` p, ``scale`` s: the standardised rows minus a point
    of the basis' span) the rows are :math:`z = B^\top D` with the norms
    :math:`q' = \|D\|^2` (:func:`._stats.statistics_gram`; :func:`._stats.unshift_statistics`
    undoes the shift).
    """
    D = (np.asarray(X, dtype=np.float64) - point) / scale
    w = np.ones(D.shape[0]) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
    Z = D if basis is None else D @ basis
    gram = statistics_gram(Z, np.einsum("nd,nd->n", D, D), w, max_order, 4096, dtype)
    return {"gram": gram}


def _add(total: dict | None, part: dict) -> dict:
    if total is None:
        return dict(part)
    return {key: total[key] + value for key, value in part.items()}


def reduce_chunks(source: ChunkSource, fn: Callable, *args) -> dict:
    """Sum of ``fn(X_chunk, w_chunk, *args)`` over the chunks (dicts of arrays, summed).

    Dask sources run ``fn`` as one task per row block on dask's scheduler (the active
    ``distributed`` client if any); only the returned sums travel. Other sources run it on
    a thread pool (:func:`momix.moments.map_ordered`); the sums are taken in chunk order.
    """
    total = None
    if source.is_dask:
        import dask

        X, w = align_dask(source.data, source.sample_weight, source.chunk_size)
        xb = X.to_delayed().ravel()
        wb = [None] * len(xb) if w is None else w.to_delayed().ravel()
        task = dask.delayed(fn)
        for part in dask.compute(*[task(x, v, *args) for x, v in zip(xb, wb, strict=True)]):
            total = _add(total, part)
    else:
        for part in map_ordered(partial(_call, fn, args), source.chunks()):
            total = _add(total, part)
    if total is None:
        raise DataError("data is empty: no rows were read")
    return total


def _call(fn, args, X, w):
    return fn(X, w, *args)


def stream_fit_data(
    source: ChunkSource,
    first: FirstPass,
    basis: np.ndarray | None,
    max_order: int,
    max_entries: int,
    dtype=np.float64,
) -> tuple[MomentData, MomentData]:
    """Pass 2 and the fitting data of a streaming fit, in standardised coordinates.

    Returns the standardised subsample as :class:`MomentData` (start, DGMM weights) and the
    fitting data: the subsample reduced to the basis, carrying the whole-data statistics of
    :func:`statistics_pass`. Refuses statistics above ``max_entries`` entries.
    """
    std = first.summary.standardizer
    r = first.mean_u.size if basis is None else basis.shape[1]
    size = statistics_size(r, max_order)
    if size > max_entries:
        raise ValueError(
            f"streaming input needs the moment statistics of a {r}-dimensional fitting "
            f"space up to order {max_order} ({size} entries, limit {max_entries}); "
            "lower max_order or subspace"
        )
    stats = first.statistics
    if basis is not None or stats is None or stats.max_order != max_order:
        z0 = std.transform(first.origin[None, :])[0]  # the first row, standardised
        point = z0 if basis is None else basis @ (basis.T @ z0)
        stats = statistics_pass(source, basis, max_order, first.count, point, dtype, std)
    data = MomentData.build(std.transform(first.sub_X), first.sub_w)
    fit_data = data if basis is None else reduce_to_subspace(data, basis)
    return data, replace(fit_data, statistics=stats)


def statistics_pass(
    source: ChunkSource,
    basis: np.ndarray | None,
    max_order: int,
    count: float,
    point: np.ndarray,
    dtype=np.float64,
    standardizer: Standardizer | None = None,
) -> MomentStatistics:
    r"""Pass 2: :math:`T_{a,l}` of :math:`B^\top z` (ambient norms), divided by the total weight.

    ``z`` are the rows standardised by ``standardizer`` (the raw rows without one). The
    products are those of :math:`z` minus ``point`` (a point in the span of the basis, the
    projected first row), in ``dtype``; the shift is undone at the end.
    """
    if standardizer is None:
        raw_point, scale = point, 1.0
    else:
        raw_point = standardizer.center + standardizer.scale * point
        scale = standardizer.scale
    parts = reduce_chunks(source, _chunk_statistics, basis, max_order, raw_point, dtype, scale)
    gram = parts["gram"]
    c = point if basis is None else basis.T @ point
    return unshift_statistics(statistics_from_gram(gram / count, c.size, max_order), c)


@dataclass(frozen=True)
class StreamContext:
    """What a streaming fit keeps for EM: the source, the basis, the standardisation and the
    first-pass covariance of the standardised rows (their second moment: they are centred).
    """

    source: ChunkSource
    basis: np.ndarray | None
    covariance: np.ndarray
    standardizer: Standardizer

    def start_noise(self, n_components: int, rank: int) -> float:
        r""":func:`._em.start_noise` from the first-pass moments (no extra pass).

        Mean energy per dimension outside the subspace,
        :math:`(\operatorname{tr}\hat C - \operatorname{tr}B^\top\hat CB)/(d - r)`, or
        the trailing-spectrum estimate in the whole space; at least 1e-3 of the mean variance
        in the fitting coordinates.
        """
        from ._init import noise_from_covariance

        B, C = self.basis, self.covariance
        cov = C if B is None else B.T @ C @ B
        floor = 1e-3 * np.trace(cov) / cov.shape[0] + 1e-12
        if B is not None:
            extra = C.shape[0] - B.shape[1]
            return max((np.trace(C) - np.trace(B.T @ C @ B)) / extra, floor)
        try:
            return max(noise_from_covariance(C, n_components, rank), floor)
        except ValueError:
            return floor
