r"""Samplers for softmax (multinomial-logit) mixtures: shared items and per-occasion sets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax

from .._validation import check_rng
from ._common import (
    check_count,
    check_range,
    check_simplex,
    draw_labels,
    draw_uniform,
    random_unit_vectors,
)

__all__ = [
    "SoftmaxMixtureData",
    "ChoiceSetMixtureData",
    "make_softmax_mixture",
    "make_choice_set_mixture",
]


@dataclass(frozen=True)
class SoftmaxMixtureData:
    r"""Choices from a softmax mixture over one shared set of items, with its parameters.

    Attributes
    ----------
    features : ndarray of shape (n_items, n_features)
        Item features :math:`X_j`, rows of :math:`X \in \mathbb R^{p\times L}`.
    choices : ndarray of shape (n_samples,)
        Chosen item :math:`J_i \in \{0..p-1\}`.
    counts : ndarray of shape (n_items,)
        :math:`n_j = \#\{i : J_i = j\}`, the sufficient statistic.
    labels : ndarray of shape (n_samples,)
        Latent class :math:`Z_i`.
    weights : ndarray of shape (n_components,)
        :math:`\alpha`.
    coefs : ndarray of shape (n_components, n_features)
        Atoms :math:`\theta_k`.
    feature_covariance : ndarray of shape (n_features, n_features)
        :math:`\Sigma` of the Gaussian design.
    item_probabilities : ndarray of shape (n_items,)
        Exact mixture probabilities :math:`\pi_j(\omega)=\sum_k\alpha_k\pi_j(\theta_k)`
        for the drawn features.
    """

    features: np.ndarray
    choices: np.ndarray
    counts: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    coefs: np.ndarray
    feature_covariance: np.ndarray
    item_probabilities: np.ndarray


def _coefs(rng, coefs, k: int, dim: int, coef_norm) -> np.ndarray:
    if coefs is not None:
        theta = np.asarray(coefs, dtype=np.float64)
        if theta.shape != (k, dim) or not np.all(np.isfinite(theta)):
            raise ValueError(f"coefs must be finite with shape ({k}, {dim}), got {theta.shape}")
        return theta
    interval = check_range(coef_norm, "coef_norm", positive=False)
    return random_unit_vectors(rng, k, dim) * draw_uniform(rng, interval, k)[:, None]


def _feature_root(feature_covariance, dim: int) -> tuple[np.ndarray, np.ndarray]:
    if feature_covariance is None:
        return np.eye(dim), np.eye(dim)
    cov = np.asarray(feature_covariance, dtype=np.float64)
    if cov.shape != (dim, dim) or not np.allclose(cov, cov.T):
        raise ValueError(f"feature_covariance must be symmetric of shape ({dim}, {dim})")
    try:
        return cov, np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError("feature_covariance must be positive definite") from None


def make_softmax_mixture(
    n_samples: int,
    n_items: int,
    n_features: int = 2,
    n_components: int = 2,
    *,
    coef_norm: float | tuple[float, float] = (1.0, 2.0),
    feature_covariance=None,
    coefs=None,
    weights=None,
    random_state=None,
) -> SoftmaxMixtureData:
    r"""Draw single choices from a softmax mixture with Gaussian item design.

    The model of softmax.md §1: :math:`p` items with features
    :math:`X_j \sim \mathcal N(0, \Sigma)` i.i.d., drawn once and shared by every
    observation; then for :math:`i = 1..N` independently

    .. math::

        Z_i \sim \mathrm{Categorical}(\alpha),\qquad
        J_i \mid Z_i = k \sim \mathrm{Categorical}(\pi(\theta_k)),\qquad
        \pi_j(\theta) = \frac{\exp(X_j^\top\theta)}{\sum_{l=1}^p \exp(X_l^\top\theta)}.

    Defaults (the reproduction plan of softmax.md §4; our choices where it gives a
    range): :math:`\Sigma = I_L`; :math:`\theta_k = r_k u_k` with :math:`u_k` uniform on
    the unit sphere and :math:`r_k \sim U(\text{coef\_norm}) = U(1, 2)`;
    :math:`\alpha \sim \mathrm{Dirichlet}(10\cdot 1_K)`. The Hermite moment method needs
    :math:`p \gg \exp(\theta^\top\Sigma\theta)` (softmax.md §2.1), i.e. :math:`p \gg 55`
    at :math:`\|\theta\| = 2`.

    Parameters
    ----------
    n_samples : int
        :math:`N`, the number of choices.
    n_items : int
        :math:`p`.
    n_features : int, default=2
        :math:`L`.
    n_components : int, default=2
        :math:`K`.
    coef_norm : float or (float, float), default=(1.0, 2.0)
        Norm of each atom, or the interval it is drawn from.
    feature_covariance : array-like of shape (n_features, n_features), optional
        :math:`\Sigma` (positive definite); identity by default.
    coefs : array-like of shape (n_components, n_features), optional
        Replaces the random atoms.
    weights : array-like of shape (n_components,), optional
    random_state : None, int, numpy.random.Generator or RandomState

    Returns
    -------
    SoftmaxMixtureData

    Examples
    --------
    >>> data = make_softmax_mixture(5000, 1000, 2, 2, random_state=0)
    >>> data.features.shape, int(data.counts.sum()), data.coefs.shape
    ((1000, 2), 5000, (2, 2))

    References
    ----------
    X. Bing, F. Bunea, J. Niles-Weed, M. Wegkamp, "Learning large softmax mixtures with
    warm start EM", arXiv:2409.09903.
    """
    n = check_count(n_samples, "n_samples")
    p = check_count(n_items, "n_items")
    dim = check_count(n_features, "n_features")
    k = check_count(n_components, "n_components")
    cov, root = _feature_root(feature_covariance, dim)
    rng = check_rng(random_state)
    alpha = rng.dirichlet(10.0 * np.ones(k)) if weights is None else check_simplex(weights, k)
    theta = _coefs(rng, coefs, k, dim, coef_norm)
    features = rng.standard_normal((p, dim)) @ root.T
    probs = np.exp(log_softmax(features @ theta.T, axis=0)).T  # (K, p)
    labels = draw_labels(rng, alpha, n)
    choices = np.empty(n, dtype=np.intp)
    for j in range(k):
        idx = np.flatnonzero(labels == j)
        choices[idx] = rng.choice(p, size=len(idx), p=probs[j])
    return SoftmaxMixtureData(
        features=features,
        choices=choices,
        counts=np.bincount(choices, minlength=p),
        labels=labels,
        weights=alpha,
        coefs=theta,
        feature_covariance=cov,
        item_probabilities=alpha @ probs,
    )


@dataclass(frozen=True)
class ChoiceSetMixtureData:
    r"""Panel choices from a latent-class conditional logit, with its parameters.

    Attributes
    ----------
    features : ndarray of shape (n_observations, n_alternatives, n_features)
        Attributes of each alternative at each choice occasion.
    chosen : ndarray of shape (n_observations,)
        Index of the chosen alternative.
    groups : ndarray of shape (n_observations,)
        Decision maker (panel id) of each occasion, ``0..n_groups-1``.
    labels : ndarray of shape (n_observations,)
        Latent class of the occasion's decision maker.
    group_labels : ndarray of shape (n_groups,)
        Latent class of each decision maker.
    weights : ndarray of shape (n_components,)
    coefs : ndarray of shape (n_components, n_features)
    """

    features: np.ndarray
    chosen: np.ndarray
    groups: np.ndarray
    labels: np.ndarray
    group_labels: np.ndarray
    weights: np.ndarray
    coefs: np.ndarray


def make_choice_set_mixture(
    n_groups: int,
    n_occasions: int,
    n_alternatives: int,
    n_features: int = 2,
    n_components: int = 2,
    *,
    coef_norm: float | tuple[float, float] = (1.0, 2.0),
    coefs=None,
    weights=None,
    random_state=None,
) -> ChoiceSetMixtureData:
    r"""Draw panel choices from a latent-class conditional logit.

    The econometric form of the softmax mixture (softmax.md §5; the layout of the Ecdat
    brand-choice panels): every occasion :math:`i` offers its own :math:`J` alternatives
    with features :math:`x_{ij} \sim \mathcal N(0, I_L)` i.i.d., and a decision maker
    :math:`g` keeps one latent class over all their occasions:

    .. math::

        c_g \sim \mathrm{Categorical}(\alpha),\qquad
        P(\text{choose } j \text{ at } i \mid c_{g(i)} = k)
        = \frac{\exp(x_{ij}^\top\theta_k)}{\sum_{l=1}^J \exp(x_{il}^\top\theta_k)}.

    With one occasion per group this is the softmax mixture with per-observation choice
    sets; with several, the classes of a group's occasions are tied (the panel
    likelihood multiplies over a group's occasions inside the mixture). Atoms and weights
    are drawn as in :func:`make_softmax_mixture`.

    Parameters
    ----------
    n_groups : int
        Number of decision makers.
    n_occasions : int
        Choice occasions per decision maker; ``n_observations = n_groups * n_occasions``.
    n_alternatives : int
        :math:`J`, at least 2.
    n_features, n_components : int, default=2
    coef_norm, coefs, weights, random_state
        As in :func:`make_softmax_mixture`.

    Returns
    -------
    ChoiceSetMixtureData

    Examples
    --------
    >>> data = make_choice_set_mixture(100, 5, 4, 3, 2, random_state=0)
    >>> data.features.shape, data.chosen.shape, int(data.groups.max()) + 1
    ((500, 4, 3), (500,), 100)
    """
    g = check_count(n_groups, "n_groups")
    t = check_count(n_occasions, "n_occasions")
    n_alt = check_count(n_alternatives, "n_alternatives", minimum=2)
    dim = check_count(n_features, "n_features")
    k = check_count(n_components, "n_components")
    rng = check_rng(random_state)
    alpha = rng.dirichlet(10.0 * np.ones(k)) if weights is None else check_simplex(weights, k)
    theta = _coefs(rng, coefs, k, dim, coef_norm)
    group_labels = draw_labels(rng, alpha, g)
    groups = np.repeat(np.arange(g), t)
    labels = group_labels[groups]
    features = rng.standard_normal((g * t, n_alt, dim))
    utilities = np.einsum("njl,nl->nj", features, theta[labels])
    probs = np.exp(log_softmax(utilities, axis=1))
    # inverse-CDF draw per occasion: one uniform each
    u = rng.random(g * t)
    chosen = np.minimum((np.cumsum(probs, axis=1) < u[:, None]).sum(axis=1), n_alt - 1)
    return ChoiceSetMixtureData(
        features=features,
        chosen=chosen.astype(np.intp),
        groups=groups,
        labels=labels,
        group_labels=group_labels,
        weights=alpha,
        coefs=theta,
    )
