"""``momix demo`` part: a mixture of three linear regressions, Polymom start then EM.

``MixtureOfLinearRegressions(n_components=3)`` with its defaults (Polymom start on the
moments E[x^a y^m] of standardised data, noise level profiled, then EM with per-component
noise) on synthetic data with known truth (``make_linear_regression_mixture``). Peers from
scikit-learn: ``LinearRegression`` fitted per class with the true labels (an oracle no
unsupervised method can beat on average) and one ``LinearRegression`` on all the data (what
ignoring the mixture gives).
"""

from __future__ import annotations

from pathlib import Path

import cvxpy  # noqa: F401  (Polymom's solver, loaded before the thread limits)
import numpy as np
from scipy.special import logsumexp
from sklearn.linear_model import LinearRegression

from .._demo import (
    Comparison,
    DemoSection,
    _quiet,
    fmt,
    md_table,
    save_figure,
    seed_from,
    timed_fit,
    warnings_note,
)
from ..datasets import make_linear_regression_mixture
from ..metrics import parameter_error
from ._mlr import MixtureOfLinearRegressions

__all__ = ["run"]

FIGURE = "regression_mixture.png"
N_TRAIN, N_TEST, NOISE = 3000, 20_000, 0.1
COEFS, WEIGHTS = np.array([[-1.2], [0.3], [1.5]]), np.array([0.3, 0.4, 0.3])
MOMIX = "MixtureOfLinearRegressions (momix)"
ORACLE = "LinearRegression per true class (scikit-learn, oracle)"
POOLED = "one LinearRegression (scikit-learn)"
TITLE = "Mixture of linear regressions (Polymom start + EM; Wang, Chaganty & Liang 2015)"


def _oracle(X, y, labels):
    """Per-class least squares with the true labels: (coef (K, 1), intercept, noise, weights)."""
    fits = [LinearRegression().fit(X[labels == k], y[labels == k]) for k in range(len(COEFS))]
    noise = np.array([np.mean((y[labels == k] - f.predict(X[labels == k])) ** 2)
                      for k, f in enumerate(fits)])
    weights = np.bincount(labels, minlength=len(COEFS)) / len(y)
    return (np.array([f.coef_ for f in fits]), np.array([f.intercept_ for f in fits]), noise,
            weights)


def _pooled(X, y):
    fit = LinearRegression().fit(X, y)
    return fit, float(np.mean((y - fit.predict(X)) ** 2))


def _mixture_loglik(X, y, coef, intercept, noise, weights) -> float:
    """Mean conditional log-likelihood log p(y | x) of a mixture of regressions."""
    resid = y[:, None] - (X @ coef.T + intercept[None])
    logp = (np.log(weights)[None] - 0.5 * np.log(2 * np.pi * noise)[None]
            - 0.5 * resid**2 / noise[None])
    return float(logsumexp(logp, axis=1).mean())


def _figure(path: Path, X, y, labels, lines: dict) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    colours = np.array(["#f4a6a6", "#a6c8f4", "#b9e3a8"])[labels]
    ax.scatter(X[:, 0], y, c=colours, s=4, alpha=0.7)
    ax.scatter([], [], s=8, color="0.6", label=f"data (n = {len(y):,}; colour: true component)")
    grid = np.linspace(X.min(), X.max(), 50)
    styles = {"truth": dict(color="black", lw=2.2, ls="--"),
              MOMIX: dict(color="tab:red", lw=1.8),
              ORACLE: dict(color="tab:blue", lw=1.5, ls=":"),
              POOLED: dict(color="0.35", lw=1.5, ls="-.")}
    for name, (coef, intercept, weights) in lines.items():
        for k in range(len(coef)):
            style = dict(styles[name])
            if weights[k] < 0.01:  # an emptied component: drawn faint, named in the legend
                style |= {"alpha": 0.35, "lw": 1.0}
                ax.plot(grid, coef[k, 0] * grid + intercept[k],
                        label=f"{name}: component of weight {fmt(weights[k])}", **style)
                continue
            ax.plot(grid, coef[k, 0] * grid + intercept[k], label=name if k == 0 else None,
                    **style)
    ax.set(xlabel="covariate x (unit variance)", ylabel="response y",
           title=f"{TITLE}:\nK = 3 regression lines, noise variance {NOISE}")
    ax.legend(fontsize=8, loc="upper left")
    save_figure(fig, path)


