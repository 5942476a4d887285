"""Hermite method of moments for softmax mixtures over a Gaussian item design.

Setting: items :math:`X_j \\sim N(\\mu, \\Sigma)` i.i.d. (``p`` large), counts :math:`n_j`.
Softmax probabilities are unchanged by shifting every feature by one vector, so the items are
centred and whitened, :math:`Z_j = \\hat\\Sigma^{-1/2}(X_j - \\hat\\mu)`, and the atoms become
:math:`\\eta_k = \\hat\\Sigma^{1/2} \\theta_k` (:func:`whiten_items`).

**Latent moments** [derived, checked in ``tests/softmax``]. For :math:`Z \\sim N(0, I)`,
:math:`\\tfrac1p\\sum_l e^{Z_l^\\top\\eta} \\approx e^{\\|\\eta\\|^2/2}`, so
:math:`p\\,\\pi_j(\\eta) \\approx e^{Z_j^\\top\\eta - \\|\\eta\\|^2/2}`: choosing by
:math:`\\pi(\\eta)` tilts
the design to :math:`N(\\eta, I)`. For a unit direction :math:`v`, :math:`u_j = Z_j^\\top v`,
and :math:`\\mathbb E[He_r(U)] = t^r` for :math:`U \\sim N(t, 1)`, hence

.. math::

    \\hat m_r(v) = \\sum_j \\frac{n_j}{N} He_r(u_j) \\;\\approx\\; \\sum_k \\alpha_k t_k^r,
    \\qquad t_k = v^\\top \\eta_k ,

the moments of the projected mixing measure (:func:`hermite_moments`). The approximation
needs :math:`p \\gg e^{\\|\\eta_k\\|^2}` (the normaliser has a log-normal tail); for larger
atoms the moments are biased even as :math:`N \\to \\infty`.

**Denoising and atoms** (:func:`denoise_moments`, :func:`gauss_quadrature`): project
:math:`(1, \\hat m_1..\\hat m_{2K-1})` onto the moment space of measures on
:math:`[-R, R]` (a small SDP, skipped when the point already lies in it, where projection is
the identity), then Gauss quadrature: the atoms are the generalised eigenvalues of the
Hankel pencil :math:`(H_1, H_0)`, :math:`H_0 = [m_{a+b}]`, :math:`H_1 = [m_{a+b+1}]`
(:math:`a, b < K`), and the weights solve the Vandermonde system of the first K moments.

**Subspace and directions** (:func:`moment_subspace`): :math:`\\hat M_2 = \\sum_j \\tfrac{n_j}{N}
Z_j Z_j^\\top - I \\approx \\sum_k \\alpha_k \\eta_k\\eta_k^\\top`; its top-K eigenvectors span the
atoms when :math:`K \\le L`, and directions are drawn uniformly on that subspace's sphere
(on the sphere of :math:`\\mathbb R^L` when :math:`K > L`).

**Lifting** [derived] (:func:`vector_hermite_moments`, :func:`lift_atoms`): under the tilt,
:math:`\\mathbb E[Z He_r(u)] = \\eta t^r + r v t^{r-1}`, so
:math:`\\hat g_r = \\sum_j \\tfrac{n_j}{N} Z_j He_r(u_j) - r v \\hat m_{r-1} \\approx
\\sum_k \\alpha_k t_k^r \\eta_k`; with :math:`V_{kr} = \\hat t_k^r`,
:math:`[\\hat g_0..\\hat g_{K-1}] = [\\alpha_k\\eta_k]_k V` is solved for :math:`\\eta_k` (needs
distinct :math:`\\hat t_k`), and :math:`\\theta_k = \\hat\\Sigma^{-1/2}\\eta_k`.

References
----------
X. Bing, F. Bunea, J. Niles-Weed, M. Wegkamp, "Learning large softmax mixtures with warm
start EM", arXiv:2409.09903 (2024). Y. Wu, P. Yang, "Optimal estimation of Gaussian mixtures
via denoised method of moments", Ann. Statist. 48 (2020).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg import eigh

from ..exceptions import SolverError
from ..special import hermite_e_all

__all__ = [
    "Whitening",
    "Quadrature",
    "whiten_items",
    "hermite_moments",
    "vector_hermite_moments",
    "in_moment_space",
    "denoise_moments",
    "gauss_quadrature",
    "moment_subspace",
    "lift_atoms",
    "design_hermite_deviation",
    "TensorDecomposition",
    "whitened_hermite_tensor",
    "tensor_atoms",
]


@dataclass(frozen=True)
class Whitening:
    """Centring and whitening of the item features.

    Attributes
    ----------
    mean : ndarray of shape (L,)
    transform : ndarray of shape (L, L)
        :math:`\\hat\\Sigma^{-1/2}` (symmetric), so ``Z = (X - mean) @ transform`` and
        ``theta = eta @ transform``.
    scores : ndarray of shape (p, L)
        The whitened items ``Z``.
    """

    mean: np.ndarray
    transform: np.ndarray
    scores: np.ndarray


def whiten_items(features: np.ndarray) -> Whitening:
    """Centre by the item mean and whiten by the item covariance.

    :math:`\\hat\\Sigma = \\tfrac1p \\sum_j (X_j-\\hat\\mu)(X_j-\\hat\\mu)^\\top`.

    Raises
    ------
    ValueError
        If :math:`\\hat\\Sigma` is singular (collinear or constant feature columns).
    """
    mean = features.mean(axis=0)
    centred = features - mean
    cov = centred.T @ centred / features.shape[0]
    vals, vecs = np.linalg.eigh(cov)
    if vals[0] <= 1e-10 * max(vals[-1], 1e-300):
        raise ValueError("the item features are collinear (singular feature covariance)")
    transform = (vecs / np.sqrt(vals)) @ vecs.T
    return Whitening(mean, transform, centred @ transform)


def hermite_moments(u: np.ndarray, freq: np.ndarray, max_order: int) -> np.ndarray:
    """:math:`\\hat m_r = \\sum_j f_j He_r(u_j)` for r = 0..max_order, shape (max_order + 1,)."""
    return freq @ hermite_e_all(max_order, u)


def vector_hermite_moments(scores, u, freq, direction, moments, n_orders: int) -> np.ndarray:
    """Vector Hermite moments, shape (L, n_orders).

    :math:`\\hat g_r = \\sum_j f_j Z_j He_r(u_j) - r v \\hat m_{r-1}` for r < ``n_orders``.
    """
    he = hermite_e_all(n_orders - 1, u)  # (p, n_orders)
    g = scores.T @ (freq[:, None] * he)
    r = np.arange(n_orders)
    previous = np.concatenate([[0.0], moments[: n_orders - 1]])
    return g - np.outer(direction, r * previous)


def _hankels(m: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.add.outer(np.arange(K), np.arange(K))
    return m[idx], m[idx + 1]


def in_moment_space(m: np.ndarray, radius: float, *, atol: float = 0.0) -> bool:
    """Whether :math:`(m_0..m_{2K-1})` satisfies :math:`R H_0 \\pm H_1 \\succeq 0` (to ``atol``)."""
    h0, h1 = _hankels(m, len(m) // 2)
    return bool(min(np.linalg.eigvalsh(radius * h0 + h1)[0],
                    np.linalg.eigvalsh(radius * h0 - h1)[0]) >= -atol)


@lru_cache(maxsize=16)
def _denoise_problem(K: int):
    """The denoising SDP for K atoms, built once with the moments and radius as parameters."""
    import cvxpy as cp

    x, target = cp.Variable(2 * K), cp.Parameter(2 * K)
    rad = cp.Parameter(nonneg=True)
    idx = np.add.outer(np.arange(K), np.arange(K))
    h0 = cp.bmat([[x[idx[a, b]] for b in range(K)] for a in range(K)])
    h1 = cp.bmat([[x[idx[a, b] + 1] for b in range(K)] for a in range(K)])
    cons = [x[0] == 1, rad * h0 + h1 >> 0, rad * h0 - h1 >> 0]
    return cp.Problem(cp.Minimize(cp.sum_squares(x - target)), cons), x, target, rad


def denoise_moments(m: np.ndarray, radius: float) -> np.ndarray:
    """Euclidean projection of :math:`(1, m_1..m_{2K-1})` onto the moment space of :math:`[-R, R]`.

    .. math::

        \\min_{x} \\|x - \\hat m\\|_2 \\quad\\text{s.t.}\\quad x_0 = 1,\\;
        R H_0(x) + H_1(x) \\succeq 0,\\; R H_0(x) - H_1(x) \\succeq 0,

    the Karlin--Shapley characterisation of the moments :math:`m_0..m_{2K-1}` of probability
    measures on :math:`[-R, R]` (Wu & Yang 2020). A point that already satisfies the
    constraints is returned unchanged (the projection is the identity there) without
    calling the solver.

    Parameters
    ----------
    m : ndarray of shape (2K,)
        Estimated moments with ``m[0] == 1``.
    radius : float

    Raises
    ------
    SolverError
        If the SDP solver fails.
    """
    if in_moment_space(m, radius):
        return m.copy()
    import cvxpy as cp

    prob, x, target, rad = _denoise_problem(len(m) // 2)
    target.value, rad.value = np.asarray(m, dtype=float), float(radius)
    try:
        with warnings.catch_warnings():  # "optimal_inaccurate" is accepted and checked below
            warnings.simplefilter("ignore", UserWarning)
            prob.solve(solver=cp.CLARABEL)
    except cp.error.SolverError as exc:
        raise SolverError("clarabel", "error", str(exc)) from None
    if prob.status not in ("optimal", "optimal_inaccurate") or x.value is None:
        raise SolverError("clarabel", str(prob.status), "moment denoising SDP")
    return np.asarray(x.value, dtype=float)


@dataclass(frozen=True)
class Quadrature:
    """A K-atom measure: atoms (K,) in increasing order and weights (K,)."""

    atoms: np.ndarray
    weights: np.ndarray


def gauss_quadrature(m: np.ndarray, *, rcond: float = 1e-10) -> Quadrature | None:
    """The K-point Gauss quadrature matching :math:`m_0..m_{2K-1}`, or None if it has fewer atoms.

    Atoms are the generalised eigenvalues of :math:`H_1 c = t H_0 c` (the eigenvalues of
    the Jacobi matrix, i.e. the roots of the degree-K orthogonal polynomial); weights solve
    :math:`\\sum_k w_k t_k^r = m_r`, r < K. Exact (to rounding) on the moments of any
    measure with K distinct atoms. Returns None when :math:`H_0` is numerically singular
    (:math:`\\lambda_{\\min} \\le` ``rcond`` :math:`\\lambda_{\\max}`), i.e. the moments belong to
    a measure with fewer than K atoms.
    """
    K = len(m) // 2
    h0, h1 = _hankels(m, K)
    vals = np.linalg.eigvalsh(h0)
    if vals[0] <= rcond * vals[-1]:
        return None
    atoms = eigh(h1, h0, eigvals_only=True)
    vander = np.vander(atoms, K, increasing=True).T  # (r, k)
    weights = np.linalg.solve(vander, m[:K])
    return Quadrature(atoms, weights)


def moment_subspace(scores: np.ndarray, freq: np.ndarray, n_components: int) -> np.ndarray:
    """Top-K eigenvectors of :math:`\\hat M_2 = \\sum_j f_j Z_j Z_j^\\top - I`, shape (L, K).

    :math:`\\hat M_2 \\approx \\sum_k \\alpha_k \\eta_k \\eta_k^\\top` (the second moment of the
    tilted design is :math:`I + \\eta\\eta^\\top`), so its top-K eigenvectors span the atoms.
    """
    m2 = scores.T @ (freq[:, None] * scores) - np.eye(scores.shape[1])
    vals, vecs = np.linalg.eigh(m2)
    return vecs[:, ::-1][:, :n_components]


def lift_atoms(g: np.ndarray, quad: Quadrature) -> np.ndarray:
    """Lift projected atoms to :math:`\\eta_k \\in \\mathbb R^L`, shape (K, L).

    Solves :math:`[\\hat g_0..\\hat g_{K-1}] = [\\alpha_k \\eta_k]_k V` with
    :math:`V_{kr} = t_k^r` (exact on population moments; needs distinct atoms).
    """
    K = len(quad.atoms)
    vander = np.vander(quad.atoms, K, increasing=True)  # (k, r)
    scaled = np.linalg.solve(vander.T, g.T)  # (k, L) = alpha_k eta_k
    return scaled / quad.weights[:, None]


def design_hermite_deviation(scores: np.ndarray, directions: np.ndarray, max_order: int) -> float:
    """Largest standardised Hermite moment of the design.

    :math:`\\max_{r, v} |\\tfrac1p\\sum_j He_r(Z_j^\\top v)| / \\sqrt{r!}`.

    For a Gaussian design these vanish up to :math:`O(p^{-1/2})` for every order
    :math:`r \\ge 1` and unit ``v``; the latent-moment identity uses orders up to ``max_order``.

    Parameters
    ----------
    scores : ndarray of shape (p, L)
    directions : ndarray of shape (n_directions, L)
        Unit vectors.
    max_order : int
    """
    u = scores @ directions.T  # (p, D)
    he = hermite_e_all(max_order, u).mean(axis=0)  # (D, max_order + 1)
    fact = np.sqrt(np.cumprod(np.r_[1.0, np.arange(1, max_order + 1)]))
    return float(np.max(np.abs(he[:, 1:]) / fact[1:]))


@dataclass(frozen=True)
class TensorDecomposition:
    """Whitened third-order Hermite moment of the chosen items.

    Attributes
    ----------
    basis : ndarray of shape (L, K)
        Top-K eigenvectors ``U`` of :math:`\\hat M_2`.
    scales : ndarray of shape (K,)
        Their eigenvalues ``D`` (all positive).
    tensor : ndarray of shape (K, K, K)
        :math:`\\hat T(W, W, W)` with :math:`W = U D^{-1/2}`.
    """

    basis: np.ndarray
    scales: np.ndarray
    tensor: np.ndarray


def whitened_hermite_tensor(scores: np.ndarray, freq: np.ndarray, n_components: int):
    """Third-order Hermite tensor of the chosen items, whitened by :math:`\\hat M_2`.

    The Hermite tensor :math:`H_3(z)_{abc} = z_az_bz_c - z_a\\delta_{bc} - z_b\\delta_{ac} -
    z_c\\delta_{ab}` has mean :math:`\\eta^{\\otimes 3}` under :math:`N(\\eta, I)`, so by the tilt
    argument of :func:`hermite_moments` [derived]

    .. math::

        \\hat T = \\sum_j f_j H_3(Z_j) \\approx \\sum_k \\alpha_k \\eta_k^{\\otimes 3},\\qquad
        \\hat T(W, W, W) \\approx \\sum_k \\alpha_k^{-1/2} \\mu_k^{\\otimes 3},\\quad
        \\mu_k = \\sqrt{\\alpha_k} W^\\top \\eta_k ,

    with orthonormal :math:`\\mu_k` because :math:`W^\\top \\hat M_2 W = I`. Only orders <= 3
    enter, whatever K (the 1-D route needs order 2K-1). Needs K <= L. Returns None when
    :math:`\\hat M_2` has fewer than K positive eigenvalues.
    """
    m2 = scores.T @ (freq[:, None] * scores) - np.eye(scores.shape[1])
    vals, vecs = np.linalg.eigh(m2)
    vals, vecs = vals[::-1][:n_components], vecs[:, ::-1][:, :n_components]
    if vals[-1] <= 1e-8 * max(vals[0], 1e-300):
        return None
    white = vecs / np.sqrt(vals)
    y = scores @ white  # (p, K)
    third = np.einsum("j,ja,jb,jc->abc", freq, y, y, y, optimize=True)
    mean, gram = freq @ y, white.T @ white
    corr = (np.einsum("a,bc->abc", mean, gram) + np.einsum("b,ac->abc", mean, gram)
            + np.einsum("c,ab->abc", mean, gram))
    return TensorDecomposition(vecs, vals, third - corr)


def tensor_atoms(dec: TensorDecomposition, w: np.ndarray, *, power_iterations: int = 20):
    """Atoms and weights from one random contraction of the whitened tensor.

    :math:`\\hat T(I, I, w) = \\sum_k \\alpha_k^{-1/2}(\\mu_k^\\top w)\\mu_k\\mu_k^\\top`: its
    eigenvectors are the :math:`\\mu_k` and its eigenvalues
    :math:`\\lambda_k = s_k \\mu_k^\\top w`, :math:`s_k = \\alpha_k^{-1/2}` (Anandkumar et al.
    2014, the simultaneous-diagonalisation form). Each eigenvector is then refined by
    ``power_iterations`` steps of the tensor power method
    :math:`\\mu \\leftarrow \\hat T(I, \\mu, \\mu) / \\|\\hat T(I, \\mu, \\mu)\\|` (robust to noise
    that mixes the eigenvectors of a single contraction), with
    :math:`s_k = \\hat T(\\mu_k, \\mu_k, \\mu_k)` and deflation
    :math:`\\hat T \\leftarrow \\hat T - s_k \\mu_k^{\\otimes 3}` before the next vector. Then
    :math:`\\eta_k = U D^{1/2}\\mu_k s_k` and :math:`\\alpha_k \\propto s_k^{-2}`; flipping the
    sign of :math:`\\mu_k` flips :math:`s_k`, so :math:`\\eta_k` does not depend on it. Returns
    ``(eta (K, L), weights (K,))``, or None when two refined vectors coincide.

    References
    ----------
    A. Anandkumar, R. Ge, D. Hsu, S. Kakade, M. Telgarsky, "Tensor decompositions for
    learning latent variable models", JMLR 15 (2014).
    """
    _, starts = np.linalg.eigh(np.einsum("abc,c->ab", dec.tensor, w))
    K = starts.shape[1]
    tensor, mu, s = dec.tensor.copy(), np.empty((K, K)), np.empty(K)
    for k in range(K):  # tensor power method with deflation, from the eigenvectors
        m = starts[:, k]
        for _ in range(power_iterations):
            m = np.einsum("abc,b,c->a", tensor, m, m)
            m /= np.linalg.norm(m)
        mu[:, k], s[k] = m, np.einsum("abc,a,b,c->", tensor, m, m, m)
        tensor -= s[k] * np.einsum("a,b,c->abc", m, m, m)
    if np.max(np.abs(np.triu(mu.T @ mu, 1))) > 0.5 or np.any(np.abs(s) < 1e-12):
        return None  # two vectors reached the same component
    eta = ((dec.basis * np.sqrt(dec.scales)) @ (mu * s)).T
    weights = s**-2.0
    return eta, weights / weights.sum()
