"""The first steps of :meth:`LowRankGaussianMixture.fit`: checks, standardisation, noise,
subspace, weights.

Functions of the estimator ``model``: they read its hyper-parameters and return what the
restarts (:mod:`._restarts`) solve from; :func:`prepare_stream` also sets
``n_features_in_`` and drops ``feature_names_in_`` (as the entry checks of
:mod:`momix._validation` do for arrays) and :func:`weighting_setup` sets ``nystrom_mode_``.

* :func:`prepare_in_memory` (validated arrays) or :func:`prepare_stream` (paths, chunks,
  dask: :mod:`._stream`) -- a :class:`FitInputs`: the standardised moment data
  (:mod:`._scaling`), the signal subspace (:func:`subspace_dim`), the noise variance
  (:func:`noise_level`), after :func:`check_shape` (components, rank, and the count of
  moment equations against the free parameters, :func:`check_moment_count`).
* :func:`weighting_setup` -- MM / DGMM / full weights (:mod:`._weights`, :mod:`._explicit`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from math import comb
from numbers import Real

import numpy as np

from .._validation import check_n_components, check_sample_weight, count_distinct_rows
from ..exceptions import DataError, MomixWarning
from ..moments import ChunkSource, is_dask_array
from ._explicit import MAX_MONOMIALS, full_weighting, monomial_count
from ._init import KMEANS_MAX_SAMPLES, noise_from_clusters, noise_from_covariance
from ._scaling import (
    DataSummary,
    StandardizedRows,
    Standardizer,
    check_weighted_distinct_rows,
    squared_norms,
    summarize_rows,
    summary_from_moments,
    warn_constant_columns,
)
from ._solver import MomentData, reduce_to_subspace
from ._stats import statistics_size
from ._stream import StreamContext, first_pass, stream_fit_data
from ._weights import weight_function

__all__ = [
    "STATISTICS_MAX_ENTRIES",
    "FitInputs",
    "NoiseLevel",
    "check_shape",
    "check_moment_count",
    "count_moment_equations",
    "count_free_parameters",
    "subspace_dim",
    "noise_level",
    "prepare_in_memory",
    "prepare_stream",
    "weighting_setup",
]

#: one-pass moment statistics are used when they have at most this many entries
STATISTICS_MAX_ENTRIES = 200_000


@dataclass(frozen=True)
class NoiseLevel:
    """The noise variance of the moment fit and where it came from.

    Attributes
    ----------
    value : float
        :math:`\\sigma^2` in the fit's standardised units.
    method : str
        ``'given'`` (a number), ``'none'`` (``noise_variance=None``: noiseless Model 1.1),
        ``'spectrum'`` (trailing eigenvalues of the data covariance), ``'clusters'``
        (within-cluster spectra, the fallback where the data spectrum has no noise-only
        directions) or ``'absorbed'`` (``rank >= n_features``: the factors carry any
        covariance and :math:`\\sigma^2 = 0`).
    """

    value: float
    method: str

    @property
    def estimated(self) -> bool:
        """Whether :math:`\\sigma^2` was estimated from the data (a free parameter)."""
        return self.method in ("spectrum", "clusters")


@dataclass(frozen=True)
class FitInputs:
    """What the restarts of a fit solve from.

    Attributes
    ----------
    data : MomentData
        The standardised data in the ambient space (the DGMM kernel sums use it).
    fit_data : MomentData
        The data in the fitting coordinates (with one-pass statistics when they are small).
    basis : ndarray of shape (n_features, dim) or None
        Orthonormal basis of the fitting subspace; None for the whole space.
    noise : NoiseLevel
        The noise variance :math:`\\sigma^2` the moment fit uses (standardised units).
    standardizer : Standardizer
        The map from the data to the fit's coordinates (:mod:`._scaling`).
    stream : StreamContext or None
        The source and its pass results, for streamed EM; None in memory.
    """

    data: MomentData
    fit_data: MomentData
    basis: np.ndarray | None
    noise: NoiseLevel
    standardizer: Standardizer
    stream: StreamContext | None = None


def count_moment_equations(n_features: int, max_order: int) -> int:
    """Distinct moment equations of orders 1..L in d dimensions: :math:`\\binom{d+L}{L} - 1`.

    The order-k moment tensor is symmetric, with :math:`\\binom{d+k-1}{k}` distinct entries;
    summed over k = 1..L this is :math:`\\binom{d+L}{L} - 1`.
    """
    return comb(n_features + max_order, max_order) - 1


def count_free_parameters(n_components: int, n_features: int, rank: int, noise: bool) -> int:
    """Free parameters: :math:`(K-1) + Kd + K(dR - R(R-1)/2)` (+ 1 for an estimated noise).

    Mixing weights on the simplex, means, and factors modulo rotations
    :math:`V_j \\to V_jQ` (a symmetric PSD matrix of rank R has :math:`dR - R(R-1)/2`
    parameters).
    """
    K, d, R = n_components, n_features, rank
    return (K - 1) + K * d + K * (d * R - R * (R - 1) // 2) + int(noise)


def _noise_is_estimated(model, d: int) -> bool:
    return model.noise_variance == "estimate" and model.rank < d


def check_moment_count(model, d: int) -> None:
    """Refuse when the moment equations are fewer than the free parameters (module doc).

    With :math:`q = \\binom{d+L}{L} - 1` distinct moment equations of orders 1..L and
    :math:`p = (K-1) + Kd + K(dR - R(R-1)/2)` free parameters (plus one when the noise is
    estimated), :math:`q < p` leaves the parameters undetermined by the moments whatever the
    data: every fit would "converge" to one of infinitely many exact solutions. Raises
    ``ValueError`` naming both numbers, the smallest ``max_order`` (up to 8) that gives
    enough equations and the alternative of fewer components or a lower rank.
    """
    K, R, L = model.n_components, model.rank, model.max_order
    q = count_moment_equations(d, L)
    p = count_free_parameters(K, d, R, _noise_is_estimated(model, d))
    if q >= p:
        return
    better = next((m for m in range(L + 1, 9) if count_moment_equations(d, m) >= p), None)
    fix = (
        f"raise max_order to {better} ({count_moment_equations(d, better)} equations) or "
        if better is not None
        else ""
    )
    raise ValueError(
        f"max_order={L} gives {q} distinct moment equations in n_features={d} "
        f"(binom(d + L, L) - 1) for {p} free parameters of n_components={K}, rank={R} "
        f"((K-1) weights + K*d means + K*(d*R - R*(R-1)/2) factor entries"
        f"{' + 1 noise variance' if _noise_is_estimated(model, d) else ''}): the moments "
        f"cannot determine the mixture; {fix}decrease n_components or rank"
    )


def check_shape(model, n: int, d: int) -> None:
    """``n_components``, ``rank``, ``refine`` and the moment count against n samples of d."""
    check_n_components(model.n_components, n)
    if model.rank > d:
        raise ValueError(f"rank={model.rank} exceeds n_features={d}")
    if (
        model.refine == "em"
        and isinstance(model.noise_variance, Real)
        and model.noise_variance == 0
    ):
        raise ValueError(
            "refine='em' needs a positive noise variance: the likelihood of a "
            "noiseless low-rank mixture is degenerate; use noise_variance='estimate' "
            "or None (then estimated by EM) or a positive value"
        )
    check_moment_count(model, d)


def prepare_in_memory(model, X: np.ndarray, sample_weight, rng) -> FitInputs:
    """Standardised moment data of validated rows ``X``, their subspace and the noise variance.

    ``X`` keeps its precision (float32 or float64) and is not copied: the fit reads its
    standardised rows block by block (:class:`._scaling.StandardizedRows`). ``rng`` serves
    the noise fallback only.
    """
    n, d = X.shape
    check_shape(model, n, d)
    weights = check_sample_weight(sample_weight, n)
    check_weighted_distinct_rows(X, weights, model.n_components)
    omega = weights / weights.sum()
    summary = summarize_rows(X, omega)
    warn_constant_columns(summary.constant)
    Z = StandardizedRows(X, summary.standardizer)
    data = MomentData(X=Z, omega=omega, sqnorm=squared_norms(Z), ambient_dim=d)
    noise = noise_level(model, summary, lambda: noise_from_clusters(Z, omega, *_kr(model), rng))
    return _finish_inputs(model, data, summary, noise)


def _kr(model) -> tuple[int, int]:
    return model.n_components, model.rank


def _finish_inputs(model, data: MomentData, summary: DataSummary, noise) -> FitInputs:
    dim = subspace_dim(model, data.ambient_dim)
    basis = None if dim is None else _top_eigenvectors(summary.covariance, dim)
    fit_data = data if basis is None else reduce_to_subspace(data, basis)
    if statistics_size(fit_data.X.shape[1], model.max_order) <= STATISTICS_MAX_ENTRIES:
        single = model.statistics_dtype == "float32"
        fit_data = fit_data.with_statistics(model.max_order, np.float32 if single else None)
    return FitInputs(data, fit_data, basis, noise, summary.standardizer)


def _top_eigenvectors(cov: np.ndarray, dim: int) -> np.ndarray:
    """Orthonormal basis of the top-``dim`` eigenspace of the standardised covariance.

    The standardised rows are centred, so their covariance is their second moment, whose
    population version :math:`\\sum_j\\pi_j((\\mu_j-\\bar\\mu)(\\mu_j-\\bar\\mu)^\\top
    + V_jV_j^\\top) + \\sigma^2 I` has every centred mean and factor column in its top
    :math:`K(R+1) - 1` eigenvectors.
    """
    return np.linalg.eigh(cov)[1][:, ::-1][:, :dim]


def prepare_stream(model, X, sample_weight, rng, noise_rng) -> FitInputs:
    """Two passes: moments and subsample, then the projected statistics (standardised).

    Weights given as an array beside the data are validated and rescaled to mean one
    (:func:`momix._validation.check_sample_weight`), dask weights divided by their largest
    value; weights inside ``(X, w)`` chunks are
    divided by the first chunk's largest one (:func:`._stream.first_pass`), so that a
    uniform scale of the weights changes nothing here either.
    """
    if model.weighting == "full":  # refused before any pass over the data
        raise ValueError(
            "weighting='full' needs per-sample monomial moments; streaming input supports "
            "weighting='diagonal' or 'identity'"
        )
    source = ChunkSource.wrap(X, sample_weight)
    if sample_weight is not None and source.n_rows is not None and _is_array(sample_weight):
        source = ChunkSource(source.data, check_sample_weight(sample_weight, source.n_rows))
    elif is_dask_array(sample_weight):  # divided by its largest value (one small reduction)
        top = float(sample_weight.max().compute())
        if np.isfinite(top) and top > 0:  # otherwise the chunk checks refuse the weights
            source = ChunkSource(source.data, sample_weight / top)
    first = first_pass(  # whole-space fits get their statistics in this same pass
        source, KMEANS_MAX_SAMPLES, rng,
        lambda d: model.max_order if subspace_dim(model, d) is None else None,
        STATISTICS_MAX_ENTRIES, np.dtype(model.statistics_dtype).type,
    )  # fmt: skip
    source = replace(source, weight_unit=first.weight_unit)  # as pass 1 read the weights
    n, d = first.n_samples, first.mean_u.size
    model.n_features_in_ = d
    if hasattr(model, "feature_names_in_"):
        del model.feature_names_in_
    check_shape(model, n, d)
    summary = first.summary or summary_from_moments(  # raises for constant data
        first.origin, first.unit, first.mean_u, first.covariance_u, first.low == first.high, n
    )
    _check_subsample_distinct(first, model.n_components)
    warn_constant_columns(summary.constant)
    dim = subspace_dim(model, d)
    basis = None if dim is None else _top_eigenvectors(summary.covariance, dim)
    data, fit_data = stream_fit_data(
        source, first, basis, model.max_order, STATISTICS_MAX_ENTRIES,
        np.dtype(model.statistics_dtype).type,
    )  # fmt: skip
    noise = noise_level(
        model, summary, lambda: noise_from_clusters(data.X, data.omega, *_kr(model), noise_rng)
    )
    stream = StreamContext(source, basis, summary.covariance, summary.standardizer)
    return FitInputs(data, fit_data, basis, noise, summary.standardizer, stream)


def _is_array(value) -> bool:
    from ..moments import is_streaming_source

    return hasattr(value, "__len__") and not is_streaming_source(value)


def _check_subsample_distinct(first, n_components: int) -> None:
    """Refuse when the streamed subsample holds fewer than K distinct rows of positive weight."""
    rows = first.sub_X[first.sub_w > 0]
    found = count_distinct_rows(rows, n_components)
    if found < n_components:
        whole = first.sub_X.shape[0] == first.n_samples
        where = "X" if whole else f"a uniform subsample of {first.sub_X.shape[0]} rows of X"
        raise DataError(
            f"{where} holds only {found} distinct row(s) of positive weight, fewer than "
            f"n_components={n_components}; decrease n_components"
        )


def subspace_dim(model, d: int) -> int | None:
    """Dimension of the fitting subspace, or None for the whole space.

    ``'auto'``: :math:`K(R+1) - 1` (the rank of the signal part of the covariance of the
    centred data; a further direction would be a noise direction, chosen by rounding) when
    :math:`d > 2K(R+1)`.
    """
    r = model.n_components * (model.rank + 1)
    if model.subspace is None or model.weighting == "full":
        return None
    dim = r - 1 if model.subspace == "auto" else int(model.subspace)
    if (model.subspace == "auto" and d <= 2 * r) or dim >= d:
        return None
    if dim < model.rank:
        raise ValueError(f"subspace={dim} is smaller than rank={model.rank}")
    return dim


def noise_level(model, summary: DataSummary, cluster_estimate: Callable[[], float]) -> NoiseLevel:
    """The noise variance of the moment fit, in the standardised units of ``summary``.

    * ``None``: 0 (noiseless Model 1.1); a number: that value divided by :math:`s^2`.
    * ``'estimate'`` with ``rank >= n_features``: 0 (``'absorbed'``: the factors represent
      every covariance, the noise is not identifiable and not needed).
    * ``'estimate'`` with :math:`d > K(R+1) - 1`: the mean of the trailing
      :math:`d - K(R+1) + 1` eigenvalues of the data covariance (``'spectrum'``).
    * ``'estimate'`` otherwise: ``cluster_estimate()`` (within-cluster spectra,
      :func:`._init.noise_from_clusters`), with a :class:`MomixWarning` naming
      ``noise_variance`` (``'clusters'``).

    Estimates are floored at ``reg_covar`` (relative to the mean variance of the data), so
    that the fitted covariances are positive definite.
    """
    value = model.noise_variance
    if value is None:
        return NoiseLevel(0.0, "none")
    if value != "estimate":
        return NoiseLevel(float(value) / summary.standardizer.scale**2, "given")
    d, K, R = summary.covariance.shape[0], model.n_components, model.rank
    if R >= d:
        return NoiseLevel(0.0, "absorbed")
    r = K * (R + 1) - 1
    if d > r:
        estimate, method = noise_from_covariance(summary.covariance, K, R), "spectrum"
    else:
        estimate, method = cluster_estimate(), "clusters"
        warnings.warn(
            f"noise_variance='estimate': with n_features={d} <= n_components*(rank+1)-1 = "
            f"{r} the data covariance has no noise-only directions, so sigma^2 is estimated "
            "from the spectra of k-means clusters instead (biased upward where components "
            "overlap); pass noise_variance as a number (or None for noiseless data) to "
            "fix it",
            MomixWarning,
            stacklevel=5,
        )
    return NoiseLevel(max(float(estimate), float(model.reg_covar)), method)


def weighting_setup(model, data: MomentData, fit_data: MomentData, noise: float, rng):
    """Full-GMM weighting or DGMM weight function; kernel sums use the full data.

    Sets ``model.nystrom_mode_``: how the DGMM kernel sums are formed, None for the other
    weightings (and before a refused ``'full'``).

    Returns
    -------
    weight_fn : callable or None
        The DGMM order weights at given parameters (``weighting='diagonal'``).
    full : FullWeighting or None
        The full-GMM weighting (``weighting='full'``).
    """
    d, L = data.X.shape[1], model.max_order
    model.nystrom_mode_ = None
    if model.weighting == "full":
        q = monomial_count(d, L)
        if q > MAX_MONOMIALS:
            raise ValueError(
                f"weighting='full' needs the {q} x {q} covariance of all {q} distinct moments "
                f"of orders 1..{L} in d={d} (limit {MAX_MONOMIALS}); this is the cost the "
                "diagonal weighting avoids -- use weighting='diagonal' (DGMM) "
                "or lower max_order"
            )
        return None, full_weighting(np.asarray(data.X, dtype=np.float64), data.omega, L)
    if model.weighting == "identity":
        return None, None
    weight_fn, model.nystrom_mode_ = weight_function(
        model.nystrom, data, fit_data, noise, model.n_components, model.rank, L, rng
    )
    return weight_fn, None
