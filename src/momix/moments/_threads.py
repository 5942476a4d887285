r"""Chunks summarised on a pool of threads, results in chunk order.

A pass over a large file is either read-bound (cold file) or compute-bound (the moment
products of a cached file). Both are helped by threads: numpy releases the GIL inside
ufunc loops, copies and BLAS calls, so one thread can fault the next chunk's pages in from
disk while the others multiply. Results come back in the order of the chunks and the
caller reduces them in that order, so the answer does not depend on the number of
threads or on their timing (bit for bit).

BLAS is limited to one thread per call during the pass (``threadpoolctl``), also with a
single thread: the parallelism is over chunks, and the products of a pass are thin
(outputs of at most a few thousand entries), where a multi-threaded BLAS only adds
synchronisation -- on a busy machine its spinning threads made a one-thread pass 6x
slower in CPU time.

The number of threads is the number of CPUs this process may run on, or the environment
variable ``MOMIX_NUM_THREADS`` when set (``1`` gives a plain sequential loop).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

__all__ = ["n_threads", "map_ordered"]


def n_threads() -> int:
    """Threads for a pass: ``MOMIX_NUM_THREADS`` if set, else the usable CPUs."""
    value = os.environ.get("MOMIX_NUM_THREADS", "").strip()
    if value:
        n = int(value) if value.isdigit() else 0
        if n < 1:
            raise ValueError(f"MOMIX_NUM_THREADS must be a positive integer, got {value!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def map_ordered(
    fn: Callable, items: Iterable[tuple], threads: int | None = None, ahead: int | None = None
) -> Iterator:
    """Yield ``fn(*item)`` for every item, computed on ``threads`` threads, in item order.

    At most ``ahead`` items (default ``2 * threads``) are in flight, which bounds the
    memory held by chunks waiting for a thread. Items are drawn from ``items`` in the
    calling thread (for a memory-mapped file that is where its pages are first touched).
    """
    from threadpoolctl import threadpool_limits

    threads = n_threads() if threads is None else threads
    ahead = 2 * threads if ahead is None else max(1, ahead)
    with threadpool_limits(limits=1, user_api="blas"):
        if threads <= 1:
            for item in items:
                yield fn(*item)
            return
        with ThreadPoolExecutor(threads) as pool:
            pending: deque = deque()
            for item in items:
                pending.append(pool.submit(fn, *item))
                if len(pending) >= ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
