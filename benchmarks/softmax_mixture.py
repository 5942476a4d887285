"""Benchmark of SoftmaxMixture (Bing, Bunea, Niles-Weed & Wegkamp 2024: moment start + EM).

Synthetic grid (item set X ~ N(0, I_L), p items, K classes, N choices):
  * MoM alone    -- the best Hermite moment candidate (momix.softmax.moment_starts);
  * EM(MoM)      -- SoftmaxMixture(init="moments") with the default n_init="auto" (K screened
                    moment candidates run to convergence), moment start included in time;
  * EM(random)   -- n_random (20) EM runs from random starts; the best log-likelihood of all
                    of them, and the best among the runs that fit in EM(MoM)'s time budget.
Reported: matched coefficient error max_k ||theta_k - theta_hat_sigma(k)|| (momix.metrics),
weight error, log-likelihood, EM steps, wall time; "reached" = EM(MoM) log-likelihood within
1e-6 N of the best of the random starts.

Real data: latent-class logit on Ecdat Yogurt and Catsup panels (K = 1..4, BIC over
households), against an independent fit: direct maximisation of the same panel
log-likelihood with scipy.optimize (L-BFGS-B, analytic gradient) from many random starts.

All timings single-threaded BLAS (threadpoolctl), on a 2-core machine shared with other jobs.

Usage::

    python benchmarks/softmax_mixture.py --preset quick          # the subset run for the docs
    python benchmarks/softmax_mixture.py --p 1000 10000 --L 2 5 10 --K 2 3 5 \\
        --N 1e4 1e5 1e6 --sep low high --seeds 10                  # the full grid
    python benchmarks/softmax_mixture.py --preset full --stale-only --runs-only
        # after a change of the EM(MoM) path (EM_VERSION): re-run its parts of the recorded
        # runs only, reusing their random baselines; then --preset full --no-new-runs
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax
from threadpoolctl import threadpool_limits

from momix import SoftmaxMixture
from momix.metrics import parameter_error
from momix.softmax import ItemSetData, MomentStartWarning, fit_em, moment_starts, random_starts
from momix.softmax._model import log_choice_probabilities
from momix.softmax._start import feature_scaling

SEPARATION = {"low": 1.0, "high": 2.0}  # norm of every coefficient vector (whitened units)
PRESETS = {
    # the whole grid: 2 x 3 x 3 x 3 x 2 = 108 settings
    "full": [dict(p=[1_000, 10_000], L=[2, 5, 10], K=[2, 3, 5],
                  N=[10_000, 100_000, 1_000_000], sep=["low", "high"])],
    "quick": [
        # method comparison across L, K and separation
        dict(p=[10_000], L=[2], K=[2], N=[100_000], sep=["low", "high"]),
        # N scaling at fixed p, L, K
        dict(p=[10_000], L=[5], K=[3], N=[10_000, 100_000, 1_000_000], sep=["high"]),
        dict(p=[1_000], L=[2, 5, 10], K=[2, 3], N=[100_000], sep=["high"]),
        dict(p=[10_000], L=[10], K=[3], N=[100_000], sep=["high", "low"]),
        dict(p=[10_000], L=[10], K=[5], N=[100_000], sep=["high"]),
    ],
}
EM_OPTIONS = dict(max_iter=2000, tol=1e-8, accelerate=True)


# ----------------------------------------------------------------------------- synthetic
def make_problem(p, L, K, N, sep, seed):
    """Gaussian items, coefficient vectors of norm SEPARATION[sep] at pairwise distance
    >= 0.6 x norm (rejection), Dirichlet(4) weights, counts ~ Multinomial(N, pi)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((p, L))
    norm = SEPARATION[sep]
    for _ in range(1000):
        theta = rng.standard_normal((K, L))
        theta *= norm / np.linalg.norm(theta, axis=1, keepdims=True)
        gaps = np.linalg.norm(theta[:, None] - theta[None], axis=2)[np.triu_indices(K, 1)]
        if gaps.min() >= 0.6 * norm:
            break
    weights = rng.dirichlet(4 * np.ones(K))
    pi = weights @ np.exp(log_choice_probabilities(X[None], theta)[:, 0, :])
    counts = rng.multinomial(N, pi / pi.sum()).astype(float)
    return X, counts, weights, theta, float(gaps.min())


