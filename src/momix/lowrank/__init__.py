"""Low-rank Gaussian mixtures by the (diagonally weighted) generalized method of moments.

Seed 000 (Zhang, Mickelin, Xu, Singer, arXiv:2507.20459): an implicit moment engine
(:mod:`._engine`), DGMM weights with exact or Nystrom kernel sums (:mod:`._weights`), the
explicit full-GMM baseline (:mod:`._explicit`), L-BFGS-B solves with the outer weight loop
(:mod:`._solver`), EM refinement for the mixture of probabilistic PCA (:mod:`._em`) and
the estimator :class:`LowRankGaussianMixture`.
"""

from ._engine import MixtureParams, alpha_moments, beta_moments
from ._estimator import LowRankGaussianMixture

__all__ = ["LowRankGaussianMixture", "MixtureParams", "alpha_moments", "beta_moments"]
