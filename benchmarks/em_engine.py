"""The EM engine's full-covariance E+M step against scikit-learn's, in CPU time per iteration.

Both take one EM iteration from the same parameters on the same data (float64, full
covariances): momix's pass (:func:`momix.em.e_pass`: one GEMM of the rows against every
component's whitened factor per block, statistics from the same whitened rows) plus its
M-step, against scikit-learn's ``_e_step`` + ``_m_step``. scikit-learn runs with its default
BLAS threading and with BLAS on one thread; the smaller CPU time of the two is the reference
(spec em_engine.md section 4.5). Per iteration: median of ``--repeats`` process-time
measurements (CPU time of all threads, robust to a busy machine), the wall time beside it,
and the peak of memory allocated during one iteration (``tracemalloc``, which sees numpy's
buffers). The two mean log-likelihoods of the starting parameters and the updated
parameters are compared.

A second table fits to convergence from the same start (tol 1e-3, up to 500 iterations) at a
smaller size: scikit-learn, the engine with plain EM (same iterations) and with SQUAREM.

Usage::

    python benchmarks/em_engine.py                    # N = 2e5, d = 20, K = 10 (about 2 min)
    python benchmarks/em_engine.py --n 200000 1000000 --sklearn-threaded-repeats 1
                                                      # adds the spec's size (scikit-learn
                                                      # threaded: about 40 s per iteration)

Writes ``benchmarks/results/em_engine.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import scipy
import sklearn
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from threadpoolctl import threadpool_info, threadpool_limits

from momix.em import EMData, GaussianFamily, PassRunner, e_pass, fit_em

RESULTS = Path(__file__).parent / "results"


def make_data(n: int, d: int, K: int, seed: int = 0, spread: float = 3.0):
    """A K-component mixture with random full covariances; means drawn with sd ``spread``."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(K, 3.0))
    means = rng.normal(scale=spread, size=(K, d))
    factors = rng.normal(size=(K, d, d)) / np.sqrt(d)
    covs = factors @ np.swapaxes(factors, 1, 2) + 0.3 * np.eye(d)
    labels = rng.choice(K, size=n, p=weights)
    X = np.empty((n, d))
    for k in range(K):
        idx = labels == k
        X[idx] = means[k] + rng.normal(size=(idx.sum(), d)) @ np.linalg.cholesky(covs[k]).T
    # a start away from the truth: perturbed means, inflated covariances
    start = (
        np.full(K, 1.0 / K),
        means + rng.normal(scale=1.0, size=(K, d)),
        covs * 1.5 + 0.5 * np.eye(d),
    )
    return X, start


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "blas": [
            {
                k: v
                for k, v in lib.items()
                if k in ("internal_api", "version", "num_threads", "architecture")
            }
            for lib in threadpool_info()
        ],
        "load_average": list(os.getloadavg()),
    }


