"""Gaussian mixtures learned by score matching and sampled by reverse diffusion.

The practical variant of Chen, Kontonis and Shah, "Learning general Gaussian mixtures with
efficient score matching" (COLT 2025, arXiv:2404.18893).

``ScoreMatchingMixture`` is the estimator; the pure kernels are re-exported for users who
want the closed-form noised-mixture score (``mixture_score``), the forward process or the
learned score model itself.
"""

from ._cells import CrudeMixture, crude_estimates
from ._estimator import ScoreMatchingMixture
from ._process import (
    forward_noise,
    mixture_log_density,
    mixture_score,
    noised_mixture,
    vp_coefficients,
)
from ._regression import ScoreEvaluation
from ._sampler import PiecewisePolynomialScore, evaluate_score, reverse_diffusion, time_grid

__all__ = [
    "ScoreMatchingMixture",
    "CrudeMixture",
    "crude_estimates",
    "PiecewisePolynomialScore",
    "ScoreEvaluation",
    "evaluate_score",
    "forward_noise",
    "mixture_log_density",
    "mixture_score",
    "noised_mixture",
    "reverse_diffusion",
    "time_grid",
    "vp_coefficients",
]
