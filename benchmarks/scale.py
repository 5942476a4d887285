"""Out-of-core and distributed LowRankGaussianMixture: time, memory and accuracy against N.

Data: K = 3 components of rank R = 2 with isotropic noise sigma^2 = 1, written to disk as
``.npy`` in 1e6-row blocks (never held in memory). For every (N, d):

* ``floor``: a bare numpy pass over the memory-mapped file (``chunk.sum()`` per 32 MiB
  slice), the time any one-pass method must pay;
* ``fit``: ``LowRankGaussianMixture(3, rank=2, noise_variance=1.0).fit(path)`` (DGMM,
  subspace K(R+1) = 9 at d = 100, whole space at d = 10) in a fresh process, split into
  the time inside pass 1 (second moment + subsample), inside pass 2 (projected
  statistics) and the rest (init, weights, optimisation: must not grow with N); peak
  numpy heap by tracemalloc (the memory map's page cache is not heap) and the process's
  maximum resident set (VmHWM, which includes the mapped file pages it touched);
* ``dask``: the same fit on a dask array read block-wise from the file, on a
  ``distributed.LocalCluster`` with 1 and 2 worker processes (one thread each).

Accuracy of the streaming path against the per-sample (in-memory) path: errors against the
truth (components matched by permutation) over seeds at d = 100, N = 1e5.

Usage: ``nice -n 10 python benchmarks/scale.py [--sizes-d10 1e5,1e6,1e7] [--sizes-d100
1e5,1e6] [--seeds 3] [--no-dask]``. Writes benchmarks/results/scale.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from math import comb
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from momix import LowRankGaussianMixture
from momix.datasets import make_lowrank_gaussian_mixture
from momix.lowrank._stream import first_pass, statistics_pass
from momix.metrics import mixture_errors
from momix.moments import default_chunk_size

K, R, NOISE, L = 3, 2, 1.0, 4
RESULTS = Path(__file__).parent / "results"


def write_data(path: Path, n: int, d: int, seed: int = 0) -> None:
    """Sample the benchmark mixture into ``path`` in 16 MiB blocks (never all in memory)."""
    model = make_lowrank_gaussian_mixture(10, d, K, rank=R, noise_variance=NOISE, random_state=seed)
    rng = np.random.default_rng(seed + 1)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, d))
    factors = np.asarray(model.factors)  # (K, d, R)
    block = max(1, 2**21 // d)
    for start in range(0, n, block):
        m = min(block, n - start)
        z = rng.choice(K, m, p=model.weights)
        g = rng.standard_normal((m, R))
        out[start : start + m] = (
            model.means[z]
            + np.einsum("nde,ne->nd", factors[z], g)
            + np.sqrt(NOISE) * rng.standard_normal((m, d))
        )
    out.flush()
    del out


def floor_pass(path: Path) -> float:
    X = np.load(path, mmap_mode="r")
    step = default_chunk_size(X.shape[1])
    t = time.perf_counter()
    total = 0.0
    for start in range(0, X.shape[0], step):
        total += float(np.asarray(X[start : start + step]).sum())
    return time.perf_counter() - t


def pass_flops(d: int) -> dict:
    """Flops per row of the two passes (multiply + add counted as 2)."""
    r = d if d <= 2 * K * (R + 1) else K * (R + 1)
    pass1 = 2 * d * d + 4 * d  # centred second moment update and the mean
    proj = 2 * d * r + 2 * d if r < d else 2 * d
    stats = 0
    for a in range(L + 1):
        for _l in range((L - a) // 2 + 1):
            hi, lo = comb(r + (a + 1) // 2 - 1, (a + 1) // 2), comb(r + a // 2 - 1, a // 2)
            stats += 2 * hi * lo + hi
    monomials = sum(comb(r + p - 1, p) for p in range(1, (L + 1) // 2 + 1)) * 2
    return {"fit_dim": r, "pass1": pass1, "pass2": proj + stats + monomials}


def timed_fit(path: Path, d: int) -> dict:
    """One streaming fit; the time inside its two passes is measured by wrapping them."""
    import momix.lowrank._estimator as est_module

    spent = {"pass1_s": 0.0, "pass2_s": 0.0}

    def timed(fn, key):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - t

        return wrapper

    est_module.first_pass = timed(first_pass, "pass1_s")
    est_module.statistics_pass = timed(statistics_pass, "pass2_s")
    est = LowRankGaussianMixture(K, rank=R, noise_variance=NOISE, random_state=0)
    tracemalloc.start()
    t = time.perf_counter()
    est.fit(str(path))
    total = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        **spent,
        "fit_s": total,
        "lbfgs_iter": est.n_iter_,
        "after_passes_s": total - spent["pass1_s"] - spent["pass2_s"],
        "peak_heap_mib": peak / 2**20,
        "maxrss_mib": _peak_rss_mib(),
    }


def _peak_rss_mib() -> float:
    """VmHWM of this process (per address space: unlike ru_maxrss, not inherited at spawn)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _block(path: str, start: int, stop: int) -> np.ndarray:
    return np.asarray(np.load(path, mmap_mode="r")[start:stop])


