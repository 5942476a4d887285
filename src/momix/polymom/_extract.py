"""Atom extraction from a rank-K moment matrix (Henrion & Lasserre) and mixing weights.

If :math:`M_r(y) = \\sum_k \\pi_k v(\\theta_k) v(\\theta_k)^\\top
= \\Phi\\,\\mathrm{diag}(\\pi)\\,\\Phi^\\top`,
any basis :math:`V` of its column space is :math:`\\Phi` times an invertible matrix. Reducing
:math:`V` to column echelon form :math:`U = V V_S^{-1}` (identity on K pivot rows
:math:`S = \\{\\beta_1..\\beta_K\\}`, chosen greedily in degree order) gives
:math:`U = \\Phi\\,\\Phi_S^{-1}`, so the rows of the shifted monomials form the multiplication
matrices

.. math::

    N_p = U[S + e_p] = \\Phi_S\\, \\mathrm{diag}(\\theta_{1p}..\\theta_{Kp})\\, \\Phi_S^{-1},

which commute and share eigenvectors. With a random combination :math:`N = \\sum_p \\rho_p N_p`
and its real Schur form :math:`N = Q T Q^\\top`, :math:`\\hat\\theta_{kp} = q_k^\\top N_p q_k`.
The weights solve :math:`\\Phi(\\hat\\theta)\\pi = M[:, 0]` by non-negative least squares,
then are normalised to sum to one.

References
----------
.. [1] D. Henrion, J. B. Lasserre, "Detecting global optimality and extracting solutions in
   GloptiPoly", Positive Polynomials in Control, LNCIS 312 (2005).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import schur
from scipy.optimize import nnls

from ..exceptions import NumericalError
from ._basis import MomentStructure

__all__ = ["Extraction", "extract_atoms", "atom_weights", "numerical_rank"]


@dataclass(frozen=True)
class Extraction:
    """Atoms and weights read off a moment matrix.

    Attributes
    ----------
    params : ndarray of shape (K, P)
    weights : ndarray of shape (K,)
    pivots : ndarray of shape (K,)
        Basis rows used as the echelon pivots.
    """

    params: np.ndarray
    weights: np.ndarray
    pivots: np.ndarray


def numerical_rank(values: np.ndarray, rtol: float) -> int:
    """Count of singular values above ``rtol`` times the largest."""
    values = np.abs(values)
    return int(np.sum(values > rtol * values.max())) if values.size and values.max() > 0 else 0


def _column_space(M: np.ndarray, k: int) -> np.ndarray:
    vals, vecs = np.linalg.eigh(M)
    vals, vecs = vals[::-1][:k], vecs[:, ::-1][:, :k]
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def _pivots(V: np.ndarray, k: int, rtol: float = 1e-6) -> np.ndarray:
    """Greedy pivot rows in basis (degree) order: a row joins if it is independent of the
    rows already chosen, relative to the largest row norm."""
    scale = np.max(np.linalg.norm(V, axis=1))
    chosen, Q = [], np.zeros((V.shape[1], 0))
    for i, row in enumerate(V):
        resid = row - Q @ (Q.T @ row)
        if np.linalg.norm(resid) > rtol * scale:
            chosen.append(i)
            Q = np.column_stack([Q, resid / np.linalg.norm(resid)])
            if len(chosen) == k:
                return np.array(chosen)
    raise NumericalError(
        f"the moment matrix has numerical rank {len(chosen)} < n_components={k}"
        "; decrease n_components or check the moments"
    )


def extract_atoms(structure: MomentStructure, M: np.ndarray, n_components: int,
                  rng: np.random.Generator, pivot_rtol: float = 1e-6) -> Extraction:
    """Recover K atoms and their weights from a (numerically) rank-K moment matrix.

    Parameters
    ----------
    structure : MomentStructure
    M : ndarray of shape (s, s)
    n_components : int
    rng : numpy.random.Generator
        Draws the random combination of multiplication matrices.
    pivot_rtol : float
        Relative tolerance of the echelon pivots.

    Raises
    ------
    momix.exceptions.NumericalError
        If a pivot monomial times a variable is not a row of the basis (the order is too low
        for a flat extension) or the rank is below K.
    """
    k = n_components
    if k == 1:  # the atom of a rank-1 moment matrix is its first-order moment vector
        single = _single_atom(structure, M)
        if single is not None:
            return single
    V = _column_space(M, k)
    piv = _pivots(V, k, pivot_rtol)
    U = V @ np.linalg.inv(V[piv])
    rows = {tuple(int(v) for v in b): i for i, b in enumerate(structure.basis)}
    n_vars = structure.basis.shape[1]
    mults = []
    for p in range(n_vars):
        shift = structure.basis[piv] + np.eye(n_vars, dtype=int)[p]
        idx = [rows.get(tuple(int(v) for v in b)) for b in shift]
        if any(i is None for i in idx):
            raise NumericalError(
                "extraction needs the pivot monomials times each parameter inside the basis; "
                "increase `order`"
            )
        mults.append(U[idx])
    rho = rng.standard_normal(n_vars)
    _, Q = schur(np.tensordot(rho, np.array(mults), axes=1), output="real")
    params = np.array([[Q[:, j] @ N @ Q[:, j] for N in mults] for j in range(k)])
    weights = atom_weights(structure, M, params)
    return Extraction(params, weights, piv)


def _single_atom(structure: MomentStructure, M: np.ndarray) -> Extraction | None:
    """K = 1: :math:`\\theta = (y_{e_1}, \\dots, y_{e_P}) / y_0`, read from the first row.

    Exact for a rank-1 moment matrix; when the convex iteration stopped short of rank 1 it is
    the mean of the completed mixing measure, whereas the echelon extraction may pick a pivot
    other than the constant monomial and fail. ``None`` if some :math:`e_p` is not a row of the
    basis (a parameter of degree weight > 1 at order 1).
    """
    rows = {tuple(int(v) for v in b): i for i, b in enumerate(structure.basis)}
    n_vars = structure.basis.shape[1]
    idx = [rows.get(tuple(np.eye(n_vars, dtype=int)[p])) for p in range(n_vars)]
    if any(i is None for i in idx) or M[0, 0] <= 0:
        return None
    return Extraction(M[0, idx][None] / M[0, 0], np.ones(1), np.zeros(1, dtype=int))


def atom_weights(structure: MomentStructure, M: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Non-negative least-squares weights with :math:`\\sum_k \\pi_k v(\\theta_k) = M[:, 0]`,
    normalised to sum to one."""
    Phi = np.prod(params[None, :, :] ** structure.basis[:, None, :], axis=2)
    # equilibrate: rows with large monomials are scaled down, small rows are never scaled up
    row_scale = np.maximum(1.0, np.maximum(np.abs(Phi).max(axis=1), np.abs(M[:, 0])))
    w, _ = nnls(Phi / row_scale[:, None], M[:, 0] / row_scale)
    if w.sum() <= 0:
        raise NumericalError("all mixing weights came out zero; the extracted atoms are wrong")
    return w / w.sum()
