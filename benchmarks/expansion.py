"""Benchmark of GMMExpansion against scikit-learn's GaussianMixture (K by BIC) and
KernelDensity (bandwidth by 5-fold CV): held-out mean log-likelihood and fit time on 1-D /
2-D synthetic densities and real data; one-step against full EM; the claim "converges
regardless of initialisation" checked numerically.

Run: ``nice -n 10 .venv/bin/python benchmarks/expansion.py [--quick]``. Every finished
(case, seed, method) is appended to ``benchmarks/results/expansion_runs.jsonl`` with its
wall time, process CPU time and the load average, and skipped when the script is run
again (so an interrupted run resumes). Writes ``benchmarks/results/expansion.json`` and
``benchmarks/results/expansion.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from momix import GMMExpansion
from momix.expansion import (
    add_tail,
    em_weights,
    level_soft_counts,
    linear_bin,
    make_levels,
    mixture_log_density,
    precompute_levels,
    robust_scale,
    tail_level,
    tail_mass,
)
from momix.expansion._binning import lattice

RESULTS = Path(__file__).parent / "results"

# the script's folder, also when run by ``momix bench`` (runpy does not add it to sys.path)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _densities import EXTRA, EXTRA_SEEDS, SYNTHETIC, banana, five_normal  # noqa: E402

SEEDS = [0, 1, 2]


def real_sets() -> dict[str, np.ndarray]:
    from momix.datasets import load_galaxies, load_old_faithful

    faithful = np.asarray(load_old_faithful().X, dtype=float)
    return {
        "real: galaxies (1-D, n=82)": np.asarray(load_galaxies().X, dtype=float) / 1000,
        "real: Old Faithful eruptions (1-D)": faithful[:, :1],
        "real: Old Faithful (2-D)": faithful,
    }


# ---------------------------------------------------------------------------------------
# Methods: fit on train, return a log-density function
# ---------------------------------------------------------------------------------------


def fit_expansion(**params):
    def fit(X, seed):
        est = GMMExpansion(random_state=seed, **params).fit(X)
        return est.score_samples, {**_fit_info(est), **_choice_info(est)}

    return fit


def _fit_info(est) -> dict:
    return {
        "bandwidth": est.bandwidth_,
        "axis_factors": [float(f) for f in est.axis_factors_],
        "whitened": est.whitening_ is not None,
        "components": int(est.weights_.size),
        "levels": len(est.levels_) - (est.tail_weight_ > 0),
        "n_iter": int(est.n_iter_),
    }


def _choice_info(est) -> dict:
    choice = getattr(est, "whitening_choice_", None)
    if choice is None:
        return {}
    return {
        "total_correlation": float(choice.total_correlation),
        "reference_scores": [choice.raw_score, choice.white_score],
    }


def fit_whiten_both(X, seed):
    """The former ``whiten="auto"``: full searches in raw and whitened coordinates, the
    better held-out search kept (replaced by the total-correlation skip rule and the
    coarse-pass comparison; kept to reproduce its column)."""
    fits = [GMMExpansion(max_iter="auto", whiten=False, random_state=seed).fit(X)]
    if X.shape[1] > 1:
        fits.append(GMMExpansion(max_iter="auto", whiten=True, random_state=seed).fit(X))
    best = max(fits, key=lambda e: e._held_out_score())
    return best.score_samples, _fit_info(best)


def fit_kde(X, seed):
    sd = X.std(axis=0)
    grid = {"bandwidth": np.geomspace(0.01, 2.0, 20)}
    search = GridSearchCV(KernelDensity(), grid, cv=5).fit(X / sd)
    kde, logdet = search.best_estimator_, float(np.log(sd).sum())
    return (lambda Z: kde.score_samples(Z / sd) - logdet), {"bandwidth": float(kde.bandwidth)}


def fit_gmm(X, seed):
    fits = [
        GaussianMixture(k, n_init=2, random_state=seed).fit(X)
        for k in range(1, min(10, len(X) // 5) + 1)
    ]
    best = min(fits, key=lambda m: m.bic(X))
    return best.score_samples, {"components": int(best.n_components)}


PLAIN = {"n_levels": 1, "tail_weight": 0.0}
METHODS = {
    "one-step (paper)": fit_expansion(update="one_step", **PLAIN),
    "EM (paper grid)": fit_expansion(update="em", **PLAIN),
    "one-step + tail": fit_expansion(update="one_step"),
    "EM + tail": fit_expansion(update="em"),
    "EM multi-level + tail": fit_expansion(update="em", n_levels="auto"),
    "early-stopped + tail": fit_expansion(max_iter="auto", per_axis_bandwidth=False),
    "early-stopped, per-axis + tail": fit_expansion(max_iter="auto"),
    "early-stopped, per-axis, whiten both + tail": fit_whiten_both,
    "early-stopped, per-axis, whiten auto + tail": fit_expansion(max_iter="auto", whiten="auto"),
    "KDE (CV bandwidth)": fit_kde,
    "GMM (BIC)": fit_gmm,
}
EXPANSIONS = [m for m in METHODS if m not in ("KDE (CV bandwidth)", "GMM (BIC)")]


def run_method(fit, X, Xtest, seed, memory: bool):
    """Timed fit (no tracing), held-out score; peak traced memory from a second fit if asked.

    tracemalloc slows code that makes many small numpy allocations (the EM loop) far more
    than compiled code (the KD-tree of KernelDensity), so it is never active during the
    timed fit.
    """
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logpdf, info = fit(X, seed)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    scores = logpdf(Xtest)
    peak = None
    if memory:
        tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit(X, seed)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return {
        "ll": float(np.mean(scores)),
        "time": elapsed,
        "cpu": cpu,
        "load": load,
        "peak_mib": peak,
        **info,
    }


def splits(name, quick):
    """(seed, train, test, oracle test log-likelihood or None) for every repeat of a case."""
    if name in SYNTHETIC or name in EXTRA:
        draw, logpdf = SYNTHETIC.get(name) or EXTRA[name]
        for seed in EXTRA_SEEDS if name in EXTRA else SEEDS:
            rng = np.random.default_rng(seed)
            X, Xt = draw(rng, 500 if quick else 1000), draw(rng, 10_000)
            yield seed, X, Xt, float(np.mean(logpdf(Xt)))
        return
    data = REAL[name]
    rng = np.random.default_rng(0)
    folds = np.array_split(rng.permutation(len(data)), 5)
    for k, test in enumerate(folds[: 2 if quick else 5]):
        train = np.setdiff1d(np.arange(len(data)), test)
        yield k, data[train], data[test], None


REAL: dict[str, np.ndarray] = {}


def load_runs(path: Path) -> dict[tuple, dict]:
    if not path.exists():
        return {}
    runs = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            runs[(r["case"], r["seed"], r["method"], r["n_train"])] = r
    return runs


def benchmark_cases(quick, path: Path):
    """Run every missing (case, seed, method), appending one JSON line per run; yield rows."""
    done = load_runs(path)
    for name in [*SYNTHETIC, *REAL, *EXTRA]:
        runs = {m: [] for m in METHODS}
        oracle = []
        for i, (seed, X, Xt, orc) in enumerate(splits(name, quick)):
            if orc is not None:
                oracle.append(orc)
            for method, fit in METHODS.items():
                key = (name, seed, method, len(X))
                if key not in done:
                    r = {"case": name, "seed": seed, "method": method, "n_train": len(X)}
                    memory = i == 0 and method != "GMM (BIC)"  # first split; GMM: time
                    done[key] = {**r, **run_method(fit, X, Xt, seed, memory), "oracle_ll": orc}
                    with path.open("a") as fh:
                        fh.write(json.dumps(done[key]) + "\n")
                runs[method].append(done[key])
        row = summarise(name, runs, oracle)
        print_row(row)
        yield row


def summarise(name, runs, oracle):
    out = {"case": name, "oracle_ll": float(np.mean(oracle)) if oracle else None, "methods": {}}
    for method, rs in runs.items():
        lls = np.array([r["ll"] for r in rs])
        out["methods"][method] = {
            "ll": float(lls.mean()),
            "ll_se": float(lls.std(ddof=1) / np.sqrt(len(lls))) if len(lls) > 1 else 0.0,
            "time_median": float(np.median([r["time"] for r in rs])),
            "cpu_median": float(np.median([r["cpu"] for r in rs])),
            "load_mean": float(np.mean([r["load"] for r in rs])),
            "peak_mib": max((r["peak_mib"] for r in rs if r["peak_mib"] is not None), default=None),
            "runs": rs,
        }
    m = out["methods"]
    kde = m["KDE (CV bandwidth)"]
    best_anchor = max(kde["ll"], m["GMM (BIC)"]["ll"])
    for method in EXPANSIONS:
        m[method]["gap_to_best_anchor"] = m[method]["ll"] - best_anchor
        m[method]["time_ratio_to_kde"] = m[method]["time_median"] / kde["time_median"]
        m[method]["cpu_ratio_to_kde"] = m[method]["cpu_median"] / kde["cpu_median"]
        m[method]["meets_target"] = bool(
            m[method]["gap_to_best_anchor"] >= -0.02 and m[method]["time_ratio_to_kde"] < 1
        )
    return out


def print_row(row):
    parts = [f"{row['case']:<38}"]
    for method, r in row["methods"].items():
        parts.append(f"{method}: {r['ll']:.4f} ({r['time_median']:.2f}s)")
    print(" | ".join(parts), flush=True)


def binning_study(quick):
    """Exact against binned EM at a fixed bandwidth on large 1-D and 2-D samples."""
    from momix.expansion._binning import BIN_FRACTION, lattice, linear_bin

    out = {"bin_fraction": BIN_FRACTION, "settings": []}
    for label, draw, size, h in (
        ("1-D 5 normals", five_normal, 200_000, 0.05),
        ("2-D banana", banana, 20_000, 0.3),
    ):
        n = size // 10 if quick else size
        rng = np.random.default_rng(5)
        X, Xt = draw(rng, n), draw(rng, 20_000)
        scale = robust_scale(X)
        bins = linear_bin(X, np.ones(n), *lattice(X, h * scale))
        row = {"case": label, "n": n, "h": h, "bins": len(bins.weights), "fits": {}}
        for fit_label, binning in (("exact", False), ("binned", True)):
            start, cpu = time.perf_counter(), time.process_time()
            est = GMMExpansion(bandwidth=h, update="em", binning=binning).fit(X)
            row["fits"][fit_label] = {
                "time": time.perf_counter() - start,
                "cpu": time.process_time() - cpu,
                "load": os.getloadavg()[0],
                "test_ll": est.score(Xt),
                "train_ll": est.lower_bound_,
                "n_iter": int(est.n_iter_),
            }
        print("binning", row, flush=True)
        out["settings"].append(row)
    return out


# ---------------------------------------------------------------------------------------
# "Converges regardless of initialisation": concavity and many starts
# ---------------------------------------------------------------------------------------


def _dense_design(X, levels):
    """Every component's density at every point, shape (n, K) (1-D oracle via scipy)."""
    return np.column_stack(
        [np.exp(stats.norm.logpdf(X, lv.grid[0], lv.sigmas[0])) for lv in levels]
    )


