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

Linear regressions :math:`y = w\\cdot x + b + \\varepsilon` are equivariant too. With an
intercept, :math:`x' = (x - m_x)/s_x` (per feature) and :math:`y' = (y - m_y)/s_y` give

.. math::

    w_j = \\frac{s_y}{s_{x,j}}\\,w'_j, \\qquad b = m_y + s_y b' - w\\cdot m_x, \\qquad
    \\sigma^2 = s_y^2\\,\\sigma'^2 ,

so the known noise variance is fitted as :math:`\\sigma^2/s_y^2` (:func:`constant_factors`).
Without an intercept, centring would add one, so the data are only scaled (:math:`m = 0`,
:math:`s` the root mean square).

Poisson counts are not closed under scaling, but their moments are: :math:`x' = x/s` has
moments polynomial in :math:`\\theta = \\lambda/s` and the constant :math:`u = 1/s`
(:class:`~momix.polymom.Poisson`), so counts are divided by :math:`s` = their weighted mean
where it exceeds 1 (:math:`m = 0`), the constant ``unit_d`` is set to :math:`1/s_d` and
:math:`\\lambda = s\\theta`. Categorical views (one-hot, already of unit scale, with simplex
constraints) are fitted as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from ..exceptions import DataError
from ._builtin import GaussianDiagonal, GaussianSpherical, LinearRegression, Poisson
from ._model import ComponentModel

__all__ = [
    "Scaling",
    "constant_factors",
    "data_scaling",
    "gaussian_scaling",
    "unscale_params",
    "weighted_spread",
    "regression_scaling",
    "regression_to_scaled",
    "regression_from_scaled",
    "scaling_from_moments",
    "scaling_from_spread",
    "standardize_moments",
]

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
    """Whether ``model`` is a built-in Gaussian without equalities or constants, a linear
    regression or a Poisson product."""
    return isinstance(model, (LinearRegression, Poisson)) or (
        isinstance(model, GaussianDiagonal) and not model.equalities and not model.constants)


def data_scaling(Z: np.ndarray, sample_weight: np.ndarray, model: ComponentModel) -> Scaling:
    """:func:`gaussian_scaling` or :func:`regression_scaling`, by model."""
    if isinstance(model, LinearRegression):
        return regression_scaling(Z, sample_weight, model)
    if isinstance(model, Poisson):
        return count_scaling(sample_weight / sample_weight.sum() @ Z)
    return gaussian_scaling(Z, sample_weight, model)


def count_scaling(mean: np.ndarray) -> Scaling:
    """Counts divided by their mean where it exceeds 1 (module docstring)."""
    mean = np.asarray(mean, dtype=float)
    return Scaling(np.zeros_like(mean), np.maximum(mean, 1.0))


def weighted_spread(Z: np.ndarray, sample_weight: np.ndarray, *, center: bool = True):
    """Weighted location, spread and largest magnitude of each column of ``Z``.

    ``center``: the weighted mean and standard deviation; otherwise 0 and the root mean
    square. Columns whose largest magnitude is below ``1e-100`` are computed on
    ``Z / max|Z|`` and scaled back, so values near 1e-300 do not underflow to a zero spread
    (their squares would); other columns directly (values up to the 1e100 that
    :func:`momix._validation.check_fit_data` admits square without overflow).

    Returns
    -------
    location, spread, magnitude : ndarray of shape (n_columns,)
    """
    w = sample_weight / sample_weight.sum()
    magnitude = np.max(np.abs(Z), axis=0) if Z.size else np.zeros(Z.shape[1])
    unit = np.where((magnitude > 0) & (magnitude < 1e-100), magnitude, 1.0)
    Zu = Z / unit if np.any(unit != 1.0) else Z
    loc_u = w @ Zu if center else np.zeros(Z.shape[1])
    spread_u = np.sqrt(np.maximum(w @ (Zu - loc_u) ** 2, 0.0))
    return loc_u * unit, spread_u * unit, magnitude


