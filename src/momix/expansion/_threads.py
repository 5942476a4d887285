"""One BLAS thread around the expansion's kernels (many small matrix products)."""

from __future__ import annotations

from functools import lru_cache

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    """The BLAS libraries, discovered once (``threadpool_limits`` rediscovers them on every
    call, about 2 ms each: a tenth of a small fit)."""
    return ThreadpoolController()


def one_blas_thread():
    """Context limiting BLAS to one thread (the kernels are many small products)."""
    return _controller().limit(limits=1, user_api="blas")
