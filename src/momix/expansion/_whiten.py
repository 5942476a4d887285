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
``whiten="auto"`` decides by held-out likelihood (:func:`choose_whitening`):

1. *Skip rule.* Without correlation :math:`\\Sigma` is diagonal and whitening is a
   per-axis shift and scaling, to which the expansion is equivariant (grid, relative
   bandwidth and robust spreads all follow the axes; the Jacobian cancels), so it cannot
   change the density. How far the data are from that case is measured by the Gaussian
   total correlation (the mutual information of a normal with correlation matrix
   :math:`R`),

   .. math::

       I = -\\tfrac12 \\log\\det R
         = -\\tfrac12\\Big(\\log\\det\\Sigma - \\sum_j \\log\\Sigma_{jj}\\Big),

   which is also the Kullback-Leibler divergence between a Gaussian kernel of covariance
   :math:`\\propto\\Sigma` (the whitened fit's isotropic kernel mapped back to x) and the
   axis-aligned kernel with the same marginals (the raw fit's). Below
   ``MIN_TOTAL_CORRELATION`` = 0.005 nats (a quarter of the 0.02-nat accuracy target;
   :math:`|r| < 0.1` in 2-D) the raw coordinates are kept without a comparison.
2. *Coarse comparison.* Otherwise the coarse pass of the bandwidth search (the
   hill-climb over :math:`h_0 2^k`, :func:`momix.expansion._bandwidth.select_bandwidth`
   with ``coarse_only=True``) runs in both coordinate systems on the same folds, the
   whitened climb starting from the raw optimum (relative bandwidths are in units of
   each axis's spread in both systems, and broad candidates are the expensive ones for
   the early-stopped path). Whitening is kept only if its best held-out score,
   Jacobian included, exceeds the raw one by more than

   .. math::

       \\delta = \\frac{d + d(d+1)/2}{n},

   the first-order (AIC) optimism of the whitening map's :math:`d + d(d+1)/2`
   parameters: the map is estimated on all rows, held-out folds included, so the folds
   do not see its own estimation error. The winner's search then continues from its
   coarse pass (sqrt-2 and parabolic refinement, per-axis factors) without scoring any
   candidate twice, so the comparison costs the loser's coarse pass only.

   Two cheaper rules were tried and rejected on the benchmark: the held-out score at
   Silverman's :math:`h_0` alone (the normal-reference bandwidth suits whitened data
   better than raw data, which biased it towards whitening: it whitened Old Faithful in
   2 of 5 folds and one three-normal fit) and the coarse comparison without
   :math:`\\delta` (it whitened one three-normal fit on a 0.002-nat lead that the raw
   per-axis refinement then overturned).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..exceptions import DataError

__all__ = [
    "Whitening",
    "WhiteningChoice",
    "zca_whitening",
    "total_correlation",
    "choose_whitening",
    "MIN_TOTAL_CORRELATION",
]

#: smallest eigenvalue of the covariance, relative to the largest, that whitening accepts
MIN_EIGEN_RATIO = 1e-12
#: below this Gaussian total correlation (nats) ``whiten="auto"`` keeps the raw coordinates
MIN_TOTAL_CORRELATION = 5e-3


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


@dataclass(frozen=True)
class WhiteningChoice:
    """The decision of ``whiten="auto"`` (:func:`choose_whitening`).

    Attributes
    ----------
    whitening : Whitening or None
        The map to fit in, or None for the raw coordinates.
    total_correlation : float
        :math:`-\\tfrac12\\log\\det R` of the weighted sample (``inf`` when singular).
    raw_score, white_score : float or None
        Best held-out mean log-likelihood (in x units) of each coordinate system's coarse
        search; None when the skip rule decided.
    search : object or None
        The winner's payload from ``score`` (its coarse bandwidth search), None when the
        skip rule decided.
    """

    whitening: Whitening | None
    total_correlation: float
    raw_score: float | None = None
    white_score: float | None = None
    search: object | None = None


def total_correlation(X: np.ndarray, sample_weight: np.ndarray) -> float:
    """Gaussian total correlation :math:`-\\tfrac12\\log\\det R` of the weighted sample.

    0 for uncorrelated features, ``inf`` for a singular covariance (constant or collinear
    features).
    """
    w = sample_weight / sample_weight.sum()
    centred = X - w @ X
    cov = (centred * w[:, None]).T @ centred
    diag = np.diag(cov)
    sign, log_det = np.linalg.slogdet(cov)
    if not (sign > 0 and np.all(diag > 0)):
        return np.inf
    return float(max(0.5 * (np.log(diag).sum() - log_det), 0.0))


def choose_whitening(
    X: np.ndarray, sample_weight: np.ndarray, score: Callable[[np.ndarray], float]
) -> WhiteningChoice:
    """Raw or ZCA-whitened coordinates: the skip rule, then a held-out comparison.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,)
        Positive weights.
    score : callable
        ``score(Z)`` = (held-out mean log-likelihood of a fit to the rows ``Z``, payload),
        the same folds for every call; the whitened score gets :math:`\\log\\det W`
        added. The winner's payload is returned in ``search``.

    Returns
    -------
    WhiteningChoice
        Whitened only if the total correlation reaches ``MIN_TOTAL_CORRELATION``, the
        covariance is non-singular and the whitened score exceeds the raw one by more
        than :math:`(d + d(d+1)/2)/n`. ``score`` is called on the raw rows first.
    """
    info = total_correlation(X, sample_weight) if X.shape[1] > 1 else 0.0
    if not info >= MIN_TOTAL_CORRELATION:
        return WhiteningChoice(None, info)
    try:
        white = zca_whitening(X, sample_weight)
    except DataError:  # singular covariance: only the raw coordinates exist
        return WhiteningChoice(None, info)
    raw_score, raw_search = score(X)
    white_score, white_search = score(white.apply(X))
    white_score += white.log_det
    d = X.shape[1]
    if white_score > raw_score + (d + d * (d + 1) / 2) / X.shape[0]:
        return WhiteningChoice(white, info, raw_score, white_score, white_search)
    return WhiteningChoice(None, info, raw_score, white_score, raw_search)
