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
from itertools import combinations_with_replacement
from math import comb

import numpy as np
from numpy.polynomial.hermite_e import hermevander

__all__ = ["multi_indices", "n_polynomial_features", "Whitening", "fit_whitening",
           "hermite_features"]


def n_polynomial_features(n_features: int, degree: int) -> int:
    """Number of multi-indices of total degree at most ``degree``: :math:`\\binom{d+D}{D}`."""
    return comb(n_features + degree, degree)


def multi_indices(n_features: int, degree: int) -> np.ndarray:
    """All exponent vectors with total degree at most ``degree``, shape (n_terms, n_features).

    Ordered by total degree, the constant term first.
    """
    rows = []
    for total in range(degree + 1):
        for combo in combinations_with_replacement(range(n_features), total):
            alpha = np.zeros(n_features, dtype=np.int64)
            np.add.at(alpha, list(combo), 1)
            rows.append(alpha)
    return np.array(rows, dtype=np.int64).reshape(-1, n_features)


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
    1e-300) so that a degenerate cell still gives a finite map.
    """
    w = np.ones(X.shape[0]) if weights is None else weights
    center = np.average(X, axis=0, weights=w)
    diff = X - center
    cov = (diff * w[:, None]).T @ diff / w.sum()
    top = float(np.max(np.linalg.eigvalsh(cov))) if cov.size else 1.0
    cov = cov + max(floor * top, 1e-300) * np.eye(X.shape[1])
    chol = np.linalg.cholesky(cov)
    return Whitening(center, np.linalg.inv(chol))


def hermite_features(U: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Tensor-Hermite features :math:`\\phi_\\alpha(u)` for each row of ``U``.

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
    degree = int(indices.max()) if indices.size else 0
    vander = [hermevander(U[:, j], degree) for j in range(U.shape[1])]
    Phi = np.ones((U.shape[0], indices.shape[0]))
    for j, V in enumerate(vander):
        Phi *= V[:, indices[:, j]]
    return Phi
