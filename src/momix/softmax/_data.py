"""Entry validation of softmax-mixture data: one function per layout.

* ``X`` of shape (p, L): one item set; ``y`` are chosen item indices (N,) **or** ``counts``
  (p,) are the number of times each item was chosen (never both). ``groups`` is not
  accepted (with repeated choices per individual the counts are no longer sufficient; pass
  the choice situations as an (N, p, L) array instead). For data larger than memory ``y``
  may also be given in chunks (a dask array, a list of 1-D arrays, a callable returning an
  iterator of them, or an iterator): the counts are accumulated in one pass
  (:func:`accumulate_counts`).
* ``X`` of shape (N, J, L): one choice situation per observation; ``y`` (N,) are the chosen
  alternatives; ``groups`` (N,) optional panel labels (any hashable values).

``sample_weight`` (frequency weights, validated by
:func:`momix._validation.check_sample_weight`) enters as a multiplicity of the independent
unit of the likelihood, so a weight of 2 counts like the unit twice and a uniform scale of the
weights changes nothing:

* item set with ``y``: one weight per observation; the counts become the weighted counts
  :math:`n_j = \\sum_{i: y_i = j} w_i` (weights of mean 1, so the total stays N);
* item set with ``counts``: one weight per item, multiplying its count; the weighted counts
  are rescaled to the total of ``counts`` (the number of observations is unchanged);
* choice situations: one weight per observation. Without ``groups`` every observation is a
  unit. With ``groups`` the unit is the group (its observations share one class, and its
  likelihood :math:`\\sum_k \\alpha_k \\prod_{i \\in g} \\pi_{y_i}(\\theta_k)` does not
  factor over them), so the weight must be constant within each group; it weights the
  group's log-likelihood. The group weights are rescaled to mean 1 over the groups.

Units of weight 0 drop out of the fit; :func:`check_units` requires at least K distinct
units of positive weight, and no more free parameters than the data have free choice
probabilities.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array

from .._validation import (
    check_fit_data,
    check_magnitude,
    check_sample_weight,
    count_distinct_rows,
)
from ..exceptions import DataError
from ._model import ChoiceSetData, ItemSetData

__all__ = [
    "accumulate_counts", "as_item_set", "as_choice_sets", "check_choices", "check_features",
    "centre_features", "check_units", "standardise", "to_model_data",
]


#: smallest within-situation spread (largest deviation from the situation mean) of a feature
#: column: coefficients of order one in standardised units become ``1 / spread`` in the
#: units of ``X``, and stay finite in float64 down to this spread
MIN_SPREAD = 1e-300


def check_choices(y, n_alternatives: int, n_obs: int | None = None, name: str = "y") -> np.ndarray:
    """Return chosen indices as ``intp``; they must be integers in ``[0, n_alternatives)``."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{name} must be a non-empty 1-D array of chosen indices, "
                        f"got shape {arr.shape}")
    try:
        values = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} must hold integer indices of the chosen alternatives") from None
    if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
        raise DataError(f"{name} must hold integer indices of the chosen alternatives")
    if values.min() < 0 or values.max() >= n_alternatives:
        raise DataError(f"{name} holds indices outside [0, {n_alternatives}); "
                        f"they index the rows (alternatives) of X")
    if n_obs is not None and arr.shape[0] != n_obs:
        raise DataError(f"{name} has {arr.shape[0]} entries; X has {n_obs} choice situations")
    return values.astype(np.intp)


def check_counts(counts, n_items: int) -> np.ndarray:
    """Return choice counts as float64 (p,); non-negative, finite, positive total."""
    try:
        c = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError("counts must be numeric: one count per item") from None
    if c.shape != (n_items,):
        raise DataError(f"counts has shape {c.shape}; expected ({n_items},), one count per item")
    if not np.all(np.isfinite(c)) or np.any(c < 0) or c.sum() <= 0:
        raise DataError("counts must be finite, non-negative and not all zero")
    return check_magnitude(c, name="counts")