def _measure(fn, repeats: int, memory: bool = True) -> dict:
    cpu, wall = [], []
    for _ in range(repeats):
        t0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - t0)
        wall.append(time.perf_counter() - w0)
    out = {
        "cpu_median_s": float(np.median(cpu)),
        "cpu_s": cpu,
        "wall_median_s": float(np.median(wall)),
        "peak_alloc_mb": None,
    }
    if memory:
        tracemalloc.start()
        fn()
        out["peak_alloc_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out


def sklearn_model(K, start):
    weights, means, covs = start
    g = SklearnGaussianMixture(K, covariance_type="full", reg_covar=1e-6)
    g.weights_, g.means_, g.covariances_ = weights.copy(), means.copy(), covs.copy()
    g.precisions_cholesky_ = np.stack([np.linalg.inv(np.linalg.cholesky(c)).T for c in covs])
    return g


def per_iteration(n: int, d: int, K: int, repeats: int, sk_threaded_repeats: int) -> dict:
    X, start = make_data(n, d, K)
    data = EMData(X)
    family = GaussianFamily("full", floor="add", reg_covar=1e-6)
    family.prepare(data.summary())
    params = family.make_params(*start)

    out: dict = {}
    holder = {}

    with PassRunner() as runner:  # once per fit in fit_em: BLAS limits, thread pool

        def engine():
            totals = e_pass(data, family, params, runner)
            holder["engine"] = (totals.mean_log_lik, family.m_step(totals, params)[0])

        out["engine"] = _measure(engine, repeats)

    def sk_step():
        g = sklearn_model(K, start)
        log_prob_norm, log_resp = g._e_step(X)
        g._m_step(X, log_resp)
        holder["sklearn"] = (float(log_prob_norm), g)

    with threadpool_limits(limits=1, user_api="blas"):
        out["sklearn_1thread"] = _measure(sk_step, repeats)
    out["sklearn_threaded"] = _measure(sk_step, sk_threaded_repeats, memory=False)

    ell_engine, new = holder["engine"]
    ell_sk, g = holder["sklearn"]
    ref = min(out["sklearn_1thread"]["cpu_median_s"], out["sklearn_threaded"]["cpu_median_s"])
    out["ratio_cpu"] = out["engine"]["cpu_median_s"] / ref
    out["mean_log_lik"] = {
        "engine": ell_engine,
        "sklearn": ell_sk,
        "abs_diff": abs(ell_engine - ell_sk),
    }
    out["updated_params_max_rel_diff"] = {
        "means": float(np.max(np.abs(new.means - g.means_)) / np.max(np.abs(g.means_))),
        "covariances": float(
            np.max(np.abs(new.covariances - g.covariances_)) / np.max(np.abs(g.covariances_))
        ),
        "weights": float(np.max(np.abs(new.weights - g.weights_))),
    }
    out["size"] = {"n": n, "d": d, "K": K, "data_mb": X.nbytes / 2**20}
    return out


def to_convergence(n: int, d: int, K: int) -> dict:
    X, start = make_data(n, d, K, seed=1, spread=0.5)
    weights, means, covs = start
    precisions = np.linalg.inv(covs)
    rows = {}
    kw = dict(
        covariance_type="full",
        tol=1e-3,
        max_iter=500,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
    )
    for name, limit in (("sklearn_1thread", 1), ("sklearn_threaded", None)):
        t0 = time.process_time()
        with warnings.catch_warnings(), threadpool_limits(limits=limit, user_api="blas"):
            warnings.simplefilter("ignore")
            g = SklearnGaussianMixture(K, **kw).fit(X)
        rows[name] = {
            "cpu_s": time.process_time() - t0,
            "n_iter": int(g.n_iter_),
            "lower_bound": float(g.lower_bound_),
        }
    data = EMData(X)
    family = GaussianFamily("full", floor="add", reg_covar=1e-6)
    family.prepare(data.summary())
    for name, accelerate in (("engine_plain", False), ("engine_squarem", True)):
        t0 = time.process_time()
        r = fit_em(
            data, family, family.make_params(*start), max_iter=500, tol=1e-3, accelerate=accelerate
        )
        rows[name] = {
            "cpu_s": time.process_time() - t0,
            "n_iter": int(r.n_iter),
            "lower_bound": float(r.lower_bound),
        }
    rows["size"] = {"n": n, "d": d, "K": K}
    return rows


def markdown(result: dict) -> str:
    lines = [
        "# EM engine vs scikit-learn: full-covariance E+M step",
        "",
        "One EM iteration from the same parameters on the same float64 data. CPU = process "
        "time of all threads, median of repeats; peak = memory allocated during one "
        "iteration (tracemalloc; scikit-learn threaded allocates as 1 thread). Ratio = engine "
        "CPU / the smaller of scikit-learn's two CPU times (spec target at N = 1e6: <= 0.3).",
        "",
        "| N | d | K | momix.em CPU s | sklearn 1 thread CPU s | sklearn threaded CPU s "
        "| **ratio** | engine wall s | peak MB engine / sklearn | |mean loglik diff| |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for it in result["per_iteration"]:
        s, e = it["size"], it["engine"]
        s1, st = it["sklearn_1thread"], it["sklearn_threaded"]
        lines.append(
            f"| {s['n']:,} | {s['d']} | {s['K']} | {e['cpu_median_s']:.3f} | "
            f"{s1['cpu_median_s']:.3f} | {st['cpu_median_s']:.3f} | **{it['ratio_cpu']:.2f}** | "
            f"{e['wall_median_s']:.3f} | {e['peak_alloc_mb']:.0f} / {s1['peak_alloc_mb']:.0f} | "
            f"{it['mean_log_lik']['abs_diff']:.1g} |"
        )
    pd = result["per_iteration"][-1]["updated_params_max_rel_diff"]
    lines += [
        "",
        "Updated parameters after the iteration, engine vs scikit-learn (largest size), max "
        f"relative difference: means {pd['means']:.1g}, covariances {pd['covariances']:.1g}, "
        f"weights (absolute) {pd['weights']:.1g}.",
    ]
    conv = result.get("to_convergence")
    if conv:
        c = conv["size"]
        lines += [
            "",
            f"## To convergence from the same start (N = {c['n']:,}, d = {c['d']}, "
            f"K = {c['K']}, tol 1e-3)",
            "",
            "| fit | CPU s | passes | final mean log-likelihood |",
            "|---|---|---|---|",
        ]
        for key in ("sklearn_1thread", "sklearn_threaded", "engine_plain", "engine_squarem"):
            r = conv[key]
            lines.append(f"| {key} | {r['cpu_s']:.2f} | {r['n_iter']} | {r['lower_bound']:.10g} |")
    m = result["machine"]
    lines += [
        "",
        f"Machine: {m['cpu']}, {m['cpus_usable']} usable CPUs, load average at start "
        f"{m['load_average'][0]:.1f} (a shared machine: CPU time, not wall time, is the "
        f"measure). numpy {m['numpy']}, scipy {m['scipy']}, scikit-learn {m['sklearn']}; "
        f"BLAS {m['blas']}.",
        "",
        "Reproduce: `python benchmarks/em_engine.py --n "
        + " ".join(str(it["size"]["n"]) for it in result["per_iteration"])
        + f" --d {s['d']} --k {s['K']}`.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[200_000])
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sklearn-threaded-repeats", type=int, default=3)
    parser.add_argument("--convergence-n", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "em_engine")
    args = parser.parse_args()
    result = {"machine": machine_info()}
    result["per_iteration"] = [
        per_iteration(n, args.d, args.k, args.repeats, args.sklearn_threaded_repeats)
        for n in args.n
    ]
    if args.convergence_n:
        result["to_convergence"] = to_convergence(args.convergence_n, args.d, args.k)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