def _errors(theta, weights, est_theta, est_weights):
    err = parameter_error(theta, est_theta, relative=False)
    return err.value, float(np.abs(est_weights[err.permutation] - weights).max())


#: version of the EM(MoM) path; 2 added the 'hermite-nd' and 'gaussian' starts for K > L;
#: 3 made n_init='auto' the default (K screened moment candidates run to convergence) and
#: added the low-order routes for K <= L; 4 added split-and-merge moves (split_merge='auto':
#: 10 candidate moves for K >= 3; K = 2 computes what version 3 did), 5 capped every candidate
#: move at 600 full-EM steps unless it overtakes the optimum. A record older than its
#: setting's version re-runs its moment parts only: the random starts are reused.
EM_VERSION = 5


def _setting_version(K):
    """The EM(MoM) version that changed what this setting computes last."""
    return EM_VERSION if K >= 3 else 3


def _stale(record):
    """Does the record's EM(MoM) part predate the last change of its setting's EM(MoM) path?"""
    return record.get("em_version", 1) < _setting_version(record["K"])


def _moment_part(data, theta, weights, K, seed):
    out = {}
    start, cpu = time.perf_counter(), time.process_time()
    try:
        ms = moment_starts(data, K, 10 * K, np.random.default_rng(seed))
        out["mom"] = dict(time=time.perf_counter() - start, cpu_time=time.process_time() - cpu,
                          log_likelihood=ms.log_likelihood[0], source=ms.sources[0])
        out["mom"]["coef_error"], out["mom"]["weight_error"] = _errors(
            theta, weights, ms.theta[0], ms.weights[0])
    except ValueError as exc:
        out["mom"] = dict(time=time.perf_counter() - start, failed=str(exc))
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MomentStartWarning)
        model = SoftmaxMixture(K, random_state=seed, max_iter=EM_OPTIONS["max_iter"],
                               tol=EM_OPTIONS["tol"]).fit(data.features, counts=data.counts)
    out["em_mom"] = dict(time=time.perf_counter() - start, cpu_time=time.process_time() - cpu,
                         log_likelihood=model.log_likelihood_,
                         n_iter=model.n_iter_, init_used=model.init_used_, n_init=model.n_init_,
                         n_split_merge=model.n_split_merge_,
                         skipped=[str(w.message) for w in caught
                                  if issubclass(w.category, MomentStartWarning)])
    out["em_mom"]["coef_error"], out["em_mom"]["weight_error"] = _errors(
        theta, weights, model.coefs_, model.weights_)
    return out


def _random_part(data, theta, weights, K, seed, n_random):
    w0, t0 = random_starts(feature_scaling(data), K, n_random, np.random.default_rng(seed + 10**6))
    runs = []
    for w, t in zip(w0, t0, strict=True):
        s = time.perf_counter()
        res = fit_em(data, w, t, **EM_OPTIONS)
        runs.append((time.perf_counter() - s, res))
    times = np.cumsum([r[0] for r in runs])
    lls = np.array([r[1].log_likelihood for r in runs])
    best = runs[int(np.argmax(lls))][1]
    out = dict(
        n_starts=n_random, time=float(times[-1]), best_log_likelihood=float(lls.max()),
        mean_n_iter=float(np.mean([r[1].n_iter for r in runs])),
        n_reaching_best=int(np.sum(lls >= lls.max() - 1e-6 * data.counts.sum())),
        start_times=times.tolist(), start_log_likelihoods=lls.tolist(),
    )
    out["coef_error"], out["weight_error"] = _errors(theta, weights, best.theta, best.weights)
    return out


