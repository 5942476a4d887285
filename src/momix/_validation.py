"""Entry checks shared by every momix estimator.

Estimators validate once, at the door, with these helpers; numerical kernels assume checked
float64 arrays and never re-check. Every failure is a :class:`momix.exceptions.DataError`
(a ``ValueError``) whose message names the problem and, where one exists, the fix.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils.validation import validate_data

from .exceptions import DataError

__all__ = [
    "MAX_ABS_VALUE",
    "check_magnitude",
    "check_fit_data",
    "check_distinct_rows",
    "count_distinct_rows",
    "check_sample_weight",
    "check_n_components",
    "check_rng",
    "check_finite_params",
]


#: largest magnitude accepted in data: squares and products of such values stay finite in
#: float64 sums over up to 1e100 rows, so every moment a method forms after centring and scaling
#: is representable; larger values are refused with a request to rescale
MAX_ABS_VALUE = 1e100


def check_magnitude(X: np.ndarray, *, name: str = "X") -> np.ndarray:
    """Refuse values whose magnitude float64 moment arithmetic cannot carry.

    A value :math:`|x| > 10^{100}` makes second moments overflow before any standardisation can
    help (:math:`x^2 > 10^{200}` summed over rows, fourth moments past ``1.8e308``), so such
    data is refused with :class:`DataError` asking the user to rescale (divide by a unit). Tiny
    magnitudes are accepted: every estimator standardises or centres before it forms moments.
    """
    if X.size:
        top = float(np.max(np.abs(X)))
        if top > MAX_ABS_VALUE:
            raise DataError(
                f"{name} holds values of magnitude {top:.3g}, beyond the {MAX_ABS_VALUE:.0e} "
                "that momix can form moments of; rescale the data (divide by a unit) first"
            )
    return X


def check_fit_data(estimator, X, *, reset: bool = True, min_samples: int = 1) -> np.ndarray:
    """Validate ``X`` through scikit-learn (sets ``n_features_in_``) and return float64.

    scikit-learn's own messages are kept for the conditions its estimator checks test
    (NaN/inf, complex, empty, 1-D input), raised as :class:`DataError`; momix adds the
    ``min_samples`` check and refuses magnitudes above :data:`MAX_ABS_VALUE`
    (:func:`check_magnitude`).
    """
    try:
        X = validate_data(
            estimator, X, reset=reset, dtype=np.float64, ensure_min_samples=min_samples
        )
    except DataError:
        raise
    except ValueError as exc:  # scikit-learn's message, raised as momix's DataError
        raise DataError(str(exc)) from None
    return check_magnitude(np.asarray(X, dtype=np.float64))


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """Return sample weights as a float64 vector of length ``n_samples`` with mean 1.

    ``None`` means unit weights. Weights must be finite and non-negative with a positive sum.
    They are rescaled to mean one, :math:`w_i \\leftarrow n\\, w_i / \\sum_j w_j` (through
    :math:`w / \\max w` first, so neither ``1e-300`` nor ``1e300`` under- or overflows): a
    uniform scale of the weights changes no estimate, and relative weights are kept, so a
    weight of 2 counts a row as twice another.
    """
    if sample_weight is None:
        return np.ones(n_samples)
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"sample_weight must be numeric: {exc}") from None
    if w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.shape != (n_samples,):
        raise DataError(f"sample_weight has shape {w.shape}; expected ({n_samples},)")
    if not np.all(np.isfinite(w)):
        raise DataError("sample_weight contains NaN or infinite values")
    if np.any(w < 0):
        raise DataError("sample_weight must be non-negative")
    top = float(w.max()) if n_samples else 0.0
    if top <= 0:
        raise DataError("sample_weight sums to zero; at least one sample needs positive weight")
    w = w / top
    return w * (n_samples / w.sum())


def check_n_components(n_components: int, n_samples: int, *, per_component: int = 1) -> None:
    """Raise if the data cannot support ``n_components`` components.

    Parameters
    ----------
    per_component : int
        Samples needed per component (for instance one per free parameter direction).
    """
    if not isinstance(n_components, Integral) or n_components < 1:
        raise DataError(f"n_components must be a positive integer, got {n_components!r}")
    need = n_components * per_component
    if n_samples < need:
        raise DataError(
            f"n_components={n_components} needs at least {need} samples, "
            f"got n_samples={n_samples}; "
            "decrease n_components or provide more data"
        )


def count_distinct_rows(X: np.ndarray, stop: int) -> int:
    """Number of distinct rows of ``X``, counted only up to ``stop``.

    Rows are read in growing blocks (``4 * stop``, then doubling), so data with many distinct
    rows costs one small :func:`numpy.unique`, not a sort of the whole array.
    """
    n = X.shape[0]
    size = max(4 * stop, 64)
    while True:
        found = np.unique(np.asarray(X[:size]), axis=0).shape[0]
        if found >= stop or size >= n:
            return min(found, stop)
        size *= 2


def check_distinct_rows(X: np.ndarray, n_components: int, *, name: str = "X") -> None:
    """Raise :class:`DataError` if ``X`` has fewer distinct rows than ``n_components``.

    A mixture of ``K`` components needs at least ``K`` distinct points: with fewer, some
    components are copies of others and the fit is not identified.
    """
    distinct = count_distinct_rows(X, n_components)
    if distinct < n_components:
        raise DataError(
            f"{name} has only {distinct} distinct row(s), fewer than "
            f"n_components={n_components}; decrease n_components"
        )


def check_rng(random_state) -> np.random.Generator:
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    Accepts ``None`` (fresh entropy), an integer seed, a ``Generator`` (used as is) or a
    legacy ``RandomState`` (a seed is drawn from it, so the legacy stream advances).
    """
    if random_state is None or isinstance(random_state, (Integral, np.integer)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    raise DataError(
        f"random_state must be None, an int, a Generator or a RandomState, got {random_state!r}"
    )


def check_finite_params(owner: str, **params) -> None:
    """Raise :class:`momix.exceptions.NumericalError` naming any parameter that is not finite.

    Parameters
    ----------
    owner : str
        Estimator (or routine) name for the message.
    **params
        Arrays or numbers; non-numeric values are skipped.
    """
    from .exceptions import NumericalError

    bad = []
    for name, value in params.items():
        arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            bad.append(name)
    if bad:
        raise NumericalError(
            f"{owner} produced non-finite values in {', '.join(bad)}; the data are probably "
            "degenerate for this model (near-constant or collinear columns, too few distinct "
            "rows, extreme scales): rescale the data or decrease n_components"
        )
