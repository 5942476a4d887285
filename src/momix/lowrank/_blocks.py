"""Row blocks: every pass over in-memory samples runs over blocks of about
:data:`BLOCK_FLOATS` values (rows times columns).

Per-sample intermediates (projections, scalar moments, centred rows) then take memory
proportional to one block, not to the data: a float32 array is upcast one block at a time,
and sums over samples are accumulated block by block.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["BLOCK_FLOATS", "row_slices"]

#: values per block of the in-memory passes: 2 MiB of float64 (8 192 rows of up to 32
#: columns, 2 621 of 100), so the few block-sized temporaries of a pass stay far below the
#: data
BLOCK_FLOATS = 1 << 18


def row_slices(n: int, width: int = 1) -> Iterator[slice]:
    """Consecutive slices covering ``range(n)``: :data:`BLOCK_FLOATS` / max(``width``, 32) rows.

    ``width`` is the number of columns of the rows; narrow rows still get at most 8 192 rows
    per block, since the per-row temporaries of a pass (projections, scalar moments of every
    order and component) are wider than the rows themselves. At least 256 rows.
    """
    size = max(256, BLOCK_FLOATS // max(int(width), 32))
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
