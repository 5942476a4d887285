"""Cost per row of the streaming passes' kernels, in CPU time (robust to a busy machine).

On in-memory data (N = 1e6, d = 10, the whole space, L = 4):

* ``reference``: the statistics T_{a,l} as separate products per (a, l) of the distinct
  monomials (momix before the one-syrk kernel; kept here as the peer);
* ``gram``: :func:`momix.lowrank._stats.statistics_gram`, one symmetric product of the
  monomial matrix with the norm column (67 columns at r = 10; the subspace pass);
* ``moment_gram`` / ``moment_gram32``: :func:`momix.lowrank._stats.moment_gram`, the
  whole-space Gram of the shifted monomials (66 columns), double / single precision;
* ``moments``: :func:`momix.moments.chunk_state` (mean and centred second moment; the
  whole-space pass no longer computes it -- it reads them off the Gram);
* ``first_pass_old``: the previous whole-space pass (chunk_state + statistics_gram per
  chunk on the same thread pool) against ``first_pass`` (float64) and ``first_pass32``,
  with 1 and 2 threads: wall and CPU time per row;
* ``lbfgs_step``: one L-BFGS-B iteration (maxcor 50) on a 100-parameter quadratic with
  OpenBLAS threads and with BLAS on one thread (the solves after the passes now use one).

Single-threaded BLAS for the kernels. Appends to results/scale_runs.jsonl (name
``kernels``).
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

from momix.lowrank._stats import moment_gram, statistics_gram
from momix.lowrank._stream import ChunkSource, first_pass
from momix.moments import MomentAccumulator, chunk_state, map_ordered
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


def old_first_pass(X: np.ndarray, chunk: int = 1 << 22) -> None:
    """The previous whole-space pass: centred moments and the 67-column Gram per chunk."""
    acc, gram = MomentAccumulator(X.shape[1]), None

    def work(Xc, w):
        sq = np.einsum("nd,nd->n", Xc, Xc)
        return chunk_state(Xc, w, acc.plan), statistics_gram(Xc, sq, w, 4)

    items = ((X[s : s + chunk // X.shape[1]], np.ones(len(X[s : s + chunk // X.shape[1]])))
             for s in range(0, len(X), chunk // X.shape[1]))  # fmt: skip
    for state, part in map_ordered(work, items):
        acc.update_state(state)
        gram = part if gram is None else gram + part


def lbfgs_step_ms(threads: int | None) -> float:
    """Wall ms per L-BFGS-B iteration on a 100-parameter quadratic (maxcor 50), median."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    A = rng.normal(size=(100, 100))
    A = A @ A.T / 100 + np.eye(100)
    opts = {"maxcor": 50, "maxiter": 300, "ftol": 1e-15, "gtol": 1e-15}
    times = []
    for _ in range(7):  # the cost of waking BLAS threads varies a lot: median of 7 solves
        with threadpool_limits(limits=threads, user_api="blas"):
            t = time.perf_counter()
            res = minimize(lambda x: (0.5 * x @ A @ x, A @ x), np.ones(100), jac=True,
                           method="L-BFGS-B", options=opts)  # fmt: skip
            times.append((time.perf_counter() - t) / max(res.nit, 1) * 1e3)
    return float(np.median(times))


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
            ("moment_gram", moment_gram, (X, w, 4, X[0])),
            ("moment_gram32", lambda *a: moment_gram(*a, dtype=np.float32), (X, w, 4, X[0])),
            ("moments", chunk_state, (X, w, plan)),
        ):
            row[f"{name}_us_per_row"] = min(_cpu(fn, *args) for _ in range(3)) / n * 1e6
    for threads in ("1", "2"):
        os.environ["MOMIX_NUM_THREADS"] = threads
        for name, run in (
            ("first_pass_old", lambda: old_first_pass(X)),
            ("first_pass", lambda: first_pass(ChunkSource.wrap(X), 5000,
                                              np.random.default_rng(0), lambda _: 4, 10**6)),
            ("first_pass32", lambda: first_pass(ChunkSource.wrap(X), 5000,
                                                np.random.default_rng(0), lambda _: 4, 10**6,
                                                np.float32)),
        ):  # fmt: skip
            best = (np.inf, np.inf)
            for _ in range(2):
                t, cpu = time.perf_counter(), time.process_time()
                run()
                best = min(best, (time.process_time() - cpu, time.perf_counter() - t))
            row[f"{name}_t{threads}_cpu_us_per_row"] = best[0] / n * 1e6
            row[f"{name}_t{threads}_wall_us_per_row"] = best[1] / n * 1e6
    row["lbfgs_step_ms_blas_threads"] = lbfgs_step_ms(None)
    row["lbfgs_step_ms_blas_1"] = lbfgs_step_ms(1)
    row["load_end"] = os.getloadavg()[0]
    with RUNS.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
