"""Benchmark of ScoreMatchingMixture (Chen, Kontonis & Shah 2025) against scikit-learn samplers.

Data: Gaussian mixtures with overlapping, unequal full covariances (no separation): means
drawn from N(0, 1.2^2 I), covariances Q diag(U[0.15, 1.0]) Q^T with a random rotation Q,
weights Dirichlet(5). (momix.datasets.make_gaussian_mixture places means on the hypercube
vertices, so it cannot give K = 8 in 2-D; the generator here is the tests' one.)

Per setting (d, K, N, seed) it measures, against the closed form of the true mixture:

* relative L2 error of the learned score, sqrt(E||s_hat - s||^2 / E||s||^2) on fresh noised
  points, per noise level t (the VP process on the standardised data, as the model defines
  it; the closed form takes the model's center_ and scale_);
* sample log-density gap: mean log p_true(generated) - mean log p_true(fresh true samples)
  (negative: samples too spread or misplaced; positive: too concentrated), for
  ScoreMatchingMixture, scikit-learn GaussianMixture with K chosen by BIC among 1..2K
  (n_init=3) used as a sampler, and KernelDensity (Gaussian kernel, bandwidth by 3-fold CV)
  used as a sampler;
* in 2-D, total-variation distance between the histogram (20 x 20 bins on the true 0.1-99.9%
  box) of the generated samples and the true bin probabilities (fine midpoint quadrature),
  next to the same distance for fresh true samples (the sampling-noise floor);
* wall time and process CPU time of the fit and of drawing 1e4 samples, the load average at
  that moment, and the peak traced memory of the fit.

Every finished (setting, seed, method) appends one JSON line to <out>_runs.jsonl; a rerun
skips what is there (resumable). The tables report medians over seeds.

Usage: python benchmarks/score_matching.py [--dims 2 5] [--components 2 4 8]
       [--sizes 10000 100000] [--seeds 0 1 2] [--out benchmarks/results/score_matching]
       python benchmarks/score_matching.py --timing   # fit + 1e4 samples, 2-D, K = 4, N = 1e5
Results: <out>_runs.jsonl, <out>.json and <out>.md. Machine: 2 cores shared with other jobs,
24 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from momix._base import sample_gaussian_mixture
from momix.diffusion import ScoreMatchingMixture, forward_noise, mixture_log_density, mixture_score

TIMES = (1e-3, 1e-2, 0.1, 1.0)


def make_mixture(K: int, d: int, seed: int):
    rng = np.random.default_rng(1000 + seed)
    means = rng.normal(0.0, 1.2, (K, d))
    covs = []
    for _ in range(K):
        Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        covs.append(Q @ np.diag(rng.uniform(0.15, 1.0, d)) @ Q.T)
    return rng.dirichlet(np.full(K, 5.0)), means, np.array(covs)


def score_errors(model, w, mu, cov, rng, n=20_000):
    """Error against the closed-form score of the law the model estimates (its process runs
    on the standardised data: center_ and scale_)."""
    X0 = sample_gaussian_mixture(n, w, mu, cov, rng)[0]
    std = {"center": model.center_, "scale": model.scale_}
    out = {}
    for t in TIMES:
        Xt = forward_noise(X0, t, rng.standard_normal(X0.shape), **std)
        truth = mixture_score(Xt, w, mu, cov, t, **std)
        err = model.score_function(Xt, t) - truth
        out[str(t)] = float(np.sqrt(np.sum(err ** 2) / np.sum(truth ** 2)))
    return out


def tv_histogram(X, w, mu, cov, lo, hi, bins=20, sub=6):
    """TV between the histogram of X and the true bin probabilities (midpoint quadrature)."""
    edges = [np.linspace(lo[j], hi[j], bins + 1) for j in range(2)]
    counts = np.histogram2d(X[:, 0], X[:, 1], bins=edges)[0] / len(X)
    fine = [np.linspace(lo[j], hi[j], bins * sub + 1) for j in range(2)]
    mids = [0.5 * (f[1:] + f[:-1]) for f in fine]
    gx, gy = np.meshgrid(*mids, indexing="ij")
    dens = np.exp(mixture_log_density(np.c_[gx.ravel(), gy.ravel()], w, mu, cov))
    cell = np.prod([(hi[j] - lo[j]) / (bins * sub) for j in range(2)])
    prob = dens.reshape(bins * sub, bins * sub) * cell
    prob = prob.reshape(bins, sub, bins, sub).sum(axis=(1, 3))
    outside = max(0.0, 1.0 - prob.sum())
    return float(0.5 * (np.abs(counts - prob).sum() + outside + (1 - counts.sum())))


def gmm_bic_sampler(X, K, seed):
    best = None
    for k in range(1, 2 * K + 1):
        gm = GaussianMixture(k, covariance_type="full", n_init=3, random_state=seed).fit(X)
        bic = gm.bic(X)
        if best is None or bic < best[0]:
            best = (bic, gm)
    return best[1]


def kde_sampler(X, seed):
    sub = X[np.random.default_rng(seed).choice(len(X), size=min(len(X), 3000), replace=False)]
    scale = float(np.sqrt(np.mean(np.var(X, axis=0))))
    grid = {"bandwidth": scale * np.geomspace(0.02, 0.5, 10)}
    search = GridSearchCV(KernelDensity(), grid, cv=3).fit(sub)
    return KernelDensity(bandwidth=search.best_params_["bandwidth"]).fit(X)


def timed(fn):
    """Result, wall seconds, process CPU seconds and the 1-min load average at the start."""
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu, load


def setting_data(d, K, N, seed):
    w, mu, cov = make_mixture(K, d, seed)
    rng = np.random.default_rng(seed)
    X = sample_gaussian_mixture(N, w, mu, cov, rng)[0]
    fresh = sample_gaussian_mixture(100_000, w, mu, cov, rng)[0]
    return (w, mu, cov), X, fresh, rng


def sample_quality(S, params, fresh, d):
    """Log-density gap against fresh true samples and (2-D) histogram TV."""
    w, mu, cov = params
    ref = float(mixture_log_density(fresh, w, mu, cov).mean())
    out = {"nan": bool(~np.all(np.isfinite(S))),
           "logdens_gap": float(mixture_log_density(S, w, mu, cov).mean() - ref)}
    if d == 2:
        lo, hi = np.quantile(fresh, [1e-3, 1 - 1e-3], axis=0)
        out["tv_hist"] = tv_histogram(S, w, mu, cov, lo, hi)
    return out


def run_method(method, d, K, N, seed, n_gen, degree=3):
    """One (setting, seed, method) record."""
    params, X, fresh, rng = setting_data(d, K, N, seed)
    row = {"d": d, "K": K, "N": N, "seed": seed, "method": method, "degree": degree}
    if method == "true":
        S = sample_gaussian_mixture(n_gen, *params, np.random.default_rng(10_000 + seed))[0]
        return row | sample_quality(S, params, fresh, d)
    tracemalloc.start()
    if method == "smm":
        model, *fit = timed(lambda: ScoreMatchingMixture(K, degree=degree,
                                                          random_state=seed).fit(X))
    elif method == "gmm_bic":
        model, *fit = timed(lambda: gmm_bic_sampler(X, K, seed))
        row["k_selected"] = int(model.n_components)
    else:
        model, *fit = timed(lambda: kde_sampler(X, seed))
        row["bandwidth"] = float(model.bandwidth_)
    row["fit_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    row["fit_wall_s"], row["fit_cpu_s"], row["fit_load"] = fit
    draw = {"smm": lambda: model.sample(n_gen, random_state=seed + 1)[0],
            "gmm_bic": lambda: model.sample(n_gen)[0],
            "kde": lambda: model.sample(n_gen, random_state=seed)}[method]
    S, row["sample_wall_s"], row["sample_cpu_s"], row["sample_load"] = timed(draw)
    if method == "smm":
        row["score_rel_err"] = score_errors(model, *params, rng)
        row["extrapolation_rate_max"] = float(model.extrapolation_rate_.max())
    return row | sample_quality(S, params, fresh, d)


METHODS = ("true", "smm", "gmm_bic", "kde")


def timing():
    """Fit + 1e4 samples at the timed setting (2-D, K = 4, N = 1e5, seed 0), nothing else."""
    _, X, _, _ = setting_data(2, 4, 100_000, 0)
    model, fit_wall, fit_cpu, load = timed(lambda: ScoreMatchingMixture(4, random_state=0).fit(X))
    _, smp_wall, smp_cpu, _ = timed(lambda: model.sample(10_000, random_state=1))
    print(f"fit + 1e4 samples (2-D, K=4, N=1e5): {fit_wall + smp_wall:.1f} s wall "
          f"(fit {fit_wall:.1f} + sample {smp_wall:.1f}), {fit_cpu + smp_cpu:.1f} s CPU, "
          f"load average {load:.1f}")


def _median(rows, key, sub=None):
    vals = [r[key] if sub is None else r[key][sub] for r in rows if key in r]
    return float(np.median(vals)) if vals else float("nan")


def summarise(records):
    """Medians over seeds per (d, K, N) and method."""
    table = {}
    for r in records:
        table.setdefault((r["d"], r["K"], r["N"]), {}).setdefault(r["method"], []).append(r)
    out = []
    for (d, K, N), by in sorted(table.items()):
        row = {"d": d, "K": K, "N": N, "n_seeds": {m: len(v) for m, v in by.items()}}
        for m, rows in by.items():
            row[m] = {"logdens_gap": _median(rows, "logdens_gap"),
                      "nan_runs": int(sum(r["nan"] for r in rows))}
            if d == 2:
                row[m]["tv_hist"] = _median(rows, "tv_hist")
            for key in ("fit_wall_s", "fit_cpu_s", "sample_wall_s", "sample_cpu_s",
                        "fit_load", "fit_peak_mib"):
                if any(key in r for r in rows):
                    row[m][key] = _median(rows, key)
            if m == "smm":
                row[m]["score_rel_err"] = {str(t): _median(rows, "score_rel_err", str(t))
                                           for t in TIMES}
                row[m]["score_rel_err_max_t0.1"] = max(r["score_rel_err"]["0.1"] for r in rows)
            if m == "gmm_bic":
                row[m]["k_selected"] = sorted(r["k_selected"] for r in rows)
        out.append(row)
    return out


def to_markdown(summary, n_gen):
    f = lambda row, m, k, fmt: (format(row[m][k], fmt) if m in row and k in row[m] else "-")  # noqa: E731
    lines = [
        "# Score-matching sampler benchmark (Chen, Kontonis & Shah 2025)",
        "",
        f"Machine: 2 cores shared with other jobs, 24 GiB; Python {platform.python_version()}. "
        "ScoreMatchingMixture at its defaults (degree 3, 24 noise levels, 2K crude cells, "
        f"200 sampler steps); {n_gen} generated samples per sampler. Every number is the "
        "median over the seeds in column 'seeds'. Load: 1-min load average when the fit "
        "started (the machine has 2 cores, so wall time above CPU time means sharing).",
        "",
        "Score error: relative L2 error of the learned score against the closed-form score "
        "of the noised true mixture. Gap: mean log p_true(generated) - mean log p_true(fresh "
        "true), nats; negative = samples too spread (or misplaced), positive = too "
        "concentrated ('true' = a fresh true sample of the same size: the Monte-Carlo noise). "
        "TV: 2-D histogram (20x20) against the exact bin probabilities.",
        "",
        "| d | K | N | seeds | err t=1e-3 | err t=1e-2 | err t=0.1 | err t=1 | gap SMM "
        "| gap GMM-BIC (K sel.) | gap KDE | gap true | TV SMM | TV GMM | TV KDE | TV true "
        "| SMM fit wall / CPU s | SMM 1e4 samples wall / CPU s | load | GMM-BIC fit CPU s "
        "| NaN runs |",
        "|" + "---|" * 21,
    ]
    for r in summary:
        e = r.get("smm", {}).get("score_rel_err", {})
        errs = " | ".join(f"{e[str(t)]:.3f}" if str(t) in e else "-" for t in TIMES)
        ksel = ",".join(map(str, r.get("gmm_bic", {}).get("k_selected", [])))
        nan = sum(v.get("nan_runs", 0) for k, v in r.items() if isinstance(v, dict)
                  and "nan_runs" in v)
        lines.append(
            f"| {r['d']} | {r['K']} | {r['N']:.0e} | {r['n_seeds'].get('smm', 0)} | {errs} | "
            f"{f(r, 'smm', 'logdens_gap', '+.3f')} | {f(r, 'gmm_bic', 'logdens_gap', '+.3f')} "
            f"({ksel}) | {f(r, 'kde', 'logdens_gap', '+.3f')} | "
            f"{f(r, 'true', 'logdens_gap', '+.3f')} | "
            + " | ".join(f(r, m, "tv_hist", ".3f") for m in ("smm", "gmm_bic", "kde", "true"))
            + f" | {f(r, 'smm', 'fit_wall_s', '.1f')} / {f(r, 'smm', 'fit_cpu_s', '.1f')} | "
            f"{f(r, 'smm', 'sample_wall_s', '.1f')} / {f(r, 'smm', 'sample_cpu_s', '.1f')} | "
            f"{f(r, 'smm', 'fit_load', '.1f')} | {f(r, 'gmm_bic', 'fit_cpu_s', '.1f')} | {nan} |")
    return "\n".join(lines) + "\n"


def plot(summary, path):
    """Median score error against t (SMM) per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, d in zip(axes, (2, 5), strict=True):
        for r in summary:
            if r["d"] != d or "smm" not in r:
                continue
            e = r["smm"]["score_rel_err"]
            ax.loglog(TIMES, [e[str(t)] for t in TIMES], "o-",
                      label=f"K={r['K']}, N={r['N']:.0e}")
        ax.axhline(0.05, color="0.6", ls=":")
        ax.set_title(f"d = {d}: learned score, median rel. L2 error")
        ax.set_xlabel("diffusion time t")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    axes[0].set_ylabel("relative L2 error")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 5])
    parser.add_argument("--components", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--n-gen", dest="n_gen", type=int, default=10_000)
    parser.add_argument("--out", default="benchmarks/results/score_matching")
    parser.add_argument("--timing", action="store_true",
                        help="only time fit + 1e4 samples at 2-D, K = 4, N = 1e5")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild .json/.md/_errors.png from the JSONL, run nothing")
    args = parser.parse_args()
    if args.timing:
        timing()
        return
    out = Path(args.out)
    runs = out.parent / (out.name + "_runs.jsonl")
    records = [json.loads(line) for line in runs.read_text().splitlines()] \
        if runs.exists() else []
    done = {(r["d"], r["K"], r["N"], r["seed"], r["method"]) for r in records}
    todo = [(d, K, int(N), seed, m) for seed in args.seeds for d in args.dims
            for K in args.components for N in args.sizes for m in args.methods]
    for key in ([] if args.report_only else todo):
        if key in done:
            continue
        row = run_method(key[4], *key[:4], args.n_gen)
        records.append(row)
        with runs.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    summary = summarise(records)
    out.with_suffix(".json").write_text(json.dumps(
        {"machine": "2 cores (shared), 24 GiB", "n_gen": args.n_gen, "summary": summary},
        indent=1))
    out.with_suffix(".md").write_text(to_markdown(summary, args.n_gen))
    plot(summary, out.parent / (out.name + "_errors.png"))


if __name__ == "__main__":
    main()
