"""Benchmark: low-rank Gaussian mixtures -- MM, DGMM, full GMM, DGMM + EM vs scikit-learn EM.

Every method fits the same data (Model 1.1 of arXiv:2507.20459, weakly separated: unit-norm
means, factor columns of norm U(1, 2), optional isotropic noise sigma^2 known to the moment
methods) and is scored by Hungarian-matched relative errors of weights, means and
covariances (``momix.metrics.mixture_errors``, matching on covariances as in the DGMM
reference code). Reported per setting: medians over seeds of the errors, wall time, peak
traced memory (tracemalloc) and iterations, and the time ratio to scikit-learn's
``GaussianMixture(covariance_type="full", n_init=5)``.

BLAS runs single-threaded for every method (threadpoolctl): the 2-core machine is shared.

Examples
--------
Representative subset (what docs/lowrank.md reports; the same settings as ``subset``)::

    nice -n 10 python benchmarks/lowrank_gaussian.py --preset noiseless --tag lr_noiseless
    nice -n 10 python benchmarks/lowrank_gaussian.py --preset noisy --tag lr_noisy
    nice -n 10 python benchmarks/lowrank_gaussian.py --preset anchor --skip-memory sklearn-EM \
        --tag lr_anchor
    python benchmarks/lowrank_gaussian.py --merge lr_noiseless lr_noisy lr_anchor \
        --tag lowrank_gaussian

One grid of your own::

    python benchmarks/lowrank_gaussian.py --d 10 --K 2 3 --R 1 2 --N 1000 10000 \\
        --sigma 0 0.5 1 --seeds 10 --tag mygrid
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from momix.datasets import make_lowrank_gaussian_mixture
from momix.lowrank import LowRankGaussianMixture
from momix.metrics import mixture_errors

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("MM", "DGMM", "GMM-full", "DGMM+EM", "sklearn-EM")

PRESETS = {
    # (d, K, R, N, sigma, seeds)
    "subset": [
        (10, 2, 2, 100_000, 0.0, 5),
        (10, 2, 2, 10_000, 0.5, 10),
        (10, 2, 2, 10_000, 1.0, 10),
        (10, 3, 1, 10_000, 0.5, 5),
        (100, 2, 1, 10_000, 0.5, 5),
    ],
    "noiseless": [(10, 2, 2, 100_000, 0.0, 5)],
    "noisy": [
        (10, 2, 2, 10_000, 0.5, 10),
        (10, 2, 2, 10_000, 1.0, 10),
        (10, 3, 1, 10_000, 0.5, 5),
        (100, 2, 1, 10_000, 0.5, 5),
    ],
    "anchor": [(100, 3, 2, 100_000, 1.0, 3)],
    "quick": [(10, 2, 2, 10_000, 0.5, 2), (100, 2, 1, 2_000, 0.5, 2)],
}


def make_estimator(method: str, K: int, R: int, sigma: float, seed: int):
    noise = sigma**2 if sigma > 0 else None
    common = dict(noise_variance=noise, random_state=seed)
    if method == "MM":
        return LowRankGaussianMixture(K, R, weighting="identity", **common)
    if method == "DGMM":
        return LowRankGaussianMixture(K, R, weighting="diagonal", **common)
    if method == "GMM-full":
        return LowRankGaussianMixture(K, R, weighting="full", **common)
    if method == "DGMM+EM":
        return LowRankGaussianMixture(K, R, weighting="diagonal", refine="em", **common)
    if method == "sklearn-EM":
        return GaussianMixture(K, covariance_type="full", n_init=5, random_state=seed)
    raise ValueError(f"unknown method {method!r}")


def run_one(method: str, data, K: int, R: int, sigma: float, seed: int, trace: bool) -> dict:
    """Fit once; wall time untraced, or (``trace=True``) only the tracemalloc peak."""
    model = make_estimator(method, K, R, sigma, seed)
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data.X)
    except ValueError as exc:  # full GMM refuses large d^L: record the refusal
        return {"method": method, "seed": seed, "status": "refused", "message": str(exc)}
    finally:
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
    elapsed = time.perf_counter() - start
    if trace:
        return {"method": method, "seed": seed, "status": "memory", "peak_mb": peak / 2**20}
    err = mixture_errors(
        data.weights,
        data.means,
        data.covariances,
        model.weights_,
        model.means_,
        model.covariances_,
        match="covariances",
    )
    n_iter = int(model.n_iter_) + int(getattr(model, "em_n_iter_", 0))
    return {
        "method": method,
        "seed": seed,
        "status": "ok",
        "time": elapsed,
        "weights": err.weights,
        "means": err.means,
        "covariances": err.covariances,
        "n_iter": n_iter,
        "converged": bool(model.converged_),
    }


def summarise(records: list[dict]) -> dict:
    ok = [r for r in records if r["status"] == "ok"]
    if not ok:
        return {"status": "refused", "message": records[0].get("message", "")}
    keys = ("weights", "means", "covariances", "time", "n_iter")
    out = {k: float(np.median([r[k] for r in ok])) for k in keys}
    mem = [r["peak_mb"] for r in records if r["status"] == "memory"]
    out.update(
        status="ok",
        n_seeds=len(ok),
        converged=sum(r["converged"] for r in ok),
        peak_mb=float(mem[0]) if mem else float("nan"),
    )
    return out


def _result(setting: dict, per_method: dict) -> dict:
    summary = {m: summarise(recs) for m, recs in per_method.items() if recs}
    ref = summary.get("sklearn-EM", {})
    for s in summary.values():
        if s["status"] == "ok" and ref.get("status") == "ok":
            s["speedup_vs_sklearn"] = ref["time"] / s["time"]
    return {"setting": setting, "summary": summary, "records": per_method}


def run_setting(d, K, R, N, sigma, seeds, methods, log, checkpoint, skip_memory=()) -> dict:
    """All methods on the same data for every seed; memory from one extra traced run (seed 0)."""
    setting = dict(d=d, K=K, R=R, N=N, sigma=sigma, seeds=seeds)
    per_method = {m: [] for m in methods}
    for seed in range(seeds):
        data = make_lowrank_gaussian_mixture(
            N,
            d,
            K,
            rank=R,
            noise_variance=sigma**2,
            mean_norm=1.0,
            factor_norm=(1.0, 2.0),
            random_state=seed,
        )
        for method in methods:
            rec = run_one(method, data, K, R, sigma, seed, trace=False)
            per_method[method].append(rec)
            if rec["status"] == "ok":
                log(
                    f"  d={d} K={K} R={R} N={N} sigma={sigma} seed={seed} {method}: "
                    f"{rec['weights']:.3f}/{rec['means']:.3f}/{rec['covariances']:.3f} "
                    f"{rec['time']:.2f}s it={rec['n_iter']}"
                )
            else:
                log(f"  d={d} ... {method}: refused ({rec['message'][:60]}...)")
            if seed == 0 and rec["status"] == "ok" and method not in skip_memory:
                mem = run_one(method, data, K, R, sigma, seed, trace=True)
                per_method[method].append(mem)
                log(f"    peak traced memory {mem['peak_mb']:.0f} MB")
        checkpoint(_result(setting, per_method))
    return _result(setting, per_method)


def markdown(results: list[dict]) -> str:
    lines = [
        "Machine: 2 cores (shared with other jobs), 24 GiB RAM; BLAS single-threaded for all "
        f"methods; Python {platform.python_version()}. Medians over seeds; errors are "
        "Hungarian-matched relative errors (weights / means / covariances); memory is the "
        "tracemalloc peak of one extra traced run on seed 0 (times are untraced); "
        "iterations are L-BFGS-B (+ EM) iterations, or EM iterations of the "
        "best scikit-learn restart.",
        "",
        "| d | K | R | N | sigma | seeds | method | weights | means | covariances | time (s) "
        "| x faster than sklearn | peak MB | iterations |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        st = res["setting"]
        head = f"| {st['d']} | {st['K']} | {st['R']} | {st['N']} | {st['sigma']} | {st['seeds']} "
        for m, s in res["summary"].items():
            if s["status"] != "ok":
                lines.append(head + f"| {m} | refused (d^L too large) | | | | | | |")
                continue
            speed = s.get("speedup_vs_sklearn")
            lines.append(
                head + f"| {m} | {s['weights']:.3f} | {s['means']:.3f} | "
                f"{s['covariances']:.3f} | {s['time']:.2f} | "
                f"{'' if speed is None else f'{speed:.1f}'} | {s['peak_mb']:.0f} | "
                f"{s['n_iter']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), help="a predefined list of settings")
    p.add_argument("--d", type=int, nargs="+", default=[10])
    p.add_argument("--K", type=int, nargs="+", default=[2])
    p.add_argument("--R", type=int, nargs="+", default=[2])
    p.add_argument("--N", type=int, nargs="+", default=[10_000])
    p.add_argument("--sigma", type=float, nargs="+", default=[0.5])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument(
        "--skip-memory",
        nargs="+",
        default=[],
        choices=METHODS,
        metavar="METHOD",
        help="no traced memory run for these methods (it repeats a whole fit)",
    )
    p.add_argument("--merge", nargs="+", metavar="TAG", help="merge earlier results into --tag")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument(
        "--tag", default="lowrank_gaussian", help="output file stem in benchmarks/results"
    )
    return p.parse_args(argv)


def _save(tag: str, results: list[dict]) -> None:
    (RESULTS / f"{tag}.json").write_text(json.dumps(results, indent=1))
    (RESULTS / f"{tag}.md").write_text(markdown(results))


def merge(tags: list[str], out: str) -> list[dict]:
    """Concatenate the results of earlier runs (``--merge TAG ...``) into ``out``."""
    results = []
    for tag in tags:
        results += json.loads((RESULTS / f"{tag}.json").read_text())
    (RESULTS / f"{out}.json").write_text(json.dumps(results, indent=1))
    (RESULTS / f"{out}.md").write_text(markdown(results))
    return results


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.merge:
        print(markdown(merge(args.merge, args.tag)))
        return
    if args.preset:
        settings = PRESETS[args.preset]
    else:
        grid = itertools.product(args.d, args.K, args.R, args.N, args.sigma)
        settings = [(*g, args.seeds) for g in grid]
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    with threadpool_limits(limits=1):
        for d, K, R, N, sigma, seeds in settings:
            print(f"setting d={d} K={K} R={R} N={N} sigma={sigma} seeds={seeds}", flush=True)

            # GMM-full refuses cleanly (ValueError) where d^L is large; the refusal is recorded
            log = lambda s: print(s, flush=True)  # noqa: E731
            save = lambda partial, done=tuple(results): _save(args.tag, [*done, partial])  # noqa: E731
            results.append(
                run_setting(d, K, R, N, sigma, seeds, args.methods, log, save, args.skip_memory)
            )
            _save(args.tag, results)
    print(markdown(results))


if __name__ == "__main__":
    main()
