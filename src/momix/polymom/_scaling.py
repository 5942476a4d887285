"""Standardisation of the data of Gaussian models, with the exact map back.

Raw moments of badly scaled data span many orders of magnitude (:math:`\\mathbb{E}[x^4]` of
data near :math:`10^3` is :math:`10^{12}`), which leaves the moment SDP ill-conditioned: the
interior-point solver may report a least-squares problem "infeasible" and the first-order
fallback then runs to its iteration limit. Gaussian components are closed under affine maps,
so the model is fitted on :math:`x' = (x - m) / s` and the parameters are mapped back exactly:

.. math::

    x = m + s\\,x', \\quad x' \\sim N(\\xi', c') \\;\\Longrightarrow\\;
    x \\sim N(m + s\\,\\xi',\\ s^2 c') ,

per coordinate (diagonal model, one scale per feature) or with one scale shared by all
features (spherical and 1-D models, whose variance is one number per component).
Mixture weights do not change. :math:`m` is the weighted mean and :math:`s` the weighted
standard deviation (root-mean variance over features for a shared scale), replaced by 1 where
it is below ``1e-10`` times the largest :math:`|x|` (a spread at rounding level), so constant
data are only centred.

Models with equality constraints (``mean_sum``) or known constants (a shared variance) are
not affine-invariant as written (the constraint or constant would have to be rewritten), so
they are fitted in the original units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._builtin import GaussianDiagonal, GaussianSpherical
from ._model import ComponentModel

__all__ = ["Scaling", "gaussian_scaling", "unscale_params"]

#: spreads below this fraction of the largest |x| of a feature count as zero (rounding)
_RELATIVE_SPREAD = 1e-10


@dataclass(frozen=True)
class Scaling:
    """Affine standardisation :math:`x' = (x - m) / s`.

    Attributes
    ----------
    location : ndarray of shape (n_features,)
    scale : ndarray of shape (n_features,)
        Equal entries when the model has one variance per component.
    """

    location: np.ndarray
    scale: np.ndarray

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.location) / self.scale


def standardizable(model: ComponentModel) -> bool:
    """Whether ``model`` is a built-in Gaussian without equalities or constants."""
    return (isinstance(model, GaussianDiagonal) and not model.equalities
            and not model.constants)


def gaussian_scaling(X: np.ndarray, sample_weight: np.ndarray, model: ComponentModel) -> Scaling:
    """Weighted location and scale of ``X`` suited to ``model`` (see module docstring)."""
    w = sample_weight / sample_weight.sum()
    loc = w @ X
    return scaling_from_moments(loc, w @ (X - loc) ** 2, np.max(np.abs(X), axis=0), model)


def scaling_from_moments(
    location: np.ndarray, variance: np.ndarray, magnitude: np.ndarray, model: ComponentModel
) -> Scaling:
    """:class:`Scaling` from the weighted mean, variance and largest |x| of each feature.

    The statistics of one pass, so streamed data get the same transform as in memory.
    """
    var, magnitude = np.asarray(variance, dtype=float), np.asarray(magnitude, dtype=float)
    if isinstance(model, GaussianSpherical) or model.n_features == 1:
        var = np.full_like(var, np.mean(var))
        magnitude = np.full_like(magnitude, np.max(magnitude))
    scale = np.sqrt(var)
    # a spread at rounding level of the values is a constant column: centre it only
    return Scaling(location, np.where(scale > _RELATIVE_SPREAD * magnitude, scale, 1.0))


def unscale_params(params: np.ndarray, scaling: Scaling) -> np.ndarray:
    """Map (means, variances) fitted on standardised data back to the data's units.

    ``params`` has the layout of the Gaussian models: the D means, then the D variances
    (diagonal) or the single variance (spherical, 1-D).
    """
    d = scaling.location.shape[0]
    out = np.array(params, dtype=float)
    out[:, :d] = scaling.location + scaling.scale * params[:, :d]
    out[:, d:] = params[:, d:] * (scaling.scale[: out.shape[1] - d] ** 2)
    return out
