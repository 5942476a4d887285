"""``momix demo`` part: a softmax mixture (latent-class logit) from its moment start + EM.

``SoftmaxMixture(n_components=3)`` with its defaults (Hermite moment start, EM, split-and-merge)
on choices drawn by ``make_softmax_mixture``: p items with Gaussian features, N single choices,
of which only the p counts enter the fit. Peers from scikit-learn, by the multinomial-Poisson
equivalence (a logit over items with counts n_j is the Poisson regression
log E n_j = b + x_j^T theta): ``PoissonRegressor`` fitted per latent class with the true class
of every choice (an oracle) and one ``PoissonRegressor`` on all counts (a single logit, what
ignoring the mixture gives).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import log_softmax, logsumexp
from sklearn.linear_model import PoissonRegressor

from .._demo import (
    Comparison,
    DemoSection,
    _quiet,
    fmt,
    fmt_signed,
    md_table,
    save_figure,
    seed_from,
    timed_fit,
    warnings_note,
)
from ..datasets import make_softmax_mixture
from ..metrics import parameter_error
from ._estimator import SoftmaxMixture

__all__ = ["run"]

FIGURE = "softmax_mixture.png"
N_CHOICES, N_TEST, N_ITEMS, N_FEATURES, N_COMPONENTS = 50_000, 50_000, 1000, 3, 3
MOMIX = "SoftmaxMixture (momix)"
ORACLE = "PoissonRegressor per true class (scikit-learn, oracle)"
SINGLE = "one PoissonRegressor = single logit (scikit-learn)"
TITLE = ("Softmax mixture (Hermite moments + EM; "
         "Bing, Bunea, Niles-Weed & Wegkamp 2024)")


def _poisson_logit(features: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Logit coefficients from counts by Poisson regression (intercept = normalisation)."""
    return PoissonRegressor(alpha=0.0, max_iter=1000).fit(features, counts).coef_


def _oracle(data) -> tuple[np.ndarray, np.ndarray]:
    """Per-class logit coefficients and class shares, using the true class of every choice."""
    p = len(data.features)
    coefs = np.array([_poisson_logit(data.features,
                                     np.bincount(data.choices[data.labels == k], minlength=p))
                      for k in range(N_COMPONENTS)])
    return np.bincount(data.labels, minlength=N_COMPONENTS) / len(data.labels), coefs


def _log_item_probabilities(features, weights, coefs) -> np.ndarray:
    """log pi_j = log sum_k alpha_k softmax(X theta_k)_j, shape (p,)."""
    return logsumexp(np.log(weights)[:, None] + log_softmax(coefs @ features.T, axis=1), axis=0)


def _figure(path: Path, theta, estimates: dict, log_pi: dict) -> None:
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5))
    lim = 1.15 * max(np.abs(theta).max(), *(np.abs(c).max() for c in estimates.values()))
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=1.2, label="truth (estimate = true value)")
    markers = {MOMIX: dict(marker="o", s=40, facecolors="none", edgecolors="tab:red"),
               ORACLE: dict(marker="+", s=70, color="tab:blue")}
    for name, est in estimates.items():
        ax.scatter(theta.ravel(), est.ravel(), label=name, **markers[name])
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel=r"true coefficient $\theta_{kl}$",
           ylabel=r"estimated coefficient $\hat\theta_{kl}$ (classes matched)",
           title=f"{N_COMPONENTS} classes x {N_FEATURES} features: coefficients")
    ax.set_aspect("equal")
    ax.legend(fontsize=8, loc="upper left")

    shown = np.random.default_rng(0).choice(len(log_pi["truth"]), 600, replace=False)
    true = log_pi["truth"][shown] / np.log(10)
    bx.plot([true.min(), true.max()], [true.min(), true.max()], "k--", lw=1.2,
            label="truth (fitted = true)")
    styles = {MOMIX: dict(color="tab:red", s=6), SINGLE: dict(color="0.45", s=6, marker="x",
                                                             linewidths=0.8),
              ORACLE: dict(color="tab:blue", s=2)}
    for name in (SINGLE, MOMIX, ORACLE):
        bx.scatter(true, log_pi[name][shown] / np.log(10), label=name, **styles[name])
    bx.set(xlabel=r"true $\log_{10}$ choice probability of an item",
           ylabel=r"fitted $\log_{10}$ choice probability",
           title=f"Choice probabilities of 600 of the {N_ITEMS:,} items")
    bx.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{TITLE}: N = {N_CHOICES:,} choices", fontsize=11)
    save_figure(fig, path)


