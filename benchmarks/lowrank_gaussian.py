"""Benchmark: low-rank Gaussian mixtures -- MM, DGMM, full GMM, DGMM + EM vs scikit-learn EM.

Every method fits the same data (Model 1.1 of arXiv:2507.20459, weakly separated: unit-norm
means, factor columns of norm U(1, 2), optional isotropic noise sigma^2 known to the moment
methods) and is scored by Hungarian-matched relative errors of weights, means and
covariances (``momix.metrics.mixture_errors``, matching on covariances as in the DGMM
reference code).

The run is **resumable**: every finished (setting, seed, method, kind) appends one JSON line
to ``benchmarks/results/lowrank_gaussian_runs.jsonl`` with the errors, wall time, process CPU
time (``time.process_time``), the load average before and after the fit and the iteration
count; a restarted run skips every job whose key is already there. Keys of momix methods carry
a per-method code-version tag (``METHOD_VERSIONS``, bumped whenever the estimator changes what
that method computes), so only those re-run; scikit-learn's keys carry its version only and
never re-run when momix changes. Peak memory comes from separate traced runs (kind
``memory``, seed 0), queued after the timed fits so tracing never slows a timed run.

Job order (one process; BLAS single-threaded for every method via threadpoolctl):

1. the anchor setting d=100, K=3, R=2, N=1e5, sigma=1 (3 seeds, all methods);
2. seeds 0-2 of every setting: scikit-learn's expensive d=100 fits (N=1e4 first) get 35 %
   of the estimated time, interleaved with all other jobs (smallest N first, traced-memory
   runs on seed 0 beside them), so long and short settings both fill in; then the full GMM
   at N=1e5;
3. the remaining seeds (3-9) where one scikit-learn fit takes under a minute;
4. the traced-memory runs of the slow jobs (scikit-learn at d=100, full GMM at N=1e5).

``--report`` turns the JSONL into ``lowrank_gaussian.{json,md}``: medians over seeds of
the errors, wall and CPU time, peak memory, iterations and load average, with the time ratio
to scikit-learn over the seeds both finished.

Examples
--------
The issue's grid (d, K, R, N, sigma as in issue 3), resumable::

    nohup nice -n 5 python benchmarks/lowrank_gaussian.py > /work/runs/lowrank_grid.log 2>&1 &

Tables from what has finished so far::

    python benchmarks/lowrank_gaussian.py --report

One small grid of your own, in its own JSONL::

    python benchmarks/lowrank_gaussian.py --d 10 --K 2 --R 2 --N 10000 --sigma 0.5 \\
        --seeds 10 --runs mygrid_runs.jsonl --tag mygrid

Peak memory of in-memory fits against the size of the data (not timed tests; each case in
its own process, ``lowrank_memory.{json,md}``)::

    python benchmarks/lowrank_gaussian.py --peak-memory
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from momix.datasets import make_lowrank_gaussian_mixture
from momix.lowrank import LowRankGaussianMixture
from momix.metrics import mixture_errors

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("MM", "DGMM", "GMM-full", "DGMM+EM", "sklearn-EM", "DGMM-est")
#: on request: DGMM with one first step only (``first_step='init'`` / ``'identity'``), and
#: MM / DGMM with ``init='mixed'`` (k-means++ start + 4 random restarts, ``n_init='auto'``)
EXTRA_METHODS = ("DGMM-init", "DGMM-2step", "MM-mixed", "DGMM-mixed")
ANCHOR = (100, 3, 2, 100_000, 1.0)

#: bump a method's tag when the estimator changes what that method computes; lr4: the fit
#: runs on centred, scaled data (subspace K(R+1) - 1), collapsed components lose
METHOD_VERSIONS = {
    "MM": "lr4",
    "DGMM": "lr4",  # lr3: first_step="both" by default
    "GMM-full": "lr4",  # lr2: recursive monomials, syrk accumulation of S
    "DGMM+EM": "lr4",
    "sklearn-EM": f"sklearn{sklearn.__version__}",
    "DGMM-est": "lr4",
    "DGMM-init": "lr4",
    "DGMM-2step": "lr4",
    "MM-mixed": "lr4",
    "DGMM-mixed": "lr4",
}

GRID = dict(d=[10, 100], K=[2, 3], R=[1, 2], N=[1_000, 10_000, 100_000], sigma=[0.0, 0.5, 1.0])


def make_estimator(method: str, K: int, R: int, sigma: float, seed: int):
    noise = sigma**2 if sigma > 0 else None
    common = dict(noise_variance=noise, random_state=seed)
    if method == "MM":
        return LowRankGaussianMixture(K, R, weighting="identity", **common)
    if method == "DGMM":
        return LowRankGaussianMixture(K, R, weighting="diagonal", **common)
    if method == "GMM-full":
        return LowRankGaussianMixture(K, R, weighting="full", **common)
    if method.endswith("-mixed"):
        weighting = "identity" if method == "MM-mixed" else "diagonal"
        return LowRankGaussianMixture(K, R, weighting=weighting, init="mixed", **common)
    if method in EXTRA_METHODS:
        first = "init" if method == "DGMM-init" else "identity"
        return LowRankGaussianMixture(K, R, weighting="diagonal", first_step=first, **common)
    if method == "DGMM+EM":
        return LowRankGaussianMixture(K, R, weighting="diagonal", refine="em", **common)
    if method == "DGMM-est":  # every default, the noise variance estimated from the data
        return LowRankGaussianMixture(K, R, random_state=seed)
    if method == "sklearn-EM":
        return GaussianMixture(K, covariance_type="full", n_init=5, random_state=seed)
    raise ValueError(f"unknown method {method!r}")


def make_data(setting: tuple, seed: int):
    d, K, R, N, sigma = setting
    return make_lowrank_gaussian_mixture(
        N,
        d,
        K,
        rank=R,
        noise_variance=sigma**2,
        mean_norm=1.0,
        factor_norm=(1.0, 2.0),
        random_state=seed,
    )


def job_key(setting: tuple, seed: int, method: str, kind: str) -> str:
    d, K, R, N, sigma = setting
    return f"d{d}-K{K}-R{R}-N{N}-s{sigma:g}|{seed}|{method}|{kind}|{METHOD_VERSIONS[method]}"


def run_one(method: str, data, setting: tuple, seed: int, kind: str) -> dict:
    """Fit once: timed (``kind='fit'``) or traced for the peak memory (``kind='memory'``)."""
    d, K, R, N, sigma = setting
    model = make_estimator(method, K, R, sigma, seed)
    rec = dict(
        setting=dict(d=d, K=K, R=R, N=N, sigma=sigma),
        seed=seed,
        method=method,
        kind=kind,
        version=METHOD_VERSIONS[method],
        load_before=os.getloadavg()[0],
    )
    if kind == "memory":
        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data.X)
    except ValueError as exc:  # full GMM refuses large d^L: record the refusal
        return {**rec, "status": "refused", "message": str(exc)}
    finally:
        peak = tracemalloc.get_traced_memory()[1] if kind == "memory" else None
        if kind == "memory":
            tracemalloc.stop()
    rec.update(
        wall=time.perf_counter() - wall,
        cpu=time.process_time() - cpu,
        load_after=os.getloadavg()[0],
        status="ok",
    )
    if kind == "memory":
        return {**rec, "peak_mb": peak / 2**20}
    err = mixture_errors(
        data.weights,
        data.means,
        data.covariances,
        model.weights_,
        model.means_,
        model.covariances_,
        match="covariances",
    )
    return {
        **rec,
        "weights": err.weights,
        "means": err.means,
        "covariances": err.covariances,
        "n_iter": int(model.n_iter_) + int(getattr(model, "em_n_iter_", 0)),
        "converged": bool(model.converged_),
    }


# ----------------------------------------------------------------------------- job queue


def estimated_cost(setting: tuple, method: str) -> float:
    """Rough seconds per fit on a quiet core (from earlier runs); only orders the queue."""
    d, K, R, N, sigma = setting
    if method == "sklearn-EM":
        return (1.2e-3 if d == 100 else 1.8e-4) * N * K / 2 * (1 + 2 * (N <= 10_000) * (d == 100))
    if method == "GMM-full":
        return 0.0 if d == 100 else 6e-4 * N * K / 2
    per_n = {"MM": 1e-5, "DGMM+EM": 1e-4}.get(method, 3e-5) / (4 if d == 100 else 1)
    return 0.5 + per_n * N * K * R


def n_seeds(setting: tuple, seeds: int, seeds_slow: int) -> int:
    """Fewer seeds where one scikit-learn fit takes over a minute (d=100, N=1e5)."""
    d, _, _, N, _ = setting
    return seeds_slow if (d == 100 and N >= 100_000) else seeds


def _interleave(expensive: list, cheap: list, share: float = 0.35) -> list:
    """Merge two job lists; the expensive one gets ``share`` of the estimated time."""
    out, ce, cc, i, k = [], 0.0, 0.0, 0, 0
    while i < len(expensive) or k < len(cheap):
        if k >= len(cheap) or (i < len(expensive) and ce * (1 - share) <= cc * share):
            ce += expensive[i][-1]
            out.append(expensive[i])
            i += 1
        else:
            cc += cheap[k][-1]
            out.append(cheap[k])
            k += 1
    return out


def build_queue(settings, methods, seeds, seeds_slow, memory=True) -> list[tuple]:
    """Jobs ``(setting, seed, method, kind, cost)`` in the order described in the module doc."""

    def jobs(setting, seed_range, kind="fit"):
        return [
            (setting, s, m, kind, estimated_cost(setting, m))
            for s in seed_range
            for m in methods
            if not (m == "GMM-full" and setting[0] > 10 and kind == "memory")
        ]

    def slow(job):  # scikit-learn at d=100, N>=1e4 and the full GMM at N=1e5
        setting, _, method, _, _ = job
        return (method == "sklearn-EM" and setting[0] == 100 and setting[3] >= 10_000) or (
            method == "GMM-full" and setting[3] >= 100_000
        )

    ordered = sorted(settings, key=lambda s: (-s[0], -s[3], s[1], s[2], s[4]))
    first3 = {s: range(min(3, n_seeds(s, seeds, seeds_slow))) for s in ordered}
    anchor = [j for s in ordered if s == ANCHOR for j in jobs(s, first3[s])]
    round1 = [j for s in ordered if s != ANCHOR for j in jobs(s, first3[s])]
    mem = [j for s in ordered for j in jobs(s, range(1), "memory")] if memory else []
    full = [j for j in round1 if j[2] == "GMM-full" and slow(j)]
    expensive = sorted(  # N = 1e4 first: more settings get their scikit-learn reference
        (j for j in round1 if j[2] == "sklearn-EM" and slow(j)), key=lambda j: j[0][3]
    )
    # the rest smallest N first (most settings soonest), each setting's memory runs after it
    by_n = sorted(ordered, key=lambda s: (s[3], -s[0], s[1], s[2], s[4]))
    cheap = [j for s in by_n for j in round1 + mem if j[0] == s and not slow(j)]
    round2 = [j for s in ordered for j in jobs(s, range(3, n_seeds(s, seeds, seeds_slow)))]
    return anchor + _interleave(expensive, cheap) + full + round2 + [j for j in mem if slow(j)]


def load_runs(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            out[rec["key"]] = rec
    return out


def run_queue(queue, runs_path: Path, log) -> None:
    """Run every job not yet in ``runs_path``; data are drawn once per (setting, seed)."""
    done = load_runs(runs_path)
    todo = [j for j in queue if job_key(*j[:4]) not in done]
    log(f"{len(queue)} jobs, {len(queue) - len(todo)} already done, {len(todo)} to run")
    cache: dict = {}
    for n, (setting, seed, method, kind, _) in enumerate(todo):
        if (setting, seed) not in cache:
            cache.clear()  # one data set in memory at a time
            cache[(setting, seed)] = make_data(setting, seed)
        rec = run_one(method, cache[(setting, seed)], setting, seed, kind)
        rec["key"] = job_key(setting, seed, method, kind)
        rec["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with runs_path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        log(f"[{n + 1}/{len(todo)}] {_describe(rec)}")


def _describe(rec: dict) -> str:
    head = f"{rec['key']}"
    if rec["status"] != "ok":
        return f"{head}: refused"
    if rec["kind"] == "memory":
        return f"{head}: peak {rec['peak_mb']:.0f} MB"
    return (
        f"{head}: {rec['weights']:.3f}/{rec['means']:.3f}/{rec['covariances']:.3f} "
        f"wall {rec['wall']:.2f}s cpu {rec['cpu']:.2f}s load {rec['load_before']:.1f} "
        f"it={rec['n_iter']}"
    )


# ----------------------------------------------------------------------------- report


def _setting_tuple(st: dict) -> tuple:
    return (st["d"], st["K"], st["R"], st["N"], st["sigma"])


def summarise(records: list[dict], ref_time: dict[int, dict]) -> dict:
    """Medians over seeds of one method's current-version records in one setting."""
    fits = [r for r in records if r["kind"] == "fit"]
    if fits and all(r["status"] == "refused" for r in fits):
        return {"status": "refused", "message": fits[0]["message"]}
    ok = [r for r in fits if r["status"] == "ok"]
    if not ok:
        return {"status": "missing"}
    keys = ("weights", "means", "covariances", "wall", "cpu", "n_iter", "load_before")
    out = {k: float(np.median([r[k] for r in ok])) for k in keys}
    mem = [r["peak_mb"] for r in records if r["kind"] == "memory" and r["status"] == "ok"]
    common = [r for r in ok if r["seed"] in ref_time]
    out.update(
        status="ok",
        n_seeds=len(ok),
        seeds=sorted(r["seed"] for r in ok),
        converged=sum(r["converged"] for r in ok),
        peak_mb=float(mem[0]) if mem else None,
    )
    if common:  # time ratios (wall and CPU) over the seeds both finished
        for key in ("wall", "cpu"):
            ref = np.median([ref_time[r["seed"]][key] for r in common])
            out[f"{key}_ratio_vs_sklearn"] = float(ref / np.median([r[key] for r in common]))
    return out


