"""EM refinement of a Polymom fit, per component family (an extension of the paper).

Each function starts EM from the moment estimate and returns a :class:`Refinement`; the
kernels are in :mod:`._em` (scikit-learn's ``GaussianMixture`` for Gaussians).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..exceptions import NumericalError
from ._builtin import (
    Gaussian1D,
    GaussianDiagonal,
    GaussianSpherical,
    LinearRegression,
    MultiView,
    Poisson,
)
from ._em import categorical_view_start, gaussian_em, multiview_em, poisson_em, regression_em
from ._scaling import (
    regression_from_scaled,
    regression_scaling,
    regression_to_scaled,
    weighted_spread,
)

__all__ = ["Refinement", "refine_em", "split_views"]


@dataclass(frozen=True)
class Refinement:
    """EM result in the layout of ``Polymom.params_``.

    Attributes
    ----------
    params : ndarray of shape (K, P)
    weights : ndarray of shape (K,)
    n_iter : int
    converged : bool
    constants : dict or None
        Refined values of model constants shared by all components (the ``"variance"`` of
        ``GaussianSpherical(shared_variance=True)``), in the data's units.
    """

    params: np.ndarray
    weights: np.ndarray
    n_iter: int
    converged: bool
    constants: dict | None = None


def em_start_weights(weights: np.ndarray) -> np.ndarray:
    """Moment weights floored at 1/(100 K): a component with zero weight would stay dead
    under EM, whereas a small weight lets the likelihood revive it."""
    w = np.maximum(weights, 1.0 / (100 * len(weights)))
    return w / w.sum()


def em_start_variances(Z: np.ndarray, sw: np.ndarray, var: np.ndarray,
                       pooled: bool) -> np.ndarray:
    """Moment variances floored at 1/100 of the data's (weighted) variance of each feature.

    A moment fit may put a variance on its lower bound 0 (the localizer :math:`c \\ge 0`),
    and EM started from a variance near 0 collapses that component onto a few points, a
    spurious maximum of the likelihood. The floor is per feature, or the mean over features
    when the model has one variance per component (``pooled``). Chosen on misspecified and
    Pearson-type fits (Gaussian1D K = 3, 3-D K = 3, integer-valued data): a floor of 1e-2
    or 1e-1 reached scikit-learn's best of 5 k-means starts where no floor collapsed a
    component; 1e-3 still collapsed on integer data.
    """
    w = sw / sw.sum()
    spread = w @ (Z - w @ Z) ** 2
    floor = 1e-2 * (np.full_like(spread, spread.mean()) if pooled else spread)
    return np.maximum(var, floor[None, :])


def split_repeated(means: np.ndarray, Z: np.ndarray, sw: np.ndarray, rng) -> np.ndarray:
    """Means of repeated components moved apart by half the data's spread.

    A rank-deficient moment fit repeats atoms (a warning says so), and EM cannot separate
    identical components: their responsibilities stay equal at every step. Each component
    whose mean equals an earlier one's (to 1e-8 of the data's spread) is moved by
    :math:`\\tfrac12 s \\odot u`, :math:`s` the weighted standard deviation of each feature
    and :math:`u \\sim N(0, I)` drawn from ``rng``; EM starts from there.
    """
    w = sw / sw.sum()
    spread = np.sqrt(w @ (Z - w @ Z) ** 2)
    out = np.array(means, dtype=float)
    for k in range(1, len(out)):
        if np.any(np.all(np.abs(out[:k] - out[k]) <= 1e-8 * (spread + 1e-300), axis=1)):
            out[k] = out[k] + 0.5 * spread * rng.standard_normal(out.shape[1])
    return out


def split_views(model: MultiView, Z: np.ndarray) -> np.ndarray:
    """Data columns (three views side by side) as an array of shape (3, n, d); checks that
    every view row is one-hot (a categorical observation)."""
    n, d = Z.shape[0], model.n_features // 3
    views = Z.reshape(n, 3, d).transpose(1, 0, 2)
    if np.any(views < 0) or not np.allclose(views.sum(axis=2), 1.0):
        raise ValueError("refine='em' for MultiView needs categorical views: every view of "
                         "every row must be one-hot (non-negative, summing to 1)")
    return views


def _refine_multiview(model, Z, sw, params, weights, max_iter, rng):
    if not model.simplex:
        raise ValueError("refine='em' for MultiView needs MultiView(simplex=True): categorical "
                         "views whose means are probability vectors")
    split_views(model, Z)  # validates the one-hot layout
    # categorical rows take at most d^3 distinct values: EM on the distinct rows with summed
    # sample weights is the same EM, in time independent of the number of samples
    rows, inverse = np.unique(Z, axis=0, return_inverse=True)
    sw = np.bincount(np.ravel(inverse), weights=sw, minlength=len(rows))
    views = split_views(model, rows)
    d = model.n_features // 3
    means = np.repeat(params[:, None, :], 3, axis=1) if model.symmetric \
        else params.reshape(-1, 3, d)
    start = categorical_view_start(means, rng)
    means, w, _, it, conv = multiview_em(views, start, em_start_weights(weights),
                                         sample_weight=sw, symmetric=model.symmetric,
                                         max_iter=max_iter)
    out = means[:, 0, :] if model.symmetric else means.reshape(len(w), -1)
    return Refinement(out, w, it, conv)


def _refine_gaussian(model, Z, sw, params, weights, max_iter, reg_covar):
    """scikit-learn's ``GaussianMixture`` for unconstrained, unweighted fits; otherwise
    :func:`._em.gaussian_em`, which keeps the model's mean hyperplane (``mean_sum``), its
    shared variance (returned as the refined constant) and the sample weights.

    EM runs on the data centred at their weighted mean :math:`m` (means shifted by
    :math:`-m`, ``mean_sum`` by :math:`-\\sum_d m_d`, variances unchanged: the same fit,
    translated): data offset by 1e8 with unit spread lose every digit of their variances
    to cancellation in :math:`E[x^2] - E[x]^2` otherwise, and scikit-learn then reports an
    ill-defined covariance.
    """
    spherical = isinstance(model, GaussianSpherical)
    shared = spherical and model.shared_variance
    means, var = model.gaussian_parameters(params)
    shift, _, _ = weighted_spread(Z, sw)
    Z, means = Z - shift, means - shift
    mean_sum = None if model.mean_sum is None else model.mean_sum - float(np.sum(shift))
    pooled = spherical or model.n_features == 1
    var = em_start_variances(Z, sw, np.maximum(var, 0), pooled) + reg_covar
    if mean_sum is None and not shared and np.all(sw == sw[0]):
        means, var, w, it, conv = _refine_sklearn(
            Z, means, var, weights, spherical, max_iter, reg_covar
        )
        return Refinement(np.hstack([means + shift, var]), w, it, conv)
    res = gaussian_em(
        Z,
        means,
        var,
        em_start_weights(weights),
        sample_weight=sw,
        covariance="shared" if shared else "spherical" if spherical else "diag",
        mean_sum=mean_sum,
        max_iter=max_iter,
        reg_covar=reg_covar,
    )
    if shared:
        return Refinement(
            res.means + shift,
            res.weights,
            res.n_iter,
            res.converged,
            {"variance": float(res.variances[0, 0])},
        )
    out = res.variances[:, :1] if spherical else res.variances
    return Refinement(np.hstack([res.means + shift, out]), res.weights, res.n_iter, res.converged)


def _refine_sklearn(Z, means, var, weights, spherical, max_iter, reg_covar):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    gm = GaussianMixture(
        len(weights), covariance_type="spherical" if spherical else "diag",
        weights_init=em_start_weights(weights), means_init=means,
        precisions_init=1.0 / (var[:, 0] if spherical else var), reg_covar=reg_covar,
        max_iter=max_iter, tol=1e-6, random_state=0)
    with warnings.catch_warnings():  # reported by Polymom as momix's, naming refine_max_iter
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            gm.fit(Z)
        except ValueError:  # scikit-learn: a covariance that is not positive definite
            raise NumericalError(
                "the EM refinement collapsed a Gaussian component onto a point (its variance "
                f"reached 0 with reg_covar={reg_covar:g}); set reg_covar > 0 or refine=None"
            ) from None
    var_new = gm.covariances_[:, None] if spherical else gm.covariances_
    return gm.means_, var_new, gm.weights_, gm.n_iter_, bool(gm.converged_)


def _refine_regression(model, Z, sw, params, weights, max_iter):
    """Regression EM on standardised ``[X, y]`` (:func:`._scaling.regression_scaling`; exact
    equivariance), coefficients mapped there and back: covariates offset by 1e8 make the
    normal equations singular in the data's units."""
    d, k = model.n_features, len(weights)
    scaling = regression_scaling(Z, sw, fit_intercept=model.fit_intercept)
    Zs = scaling.transform(Z)
    X, y = Zs[:, :-1], Zs[:, -1]
    icpt = params[:, d] if model.fit_intercept else np.zeros(k)
    coef, icpt = regression_to_scaled(params[:, :d], icpt, scaling)
    sy2 = float(scaling.scale[-1]) ** 2
    center = y.mean() if model.fit_intercept else 0.0  # the scale of y: 1 once standardised
    var = np.full(k, max(model.noise_variance / sy2, 1e-3 * float(np.mean((y - center) ** 2))))
    res = regression_em(
        X,
        y,
        coef,
        icpt,
        var,
        em_start_weights(weights),
        sample_weight=sw,
        fit_intercept=model.fit_intercept,
        max_iter=max_iter,
    )
    coef, icpt = regression_from_scaled(res.coef, res.intercept, scaling)
    out = np.column_stack([coef, icpt]) if model.fit_intercept else coef
    return Refinement(out, res.weights, res.n_iter, res.converged)


