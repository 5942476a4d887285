"""Row blocks: every pass over in-memory samples runs over blocks of :data:`ROW_BLOCK` rows.

Per-sample intermediates (projections, scalar moments, centred rows) then take memory
proportional to one block, not to the data: a float32 array is upcast one block at a time,
and sums over samples are accumulated block by block.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["ROW_BLOCK", "row_slices"]

#: rows per block of the in-memory passes (a block of 10 float64 columns is 2.5 MiB)
ROW_BLOCK = 1 << 15


def row_slices(n: int, size: int = ROW_BLOCK) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` rows covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
