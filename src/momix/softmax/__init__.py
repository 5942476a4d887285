"""Softmax mixtures (latent-class multinomial logit): Hermite moment start + EM (Bing et al. 2024).

Public: :class:`SoftmaxMixture`, :class:`MomentStartWarning`; the kernels of the method
of moments, the E-step and the generalised M-step are re-exported for direct use.
"""

from ._em import EMResult, fit_em, m_step_theta
from ._estimator import SoftmaxMixture
from ._model import ChoiceSetData, ItemSetData, e_step, log_choice_probabilities
from ._moments import (
    denoise_moments,
    gauss_quadrature,
    hermite_moments,
    lift_atoms,
    moment_subspace,
    vector_hermite_moments,
    whiten_items,
)
from ._runs import MomentStartWarning
from ._smem import split_and_merge
from ._start import moment_start_issue, moment_starts, random_starts

__all__ = [
    "SoftmaxMixture",
    "MomentStartWarning",
    "ItemSetData",
    "ChoiceSetData",
    "EMResult",
    "e_step",
    "fit_em",
    "m_step_theta",
    "split_and_merge",
    "log_choice_probabilities",
    "whiten_items",
    "hermite_moments",
    "vector_hermite_moments",
    "denoise_moments",
    "gauss_quadrature",
    "moment_subspace",
    "lift_atoms",
    "moment_starts",
    "moment_start_issue",
    "random_starts",
]
