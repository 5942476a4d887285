"""Explicit moment tensors and the full (two-step) GMM weighting, for small d only.

The full GMM uses the non-redundant moment conditions -- one per monomial
:math:`y_{i_1}\\cdots y_{i_k}`, :math:`i_1 \\le \\dots \\le i_k` -- so the weighting matrix is
:math:`q \\times q` with :math:`q = \\sum_{k \\le L}\\binom{d+k-1}{k}` instead of
:math:`\\sum_k d^k` (equivalent for an invertible covariance, smaller otherwise).

Where the paper is silent we use the *centered* moment covariance
:math:`\\hat S = \\operatorname{Cov}_\\omega[\\phi(y)]` of the monomials :math:`\\phi(y)`; it does
not depend on :math:`\\theta`, so the second GMM step has a fixed weight
:math:`W = \\hat S^{+}` (pseudo-inverse, relative cut-off 1e-10).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement
from math import comb, factorial

import numpy as np
from scipy.linalg.blas import dsyrk

from ._engine import MixtureParams

__all__ = [
    "gaussian_moment_tensors",
    "mixture_moment_tensors",
    "FullWeighting",
    "full_weighting",
    "full_objective",
    "monomial_count",
    "MAX_MONOMIALS",
]

#: largest number of moment conditions the full GMM accepts (its weight matrix is q x q)
MAX_MONOMIALS = 4000


def monomial_count(n_features: int, max_order: int) -> int:
    """Number of distinct monomials of degree 1..L in d variables."""
    return sum(comb(n_features + k - 1, k) for k in range(1, max_order + 1))


def gaussian_moment_tensors(mean: np.ndarray, cov: np.ndarray, max_order: int) -> list[np.ndarray]:
    """Raw moment tensors :math:`E[x^{\\otimes k}]`, k = 0..L, of :math:`N(\\mu, \\Sigma)`.

    Stein's recursion
    :math:`E[x_{i_1}\\cdots x_{i_k}] = \\mu_{i_1} E[x_{i_2}\\cdots x_{i_k}]
    + \\sum_{t \\ge 2} \\Sigma_{i_1 i_t} E[\\prod_{s \\ne 1, t} x_{i_s}]`.
    """
    out = [np.array(1.0), mean.copy()]
    for k in range(2, max_order + 1):
        T = np.multiply.outer(mean, out[k - 1])
        pair = np.multiply.outer(cov, out[k - 2])  # axes (i1, it, rest...)
        for t in range(1, k):
            T = T + np.moveaxis(pair, 1, t)
        out.append(T)
    return out[: max_order + 1]


def mixture_moment_tensors(params: MixtureParams, max_order: int) -> list[np.ndarray]:
    """:math:`M^{(k)}(\\theta) = \\sum_j \\pi_j E_j[x^{\\otimes k}]`, k = 1..L (a list)."""
    covs = params.covariances()
    total = [0.0] * max_order
    for pi, mu, cov in zip(params.weights, params.means, covs, strict=True):
        tensors = gaussian_moment_tensors(mu, cov, max_order)
        for k in range(1, max_order + 1):
            total[k - 1] = total[k - 1] + pi * tensors[k]
    return total


def _index_sets(d: int, L: int) -> list[np.ndarray]:
    return [np.array(list(combinations_with_replacement(range(d), k))) for k in range(1, L + 1)]


def _parents(index_sets) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per order k >= 2: the order-(k-1) monomial and the variable whose product is each one."""
    out = []
    for lower, idx in zip(index_sets[:-1], index_sets[1:], strict=True):
        lookup = {tuple(row): u for u, row in enumerate(lower.tolist())}
        out.append((np.array([lookup[tuple(row[:-1])] for row in idx.tolist()]), idx[:, -1]))
    return out


def _monomials(X: np.ndarray, index_sets, parents=None) -> np.ndarray:
    """All monomials of degree 1..L, each as (a degree-(k-1) monomial) x (one variable)."""
    parents = _parents(index_sets) if parents is None else parents
    blocks = [X]
    for parent, last in parents:
        blocks.append(blocks[-1][:, parent] * X[:, last])
    return np.concatenate(blocks, axis=1)


@dataclass(frozen=True)
class FullWeighting:
    """Fixed full GMM weighting on the monomial moment conditions.

    Attributes
    ----------
    weight : ndarray of shape (q, q)
        :math:`\\hat S^{+}`.
    sample_moments : ndarray of shape (q,)
        :math:`\\sum_n \\omega_n \\phi(y_n)`.
    index_sets : list of ndarray
        Monomial index tuples of each order.
    expansions : list of (ndarray, ndarray)
        Per order, the map from every full multi-index to its monomial and
        1 / (number of permutations) of each monomial.
    """

    weight: np.ndarray
    sample_moments: np.ndarray
    index_sets: list
    expansions: list


