"""The bad-input contract of momix estimators, as checks a test (or a user) can run.

Every momix estimator promises, for any input, one of two outcomes:

(a) **a deliberate error**: an exception raised by momix's own code (the innermost frame of
    its traceback is in the ``momix`` package) or by scikit-learn's input and parameter
    validation at the door, of a documented kind (:class:`momix.exceptions.DataError`,
    :class:`~momix.exceptions.NumericalError`, :class:`~momix.exceptions.SolverError`,
    scikit-learn's ``InvalidParameterError``, or another ``ValueError``/``TypeError`` raised
    by momix with a message), never a ``LinAlgError``, ``FloatingPointError``,
    ``OverflowError``, ``ZeroDivisionError``, ``MemoryError``, ``IndexError``, ``KeyError``
    or ``AttributeError``, and never an error raised deep inside numpy, scipy, cvxpy or torch;
(b) **a valid fit**: every fitted float attribute finite, mixture weights non-negative and
    summing to one, covariances symmetric positive definite, posterior probabilities in
    [0, 1] summing to one, finite scores.

:func:`check_error` and :func:`check_fitted` test one side each; :func:`check_outcome` runs
a fit and applies the right one. The property-based tests of every estimator use them, and
so can a user who wraps a momix estimator.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["check_error", "check_fitted", "check_outcome", "ContractViolation"]

_MOMIX_DIR = Path(__file__).resolve().parent

#: exception types that always mean an unhandled numerical or programming failure
_FORBIDDEN = (
    np.linalg.LinAlgError,
    FloatingPointError,
    OverflowError,
    ZeroDivisionError,
    MemoryError,
    IndexError,
    KeyError,
    AttributeError,
)

#: scikit-learn modules whose errors are momix's door checks (input and parameter validation)
_SKLEARN_DOOR = ("sklearn/utils/validation.py", "sklearn/utils/_param_validation.py")


class ContractViolation(AssertionError):
    """An estimator broke the bad-input contract; the message says how."""


def _innermost_file(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return frames[-1].filename if frames else ""


def check_error(exc: BaseException) -> None:
    """Raise :class:`ContractViolation` unless ``exc`` is a deliberate, documented error.

    Parameters
    ----------
    exc : BaseException
        An exception caught from a momix call (with its traceback).
    """
    where = _innermost_file(exc)
    described = f"{type(exc).__module__}.{type(exc).__name__}: {exc} (raised in {where})"
    if isinstance(exc, _FORBIDDEN):
        raise ContractViolation(f"forbidden exception type {described}") from exc
    if not isinstance(exc, (ValueError, TypeError, RuntimeError)):
        raise ContractViolation(f"undocumented exception type {described}") from exc
    in_momix = Path(where).resolve().is_relative_to(_MOMIX_DIR) if where else False
    at_door = where.replace("\\", "/").endswith(_SKLEARN_DOOR)
    if not (in_momix or at_door):
        raise ContractViolation(f"error raised outside momix's own checks: {described}") from exc
    if not str(exc).strip():
        raise ContractViolation(f"error without a message: {described}") from exc


def _proba_ok(proba: np.ndarray) -> bool:
    return bool(
        np.all(np.isfinite(proba))
        and np.all(proba >= -1e-12)
        and np.all(proba <= 1 + 1e-12)
        and np.allclose(proba.sum(axis=1), 1.0, atol=1e-8)
    )


def _n_positional(parameters) -> int:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters.values()):
        return 1 << 30
    return sum(p.kind in kinds for p in parameters.values())


def check_fitted(estimator: Any, *args, **kwargs) -> None:
    """Raise :class:`ContractViolation` unless ``estimator`` holds a valid fit.

    Parameters
    ----------
    estimator : fitted momix estimator
    *args, **kwargs
        The data it was fitted on, passed to ``predict_proba``, ``score`` and
        ``score_samples`` where it has them (methods that raise a momix error because the
        fitted model does not define them are accepted).
    """
    name = type(estimator).__name__
    for attr, value in vars(estimator).items():
        if attr.startswith("_") or not attr.endswith("_"):
            continue
        if attr in getattr(estimator, "_nonfinite_attributes", ()):
            continue
        arr = np.asarray(value) if isinstance(value, (np.ndarray, float, np.floating)) else None
        if arr is not None and arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            raise ContractViolation(f"{name}.{attr} holds non-finite values")
    weights = getattr(estimator, "weights_", None)
    if weights is not None:
        weights = np.asarray(weights)
        if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0, atol=1e-8):
            raise ContractViolation(f"{name}.weights_ = {weights} is not a probability vector")
    covariances = getattr(estimator, "covariances_", None)
    if isinstance(covariances, np.ndarray) and covariances.ndim == 3:
        for k, cov in enumerate(covariances):
            if not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-12 * np.abs(cov).max()):
                raise ContractViolation(f"{name}.covariances_[{k}] is not symmetric")
            if np.linalg.eigvalsh((cov + cov.T) / 2).min() <= 0:
                raise ContractViolation(f"{name}.covariances_[{k}] is not positive definite")
    checks: dict[str, Callable[[Any], bool]] = {
        "predict_proba": lambda out: _proba_ok(np.asarray(out, dtype=float)),
        "score_samples": lambda out: bool(np.all(np.isfinite(out))),
        "score": lambda out: bool(np.isfinite(out)),
    }
    for method, ok in checks.items():
        if not hasattr(estimator, method):
            continue
        bound = getattr(estimator, method)
        accepted = inspect.signature(bound).parameters
        given = {k: v for k, v in kwargs.items() if k in accepted}
        try:
            out = bound(*args[: _n_positional(accepted)], **given)
        except Exception as exc:  # a model without a likelihood refuses, deliberately
            check_error(exc)
            continue
        if not ok(out):
            raise ContractViolation(f"{name}.{method} returned an invalid result: {out!r:.200}")


def check_outcome(make: Callable[[], Any], *args, **kwargs) -> BaseException | None:
    """Fit ``make()`` on ``args``/``kwargs`` and check the contract's outcome.

    Returns the deliberate exception when the fit refused the input (outcome (a)), or
    ``None`` after a valid fit (outcome (b)); raises :class:`ContractViolation` otherwise.
    """
    estimator = make()
    try:
        estimator.fit(*args, **kwargs)
    except Exception as exc:
        check_error(exc)
        return exc
    check_fitted(estimator, *args, **kwargs)
    return None
