"""Benchmark of ScoreMatchingMixture (seed 003) against scikit-learn samplers.

Data: Gaussian mixtures with overlapping, unequal full covariances (no separation): means
drawn from N(0, 1.2^2 I), covariances Q diag(U[0.15, 1.0]) Q^T with a random rotation Q,
weights Dirichlet(5). (momix.datasets.make_gaussian_mixture places means on the hypercube
vertices, so it cannot give K = 8 in 2-D; the generator here is the tests' one.)

Per setting (d, K, N, seed) it measures, against the closed form of the true mixture:

* relative L2 error of the learned score, sqrt(E||s_hat - s||^2 / E||s||^2) on fresh noised
  points, per noise level t (the VP process on the standardised data, as the model defines
  it; the closed form takes the model's center_ and scale_);
* sample log-density gap: mean log p_true(generated) - mean log p_true(fresh true samples)
  (negative: samples too concentrated; positive: too spread), for ScoreMatchingMixture,
  scikit-learn GaussianMixture with K chosen by BIC among 1..2K (n_init=3) used as a
  sampler, and KernelDensity (Gaussian kernel, bandwidth by 3-fold CV) used as a sampler;
* in 2-D, total-variation distance between the histogram (20 x 20 bins on the true 0.1-99.9%
  box) of the generated samples and the true bin probabilities (fine midpoint quadrature),
  next to the same distance for fresh true samples (the sampling-noise floor);
* fit time, sampling time (1e4 samples) and peak traced memory of the fit.

Usage: python benchmarks/score_matching.py [--dims 2 5] [--components 2 4 8]
       [--sizes 10000 100000] [--seeds 0] [--out benchmarks/results/score_matching]
Results: <out>.json and <out>.md. Machine: 2 cores shared with other jobs, 24 GiB.
"""

from __future__ import annotations

import argparse
import json
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
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def run_setting(d, K, N, seed, n_gen, degree=3):
    w, mu, cov = make_mixture(K, d, seed)
    rng = np.random.default_rng(seed)
    X = sample_gaussian_mixture(N, w, mu, cov, rng)[0]
    fresh = sample_gaussian_mixture(100_000, w, mu, cov, rng)[0]
    ref = float(mixture_log_density(fresh, w, mu, cov).mean())
    row = {"d": d, "K": K, "N": N, "seed": seed, "degree": degree}
    tracemalloc.start()
    model, row["fit_s"] = timed(lambda: ScoreMatchingMixture(K, degree=degree,
                                                              random_state=seed).fit(X))
    row["fit_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    (Xs, _), row["sample_s"] = timed(lambda: model.sample(n_gen, random_state=seed + 1))
    row["smm_nan"] = bool(~np.all(np.isfinite(Xs)))
    row["score_rel_err"] = score_errors(model, w, mu, cov, rng)
    row["extrapolation_rate_max"] = float(model.extrapolation_rate_.max())
    gm, row["gmm_fit_s"] = timed(lambda: gmm_bic_sampler(X, K, seed))
    row["gmm_k"] = int(gm.n_components)
    kde, row["kde_fit_s"] = timed(lambda: kde_sampler(X, seed))
    row["kde_bandwidth"] = float(kde.bandwidth_)
    samples = {"smm": Xs, "gmm_bic": gm.sample(n_gen)[0],
               "kde": kde.sample(n_gen, random_state=seed),
               "true": sample_gaussian_mixture(n_gen, w, mu, cov, rng)[0]}
    row["logdens_gap"] = {k: float(mixture_log_density(S, w, mu, cov).mean() - ref)
                          for k, S in samples.items()}
    if d == 2:
        lo, hi = np.quantile(fresh, [1e-3, 1 - 1e-3], axis=0)
        row["tv_hist"] = {k: tv_histogram(S, w, mu, cov, lo, hi) for k, S in samples.items()}
    return row


def to_markdown(rows, args):
    lines = [
        "# Score-matching sampler benchmark (seed 003)",
        "",
        f"Machine: 2 cores shared with up to 7 other jobs (load average during the run "
        f"{args.load}), 24 GiB; {platform.python_version()}. ScoreMatchingMixture at its "
        "defaults (degree D in the table, 24 noise levels, 2K crude cells, 200 sampler steps); "
        f"{args.n_gen} generated samples per sampler; seeds {args.seeds}.",
        "",
        "Score error: relative L2 error of the learned score against the closed-form score of "
        "the noised true mixture. Gap: mean log p_true(generated) - mean log p_true(fresh "
        "true), nats ('true' = a fresh true sample of the same size: the noise floor). TV: "
        "2-D histogram (20x20) against the exact bin probabilities.",
        "",
        "| d | K | N | D | err t=1e-3 | err t=1e-2 | err t=0.1 | err t=1 | gap SMM "
        "| gap GMM-BIC (K) "
        "| gap KDE | gap true | TV SMM | TV GMM | TV KDE | TV true | fit s | sample s | fit MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        e, g = r["score_rel_err"], r["logdens_gap"]
        tv = r.get("tv_hist", {})
        tvs = [f"{tv[k]:.3f}" if k in tv else "-" for k in ("smm", "gmm_bic", "kde", "true")]
        lines.append(
            f"| {r['d']} | {r['K']} | {r['N']:.0e} | {r.get('degree', 3)} | "
            + " | ".join(f"{e[str(t)]:.3f}" for t in TIMES)
            + f" | {g['smm']:+.3f} | {g['gmm_bic']:+.3f} ({r['gmm_k']}) | {g['kde']:+.3f} | "
            f"{g['true']:+.3f} | " + " | ".join(tvs)
            + f" | {r['fit_s']:.1f} | {r['sample_s']:.1f} | {r['fit_peak_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 5])
    parser.add_argument("--components", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n-gen", dest="n_gen", type=int, default=10_000)
    parser.add_argument("--degree", type=int, default=3, help="polynomial degree per cell")
    parser.add_argument("--append", action="store_true", help="add rows to an existing <out>.json")
    parser.add_argument("--out", default="benchmarks/results/score_matching")
    args = parser.parse_args()
    import os

    args.load = f"{os.getloadavg()[0]:.1f}"
    out = Path(args.out)
    rows = json.loads(out.with_suffix(".json").read_text())["rows"] if args.append else []
    for d in args.dims:
        for K in args.components:
            for N in args.sizes:
                for seed in args.seeds:
                    row = run_setting(d, K, int(N), seed, args.n_gen, args.degree)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    out.with_suffix(".json").write_text(json.dumps(
                        {"machine": "2 cores (shared), 24 GiB", "args": vars(args),
                         "rows": rows}, indent=1))
                    out.with_suffix(".md").write_text(to_markdown(rows, args))


if __name__ == "__main__":
    main()
