r"""Samplers for the other Polymom models: linear regressions, multi-view, Poisson."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_rng
from ._common import check_count, check_range, check_simplex, draw_labels

__all__ = [
    "LinearRegressionMixtureData",
    "MultiviewMixtureData",
    "PoissonMixtureData",
    "make_linear_regression_mixture",
    "make_multiview_mixture",
    "make_poisson_mixture",
]

X_DISTRIBUTIONS = ("normal", "uniform")
VIEW_DISTRIBUTIONS = ("categorical", "gaussian")


def _weights(rng, weights, k: int, concentration: float) -> np.ndarray:
    if weights is None:
        return rng.dirichlet(concentration * np.ones(k))
    return check_simplex(weights, k)


def _user_array(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite with shape {shape}, got {arr.shape}")
    return arr


def _check_variance(value, name: str) -> float:
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------- regressions


@dataclass(frozen=True)
class LinearRegressionMixtureData:
    r"""Samples of a mixture of linear regressions with its parameters.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
        Covariates :math:`x_i`.
    y : ndarray of shape (n_samples,)
        Responses :math:`v_i = w_{z_i}^\top x_i + \varepsilon_i`.
    labels : ndarray of shape (n_samples,)
    weights : ndarray of shape (n_components,)
    coefs : ndarray of shape (n_components, n_features)
        Regression vectors :math:`w_k`.
    noise_variance : float
        Known, shared :math:`\sigma^2`.
    x_variance : float
        Variance of each covariate coordinate.
    """

    X: np.ndarray
    y: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    coefs: np.ndarray
    noise_variance: float
    x_variance: float


def make_linear_regression_mixture(
    n_samples: int,
    n_features: int = 2,
    n_components: int = 2,
    noise_variance: float = 0.0,
    x_distribution: str = "normal",
    *,
    x_variance: float = 1.0,
    coefs=None,
    weights=None,
    random_state=None,
) -> LinearRegressionMixtureData:
    r"""Draw from a mixture of linear regressions (Polymom §1.2(c), Table 2).

    .. math::

        z_i \sim \pi,\qquad v_i = w_{z_i}^\top x_i + \varepsilon_i,\qquad
        \varepsilon_i \sim \mathcal N(0, \sigma^2)

    with :math:`\sigma^2` known and shared by the components, as Polymom requires. Defaults
    follow the Polymom code's ``generate``: :math:`w_k \sim \mathcal N(0, I_D)`; the
    covariates are i.i.d. with independent coordinates of variance ``x_variance``:
    ``'normal'`` gives :math:`x \sim \mathcal N(0, s^2 I)` and ``'uniform'`` gives
    :math:`x_d \sim U[-\sqrt{3}s, \sqrt{3}s]` (same variance, bounded; our addition).
    The code used :math:`s^2 = 0.1`, its notebook 1.0 (our default). Weights:
    :math:`\pi \sim \mathrm{Dirichlet}(10\cdot 1_K)` (our choice; the notebook fixes
    :math:`\pi = (0.4, 0.6)`, pass ``weights`` for that).

    Parameters
    ----------
    n_samples, n_features, n_components : int
    noise_variance : float, default=0.0
        :math:`\sigma^2` (the Polymom code used no noise).
    x_distribution : {'normal', 'uniform'}, default='normal'
    x_variance : float, default=1.0
    coefs : array-like of shape (n_components, n_features), optional
        Replaces the Gaussian draw of the :math:`w_k`.
    weights : array-like of shape (n_components,), optional
    random_state : None, int, numpy.random.Generator or RandomState

    Returns
    -------
    LinearRegressionMixtureData

    Examples
    --------
    >>> data = make_linear_regression_mixture(1000, 2, 2, noise_variance=0.1, random_state=0)
    >>> data.X.shape, data.y.shape, data.coefs.shape
    ((1000, 2), (1000,), (2, 2))

    References
    ----------
    S. I. Wang, A. T. Chaganty, P. Liang, "Estimating mixture models via mixtures of
    polynomials", NIPS 2015, App. A.2.1.
    """
    n = check_count(n_samples, "n_samples")
    d = check_count(n_features, "n_features")
    k = check_count(n_components, "n_components")
    noise = _check_variance(noise_variance, "noise_variance")
    if x_distribution not in X_DISTRIBUTIONS:
        raise ValueError(f"x_distribution must be one of {X_DISTRIBUTIONS}, got {x_distribution!r}")
    s = np.sqrt(check_range(x_variance, "x_variance")[0])
    rng = check_rng(random_state)
    w = _weights(rng, weights, k, 10.0)
    beta = rng.standard_normal((k, d)) if coefs is None else _user_array(coefs, (k, d), "coefs")
    labels = draw_labels(rng, w, n)
    if x_distribution == "normal":
        X = s * rng.standard_normal((n, d))
    else:
        X = rng.uniform(-np.sqrt(3.0) * s, np.sqrt(3.0) * s, size=(n, d))
    y = np.einsum("nd,nd->n", X, beta[labels]) + np.sqrt(noise) * rng.standard_normal(n)
    return LinearRegressionMixtureData(
        X=X, y=y, labels=labels, weights=w, coefs=beta, noise_variance=noise, x_variance=s**2
    )


# ---------------------------------------------------------------------------- multi-view


@dataclass(frozen=True)
class MultiviewMixtureData:
    r"""Samples of a multi-view mixture with its parameters.

    Attributes
    ----------
    views : ndarray of shape (n_views, n_samples, n_features)
        ``views[v]`` is view :math:`x^{(v)}`; one-hot rows for ``'categorical'``.
    labels : ndarray of shape (n_samples,)
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_views, n_components, n_features)
        :math:`\xi^{(v)}_k = E[x^{(v)} \mid z = k]`; identical across views when symmetric.
    view_distribution : str
    noise_variance : float
        Per-coordinate noise variance of ``'gaussian'`` views (0 for categorical).
    """

    views: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    view_distribution: str
    noise_variance: float


def _sample_views(rng, labels, means, view_distribution, noise) -> np.ndarray:
    n_views, k, d = means.shape
    views = np.zeros((n_views, len(labels), d))
    for v in range(n_views):
        for j in range(k):
            idx = np.flatnonzero(labels == j)
            if view_distribution == "categorical":
                views[v, idx, rng.choice(d, size=len(idx), p=means[v, j])] = 1.0
            else:
                views[v, idx] = means[v, j] + np.sqrt(noise) * rng.standard_normal((len(idx), d))
    return views


def make_multiview_mixture(
    n_samples: int,
    n_features: int = 3,
    n_components: int = 3,
    *,
    n_views: int = 3,
    symmetric: bool = True,
    view_distribution: str = "categorical",
    noise_variance: float = 1.0,
    means=None,
    weights=None,
    random_state=None,
) -> MultiviewMixtureData:
    r"""Draw from a multi-view mixture (Polymom §1.2(d), the 3-view row of Table 3).

    Given :math:`z_i \sim \pi`, the views :math:`x^{(1)}_i, \dots, x^{(V)}_i` are
    independent with :math:`E[x^{(v)} \mid z = k] = \xi^{(v)}_k`, so

    .. math::

        E[x^{(1)}_a x^{(2)}_b x^{(3)}_c]
        = \sum_k \pi_k\, \xi^{(1)}_{ka}\xi^{(2)}_{kb}\xi^{(3)}_{kc}.

    The default is the experiment's symmetric categorical model: every view shares
    :math:`\xi_k \sim \mathrm{Dirichlet}(1_D)` and is a one-hot draw from
    :math:`\mathrm{Categorical}(\xi_k)`; :math:`\pi \sim \mathrm{Dirichlet}(1_K)`.
    ``symmetric=False`` draws a separate :math:`\xi^{(v)}_k` per view.
    ``view_distribution='gaussian'`` (our addition) draws
    :math:`x^{(v)} \sim \mathcal N(\xi^{(v)}_k, \sigma^2 I)` instead.

    Parameters
    ----------
    n_samples, n_features, n_components : int
    n_views : int, default=3
    symmetric : bool, default=True
    view_distribution : {'categorical', 'gaussian'}, default='categorical'
    noise_variance : float, default=1.0
        :math:`\sigma^2` of Gaussian views (ignored, and stored as 0, for categorical).
    means : array-like of shape (n_components, n_features) or \
            (n_views, n_components, n_features), optional
        Replaces the Dirichlet draw; categorical means must be probability vectors.
    weights : array-like of shape (n_components,), optional
    random_state : None, int, numpy.random.Generator or RandomState

    Returns
    -------
    MultiviewMixtureData

    Examples
    --------
    >>> data = make_multiview_mixture(500, 3, 3, random_state=0)
    >>> data.views.shape, float(data.views.sum(axis=2).max())
    ((3, 500, 3), 1.0)
    """
    n = check_count(n_samples, "n_samples")
    d = check_count(n_features, "n_features")
    k = check_count(n_components, "n_components")
    n_v = check_count(n_views, "n_views")
    if view_distribution not in VIEW_DISTRIBUTIONS:
        raise ValueError(
            f"view_distribution must be one of {VIEW_DISTRIBUTIONS}, got {view_distribution!r}"
        )
    categorical = view_distribution == "categorical"
    noise = 0.0 if categorical else _check_variance(noise_variance, "noise_variance")
    rng = check_rng(random_state)
    w = _weights(rng, weights, k, 1.0)
    if means is None:
        draws = 1 if symmetric else n_v
        xi = rng.dirichlet(np.ones(d), size=(draws, k))
        xi = np.broadcast_to(xi, (n_v, k, d)).copy()
    else:
        xi = np.asarray(means, dtype=np.float64)
        if xi.ndim == 2 and xi.shape == (k, d):
            xi = np.broadcast_to(xi, (n_v, k, d))
        xi = _user_array(xi, (n_v, k, d), "means")
        if categorical and (np.any(xi < 0) or not np.allclose(xi.sum(axis=-1), 1.0)):
            raise ValueError("categorical means must be probability vectors (non-negative, sum 1)")
    labels = draw_labels(rng, w, n)
    views = _sample_views(rng, labels, xi, view_distribution, noise)
    return MultiviewMixtureData(
        views=views,
        labels=labels,
        weights=w,
        means=xi,
        view_distribution=view_distribution,
        noise_variance=noise,
    )


# ---------------------------------------------------------------------------- Poisson


@dataclass(frozen=True)
class PoissonMixtureData:
    r"""Samples of a Poisson mixture with its parameters.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), dtype int64
        Counts.
    labels : ndarray of shape (n_samples,)
    weights : ndarray of shape (n_components,)
    rates : ndarray of shape (n_components, n_features)
        :math:`\lambda_k`.
    """

    X: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    rates: np.ndarray


def make_poisson_mixture(
    n_samples: int,
    n_components: int = 2,
    n_features: int = 1,
    *,
    rates=None,
    rate_range: tuple[float, float] = (1.0, 10.0),
    weights=None,
    random_state=None,
) -> PoissonMixtureData:
    r"""Draw from a mixture of independent Poisson vectors.

    .. math::

        z_i \sim \pi,\qquad x_{id} \mid z_i = k \sim \mathrm{Poisson}(\lambda_{kd})
        \text{ independently over } d.

    Its moments are polynomials in :math:`\lambda` (Touchard polynomials,
    :math:`E[x^n] = \sum_j S(n, j)\lambda^j`), so it is a Polymom model. Defaults (our
    choice): :math:`\lambda_{kd} \sim U(\text{rate\_range})`,
    :math:`\pi \sim \mathrm{Dirichlet}(10 \cdot 1_K)`.

    Parameters
    ----------
    n_samples, n_components : int
    n_features : int, default=1
        1 for the classical univariate Poisson mixture.
    rates : array-like of shape (n_components, n_features), optional
        Positive rates; replaces the uniform draw.
    rate_range : (float, float), default=(1.0, 10.0)
    weights : array-like of shape (n_components,), optional
    random_state : None, int, numpy.random.Generator or RandomState

    Returns
    -------
    PoissonMixtureData

    Examples
    --------
    >>> data = make_poisson_mixture(100, 2, rates=[2.0, 9.0], random_state=0)
    >>> data.X.shape, data.rates.ravel().tolist()
    ((100, 1), [2.0, 9.0])
    """
    n = check_count(n_samples, "n_samples")
    k = check_count(n_components, "n_components")
    d = check_count(n_features, "n_features")
    lo, hi = check_range(rate_range, "rate_range")
    rng = check_rng(random_state)
    w = _weights(rng, weights, k, 10.0)
    if rates is None:
        lam = rng.uniform(lo, hi, size=(k, d))
    else:
        lam = np.asarray(rates, dtype=np.float64)
        if d == 1 and lam.shape == (k,):
            lam = lam[:, None]
        lam = _user_array(lam, (k, d), "rates")
        if np.any(lam <= 0):
            raise ValueError("rates must be positive")
    labels = draw_labels(rng, w, n)
    X = rng.poisson(lam[labels]).astype(np.int64)
    return PoissonMixtureData(X=X, labels=labels, weights=w, rates=lam)
