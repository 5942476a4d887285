"""``momix demo`` part: score matching and a diffusion sampler on an overlapping 2-D mixture.

``ScoreMatchingMixture(n_components=4)`` with its defaults (piecewise-polynomial denoising score
matching at 24 noise levels, 200-step reverse-diffusion sampler, parameters read off by EM on
generated samples) on draws of a 4-component 2-D Gaussian mixture whose components overlap.
Peers: scikit-learn's ``GaussianMixture`` (best of 5 starts; its sampler and the closed-form
score of its fitted mixture) and scipy's ``gaussian_kde`` (Scott's bandwidth; its resampler).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import gaussian_kde

from .._demo import (
    Comparison,
    DemoSection,
    _quiet,
    best_gaussian_mixture,
    fmt,
    fmt_signed,
    md_table,
    save_figure,
    seed_from,
    timed_fit,
    warnings_note,
)
from ..datasets import sample_gaussian_mixture
from ..metrics import mixture_errors
from ._estimator import ScoreMatchingMixture
from ._process import forward_noise, mixture_log_density, mixture_score

__all__ = ["run"]

FIGURE = "diffusion_score_matching.png"
_WEIGHTS = np.array([0.3, 0.25, 0.25, 0.2])
_MEANS = np.array([[-1.0, 0.0], [0.6, 0.4], [1.6, -0.6], [0.0, 1.6]])
_COVS = np.array([[[0.6, 0.3], [0.3, 0.4]], [[0.3, -0.1], [-0.1, 0.5]],
                  [[0.25, 0.0], [0.0, 0.6]], [[0.5, 0.2], [0.2, 0.2]]])
N_TRAIN, N_TEST, N_GENERATED = 10_000, 5000, 10_000
TIMES = (0.01, 0.03, 0.1, 0.3, 1.0)
MOMIX = "ScoreMatchingMixture (momix)"
GMM = "GaussianMixture (scikit-learn, best of 5)"
KDE = "gaussian_kde (scipy, Scott's bandwidth)"
TITLE = ("Score matching with a piecewise-polynomial score (Chen, Kontonis & Shah 2025)")


def _draw(n: int, rng: np.random.Generator) -> np.ndarray:
    labels = rng.choice(len(_WEIGHTS), n, p=_WEIGHTS)
    return sample_gaussian_mixture(rng, labels, _MEANS, _COVS)


def _score_errors(model, gmm, rng: np.random.Generator) -> dict[str, list[float]]:
    """Relative L2 errors of the learned and the GaussianMixture-implied scores, per time."""
    std = {"center": model.center_, "scale": model.scale_}
    X0 = _draw(5000, rng)
    out: dict[str, list[float]] = {MOMIX: [], GMM: []}
    for t in TIMES:
        Xt = forward_noise(X0, t, rng.standard_normal(X0.shape), **std)
        truth = mixture_score(Xt, _WEIGHTS, _MEANS, _COVS, t, **std)
        norm = np.linalg.norm(truth)
        out[MOMIX].append(float(np.linalg.norm(model.score_function(Xt, t) - truth) / norm))
        peer = mixture_score(Xt, gmm.weights_, gmm.means_, gmm.covariances_, t, **std)
        out[GMM].append(float(np.linalg.norm(peer - truth) / norm))
    return out


def _fit_kde(X, seed):
    kde = gaussian_kde(X.T)
    return kde, kde.resample(N_GENERATED, seed=seed).T


def _figure(path: Path, generated: dict, gmm, score_err: dict, gaps: dict) -> None:
    import matplotlib.pyplot as plt

    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(16, 4.9),
                                     gridspec_kw={"width_ratios": [1.15, 1, 1]})
    g = np.linspace(-3.2, 3.6, 160)
    gx, gy = np.meshgrid(g, g)
    P = np.c_[gx.ravel(), gy.ravel()]
    levels = np.log([0.01, 0.05, 0.15])
    ax.scatter(*generated[MOMIX][:3000].T, s=2, alpha=0.35, color="tab:red",
               label=f"3,000 samples of the {MOMIX} sampler")
    for (w, m, c), style, label in [
        ((_WEIGHTS, _MEANS, _COVS), dict(colors="black", linestyles="--", linewidths=1.6),
         "true density"),
        ((gmm.weights_, gmm.means_, gmm.covariances_),
         dict(colors="tab:blue", linestyles=":", linewidths=1.6), f"{GMM} density"),
    ]:
        ax.contour(gx, gy, mixture_log_density(P, w, m, c).reshape(gx.shape), levels, **style)
        ax.plot([], [], color=style["colors"], ls=style["linestyles"], label=label)
    ax.set(xlabel="$x_1$ (data units)", ylabel="$x_2$ (data units)",
           title="Generated samples; contours at density 0.01, 0.05, 0.15")
    ax.set_aspect("equal")
    ax.legend(fontsize=7.5, loc="lower left")

    for name, style in ((MOMIX, dict(color="tab:red", marker="o")),
                        (GMM, dict(color="tab:blue", marker="s", ls=":"))):
        label = ("learned score (momix)" if name == MOMIX
                 else "score of the fitted GaussianMixture (scikit-learn)")
        bx.loglog(TIMES, score_err[name], label=label, **style)
    bx.set(xlabel="diffusion time t (VP process on standardised data)",
           ylabel=r"relative $L^2$ error of the score $\nabla \log p_t$",
           title="Score error along the diffusion (truth = 0)")
    bx.legend(fontsize=8)

    names = list(gaps)
    colours = {MOMIX: "tab:red", GMM: "tab:blue", KDE: "tab:green",
               "fresh true draws": "black"}
    bars = cx.barh(range(len(names)), [gaps[n] for n in names],
                   color=[colours[n] for n in names])
    cx.bar_label(bars, labels=[fmt_signed(gaps[n]) for n in names], fontsize=8, padding=3)
    cx.set_yticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=8)
    cx.axvline(0, color="black", lw=1)
    span = max(abs(v) for v in gaps.values()) or 1.0
    cx.set_xlim(-1.9 * span, 1.9 * span)
    cx.set(xlabel="mean true log-density of samples minus that of true draws (nats)",
           title="Sample quality (0 = right spread; < 0 too spread)")
    fig.suptitle(f"{TITLE}: K = 4 overlapping Gaussians in 2-D, N = {N_TRAIN:,}", fontsize=11)
    save_figure(fig, path)


def run(outdir: Path, rng: np.random.Generator, log=_quiet) -> DemoSection:
    """Fit the score-matching sampler and its peers; figure, table and summary rows."""
    seed = seed_from(rng)
    X, X_test = _draw(N_TRAIN, rng), _draw(N_TEST, rng)
    fits = {
        MOMIX: timed_fit(f"{MOMIX}: fit + {N_GENERATED:,} samples", lambda: (
            lambda m: (m, m.sample(N_GENERATED, random_state=seed)[0]))(
            ScoreMatchingMixture(4, random_state=seed).fit(X)), log),
        GMM: timed_fit(f"{GMM}: fit + samples", lambda: (
            lambda m: (m, m.sample(N_GENERATED)[0]))(best_gaussian_mixture(X, 4, seed)), log),
        KDE: timed_fit(f"{KDE}: fit + samples", lambda: _fit_kde(X, seed), log),
    }
    model, gmm, kde = fits[MOMIX].value[0], fits[GMM].value[0], fits[KDE].value[0]
    generated = {name: f.value[1] for name, f in fits.items()}
    scores = {MOMIX: model.score(X_test), GMM: gmm.score(X_test),
              KDE: float(kde.logpdf(X_test.T).mean()),
              "truth": float(mixture_log_density(X_test, _WEIGHTS, _MEANS, _COVS).mean())}
    reference = float(mixture_log_density(_draw(50_000, rng), _WEIGHTS, _MEANS, _COVS).mean())
    gaps = {name: float(mixture_log_density(s, _WEIGHTS, _MEANS, _COVS).mean()) - reference
            for name, s in generated.items()}
    gaps["fresh true draws"] = float(
        mixture_log_density(_draw(N_GENERATED, rng), _WEIGHTS, _MEANS, _COVS).mean()) - reference
    score_err = _score_errors(model, gmm, rng)
    _figure(outdir / FIGURE, generated, gmm, score_err, gaps)

    errs = {name: mixture_errors(_WEIGHTS, _MEANS, _COVS, m.weights_, m.means_, m.covariances_)
            for name, m in ((MOMIX, model), (GMM, gmm))}
    rows = [[name, fmt(scores[name]), fmt_signed(scores[name] - scores["truth"]),
             fmt_signed(gaps[name]),
             fmt(errs[name].means) if name in errs else "-",
             fmt(errs[name].covariances) if name in errs else "-",
             fmt(fits[name].seconds, "s")] for name in (MOMIX, GMM, KDE)]
    rows.append(["truth", fmt(scores["truth"]), "0", fmt_signed(gaps["fresh true draws"]) +
                 " (fresh draws)", "0", "0", "-"])
    table = md_table(["fit", "held-out log-lik (nats/sample)", "minus truth's",
                      "sample log-density gap (nats)",
                      "mean error", "covariance error", "fit + 10,000 samples"], rows)
    err_rows = [[name, *(fmt(e) for e in score_err[name])] for name in (MOMIX, GMM)]
    text = "\n".join([
        f"N = {N_TRAIN:,} draws of a 2-D mixture of K = 4 Gaussians with weights "
        f"{', '.join(fmt(w) for w in _WEIGHTS)} whose components overlap and have unequal "
        "full covariances. "
        "`ScoreMatchingMixture(n_components=4)` with its defaults learns the score of the "
        "VP-noised law at 24 noise levels by denoising score matching, as a degree-3 "
        "polynomial on each cell of a partition built from crude cluster estimates, and "
        "samples by a 200-step reverse diffusion; the Gaussian parameters are read off by EM "
        "on 10,000 generated samples. Its held-out log-likelihood is that of the read-off "
        "mixture.",
        "",
        table,
        "",
        f"Held-out log-likelihood on {N_TEST:,} fresh draws. Sample log-density gap: mean "
        "true log-density of 10,000 generated samples minus that of 50,000 true draws (0 for a "
        "perfect sampler, up to sampling noise as in the truth row; negative = too spread). "
        "Mean and covariance errors: relative errors of the matched components "
        "(`momix.metrics.mixture_errors`). " + warnings_note({MOMIX: fits[MOMIX]}),
        "",
        "Relative L2 error of the score against its closed form, on noised fresh draws:",
        "",
        md_table(["score", *(f"t = {t}" for t in TIMES)], err_rows),
        "",
        "The figure shows the momix sampler's output over the true and the scikit-learn "
        "density contours (left), the score errors along the diffusion (middle) and the "
        "sample log-density gaps of the three samplers (right).",
    ])
    comparisons = (
        Comparison("ScoreMatchingMixture", "4 overlapping Gaussians, 2-D",
                   "sample log-density gap (closer to 0 better)", "nats", gaps[MOMIX], GMM,
                   gaps[GMM], fits[MOMIX].seconds, fits[GMM].seconds),
        Comparison("ScoreMatchingMixture", "4 overlapping Gaussians, 2-D",
                   "held-out log-lik (higher better)", "nats/sample", scores[MOMIX], KDE,
                   scores[KDE], fits[MOMIX].seconds, fits[KDE].seconds),
    )
    return DemoSection(TITLE, text, (FIGURE,), comparisons)
