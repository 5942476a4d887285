"""Out-of-core and distributed LowRankGaussianMixture: time, memory and accuracy against N.

Data: K = 3 components of rank R = 2 with isotropic noise sigma^2 = 1, written to disk as
``.npy`` in 16 MiB blocks (never held in memory) and kept in ``--dir``. Every measurement
runs in a fresh process placed in a memory cgroup limited to ``--mem-mib`` (less than the
largest files; the limit counts page cache, so the file cannot stay cached), and the
file's pages are dropped from the page cache (``posix_fadvise(DONTNEED)``) before it
starts: every pass is a *cold* read from disk. For every (N, d):

* ``floor``: the bare numpy pass over the memory-mapped file (``chunk.sum()`` per 32 MiB
  slice), the time any one-pass method must pay;
* ``fit``: ``LowRankGaussianMixture(3, rank=2, noise_variance=1.0).fit(path)`` (DGMM, the
  whole space at d = 10 -- one pass; subspace K(R+1) = 9 at d = 100 -- two passes), with
  ``MOMIX_NUM_THREADS`` = 1 and 2: time inside pass 1, inside pass 2 and after them (init,
  weights, optimisation: must not grow with N), process CPU time, peak resident set
  (VmHWM) and the cgroup's peak (page cache included); ``fit32``: the same with
  ``statistics_dtype='float32'`` (single-precision products); ``fitmem``: the 2-thread fit
  again with the numpy heap traced (tracemalloc) inside the passes, for its peak only
  (tracing slows the pass by 10-20 %, so the timed fits run untraced);
* ``dask``: the same fit on a dask array read block-wise from the file, on a
  ``distributed.LocalCluster`` with 1 and 2 worker processes (one thread each).

Each finished measurement is appended to ``results/scale_runs.jsonl`` with the load
average, wall and CPU time; a rerun skips what is there (resumable). Accuracy of the
streaming path against the per-sample path: d = 100, N = 1e5, over seeds.

Usage: ``nice -n 10 python benchmarks/scale.py --dir /work/data [--sizes-d10
1e5,1e6,1e7,1e8] [--sizes-d100 1e5,1e6,1e7] [--mem-mib 1024] [--report-only]
[--only floor,fit_t2,fit32_t2,fitmem_t2] [--tag @quiet] [--no-accuracy]``.
Writes benchmarks/results/scale.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from math import comb
from pathlib import Path

import numpy as np

K, R, NOISE, L = 3, 2, 1.0, 4
RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "scale_runs.jsonl"
CHUNK_FLOATS = 1 << 22  # momix.moments.default_chunk_size: 32 MiB per chunk


def write_data(path: Path, n: int, d: int, seed: int = 0) -> None:
    """Sample the benchmark mixture into ``path`` in 16 MiB blocks (never all in memory)."""
    from momix.datasets import make_lowrank_gaussian_mixture

    model = make_lowrank_gaussian_mixture(10, d, K, rank=R, noise_variance=NOISE, random_state=seed)
    rng = np.random.default_rng(seed + 1)
    part = path.with_suffix(".partial.npy")
    out = np.lib.format.open_memmap(part, mode="w+", dtype=np.float64, shape=(n, d))
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
    os.replace(part, path)


def pass_flops(d: int) -> dict:
    """Flops per row of the passes (a multiply-add counts 2; a syrk m(m+1) per row).

    Whole space (d <= 2K(R+1), one pass): the shift d, the monomial matrix of m = 1 + d +
    d(d+1)/2 columns (no norm column) and its Gram from three products (momix.lowrank._gram:
    with u = ceil(d/2), v = d - u and h = d + u(u+1)/2 + v(v+1)/2, the sums of the d + 1
    columns of degree <= 1, the syrk of the h columns [U, V, UU, VV], h(h+1) flops, and the
    product of the uv cross products with the h - d squares: 3 162 flops at d = 10 instead
    of m(m+1) = 4 422); mean and covariance are read off the same Gram. Subspace (two
    passes): pass 1 the shift and the syrk of the d + 1 columns [sqrt(w), sqrt(w)(x - c)];
    pass 2 the shift d, norms 2d, projection 2dr, the monomial matrix (m = 2 + r + r(r+1)/2
    at L = 4, with the norm column) and its Gram from the same three products, the norm row
    q in the syrk (h = r + 1 + u(u+1)/2 + v(v+1)/2 columns [U, V, q, UU, VV]) and in the
    right factor of the cross product (2 322 flops at r = 9 instead of m(m+1) = 3 192).
    """
    r = d if d <= 2 * K * (R + 1) else K * (R + 1)
    if r == d:
        m = 1 + d + comb(d + 1, 2)
        u = (d + 1) // 2
        h = d + comb(u + 1, 2) + comb(d - u + 1, 2)
        gram = 2 * (d + 1) + h * (h + 1) + 2 * (h - d) * u * (d - u)
        return {"fit_dim": r, "passes": 1, "flops_pass1": d + m + gram, "flops_stats": 0}
    m = 2 + r + comb(r + 1, 2)
    pass1 = d + (d + 1) + (d + 1) * (d + 2)
    u = (r + 1) // 2
    h = r + 1 + comb(u + 1, 2) + comb(r - u + 1, 2)
    gram = 2 * (r + 2) + h * (h + 1) + 2 * (h - r) * u * (r - u)
    stats = d + 2 * d + 2 * d * r + m + gram
    return {"fit_dim": r, "passes": 2, "flops_pass1": pass1, "flops_stats": stats}


# ----------------------------------------------------------------- cgroup and cache


def _own_memory_cgroup() -> tuple[Path, str] | None:
    """(directory, version) of this process's memory cgroup, if writable."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, rel = line.split(":", 2)
        if "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / rel.lstrip("/")
            if (base / "memory.limit_in_bytes").exists():
                return base, "v1"
        if controllers == "" and (Path("/sys/fs/cgroup") / rel.lstrip("/") / "memory.max").exists():
            return Path("/sys/fs/cgroup") / rel.lstrip("/"), "v2"
    return None