def synthetic_run(p, L, K, N, sep, seed, n_random, old=None):
    """One seed: MoM alone, EM(MoM), and ``n_random`` random-start EM runs.

    With ``old`` (a stale record of the same seed), the random starts are taken from it and
    only the moment parts re-run.
    """
    X, counts, weights, theta, gap = make_problem(p, L, K, N, sep, seed)
    data = ItemSetData(X, counts)
    out = dict(p=p, L=L, K=K, N=N, sep=sep, seed=seed, min_gap=gap, em_version=EM_VERSION,
               load_average=os.getloadavg()[0])
    out.update(_moment_part(data, theta, weights, K, seed))
    if old:  # its budget fields were measured against the old EM(MoM) time: drop them
        out["random"] = {k: v for k, v in old["random"].items() if not k.startswith("budget")}
    else:
        out["random"] = _random_part(data, theta, weights, K, seed, n_random)
    rnd = out["random"]
    if "start_times" in rnd:  # the budget: random starts finished within EM(MoM)'s time
        times, lls = np.array(rnd["start_times"]), np.array(rnd["start_log_likelihoods"])
        in_budget = lls[times <= out["em_mom"]["time"]]
        rnd["budget_starts"] = int(in_budget.size)
        rnd["budget_best_log_likelihood"] = float(in_budget.max()) if in_budget.size else None
    best = rnd["best_log_likelihood"]
    out["reached"] = bool(out["em_mom"]["log_likelihood"] >= best - 1e-6 * N)
    out["gap_to_best_random"] = float(best - out["em_mom"]["log_likelihood"])
    return out


def timing_target(reps=3):
    """N = 1e6 choices (indices), p = 1e4, L = 10, K = 3: SoftmaxMixture.fit wall time."""
    X, counts, weights, theta, _ = make_problem(10_000, 10, 3, 1_000_000, "high", 0)
    choices = np.repeat(np.arange(len(counts)), counts.astype(int))
    np.random.default_rng(0).shuffle(choices)
    times, errs = [], []
    for r in range(reps):
        tracemalloc.start()
        s = time.perf_counter()
        model = SoftmaxMixture(3, random_state=r).fit(X, choices)
        times.append(time.perf_counter() - s)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        errs.append(parameter_error(theta, model.coefs_, relative=False).value)
    return dict(setting="N=1e6 choices, p=1e4, L=10, K=3, sep=high", times=times,
                median_time=float(np.median(times)), coef_errors=errs, n_iter=model.n_iter_,
                peak_memory_mib=peak / 2**20, init_used=model.init_used_)


# ----------------------------------------------------------------------------- real data
def panel_negloglik(params, F, y, groups, n_groups, K):
    """Independent panel latent-class logit: -loglik and gradient in (weight logits, coefs)."""
    L = F.shape[2]
    logits, theta = np.r_[0.0, params[: K - 1]], params[K - 1:].reshape(K, L)
    u = np.einsum("njl,kl->knj", F, theta)
    log_p = u - logsumexp(u, axis=2, keepdims=True)
    n = len(y)
    S = np.zeros((n_groups, K))
    np.add.at(S, groups, log_p[:, np.arange(n), y].T)
    log_a = logits - logsumexp(logits)
    joint = log_a + S
    ll_g = logsumexp(joint, axis=1)
    r = np.exp(joint - ll_g[:, None])  # (G, K)
    w = r[groups]  # (n, K)
    P = np.exp(log_p)
    resid = F[np.arange(n), y][None] - np.einsum("knj,njl->knl", P, F)  # (K, n, L)
    g_theta = np.einsum("nk,knl->kl", w, resid)
    g_logit = (r - softmax(logits)).sum(axis=0)[1:]
    return -ll_g.sum(), -np.r_[g_logit, g_theta.ravel()]


def scipy_fit(F, y, groups, K, n_starts, seed):
    rng = np.random.default_rng(seed)
    n_groups = int(groups.max()) + 1
    scale = np.std(F.reshape(-1, F.shape[2]), axis=0)
    best = None
    for _ in range(n_starts):
        coefs = rng.standard_normal((K, F.shape[2])) / scale
        x0 = np.r_[rng.normal(0, 0.5, K - 1), coefs.ravel()]
        res = minimize(panel_negloglik, x0, args=(F, y, groups, n_groups, K), jac=True,
                       method="L-BFGS-B", options=dict(maxiter=5000, gtol=1e-8))
        if best is None or res.fun < best.fun:
            best = res
    return -float(best.fun)


