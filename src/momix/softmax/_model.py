"""Softmax-mixture (latent-class multinomial logit) model: data layouts, probabilities, E-step.

Two data layouts share one model. In both, component :math:`k` has coefficients
:math:`\\theta_k \\in \\mathbb R^L` and weight :math:`\\alpha_k`, and the probability of
choosing alternative :math:`j` of a choice situation with features :math:`x_{1..J}` is

.. math::

    \\pi_j(\\theta_k) = \\frac{\\exp(x_j^\\top \\theta_k)}
                          {\\sum_{l=1}^{J} \\exp(x_l^\\top \\theta_k)} .

* **Item set** (:class:`ItemSetData`, the paper's model): every observation faces the same
  ``p`` items with features ``X`` of shape (p, L) and picks one. The counts :math:`n_j` are
  sufficient; :math:`\\ell(\\omega) = \\sum_j n_j \\log \\sum_k \\alpha_k \\pi_j(\\theta_k)`, and an
  E-step costs :math:`O(pKL)` whatever the number of observations.
* **Choice situations** (:class:`ChoiceSetData`, real choice data): observation :math:`i` has
  its own alternatives ``F[i]`` of shape (J, L) and choice :math:`y_i`; all observations of a
  group (a panel individual) share one latent class, so with
  :math:`S_{gk} = \\sum_{i \\in g} \\log \\pi_{y_i}(\\theta_k; F_i)`,
  :math:`\\ell(\\omega) = \\sum_g v_g \\log \\sum_k \\alpha_k e^{S_{gk}}` with unit weights
  :math:`v_g` (1 unless sample weights were given; an item set's weights are in its counts).

Every quantity is computed in log space (log-sum-exp), so huge utilities never overflow.

The E-step returns the statistics the M-step needs, in one form for both layouts (a
weighted conditional logit per class, see :mod:`momix.softmax._em`): situation features
``F`` (S, J, L), per-class chosen-feature sums ``b`` (K, L), per-situation class weights
``C`` (S, K) and the class totals giving the closed-form weight update.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = [
    "ItemSetData",
    "logsumexp",
    "ChoiceSetData",
    "EStep",
    "log_choice_probabilities",
    "e_step",
    "sample_items",
    "sample_situations",
]


def logsumexp(a: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """:math:`\\log\\sum e^{a}` along ``axis``, shifted by the maximum (finite for finite ``a``).

    A lean replacement of :func:`scipy.special.logsumexp` for the hot loops of EM (the
    scipy version's array-API dispatch costs more than the arithmetic at these sizes);
    ``-inf`` entries (zero weights) are handled.
    """
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


def situation_spread(features) -> np.ndarray:
    """:math:`\\operatorname{tr}\\operatorname{Cov}_u(F_s) / L` per situation, shape (S,).

    :math:`\\operatorname{Cov}_u(F_s)` is the covariance of situation ``s``'s alternatives
    under uniform choice, computed from centred features (no cancellation under offsets).
    """
    centred = features - features.mean(axis=1, keepdims=True)
    return np.einsum("sjl,sjl->s", centred, centred) / (features.shape[1] * features.shape[2])


def situation_radius(features) -> float:
    """:math:`\\max_{s,j} \\lVert x_{sj} - \\bar x_s \\rVert`, the largest distance of an
    alternative from its situation's mean: a coefficient change :math:`d` moves no
    utility difference by more than :math:`2 \\lVert d \\rVert` times it."""
    centred = features - features.mean(axis=1, keepdims=True)
    return float(np.sqrt(np.max(np.einsum("sjl,sjl->sj", centred, centred), initial=0.0)))


@dataclass(frozen=True)
class ItemSetData:
    """Fixed item set: item features (p, L) and choice counts (p,).

    ``counts`` may be weighted (non-negative reals): item ``j`` then enters the likelihood
    with multiplicity ``counts[j]``.
    """

    features: np.ndarray
    counts: np.ndarray

    @property
    def n_units(self) -> float:
        """Number of independent observations (the weight-update denominator)."""
        return float(self.counts.sum())

    @property
    def situations(self) -> np.ndarray:
        return self.features[None]

    @cached_property
    def spread(self) -> np.ndarray:
        """:func:`situation_spread` of the item set, shape (1,)."""
        return situation_spread(self.situations)

    @cached_property
    def radius(self) -> float:
        """:func:`situation_radius` of the item set."""
        return situation_radius(self.situations)


@dataclass(frozen=True)
class ChoiceSetData:
    """Per-observation choice situations: features (N, J, L), choices (N,), group codes (N,).

    ``unit_weights`` (n_groups,), optional: the multiplicity of each group (of each
    observation when every observation is its own group) in the likelihood
    :math:`\\sum_g v_g \\log p(\\text{group } g)`; ``None`` means one each.
    """

    features: np.ndarray
    choices: np.ndarray
    groups: np.ndarray
    n_groups: int
    unit_weights: np.ndarray | None = None

    @property
    def weights_per_unit(self) -> np.ndarray:
        """:math:`v_g`, shape (n_groups,) (ones when no weights were given)."""
        return np.ones(self.n_groups) if self.unit_weights is None else self.unit_weights

    @property
    def n_units(self) -> float:
        return float(self.n_groups if self.unit_weights is None else self.unit_weights.sum())

    @property
    def situations(self) -> np.ndarray:
        return self.features

    @cached_property
    def spread(self) -> np.ndarray:
        """:func:`situation_spread` of the choice situations, shape (N,)."""
        return situation_spread(self.features)

    @cached_property
    def radius(self) -> float:
        """:func:`situation_radius` of the choice situations."""
        return situation_radius(self.features)


@dataclass(frozen=True)
class EStep:
    """Result of one E-step.

    Attributes
    ----------
    log_likelihood : float
        :math:`\\ell(\\omega)` at the parameters the E-step was run at.
    class_totals : ndarray of shape (K,)
        :math:`\\sum_{\\text{units}} r_{\\cdot k}`; the weight update is ``class_totals / n_units``.
    chosen_sums : ndarray of shape (K, L)
        :math:`b_k`, responsibility-weighted sum of the chosen features.
    situation_weights : ndarray of shape (S, K)
        :math:`C_{sk}`, weight of situation ``s`` in class ``k``'s logit objective.
    """

    log_likelihood: float
    class_totals: np.ndarray
    chosen_sums: np.ndarray
    situation_weights: np.ndarray


def log_choice_probabilities(features: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Log choice probabilities of every alternative under every component.

    Parameters
    ----------
    features : ndarray of shape (S, J, L)
        Alternatives of ``S`` choice situations.
    theta : ndarray of shape (K, L)

    Returns
    -------
    ndarray of shape (K, S, J)
        :math:`\\log \\pi_j(\\theta_k; F_s) = u_{ksj} - \\operatorname{logsumexp}_l u_{ksl}`
        with :math:`u_{ksj} = F_{sj}^\\top \\theta_k`.
    """
    u = np.moveaxis(features @ theta.T, 2, 0)  # (K, S, J)
    return u - logsumexp(u, axis=2, keepdims=True)


def _e_step_items(data: ItemSetData, weights: np.ndarray, theta: np.ndarray) -> EStep:
    log_pi = log_choice_probabilities(data.situations, theta)[:, 0, :]  # (K, p)
    with np.errstate(divide="ignore"):
        joint = np.log(weights)[:, None] + log_pi
    log_mix = logsumexp(joint, axis=0)  # (p,)
    resp = np.exp(joint - log_mix)  # (K, p)
    nz = data.counts > 0
    loglik = float(data.counts[nz] @ log_mix[nz])
    weighted = resp * data.counts  # (K, p)
    totals = weighted.sum(axis=1)
    return EStep(loglik, totals, weighted @ data.features, totals[None, :])


def situation_class_loglik(data: ChoiceSetData, theta: np.ndarray) -> np.ndarray:
    """:math:`S_{gk} = \\sum_{i\\in g} \\log \\pi_{y_i}(\\theta_k; F_i)`, shape (G, K)."""
    log_p = log_choice_probabilities(data.features, theta)  # (K, N, J)
    n = data.features.shape[0]
    chosen = log_p[:, np.arange(n), data.choices]  # (K, N)
    out = np.zeros((data.n_groups, theta.shape[0]))
    np.add.at(out, data.groups, chosen.T)
    return out


def group_log_responsibilities(data: ChoiceSetData, weights, theta):
    """Return (log p(unit g), log r_gk) for the choice-situation layout."""
    with np.errstate(divide="ignore"):
        joint = np.log(weights) + situation_class_loglik(data, theta)
    log_unit = logsumexp(joint, axis=1)
    return log_unit, joint - log_unit[:, None]


def _e_step_situations(data: ChoiceSetData, weights: np.ndarray, theta: np.ndarray) -> EStep:
    log_unit, log_resp = group_log_responsibilities(data, weights, theta)
    resp = np.exp(log_resp)  # (G, K)
    if data.unit_weights is not None:
        resp = resp * data.unit_weights[:, None]
        pos = data.unit_weights > 0
        loglik = float(data.unit_weights[pos] @ log_unit[pos])
    else:
        loglik = float(log_unit.sum())
    w = resp[data.groups]  # (N, K)
    chosen_x = data.features[np.arange(data.features.shape[0]), data.choices]  # (N, L)
    return EStep(loglik, resp.sum(axis=0), w.T @ chosen_x, w)


_E_STEPS = {ItemSetData: _e_step_items, ChoiceSetData: _e_step_situations}


def e_step(data: ItemSetData | ChoiceSetData, weights: np.ndarray, theta: np.ndarray) -> EStep:
    """E-step of the softmax mixture for either layout.

    Responsibilities are :math:`r_{jk} \\propto \\alpha_k \\pi_j(\\theta_k)` per item (item
    set; identical for every observation that chose item ``j``) or
    :math:`r_{gk} \\propto \\alpha_k e^{S_{gk}}` per group (choice situations).

    Parameters
    ----------
    data : ItemSetData or ChoiceSetData
    weights : ndarray of shape (K,)
    theta : ndarray of shape (K, L)

    Returns
    -------
    EStep
    """
    return _E_STEPS[type(data)](data, weights, theta)


def sample_items(n_samples: int, features, weights, theta, rng) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_samples`` (choice, class) pairs from a fixed item set.

    Classes are drawn from ``weights``; given class ``k`` the chosen item is drawn from
    :math:`\\pi(\\theta_k)`. Returns ``(choices, labels)``, each of shape (n_samples,).
    """
    labels = rng.choice(len(weights), size=n_samples, p=weights / weights.sum())
    probs = np.exp(log_choice_probabilities(features[None], theta)[:, 0, :])
    choices = np.empty(n_samples, dtype=np.intp)
    for k in range(len(weights)):
        idx = np.flatnonzero(labels == k)
        choices[idx] = rng.choice(features.shape[0], size=idx.size, p=probs[k] / probs[k].sum())
    return choices, labels


def sample_situations(features, groups, n_groups, weights, theta, rng):
    """Draw one choice per situation; all situations of one group share one class.

    Returns ``(choices, labels)``, each of shape (N,) (``labels`` per situation).
    """
    group_class = rng.choice(len(weights), size=n_groups, p=weights / weights.sum())
    labels = group_class[groups]
    log_p = log_choice_probabilities(features, theta)  # (K, N, J)
    probs = np.exp(log_p[labels, np.arange(features.shape[0])])  # (N, J)
    cum = np.cumsum(probs, axis=1)
    draws = rng.random(features.shape[0]) * cum[:, -1]
    choices = np.minimum((cum < draws[:, None]).sum(axis=1), features.shape[1] - 1)
    return choices.astype(np.intp), labels