def convergence_study(quick):
    rng = np.random.default_rng(0)
    X = five_normal(rng, 1000)
    w = np.ones(len(X))
    out = {}
    for label, per_sigma, n_levels in [
        ("coarse grid (spacing = sigma)", 1.0, 1),
        ("fine grid (spacing = sigma/2)", 2.0, 1),
        ("multi-level (sigma, 2 sigma, 4 sigma, 8 sigma)", 1.0, 4),
    ]:
        sigmas = 0.15 * robust_scale(X)
        n_grid = int(np.ceil((np.ptp(X) + 6 * sigmas[0]) / (sigmas[0] / per_sigma))) + 1
        levels = make_levels(X, n_grid, sigmas, n_levels, 10_000)
        pre = precompute_levels(X, w, levels)
        K = sum(lv.size for lv in levels)
        starts = [np.ones(K)] + [rng.dirichlet(np.full(K, a)) for a in (1.0, 0.1) for _ in range(2)]
        one_hot = np.full(K, 1e-6)
        one_hot[K // 2] = 1.0
        starts.append(one_hot)
        fits = [em_weights(pre, s, max_iter=10_000, tol=1e-6) for s in starts]
        lls = np.array([f.log_likelihood for f in fits])
        W = np.array([f.weights for f in fits])
        Phi = _dense_design(X, levels)
        p = Phi @ W[0]
        hess = -(Phi / p[:, None]).T @ (Phi / p[:, None]) / len(X)
        eig = np.linalg.eigvalsh(hess)
        sv = np.linalg.svd(Phi, compute_uv=False)
        out[label] = {
            "n_components": K,
            "n_starts": len(starts),
            "all_converged": bool(all(f.converged for f in fits)),
            "max_map_evaluations": int(max(f.n_iter for f in fits)),
            "ll_spread": float(lls.max() - lls.min()),
            "weights_l1_spread": float(max(np.abs(a - W[0]).sum() for a in W)),
            "density_max_rel_diff": float(max(np.max(np.abs(Phi @ a - p) / p) for a in W)),
            "hessian_max_eigenvalue": float(eig.max()),
            "design_condition_number": float(sv[0] / sv[-1]),
        }
        print(label, out[label], flush=True)
    return out


def one_step_vs_em(quick):
    """Training log-likelihood gap of the one-step weights at fixed bandwidths."""
    rng = np.random.default_rng(1)
    X, Xt = five_normal(rng, 1000), five_normal(rng, 10_000)
    rows = []
    for h in [0.05, 0.1, 0.2, 0.4]:
        row = {"bandwidth": h}
        for update in ("one_step", "em"):
            options = {"tol": 1e-4, "max_iter": 20_000} if update == "em" else {}
            est = GMMExpansion(bandwidth=h, update=update, **PLAIN, **options).fit(X)
            row[update] = {
                "train_ll": est.lower_bound_,
                "test_ll": est.score(Xt),
                "gap": est.optimality_gap_,
                "n_iter": est.n_iter_,
            }
        rows.append(row)
        print(row, flush=True)
    return rows


# ---------------------------------------------------------------------------------------
# Where the expansion loses on three normals: bandwidth, grid, sample size or smoothing?
# ---------------------------------------------------------------------------------------


def _grid_fit_ll(X, Xt, sigmas, *, steps=None, data=None):
    """Test LL (tail included) of grid weights at ``sigmas``: EM to 1e-3, or ``steps`` plain
    steps from uniform; fitted on ``data`` = (points, weights) if given (e.g. bins of a
    large sample), the grid and tail always from ``X``."""
    Xf, wf = data if data is not None else (X, np.ones(len(X)))
    levels = make_levels(X, "auto", sigmas, 1, 10**6)
    counts = level_soft_counts(Xf, wf, levels)
    pre = precompute_levels(Xf, wf, levels)
    if steps is None:
        fit = em_weights(pre, counts / counts.sum(), max_iter=5000, tol=1e-3)
    else:
        fit = em_weights(pre, counts / counts.sum(), max_iter=steps, tol=-np.inf, accelerate=False)
    log_p = mixture_log_density(Xt, fit.weights, levels)
    tail = tail_level(X, robust_scale(X))
    return float(np.mean(add_tail(log_p, Xt, tail, tail_mass("auto", len(X)))))


def three_normals_diagnosis(quick):
    """Decompose the expansion's loss on the 3-normal density into its sources.

    Per seed (the benchmark's draws): EM weights at the bandwidth chosen by CV, at the
    *test-set* (oracle) shared bandwidth, at the oracle per-axis bandwidths (5 x 5
    multipliers), and at the oracle bandwidth fitted to 200 000 draws (the approximation
    floor of the grid family); the early-stopped fit at its CV choice and with the
    oracle number of steps.
    """
    from threadpoolctl import threadpool_limits  # as in GMMExpansion.fit: thin products

    with threadpool_limits(limits=1, user_api="blas"):
        return _diagnosis_rows(quick)


def _diagnosis_rows(quick):
    draw, logpdf = SYNTHETIC["2-D multimodal (3 normals)"]
    rows = []
    factors = 2.0 ** np.array([-0.5, -0.25, 0.0, 0.25, 0.5])
    for seed in SEEDS[:1] if quick else SEEDS:
        rng = np.random.default_rng(seed)
        X, Xt = draw(rng, 500 if quick else 1000), draw(rng, 10_000)
        scale = robust_scale(X)
        row = {"seed": seed, "oracle": float(np.mean(logpdf(Xt)))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            em = GMMExpansion(update="em", random_state=seed).fit(X)
            auto = GMMExpansion(max_iter="auto", random_state=seed).fit(X)
        row["em_cv"] = {"ll": em.score(Xt), "h": em.bandwidth_}
        scan = {float(h): _grid_fit_ll(X, Xt, h * scale) for h in np.geomspace(0.15, 0.4, 8)}
        h_best = max(scan, key=scan.get)
        row["em_oracle_h"] = {"ll": scan[h_best], "h": h_best}
        diag = {
            (a, b): _grid_fit_ll(X, Xt, h_best * scale * [a, b]) for a in factors for b in factors
        }
        ab = max(diag, key=diag.get)
        row["em_oracle_diag"] = {"ll": diag[ab], "factors": [float(ab[0]), float(ab[1])]}
        big = draw(np.random.default_rng(100 + seed), 20_000 if quick else 200_000)
        bins = linear_bin(big, np.ones(len(big)), *lattice(big, h_best * scale))
        floor = _grid_fit_ll(X, Xt, h_best * scale, data=(bins.centres, bins.weights))
        row["em_oracle_h_200k"] = {"ll": floor}
        row["auto_cv"] = {"ll": auto.score(Xt), "h": auto.bandwidth_, "steps": int(auto.n_iter_)}
        path = {m: _grid_fit_ll(X, Xt, auto.sigmas_, steps=m) for m in (1, 2, 3, 5, 8, 12, 20, 40)}
        m_best = max(path, key=path.get)
        row["auto_oracle_steps"] = {"ll": path[m_best], "steps": m_best}
        print("diagnosis", row, flush=True)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


def _cell(r):
    return f"{r['ll']:.3f} +- {r['ll_se']:.3f}"


def markdown(results) -> str:
    n_seeds = len(SEEDS)
    lines = [
        "# GMM expansion benchmark",
        "",
        f"Machine: 2 cores (shared with other jobs; load average recorded per run), 24 GiB; "
        f"Python {platform.python_version()}. Synthetic cases: n_train = {results['n_train']}, "
        f"n_test = 10 000, mean over {n_seeds} seeds (0, 1, 2); extra densities (not used while "
        "developing the multi-level/tail variant): seeds 10, 11, 12; real data: 5-fold outer "
        "cross-validation. Held-out mean log-likelihood in nats (higher is better; +- one "
        "standard error). Fit time = median wall seconds including every method's own model "
        "selection (expansion: 5-fold bandwidth search; KDE: 5-fold grid search over 20 "
        "bandwidths; GMM: K = 1..10 by BIC, n_init = 2), measured without tracemalloc; peak "
        "memory (tracemalloc) from a second, untimed fit on the first split (not for GMM). Raw "
        "runs (wall, CPU, load, memory) in `expansion_runs.jsonl`.",
        "",
        "Methods: *one-step (paper)* = one EM weight step from uniform weights on one grid "
        "(`n_levels=1, tail_weight=0`); *EM (paper grid)* = maximum-likelihood weights on the "
        "same grid; *one-step + tail* = the default `GMMExpansion()` (the same one-step grid "
        "plus a broad tail component of mass 1/(n+1)); *EM + tail* = "
        "`GMMExpansion(update='em')`; *EM multi-level + tail* = `GMMExpansion(update='em', "
        "n_levels='auto')` (grids at sigma, 2 sigma, ... up to a quarter of the data range). "
        "*early-stopped + tail* = `GMMExpansion(max_iter='auto', per_axis_bandwidth=False)` "
        "(the number of EM weight steps from uniform chosen with the bandwidth by held-out "
        "likelihood); *early-stopped, per-axis + tail* = `GMMExpansion(max_iter='auto')` "
        "(also per-axis bandwidth multipliers within sqrt 2 of the shared choice); "
        "*early-stopped, per-axis, whiten both + tail* = the first `whiten='auto'`: "
        "full searches in raw and in ZCA-whitened coordinates, the better held-out search "
        "kept (runs of the previous code, kept for comparison); "
        "*early-stopped, per-axis, whiten auto + tail* = `GMMExpansion(max_iter='auto', "
        "whiten='auto')`: raw coordinates when the Gaussian total correlation "
        "-1/2 log det R is below 0.005 nats, else coarse bandwidth searches in both "
        "coordinate systems, whitened only if ahead by more than (d + d(d+1)/2)/n, and "
        "only the winner's search continued. "
        "All expansions search the bandwidth over h0 * 2^-4 ... h0 * 2^3 (the previous "
        "benchmark stopped at 2 h0).",
        "",
        "## Held-out log-likelihood",
        "",
        "| case | oracle | " + " | ".join(METHODS) + " |",
        "|---|---|" + "---|" * len(METHODS),
    ]
    for row in results["cases"]:
        m = row["methods"]
        orc = "-" if row["oracle_ll"] is None else f"{row['oracle_ll']:.3f}"
        lines.append(
            f"| {row['case']} | {orc} | " + " | ".join(_cell(m[k]) for k in METHODS) + " |"
        )
    lines += [
        "",
        "## Target: within 0.02 nats of the best anchor, faster than the CV'd KDE",
        "",
        "Each cell: LL - best anchor (nats); median wall time / KDE's (CPU-time ratio in "
        "brackets); **yes** when both parts of the target hold.",
        "",
        "| case | best anchor | " + " | ".join(EXPANSIONS) + " |",
        "|---|---|" + "---|" * len(EXPANSIONS),
    ]
    for row in results["cases"]:
        m = row["methods"]
        kde, gmm = m["KDE (CV bandwidth)"], m["GMM (BIC)"]
        anchor = "KDE" if kde["ll"] >= gmm["ll"] else "GMM"
        cells = [
            f"{m[k]['gap_to_best_anchor']:+.3f}; {m[k]['time_ratio_to_kde']:.2f}x "
            f"({m[k]['cpu_ratio_to_kde']:.2f}x)" + (" **yes**" if m[k]["meets_target"] else "")
            for k in EXPANSIONS
        ]
        lines.append(f"| {row['case']} | {anchor} | " + " | ".join(cells) + " |")
    totals = [
        sum(
            r["methods"][k]["meets_target"]
            for r in results["cases"]
            if not r["case"].startswith("extra")
        )
        for k in EXPANSIONS
    ]
    n_cases = sum(not r["case"].startswith("extra") for r in results["cases"])
    lines.append(
        "| met (benchmark cases) | | " + " | ".join(f"{t}/{n_cases}" for t in totals) + " |"
    )
    lines += [
        "",
        "## Fit times (median wall s / median CPU s (peak traced MiB); mean load average)",
        "",
        "| case | " + " | ".join(METHODS) + " | load |",
        "|---|" + "---|" * (len(METHODS) + 1),
    ]
    for row in results["cases"]:
        m = row["methods"]
        cells = [
            f"{m[k]['time_median']:.2f} / {m[k]['cpu_median']:.2f}"
            + ("" if m[k]["peak_mib"] is None else f" ({m[k]['peak_mib']:.1f} MiB)")
            for k in METHODS
        ]
        load = np.mean([m[k]["load_mean"] for k in METHODS])
        lines.append(f"| {row['case']} | " + " | ".join(cells) + f" | {load:.1f} |")
    b = results.get("binning")
    if b:
        lines += [
            "",
            f"## Linear binning (EM at a fixed bandwidth, bin width = {b['bin_fraction']} "
            "sigma per axis)",
            "",
            "| case | n | occupied bins | fit | wall s | CPU s | map evaluations | "
            "train LL (exact) | test LL (20 000) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in b["settings"]:
            for k, f in r["fits"].items():
                lines.append(
                    f"| {r['case']} (h = {r['h']}) | {r['n']} | {r['bins']} | {k} | "
                    f"{f['time']:.1f} | {f['cpu']:.1f} | {f['n_iter']} | {f['train_ll']:.5f} | "
                    f"{f['test_ll']:.5f} |"
                )
    lines += [
        "",
        "## Converges regardless of initialisation?",
        "",
        "| dictionary | K | starts | LL spread | weights L1 spread | max rel. density diff | "
        "max Hessian eigenvalue | cond(Phi) | max map evaluations |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in results.get("convergence", {}).items():
        lines.append(
            f"| {label} | {r['n_components']} | {r['n_starts']} | {r['ll_spread']:.2e} | "
            f"{r['weights_l1_spread']:.2e} | {r['density_max_rel_diff']:.2e} | "
            f"{r['hessian_max_eigenvalue']:.2e} | {r['design_condition_number']:.2e} | "
            f"{r['max_map_evaluations']} |"
        )
    lines += [
        "",
        "## One step against full EM at fixed bandwidths (5 normals, n = 1000, one grid)",
        "",
        "| bandwidth h | one-step train LL | EM train LL | certified gap of one-step | "
        "one-step test LL | EM test LL | EM map evaluations |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results.get("one_step_vs_em", []):
        a, b = r["one_step"], r["em"]
        lines.append(
            f"| {r['bandwidth']} | {a['train_ll']:.4f} | {b['train_ll']:.4f} | {a['gap']:.4f} | "
            f"{a['test_ll']:.4f} | {b['test_ll']:.4f} | {b['n_iter']} |"
        )
    lines += _diagnosis_markdown(results.get("diagnosis", []))
    return "\n".join(lines) + "\n"


def _diagnosis_markdown(rows) -> list[str]:
    if not rows:
        return []
    cols = [
        ("em_cv", "EM, CV h"),
        ("em_oracle_h", "EM, oracle h"),
        ("em_oracle_diag", "EM, oracle per-axis h"),
        ("em_oracle_h_200k", "EM, oracle h, fitted to 200 000 draws"),
        ("auto_cv", "early-stopped, CV (h, axes, steps)"),
        ("auto_oracle_steps", "early-stopped, oracle steps"),
    ]
    lines = [
        "",
        "## Where the loss on three normals comes from (held-out LL minus the true density's)",
        "",
        "Oracle choices are made on the 10 000 test points (optimistic by construction). "
        "EM to a certified gap of 1e-3, tail component included everywhere.",
        "",
        "| seed | " + " | ".join(label for _, label in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for r in rows:
        cells = []
        for key, _ in cols:
            c = r[key]
            extra = [f"h={c['h']:.3f}"] if "h" in c else []
            extra += [f"steps={c['steps']}"] if "steps" in c else []
            extra += ["r=" + "/".join(f"{f:.2f}" for f in c["factors"])] if "factors" in c else []
            cells.append(
                f"{c['ll'] - r['oracle']:+.4f}" + (f" ({', '.join(extra)})" if extra else "")
            )
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + " |")
    mean = [np.mean([r[key]["ll"] - r["oracle"] for r in rows]) for key, _ in cols]
    lines.append("| mean | " + " | ".join(f"{m:+.4f}" for m in mean) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the markdown from the JSON"
    )
    parser.add_argument("--skip-studies", action="store_true", help="only the case table")
    args = parser.parse_args()
    if args.report_only:
        results = json.loads((RESULTS / "expansion.json").read_text())
        (RESULTS / "expansion.md").write_text(markdown(results))
        return
    REAL.update(real_sets())
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("expansion_runs_quick.jsonl" if args.quick else "expansion_runs.jsonl")
    old = RESULTS / "expansion.json"
    previous = json.loads(old.read_text()) if old.exists() else {}
    results = {
        "machine": {"cores": 2, "memory_gib": 24, "python": platform.python_version()},
        "n_train": 500 if args.quick else 1000,
        "seeds": SEEDS,
        "extra_seeds": EXTRA_SEEDS,
        "cases": [],
    }
    for key in ("binning", "one_step_vs_em", "convergence", "diagnosis"):
        if key in previous and previous.get("version") in (2, 3):
            results[key] = previous[key]
    results["version"] = 3

    def save():
        (RESULTS / "expansion.json").write_text(json.dumps(results, indent=1))
        (RESULTS / "expansion.md").write_text(markdown(results))

    for row in benchmark_cases(args.quick, path):
        results["cases"].append(row)
        save()
    if not args.skip_studies:
        for key, study in (
            ("binning", binning_study),
            ("one_step_vs_em", one_step_vs_em),
            ("convergence", convergence_study),
            ("diagnosis", three_normals_diagnosis),
        ):
            if key not in results:
                results[key] = study(args.quick)
                save()
    print(markdown(results))


if __name__ == "__main__":
    main()
