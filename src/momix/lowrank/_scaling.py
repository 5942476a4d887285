r"""Centring and scaling of the data before the moment fit, and the map back.

Every fit runs on standardised rows

.. math:: z_n = (y_n - c) / s, \qquad c = \sum_n \omega_n y_n, \qquad
          s^2 = \tfrac1d \operatorname{tr} \sum_n \omega_n (y_n - c)(y_n - c)^\top,

the weighted mean and the root mean variance (one scalar, so isotropic noise stays
isotropic). The model is equivariant under this map: :math:`\mu_j = c + s\mu_j'`,
:math:`V_j = sV_j'`, :math:`\sigma^2 = s^2\sigma'^2` (:meth:`Standardizer.to_data`). The
moment objective itself is not (raw moments of different orders scale by different powers
of s, and translation mixes the orders), so standardising also fixes the relative weight of
the orders in a scale- and offset-free way: data at an offset of :math:`10^8` or at scale
:math:`10^{-100}` give the fit of the same data at unit scale. Without it, moments of order
4 of data at an offset of :math:`10^8` are :math:`10^{32}` and their differences cancel
catastrophically.

In memory the statistics come from three passes over row blocks (:data:`BLOCK_FLOATS` values)
(the mean; the largest deviation from it and the column ranges; the covariance of the
deviations divided by the largest one, so squares neither underflow nor overflow at any
accepted magnitude), and the fit reads the standardised rows through
:class:`StandardizedRows`, block by block: the data are never copied (float32 input stays
float32), and the memory of a fit beyond the data is a few vectors of length N and, in a
subspace, the N x r fitting coordinates.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import check_magnitude, count_distinct_rows
from ..exceptions import DataError, MomixWarning
from ._blocks import BLOCK_FLOATS, row_slices  # noqa: F401 (BLOCK_FLOATS named in the docs)
from ._engine import MixtureParams

__all__ = [
    "MIN_SCALE",
    "Standardizer",
    "DataSummary",
    "summarize_rows",
    "summary_from_moments",
    "StandardizedRows",
    "squared_norms",
    "check_magnitude_blocks",
    "weighted_mean",
    "check_weighted_distinct_rows",
    "warn_constant_columns",
]

#: smallest accepted root mean variance: the covariances (about :math:`s^2`) and their floor
#: (``reg_covar`` :math:`s^2`) must be normal float64 numbers
MIN_SCALE = 1e-140


@dataclass(frozen=True)
class Standardizer:
    """The affine map :math:`z = (y - c)/s` and its action on mixture parameters.

    Attributes
    ----------
    center : ndarray of shape (n_features,)
        :math:`c`.
    scale : float
        :math:`s > 0`.
    """

    center: np.ndarray
    scale: float

    def transform(self, X) -> np.ndarray:
        """Standardised rows in float64 (one block; callers iterate over blocks)."""
        return (np.asarray(X, dtype=np.float64) - self.center) / self.scale

    def to_fit(self, params: MixtureParams) -> MixtureParams:
        """Parameters of the data (y) in standardised coordinates (z)."""
        s = self.scale
        return MixtureParams(
            params.weights,
            (params.means - self.center) / s,
            params.factors / s,
            params.noise_variance / s**2,
        )

    def to_data(self, params: MixtureParams) -> MixtureParams:
        """Parameters in standardised coordinates mapped back to the data's."""
        s = self.scale
        return MixtureParams(
            params.weights,
            self.center + s * params.means,
            s * params.factors,
            s**2 * params.noise_variance,
        )


@dataclass(frozen=True)
class DataSummary:
    """What the standardisation learns about the data.

    Attributes
    ----------
    standardizer : Standardizer
    covariance : ndarray of shape (n_features, n_features)
        Weighted covariance of the standardised rows (trace ``n_features``).
    constant : ndarray of shape (n_features,) of bool
        Columns holding a single value in every row.
    """

    standardizer: Standardizer
    covariance: np.ndarray
    constant: np.ndarray


