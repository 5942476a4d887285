"""The objective's terms from one-pass statistics or explicit tensors, by Stein's identities.

With the tensors :math:`T_{a,l}` of :mod:`._stats`, the data term is

.. math::
    b_k = \\sum_j \\pi_j \\sum_{l \\le k/2} \\binom{k}{2l} (2l-1)!!\\, s^l\\,
          \\big\\langle E_j[\\tilde x^{\\otimes (k-2l)}],\\, T_{k-2l,\\,l} \\big\\rangle,

at a cost of :math:`O(K L r^L)` whatever N is. Gradients follow from Stein's identities
:math:`\\nabla_\\mu E[T(x^a)] = a\\,E[T(x^{a-1},\\cdot)]` and
:math:`\\nabla_\\Sigma E[T(x^a)] = \\binom a2 E[T(x^{a-2},\\cdot,\\cdot)]`
(:func:`stein_gradients`), for the data term (:func:`data_term_from_statistics`) and for
:math:`\\alpha_k = \\|M^{(k)}\\|_F^2` from explicit moment tensors (:func:`alpha_from_tensors`).
"""

from __future__ import annotations

from math import comb

import numpy as np

from ._engine import AlphaResult, DataTerm, MixtureParams
from ._explicit import gaussian_moment_tensors
from ._stats import MomentStatistics

__all__ = ["data_term_from_statistics", "alpha_from_tensors", "stein_gradients"]


def _double_factorial_odd(l: int) -> int:
    out = 1
    for v in range(2 * l - 1, 0, -2):
        out *= v
    return out


def data_term_from_statistics(
    stats: MomentStatistics, params: MixtureParams, order_weights
) -> DataTerm:
    """Same result as :func:`._engine.data_term`, computed from :class:`MomentStatistics`.

    The order weights are folded into one tensor per degree,
    :math:`U_a = \\sum_{k - 2l = a} w_k \\binom{k}{2l}(2l-1)!!\\,s^l\\,T_{a,l}`, so the weighted
    data term is :math:`\\sum_j \\pi_j \\sum_a \\langle E_j[\\tilde x^{\\otimes a}], U_a\\rangle`.
    """
    w = np.asarray(order_weights, dtype=float)
    L = w.shape[0]
    K, r, R = params.factors.shape
    s = params.noise_variance
    U: dict = {}
    for k in range(1, L + 1):
        for l in range(k // 2 + 1):
            if l and s == 0:
                continue
            c = w[k - 1] * comb(k, 2 * l) * _double_factorial_odd(l) * s**l
            U[k - 2 * l] = U.get(k - 2 * l, 0.0) + c * stats.tensors[(k - 2 * l, l)]
    comps = [
        gaussian_moment_tensors(mu, V @ V.T, L)
        for mu, V in zip(params.means, params.factors, strict=True)
    ]
    b = sum(pi * _b_component(stats, E, s, L) for pi, E in zip(params.weights, comps, strict=True))
    g_pi, g_mu, g_V = stein_gradients(params, comps, U)
    return DataTerm(b=b, grad_weights=g_pi, grad_means=g_mu, grad_factors=g_V)


def stein_gradients(params: MixtureParams, comps: list, U: dict):
    """Gradients of :math:`\\sum_j \\pi_j \\sum_a \\langle E_j[x^{\\otimes a}], U_a\\rangle`.

    ``comps[j][a]`` is :math:`E_j[x^{\\otimes a}]` for :math:`x \\sim N(\\mu_j, \\Sigma_j)` and
    :math:`\\Sigma_j = V_jV_j^\\top + c I` (any constant c); ``U`` maps degree a to a
    symmetric tensor. Stein: :math:`\\nabla_\\mu = \\pi_j\\, a\\, E_j[x^{\\otimes(a-1)}](U_a)`,
    :math:`\\nabla_\\Sigma = \\pi_j\\binom a2 E_j[x^{\\otimes(a-2)}](U_a)` and
    :math:`\\nabla_V = 2\\,\\nabla_\\Sigma V`.

    Returns
    -------
    grad_weights (K,), grad_means (K, r), grad_factors (K, r, R)
    """
    K, r, _ = params.factors.shape
    g_pi, g_mu, g_S = np.zeros(K), np.zeros((K, r)), np.zeros((K, r, r))
    for j, E in enumerate(comps):
        pi = params.weights[j]
        for a, Ua in U.items():
            g_pi[j] += float(np.sum(E[a] * Ua))
            if a >= 1:
                g_mu[j] += pi * a * np.tensordot(E[a - 1], Ua, axes=a - 1)
            if a >= 2:
                g_S[j] += pi * comb(a, 2) * np.tensordot(E[a - 2], Ua, axes=a - 2)
    return g_pi, g_mu, 2 * np.einsum("kde,ker->kdr", g_S, params.factors)


def alpha_from_tensors(params: MixtureParams, order_weights) -> AlphaResult:
    """:math:`\\alpha_k = \\|M^{(k)}\\|_F^2` and its gradient from explicit :math:`d^k` tensors.

    Used instead of the cumulant engine when the fitting space is the whole space and
    :math:`d^L` is small (the same condition as for :class:`MomentStatistics`): with
    :math:`T_k = 2 w_k M^{(k)}`, the gradient of :math:`\\sum_k w_k\\alpha_k` is the
    :func:`stein_gradients` of
    :math:`\\sum_j\\pi_j\\sum_k\\langle E_j[x^{\\otimes k}], T_k\\rangle`.
    Equal to :func:`._engine.alpha_moments` (tested).
    """
    w = np.asarray(order_weights, dtype=float)
    L = w.shape[0]
    covs = params.covariances()
    comps = [gaussian_moment_tensors(mu, c, L) for mu, c in zip(params.means, covs, strict=True)]
    M = [sum(pi * E[k] for pi, E in zip(params.weights, comps, strict=True)) for k in range(L + 1)]
    alpha = np.array([float(np.sum(M[k] * M[k])) for k in range(1, L + 1)])
    U = {k: 2 * w[k - 1] * M[k] for k in range(1, L + 1)}
    g_pi, g_mu, g_V = stein_gradients(params, comps, U)
    return AlphaResult(alpha=alpha, grad_weights=g_pi, grad_means=g_mu, grad_factors=g_V)


def _b_component(stats: MomentStatistics, E: list, s: float, L: int) -> np.ndarray:
    """:math:`E_j[(x^\\top y)^k]` averaged over the data, k = 1..L, for one component."""
    out = np.zeros(L)
    for k in range(1, L + 1):
        for l in range(k // 2 + 1):
            if l and s == 0:
                continue
            a = k - 2 * l
            c = comb(k, 2 * l) * _double_factorial_odd(l) * s**l
            out[k - 1] += c * float(np.sum(E[a] * stats.tensors[(a, l)]))
    return out