def _newest_records(records: list[dict], method: str) -> list[dict]:
    """The method's records of its current code version, else of its newest older one."""
    mine = [r for r in records if r["method"] == method]
    if any(r["version"] == METHOD_VERSIONS[method] for r in mine):
        return [r for r in mine if r["version"] == METHOD_VERSIONS[method]]
    newest = max((r["version"] for r in mine), default=None)
    return [r for r in mine if r["version"] == newest]


def report(runs: dict[str, dict], methods=METHODS) -> list[dict]:
    """Per setting (grid order), per method: medians of the newest-version records.

    Settings not re-run since a method's code changed keep their older records; each
    summary names its version (``version``), so the table says which rows are current.
    """
    known = [r for r in runs.values() if r["method"] in METHOD_VERSIONS]
    by_setting: dict[tuple, list] = {}
    for r in known:
        by_setting.setdefault(_setting_tuple(r["setting"]), []).append(r)
    results = []
    for setting in sorted(by_setting):
        recs = by_setting[setting]
        ref_time = {
            r["seed"]: r
            for r in _newest_records(recs, "sklearn-EM")
            if r["kind"] == "fit" and r["status"] == "ok"
        }
        summary = {}
        for m in methods:
            chosen = _newest_records(recs, m)
            summary[m] = summarise(chosen, ref_time)
            if chosen:
                summary[m]["version"] = chosen[0]["version"]
        d, K, R, N, sigma = setting
        results.append(dict(setting=dict(d=d, K=K, R=R, N=N, sigma=sigma), summary=summary))
    return results


