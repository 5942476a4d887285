"""``momix demo`` part for GMMExpansion: a 1-D skewed, bimodal sample (no optional extras)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._demo import DemoSection
from ._estimator import GMMExpansion

__all__ = ["run"]


def _draw(rng: np.random.Generator, n: int) -> np.ndarray:
    """70% Gamma(2, 1) (skewed) and 30% N(6, 0.5^2) (a narrow second mode)."""
    gamma = rng.gamma(2.0, 1.0, n)
    normal = rng.normal(6.0, 0.5, n)
    return np.where(rng.random(n) < 0.7, gamma, normal)[:, None]


def run(outdir: Path, rng: np.random.Generator) -> DemoSection:
    """Fit one-step and EM expansions, plot histogram, density and grid components."""
    import matplotlib.pyplot as plt

    X, X_test = _draw(rng, 1000), _draw(rng, 20_000)
    fits = {}
    for update in ("one_step", "em"):
        start = time.perf_counter()
        est = GMMExpansion(update=update, random_state=0).fit(X)
        fits[update] = (est, time.perf_counter() - start)
    one = fits["one_step"][0]
    xs = np.linspace(X.min() - 1.5, X.max() + 1.5, 800)[:, None]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.hist(X[:, 0], bins=60, density=True, color="0.85", label="data (n = 1000)")
    sigma = np.sqrt(one.covariances_[:, 0])  # the grid's sigma; the tail component's range
    comps = (
        one.weights_
        * np.exp(-0.5 * ((xs - one.means_[:, 0]) / sigma) ** 2)
        / (sigma * np.sqrt(2 * np.pi))
    )
    ax.plot(xs[:, 0], comps, color="tab:blue", lw=0.6, alpha=0.5)
    ax.plot(
        [], [], color="tab:blue", lw=0.6, label=f"{one.grid_shape_[0]} grid components (one step)"
    )
    for update, colour in (("one_step", "tab:red"), ("em", "black")):
        ax.plot(
            xs[:, 0],
            np.exp(fits[update][0].score_samples(xs)),
            color=colour,
            label=f"density ({update})",
        )
    ax.set_xlabel("x")
    ax.legend(fontsize=8)
    fig.tight_layout()
    name = "expansion_1d.png"
    fig.savefig(outdir / name, dpi=110)
    plt.close(fig)
    rows = [
        f"| {u} | {e.bandwidth_:.3f} | {e.weights_.size} | {e.n_iter_} | "
        f"{e.score(X_test):.4f} | {t:.2f} |"
        for u, (e, t) in fits.items()
    ]
    text = "\n".join(
        [
            "GMMExpansion on 1000 draws of 0.7 Gamma(2, 1) + 0.3 N(6, 0.5^2): Gaussians on a",
            "fixed grid (spacing = sigma), one shared bandwidth chosen by 5-fold held-out",
            "likelihood, weights by one EM step from uniform (the paper's one iteration) or by",
            "EM to the certified optimum, plus a broad tail component of mass 1/(n+1).",
            "",
            "| update | bandwidth h | components | weight updates | "
            "held-out mean log-lik (20 000 draws) | fit s |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    return DemoSection("GMM expansion (seed 004)", text, (name,))