def real_data(name, loader, Ks, n_init, n_scipy):
    arrays = loader().to_arrays(add_intercepts=True)
    F, y, g = arrays.features, arrays.chosen, arrays.groups
    rows = []
    for K in Ks:
        s = time.perf_counter()
        model = SoftmaxMixture(K, init="random", n_init=n_init, tol=1e-10, max_iter=5000,
                               random_state=0).fit(F, y, groups=g)
        t_momix = time.perf_counter() - s
        s = time.perf_counter()
        ll_scipy = scipy_fit(F, y, g, K, n_scipy, seed=K)
        t_scipy = time.perf_counter() - s
        order = np.argsort(-model.weights_)
        rows.append(dict(
            K=K, log_likelihood=model.log_likelihood_, scipy_log_likelihood=ll_scipy,
            bic=model.bic(F, y, groups=g), aic=model.aic(F, y, groups=g),
            n_parameters=model._n_parameters(), weights=model.weights_[order].tolist(),
            coefs=model.coefs_[order].tolist(), n_iter=model.n_iter_, time=t_momix,
            scipy_time=t_scipy, n_init=n_init, scipy_starts=n_scipy,
        ))
        print(f"{name} K={K}: momix ll={model.log_likelihood_:.3f} ({t_momix:.1f}s), "
              f"scipy ll={ll_scipy:.3f} ({t_scipy:.1f}s)", flush=True)
    return dict(name=name, n_obs=len(y), n_groups=int(g.max()) + 1,
                feature_names=list(arrays.feature_names), alternatives=list(arrays.alternatives),
                rows=rows)