def _fmt(x, spec):
    return "" if x is None else format(x, spec)


def _ratio(s: dict) -> str:
    if "wall_ratio_vs_sklearn" not in s:
        return ""
    return f"{s['wall_ratio_vs_sklearn']:.1f} / {s['cpu_ratio_vs_sklearn']:.1f}"


def markdown(results: list[dict]) -> str:
    loads = [
        s["load_before"] for res in results for s in res["summary"].values() if s["status"] == "ok"
    ]
    load = f"{np.median(loads):.1f} (range {min(loads):.1f}-{max(loads):.1f})" if loads else "n/a"
    lines = [
        "Machine: 2 cores shared with other jobs, 24 GiB RAM; BLAS single-threaded for all "
        f"methods; Python {platform.python_version()}, scikit-learn {sklearn.__version__}. "
        f"1-minute load average at the start of the fits: median {load}. Medians over "
        "seeds; errors are Hungarian-matched relative errors (weights / means / "
        "covariances); wall and CPU (process) time in seconds; 'x sklearn' is scikit-learn's "
        "median time over this method's median (wall / CPU), on the seeds both finished; "
        "memory is "
        "the tracemalloc peak of one extra traced run on seed 0 (times are untraced); "
        "iterations are L-BFGS-B (+ EM) iterations, or EM iterations of the best "
        "scikit-learn restart; 'code' is the version of the estimator the row was measured "
        f"with (current: {METHOD_VERSIONS['DGMM']}; rows of older versions were not re-run).",
        "",
        "| d | K | R | N | sigma | method | seeds | weights | means | covariances | wall (s) "
        "| CPU (s) | x sklearn (wall / CPU) | peak MB | iterations | code |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        st = res["setting"]
        head = f"| {st['d']} | {st['K']} | {st['R']} | {st['N']} | {st['sigma']:g} "
        for m, s in res["summary"].items():
            code = s.get("version", "")
            if s["status"] == "refused":
                lines.append(head + f"| {m} | | refused (d^L too large) | | | | | | | | {code} |")
            elif s["status"] == "ok":
                lines.append(
                    head + f"| {m} | {s['n_seeds']} | {s['weights']:.3f} | {s['means']:.3f} | "
                    f"{s['covariances']:.3f} | {s['wall']:.2f} | {s['cpu']:.2f} | "
                    f"{_ratio(s)} | {_fmt(s['peak_mb'], '.1f')} | "
                    f"{s['n_iter']:.0f} | {code} |"
                )
    return "\n".join(lines) + "\n"


def start_comparison(results: list[dict]) -> str:
    """Markdown: MM vs DGMM from the k-means++ start and from ``init='mixed'``, per setting.

    Median covariance errors (seeds of each method), whether DGMM is at or below MM under
    each start, and the CPU cost of the mixed start relative to the single k-means++ start.
    """
    names = ("MM", "DGMM", "MM-mixed", "DGMM-mixed")
    rows, n, met = [], {"k": 0, "m": 0}, {"k": 0, "m": 0}
    for res in results:
        s = res["summary"]
        if any(s.get(m, {}).get("status") != "ok" for m in names):
            continue
        st = res["setting"]
        c = {m: s[m]["covariances"] for m in names}
        for key, (mm, dg) in {"k": ("MM", "DGMM"), "m": ("MM-mixed", "DGMM-mixed")}.items():
            n[key] += 1
            met[key] += c[dg] <= c[mm]
        rows.append(
            f"| {st['d']} | {st['K']} | {st['R']} | {st['N']} | {st['sigma']:g} | "
            + " | ".join(f"{c[m]:.4f}" for m in names)
            + f" | {'yes' if c['DGMM-mixed'] <= c['MM-mixed'] else 'no'}"
            + f" | {s['DGMM-mixed']['cpu'] / s['DGMM']['cpu']:.1f} |"
        )
    head = [
        f"DGMM at or below MM (median covariance error): k-means++ start {met['k']}/{n['k']}"
        f" settings, init='mixed' {met['m']}/{n['m']}.",
        "",
        "| d | K | R | N | sigma | MM | DGMM | MM mixed | DGMM mixed | DGMM ≤ MM (mixed) "
        "| CPU DGMM mixed / DGMM |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n"


# ----------------------------------------------------------------------------- peak memory

#: (label, n, d, K, R, sigma, dtype, estimator keywords) of the peak-memory cases; the first
#: two are the issue's 2e6 x 10 float32 array
MEMORY_CASES = (
    ("default, K=3 R=2 (whole space)", 2_000_000, 10, 3, 2, 0.7, "float32", {}),
    ("default, K=2 R=1 (subspace)", 2_000_000, 10, 2, 1, 0.7, "float32", {}),
    ("refine='em', K=2 R=1", 500_000, 10, 2, 1, 0.7, "float32", {"refine": "em", "max_iter": 20}),
    ("noiseless data (Nystrom sums), K=2 R=1", 500_000, 10, 2, 1, 0.0, "float32", {}),
    ("init='mixed', K=3 R=2", 500_000, 10, 3, 2, 0.7, "float32", {"init": "mixed"}),
    ("default, K=3 R=2, float64 data", 500_000, 10, 3, 2, 0.7, "float64", {}),
)


def _status_mib(key: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def peak_memory_child(spec: dict) -> dict:
    """One case, in this (fresh) process: the RSS peak or the tracemalloc peak of the fit.

    ``spec['trace']`` False: the data are drawn, converted and left alone, the kernel's peak
    RSS is reset (``/proc/self/clear_refs``) and the fit's peak resident memory above the
    RSS before it is read from ``VmHWM`` (includes every allocation of BLAS and Python,
    untraced timing). True: the fit runs under tracemalloc (numpy's allocations).
    """
    data = make_lowrank_gaussian_mixture(
        spec["n"], spec["d"], spec["K"], rank=spec["R"], noise_variance=spec["sigma"] ** 2,
        mean_norm=1.0, factor_norm=(1.0, 2.0), random_state=0,
    )  # fmt: skip
    X = np.ascontiguousarray(data.X, dtype=spec["dtype"])
    del data
    gc.collect()
    model = LowRankGaussianMixture(spec["K"], spec["R"], random_state=0, **spec["kwargs"])
    base = _status_mib("VmRSS")
    if spec["trace"]:
        tracemalloc.start()
    else:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    data_mib = X.nbytes / 2**20
    if spec["trace"]:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return {"data_mib": data_mib, "traced_peak_mib": peak, "traced_ratio": peak / data_mib}
    delta = _status_mib("VmHWM") - base
    return {
        "data_mib": data_mib, "rss_delta_mib": delta, "rss_ratio": delta / data_mib,
        "wall": wall, "cpu": cpu, "nystrom_mode": str(model.nystrom_mode_),
        "noise_method": model.noise_method_, "load_before": os.getloadavg()[0],
    }  # fmt: skip


def peak_memory(cases=MEMORY_CASES) -> list[dict]:
    """Every case twice (RSS, traced), each in a fresh process; writes lowrank_memory.*."""
    rows = []
    for label, n, d, K, R, sigma, dtype, kwargs in cases:
        row = dict(case=label, n=n, d=d, K=K, R=R, sigma=sigma, dtype=dtype, kwargs=kwargs)
        for trace in (False, True):
            spec = {**row, "trace": trace}
            out = subprocess.run(
                [sys.executable, __file__, "--peak-memory-child", json.dumps(spec)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            row.update(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(row), flush=True)
        rows.append(row)
    (RESULTS / "lowrank_memory.json").write_text(json.dumps(rows, indent=1))
    lines = [
        "Peak memory of in-memory `LowRankGaussianMixture.fit` against the size of the data "
        "(each case in a fresh process; `python benchmarks/lowrank_gaussian.py --peak-memory`). "
        "RSS delta: peak resident set during the fit (`VmHWM` after resetting it through "
        "`/proc/self/clear_refs`) minus the resident set before it, the data already in "
        "memory; traced: tracemalloc peak of a second, traced fit (numpy's allocations). "
        "Data: `make_lowrank_gaussian_mixture` (d = 10, unit-norm means, factor columns of "
        f"norm U(1, 2), noise sigma), seed 0. Python {platform.python_version()}, "
        "2 shared cores (times are wall and process CPU seconds of the untraced fit, at "
        "the load average given).",
        "",
        "| case | N | dtype | data MiB | RSS delta MiB | x data | traced peak MiB | x data "
        "| wall s | CPU s | load | DGMM sums | noise |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['n']:.0e} | {r['dtype']} | {r['data_mib']:.0f} | "
            f"{r['rss_delta_mib']:.0f} | {r['rss_ratio']:.2f} | {r['traced_peak_mib']:.0f} | "
            f"{r['traced_ratio']:.2f} | {r['wall']:.1f} | {r['cpu']:.1f} | "
            f"{r['load_before']:.1f} | {r['nystrom_mode']} | {r['noise_method']} |"
        )
    (RESULTS / "lowrank_memory.md").write_text("\n".join(lines) + "\n")
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in GRID.items():
        kind = float if name == "sigma" else int
        p.add_argument(f"--{name}", type=kind, nargs="+", default=default)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--seeds-slow", type=int, default=3, help="seeds at d=100, N=1e5")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS + EXTRA_METHODS)
    p.add_argument("--no-memory", action="store_true", help="skip the traced-memory runs")
    p.add_argument("--report", action="store_true", help="only write the tables from the JSONL")
    p.add_argument("--runs", default="lowrank_gaussian_runs.jsonl", help="JSONL in results/")
    p.add_argument("--tag", default="lowrank_gaussian", help="table file stem in results/")
    p.add_argument("--peak-memory", action="store_true", help="only the peak-memory cases")
    p.add_argument("--peak-memory-child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def write_report(runs_path: Path, tag: str, methods) -> str:
    results = report(load_runs(runs_path), methods)
    (RESULTS / f"{tag}.json").write_text(json.dumps(results, indent=1))
    text = markdown(results)
    if {"MM-mixed", "DGMM-mixed"} <= set(methods):
        text += "\n" + start_comparison(results)
    (RESULTS / f"{tag}.md").write_text(text)
    return text


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.peak_memory_child is not None:
        print(json.dumps(peak_memory_child(json.loads(args.peak_memory_child))))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.peak_memory:
        peak_memory()
        return
    runs_path = RESULTS / args.runs
    if not args.report:
        settings = list(itertools.product(args.d, args.K, args.R, args.N, args.sigma))
        queue = build_queue(settings, args.methods, args.seeds, args.seeds_slow, not args.no_memory)
        with threadpool_limits(limits=1):
            run_queue(queue, runs_path, lambda s: print(s, flush=True))
    print(write_report(runs_path, args.tag, args.methods))


if __name__ == "__main__":
    main()