def full_weighting(
    X: np.ndarray, omega: np.ndarray, max_order: int, chunk_size: int = 4096
) -> FullWeighting:
    """Monomial sample moments and :math:`\\hat S^{+}`, accumulated in chunks of rows."""
    sets = _index_sets(X.shape[1], max_order)
    parents = _parents(sets)
    q = sum(len(s) for s in sets)
    mean, second = np.zeros(q), np.zeros((q, q), order="F")
    shift = None  # shifted-data accumulation: centre on the first chunk's mean
    for start in range(0, X.shape[0], chunk_size):
        phi = _monomials(X[start : start + chunk_size], sets, parents)
        w = omega[start : start + chunk_size]
        if shift is None:
            shift = (w @ phi) / max(w.sum(), 1e-300)
        mean += w @ phi
        scaled = (phi - shift) * np.sqrt(w)[:, None]
        # upper triangle of scaled^T scaled (BLAS syrk: half the products of a full GEMM)
        second = dsyrk(1.0, scaled, beta=1.0, c=second, trans=1, overwrite_c=1)
    second = np.triu(second) + np.triu(second, 1).T
    cov = second - np.outer(mean - shift, mean - shift)
    return FullWeighting(
        weight=np.linalg.pinv(cov, rcond=1e-10, hermitian=True),
        sample_moments=mean,
        index_sets=sets,
        expansions=[_expansion(idx, X.shape[1]) for idx in sets],
    )


def _expansion(idx: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    k = idx.shape[1]
    lookup = {tuple(row): u for u, row in enumerate(idx.tolist())}
    full = np.zeros((d,) * k, dtype=np.intp)
    for multi in np.ndindex(*full.shape):
        full[multi] = lookup[tuple(sorted(multi))]
    return full, 1.0 / _multiplicities(idx)


def _scatter_symmetric(values: np.ndarray, expansion) -> np.ndarray:
    """Symmetric T with :math:`\\langle T, M\\rangle = \\sum_u v_u M_u` for every symmetric M."""
    full, inverse_mult = expansion
    return (values * inverse_mult)[full]


def _multiplicities(idx: np.ndarray) -> np.ndarray:
    """Number of distinct permutations of each index tuple."""
    k = idx.shape[1]
    counts = np.full(idx.shape[0], float(factorial(k)))
    for row, tup in enumerate(idx):
        _, c = np.unique(tup, return_counts=True)
        counts[row] /= np.prod([factorial(int(v)) for v in c])
    return counts


def full_objective(params: MixtureParams, weighting: FullWeighting, max_order: int):
    """:math:`Q(\\theta) = g^\\top \\hat S^{+} g` with :math:`g = \\phi(\\theta) - \\hat\\phi`,
    and its gradient.

    The gradient uses Stein's identities for a symmetric tensor :math:`T`:
    :math:`\\nabla_\\mu E[T(x^k)] = k\\,E[T(x^{k-1}, \\cdot)]` and
    :math:`\\nabla_\\Sigma E[T(x^k)] = \\binom{k}{2} E[T(x^{k-2}, \\cdot, \\cdot)]`.

    Returns
    -------
    value : float
    grads : tuple (grad_weights (K,), grad_means (K, d), grad_factors (K, d, R))
    """
    K, d, R = params.factors.shape
    covs = params.covariances()
    comp = [
        gaussian_moment_tensors(mu, c, max_order) for mu, c in zip(params.means, covs, strict=True)
    ]
    model = np.concatenate(
        [
            sum(params.weights[j] * comp[j][k][tuple(idx.T)] for j in range(K))
            for k, idx in zip(range(1, max_order + 1), weighting.index_sets, strict=True)
        ]
    )
    g = model - weighting.sample_moments
    Wg = weighting.weight @ g
    value = float(g @ Wg)
    v = 2 * Wg
    g_pi, g_mu, g_S = np.zeros(K), np.zeros((K, d)), np.zeros((K, d, d))
    start = 0
    for k, idx, exp in zip(
        range(1, max_order + 1), weighting.index_sets, weighting.expansions, strict=True
    ):
        T = _scatter_symmetric(v[start : start + len(idx)], exp)
        start += len(idx)
        for j in range(K):
            g_pi[j] += np.sum(T * comp[j][k])
            g_mu[j] += params.weights[j] * k * np.tensordot(comp[j][k - 1], T, axes=k - 1)
            if k >= 2:
                g_S[j] += (
                    params.weights[j] * comb(k, 2) * np.tensordot(comp[j][k - 2], T, axes=k - 2)
                )
    g_V = 2 * np.einsum("kde,ker->kdr", g_S, params.factors)
    return value, (g_pi, g_mu, g_V)
