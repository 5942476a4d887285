"""Multivariate Hermite moments of the mixing measure and atom extraction (K > L).

When there are more classes than features, the top-K subspace is all of
:math:`\\mathbb R^L` and the third-order tensor route does not apply (it needs
:math:`K \\le L`); the paper's one-dimensional route then needs latent moments up to order
:math:`2K - 1` along a direction, which are very noisy for K = 5. Using all coordinates at
once lowers the order: the mixing measure :math:`\\sum_k \\alpha_k \\delta_{\\eta_k}` on
:math:`\\mathbb R^L` is read off its moment matrix of order r, which needs moments up to order
2r only, with r the smallest order whose basis of order r - 1 has at least K monomials
(r = 3 for L = 2, K = 5: order 6 instead of 9).

**Moments** [derived, ours]. For whitened Gaussian items the choice of class k tilts the
design to :math:`N(\\eta_k, I)` (:mod:`momix.softmax._moments`). The coordinates of
:math:`N(\\eta, I)` are independent and :math:`\\mathbb E\\,He_a(U) = t^a` for
:math:`U \\sim N(t, 1)`, so the product Hermite polynomials
:math:`He_\\gamma(z) = \\prod_l He_{\\gamma_l}(z_l)` satisfy

.. math::

    \\hat y_\\gamma = \\sum_j \\frac{n_j}{N} He_\\gamma(Z_j)
    \\;\\approx\\; \\sum_k \\alpha_k \\eta_k^\\gamma ,

and :math:`M_r(\\hat y)_{ij} = \\hat y_{\\beta_i + \\beta_j}` is, up to noise, the rank-K
moment matrix :math:`\\sum_k \\alpha_k v(\\eta_k) v(\\eta_k)^\\top`. Its top-K eigenspace gives
the atoms and weights by Henrion–Lasserre extraction
(:func:`momix.polymom._extract.extract_atoms`: column echelon form, multiplication matrices,
a random combination and its Schur form; weights by non-negative least squares).

References
----------
D. Henrion, J. B. Lasserre, "Detecting global optimality and extracting solutions in
GloptiPoly", LNCIS 312 (2005).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from ..exceptions import NumericalError
from ..polymom._basis import MomentStructure, moment_structure
from ..polymom._extract import extract_atoms
from ..special import hermite_e_all

__all__ = ["LatentMomentMatrix", "moment_matrix_order", "latent_moment_matrix",
           "moment_matrix_atoms", "latent_gaussian_draws", "matched_atom_draws", "MAX_BASIS_SIZE"]

#: largest moment-matrix side used (it bounds the number of latent moments, ~side^2 / 2)
MAX_BASIS_SIZE = 40


@dataclass(frozen=True)
class LatentMomentMatrix:
    """Empirical moment matrix of the mixing measure.

    Attributes
    ----------
    structure : MomentStructure
        Row monomials of :math:`M_r` in the whitened coordinates.
    matrix : ndarray of shape (s, s)
        :math:`M_r(\\hat y)`, symmetric.
    """

    structure: MomentStructure
    matrix: np.ndarray


def moment_matrix_order(n_features: int, n_components: int) -> int:
    """Smallest r >= 1 whose basis of order r - 1 has at least K monomials.

    The extraction needs K independent pivot rows of degree <= r - 1 whose shifts by one
    variable stay inside the basis of order r.
    """
    r = 1
    while comb(n_features + r - 1, n_features) < n_components:
        r += 1
    return r


def latent_moment_matrix(scores: np.ndarray, freq: np.ndarray,
                         order: int) -> LatentMomentMatrix:
    """:math:`M_r(\\hat y)` with :math:`\\hat y_\\gamma = \\sum_j f_j He_\\gamma(Z_j)`.

    Parameters
    ----------
    scores : ndarray of shape (p, L)
        Whitened items :math:`Z_j`.
    freq : ndarray of shape (p,)
        Choice frequencies :math:`n_j / N`.
    order : int
        r; moments up to order 2r enter.
    """
    p, L = scores.shape
    structure = moment_structure(L, order)
    he = hermite_e_all(2 * order, scores)  # (p, L, 2r + 1)
    gammas = structure.monomials  # (n_y, L)
    values = np.prod(he[:, np.arange(L), gammas], axis=2)  # (p, n_y)
    y = freq @ values
    return LatentMomentMatrix(structure, y[structure.index])


def moment_matrix_atoms(moments: LatentMomentMatrix, n_components: int,
                        rng: np.random.Generator):
    """Atoms :math:`\\eta_k` (K, L) and weights (K,) from the top-K eigenspace, or None.

    None when the extraction fails (numerical rank below K, complex eigenvalues read as
    non-finite atoms).
    """
    try:
        ex = extract_atoms(moments.structure, moments.matrix, n_components, rng)
    except (NumericalError, np.linalg.LinAlgError):
        return None
    if not np.all(np.isfinite(ex.params)):
        return None
    return ex.params, ex.weights


def latent_gaussian_draws(scores: np.ndarray, freq: np.ndarray, n_components: int,
                          n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Atoms drawn from the Gaussian with the mixing measure's first two moments [ours].

    :math:`\\hat m_1 = \\sum_j f_j Z_j \\approx \\sum_k \\alpha_k\\eta_k` and
    :math:`\\hat M_2 = \\sum_j f_j Z_j Z_j^\\top - I \\approx \\sum_k \\alpha_k\\eta_k\\eta_k^\\top`
    (orders 1 and 2 only, so reliable at any K); atoms
    :math:`\\eta \\sim N(\\hat m_1, (\\hat M_2 - \\hat m_1\\hat m_1^\\top)_+)`, the covariance
    with negative eigenvalues clipped at zero. Returns shape (n_draws, K, L).
    """
    L = scores.shape[1]
    m1 = freq @ scores
    cov = scores.T @ (freq[:, None] * scores) - np.eye(L) - np.outer(m1, m1)
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return m1 + rng.standard_normal((n_draws, n_components, L)) @ root.T


