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
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array

from .._validation import check_fit_data
from ..exceptions import DataError
from ._model import ChoiceSetData, ItemSetData

__all__ = [
    "accumulate_counts", "as_item_set", "as_choice_sets", "check_choices", "check_features",
    "to_model_data",
]


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
    c = np.asarray(counts, dtype=np.float64)
    if c.shape != (n_items,):
        raise DataError(f"counts has shape {c.shape}; expected ({n_items},), one count per item")
    if not np.all(np.isfinite(c)) or np.any(c < 0) or c.sum() <= 0:
        raise DataError("counts must be finite, non-negative and not all zero")
    return c


def check_features(estimator, X, *, reset: bool) -> np.ndarray:
    """Validate an item set (p, L) through scikit-learn, or choice situations (N, J, L).

    Sets (``reset=True``) or checks ``n_features_in_`` = L, the number of features per
    alternative.
    """
    arr = np.asarray(X) if not hasattr(X, "shape") else X
    if getattr(arr, "ndim", 2) != 3:
        return check_fit_data(estimator, X, reset=reset)
    F = check_array(X, allow_nd=True, dtype=np.float64, input_name="X")
    if F.shape[1] < 1 or F.shape[2] < 1:
        raise DataError(f"X of shape {F.shape} has no alternatives or no features")
    if reset:
        estimator.n_features_in_ = F.shape[2]
    elif F.shape[2] != estimator.n_features_in_:
        raise DataError(f"X has {F.shape[2]} features per alternative, but "
                        f"{type(estimator).__name__} was fitted with {estimator.n_features_in_}")
    return F


def as_item_set(X: np.ndarray, y, counts) -> ItemSetData:
    """Item-set data from ``X`` (p, L) and exactly one of ``y`` or ``counts``."""
    p = X.shape[0]
    if p < 2:
        raise DataError(f"X has {p} sample (item); an item set needs at least 2 items")
    if (y is None) == (counts is None):
        raise DataError("SoftmaxMixture requires y to be passed, but the target y is None "
                        "(pass the chosen item indices as y, or counts= per item)" if y is None else
                        "pass either y (chosen item indices) or counts, not both")
    if counts is not None:
        return ItemSetData(X, check_counts(counts, p))
    if _is_chunked(y):
        return ItemSetData(X, check_counts(accumulate_counts(y, p), p))
    choices = check_choices(y, p)
    return ItemSetData(X, np.bincount(choices, minlength=p).astype(np.float64))


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


def as_choice_sets(F: np.ndarray, y, groups) -> ChoiceSetData:
    """Choice-situation data from ``F`` (N, J, L), chosen alternatives ``y`` and optional groups."""
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
        _, codes = np.unique(g, return_inverse=True)
    return ChoiceSetData(F, choices, codes.astype(np.intp), int(codes.max()) + 1)


def to_model_data(X: np.ndarray, y, counts, groups) -> ItemSetData | ChoiceSetData:
    """Dispatch on ``X.ndim``: (p, L) item set or (N, J, L) choice situations."""
    if X.ndim == 2:
        if groups is not None:
            raise DataError("groups apply to per-observation choice situations X of shape "
                            "(N, J, L); for panels over one item set pass "
                            "np.broadcast_to(X, (N, p, L))")
        return as_item_set(X, y, counts)
    if counts is not None:
        raise DataError("counts apply to an item set X of shape (p, L); for choice "
                        "situations (N, J, L) pass the chosen alternatives as y")
    return as_choice_sets(X, y, groups)
