"""One chunk at a time from any data source: arrays, memory maps, chunk iterables, dask.

:func:`iter_chunks` is the single entry point other momix modules use to stream data (the
moment pass here, streaming E-steps in the estimators). It never holds more than one chunk
of float64 data in memory: numpy arrays and memory maps are sliced by rows and converted
per slice, dask arrays are computed block by block, iterables are consumed lazily.

Recognised sources, in this order:

* ``str`` or :class:`os.PathLike` — a ``.npy`` file, opened with ``mmap_mode="r"``;
* a dask array (``dask`` is imported only when one is passed);
* any object with a ``shape`` attribute or ``__array__`` (numpy arrays and memory maps,
  pandas frames, torch tensors); a list or tuple whose first item is not a 2-D chunk or an
  ``(X, w)`` tuple is also taken as one array;
* any other iterable, whose items are 2-D chunks or ``(X, w)`` tuples. Weights of an
  iterable travel inside its tuples; ``sample_weight`` must then be ``None``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..exceptions import DataError
from ._accumulate import check_chunk

__all__ = [
    "iter_chunks",
    "is_dask_array",
    "default_chunk_size",
    "is_streaming_source",
    "ChunkSource",
]

#: float64 values per chunk when ``chunk_size`` is not given (32 MiB)
_CHUNK_FLOATS = 1 << 22


def default_chunk_size(n_features: int) -> int:
    """Rows per chunk so that one float64 chunk holds about 32 MiB."""
    return max(1, _CHUNK_FLOATS // max(1, int(n_features)))


def is_dask_array(data) -> bool:
    """True for a ``dask.array.Array``, checked without importing dask."""
    return type(data).__module__.startswith("dask.") and hasattr(data, "chunks")


def _check_chunk_size(chunk_size) -> int | None:
    if chunk_size is None:
        return None
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    return int(chunk_size)


def _is_pair(item) -> bool:
    return isinstance(item, tuple) and len(item) == 2


def _is_array_like(data) -> bool:
    if hasattr(data, "shape") or hasattr(data, "__array__"):
        return True
    if isinstance(data, (list, tuple)):
        return len(data) == 0 or not (_is_pair(data[0]) or np.ndim(data[0]) == 2)
    return False


def _array_chunks(X, sample_weight, chunk_size) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)  # pandas, torch, nested lists: already in memory
    if X.ndim != 2:
        hint = " (use X.reshape(-1, 1) for one feature)" if X.ndim == 1 else ""
        raise DataError(f"data must be 2-D of shape (n_samples, n_features), got {X.shape}{hint}")
    n = X.shape[0]
    if sample_weight is not None and np.ndim(sample_weight) and len(sample_weight) != n:
        raise DataError(f"sample_weight has {len(sample_weight)} entries for {n} rows")
    step = chunk_size or default_chunk_size(X.shape[1])
    for index, start in enumerate(range(0, n, step)):
        w = sample_weight
        if w is not None and np.ndim(w):
            w = w[start : start + step]
        yield check_chunk(X[start : start + step], w, X.shape[1], index)


def _iterable_chunks(
    data: Iterable, sample_weight, chunk_size
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if sample_weight is not None:
        raise ValueError(
            "for an iterable of chunks, pass weights inside it as (X, w) tuples, "
            "not as sample_weight"
        )
    n_features, index = None, 0
    for item in data:
        X, w = item if _is_pair(item) else (item, None)
        X, w = check_chunk(X, w, n_features, index)
        n_features = X.shape[1]
        step = chunk_size or max(1, X.shape[0])
        for start in range(0, X.shape[0], step):
            yield X[start : start + step], w[start : start + step]
        index += 1


def align_dask(X, sample_weight, chunk_size):
    """Rechunk a dask ``X`` to whole rows and give ``sample_weight`` the same row chunks.

    Returns
    -------
    X : dask array of float64 with one column chunk
    w : dask array of shape (n_samples,) or None
    """
    import dask.array as da

    if X.ndim != 2:
        raise DataError(f"data must be 2-D of shape (n_samples, n_features), got {X.shape}")
    if any(np.isnan(s) for s in X.shape):
        raise DataError(
            "the dask array has unknown chunk sizes; call X.compute_chunk_sizes() first"
        )
    X = X.astype(np.float64).rechunk({0: chunk_size or X.chunks[0], 1: -1})
    if sample_weight is None:
        return X, None
    w = (
        sample_weight
        if is_dask_array(sample_weight)
        else np.asarray(sample_weight, dtype=np.float64)
    )
    if w.ndim != 1 or w.shape[0] != X.shape[0]:
        raise DataError(f"sample_weight has shape {w.shape}; expected ({X.shape[0]},)")
    w = (
        w.astype(np.float64).rechunk((X.chunks[0],))
        if is_dask_array(w)
        else da.from_array(w, chunks=(X.chunks[0],))
    )
    return X, w


def _dask_chunks(X, sample_weight, chunk_size) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    import dask

    X, w = align_dask(X, sample_weight, chunk_size)
    for index in range(X.numblocks[0]):
        block = X.blocks[index]
        if w is None:
            (xb,), wb = dask.compute(block), None
        else:
            xb, wb = dask.compute(block, w.blocks[index])
        yield check_chunk(xb, wb, X.shape[1], index)


def iter_chunks(
    data, chunk_size: int | None = None, sample_weight=None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield validated ``(X_chunk, w_chunk)`` pairs from any supported data source.

    Parameters
    ----------
    data : array-like of shape (n_samples, n_features), path, dask array or iterable
        An array or memory map, a path to a ``.npy`` file, a dask array, or an iterable of
        chunks; see the module docstring for how the source is recognised.
    chunk_size : int, optional
        Rows per chunk. Arrays and memory maps default to about 32 MiB per chunk; dask arrays
        keep their row chunks; iterables keep their own chunks, and ``chunk_size`` only
        splits larger ones.
    sample_weight : array-like of shape (n_samples,), optional
        Weights for an array source (for dask, a dask or numpy array; it is rechunked to
        ``data``'s row chunks). ``None`` means unit weights.

    Yields
    ------
    X_chunk : ndarray of shape (n_rows, n_features), float64, finite
    w_chunk : ndarray of shape (n_rows,), float64, finite and non-negative

    Raises
    ------
    DataError
        On a non-numeric, non-2-D or non-finite chunk, a width change between chunks, or
        weights of the wrong length or sign.
    """
    chunk_size = _check_chunk_size(chunk_size)
    if isinstance(data, (str, os.PathLike)):
        data = np.load(os.fspath(data), mmap_mode="r")
    if is_dask_array(data):
        yield from _dask_chunks(data, sample_weight, chunk_size)
    elif _is_array_like(data):
        yield from _array_chunks(data, sample_weight, chunk_size)
    elif isinstance(data, Iterable):
        yield from _iterable_chunks(data, sample_weight, chunk_size)
    else:
        raise DataError(
            f"cannot read data of type {type(data).__name__}; pass an array, a .npy path or chunks"
        )