def regression_scaling(
    Z: np.ndarray,
    sample_weight: np.ndarray,
    model: LinearRegression | None = None,
    *,
    fit_intercept: bool | None = None,
) -> Scaling:
    """Per-column location and scale of ``Z = [X, y]`` (see module docstring): mean and
    standard deviation with an intercept, 0 and root mean square without
    (:func:`weighted_spread`); ``fit_intercept`` stands for ``model.fit_intercept``.

    Raises
    ------
    DataError
        When the response varies by less than 1e-150 (its variances underflow).
    """
    center = model.fit_intercept if fit_intercept is None else fit_intercept
    loc, spread, magnitude = weighted_spread(Z, sample_weight, center=center)
    scale = np.where(spread > _RELATIVE_SPREAD * magnitude, spread, 1.0)
    if center:
        loc = _exact_constants(Scaling(loc, scale), Z, sample_weight, spread,
                               magnitude).location
    if scale[-1] < 1e-150:  # noise variances of order scale^2 would underflow to 0
        raise DataError(f"y varies by only {scale[-1]:.1e}: variances of that scale underflow "
                        "in float64; rescale y (multiply it by a unit)")
    return Scaling(loc, scale)


def regression_to_scaled(coef: np.ndarray, intercept: np.ndarray, scaling: Scaling):
    """Regression coefficients (K, d) and intercepts (K,) in the units of
    ``scaling.transform([X, y])``: :math:`w' = w\\,s_x/s_y`,
    :math:`b' = (b - m_y + w\\cdot m_x)/s_y`."""
    mx, sx, my, sy = (
        scaling.location[:-1],
        scaling.scale[:-1],
        scaling.location[-1],
        scaling.scale[-1],
    )
    return coef * sx / sy, (intercept - my + coef @ mx) / sy


def regression_from_scaled(coef: np.ndarray, intercept: np.ndarray, scaling: Scaling):
    """Inverse of :func:`regression_to_scaled`: :math:`w = w'\\,s_y/s_x`,
    :math:`b = m_y + s_y b' - w\\cdot m_x`."""
    mx, sx, my, sy = (
        scaling.location[:-1],
        scaling.scale[:-1],
        scaling.location[-1],
        scaling.scale[-1],
    )
    out = coef * sy / sx
    return out, my + sy * intercept - out @ mx


def constant_factors(model: ComponentModel, scaling: Scaling | None) -> dict[str, float]:
    """Factors mapping the model's constants to standardised units (``{}`` if none):
    a regression's noise variance is divided by :math:`s_y^2`, a Poisson's ``unit_d`` by
    :math:`s_d`."""
    if scaling is None:
        return {}
    if isinstance(model, Poisson):
        return {f"unit_{j}": 1.0 / float(s) for j, s in enumerate(scaling.scale)}
    if isinstance(model, LinearRegression):
        return {"noise_variance": 1.0 / float(scaling.scale[-1]) ** 2}
    return {}


def gaussian_scaling(X: np.ndarray, sample_weight: np.ndarray, model: ComponentModel) -> Scaling:
    """Weighted location and scale of ``X`` suited to ``model`` (see module docstring),
    from :func:`weighted_spread`."""
    loc, spread, magnitude = weighted_spread(X, sample_weight)
    if isinstance(model, Poisson):
        return count_scaling(loc)
    return _exact_constants(scaling_from_spread(loc, spread, magnitude, model), X,
                            sample_weight, spread, magnitude)


def _exact_constants(scaling: Scaling, Z, sample_weight, spread, magnitude) -> Scaling:
    """A constant column is centred at one of its values, not its computed mean: the mean of
    60 ones is 0.9999999999999999, and the resulting 1e-16 spread weighs the moment SDP by
    1e13 (every interior-point solve then failed, 15 s of first-order fallback)."""
    const = np.asarray(spread) <= _RELATIVE_SPREAD * magnitude
    if not np.any(const) or Z.shape[0] == 0:
        return scaling
    row = Z[int(np.argmax(sample_weight > 0))]
    return Scaling(np.where(const, row, scaling.location), scaling.scale)


def scaling_from_moments(
    location: np.ndarray, variance: np.ndarray, magnitude: np.ndarray, model: ComponentModel
) -> Scaling:
    """:class:`Scaling` from the weighted mean, variance and largest |x| of each feature.

    The statistics of one pass, so streamed data get the same transform as in memory.
    """
    spread = np.sqrt(np.maximum(np.asarray(variance, dtype=float), 0.0))
    return scaling_from_spread(location, spread, magnitude, model)


