"""The first steps of :meth:`LowRankGaussianMixture.fit`: moment data, subspace, noise, weights.

Functions of the estimator ``model``: they read its hyper-parameters and return what the
restarts (:mod:`._restarts`) solve from; :func:`prepare_stream` also sets
``n_features_in_`` and drops ``feature_names_in_`` (as the entry checks of
:mod:`momix._validation` do for arrays) and :func:`weighting_setup` sets ``nystrom_mode_``.

* :func:`prepare_in_memory` (validated arrays) or :func:`prepare_stream` (paths, chunks,
  dask: :mod:`._stream`) -- a :class:`FitInputs`: the moment data, the signal subspace
  (:func:`subspace_dim`), the noise variance (:func:`noise_level`), in the order the
  estimator has always checked them (:func:`check_shape` first).
* :func:`weighting_setup` -- MM / DGMM / full weights (:mod:`._weights`, :mod:`._explicit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np

from .._validation import check_n_components, check_sample_weight
from ._explicit import MAX_MONOMIALS, full_weighting, monomial_count
from ._init import KMEANS_MAX_SAMPLES, estimate_noise_variance, noise_from_covariance
from ._solver import MomentData, reduce_to_subspace, signal_basis
from ._stats import statistics_size
from ._stream import ChunkSource, StreamContext, first_pass, stream_fit_data
from ._weights import weight_function

__all__ = [
    "STATISTICS_MAX_ENTRIES",
    "FitInputs",
    "check_shape",
    "subspace_dim",
    "noise_level",
    "prepare_in_memory",
    "prepare_stream",
    "weighting_setup",
]

#: one-pass moment statistics are used when they have at most this many entries
STATISTICS_MAX_ENTRIES = 200_000


@dataclass(frozen=True)
class FitInputs:
    """What the restarts of a fit solve from.

    Attributes
    ----------
    data : MomentData
        The data in the ambient space (the DGMM kernel sums use it).
    fit_data : MomentData
        The data in the fitting coordinates (with one-pass statistics when they are small).
    basis : ndarray of shape (n_features, dim) or None
        Orthonormal basis of the fitting subspace; None for the whole space.
    noise : float
        The noise variance :math:`\\sigma^2` the moment fit uses.
    stream : StreamContext or None
        The source and its pass results, for streamed EM; None in memory.
    """

    data: MomentData
    fit_data: MomentData
    basis: np.ndarray | None
    noise: float
    stream: StreamContext | None = None


def check_shape(model, n: int, d: int) -> None:
    """``n_components``, ``rank`` and ``refine`` against n samples of d features."""
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
            "noiseless low-rank mixture is degenerate; use noise_variance=None "
            "(estimated by EM) or a positive value"
        )


def prepare_in_memory(model, X: np.ndarray, sample_weight) -> FitInputs:
    """Moment data of validated rows ``X``, their signal subspace and the noise variance."""
    n, d = X.shape
    check_shape(model, n, d)
    data = MomentData.build(X, check_sample_weight(sample_weight, n))
    noise = noise_level(
        model,
        lambda: estimate_noise_variance(data.X, data.omega, model.n_components, model.rank),
    )
    dim = subspace_dim(model, data.X.shape[1])
    basis = None if dim is None else signal_basis(data, dim)
    fit_data = data if basis is None else reduce_to_subspace(data, basis)
    if statistics_size(fit_data.X.shape[1], model.max_order) <= STATISTICS_MAX_ENTRIES:
        single = model.statistics_dtype == "float32"
        fit_data = fit_data.with_statistics(model.max_order, np.float32 if single else None)
    return FitInputs(data, fit_data, basis, noise)


def prepare_stream(model, X, sample_weight, rng) -> FitInputs:
    """Two passes: moments and subsample, then the projected statistics."""
    if model.weighting == "full":  # refused before any pass over the data
        raise ValueError(
            "weighting='full' needs per-sample monomial moments; streaming input supports "
            "weighting='diagonal' or 'identity'"
        )
    source = ChunkSource.wrap(X, sample_weight)
    first = first_pass(  # whole-space fits get their statistics in this same pass
        source, KMEANS_MAX_SAMPLES, rng,
        lambda d: model.max_order if subspace_dim(model, d) is None else None,
        STATISTICS_MAX_ENTRIES, np.dtype(model.statistics_dtype).type,
    )  # fmt: skip
    n, d = first.n_samples, first.mean.size
    model.n_features_in_ = d
    if hasattr(model, "feature_names_in_"):
        del model.feature_names_in_
    check_shape(model, n, d)
    noise = noise_level(
        model, lambda: noise_from_covariance(first.covariance, model.n_components, model.rank)
    )
    dim = subspace_dim(model, d)
    basis = None if dim is None else np.linalg.eigh(first.second)[1][:, ::-1][:, :dim]
    data, fit_data = stream_fit_data(
        source, first, basis, model.max_order, STATISTICS_MAX_ENTRIES,
        np.dtype(model.statistics_dtype).type,
    )  # fmt: skip
    stream = StreamContext(source, basis, first.second, first.covariance)
    return FitInputs(data, fit_data, basis, noise, stream)


def subspace_dim(model, d: int) -> int | None:
    """Dimension of the fitting subspace, or None for the whole space."""
    r = model.n_components * (model.rank + 1)
    if model.subspace is None or model.weighting == "full":
        return None
    dim = r if model.subspace == "auto" else int(model.subspace)
    if (model.subspace == "auto" and d <= 2 * r) or dim >= d:
        return None
    if dim < model.rank:
        raise ValueError(f"subspace={dim} is smaller than rank={model.rank}")
    return dim


def noise_level(model, estimate) -> float:
    """The noise variance: none, given, or ``estimate()`` for ``"estimate"``."""
    if model.noise_variance is None:
        return 0.0
    if model.noise_variance == "estimate":
        return estimate()
    return float(model.noise_variance)


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
        return None, full_weighting(data.X, data.omega, L)
    if model.weighting == "identity":
        return None, None
    weight_fn, model.nystrom_mode_ = weight_function(
        model.nystrom, data, fit_data, noise, model.n_components, model.rank, L, rng
    )
    return weight_fn, None
