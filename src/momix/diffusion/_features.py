"""Polynomial features of whitened coordinates: tensor products of Hermite polynomials.

A cell's polynomial is written in the cell's whitened coordinates
:math:`u = L^{-1}(x - c)` (``c`` the mean and :math:`LL^\\top` the covariance of the cell's
training inputs) and in the basis of products of probabilists' Hermite polynomials

.. math::

    \\phi_\\alpha(u) = \\prod_{j=1}^{d} \\mathrm{He}_{\\alpha_j}(u_j), \\qquad
    |\\alpha| = \\alpha_1 + \\dots + \\alpha_d \\le D .

They span exactly the monomials of total degree at most :math:`D` (there are
:math:`\\binom{d+D}{D}` of them), so the fitted function is the same as with raw monomials;
the Hermite basis is only better conditioned, because it is orthonormal up to scale for
standard normal inputs and the whitened cell data are close to that. Whitening per cell also
makes the regression equivariant under affine maps of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations_with_replacement
from math import comb

import numpy as np
from numpy.polynomial.hermite_e import hermevander

__all__ = ["multi_indices", "n_polynomial_features", "Whitening", "fit_whitening",
           "whitening_from_moments", "hermite_features"]


def n_polynomial_features(n_features: int, degree: int) -> int:
    """Number of multi-indices of total degree at most ``degree``: :math:`\\binom{d+D}{D}`."""
    return comb(n_features + degree, degree)


def multi_indices(n_features: int, degree: int) -> np.ndarray:
    """All exponent vectors with total degree at most ``degree``, shape (n_terms, n_features).

    Ordered by total degree, the constant term first. The array is cached and read-only.
    """
    return _multi_indices(int(n_features), int(degree))


@lru_cache(maxsize=64)
def _multi_indices(n_features: int, degree: int) -> np.ndarray:
    rows = []
    for total in range(degree + 1):
        for combo in combinations_with_replacement(range(n_features), total):
            alpha = np.zeros(n_features, dtype=np.int64)
            np.add.at(alpha, list(combo), 1)
            rows.append(alpha)
    out = np.array(rows, dtype=np.int64).reshape(-1, n_features)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class Whitening:
    """Affine map :math:`u = L^{-1}(x - c)` to whitened coordinates.

    Attributes
    ----------
    center : ndarray of shape (n_features,)
    inv_chol : ndarray of shape (n_features, n_features)
        :math:`L^{-1}` for the lower Cholesky factor :math:`L` of the (regularised) covariance.
    """

    center: np.ndarray
    inv_chol: np.ndarray

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Whitened coordinates of the rows of ``X``."""
        return (X - self.center) @ self.inv_chol.T


def fit_whitening(X: np.ndarray, weights: np.ndarray | None = None,
                  floor: float = 1e-8) -> Whitening:
    """Whitening of ``X`` by its (weighted) mean and covariance.

    The covariance is floored at ``floor`` times its largest eigenvalue (and absolutely at
    1e-300) so that a degenerate cell still gives a finite map
    (:func:`whitening_from_moments`).
    """
    w = np.ones(X.shape[0]) if weights is None else weights
    center = np.average(X, axis=0, weights=w)
    diff = X - center
    cov = (diff * w[:, None]).T @ diff / w.sum()
    return whitening_from_moments(center, cov, floor)


def whitening_from_moments(center: np.ndarray, cov: np.ndarray,
                           floor: float = 1e-8) -> Whitening:
    """Whitening with the given mean and covariance.

    The covariance's eigenvalues are clipped at zero (rounding in moments accumulated over
    many rows can leave tiny negative ones) and raised by
    :math:`\\max(\\text{floor}\\,\\lambda_{\\max}, 10^{-300})`, so the map is finite for any
    finite input, a degenerate cell included.
    """
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    top = float(vals[-1]) if vals.size else 1.0
    vals = np.maximum(vals, 0.0) + max(floor * top, 1e-300)
    chol = np.linalg.cholesky((vecs * vals) @ vecs.T)
    return Whitening(np.asarray(center, dtype=np.float64), np.linalg.inv(chol))


def hermite_features(U: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Tensor-Hermite features :math:`\\phi_\\alpha(u)` for each row of ``U``.

    Each term multiplies only the factors :math:`\\mathrm{He}_{\\alpha_j}(u_j)` with
    :math:`\\alpha_j > 0` (at most ``degree`` of them), in increasing ``j``, so the cost is
    ``n_samples * n_terms * degree`` products, not ``* n_features``.

    Parameters
    ----------
    U : ndarray of shape (n_samples, n_features)
        Whitened coordinates.
    indices : ndarray of shape (n_terms, n_features)
        Exponent vectors from :func:`multi_indices`.

    Returns
    -------
    Phi : ndarray of shape (n_samples, n_terms)
    """
    n, d = U.shape
    degree = int(indices.max()) if indices.size else 0
    if degree == 0:
        return np.ones((n, indices.shape[0]))
    # rows of the transposed Vandermonde stack are contiguous: gathering them is a memcpy
    vander = np.empty((d, degree + 1, n))
    for j in range(d):
        vander[j] = hermevander(U[:, j], degree).T
    vander = vander.reshape(d * (degree + 1), n)
    columns = _factor_columns(indices.tobytes(), indices.shape, degree)
    Phi = np.take(vander, columns[0], axis=0)
    for cols in columns[1:]:
        Phi *= np.take(vander, cols, axis=0)
    return Phi.T


@lru_cache(maxsize=64)
def _factor_columns(key: bytes, shape: tuple, degree: int) -> tuple:
    """Column of the flattened Vandermonde stack of each factor slot of each term.

    Slot ``s`` of a term is its ``s``-th variable with a positive exponent (in increasing
    order); terms with fewer such variables use column 0 (:math:`\\mathrm{He}_0 = 1`).
    """
    indices = np.frombuffer(key, dtype=np.int64).reshape(shape)
    n_slots = max(1, int((indices > 0).sum(axis=1).max()))
    columns = np.zeros((n_slots, shape[0]), dtype=np.intp)
    for term, alpha in enumerate(indices):
        for slot, j in enumerate(np.flatnonzero(alpha)):
            columns[slot, term] = j * (degree + 1) + alpha[j]
    return tuple(columns)