def _weighted_counts(counts: np.ndarray, sample_weight) -> np.ndarray:
    """``counts`` times per-item weights, rescaled to the total of ``counts``."""
    w = check_sample_weight(sample_weight, counts.shape[0])
    cw = counts * w
    total = cw.sum()
    if total <= 0:
        raise DataError("the sample weights are 0 (or underflow to 0) on every item with a "
                        "positive count")
    factor = counts.sum() / total
    if not np.isfinite(factor):  # total near the underflow limit: rescale it to order one first
        cw = cw / cw.max()
        factor = counts.sum() / cw.sum()
    return cw * factor


def check_features(estimator, X, *, reset: bool) -> np.ndarray:
    """Validate an item set (p, L) through scikit-learn, or choice situations (N, J, L).

    Sets (``reset=True``) or checks ``n_features_in_`` = L, the number of features per
    alternative. Values of magnitude above :data:`momix._validation.MAX_ABS_VALUE` are
    refused in both layouts. scikit-learn's messages (NaN or infinite values, empty or
    non-numeric arrays, a wrong number of features) are kept, raised as
    :class:`~momix.exceptions.DataError` (a ``TypeError`` stays a ``TypeError``).
    """
    try:
        return _check_features(estimator, X, reset)
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(str(exc)) from None
    except TypeError as exc:
        raise TypeError(str(exc)) from None


def _check_features(estimator, X, reset: bool) -> np.ndarray:
    arr = np.asarray(X) if not hasattr(X, "shape") else X
    if getattr(arr, "ndim", 2) != 3:
        return check_fit_data(estimator, X, reset=reset)
    F = check_magnitude(check_array(X, allow_nd=True, dtype=np.float64, input_name="X"))
    if F.shape[1] < 1 or F.shape[2] < 1:
        raise DataError(f"X of shape {F.shape} has no alternatives or no features")
    if reset:
        estimator.n_features_in_ = F.shape[2]
    elif F.shape[2] != estimator.n_features_in_:
        raise DataError(f"X has {F.shape[2]} features per alternative, but "
                        f"{type(estimator).__name__} was fitted with {estimator.n_features_in_}")
    return F


def as_item_set(X: np.ndarray, y, counts, sample_weight=None) -> ItemSetData:
    """Item-set data from ``X`` (p, L) and exactly one of ``y`` or ``counts``.

    ``sample_weight``: per observation with ``y``, per item with ``counts`` (module
    docstring); not with chunked ``y``.
    """
    p = X.shape[0]
    if p < 2:
        raise DataError(f"X has {p} sample (item); an item set needs at least 2 items")
    if (y is None) == (counts is None):
        raise DataError("SoftmaxMixture requires y to be passed, but the target y is None "
                        "(pass the chosen item indices as y, or counts= per item)" if y is None else
                        "pass either y (chosen item indices) or counts, not both")
    if counts is not None:
        c = check_counts(counts, p)
        return ItemSetData(X, c if sample_weight is None else _weighted_counts(c, sample_weight))
    if _is_chunked(y):
        if sample_weight is not None:
            raise DataError("sample_weight is not taken with y in chunks; pass the weighted "
                            "counts per item as counts= instead")
        return ItemSetData(X, check_counts(accumulate_counts(y, p), p))
    choices = check_choices(y, p)
    w = check_sample_weight(sample_weight, choices.shape[0])
    return ItemSetData(X, np.bincount(choices, weights=w, minlength=p))


def _is_chunked(y) -> bool:
    from ..moments._sources import is_dask_array

    if is_dask_array(y) or callable(y):
        return True
    if isinstance(y, (list, tuple)):
        return len(y) > 0 and isinstance(y[0], np.ndarray) and y[0].ndim == 1
    return not hasattr(y, "__len__") and hasattr(y, "__iter__")


def _chunk_counts(chunk, n_items: int) -> np.ndarray:
    return np.bincount(check_choices(chunk, n_items), minlength=n_items).astype(np.float64)


def accumulate_counts(y, n_items: int) -> np.ndarray:
    """Choice counts (p,) of chosen item indices given in chunks, in one pass.

    For a fixed item set the counts are sufficient statistics, so ``y`` may be a dask
    array (one counting task per block on dask's scheduler; only the (p,) counts travel),
    a list of 1-D arrays, a callable returning an iterator of them, or any iterator.
    """
    from ..moments._sources import is_dask_array

    if is_dask_array(y):
        import dask

        task = dask.delayed(_chunk_counts)
        parts = dask.compute(*[task(b, n_items) for b in y.to_delayed().ravel()])
    else:
        parts = [_chunk_counts(c, n_items) for c in (y() if callable(y) else y)]
    if not parts:
        raise DataError("y is empty: no chunks of chosen item indices were given")
    return np.sum(parts, axis=0)