def make_cgroup(limit_mib: int) -> tuple[Path, str]:
    """A child memory cgroup of our own limited to ``limit_mib`` (page cache counted)."""
    found = _own_memory_cgroup()
    if found is None:
        raise RuntimeError("no writable memory cgroup: cannot limit the measured processes")
    base, version = found
    group = base / f"momix_scale_{os.getpid()}"
    group.mkdir(exist_ok=True)
    limit = str(limit_mib * 2**20)
    (group / ("memory.limit_in_bytes" if version == "v1" else "memory.max")).write_text(limit)
    return group, version


def _remove_cgroup(group: Path) -> None:
    """Remove our cgroup once its last process (e.g. a dask worker) has exited."""
    for _ in range(60):
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(1)
    print(f"could not remove {group}; remove it with rmdir", file=sys.stderr)


def cgroup_peak_mib(group: Path, version: str) -> float:
    name = "memory.max_usage_in_bytes" if version == "v1" else "memory.peak"
    try:
        return int((group / name).read_text()) / 2**20
    except OSError:
        return float("nan")


def reset_peak(group: Path, version: str) -> None:
    if version == "v1":
        (group / "memory.max_usage_in_bytes").write_text("0")


def drop_cache(path: Path) -> None:
    """Evict the file's pages from the page cache (only this file; needs no privileges)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# ------------------------------------------------------------- measured processes


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def floor_pass(path: str) -> dict:
    X = np.load(path, mmap_mode="r")
    step = max(1, CHUNK_FLOATS // X.shape[1])
    total, t, cpu = 0.0, time.perf_counter(), time.process_time()
    for start in range(0, X.shape[0], step):
        total += float(np.asarray(X[start : start + step]).sum())
    return {"floor_s": time.perf_counter() - t, "floor_cpu_s": time.process_time() - cpu,
            "checksum": total}  # fmt: skip


def timed_fit(path: str, dtype: str = "float64", trace_heap: bool = False) -> dict:
    """One streaming fit; the time inside its passes is measured by wrapping them.

    ``trace_heap``: trace the numpy heap (tracemalloc) inside the passes, where it peaks
    (chunks in flight), for the ``fitmem`` run only. Its per-allocation hooks slow what they
    trace: the ~400 small-array L-BFGS-B iterations after the passes several times (1e6 x
    10: 3.6-3.9 s of CPU with tracing, 0.6 s without), and the pass itself by 10-20 % (1e7
    x 10, 2 threads: 161-173 against 144 ns of CPU per row), so the timed fits run untraced
    and the heap peak of the table comes from the separate ``fitmem_t2`` run.
    """
    import tracemalloc

    import momix.lowrank._prepare as prepare_module
    import momix.lowrank._stream as stream_module
    from momix import LowRankGaussianMixture

    spent = {"pass1_s": 0.0, "pass2_s": 0.0, "pass1_cpu_s": 0.0, "pass2_cpu_s": 0.0}
    peak = [0]

    def timed(fn, key):
        def wrapper(*args, **kwargs):
            if trace_heap:
                tracemalloc.start()
            t, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - t
                spent[key.replace("_s", "_cpu_s")] += time.process_time() - cpu
                if trace_heap:
                    peak[0] = max(peak[0], tracemalloc.get_traced_memory()[1])
                    tracemalloc.stop()

        return wrapper

    prepare_module.first_pass = timed(stream_module.first_pass, "pass1_s")
    stream_module.statistics_pass = timed(stream_module.statistics_pass, "pass2_s")
    est = LowRankGaussianMixture(
        K, rank=R, noise_variance=NOISE, random_state=0, statistics_dtype=dtype
    )
    t, cpu = time.perf_counter(), time.process_time()
    est.fit(path)
    total, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {
        **spent,
        "fit_s": total,
        "fit_cpu_s": cpu,
        "lbfgs_iter": int(est.n_iter_),
        "after_passes_s": total - spent["pass1_s"] - spent["pass2_s"],
        **({"peak_heap_mib": peak[0] / 2**20, "heap_traced": "passes"} if trace_heap else {}),
        "means": est.means_.tolist(),
    }


def _block(path: str, start: int, stop: int) -> np.ndarray:
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def dask_fit(path: str, workers: int) -> dict:
    import dask
    import dask.array as da
    import distributed

    from momix import LowRankGaussianMixture

    n, d = np.load(path, mmap_mode="r").shape
    step = max(1, CHUNK_FLOATS // d)
    blocks = [
        da.from_delayed(
            dask.delayed(_block)(path, s, min(s + step, n)),
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
        est = LowRankGaussianMixture(K, rank=R, noise_variance=NOISE, random_state=0).fit(X)
        return {"fit_s": time.perf_counter() - t, "means": est.means_.tolist()}


def child(spec: dict) -> None:
    """Entry point of a measured process: join the cgroup, run, print one JSON line."""
    if spec.get("cgroup"):
        Path(spec["cgroup"], "cgroup.procs").write_text(str(os.getpid()))
    wall, cpu = time.perf_counter(), time.process_time()
    kind = spec["kind"]
    if kind == "floor":
        out = floor_pass(spec["path"])
    elif kind in ("fit", "fit32", "fitmem"):
        out = timed_fit(spec["path"], "float32" if kind == "fit32" else "float64", kind == "fitmem")
    else:
        out = dask_fit(spec["path"], spec["workers"])
    out.update(wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu)
    out.update(maxrss_mib=_peak_rss_mib(), load_end=os.getloadavg()[0])
    git = ["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"]
    out["commit"] = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
    print("RESULT " + json.dumps(out), flush=True)


def measure(spec: dict, group, version, env: dict, limit_mib: int) -> dict:
    drop_cache(Path(spec["path"]))
    if group is not None:
        name = "memory.limit_in_bytes" if version == "v1" else "memory.max"
        (group / name).write_text(str(limit_mib * 2**20))
        reset_peak(group, version)
    load = os.getloadavg()[0]
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        check=False, capture_output=True, text=True, env={**os.environ, **env},
    )  # fmt: skip
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{spec} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    out = json.loads(lines[-1][7:])
    out["load_start"] = load
    if group is not None:
        out["cgroup_peak_mib"] = cgroup_peak_mib(group, version)
    return out


# ------------------------------------------------------------------------- driver


def _done() -> set:
    if not RUNS.exists():
        return set()
    return {json.loads(x)["key"] for x in RUNS.read_text().splitlines() if x.strip()}


def _append(row: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    with RUNS.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "means"}), flush=True)


def run_size(n: int, d: int, args, group, version) -> None:
    path = Path(args.dir) / f"x_{n}_{d}.npy"
    if not path.exists():
        write_data(path, n, d)
    plans = [("floor", {}, {})]
    plans += [(f"fit_t{t}", {}, {"MOMIX_NUM_THREADS": str(t)}) for t in (2, 1)]
    plans += [(name, {}, {"MOMIX_NUM_THREADS": "2"}) for name in ("fit32_t2", "fitmem_t2")]
    if not args.no_dask and n >= args.dask_min_rows:
        plans += [(f"dask_w{w}", {"workers": w}, {}) for w in (1, 2)]
    if args.only:
        plans = [x for x in plans if x[0] in args.only.split(",")]
    done = _done()
    for name, extra, env in plans:
        key = f"{name}:{n}:{d}{args.tag}"
        if key in done:
            continue
        kind = name.split("_")[0]
        spec = {"kind": kind, "path": str(path), "cgroup": str(group) if group else None}
        limit = args.dask_mem_mib if kind == "dask" else args.mem_mib
        out = measure({**spec, **extra}, group, version, env, limit)
        _append({"key": key, "name": name, "n": n, "d": d, "mem_limit_mib": limit,
                 "file_mib": path.stat().st_size / 2**20, **pass_flops(d), **out})  # fmt: skip
    if args.delete:
        path.unlink()


ACCURACY_PATHS = (
    ("in-memory (per-sample)", "memory", "float64"),
    ("streaming (.npy)", "path", "float64"),
    ("streaming float32 (.npy)", "path", "float32"),
)


def accuracy(seeds: int, n: int = 100_000, dims: tuple = (10, 100)) -> None:
    """Errors against the truth of the in-memory fit and the streaming fits (both precisions).

    Rows ``accuracy2:{d}:{seed}``: wall and CPU time per fit, load average at the start.
    """
    from momix import LowRankGaussianMixture
    from momix.datasets import make_lowrank_gaussian_mixture
    from momix.metrics import mixture_errors

    done = _done()
    for d in dims:
        for seed in range(seeds):
            key = f"accuracy2:{d}:{seed}"
            if key in done:
                continue
            data = make_lowrank_gaussian_mixture(
                n, d, K, rank=R, noise_variance=NOISE, random_state=seed
            )
            row = {"key": key, "name": "accuracy2", "seed": seed, "d": d, "n": n}
            row["load_start"] = os.getloadavg()[0]
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "x.npy"
                np.save(path, data.X)
                for name, kind, dtype in ACCURACY_PATHS:
                    t, cpu = time.perf_counter(), time.process_time()
                    m = LowRankGaussianMixture(
                        K, rank=R, noise_variance=NOISE, random_state=0, statistics_dtype=dtype
                    )
                    m.fit(data.X if kind == "memory" else str(path))
                    e = mixture_errors(
                        data.weights, data.means, data.covariances,
                        m.weights_, m.means_, m.covariances_, match="covariances",
                    )  # fmt: skip
                    row[name] = {"time_s": time.perf_counter() - t,
                                 "cpu_s": time.process_time() - cpu, "weights": e.weights,
                                 "means": e.means, "covariances": e.covariances,
                                 "objective": float(m.objective_)}  # fmt: skip
            _append(row)


def _accuracy_lines(runs: list[dict]) -> list[str]:
    acc = [r for r in runs if r["name"] == "accuracy2"]
    out = ["", "Accuracy at N = 1e5 (relative errors against the truth, components matched; "
           "time = wall s / CPU s of the fit, data in memory or in a warm .npy file):", "",
           "| d | seed | path | weights | means | covariances | time s |",
           "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in sorted(acc, key=lambda r: (r["d"], r["seed"])):
        for path, _, _ in ACCURACY_PATHS:
            e = r[path]
            out.append(
                f"| {r['d']} | {r['seed']} | {path} | {e['weights']:.4f} | {e['means']:.4f} "
                f"| {e['covariances']:.4f} | {e['time_s']:.1f} / {e['cpu_s']:.1f} |"
            )
    for d in sorted({r["d"] for r in acc}):
        rows = [r for r in acc if r["d"] == d]
        for path, _, _ in ACCURACY_PATHS:
            med = [
                np.median([r[path][k] for r in rows]) for k in ("weights", "means", "covariances")
            ]
            out.append(f"| {d} | median | {path} | {med[0]:.4f} | {med[1]:.4f} | {med[2]:.4f} | |")
    return out


def _table(runs: list[dict]) -> tuple[list[dict], list[str]]:
    by = {}
    for r in runs:
        if not r["name"].startswith("accuracy"):
            by.setdefault((r["d"], r["n"]), {})[r["name"]] = r
    rows, lines = (
        [],
        [
            "| N | d | file MiB | passes | cold floor s | fit s | fit / floor "
            "| fit f32 s | f32 / floor | f32 pass CPU s "
            "| pass 1 s "
            "| pass 2 s | pass CPU s | after passes s | L-BFGS its | fit CPU s | fit 1 thread s "
            "| heap MiB "
            "| VmHWM MiB | cgroup peak MiB | dask 1 worker s | dask 2 workers s | flops/row "
            "| load |",
            "|" + "---|" * 24,
        ],
    )
    nan = float("nan")
    for (d, n), g in sorted(by.items()):
        f, fl, one = g.get("fit_t2"), g.get("floor"), g.get("fit_t1")
        if f is None or fl is None:
            continue
        d1, d2, f32 = g.get("dask_w1", {}), g.get("dask_w2", {}), g.get("fit32_t2")
        heap = g.get("fitmem_t2", f).get("peak_heap_mib", nan)  # traced run (older: the fit)
        flops = f["flops_pass1"] + (f["flops_stats"] if f["passes"] == 1 else 0)
        flops_txt = f"{flops}" if f["passes"] == 1 else f"{f['flops_pass1']} + {f['flops_stats']}"
        row = {"n": n, "d": d, "floor_s": fl["floor_s"], "fit_s": f["fit_s"],
               "ratio": f["fit_s"] / fl["floor_s"], "after_passes_s": f["after_passes_s"],
               "flops_per_row": flops,
               "fit32_s": f32["fit_s"] if f32 else None}  # fmt: skip
        single = (
            f"| {f32['fit_s']:.2f} | {f32['fit_s'] / fl['floor_s']:.2f} "
            f"| {f32['pass1_cpu_s'] + f32['pass2_cpu_s']:.1f} "
            if f32
            else "| | | "
        )
        rows.append(row)
        lines.append(
            f"| {n:.0e} | {d} | {f['file_mib']:.0f} | {f['passes']} | {fl['floor_s']:.2f} "
            f"| {f['fit_s']:.2f} | {row['ratio']:.2f} {single}"
            f"| {f['pass1_s']:.2f} | {f['pass2_s']:.2f} "
            f"| {f.get('pass1_cpu_s', nan) + f.get('pass2_cpu_s', nan):.1f} "
            f"| {f['after_passes_s']:.2f} | {f['lbfgs_iter']} | {f['fit_cpu_s']:.1f} "
            f"| {one['fit_s'] if one else float('nan'):.2f} | {heap:.0f} "
            f"| {f['maxrss_mib']:.0f} | {f.get('cgroup_peak_mib', float('nan')):.0f} "
            f"| {d1.get('fit_s', float('nan')):.2f} | {d2.get('fit_s', float('nan')):.2f} "
            f"| {flops_txt} | {f['load_start']:.1f} |"
        )
    return rows, lines


def write_report() -> None:
    runs = [json.loads(x) for x in RUNS.read_text().splitlines() if x.strip()]
    rows, lines = _table(runs)
    limits = sorted({r["mem_limit_mib"] for r in runs if "mem_limit_mib" in r})
    head = [
        f"Machine: {os.cpu_count()} cores (shared with other jobs), 24 GiB. K = {K}, R = {R}, "
        f"sigma^2 = {NOISE}, L = {L}, DGMM, data in a .npy file; every process in a memory "
        f"cgroup of {' / '.join(map(str, limits))} MiB (fits / dask), the file evicted from "
        "the page cache before each run (cold reads). Wall times of single runs; fit = 2 "
        "threads; load = 1-min load average at the start.",
        "",
    ]
    tail = _accuracy_lines(runs)
    (RESULTS / "scale.json").write_text(json.dumps({"table": rows, "runs": runs}, indent=1))
    (RESULTS / "scale.md").write_text("\n".join(head + lines + tail) + "\n")
    print("\n".join(head + lines + tail))


def _sizes(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--sizes-d10", default="1e5,1e6,1e7,1e8")
    p.add_argument("--sizes-d100", default="1e5,1e6,1e7")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--mem-mib", type=int, default=1024, help="memory cgroup limit")
    p.add_argument("--dask-mem-mib", type=int, default=2048, help="limit for dask runs")
    p.add_argument("--dask-min-rows", type=float, default=1e6)
    p.add_argument("--no-dask", action="store_true")
    p.add_argument("--dir", default="/work/data", help="folder for the data files")
    p.add_argument("--delete", action="store_true", help="delete each data file after use")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--only", default="", help="measure only these (floor,fit_t2,...)")
    p.add_argument("--tag", default="", help="suffix of the run keys: measure again (newest wins)")
    p.add_argument("--no-accuracy", action="store_true", help="skip the accuracy runs")
    args = p.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if not args.report_only:
        group, version = make_cgroup(args.mem_mib)
        try:
            for d, sizes in ((10, _sizes(args.sizes_d10)), (100, _sizes(args.sizes_d100))):
                for n in sizes:
                    run_size(n, d, args, group, version)
        finally:
            _remove_cgroup(group)
        if not args.no_accuracy:
            accuracy(args.seeds)
    write_report()


if __name__ == "__main__":
    main()
