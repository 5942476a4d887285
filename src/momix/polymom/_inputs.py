"""What :class:`~momix.polymom.Polymom` fits: the component model, the target, streamed data.

* :func:`default_model` -- the model of ``model=None``, a diagonal Gaussian of the data's
  dimension (:func:`resolve_model` checks a given model against the data);
* :func:`with_target` -- conditional models (linear regression) see the rows
  :math:`z = (x, y)`: the target becomes the last column;
* :func:`streamed_data` and :func:`streamed_system` -- the two passes over streamed data
  (:class:`momix.moments.ChunkSource`): the first (:func:`first_pass`) gives the mean,
  variance and largest magnitude of each feature (the standardisation, as in memory,
  :func:`momix.polymom._scaling.scaling_from_moments`), the second the empirical moment
  system of the standardised chunks (:func:`momix.polymom._moments.streaming_system`);
  memory is one chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._validation import MAX_ABS_VALUE, check_distinct_rows, check_magnitude
from ..exceptions import DataError
from ..moments import ChunkSource, MomentAccumulator, MomentSummary
from ._budget import (
    check_sdp_size,
    counted_order,
    gaussian_observations,
    model_sdp_size,
    sdp_size,
)
from ._builtin import Gaussian1D, GaussianDiagonal, Poisson, check_counts
from ._model import ComponentModel
from ._moments import MomentSystem, mapping_system, streaming_system
from ._scaling import (
    _RELATIVE_SPREAD,
    Scaling,
    scaling_from_moments,
    standardizable,
    standardize_moments,
    weighted_spread,
)

__all__ = [
    "default_model",
    "resolve_model",
    "check_model_size",
    "check_model_data",
    "check_spread",
    "given_moments",
    "with_target",
    "StreamedData",
    "first_pass",
    "streamed_data",
    "streamed_system",
]

def default_model(n_features: int, n_components: int) -> ComponentModel:
    """The model used when ``model=None``: a diagonal Gaussian of the data's dimension.

    One feature: :class:`Gaussian1D` with moments up to ``3K`` (Pearson's 6 for K = 2).
    Several: :class:`GaussianDiagonal` with moments up to degree 4. K = 1: moments of degree
    <= 2 with unit degree weights (a moment matrix of order 1, 2d + 1 rows).

    Raises
    ------
    DataError
        Before the model is derived, when its moment SDP would exceed the memory budget
        (:func:`momix.polymom._budget.check_sdp_size`; with K = 2, 4 features need an
        estimated 155 MiB, 5 features 0.87 GiB, 10 features 374 GiB).
    MonomialError
        When ``n_components`` needs a moment matrix of order above 12 (one feature: moments
        up to :math:`x^{3K}`).
    """
    d, k = int(n_features), int(n_components)
    if k == 1:  # mean and variance suffice; unit degree weights keep r = 1
        weights, need, n_obs, ineq = (1,) * 2 * d, 2, gaussian_observations(d, 2), (1,) * d
    elif d == 1:
        weights, need, n_obs, ineq = (1, 1), 3 * k, 3 * k, (1,)
    else:
        weights, need, n_obs, ineq = (1,) * d + (2,) * d, 4, gaussian_observations(d, 4), (2,) * d
    size = sdp_size(weights, counted_order(weights, need, k), n_observations=n_obs,
                    inequality_degrees=ineq)
    check_sdp_size(size, what=f"model=None (a diagonal Gaussian) on {d} feature(s)",
                   n_components=k, advice="or pass a model with fewer parameters "
                   "(GaussianSpherical: one variance per component)")
    if k == 1:
        return GaussianDiagonal(d, order=2, weighted=False)
    if d == 1:
        return Gaussian1D(order=3 * k)
    return GaussianDiagonal(d, order=4)


def resolve_model(model: ComponentModel | None, n_features: int, n_components: int,
                  order: int | None = None):
    """``model``, or :func:`default_model` when None, checked against the data's width and
    against the memory budget of its moment SDP (:func:`check_model_size`)."""
    model = model or default_model(n_features, n_components)
    if model.n_features != n_features:
        raise DataError(f"the model expects {model.n_features} feature(s), X has {n_features}")
    check_model_size(model, n_components, order)
    return model


def check_model_size(model: ComponentModel, n_components: int, order: int | None) -> None:
    """Refuse a model whose moment SDP at ``order`` (None: the smallest that fits) would
    exceed the memory budget, before any moment is computed
    (:func:`momix.polymom._budget.check_sdp_size`)."""
    check_sdp_size(model_sdp_size(model, n_components, order), what=f"the {model.name} model",
                   n_components=n_components)


def check_model_data(Z: np.ndarray, sample_weight: np.ndarray, model: ComponentModel,
                     n_components: int) -> None:
    """Reject data the model cannot describe, before any moment is computed.

    * :class:`Poisson`: counts (:func:`check_counts`).
    * At least ``n_components`` distinct rows among the rows of positive weight (a mixture
      of more components than points is not identified).
    * Gaussian models with ``n_components >= 2``: no constant feature (weighted spread at
      most ``1e-10`` times its largest magnitude, the criterion of the standardisation). A
      constant feature forces every component's variance there to 0: the mixture has no
      density, and the moment SDP has no interior point, so the interior-point solver fails
      and the first-order fallback runs to its iteration limit on every solve (minutes).
      One component (its mean and variance are the sample's) is accepted.

    Raises
    ------
    DataError
        Naming the problem (and the constant features).
    """
    if isinstance(model, Poisson):
        check_counts(Z)
    check_distinct_rows(Z[sample_weight > 0], n_components, name="X (rows of positive weight)")
    _, spread, magnitude = weighted_spread(Z, sample_weight)
    check_spread(spread, magnitude, model, n_components)


def check_spread(
    spread: np.ndarray, magnitude: np.ndarray, model: ComponentModel, n_components: int
) -> None:
    """The constant-feature check of :func:`check_model_data` from each feature's weighted
    standard deviation and largest magnitude (also the statistics of a streamed first
    pass)."""
    if getattr(model, "family", None) != "gaussian" or n_components < 2:
        return
    constant = np.flatnonzero(np.asarray(spread) <= _RELATIVE_SPREAD * magnitude)
    if constant.size:
        raise DataError(f"feature(s) {constant.tolist()} of X are constant (among the rows of "
                        "positive weight): a Gaussian mixture has no density there; drop "
                        "them before fitting")


def given_moments(model: ComponentModel, moments, standardize: bool):
    """``(make_system, scaling)`` for ``Polymom.fit_moments``.

    ``make_system`` maps a model (with the profiled constants set) to its
    :class:`MomentSystem` from the user's mapping. Built-in Gaussian models without
    equalities or constants are fitted on the moments of :math:`x' = (x - m)/s` when
    ``standardize`` (:func:`momix.polymom._scaling.standardize_moments`); ``scaling`` is
    that map, or None.
    """
    if not (standardize and standardizable(model) and model.family == "gaussian"):
        return (lambda m: mapping_system(m, moments)), None
    system = mapping_system(model, moments)
    scaling, b = standardize_moments(model, system.b)
    return (lambda m: replace(system, b=b)), scaling  # such models have no constants


def with_target(X: np.ndarray, y, model: ComponentModel) -> np.ndarray:
    """The rows the model sees: ``X``, or ``[X, y]`` for a model that uses a target."""
    if not model.uses_target:
        return X
    if y is None:
        raise DataError(f"the {model.name} model needs the target y: call fit(X, y)")
    try:
        y = np.asarray(y, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"y must be numeric: {exc}") from None
    if y.shape[0] != X.shape[0] or not np.all(np.isfinite(y)):
        raise DataError("y must be finite with one value per row of X")
    return np.column_stack([X, check_magnitude(y, name="y")])


def first_pass(source: ChunkSource,
               n_distinct: int = 0) -> tuple[MomentSummary, np.ndarray, int]:
    """Weighted mean and covariance of the streamed data, the largest |x| per feature and
    the number of distinct rows of positive weight, counted up to ``n_distinct``.

    Weights are divided by the largest weight of the first chunk with a positive one, so a
    uniform scale of the weights (1e-300, 1e300) gives exactly the statistics of unit
    weights.

    Raises
    ------
    DataError
        When the weights span more than float64 can carry (the statistics overflow).
    """
    acc, magnitude, unit = MomentAccumulator(max_order=2), 0.0, 0.0
    rows: set[bytes] = set()
    for Xc, wc_ in source.chunks():
        wc = np.asarray(wc_, dtype=float)
        if unit == 0.0 and wc.size and float(np.max(wc)) > 0:
            unit = float(np.max(wc))
        acc.update(Xc, wc / unit if unit > 0 else wc)
        magnitude = np.maximum(magnitude, np.max(np.abs(Xc), axis=0))
        if len(rows) < n_distinct:
            positive = np.ascontiguousarray(np.asarray(Xc, dtype=float)[wc > 0])
            rows.update(r.tobytes() for r in np.unique(positive, axis=0)[:n_distinct])
    summary = acc.result()
    if not (np.all(np.isfinite(summary.mean)) and np.all(np.isfinite(summary.covariance))):
        raise DataError("the streamed sample weights span more than float64 can carry (the "
                        "weighted moments overflow); rescale the weights")
    return summary, magnitude, min(len(rows), n_distinct)


@dataclass(frozen=True)
class StreamedData:
    """Streamed rows after the first pass.

    Attributes
    ----------
    source : ChunkSource
        Re-readable chunks of the data.
    n_features : int
    model : ComponentModel
        The resolved model (:func:`resolve_model`).
    scaling : Scaling or None
        The standardisation of the second pass (None: the data's units).
    """

    source: ChunkSource
    n_features: int
    model: ComponentModel
    scaling: Scaling | None


def streamed_data(X, sample_weight, model, n_components: int, standardize: bool,
                  order: int | None = None) -> StreamedData:
    """First pass over streamed ``X``: its width, the model and the standardisation.

    Raises
    ------
    ValueError
        For a model that needs a target ``y`` (conditional models need the data in memory).
    DataError
        For a constant feature under a Gaussian model with two or more components
        (:func:`check_spread`).
    """
    source = ChunkSource.wrap(X, sample_weight)
    first, magnitude, distinct = first_pass(source, n_components)
    if distinct < n_components:
        raise DataError(f"X (rows of positive weight) has only {distinct} distinct row(s), "
                        f"fewer than n_components={n_components}; decrease n_components")
    n_features = first.mean.size
    model = resolve_model(model, n_features, n_components, order)
    if model.uses_target:
        raise ValueError(f"the {model.name} model needs the target y: load the data in memory")
    top = float(np.max(magnitude)) if np.size(magnitude) else 0.0
    if top > MAX_ABS_VALUE:
        raise DataError(f"X holds values of magnitude {top:.3g}, beyond the "
                        f"{MAX_ABS_VALUE:.0e} that momix can form moments of; rescale the data "
                        "(divide by a unit) first")
    var = np.diag(first.covariance)
    check_spread(np.sqrt(np.maximum(var, 0.0)), magnitude, model, n_components)
    scaling = None
    if standardize and standardizable(model):
        scaling = scaling_from_moments(first.mean, var, magnitude, model)
    return StreamedData(source, n_features, model, scaling)


def _checked_counts(chunks):
    """The chunks, each checked to hold counts (:func:`check_counts`), as in memory."""
    for Xc, wc in chunks:
        check_counts(np.asarray(Xc, dtype=float))
        yield Xc, wc


def streamed_system(
    source: ChunkSource, scaling: Scaling | None, model: ComponentModel
) -> MomentSystem:
    """Empirical moment system of ``model`` from a fresh pass over the (standardised) chunks."""
    chunks = source.chunks()
    if isinstance(model, Poisson):
        chunks = _checked_counts(chunks)
    if scaling is not None:
        chunks = ((scaling.transform(Xc), wc) for Xc, wc in chunks)
    return streaming_system(model, chunks)