def as_choice_sets(F: np.ndarray, y, groups, sample_weight=None) -> ChoiceSetData:
    """Choice-situation data from ``F`` (N, J, L), chosen alternatives ``y``, optional groups.

    ``sample_weight`` (N,): per observation; with ``groups`` it must be constant within each
    group and weights the group (module docstring).
    """
    n = F.shape[0]
    if y is None:
        raise DataError("SoftmaxMixture requires y to be passed, but the target y is None "
                        "(pass the chosen alternative of each choice situation)")
    choices = check_choices(y, F.shape[1], n)
    if groups is None:
        codes = np.arange(n)
    else:
        g = np.asarray(groups)
        if g.shape != (n,):
            raise DataError(f"groups has shape {g.shape}; expected ({n},), one label per situation")
        try:
            _, codes = np.unique(g, return_inverse=True)
        except TypeError:
            raise DataError("groups must be labels of one comparable type "
                            "(all numbers or all strings)") from None
    n_groups = int(codes.max()) + 1
    unit_weights = None
    if sample_weight is not None:
        w = check_sample_weight(sample_weight, n)
        v = np.zeros(n_groups)
        v[codes] = w
        if groups is not None and np.any(w != v[codes]):
            raise DataError("sample_weight must be constant within each group: the group is "
                            "the unit of the panel likelihood, and its weight multiplies the "
                            "group's log-likelihood")
        unit_weights = v * (n_groups / v.sum())
        if np.all(unit_weights == 1.0):  # uniform weights: exactly the unweighted data
            unit_weights = None
    return ChoiceSetData(F, choices, codes.astype(np.intp), n_groups, unit_weights)


def to_model_data(X: np.ndarray, y, counts, groups,
                  sample_weight=None) -> ItemSetData | ChoiceSetData:
    """Dispatch on ``X.ndim``: (p, L) item set or (N, J, L) choice situations."""
    if X.ndim == 2:
        if groups is not None:
            raise DataError("groups apply to per-observation choice situations X of shape "
                            "(N, J, L); for panels over one item set pass "
                            "np.broadcast_to(X, (N, p, L))")
        return as_item_set(X, y, counts, sample_weight)
    if counts is not None:
        raise DataError("counts apply to an item set X of shape (p, L); for choice "
                        "situations (N, J, L) pass the chosen alternatives as y")
    return as_choice_sets(X, y, groups, sample_weight)


def _distinct_rows(data: ChoiceSetData, stop: int, *, with_choice: bool) -> int:
    """Distinct situations (or (situation, choice) pairs) among the observations of positive
    weight, counted up to ``stop`` (in growing blocks, as
    :func:`momix._validation.count_distinct_rows`)."""
    keep = np.flatnonzero(data.weights_per_unit[data.groups] > 0)
    size = max(4 * stop, 64)
    while True:
        rows = keep[:size]
        block = data.features[rows].reshape(rows.size, -1)
        if with_choice:
            block = np.concatenate([block, data.choices[rows, None].astype(np.float64)], axis=1)
        found = count_distinct_rows(block, stop)
        if found >= stop or size >= keep.size:
            return min(found, stop)
        size *= 2


