"""``momix demo`` part: DGMM on a 10-dimensional low-rank Gaussian mixture.

Model 1.1 of Zhang, Mickelin, Xu and Singer (arXiv:2507.20459) with its known isotropic noise:
K = 3 components of rank 2 in d = 20, plus noise of variance 0.5. ``LowRankGaussianMixture``
runs with its defaults (diagonally-weighted GMM, moments up to order 4, k-means++ start); the
model choices set are ``n_components``, ``rank`` and the known ``noise_variance``. The peer is
scikit-learn's ``GaussianMixture`` (full covariances, best of 3 starts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture  # noqa: F401  (loaded before the thread limits)

from .._demo import (
    Comparison,
    DemoSection,
    _quiet,
    best_gaussian_mixture,
    ellipse,
    fmt,
    fmt_signed,
    md_table,
    save_figure,
    seed_from,
    timed_fit,
    warnings_note,
)
from ..datasets import make_lowrank_gaussian_mixture
from ..metrics import mixture_errors
from ._estimator import LowRankGaussianMixture

__all__ = ["run"]

FIGURE = "lowrank_dgmm.png"
N_TRAIN, N_TEST, N_FEATURES, N_COMPONENTS, RANK, NOISE = 5000, 20_000, 20, 3, 2, 0.5
N_INIT = 3
DGMM, PEER = "DGMM (momix)", f"GaussianMixture (scikit-learn, best of {N_INIT})"


def _figure(path: Path, data, X_test, labels_test, fits, errors) -> None:
    import matplotlib.pyplot as plt

    center = data.means.mean(axis=0)
    axes2 = np.linalg.svd(data.means - center, full_matrices=False)[2][:2]  # plane of the means
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1.1, 1]})
    shown = slice(0, 3000)
    Z = (X_test[shown] - center) @ axes2.T
    colours = np.array(["#f4a6a6", "#a6c8f4", "#b9e3a8"])[labels_test[shown] % 3]
    ax.scatter(Z[:, 0], Z[:, 1], c=colours, s=3, alpha=0.6)
    styles = {
        "truth": dict(color="black", lw=2, ls="--"),
        DGMM: dict(color="tab:red", lw=1.6),
        PEER: dict(color="tab:blue", lw=1.4, ls=":"),
    }
    params = {"truth": (data.means, data.covariances)}
    params |= {name: (f.value.means_, f.value.covariances_) for name, f in fits.items()}
    for name, (means, covs) in params.items():
        for mean, cov in zip(means, covs, strict=True):
            ellipse(ax, axes2 @ (mean - center), axes2 @ cov @ axes2.T, **styles[name])
        ax.plot([], [], label=f"{name}, 2-sd ellipses", **styles[name])
    ax.scatter([], [], s=8, color="0.6", label="held-out points (colour: true component)")
    ax.set(xlabel="axis 1 of the plane through the true means (data units)",
           ylabel="axis 2 of the plane through the true means (data units)",
           title="Components projected on the plane of the true means")
    ax.legend(loc="best", fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")

    kinds = ["weights", "means", "covariances"]
    x = np.arange(len(kinds))
    for i, (name, colour) in enumerate(((DGMM, "tab:red"), (PEER, "tab:blue"))):
        values = [getattr(errors[name], k) for k in kinds]
        bars = bx.bar(x + (i - 0.5) * 0.38, values, 0.38, color=colour, label=name)
        bx.bar_label(bars, labels=[fmt(v) for v in values], fontsize=8, padding=2)
    bx.axhline(0, color="black", lw=2, ls="--", label="truth (error 0)")
    bx.set_xticks(x, kinds)
    bx.set(ylabel="mean relative error against the truth (components matched)",
           title="Matched parameter errors (lower is better)")
    bx.set_ylim(0, 1.35 * max(getattr(e, k) for e in errors.values() for k in kinds))
    bx.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"DGMM (diagonally-weighted GMM; Zhang, Mickelin, Xu & Singer 2025): "
                 f"K = {N_COMPONENTS} components of rank {RANK} in d = {N_FEATURES}, "
                 f"N = {N_TRAIN:,}", fontsize=11)
    save_figure(fig, path)


def run(outdir: Path, rng: np.random.Generator, log=_quiet) -> DemoSection:
    """Fit DGMM and scikit-learn EM; figure, table and summary rows."""
    seed = seed_from(rng)
    data = make_lowrank_gaussian_mixture(N_TRAIN + N_TEST, N_FEATURES, N_COMPONENTS, rank=RANK,
                                         noise_variance=NOISE, random_state=seed)
    X, X_test, labels_test = data.X[:N_TRAIN], data.X[N_TRAIN:], data.labels[N_TRAIN:]
    fits = {
        DGMM: timed_fit(DGMM, lambda: LowRankGaussianMixture(
            N_COMPONENTS, RANK, noise_variance=NOISE, random_state=seed).fit(X), log),
        PEER: timed_fit(PEER, lambda: best_gaussian_mixture(X, N_COMPONENTS, seed, N_INIT),
                        log),
    }
    errors = {name: mixture_errors(data.weights, data.means, data.covariances, f.value.weights_,
                                   f.value.means_, f.value.covariances_)
              for name, f in fits.items()}
    truth_ll = _truth_score(data, X_test)
    scores = {name: f.value.score(X_test) for name, f in fits.items()}
    _figure(outdir / FIGURE, data, X_test, labels_test, fits, errors)

    rows = [[name, fmt(scores[name]), fmt_signed(scores[name] - truth_ll),
             fmt(errors[name].weights), fmt(errors[name].means), fmt(errors[name].covariances),
             fmt(f.seconds, "s")]
            for name, f in fits.items()]
    rows.append(["truth", fmt(truth_ll), "0", "0", "0", "0", "-"])
    text = "\n".join([
        f"Model 1.1 of Zhang, Mickelin, Xu and Singer (arXiv:2507.20459) with known isotropic "
        f"noise: N = {N_TRAIN:,} samples in d = {N_FEATURES} from K = {N_COMPONENTS} Gaussians "
        f"with covariances V V^T + {NOISE} I, V of rank {RANK} (`make_lowrank_gaussian_mixture`; "
        f"weights {', '.join(fmt(w) for w in data.weights)}). "
        f"`LowRankGaussianMixture(n_components={N_COMPONENTS}, rank={RANK}, "
        f"noise_variance={NOISE})` with every other setting at its default (diagonally-weighted "
        f"GMM on moments up to order 4, k-means++ start) fits {N_COMPONENTS} x (1 + "
        f"{N_FEATURES} + {RANK} x {N_FEATURES}) = "
        f"{N_COMPONENTS * (1 + N_FEATURES + RANK * N_FEATURES)} parameters from moments; "
        "scikit-learn's `GaussianMixture` fits full covariances "
        f"({N_COMPONENTS} x {1 + N_FEATURES + N_FEATURES * (N_FEATURES + 1) // 2} = "
        f"{N_COMPONENTS * (1 + N_FEATURES + N_FEATURES * (N_FEATURES + 1) // 2)} parameters) "
        f"by EM, best of {N_INIT} k-means starts.",
        "",
        md_table(["fit", "held-out log-lik (nats/sample)", "minus truth's",
                  "weight error", "mean error", "covariance error", "fit time"], rows),
        "",
        f"Log-likelihoods on {N_TEST:,} held-out samples; errors are means over components of "
        "the relative errors after Hungarian matching (`momix.metrics.mixture_errors`). "
        + warnings_note(fits),
        "",
        "The figure projects held-out samples and the 2-standard-deviation ellipses of the true "
        "and fitted components on the plane through the three true means (left) and compares "
        "the matched errors (right).",
    ])
    comparisons = tuple(
        Comparison("LowRankGaussianMixture", f"low-rank mixture, d = {N_FEATURES}, K = "
                   f"{N_COMPONENTS}", metric, unit, m, PEER, p, fits[DGMM].seconds,
                   fits[PEER].seconds)
        for metric, unit, m, p in [
            ("held-out log-lik (higher better)", "nats/sample", scores[DGMM], scores[PEER]),
            ("covariance error (lower better)", "", errors[DGMM].covariances,
             errors[PEER].covariances),
        ]
    )
    return DemoSection("Low-rank Gaussian mixture: DGMM (Zhang, Mickelin, Xu & Singer 2025)",
                       text, (FIGURE,), comparisons)


def _truth_score(data, X_test: np.ndarray) -> float:
    """Mean log-density of ``X_test`` under the generating mixture."""
    logp = np.stack([np.log(w) + multivariate_normal(m, c).logpdf(X_test)
                     for w, m, c in zip(data.weights, data.means, data.covariances, strict=True)])
    return float(logsumexp(logp, axis=0).mean())