def dask_fit(path: Path, workers: int) -> float:
    import dask
    import dask.array as da
    import distributed

    n, d = np.load(path, mmap_mode="r").shape
    step = default_chunk_size(d)
    blocks = [
        da.from_delayed(
            dask.delayed(_block)(str(path), s, min(s + step, n)),
            shape=(min(s + step, n) - s, d),
            dtype=np.float64,
        )
        for s in range(0, n, step)
    ]
    X = da.concatenate(blocks)
    with (
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        t = time.perf_counter()
        LowRankGaussianMixture(K, rank=R, noise_variance=NOISE, random_state=0).fit(X)
        return time.perf_counter() - t


def accuracy(seeds: int, n: int = 100_000, d: int = 100) -> list[dict]:
    rows = []
    for seed in range(seeds):
        data = make_lowrank_gaussian_mixture(
            n, d, K, rank=R, noise_variance=NOISE, random_state=seed
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "x.npy"
            np.save(path, data.X)
            for name, source in (("in-memory (per-sample)", data.X), ("streaming (.npy)", path)):
                t = time.perf_counter()
                m = LowRankGaussianMixture(K, rank=R, noise_variance=NOISE, random_state=0)
                m.fit(source if name.startswith("in") else str(source))
                e = mixture_errors(
                    data.weights, data.means, data.covariances,
                    m.weights_, m.means_, m.covariances_, match="covariances",
                )  # fmt: skip
                rows.append(
                    {"seed": seed, "path": name, "time_s": time.perf_counter() - t,
                     "weights": e.weights, "means": e.means, "covariances": e.covariances}
                )  # fmt: skip
    return rows


def _sizes(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes-d10", default="1e5,1e6,1e7")
    p.add_argument("--sizes-d100", default="1e5,1e6")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--dask-max-rows", type=float, default=1e6)
    p.add_argument("--no-dask", action="store_true")
    p.add_argument("--repeats", type=int, default=3, help="fits per size (median reported)")
    p.add_argument("--repeat-max-rows", type=float, default=1e6)
    p.add_argument("--dir", default=None, help="folder for the data files (default: a temp dir)")
    args = p.parse_args()
    out = {"machine": f"{os.cpu_count()} cores (shared), 24 GiB", "K": K, "R": R,
           "noise": NOISE, "max_order": L, "scale": [], "accuracy": []}  # fmt: skip
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for d, sizes in ((10, _sizes(args.sizes_d10)), (100, _sizes(args.sizes_d100))):
            for n in sizes:
                path = Path(tmp) / f"x_{n}_{d}.npy"
                write_data(path, n, d)
                row = {"n": n, "d": d, "file_mib": path.stat().st_size / 2**20, **pass_flops(d)}
                row["floor_s"] = min(floor_pass(path) for _ in range(2))
                runs = []
                for _ in range(args.repeats if n <= args.repeat_max_rows else 1):
                    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                        runs.append(pool.submit(timed_fit, path, d).result())  # own VmHWM
                row["repeats"] = len(runs)
                row.update({k: float(np.median([r[k] for r in runs])) for k in runs[0]})
                if not args.no_dask and n <= args.dask_max_rows:
                    row["dask1_s"] = dask_fit(path, 1)
                    row["dask2_s"] = dask_fit(path, 2)
                print(json.dumps(row), flush=True)
                out["scale"].append(row)
                path.unlink()
    out["accuracy"] = accuracy(args.seeds)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(out, indent=2))
    (RESULTS / "scale.md").write_text(to_markdown(out))
    print(to_markdown(out))


def to_markdown(out: dict) -> str:
    lines = [
        f"Machine: {out['machine']}. K = {out['K']}, R = {out['R']}, sigma^2 = {out['noise']}, "
        f"L = {out['max_order']}, DGMM, data in a .npy file (page cache warm after writing); "
        "medians over the repeats column, single dask runs.",
        "",
        "| N | d | file MiB | floor s | pass 1 s | pass 2 s | fit s | fit / floor | after passes s "
        "| L-BFGS its | peak heap MiB | max RSS MiB | dask 1 worker s | dask 2 workers s "
        "| flops/row p1 + p2 | repeats |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["scale"]:
        lines.append(
            f"| {r['n']:.0e} | {r['d']} | {r['file_mib']:.0f} | {r['floor_s']:.2f} "
            f"| {r['pass1_s']:.2f} | {r['pass2_s']:.2f} | {r['fit_s']:.2f} "
            f"| {r['fit_s'] / r['floor_s']:.1f} | {r['after_passes_s']:.2f} "
            f"| {r['lbfgs_iter']:.0f} "
            f"| {r['peak_heap_mib']:.0f} | {r['maxrss_mib']:.0f} "
            f"| {r.get('dask1_s', float('nan')):.2f} | {r.get('dask2_s', float('nan')):.2f} "
            f"| {r['pass1']} + {r['pass2']} | {r.get('repeats', 1)} |"
        )
    lines += ["", "Accuracy at d = 100, N = 1e5 (relative errors against the truth, matched):", "",
              "| seed | path | weights | means | covariances | time s |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for r in out["accuracy"]:
        lines.append(
            f"| {r['seed']} | {r['path']} | {r['weights']:.4f} | {r['means']:.4f} "
            f"| {r['covariances']:.4f} | {r['time_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