def run(outdir: Path, rng: np.random.Generator, log=_quiet) -> DemoSection:
    """Fit the regression mixture and the scikit-learn peers; figure, table, summary rows."""
    seed = seed_from(rng)
    data = make_linear_regression_mixture(N_TRAIN + N_TEST, 1, 3, noise_variance=NOISE,
                                          coefs=COEFS, weights=WEIGHTS, random_state=seed)
    X, y, labels = data.X[:N_TRAIN], data.y[:N_TRAIN], data.labels[:N_TRAIN]
    X_test, y_test = data.X[N_TRAIN:], data.y[N_TRAIN:]
    fits = {
        MOMIX: timed_fit(MOMIX, lambda: MixtureOfLinearRegressions(
            n_components=3, random_state=seed).fit(X, y), log),
        ORACLE: timed_fit(ORACLE, lambda: _oracle(X, y, labels), log),
        POOLED: timed_fit(POOLED, lambda: _pooled(X, y), log),
    }
    est = fits[MOMIX].value
    params = {MOMIX: (est.coef_, est.intercept_, est.noise_variance_, est.weights_),
              ORACLE: fits[ORACLE].value}
    pooled, pooled_noise = fits[POOLED].value
    params[POOLED] = (pooled.coef_[None], np.array([pooled.intercept_]), np.array([pooled_noise]),
                      np.ones(1))
    truth = (COEFS, np.zeros(3), np.full(3, NOISE), WEIGHTS)
    scores = {name: _mixture_loglik(X_test, y_test, *p) for name, p in params.items()}
    scores["truth"] = _mixture_loglik(X_test, y_test, *truth)
    scores[MOMIX] = est.score(X_test, y_test)
    true_vec = np.column_stack([COEFS, np.zeros(3)])
    errors = {}
    for name in (MOMIX, ORACLE):
        coef, intercept, _, weights = params[name]
        err = parameter_error(true_vec, np.column_stack([coef, intercept]), relative=False)
        werr = parameter_error(WEIGHTS[:, None], weights[:, None], relative=False,
                               permutation=err.permutation)
        errors[name] = (err.value, werr.value)
    lines = {"truth": (COEFS, np.zeros(3), WEIGHTS)}
    lines |= {name: (params[name][0], params[name][1], params[name][3])
              for name in (MOMIX, ORACLE, POOLED)}
    _figure(outdir / FIGURE, X, y, labels, lines)

    def row(name, label=None):
        coef, intercept, noise, weights = truth if name == "truth" else params[name]
        order = np.argsort(coef[:, 0])
        err = errors.get(name, (0.0, 0.0) if name == "truth" else None)
        return [label or name, ", ".join(fmt(v) for v in coef[order, 0]),
                ", ".join(fmt(v) for v in intercept[order]),
                ", ".join(fmt(v) for v in weights[order]), fmt(scores[name]),
                "-" if err is None else fmt(err[0]), "-" if err is None else fmt(err[1]),
                "-" if name == "truth" else fmt(fits[name].seconds, "s")]

    order = np.argsort(est.init_coef_[:, 0])
    start = ["Polymom start of the momix fit (before EM)",
             ", ".join(fmt(v) for v in est.init_coef_[order, 0]),
             ", ".join(fmt(v) for v in est.init_intercept_[order]), "-", "-", "-", "-", "-"]
    table = md_table(["fit", "slopes", "intercepts", "weights",
                      "held-out conditional log-lik (nats/sample)", "(slope, intercept) error",
                      "weight error", "fit time"],
                     [row("truth"), start, row(MOMIX), row(ORACLE), row(POOLED)])
    lost = est.weights_ < 0.01
    collapse = (f"Note: {int(lost.sum())} of the 3 fitted components ended with weight "
                f"{', '.join(fmt(w) for w in est.weights_[lost])}, lost to the fit (see the "
                "Polymom start above for a line far from the data)." if lost.any() else "")
    text = "\n".join([
        f"N = {N_TRAIN:,} pairs (x, y) with y = w_k x + noise (variance {NOISE}), slopes "
        f"{COEFS.ravel().tolist()}, weights {WEIGHTS.tolist()}, x standard normal "
        "(`make_linear_regression_mixture`). `MixtureOfLinearRegressions(n_components=3)` with "
        "its defaults: Polymom on the moments E[x^a y^m] (a <= 2, m <= 3) of standardised data, "
        "the shared noise level profiled on a grid, then EM with one noise variance per "
        "component (De Veaux 1989). The oracle peer knows every point's component and fits "
        "one least-squares line per component; the pooled peer fits one line to all points.",
        "",
        table,
        "",
        f"Held-out conditional log-likelihood log p(y | x) on {N_TEST:,} fresh pairs; the "
        "(slope, intercept) error is the largest Euclidean error of a matched component's "
        "vector (the true intercepts are 0; `momix.metrics.parameter_error`), the weight "
        "error the largest absolute error of a matched weight. "
        + warnings_note({MOMIX: fits[MOMIX]}) + " " + collapse,
        "",
        "The figure shows the data coloured by true component with the true lines (black "
        "dashed), the fitted mixture's lines (red), the oracle's (blue dotted) and the single "
        "pooled line (grey).",
    ])
    comparisons = tuple(
        Comparison("MixtureOfLinearRegressions", "3 regression lines, 1 covariate", metric, unit,
                   m, peer_name, p, fits[MOMIX].seconds, fits[peer_key].seconds)
        for metric, unit, m, peer_name, peer_key, p in [
            ("held-out conditional log-lik (higher better)", "nats/sample", scores[MOMIX],
             "oracle LinearRegression per class (scikit-learn)", ORACLE, scores[ORACLE]),
            ("held-out conditional log-lik (higher better)", "nats/sample", scores[MOMIX],
             POOLED.replace(" (scikit-learn)", ", pooled (scikit-learn)"), POOLED,
             scores[POOLED]),
        ]
    )
    return DemoSection(TITLE, text, (FIGURE,), comparisons)
