"""The learned score over all noise levels and the reverse-diffusion sampler.

The score is learned on a geometric grid of noise levels :math:`t_1 < \\dots < t_L`. Between two
levels it is interpolated linearly in :math:`\\log t` in the noise-prediction parametrisation
:math:`\\varepsilon(x, t) = -s_t \\nabla\\log p_t(x)`, which stays of order one at every ``t``:

.. math::

    \\hat s(x, t) = \\frac{(1-\\lambda)\\, s_{t_j}\\hat s_j(x) + \\lambda\\, s_{t_{j+1}}
        \\hat s_{j+1}(x)}{s_t}, \\qquad
    \\lambda = \\frac{\\log t - \\log t_j}{\\log t_{j+1} - \\log t_j}.

Outside :math:`[t_1, t_L]` the nearest level is used.

The sampler integrates the reverse-time SDE :math:`dY = (Y + 2\\nabla\\log p_{T-\\tau}(Y))\\,d\\tau
+ \\sqrt2\\,dB` with an exponential integrator that freezes the *noise prediction*
:math:`\\varepsilon = -s_t\\nabla\\log p_t` over a step from :math:`t` to :math:`t' = t - h`
(the score itself varies like :math:`1/s_t^2` at small ``t``; :math:`\\varepsilon` stays of
order one). With :math:`\\int_{t'}^{t} e^{u-t'}/s_u\\,du = e^{-t'}(e^{t}s_t - e^{t'}s_{t'})`
the step is

.. math::

    x \\leftarrow e^{h} x + 2\\, s_t\\,(e^{h}s_t - s_{t'})\\, \\hat s(x, t)
        + \\sqrt{e^{2h} - 1}\\, \\xi, \\qquad \\xi \\sim N(0, I),

from :math:`x \\sim N(0, I)` at :math:`T = t_L` down to :math:`t_1` on a geometric grid of
``n_steps`` steps, and returns the state at :math:`t_1` (no final Tweedie denoising step).
Measured with the exact score (200 steps, 2e4 samples, benchmark mixtures with K = 4):
freezing the score instead (:math:`2(e^h - 1)\\hat s`) leaves the samples too spread,
log-density gap -0.025 nats in 2-D and -0.052 / -0.080 in 5-D (K = 4 / 8); the DDPM
ancestral step (freezing the Tweedie denoiser) leaves them too concentrated, +0.022 and
+0.045 / +0.033; freezing :math:`\\varepsilon` gives -0.009 and -0.017 / -0.044 at the
same cost.

References
----------
Chen, Chewi, Li, Li, Salim, Zhang, "Sampling is as easy as learning the score", ICLR 2023.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._cells import CrudeMixture
from ._process import vp_coefficients
from ._regression import ScoreEvaluation, evaluate_level

__all__ = ["PiecewisePolynomialScore", "evaluate_score", "time_grid", "reverse_diffusion"]


@dataclass(frozen=True)
class PiecewisePolynomialScore:
    """A learned score model: crude partition plus one :class:`LevelScore` per noise level.

    Attributes
    ----------
    crude : CrudeMixture
    times : ndarray of shape (n_levels,)
        Increasing noise levels.
    levels : tuple of LevelScore
    degree : int
    """

    crude: CrudeMixture
    times: np.ndarray
    levels: tuple
    degree: int


def time_grid(t_min: float, t_max: float, n: int) -> np.ndarray:
    """Geometric grid of ``n`` times from ``t_min`` to ``t_max`` (increasing)."""
    if n == 1:
        return np.array([float(t_max)])
    return np.geomspace(t_min, t_max, n)


def evaluate_score(model: PiecewisePolynomialScore, X: np.ndarray, t: float) -> ScoreEvaluation:
    """Learned score at time ``t``, interpolated between the two bracketing levels."""
    times = model.times
    log_t = np.log(np.clip(t, times[0], times[-1]))
    j = int(np.clip(np.searchsorted(times, np.exp(log_t)), 1, max(len(times) - 1, 1)))
    if len(times) == 1 or np.exp(log_t) <= times[0]:
        return evaluate_level(model.levels[0], model.crude, X, model.degree)
    lam = float((log_t - np.log(times[j - 1])) / (np.log(times[j]) - np.log(times[j - 1])))
    lo = evaluate_level(model.levels[j - 1], model.crude, X, model.degree)
    if lam >= 1.0:
        return evaluate_level(model.levels[j], model.crude, X, model.degree)
    if lam <= 0.0:
        return lo
    hi = evaluate_level(model.levels[j], model.crude, X, model.degree)
    s_lo, s_hi, s_t = np.sqrt(vp_coefficients(np.array([times[j - 1], times[j], np.exp(log_t)]))[1])
    score = ((1 - lam) * s_lo * lo.score + lam * s_hi * hi.score) / s_t
    nearer = lo if lam < 0.5 else hi
    return ScoreEvaluation(score, nearer.cell, lo.extrapolated | hi.extrapolated)


def reverse_diffusion(score: Callable[[np.ndarray, float], np.ndarray], x: np.ndarray,
                      grid: np.ndarray, rng: np.random.Generator,
                      progress: Callable[[], None] | None = None) -> np.ndarray:
    """Run the exponential-integrator reverse SDE along a decreasing time grid.

    Parameters
    ----------
    score : callable
        ``score(x, t) -> ndarray`` of the same shape as ``x``.
    x : ndarray of shape (n_samples, n_features)
        Start, drawn from :math:`N(0, I)` (the law of :math:`X_T` up to :math:`e^{-T}`).
    grid : ndarray of shape (n_steps + 1,)
        Decreasing times :math:`t_0 = T > \\dots > t_N`.
    rng : numpy.random.Generator
    progress : callable, optional
        Called once per step (progress bar).

    Returns
    -------
    x : ndarray of shape (n_samples, n_features)
        Approximate draws from :math:`p_{t_N}`.
    """
    x = np.array(x, dtype=np.float64, copy=True)
    sigma = np.sqrt(vp_coefficients(grid)[1])
    for k, (t, t_next) in enumerate(zip(grid[:-1], grid[1:], strict=True)):
        h = float(t - t_next)
        drift = 2.0 * sigma[k] * (np.exp(h) * sigma[k] - sigma[k + 1])
        x = (np.exp(h) * x + drift * score(x, float(t))
             + np.sqrt(np.expm1(2.0 * h)) * rng.standard_normal(x.shape))
        if progress is not None:
            progress()
    return x