def run(outdir: Path, rng: np.random.Generator, log=_quiet) -> DemoSection:
    """Fit the softmax mixture and the scikit-learn peers; figure, table and summary rows."""
    seed = seed_from(rng)
    data = make_softmax_mixture(N_CHOICES, N_ITEMS, N_FEATURES, N_COMPONENTS, random_state=seed)
    X = data.features
    test_counts = rng.multinomial(N_TEST, data.item_probabilities / data.item_probabilities.sum())
    fits = {
        MOMIX: timed_fit(MOMIX, lambda: SoftmaxMixture(
            N_COMPONENTS, random_state=seed).fit(X, counts=data.counts), log),
        ORACLE: timed_fit(ORACLE, lambda: _oracle(data), log),
        SINGLE: timed_fit(SINGLE, lambda: _poisson_logit(X, data.counts), log),
    }
    model = fits[MOMIX].value
    params = {MOMIX: (model.weights_, model.coefs_), ORACLE: fits[ORACLE].value,
              SINGLE: (np.ones(1), fits[SINGLE].value[None])}
    log_pi = {name: _log_item_probabilities(X, *p) for name, p in params.items()}
    log_pi["truth"] = np.log(data.item_probabilities)
    scores = {name: float(test_counts @ lp) / N_TEST for name, lp in log_pi.items()}
    scores[MOMIX] = model.score(X, counts=test_counts)
    errors, matched = {}, {}
    for name in (MOMIX, ORACLE):
        weights, coefs = params[name]
        err = parameter_error(data.coefs, coefs, relative=False)
        werr = parameter_error(data.weights[:, None], weights[:, None], relative=False,
                               permutation=err.permutation)
        errors[name], matched[name] = (err.value, werr.value), coefs[err.permutation]
    _figure(outdir / FIGURE, data.coefs, matched, log_pi)

    def row(name):
        err = errors.get(name, (0.0, 0.0) if name == "truth" else None)
        weights = data.weights if name == "truth" else params[name][0]
        return [name, fmt(scores[name]), fmt_signed(scores[name] - scores["truth"]),
                "-" if err is None else fmt(err[0]),
                "-" if err is None else fmt(err[1]),
                ", ".join(fmt(w) for w in np.sort(weights)[::-1]),
                "-" if name == "truth" else fmt(fits[name].seconds, "s")]

    table = md_table(["fit", "held-out log-lik (nats/choice)", "minus truth's",
                      "coefficient error", "weight error", "class weights", "fit time"],
                     [row("truth"), row(MOMIX), row(ORACLE), row(SINGLE)])
    text = "\n".join([
        f"Latent-class multinomial logit over one item set: p = {N_ITEMS:,} items with "
        f"standard normal features (L = {N_FEATURES}), K = {N_COMPONENTS} classes with "
        f"weights {', '.join(fmt(w) for w in data.weights)} and coefficient vectors of norm "
        f"U(1, 2), N = {N_CHOICES:,} single choices (`make_softmax_mixture`); only the p "
        f"counts enter the fit. `SoftmaxMixture(n_components={N_COMPONENTS})` with its "
        "defaults: Hermite method-of-moments candidates screened, EM from the best, then "
        "split-and-merge moves. The oracle peer knows the class behind every choice and fits "
        "one logit per class; the single-logit peer fits one logit to all counts.",
        "",
        table,
        "",
        f"Held-out log-likelihood per choice on {N_TEST:,} fresh choices from the same items; "
        "coefficient error = largest Euclidean error of a matched class's coefficient vector "
        "(`momix.metrics.parameter_error`, the paper's Err_theta), weight error = largest "
        f"absolute error of a matched weight. EM steps: {model.n_iter_}; split-and-merge "
        f"moves kept: {model.n_split_merge_}. " + warnings_note({MOMIX: fits[MOMIX]}),
        "",
        "The figure compares the fitted coefficients with the true ones (left) and the fitted "
        "choice probability of each item with the true one (right): the single logit cannot "
        "bend to the mixture, the moment-started EM lies on the oracle.",
    ])
    comparisons = (
        Comparison("SoftmaxMixture", f"{N_ITEMS:,} items, K = {N_COMPONENTS}, N = "
                   f"{N_CHOICES:,}", "held-out log-lik (higher better)", "nats/choice",
                   scores[MOMIX], "single logit, PoissonRegressor (scikit-learn)", scores[SINGLE],
                   fits[MOMIX].seconds, fits[SINGLE].seconds),
        Comparison("SoftmaxMixture", f"{N_ITEMS:,} items, K = {N_COMPONENTS}, N = "
                   f"{N_CHOICES:,}", "coefficient error (lower better)", "", errors[MOMIX][0],
                   "oracle PoissonRegressor per class (scikit-learn)", errors[ORACLE][0],
                   fits[MOMIX].seconds, fits[ORACLE].seconds),
    )
    return DemoSection(TITLE, text, (FIGURE,), comparisons)