def check_units(data: ItemSetData | ChoiceSetData, n_components: int) -> None:
    """Raise :class:`DataError` if the data cannot identify ``n_components`` classes.

    * Item set: the chosen items (positive count) must number at least ``n_components``,
      and the :math:`K(L + 1) - 1` free parameters of the mixture at most the
      :math:`p - 1` free choice probabilities of the p items (more parameters than the
      multinomial has cells cannot be identified from any amount of data).
    * Choice situations: the units of positive weight (groups, or observations without
      groups) and the distinct (features, choice) observations among them must each
      number at least ``n_components``; without groups, the free parameters must also be
      at most the :math:`m (J - 1)` choice probabilities of the m distinct situations.
      (With groups, sequences of choices identify more, and no such count applies.)

    With fewer, classes are copies of one another or the fit is not identified.
    """
    K = n_components
    fix = "decrease n_components"
    if isinstance(data, ItemSetData):
        p, L = data.features.shape
        chosen = int(np.count_nonzero(data.counts > 0))
        if chosen < K:
            raise DataError(f"the data have {chosen} chosen item(s) of positive weight, fewer "
                            f"than n_components={K}; {fix}")
        need = K * (L + 1) - 1
        if need > p - 1:
            raise DataError(f"n_components={K} classes with {L} coefficient(s) each have {need} "
                            f"free parameters, more than the {p - 1} free choice probabilities "
                            f"of an item set of {p} items; {fix} (at most "
                            f"{max(p // (L + 1), 1)} here)")
        return
    N, J, L = data.features.shape
    unit = "group(s)" if data.n_groups < N else "observation(s)"
    units = int(np.count_nonzero(data.weights_per_unit > 0))
    if units < K:
        raise DataError(f"the data have {units} {unit} of positive weight, fewer than "
                        f"n_components={K}; {fix}")
    distinct = _distinct_rows(data, K, with_choice=True)
    if distinct < K:
        raise DataError(f"the data have {distinct} distinct observation(s) (situation and "
                        f"choice) of positive weight, fewer than n_components={K}; {fix}")
    if data.n_groups == N and J > 1:
        need = K * (L + 1) - 1
        situations = -(-need // (J - 1))
        found = _distinct_rows(data, situations, with_choice=False)
        if found < situations:
            raise DataError(f"n_components={K} classes with {L} coefficient(s) each have {need} "
                            f"free parameters, more than the {found * (J - 1)} free choice "
                            f"probabilities of the {found} distinct choice situation(s) of "
                            f"positive weight; {fix}")


def centre_features(data: ItemSetData | ChoiceSetData) -> ItemSetData | ChoiceSetData:
    """The same data with the features centred in every situation (same probabilities)."""
    F = data.situations
    centred = F - F.mean(axis=1, keepdims=True)
    if isinstance(data, ItemSetData):
        return ItemSetData(centred[0], data.counts)
    return ChoiceSetData(centred, data.choices, data.groups, data.n_groups, data.unit_weights)


def standardise(data: ItemSetData | ChoiceSetData):
    """Centre the features in every situation and scale each column to largest magnitude 1.

    Softmax probabilities are unchanged by adding one vector to every alternative of a
    situation, and scaling feature ``l`` by :math:`1/s_l` maps coefficient
    :math:`\\theta_l` to :math:`s_l\\theta_l`, so fitting the standardised data and dividing
    its coefficients by ``scale`` is the same fit. It keeps EM's arithmetic on the scale of
    one whatever the offsets (1e8) or magnitudes (1e-300 to 1e100) of the data.

    Returns
    -------
    data : ItemSetData or ChoiceSetData
        Same layout, standardised features.
    scale : ndarray of shape (L,)
        :math:`s_l`; ``coefs = fitted_coefs / scale``.

    Raises
    ------
    DataError
        If a column is constant within every situation (its coefficient is not identified)
        or varies by less than :data:`MIN_SPREAD` (its coefficient would overflow).
    """
    centred = centre_features(data).situations
    scale = np.max(np.abs(centred), axis=(0, 1))
    flat = np.flatnonzero(scale == 0)
    if flat.size:
        raise DataError(f"feature column(s) {flat.tolist()} are constant within every choice "
                        "situation, so their coefficients are not identified; drop them")
    tiny = np.flatnonzero(scale < MIN_SPREAD)
    if tiny.size:
        raise DataError(f"feature column(s) {tiny.tolist()} vary by less than {MIN_SPREAD:.0e} "
                        "within the choice situations: their coefficients would exceed the "
                        "float64 range; rescale them (multiply by a unit)")
    centred /= scale
    if isinstance(data, ItemSetData):
        return ItemSetData(centred[0], data.counts), scale
    return ChoiceSetData(centred, data.choices, data.groups, data.n_groups,
                         data.unit_weights), scale
