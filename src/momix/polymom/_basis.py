"""Monomial bases, moment and localizing matrices, and the constraint matrix.

For a downward-closed row basis :math:`B_r = \\{\\beta : \\sum_p w_p \\beta_p \\le r\\}` (weighted
degree with weights :math:`w`), the moment matrix of a sequence :math:`y` is

.. math::

    M_r(y)_{ij} = y_{\\beta_i + \\beta_j} = \\sum_\\gamma y_\\gamma (A_\\gamma)_{ij},

with one variable per distinct :math:`\\gamma \\in B_r + B_r`. For a polynomial
:math:`g = \\sum_\\alpha g_\\alpha\\theta^\\alpha`, the localizing matrix has entries
:math:`L_y(g\\,\\theta^{\\beta_i+\\beta_j})
= \\sum_\\alpha g_\\alpha y_{\\alpha+\\beta_i+\\beta_j}` over
the rows for which every such monomial is a variable. A term whose monomial is not a variable
is never dropped: :func:`linear_rows` raises :class:`MonomialError`.

References
----------
.. [1] J. B. Lasserre, "Global optimization with polynomials and the problem of moments",
   SIAM J. Optim. 11 (2001).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
import scipy.sparse as sps

from ._budget import MAX_ORDER, required_order

__all__ = [
    "MonomialError", "MomentStructure", "monomial_basis", "moment_structure",
    "localizing_map", "linear_rows", "equality_rows", "minimal_order",
]


class MonomialError(ValueError):
    """A constraint uses a monomial that is not an entry of the moment matrix."""


def monomial_basis(n_vars: int, order: int, degree_weights=None) -> np.ndarray:
    """Exponents of all monomials with weighted degree at most ``order``.

    Sorted by weighted degree, then descending lexicographic order (paper Eq. 9), so
    lower-degree monomials (the extraction pivots) come first.

    Returns
    -------
    ndarray of shape (s, n_vars), int
    """
    w = np.ones(n_vars, int) if degree_weights is None else np.asarray(degree_weights, int)
    exps = list(_bounded_exponents([int(v) for v in w], order))
    exps.sort(key=lambda e: (int(np.dot(e, w)), tuple(-x for x in e)))
    return np.array(exps, dtype=int).reshape(-1, n_vars)


def _bounded_exponents(weights: list[int], budget: int):
    """Exponent tuples e with sum(w * e) <= budget (recursion, no full grid)."""
    if not weights:
        yield ()
        return
    head, rest = weights[0], weights[1:]
    for a in range(budget // head + 1):
        for tail in _bounded_exponents(rest, budget - a * head):
            yield (a, *tail)


@dataclass(frozen=True, eq=False)
class MomentStructure:
    """Index structure of :math:`M_r(y)`.

    Attributes
    ----------
    basis : ndarray of shape (s, P)
        Row monomials.
    monomials : ndarray of shape (n_y, P)
        Distinct entries (the SDP variables), index 0 is the constant monomial.
    index : ndarray of shape (s, s)
        ``M[i, j] = y[index[i, j]]``.
    order : int
    degree_weights : ndarray of shape (P,)
    lookup : dict
        Exponent tuple -> variable index.
    """

    basis: np.ndarray
    monomials: np.ndarray
    index: np.ndarray
    order: int
    degree_weights: np.ndarray
    lookup: dict

    @property
    def size(self) -> int:
        return self.basis.shape[0]

    @property
    def n_vars(self) -> int:
        return self.monomials.shape[0]

    def matrix(self, y: np.ndarray) -> np.ndarray:
        """Numeric :math:`M_r(y)`."""
        return y[self.index]

    def rows_below(self, order: int) -> np.ndarray:
        """Positions of basis rows of weighted degree at most ``order``."""
        return np.flatnonzero(self.basis @ self.degree_weights <= order)

    def trace_vector(self) -> np.ndarray:
        """``c`` with :math:`c^\\top y = \\operatorname{tr} M_r(y)`."""
        return self.inner_vector(np.eye(self.size))

    def inner_vector(self, W: np.ndarray) -> np.ndarray:
        """``c`` with :math:`c^\\top y = \\langle W, M_r(y)\\rangle`."""
        return np.bincount(self.index.ravel(), weights=W.ravel(), minlength=self.n_vars)

    def lift_matrix(self) -> sps.csr_matrix:
        """Sparse 0/1 matrix L of shape (s*s, n_y) with vec(M) = L y (row-major)."""
        s = self.size
        return sps.csr_matrix((np.ones(s * s), (np.arange(s * s), self.index.ravel())),
                              shape=(s * s, self.n_vars))


def moment_structure(n_vars: int, order: int, degree_weights=None) -> MomentStructure:
    """Build the index structure of the order-``order`` moment matrix."""
    w = np.ones(n_vars, int) if degree_weights is None else np.asarray(degree_weights, int)
    basis = monomial_basis(n_vars, order, w)
    sums = basis[:, None, :] + basis[None, :, :]
    flat = sums.reshape(-1, n_vars)
    mons, inverse = np.unique(flat, axis=0, return_inverse=True)
    # order the variables like the basis: by weighted degree then descending lex
    key = sorted(range(len(mons)), key=lambda i: (int(mons[i] @ w), tuple(-mons[i])))
    rank = np.empty(len(mons), int)
    rank[key] = np.arange(len(mons))
    monomials = mons[key]
    index = rank[np.asarray(inverse).ravel()].reshape(len(basis), len(basis))
    lookup = {tuple(int(v) for v in m): i for i, m in enumerate(monomials)}
    return MomentStructure(basis, monomials, index, order, w, lookup)


def _missing(struct: MomentStructure, alphas) -> list[tuple[int, ...]]:
    return [a for a in alphas if tuple(a) not in struct.lookup]


def linear_rows(struct: MomentStructure, polys) -> np.ndarray:
    """Dense matrix whose row n has the coefficients of ``polys[n]`` on the variables.

    Parameters
    ----------
    polys : sequence of dict
        ``{exponent tuple: coefficient}``.

    Raises
    ------
    MonomialError
        If a monomial of some polynomial is not an entry of the moment matrix.
    """
    A = np.zeros((len(polys), struct.n_vars))
    for n, poly in enumerate(polys):
        miss = _missing(struct, poly)
        if miss:
            raise MonomialError(
                f"monomials {miss} are not entries of the order-{struct.order} moment matrix; "
                "increase `order` (or leave it None to choose it automatically)"
            )
        for alpha, coef in poly.items():
            A[n, struct.lookup[tuple(alpha)]] += coef
    return A


def equality_rows(struct: MomentStructure, poly: dict) -> np.ndarray:
    """Rows :math:`L_y(g\\,\\theta^\\beta) = 0` for every variable monomial :math:`\\beta`
    such that all monomials of :math:`g\\,\\theta^\\beta` are variables."""
    alphas = [np.asarray(a) for a in poly]
    rows = []
    for beta in struct.monomials:
        shifted = [tuple(int(v) for v in a + beta) for a in alphas]
        if all(s in struct.lookup for s in shifted):
            row = np.zeros(struct.n_vars)
            for s, coef in zip(shifted, poly.values(), strict=True):
                row[struct.lookup[s]] += coef
            rows.append(row)
    return np.array(rows).reshape(-1, struct.n_vars)


def localizing_map(struct: MomentStructure, poly: dict) -> tuple[sps.csr_matrix, int]:
    """Sparse map G (t*t, n_y) with vec of the localizing matrix of ``poly`` equal to G y.

    Uses the largest set of basis rows for which every entry is expressible.
    Returns ``(G, t)``; ``t = 0`` when no row fits.
    """
    alphas = [np.asarray(a) for a in poly]
    coefs = np.array(list(poly.values()))
    rows = [i for i, b in enumerate(struct.basis)
            if all(tuple(int(v) for v in a + 2 * b) in struct.lookup for a in alphas)]
    rows = [i for i in rows if all(
        tuple(int(v) for v in a + struct.basis[i] + struct.basis[j]) in struct.lookup
        for j in rows for a in alphas)]
    t = len(rows)
    data, ri, ci = [], [], []
    for (u, i), (v, j) in product(enumerate(rows), repeat=2):
        for a, c in zip(alphas, coefs, strict=True):
            key = tuple(int(x) for x in a + struct.basis[i] + struct.basis[j])
            data.append(c)
            ri.append(u * t + v)
            ci.append(struct.lookup[key])
    G = sps.csr_matrix((data, (ri, ci)), shape=(t * t, struct.n_vars))
    return G, t


def minimal_order(polys, n_vars: int, n_components: int, degree_weights=None,
                  max_order: int = MAX_ORDER) -> int:
    """Smallest order whose moment matrix holds every monomial of ``polys`` and whose
    block of weighted degree ``r - max(weights)`` has at least ``n_components`` rows (the
    extraction pivots times any parameter must stay inside the basis).

    Rows and entries are counted (:func:`momix.polymom._budget.required_order`), never
    built, so an order whose matrix would not fit in memory costs nothing to rule out.
    """
    w = np.ones(n_vars, int) if degree_weights is None else np.asarray(degree_weights, int)
    monomials = {tuple(int(v) for v in a) for p in polys for a in p}
    return required_order(monomials, w, n_components, max_order)
