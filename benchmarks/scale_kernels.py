"""Cost per row of the streaming passes' kernels, in CPU time (robust to a busy machine).

On in-memory data (N = 1e6, d = 10, the whole space, L = 4):

* ``reference``: the statistics T_{a,l} as separate products per (a, l) of the distinct
  monomials (momix before the one-syrk kernel; kept here as the peer);
* ``gram``: :func:`momix.lowrank._stats.statistics_gram`, one symmetric product of the
  monomial matrix;
* ``moments``: :func:`momix.moments.chunk_state` (mean and centred second moment);
* ``first_pass``: the whole first pass of a whole-space fit (moments, statistics,
  subsample) with 1 and 2 threads: wall and CPU time.

Single-threaded BLAS throughout. Appends to results/scale_runs.jsonl (name ``kernels``).
Usage: ``nice -n 10 python benchmarks/scale_kernels.py``.
"""

from __future__ import annotations

import json
import os
import time
from itertools import combinations_with_replacement
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from momix.lowrank._stats import statistics_gram
from momix.lowrank._stream import ChunkSource, first_pass
from momix.moments import chunk_state
from momix.moments._accumulate import make_plan

RUNS = Path(__file__).parent / "results" / "scale_runs.jsonl"


def reference_sums(Y, sqnorm, omega, L=4, chunk_size=16384) -> dict:
    """The previous kernel: per (a, l), (monomials_hi * c)^T @ monomials_lo, c = w q^l."""
    r = Y.shape[1]
    keys = [(a, l) for a in range(L + 1) for l in range((L - a) // 2 + 1)]
    acc: dict = {}
    for start in range(0, Y.shape[0], chunk_size):
        Yc, wc, nc = (v[start : start + chunk_size] for v in (Y, omega, sqnorm))
        powers = {0: np.ones((Yc.shape[0], 1))}
        for p in range(1, (L + 1) // 2 + 1):
            combos = list(combinations_with_replacement(range(r), p))
            cols = np.ones((Yc.shape[0], len(combos)))
            for i, c in enumerate(combos):
                for axis in c:
                    cols[:, i] *= Yc[:, axis]
            powers[p] = cols
        for a, l in keys:
            c = wc * nc**l
            block = (powers[(a + 1) // 2] * c[:, None]).T @ powers[a // 2]
            acc[(a, l)] = acc.get((a, l), 0.0) + block
    return acc


def _cpu(fn, *args) -> float:
    t = time.process_time()
    fn(*args)
    return time.process_time() - t


def main() -> None:
    n, d = 1_000_000, 10
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)) + 0.5
    w, sq = np.ones(n), np.einsum("nd,nd->n", X, X)
    plan = make_plan(d, 2, None, False, 1 << 28)
    row = {"key": f"kernels:{time.strftime('%H%M%S')}", "name": "kernels", "n": n, "d": d,
           "load_start": os.getloadavg()[0]}  # fmt: skip
    with threadpool_limits(limits=1, user_api="blas"):
        for name, fn, args in (
            ("reference", reference_sums, (X, sq, w)),
            ("gram", statistics_gram, (X, sq, w, 4)),
            ("moments", chunk_state, (X, w, plan)),
        ):
            row[f"{name}_us_per_row"] = min(_cpu(fn, *args) for _ in range(2)) / n * 1e6
    for threads in ("1", "2"):
        os.environ["MOMIX_NUM_THREADS"] = threads
        source = ChunkSource.wrap(X)
        t, cpu = time.perf_counter(), time.process_time()
        first_pass(source, 5000, np.random.default_rng(0), lambda _: 4, 10**6)
        row[f"first_pass_t{threads}_wall_s"] = time.perf_counter() - t
        row[f"first_pass_t{threads}_cpu_s"] = time.process_time() - cpu
    row["load_end"] = os.getloadavg()[0]
    with RUNS.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
