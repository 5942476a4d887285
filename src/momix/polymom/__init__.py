"""Polymom (seed 002): mixtures of any polynomial-moment model by SDP moment completion.

Build a :class:`ComponentModel` (or take a built-in one), then fit :class:`Polymom` on data or
on moments. :class:`MixtureOfLinearRegressions` is the scikit-learn-style regression mixture
started from Polymom and refined by EM.
"""

from ._basis import MomentStructure, MonomialError, moment_structure, monomial_basis
from ._builtin import (
    Gaussian1D,
    GaussianDiagonal,
    GaussianSpherical,
    LinearRegression,
    MultiView,
    Poisson,
)
from ._estimator import Polymom
from ._extract import Extraction, extract_atoms
from ._fit import PolymomResult, polymom
from ._inputs import default_model
from ._mlr import MixtureOfLinearRegressions
from ._model import ComponentModel
from ._moments import MomentSystem, empirical_system, mapping_system
from ._sdp import MomentProblem, SDPResult, solve_moment_sdp

__all__ = [
    "Polymom",
    "MixtureOfLinearRegressions",
    "ComponentModel",
    "Gaussian1D",
    "GaussianSpherical",
    "GaussianDiagonal",
    "LinearRegression",
    "MultiView",
    "Poisson",
    "MonomialError",
    "MomentStructure",
    "moment_structure",
    "monomial_basis",
    "polymom",
    "PolymomResult",
    "extract_atoms",
    "Extraction",
    "solve_moment_sdp",
    "SDPResult",
    "MomentProblem",
    "MomentSystem",
    "empirical_system",
    "mapping_system",
    "default_model",
]