def weighted_mean(X: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """:math:`\\sum_n \\omega_n y_n` over row blocks, in float64 (``omega`` sums to one)."""
    mean = np.zeros(X.shape[1])
    for sl in row_slices(*X.shape):
        mean += omega[sl] @ np.asarray(X[sl], dtype=np.float64)
    return mean


def _refuse_constant(n_rows: int, weighted: bool) -> None:
    if weighted:
        raise DataError(
            "the rows of X with positive sample_weight are all the same point (zero "
            "variance in every column); a mixture needs data that vary: give positive "
            "weight to rows that differ"
        )
    raise DataError(
        f"X is constant: all {n_rows} rows are the same point (every column has zero "
        "variance); a mixture needs data that vary"
    )


def _finish(center, unit, cov_unit, constant, n_rows) -> DataSummary:
    """Summary from the covariance of the deviations divided by ``unit``."""
    d = center.size
    var = float(np.trace(cov_unit)) / d
    if not var > 0.0:
        _refuse_constant(n_rows, weighted=True)
    scale = unit * np.sqrt(var)
    if not scale >= MIN_SCALE:
        power = 2 * int(np.floor(np.log10(scale))) if scale > 0 else -650
        raise DataError(
            f"X varies on a scale of {scale:.3g}: its covariances (about 1e{power}) are "
            f"below what float64 represents well (spread under {MIN_SCALE:.0e}); multiply X "
            "by a unit (e.g. 1e100) first"
        )
    cov = cov_unit / var
    return DataSummary(Standardizer(center, float(scale)), 0.5 * (cov + cov.T), constant)


def summarize_rows(X: np.ndarray, omega: np.ndarray) -> DataSummary:
    """Weighted mean, scale, standardised covariance and constant columns of ``X``.

    Three passes over row blocks (module docstring); nothing of the size of ``X`` is formed.

    Raises
    ------
    DataError
        If every row is the same point, if every row of positive weight is, or if the data
        vary on a scale below :data:`MIN_SCALE` (covariances not representable).
    """
    n, d = X.shape
    center = weighted_mean(X, omega)
    low, high, dev = np.full(d, np.inf), np.full(d, -np.inf), 0.0
    for sl in row_slices(n, d):
        block = np.asarray(X[sl], dtype=np.float64)
        low = np.minimum(low, block.min(axis=0))
        high = np.maximum(high, block.max(axis=0))
        dev = max(dev, float(np.max(np.abs(block - center))))
    constant = low == high
    if constant.all() or dev == 0.0:
        _refuse_constant(n, weighted=False)
    cov = np.zeros((d, d))
    for sl in row_slices(n, d):
        D = (np.asarray(X[sl], dtype=np.float64) - center) / dev
        cov += (D * omega[sl, None]).T @ D
    return _finish(center, dev, cov, constant, n)


def summary_from_moments(
    origin: np.ndarray, unit: float, mean_u: np.ndarray, cov_u: np.ndarray, constant, n_rows: int
) -> DataSummary:
    """:class:`DataSummary` from the moments of :math:`u = (y - o)/m` (a streamed first pass).

    :math:`c = o + m\\bar u`, :math:`s = m\\,(\\operatorname{tr}\\operatorname{Cov}u/d)^{1/2}`.
    """
    if np.all(constant):
        _refuse_constant(n_rows, weighted=False)
    return _finish(origin + unit * mean_u, unit, cov_u, np.asarray(constant), n_rows)


class StandardizedRows:
    """The standardised rows :math:`(y_n - c)/s` of an array, computed block by block on access.

    Behaves like a read-only float64 array of shape ``X.shape`` for what the fit does with
    its data: ``Z[slice]``, ``Z[index_array]`` and ``Z[i]`` return standardised float64 rows
    (computed from those rows of ``X`` only), ``np.asarray(Z)`` the whole array (used only
    where a method needs it in full, such as the exact kernel sums of at most 3 000 rows).
    The data are never copied: a float32 array stays float32, read one block at a time.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    standardizer : Standardizer
    """

    ndim = 2
    dtype = np.dtype(np.float64)

    def __init__(self, X: np.ndarray, standardizer: Standardizer) -> None:
        self.raw = X
        self.standardizer = standardizer
        self.shape = X.shape

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        return self.standardizer.transform(self.raw[key])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.empty(self.shape)
        for sl in row_slices(*self.shape):
            out[sl] = self[sl]
        return out if dtype is None else out.astype(dtype, copy=False)


def squared_norms(X) -> np.ndarray:
    """:math:`\\|x_n\\|^2` of the rows of ``X`` (array or :class:`StandardizedRows`), float64."""
    out = np.empty(X.shape[0])
    for sl in row_slices(*X.shape):
        block = np.asarray(X[sl], dtype=np.float64)
        out[sl] = np.einsum("nd,nd->n", block, block)
    return out


def check_magnitude_blocks(X: np.ndarray) -> np.ndarray:
    """:func:`momix._validation.check_magnitude` over row blocks (no copy of the data)."""
    for sl in row_slices(*X.shape):
        check_magnitude(X[sl])
    return X


class _PositiveRows:
    """Rows of ``X`` with positive weight, read lazily by :func:`count_distinct_rows`."""

    def __init__(self, X: np.ndarray, index: np.ndarray) -> None:
        self.X, self.index = X, index
        self.shape = (index.size, X.shape[1])

    def __getitem__(self, key):
        return self.X[self.index[key]]


def check_weighted_distinct_rows(X: np.ndarray, weights: np.ndarray, n_components: int) -> None:
    """Raise :class:`DataError` if fewer than ``n_components`` distinct rows have positive weight.

    A component needs a distinct point of its own; rows of zero weight do not count.
    """
    positive = np.flatnonzero(weights > 0)
    rows = X if positive.size == X.shape[0] else _PositiveRows(X, positive)
    found = count_distinct_rows(rows, n_components)
    if found == 1 and n_components > 1:
        _refuse_constant(X.shape[0], weighted=rows is not X)
    if found < n_components:
        where = "X holds" if rows is X else "the rows of X with positive sample_weight hold"
        raise DataError(
            f"{where} only {found} distinct row(s), fewer than "
            f"n_components={n_components}; decrease n_components"
        )


def warn_constant_columns(constant: np.ndarray) -> None:
    """Warn (:class:`MomixWarning`) that some columns are constant, naming them."""
    if not constant.any():
        return
    cols = np.flatnonzero(constant)
    shown = ", ".join(str(c) for c in cols[:10]) + (", ..." if cols.size > 10 else "")
    warnings.warn(
        f"column(s) {shown} of X are constant (zero variance): the isotropic noise of the "
        "model is then 0 (noise_variance estimates it from the smallest variances) and the "
        "fitted covariances are singular up to reg_covar in those directions; remove the "
        "constant column(s)",
        MomixWarning,
        stacklevel=4,
    )
