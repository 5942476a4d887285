"""Whitened coordinates: the expansion fitted to :math:`z = W(x - \\mu)`, with the Jacobian.

A tensor grid with diagonal components is equivariant under per-axis scalings and shifts
(the relative bandwidth and the grid follow the robust spread of each axis), but not under
rotations: a strongly correlated density needs many narrow axis-aligned components along
its ridge. Fitting in whitened coordinates removes the linear correlation first. momix uses
ZCA (Mahalanobis) whitening,

.. math::

    z = W (x - \\mu), \\qquad W = \\Sigma^{-1/2}, \\qquad
    \\log p_x(x) = \\log p_z(z) + \\log\\det W,

with :math:`\\mu, \\Sigma` the weighted sample mean and covariance. Of all whitening maps,
the symmetric one stays closest to the original axes (it minimises
:math:`E\\|z - \\Sigma_{\\mathrm{diag}}^{-1/2}(x-\\mu)\\|^2` among whitening maps; Kessy,
Lewin and Strimmer 2018), so axis-aligned structure is disturbed as little as possible.
Whitening can still hurt when the structure *is* axis-aligned (the components of the
benchmark's three normals are; their means make the data correlated), so
``whiten="auto"`` fits both coordinate systems and keeps the one whose bandwidth search
reached the higher held-out log-likelihood (same folds, Jacobian included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import DataError

__all__ = ["Whitening", "zca_whitening"]

#: smallest eigenvalue of the covariance, relative to the largest, that whitening accepts
MIN_EIGEN_RATIO = 1e-12


@dataclass(frozen=True)
class Whitening:
    """An affine map :math:`z = (x - \\mu) W` with symmetric :math:`W` and its log-Jacobian.

    Attributes
    ----------
    mean : ndarray of shape (n_features,)
    matrix : ndarray of shape (n_features, n_features)
        :math:`W = \\Sigma^{-1/2}` (symmetric).
    inverse : ndarray of shape (n_features, n_features)
        :math:`W^{-1} = \\Sigma^{1/2}`.
    log_det : float
        :math:`\\log\\det W`, added to every log-density in z.
    """

    mean: np.ndarray
    matrix: np.ndarray
    inverse: np.ndarray
    log_det: float

    def apply(self, X: np.ndarray) -> np.ndarray:
        """:math:`z = (x - \\mu) W`, shape (n_samples, n_features)."""
        return (X - self.mean) @ self.matrix

    def invert(self, Z: np.ndarray) -> np.ndarray:
        """:math:`x = z W^{-1} + \\mu`."""
        return Z @ self.inverse + self.mean


def zca_whitening(X: np.ndarray, sample_weight: np.ndarray) -> Whitening:
    """ZCA whitening of the weighted sample: :math:`W = \\Sigma^{-1/2}` by eigendecomposition.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,)

    Raises
    ------
    DataError
        If there are no more samples than features, or the weighted covariance is
        singular (a constant feature or collinear features): whitening would divide by
        zero.
    """
    n, d = X.shape
    if n <= d:
        raise DataError(
            f"whiten=True needs more samples than features to estimate a covariance, got "
            f"n_samples={n} for {d} feature(s)"
        )
    w = sample_weight / sample_weight.sum()
    mean = w @ X
    centred = X - mean
    cov = (centred * w[:, None]).T @ centred
    eig, vec = np.linalg.eigh(cov)
    if not eig[0] > MIN_EIGEN_RATIO * max(eig[-1], 0.0):
        raise DataError(
            "whiten=True needs a non-singular covariance, but the weighted covariance has "
            f"eigenvalues {eig.min():.3g} .. {eig.max():.3g} (constant or collinear features)"
        )
    matrix = (vec / np.sqrt(eig)) @ vec.T
    inverse = (vec * np.sqrt(eig)) @ vec.T
    return Whitening(mean, matrix, inverse, float(-0.5 * np.log(eig).sum()))
