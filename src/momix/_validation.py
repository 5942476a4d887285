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
    "check_data",
    "check_fit_data",
    "check_sample_weight",
    "check_n_components",
    "check_rng",
    "check_finite_params",
]


def check_data(X, *, name: str = "X", min_samples: int = 1, ensure_2d: bool = True) -> np.ndarray:
    """Return ``X`` as a finite float64 array, or raise a clear :class:`DataError`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        Name used in error messages.
    min_samples : int
        Fewest rows accepted.
    ensure_2d : bool
        If True, a 1-D input is an error (reshape it with ``X.reshape(-1, 1)``).
    """
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}") from None
    if ensure_2d and arr.ndim != 2:
        hint = " (use X.reshape(-1, 1) for a single feature)" if arr.ndim == 1 else ""
        raise DataError(
            f"{name} must be 2-D of shape (n_samples, n_features), got {arr.shape}{hint}"
        )
    if arr.shape[0] < min_samples:
        raise DataError(f"{name} has {arr.shape[0]} sample(s); at least {min_samples} are needed")
    if arr.ndim == 2 and arr.shape[1] < 1:
        raise DataError(f"{name} has 0 features")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise DataError(
            f"{name} contains {bad} NaN or infinite value(s); remove or impute them first"
        )
    return arr


def check_fit_data(estimator, X, *, reset: bool = True, min_samples: int = 1) -> np.ndarray:
    """Validate ``X`` through scikit-learn (sets ``n_features_in_``) and return float64.

    scikit-learn's own messages are kept for the conditions its estimator checks test
    (NaN/inf, complex, empty, 1-D input, sparse input); momix adds the ``min_samples`` check.
    """
    X = validate_data(estimator, X, reset=reset, dtype=np.float64, ensure_min_samples=min_samples)
    return np.asarray(X, dtype=np.float64)


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """Return sample weights as a float64 vector of length ``n_samples``.

    ``None`` means unit weights. Weights must be finite and non-negative with a positive sum.
    """
    if sample_weight is None:
        return np.ones(n_samples)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.shape != (n_samples,):
        raise DataError(f"sample_weight has shape {w.shape}; expected ({n_samples},)")
    if not np.all(np.isfinite(w)):
        raise DataError("sample_weight contains NaN or infinite values")
    if np.any(w < 0):
        raise DataError("sample_weight must be non-negative")
    if w.sum() <= 0:
        raise DataError("sample_weight sums to zero; at least one sample needs positive weight")
    return w


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


def check_finite_params(**params: np.ndarray) -> None:
    """Raise :class:`momix.exceptions.NumericalError` if any fitted parameter is not finite."""
    from .exceptions import NumericalError

    for name, value in params.items():
        if not np.all(np.isfinite(value)):
            raise NumericalError(
                f"fitted {name} contains non-finite values; "
                "scale the data or change the initialisation"
            )