def matched_atom_draws(scores: np.ndarray, freq: np.ndarray, n_components: int,
                       n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Equal-weight K-atom sets matching the first two latent moments exactly [ours].

    With :math:`\\hat m_1` and :math:`\\hat C = \\hat M_2 - \\hat m_1\\hat m_1^\\top` as in
    :func:`latent_gaussian_draws` and :math:`V\\Lambda V^\\top` the top
    :math:`r = \\min(K - 1, d)` eigenpairs of :math:`\\hat C` (clipped at zero; K centred
    atoms span at most K - 1 dimensions), each set is
    :math:`\\eta_k = \\hat m_1 + V\\Lambda^{1/2} u_k` with :math:`U = [u_k]` (K, r) a random
    matrix centred over k and whitened so that :math:`U^\\top U / K = I_r`. Hence
    :math:`\\frac1K\\sum_k \\eta_k = \\hat m_1` and
    :math:`\\frac1K\\sum_k (\\eta_k - \\hat m_1)(\\eta_k - \\hat m_1)^\\top = V\\Lambda V^\\top`
    hold exactly for every draw; only the orientation of the atoms inside that ellipsoid is
    random. Returns shape (n_draws, K, d).
    """
    d, K = scores.shape[1], n_components
    m1 = freq @ scores
    cov = scores.T @ (freq[:, None] * scores) - np.eye(d) - np.outer(m1, m1)
    vals, vecs = np.linalg.eigh(cov)
    r = min(K - 1, d)
    root = vecs[:, ::-1][:, :r] * np.sqrt(np.clip(vals[::-1][:r], 0.0, None))
    out = np.empty((n_draws, K, d))
    for i in range(n_draws):
        g = rng.standard_normal((K, r))
        g -= g.mean(axis=0)
        s_vals, s_vecs = np.linalg.eigh(g.T @ g / K)
        u = g @ (s_vecs / np.sqrt(np.maximum(s_vals, 1e-12))) @ s_vecs.T
        out[i] = m1 + u @ root.T
    return out