# ----------------------------------------------------------------------------- report
def _med(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else float("nan")


def summarise(runs):
    keys = sorted({(r["p"], r["L"], r["K"], r["N"], r["sep"]) for r in runs})
    table = []
    for key in keys:
        rs = [r for r in runs if (r["p"], r["L"], r["K"], r["N"], r["sep"]) == key]
        mom_ok = [r for r in rs if "coef_error" in r["mom"]]
        table.append(dict(
            p=key[0], L=key[1], K=key[2], N=key[3], sep=key[4], seeds=len(rs),
            versions="/".join(str(v) for v in sorted({r.get("em_version", 1) for r in rs})),
            reached=sum(r["reached"] for r in rs),
            moment_start_used=sum(r["em_mom"]["init_used"] == "moments" for r in rs),
            err_mom=_med([r["mom"]["coef_error"] for r in mom_ok]),
            err_em_mom=_med([r["em_mom"]["coef_error"] for r in rs]),
            err_random=_med([r["random"]["coef_error"] for r in rs]),
            werr_em_mom=_med([r["em_mom"]["weight_error"] for r in rs]),
            iter_em_mom=_med([r["em_mom"]["n_iter"] for r in rs]),
            iter_random=_med([r["random"]["mean_n_iter"] for r in rs]),
            time_mom=_med([r["mom"]["time"] for r in rs]),
            time_em_mom=_med([r["em_mom"]["time"] for r in rs]),
            cpu_em_mom=_med([r["em_mom"].get("cpu_time") for r in rs]),
            time_random=_med([r["random"]["time"] for r in rs]),
            budget_known=sum("budget_starts" in r["random"] for r in rs),
            budget_reached=sum(
                r["random"].get("budget_best_log_likelihood") is not None
                and r["random"]["budget_best_log_likelihood"]
                >= r["random"]["best_log_likelihood"] - 1e-6 * r["N"] for r in rs),
            random_starts_reaching_best=_med([r["random"]["n_reaching_best"] for r in rs]),
            worst_gap_per_obs=max(r["gap_to_best_random"] / r["N"] for r in rs),
        ))
    return table


def markdown(results):
    lines = ["# Softmax mixture benchmark", "",
             f"Machine: {results['machine']}. Single-threaded BLAS. Medians over seeds.", ""]
    if results.get("synthetic"):
        lines += [
            "## Synthetic: EM from the moment start vs 20 random starts vs MoM alone", "",
            "Coefficient error = max_k ||theta_k - theta_hat_sigma(k)||_2 (Hungarian matching); "
            "*reached* = EM(MoM) log-likelihood within 1e-6 N of the best of the 20 random "
            "starts; *budget* = the random starts that finished within EM(MoM)'s wall time "
            "reached that best; *MoM used* = runs where the moment start applied; *worst gap / "
            "N* = largest (best random - EM(MoM)) log-likelihood per choice over the seeds "
            "(negative: EM(MoM) was higher in every seed); *EM ver* = version(s) of the EM(MoM) "
            f"path behind the cell's records (current: {EM_VERSION} for K >= 3, 3 for K = 2; "
            "3 = no split-and-merge moves).", "",
            "| p | L | K | N | sep | EM ver | seeds | reached | budget | MoM used | err MoM "
            "| err EM(MoM) | err EM(best rnd) | w-err EM(MoM) | steps EM(MoM) | steps/rnd start "
            "| t MoM [s] | t EM(MoM) [s] | CPU EM(MoM) [s] | t 20 rnd [s] | rnd starts at best "
            "| worst gap / N |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results["synthetic_summary"]:
            lines.append(
                f"| {r['p']} | {r['L']} | {r['K']} | {r['N']:.0e} | {r['sep']} | {r['versions']} "
                f"| {r['seeds']} "
                f"| {r['reached']}/{r['seeds']} | {r['budget_reached']}/{r['budget_known']} "
                f"| {r['moment_start_used']}/{r['seeds']} | {r['err_mom']:.3f} "
                f"| {r['err_em_mom']:.4f} | {r['err_random']:.4f} | {r['werr_em_mom']:.4f} "
                f"| {r['iter_em_mom']:.0f} | {r['iter_random']:.0f} | {r['time_mom']:.2f} "
                f"| {r['time_em_mom']:.2f} | {r['cpu_em_mom']:.2f} | {r['time_random']:.1f} "
                f"| {r['random_starts_reaching_best']:.0f}/20 | {r['worst_gap_per_obs']:.1e} |")
        tot = results["synthetic_summary"]
        n = sum(r["seeds"] for r in tot)
        short = [r for r in results["synthetic"] if not r["reached"]]
        better = sum(r["em_mom"]["coef_error"] < r["random"]["coef_error"] for r in short)
        runs = results["synthetic"]
        wall = [r["random"]["time"] / r["em_mom"]["time"] for r in runs]
        cpu = [r["random"]["time"] / r["em_mom"]["cpu_time"] for r in runs
               if r["em_mom"].get("cpu_time")]
        lines += ["", f"Overall: {len(tot)} settings, {n} runs; EM(MoM) reached the best of "
                  f"the random starts in {sum(r['reached'] for r in tot)}/{n} runs. In "
                  f"{better} of the {len(short)} runs where it fell short, its coefficient "
                  "error was nevertheless below that of the best random start (at low "
                  "separation and small N a higher-likelihood optimum can lie far from the "
                  "truth, e.g. with a class spiking on a few items).", "",
                  f"Time: EM(MoM) took less wall time than the 20 random starts in "
                  f"{sum(x > 1 for x in wall)}/{len(wall)} runs (median ratio "
                  f"{np.median(wall):.1f}x); its CPU time was below their wall time in "
                  f"{sum(x > 1 for x in cpu)}/{len(cpu)} runs with CPU time recorded (median "
                  f"ratio {np.median(cpu) if cpu else float('nan'):.1f}x). The random starts "
                  "ran single-threaded at load averages near 2 on 2 cores (wall ~ CPU); "
                  "EM(MoM) runs recorded later may have run under heavier load (see "
                  "load_average in the JSONL).", ""]
    if results.get("timing"):
        t = results["timing"]
        lines += ["## Timing target", "",
                  f"{t['setting']}: median fit time {t['median_time']:.2f} s over "
                  f"{len(t['times'])} fits ({', '.join(f'{x:.2f}' for x in t['times'])}); "
                  f"coefficient error {np.median(t['coef_errors']):.4f}; {t['n_iter']} EM steps; "
                  f"peak traced memory {t['peak_memory_mib']:.0f} MiB.", ""]
    for real in results.get("real", []):
        lines += [f"## {real['name']}: latent-class logit ({real['n_obs']} choices, "
                  f"{real['n_groups']} households)", "",
                  f"Features: {', '.join(real['feature_names'])}; alternatives "
                  f"{', '.join(real['alternatives'])} (first is the base of the constants).", "",
                  "| K | log-lik (momix) | log-lik (scipy, independent) | difference | BIC | AIC "
                  "| class shares | momix time [s] | scipy time [s] |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in real["rows"]:
            shares = ", ".join(f"{w:.2f}" for w in r["weights"])
            lines.append(
                f"| {r['K']} | {r['log_likelihood']:.3f} | {r['scipy_log_likelihood']:.3f} "
                f"| {r['log_likelihood'] - r['scipy_log_likelihood']:+.2e} | {r['bic']:.1f} "
                f"| {r['aic']:.1f} | {shares} | {r['time']:.1f} | {r['scipy_time']:.1f} |")
        best = min(real["rows"], key=lambda r: r["bic"])
        lines += ["", f"BIC picks K = {best['K']}; its class coefficients "
                  f"({', '.join(real['feature_names'])}):", "",
                  "| class | share | " + " | ".join(real["feature_names"]) + " |",
                  "|---|---|" + "---|" * len(real["feature_names"])]
        for k, (w, c) in enumerate(zip(best["weights"], best["coefs"], strict=True)):
            lines.append(f"| {k + 1} | {w:.3f} | " + " | ".join(f"{v:.3f}" for v in c) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(results, path: Path) -> bool:
    """Error vs N (left) and wall time per setting (right); False if there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = results.get("synthetic_summary") or []
    if not table:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    groups = sorted({(r["p"], r["L"], r["K"], r["sep"]) for r in table})
    for g in groups:
        rows = sorted((r for r in table if (r["p"], r["L"], r["K"], r["sep"]) == g),
                      key=lambda r: r["N"])
        if len(rows) < 2:
            continue
        n = np.array([r["N"] for r in rows], float)
        for key, style, name in (("err_em_mom", "o-", "EM(MoM)"), ("err_mom", "x--", "MoM alone")):
            ax1.loglog(n, [r[key] for r in rows], style,
                       label=f"{name}, p={g[0]} L={g[1]} K={g[2]}")
        ref = rows[0]["err_em_mom"] * np.sqrt(n[0] / n)
        ax1.loglog(n, ref, "k:", label=r"$\propto N^{-1/2}$")
    ax1.set(xlabel="N (choices)", ylabel="max_k ||theta_k - theta_hat||", title="error vs N")
    ax1.legend(fontsize=7)
    labels = [f"L{r['L']} K{r['K']} {r['sep']}\nN={r['N']:.0e} p={r['p']}" for r in table]
    x = np.arange(len(table))
    ax2.bar(x - 0.2, [r["time_em_mom"] for r in table], 0.4, label="EM(MoM) incl. moments")
    ax2.bar(x + 0.2, [r["time_random"] for r in table], 0.4, label="20 random starts")
    ax2.set_yscale("log")
    ax2.set_xticks(x, labels, fontsize=6, rotation=60)
    ax2.set(ylabel="wall time [s] (median)", title="time to fit")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), help="predefined subset of the grid")
    ap.add_argument("--p", type=lambda s: int(float(s)), nargs="+", default=[10_000])
    ap.add_argument("--L", type=int, nargs="+", default=[5])
    ap.add_argument("--K", type=int, nargs="+", default=[3])
    ap.add_argument("--N", type=lambda s: int(float(s)), nargs="+", default=[100_000])
    ap.add_argument("--sep", nargs="+", choices=sorted(SEPARATION), default=["high"])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--n-random", type=int, default=20)
    ap.add_argument("--no-synthetic", action="store_true")
    ap.add_argument("--no-timing", action="store_true",
                    help="skip the timing target; the tables keep the last measured one")
    ap.add_argument("--no-real", action="store_true",
                    help="skip the real-data fits; the tables keep the last ones")
    ap.add_argument("--real-n-init", type=int, default=20)
    ap.add_argument("--scipy-starts", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--no-new-runs", action="store_true",
                    help="summarise the synthetic runs already in the JSONL (each run's latest "
                         "record, stale or not: the 'EM ver' column says which); start none")
    ap.add_argument("--stale-only", action="store_true",
                    help="re-run only the moment parts of recorded runs whose EM(MoM) path is "
                         "stale (reusing their random starts); start no new random baselines")
    ap.add_argument("--runs-only", action="store_true",
                    help="only append synthetic runs to the JSONL (for a second process)")
    ap.add_argument("--replot", type=Path, help="rewrite md + figure from this JSON; no runs")
    args = ap.parse_args(argv)
    if args.replot:
        results = json.loads(args.replot.read_text())
        results["synthetic_summary"] = summarise(results.get("synthetic", []))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "softmax_mixture.md").write_text(markdown(results))
        figure(results, args.out / "softmax_mixture.png")
        return
    grids = PRESETS[args.preset] if args.preset else [
        dict(p=args.p, L=args.L, K=args.K, N=args.N, sep=args.sep)]
    results = dict(machine=f"{platform.machine()}, 2 cores, 24 GiB, Python "
                           f"{platform.python_version()}", command=argv, synthetic=[])
    args.out.mkdir(parents=True, exist_ok=True)
    done_file = args.out / "softmax_mixture_runs.jsonl"  # one line per finished run (resume)

    def done():  # re-read before every run: other processes may append to the same file
        return [json.loads(line) for line in done_file.read_text().splitlines()] \
            if done_file.exists() else []
    with threadpool_limits(1):
        if not args.no_synthetic:
            for grid in grids:
                for p, L, K, N, sep in itertools.product(*grid.values()):
                    for seed in range(args.seeds):
                        key = dict(p=p, L=L, K=K, N=N, sep=sep, seed=seed)
                        old = [d for d in done() if all(d[k] == v for k, v in key.items())]
                        if old and (not _stale(old[-1]) or args.no_new_runs):
                            results["synthetic"].append(old[-1])  # stale: table says so
                            continue
                        if args.no_new_runs or (args.stale_only and not old):
                            continue
                        r = synthetic_run(p, L, K, N, sep, seed, args.n_random,
                                          old[-1] if old else None)
                        results["synthetic"].append(r)
                        with done_file.open("a") as fh:
                            fh.write(json.dumps(r, default=float) + "\n")
                        print(f"p={p} L={L} K={K} N={N:.0e} {sep} seed={seed}: reached="
                              f"{r['reached']} err={r['em_mom']['coef_error']:.4f} "
                              f"t={r['em_mom']['time']:.2f}s vs {r['random']['time']:.1f}s",
                              flush=True)
            results["synthetic_summary"] = summarise(results["synthetic"])
        if args.runs_only:
            return
        if not args.no_timing:
            results["timing"] = timing_target()
            print("timing:", results["timing"]["median_time"], flush=True)
        last = json.loads((args.out / "softmax_mixture.json").read_text()) \
            if (args.out / "softmax_mixture.json").exists() else {}
        if args.no_timing and "timing" in last:  # keep the last measurement
            results["timing"] = last["timing"]
        if args.no_real and "real" in last:
            results["real"] = last["real"]
        if not args.no_real:
            from momix.datasets import load_catsup, load_yogurt

            results["real"] = [
                real_data("Yogurt", load_yogurt, [1, 2, 3, 4], args.real_n_init, args.scipy_starts),
                real_data("Catsup", load_catsup, [1, 2, 3, 4], args.real_n_init, args.scipy_starts),
            ]
    (args.out / "softmax_mixture.json").write_text(json.dumps(results, indent=1, default=float))
    (args.out / "softmax_mixture.md").write_text(markdown(results))
    figure(results, args.out / "softmax_mixture.png")
    print(markdown(results))


if __name__ == "__main__":
    main()
