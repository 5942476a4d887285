"""Implicit moment engine for low-rank(-plus-noise) Gaussian mixtures.

No tensor with more than :math:`d^2` entries is formed: every moment inner product reduces
to scalar Gaussian moments of projections (:func:`beta_moments`) or to cumulants of the
Gaussian quadratic form :math:`x_i^\\top x_j` and complete Bell polynomials
(:func:`alpha_moments`).

The component covariances are :math:`\\Sigma_j = V_j V_j^\\top + s I` with a known
:math:`s \\ge 0` (``noise_variance``); products with :math:`\\Sigma_j` are applied to
:math:`d \\times m` blocks as :math:`V_j (V_j^\\top Y) + s Y`, never as :math:`d \\times d`
matrices.

References
----------
.. [1] L. Zhang, O. Mickelin, S. Xu, A. Singer, "Diagonally-weighted generalized method of
   moments estimation for Gaussian mixture modeling", arXiv:2507.20459 (2025),
   Theorems 4.3 and 4.4.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb, factorial

import numpy as np

from ..special import complete_bell
from ._blocks import row_slices

__all__ = [
    "MixtureParams",
    "AlphaResult",
    "DataTerm",
    "scalar_moments",
    "beta_moments",
    "data_term",
    "alpha_moments",
]


@dataclass(frozen=True)
class MixtureParams:
    """Parameters of a low-rank-plus-noise Gaussian mixture.

    Attributes
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    factors : ndarray of shape (K, d, R)
        Component covariances are ``factors[j] @ factors[j].T + noise_variance * I``.
    noise_variance : float
    """

    weights: np.ndarray
    means: np.ndarray
    factors: np.ndarray
    noise_variance: float = 0.0

    @property
    def n_components(self) -> int:
        return self.weights.shape[0]

    def covariances(self) -> np.ndarray:
        """Dense covariances (K, d, d) -- for output only, never used by the engine."""
        d = self.means.shape[1]
        cov = np.einsum("kdr,ker->kde", self.factors, self.factors)
        return cov + self.noise_variance * np.eye(d)


@dataclass(frozen=True)
class AlphaResult:
    """:math:`\\alpha_k = \\|M^{(k)}(\\theta)\\|_F^2`, and the gradient of
    :math:`\\sum_k w_k \\alpha_k`.

    Attributes
    ----------
    alpha : ndarray of shape (L,)
        Orders 1..L.
    grad_weights, grad_means, grad_factors : ndarray or None
        Gradients of ``order_weights @ alpha`` (None if not requested).
    """

    alpha: np.ndarray
    grad_weights: np.ndarray | None = None
    grad_means: np.ndarray | None = None
    grad_factors: np.ndarray | None = None


@dataclass(frozen=True)
class DataTerm:
    """:math:`b_k = \\sum_n \\omega_n \\beta_{k,n}` and the gradient of :math:`\\sum_k w_k b_k`."""

    b: np.ndarray
    grad_weights: np.ndarray
    grad_means: np.ndarray
    grad_factors: np.ndarray


# ---------------------------------------------------------------------------------------
# beta: scalar Gaussian moments of projections
# ---------------------------------------------------------------------------------------


def scalar_moments(m: np.ndarray, s: np.ndarray, max_order: int) -> np.ndarray:
    """Raw moments :math:`E[Z^k]`, :math:`Z \\sim N(m, s)`, for k = 0..max_order.

    .. math:: m_0 = 1,\\; m_1 = m,\\; m_k = m\\, m_{k-1} + (k-1)\\, s\\, m_{k-2}.

    Returns an array of shape ``(max_order + 1,) + m.shape`` (order first, so every
    order is a contiguous block).
    """
    out = np.empty((max_order + 1,) + np.shape(m))
    out[0] = 1.0
    if max_order >= 1:
        out[1] = m
    for k in range(2, max_order + 1):
        np.multiply(m, out[k - 1], out=out[k])
        out[k] += (k - 1) * s * out[k - 2]
    return out


def _projections(X: np.ndarray, sqnorm: np.ndarray, params: MixtureParams):
    """Projections ``m = X mu_j`` (N, K), ``P = X V_j`` (N, K*R) and variances ``s`` (N, K)."""
    K, d, R = params.factors.shape
    theta = np.concatenate([params.means.T, params.factors.transpose(1, 0, 2).reshape(d, K * R)], 1)
    proj = np.asarray(X, dtype=np.float64) @ theta
    m = proj[:, :K]
    P = proj[:, K:]
    s = (P * P).reshape(-1, K, R).sum(axis=2)
    if params.noise_variance:
        s += params.noise_variance * sqnorm[:, None]
    return m, P, s


def beta_moments(X: np.ndarray, sqnorm: np.ndarray, params: MixtureParams, max_order: int):
    """Per-sample :math:`\\beta_{k,n} = \\langle M^{(k)}(\\theta), y_n^{\\otimes k}\\rangle`.

    .. math:: \\beta_{k,n} = \\sum_j \\pi_j\\, m_k\\big(\\mu_j^\\top y_n,\\;
              \\|V_j^\\top y_n\\|^2 + s\\|y_n\\|^2\\big)

    Parameters
    ----------
    X : ndarray of shape (n_samples, d)
    sqnorm : ndarray of shape (n_samples,)
        Squared norms of the rows of ``X`` (in the ambient space, if ``X`` holds
        coordinates in a subspace that contains the parameters).

    Returns
    -------
    ndarray of shape (n_samples, max_order); column k-1 is order k.
    """
    m, _, s = _projections(X, sqnorm, params)
    mom = scalar_moments(m, s, max_order)
    return (mom[1:] @ params.weights).T


def data_term(X, sqnorm, omega, params: MixtureParams, order_weights) -> DataTerm:
    """Weighted data sums :math:`b_k = \\sum_n \\omega_n \\beta_{k,n}` with gradients.

    The gradient of :math:`\\sum_k w_k b_k` uses
    :math:`\\partial m_k/\\partial m = k\\,m_{k-1}` and
    :math:`\\partial m_k/\\partial s = \\binom{k}{2} m_{k-2}`, with
    :math:`\\partial s/\\partial V_j = 2\\,y\\,(V_j^\\top y)^\\top`. The sums over samples are
    accumulated over row blocks (:mod:`._blocks`): two matrix products with each block.

    Parameters
    ----------
    X : ndarray of shape (n_samples, d)
        float64 or float32 (upcast one block at a time).
    sqnorm : ndarray of shape (n_samples,)
    omega : ndarray of shape (n_samples,)
        Sample weights summing to one.
    order_weights : ndarray of shape (L,)
    """
    w = np.asarray(order_weights, dtype=float)
    L = w.shape[0]
    K, d, R = params.factors.shape
    pi = params.weights
    orders = np.arange(1, L + 1)
    per_sample = np.zeros((L, K))  # sum_n omega_n m_k^(j)(n)
    g = np.zeros((d, K + K * R))
    for sl in row_slices(*X.shape):
        rows, om = X[sl], omega[sl]
        m, P, s = _projections(rows, sqnorm[sl], params)
        mom = scalar_moments(m, s, L)  # (L+1, n, K)
        per_sample += om @ mom[1:]
        dm = np.tensordot(w * orders, mom[:L], axes=1)  # sum_k w_k k m_{k-1}
        ds = np.tensordot(w[1:] * orders[1:] * (orders[1:] - 1) / 2, mom[: L - 1], axes=1)
        coef_m = (om[:, None] * pi) * dm  # (n, K)
        coef_s = 2.0 * (om[:, None] * pi) * ds
        coef_v = (P.reshape(-1, K, R) * coef_s[:, :, None]).reshape(-1, K * R)
        g += np.asarray(rows, dtype=np.float64).T @ np.concatenate([coef_m, coef_v], axis=1)
    b = per_sample @ pi
    grad_pi = w @ per_sample
    grad_mu = g[:, :K].T
    grad_V = g[:, K:].reshape(d, K, R).transpose(1, 0, 2)
    return DataTerm(b=b, grad_weights=grad_pi, grad_means=grad_mu, grad_factors=grad_V)


# ---------------------------------------------------------------------------------------
# alpha: cumulants of x_i^T x_j and complete Bell polynomials
# ---------------------------------------------------------------------------------------


class _Pair:
    """Products with :math:`\\Sigma_i` ('P') and :math:`\\Sigma_j` ('Q') for one pair (i, j)."""

    def __init__(self, Vi, Vj, noise, ambient_dim):
        self.V = {"P": Vi, "Q": Vj}
        self.noise = noise
        self.ambient_dim = ambient_dim
        self._chains: dict = {}
        self._traces: dict = {}

    def apply(self, which: str, Y: np.ndarray) -> np.ndarray:
        V = self.V[which]
        return V @ (V.T @ Y) + self.noise * Y

    def word(self, start: str, length: int) -> tuple[str, ...]:
        other = {"P": "Q", "Q": "P"}
        out, cur = [], start
        for _ in range(length):
            out.append(cur)
            cur = other[cur]
        return tuple(out)

    def chain(self, key: str, v: np.ndarray, word: tuple[str, ...]) -> np.ndarray:
        """:math:`X_{w_1}\\cdots X_{w_n} v`, memoised on ``(key, word)`` (``key`` names ``v``)."""
        if not word:
            return v
        cached = self._chains.get((key, word))
        if cached is None:
            cached = self.apply(word[0], self.chain(key, v, word[1:]))
            self._chains[(key, word)] = cached
        return cached

    def quad(self, a, b, word, coef, grads, keys=("a", "b")):
        """Return :math:`a^\\top X_1\\cdots X_n b`.

        Adds ``coef`` times its gradients to ``grads``; ``keys`` name ``a`` and ``b`` for
        the memoised chains.
        """
        n = len(word)
        right0 = self.chain(keys[1], b, word)
        value = float(a @ right0)
        if grads is not None and coef != 0.0:
            grads["a"] += coef * right0
            grads["b"] += coef * self.chain(keys[0], a, word[::-1])
            for t, which in enumerate(word):
                V = self.V[which]
                lt = self.chain(keys[0], a, word[:t][::-1])
                rt = self.chain(keys[1], b, word[t + 1 : n])
                grads[which] += coef * (np.outer(lt, rt @ V) + np.outer(rt, lt @ V))
        return value

    def trace_power(self, p: int) -> float:
        """:math:`\\operatorname{tr}((\\Sigma_i\\Sigma_j)^p)` through small matrices.

        With :math:`U = [V_i, V_j]`, :math:`\\Sigma_i\\Sigma_j = s^2 I + U H U^\\top` where
        :math:`H = [[sI, V_i^\\top V_j], [0, sI]]`, so
        :math:`\\operatorname{tr}((\\Sigma_i\\Sigma_j)^p) = \\sum_q \\binom{p}{q} s^{2(p-q)}
        \\operatorname{tr}((HG)^q)` with :math:`G = U^\\top U` and the q = 0 term :math:`d`.
        """
        if p in self._traces:
            return self._traces[p]
        Vi, Vj = self.V["P"], self.V["Q"]
        s, d = self.noise, self.ambient_dim
        Ri, Rj = Vi.shape[1], Vj.shape[1]
        U = np.concatenate([Vi, Vj], axis=1)
        H = np.zeros((Ri + Rj, Ri + Rj))
        H[:Ri, :Ri] = s * np.eye(Ri)
        H[Ri:, Ri:] = s * np.eye(Rj)
        H[:Ri, Ri:] = Vi.T @ Vj
        HG = H @ (U.T @ U)
        total, power = 0.0, np.eye(Ri + Rj)
        for q in range(p + 1):
            tq = d if q == 0 else float(np.trace(power))
            total += comb(p, q) * s ** (2 * (p - q)) * tq
            power = power @ HG
        self._traces[p] = total
        return total

    def trace_grad(self, p: int, coef: float, grads) -> None:
        """Add ``coef`` times the factor gradients of
        :math:`\\operatorname{tr}((\\Sigma_i\\Sigma_j)^p)`:
        :math:`\\partial/\\partial V_i = 2p\\,\\Sigma_j(\\Sigma_i\\Sigma_j)^{p-1} V_i`, and
        symmetrically for :math:`V_j`.
        """
        if coef == 0.0:
            return
        for which, other in (("P", "Q"), ("Q", "P")):
            Y = self.V[which]
            for t in self.word(other, 2 * p - 1):
                Y = self.apply(t, Y)
            grads[which] += coef * 2 * p * Y


def _pair_cumulants(pair: _Pair, mu_i, mu_j, L: int, coefs=None, grads=None) -> np.ndarray:
    """Cumulants :math:`\\kappa_1..\\kappa_L` of :math:`Z = x_i^\\top x_j`, and optionally
    accumulate ``sum_l coefs[l] * d kappa_l`` into ``grads`` (keys 'a' -> mu_j side, ...).

    .. math::
        \\kappa_{2p+1} = (2p+1)!\\, \\mu_j^\\top (\\Sigma_i\\Sigma_j)^p \\mu_i, \\qquad
        \\kappa_{2p+2} = (2p+1)!\\, \\operatorname{tr}((\\Sigma_i\\Sigma_j)^{p+1})
          + \\tfrac{(2p+2)!}{2}\\big[\\mu_i^\\top\\Sigma_j(\\Sigma_i\\Sigma_j)^p\\mu_i
          + \\mu_j^\\top(\\Sigma_i\\Sigma_j)^p\\Sigma_i\\mu_j\\big].
    """
    kappa = np.zeros(L)
    for l in range(1, L + 1):
        c = 0.0 if coefs is None else coefs[l - 1]
        if l % 2 == 1:
            p = (l - 1) // 2
            g = None if grads is None else {"a": grads["mu_j"], "b": grads["mu_i"], **grads}
            kappa[l - 1] = factorial(l) * pair.quad(
                mu_j, mu_i, pair.word("P", 2 * p), c * factorial(l), g, ("j", "i")
            )
            continue
        p = (l - 2) // 2
        half = factorial(l) / 2
        ga = None if grads is None else {"a": grads["mu_i"], "b": grads["mu_i"], **grads}
        gb = None if grads is None else {"a": grads["mu_j"], "b": grads["mu_j"], **grads}
        qa = pair.quad(mu_i, mu_i, pair.word("Q", 2 * p + 1), c * half, ga, ("i", "i"))
        qb = pair.quad(mu_j, mu_j, pair.word("P", 2 * p + 1), c * half, gb, ("j", "j"))
        kappa[l - 1] = factorial(l - 1) * pair.trace_power(p + 1) + half * (qa + qb)
        if grads is not None:
            pair.trace_grad(p + 1, c * factorial(l - 1), grads)
    return kappa


def alpha_moments(
    params: MixtureParams, max_order: int, order_weights=None, ambient_dim: int | None = None
) -> AlphaResult:
    """:math:`\\alpha_k = \\|M^{(k)}(\\theta)\\|_F^2`, k = 1..L, without forming tensors.

    .. math::
        \\alpha_k = \\sum_{i,j} \\pi_i \\pi_j\\, E[(x_i^\\top x_j)^k]
                  = \\sum_{i,j} \\pi_i \\pi_j\\, B_k(\\kappa^{ij}_1, \\dots, \\kappa^{ij}_k),

    with :math:`B_k` the complete Bell polynomial. Cost :math:`O(K^2 L^2 d R)`.

    Parameters
    ----------
    params : MixtureParams
    max_order : int
        L.
    order_weights : ndarray of shape (L,), optional
        If given, also return the gradient of :math:`\\sum_k w_k \\alpha_k`, using
        :math:`\\partial B_k/\\partial\\kappa_l = \\binom{k}{l} B_{k-l}`.
    ambient_dim : int, optional
        Dimension of the space the noise :math:`sI` lives in, when ``params`` are
        coordinates in an orthonormal basis of a subspace (default: ``d`` of ``params``).
        Only :math:`\\operatorname{tr}((\\Sigma_i\\Sigma_j)^p)` depends on it.
    """
    K, d, R = params.factors.shape
    L = max_order
    pi, mu, V = params.weights, params.means, params.factors
    alpha = np.zeros(L)
    want = order_weights is not None
    g_pi, g_mu, g_V = np.zeros(K), np.zeros((K, d)), np.zeros((K, d, R))
    for i in range(K):
        for j in range(i, K):  # kappa^{ij} = kappa^{ji}: each unordered pair once, counted twice
            f = 1.0 if i == j else 2.0
            pair = _Pair(
                V[i], V[j], params.noise_variance, d if ambient_dim is None else ambient_dim
            )
            kappa = _pair_cumulants(pair, mu[i], mu[j], L)
            B = complete_bell(kappa)
            alpha += f * pi[i] * pi[j] * B[1:]
            if not want:
                continue
            w = np.asarray(order_weights, dtype=float)
            g_pi[i] += f * pi[j] * float(w @ B[1:])
            g_pi[j] += f * pi[i] * float(w @ B[1:])
            coefs = (
                f
                * pi[i]
                * pi[j]
                * np.array(
                    [
                        sum(w[k - 1] * comb(k, l) * B[k - l] for k in range(l, L + 1))
                        for l in range(1, L + 1)
                    ]
                )
            )
            grads = {
                "mu_i": np.zeros(d),
                "mu_j": np.zeros(d),
                "P": np.zeros((d, R)),
                "Q": np.zeros((d, R)),
            }
            _pair_cumulants(pair, mu[i], mu[j], L, coefs, grads)
            g_mu[i] += grads["mu_i"]
            g_mu[j] += grads["mu_j"]
            g_V[i] += grads["P"]
            g_V[j] += grads["Q"]
    if not want:
        return AlphaResult(alpha=alpha)
    return AlphaResult(alpha=alpha, grad_weights=g_pi, grad_means=g_mu, grad_factors=g_V)