def refine_em(model, Z, sw, params, weights, *, max_iter, reg_covar, rng) -> Refinement:
    """EM from ``(params, weights)`` for the built-in models that have a likelihood.

    Gaussian (scikit-learn ``GaussianMixture``, tol 1e-6; :func:`._em.gaussian_em` when the
    model constrains the means or shares the variance, or the samples are weighted), Poisson,
    linear regression and categorical 3-view models (:func:`._em.multiview_em`, tol 1e-8;
    the start is projected onto the simplex and mixed 1% with a Dirichlet draw from ``rng``,
    see :func:`._em.categorical_view_start`). Gaussian and Poisson starts: repeated atoms are
    moved apart (:func:`split_repeated`, ``rng``) and Gaussian variances floored
    (:func:`em_start_variances`).
    """
    if isinstance(model, (GaussianDiagonal, GaussianSpherical, Gaussian1D)):
        params = np.array(params, dtype=float)
        params[:, :model.n_features] = split_repeated(params[:, :model.n_features], Z, sw, rng)
        return _refine_gaussian(model, Z, sw, params, weights, max_iter, reg_covar)
    if isinstance(model, Poisson):
        start = np.maximum(split_repeated(params, Z, sw, rng), 0.0)
        rates, w, it, conv = poisson_em(Z, start, em_start_weights(weights), sample_weight=sw,
                                        max_iter=max_iter)
        return Refinement(rates, w, it, conv)
    if isinstance(model, LinearRegression):
        return _refine_regression(model, Z, sw, params, weights, max_iter)
    if isinstance(model, MultiView):
        return _refine_multiview(model, Z, sw, params, weights, max_iter, rng)
    raise ValueError(f"refine='em' is not available for the {model.name} model")