def is_streaming_source(X) -> bool:
    """True for a ``.npy`` path, a memory map, a dask array, a callable or a chunk iterable."""
    if isinstance(X, (str, os.PathLike, np.memmap)) or is_dask_array(X) or callable(X):
        return True
    if isinstance(X, (list, tuple)):
        first = X[0] if len(X) else None
        pair = isinstance(first, tuple) and len(first) == 2 and np.ndim(first[0]) == 2
        return pair or np.ndim(first) == 2
    return not hasattr(X, "shape") and not hasattr(X, "__array__") and isinstance(X, Iterable)


@dataclass(frozen=True)
class ChunkSource:
    """A re-readable data source.

    Attributes
    ----------
    data : path, memory map, dask array, list of chunks or callable
    sample_weight : array-like of shape (n_samples,) or None
        For arrays and dask arrays; iterables carry weights in ``(X, w)`` tuples.
    chunk_size : int or None
    weight_unit : float
        Every chunk's weights are divided by it as :meth:`chunks` yields them (1: none).
        Weights travelling inside ``(X, w)`` tuples cannot be rescaled before they are
        read; dividing by the first chunk's largest weight keeps weights of any magnitude
        (``1e-300``, ``1e300``) from under- or overflowing in products, and makes uniform
        weights exactly one.
    """

    data: object
    sample_weight: object = None
    chunk_size: int | None = None
    weight_unit: float = 1.0

    @classmethod
    def wrap(cls, X, sample_weight=None, chunk_size=None) -> ChunkSource:
        if isinstance(X, (str, os.PathLike)):
            try:
                X = np.load(os.fspath(X), mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise DataError(f"cannot read {os.fspath(X)!r} as a .npy file: {exc}") from None
        elif not (callable(X) or is_dask_array(X) or isinstance(X, (np.ndarray, list, tuple))):
            if iter(X) is X:
                raise ValueError(
                    "the fit reads the data more than once: pass a list of chunks or a "
                    "callable returning a fresh iterator, not a one-shot iterator/generator"
                )
        return cls(X, sample_weight, chunk_size)

    @property
    def is_dask(self) -> bool:
        return is_dask_array(self.data)

    @property
    def n_rows(self) -> int | None:
        """Rows when known without reading (arrays, memory maps, dask arrays)."""
        if isinstance(self.data, np.ndarray) or self.is_dask:
            return int(self.data.shape[0])
        return None

    def chunks(self):
        """A fresh iterator of validated ``(X_chunk, w_chunk)``, weights over ``weight_unit``."""
        data = self.data() if callable(self.data) else self.data
        chunks = iter_chunks(data, self.chunk_size, self.sample_weight)
        if self.weight_unit == 1.0:
            return chunks
        return ((X, w / self.weight_unit) for X, w in chunks)
