"""momix: mixture models by the method of moments and its descendants.

Estimators are imported lazily, so ``import momix`` stays light (cvxpy, sympy and torch load
only when the estimator that needs them is first used).

========================================  ==========================================
``momix.LowRankGaussianMixture``          diagonally-weighted GMM for low-rank Gaussians
``momix.Polymom``                         SDP moment completion for polynomial models
``momix.MixtureOfLinearRegressions``      mixtures of regressions, Polymom start + EM
``momix.SoftmaxMixture``                  latent-class logit, Hermite moments + EM
``momix.ScoreMatchingMixture``            piecewise-polynomial scores, diffusion sampler
``momix.GMMExpansion``                    fixed-grid one-step density estimator
========================================  ==========================================
"""

from __future__ import annotations

import importlib

from .io import load, save

__version__ = "0.1.0"

_ESTIMATORS = {
    "LowRankGaussianMixture": "momix.lowrank",
    "Polymom": "momix.polymom",
    "MixtureOfLinearRegressions": "momix.polymom",
    "SoftmaxMixture": "momix.softmax",
    "ScoreMatchingMixture": "momix.diffusion",
    "GMMExpansion": "momix.expansion",
}

__all__ = ["save", "load", "__version__", *_ESTIMATORS]


def __getattr__(name: str):
    if name in _ESTIMATORS:
        return getattr(importlib.import_module(_ESTIMATORS[name]), name)
    raise AttributeError(f"module 'momix' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


def all_estimators() -> list[type]:
    """Every public estimator class, in a fixed order."""
    return [__getattr__(name) for name in _ESTIMATORS]