def scaling_from_spread(
    location: np.ndarray, spread: np.ndarray, magnitude: np.ndarray, model: ComponentModel
) -> Scaling:
    """:class:`Scaling` from the weighted mean, standard deviation and largest |x| of each
    feature; spherical and 1-D models pool the spreads (root mean square, computed relative
    to the largest so tiny spreads do not underflow)."""
    if isinstance(model, Poisson):
        return count_scaling(location)
    scale = np.asarray(spread, dtype=float)
    magnitude = np.asarray(magnitude, dtype=float)
    if isinstance(model, GaussianSpherical) or model.n_features == 1:
        top = float(np.max(scale)) if scale.size else 0.0
        pooled = top * np.sqrt(np.mean((scale / top) ** 2)) if top > 0 else 0.0
        scale = np.full_like(scale, pooled)
        magnitude = np.full_like(magnitude, np.max(magnitude))
    # a spread at rounding level of the values is a constant column: centre it only
    return Scaling(
        np.asarray(location, dtype=float),
        np.where(scale > _RELATIVE_SPREAD * magnitude, scale, 1.0),
    )


def unscale_params(params: np.ndarray, scaling: Scaling, model=None) -> np.ndarray:
    """Map parameters fitted on standardised data back to the data's units.

    Gaussian layout (default): the D means, then the D variances (diagonal) or the single
    variance (spherical, 1-D). A :class:`LinearRegression` ``model``: the coefficients, then
    the intercept if fitted; a :class:`Poisson` ``model``: the rates (module docstring).
    """
    if isinstance(model, Poisson):
        return np.asarray(params, dtype=float) * scaling.scale
    if isinstance(model, LinearRegression):
        d = scaling.location.shape[0] - 1
        out = np.array(params, dtype=float)
        icpt = params[:, d] if model.fit_intercept else np.zeros(len(params))
        out[:, :d], icpt = regression_from_scaled(params[:, :d], icpt, scaling)
        if model.fit_intercept:
            out[:, d] = icpt
        return out
    d = scaling.location.shape[0]
    out = np.array(params, dtype=float)
    out[:, :d] = scaling.location + scaling.scale * params[:, :d]
    out[:, d:] = params[:, d:] * (scaling.scale[: out.shape[1] - d] ** 2)
    return out


def standardize_moments(model: GaussianDiagonal, b: np.ndarray) -> tuple[Scaling, np.ndarray]:
    """Given raw moments of a Gaussian model's observations, those of :math:`x' = (x - m)/s`.

    ``b`` holds :math:`E[x^\\alpha]` in the order of the model's observations, which are the
    monomials of degree ``1..order``, so every :math:`E[x^\\beta]`, :math:`\\beta \\le
    \\alpha`, is among them. :math:`m` and :math:`s^2` are the mean and variance of each
    feature (pooled as in :func:`scaling_from_moments`), and

    .. math::

        E[x'^\\alpha] = \\prod_j s_j^{-\\alpha_j} \\sum_{\\beta \\le \\alpha}
            \\prod_j \\binom{\\alpha_j}{\\beta_j} (-m_j)^{\\alpha_j - \\beta_j}
            \\, E[x^\\beta].

    Used by ``Polymom.fit_moments``: raw moments of data far from unit scale leave the SDP
    ill-conditioned (exact moments of a 1-D K = 3 Gaussian up to :math:`x^9`, means up to
    4: every Clarabel solve failed, SCS returned a rank-2 answer after 43 s; standardised,
    0.5 s and parameter error 3e-12).
    """
    c = model.compiled()
    alphas = [next(iter(poly)) for poly in c.data_polys[:len(c.obs_keys)]]
    raw = {tuple(a): float(v) for a, v in zip(alphas, b, strict=True)}
    d = model.n_features
    raw[(0,) * d] = 1.0
    unit = np.eye(d, dtype=int)
    mean = np.array([raw[tuple(e)] for e in unit])
    var = np.array([raw[tuple(2 * e)] for e in unit]) - mean**2
    scaling = scaling_from_moments(mean, var, np.sqrt(var + mean**2), model)
    out = np.empty(len(alphas))
    for i, alpha in enumerate(alphas):
        total = 0.0
        for beta in np.ndindex(*(a + 1 for a in alpha)):
            coef = np.prod([comb(a, bj) * (-m) ** (a - bj)
                            for a, bj, m in zip(alpha, beta, scaling.location, strict=True)])
            total += coef * raw[tuple(beta)]
        out[i] = total / np.prod(scaling.scale ** np.asarray(alpha))
    return scaling, out
