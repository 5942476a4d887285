"""The bad-input contract of issue 15 for SoftmaxMixture, as one checking function.

It applies :mod:`momix.testing` (the project-wide checks) and, on top, the stricter reading
below: every method is exercised, predictions and samples must be in range, and an error's
innermost frame must be in momix's own source (scikit-learn's input validation is wrapped
into DataError at SoftmaxMixture's door, so its messages surface from momix).

For any input, ``fit`` and then predict / predict_proba / score / score_samples / sample /
bic / aic either

(a) raise an exception momix raises on purpose: a momix exception (DataError, NumericalError,
    SolverError, UntrustedFileError) or a plain ValueError / TypeError whose innermost
    traceback frame is in momix's own source -- or scikit-learn's InvalidParameterError /
    NotFittedError, which scikit-learn's parameter validation and ``check_is_fitted`` raise on
    momix's behalf; never LinAlgError, FloatingPointError, OverflowError, ZeroDivisionError,
    MemoryError, IndexError, KeyError, AttributeError, nor anything raised inside
    numpy / scipy / scikit-learn; or
(b) return a valid fit: every fitted float attribute finite, ``weights_`` non-negative summing
    to 1 with ``n_components`` entries, ``predict_proba`` rows in [0, 1] summing to 1, ``score``
    / ``score_samples`` / ``bic`` / ``aic`` finite, predictions and samples in range.
"""

from __future__ import annotations

import time
import traceback
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

import momix
import momix.testing
from momix.exceptions import DataError, NumericalError, SolverError
from momix.io import UntrustedFileError

MOMIX_SRC = Path(momix.__file__).resolve().parent
FORBIDDEN = (np.linalg.LinAlgError, FloatingPointError, OverflowError, ZeroDivisionError,
             MemoryError, IndexError, KeyError, AttributeError)
MOMIX_ERRORS = (DataError, NumericalError, SolverError, UntrustedFileError)
SKLEARN_API_ERRORS = (InvalidParameterError, NotFittedError)
#: seconds one case (fit and every method) may take
MAX_SECONDS = 30.0


def innermost_file(exc: BaseException) -> Path:
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve()


def check_error(exc: BaseException, where: str) -> None:
    """Assert that ``exc`` is a deliberate error in the sense of (a)."""
    momix.testing.check_error(exc)
    text = "".join(traceback.format_exception(exc))
    assert not isinstance(exc, FORBIDDEN), f"{where}: forbidden {type(exc).__name__}\n{text}"
    if isinstance(exc, SKLEARN_API_ERRORS):
        return
    assert isinstance(exc, MOMIX_ERRORS) or type(exc) in (ValueError, TypeError), (
        f"{where}: {type(exc).__name__} is not a deliberate error\n{text}")
    origin = innermost_file(exc)
    assert MOMIX_SRC in origin.parents, f"{where}: raised in {origin}, outside momix\n{text}"
    assert str(exc).strip(), f"{where}: empty message\n{text}"


def _finite_attributes(model) -> None:
    for name, value in vars(model).items():
        if name.endswith("_") and not name.startswith("_"):
            arr = np.asarray(value) if isinstance(value, (float, np.floating, np.ndarray)) else None
            if arr is not None and arr.dtype.kind in "fc":
                assert np.all(np.isfinite(arr)), f"fitted {name} is not finite: {arr}"


def _call(where, fn, *args, **kwargs):
    """Run one method; return its result, or None after checking a deliberate error."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - every exception is judged by check_error
        check_error(exc, where)
        return None


def check_valid_fit(model, n_components: int, X, y, *, counts=None, groups=None,
                    sample_weight=None) -> None:
    """Assert (b) on a fitted model and (a) or (b) on every method."""
    momix.testing.check_fitted(model, X, y, counts=counts, groups=groups,
                               sample_weight=sample_weight)
    _finite_attributes(model)
    w = model.weights_
    assert w.shape == (n_components,), (w.shape, n_components)
    assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-9, w
    assert model.coefs_.shape == (n_components, model.n_features_in_)
    X = np.asarray(X, dtype=float)
    item_set = X.ndim == 2
    if y is None:  # a counts fit: label every item
        y = np.arange(X.shape[0])
    proba = _call("predict_proba", model.predict_proba, X, y, groups=groups)
    if proba is not None:
        assert np.all(np.isfinite(proba)) and np.all(proba >= 0) and np.all(proba <= 1 + 1e-12)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    labels = _call("predict", model.predict, X, y, groups=groups)
    if labels is not None:
        assert np.all((labels >= 0) & (labels < n_components))
    data_kw = dict(counts=counts, groups=groups, sample_weight=sample_weight)
    yy = None if counts is not None else y
    for name in ("score", "bic", "aic", "log_likelihood"):
        value = _call(name, getattr(model, name), X, yy, **data_kw)
        if value is not None:
            assert np.isfinite(value), (name, value)
    ss = _call("score_samples", model.score_samples, X, y)
    if ss is not None:
        assert np.all(np.isfinite(ss)) and np.all(ss <= 1e-12), ss
    draws = _call("sample", model.sample, 5 if item_set else None, random_state=0,
                  **({} if item_set else {"X": X, "groups": groups}))
    if draws is not None:
        choices, classes = draws
        n_alt = X.shape[0] if item_set else X.shape[1]
        assert np.all((choices >= 0) & (choices < n_alt))
        assert np.all((classes >= 0) & (classes < n_components))


def check_contract(params: dict, X, y=None, *, counts=None, groups=None,
                   sample_weight=None) -> str:
    """Fit ``SoftmaxMixture(**params)`` and assert (a) or (b); return ``'error'`` or ``'fit'``."""
    start = time.perf_counter()
    model = momix.SoftmaxMixture(**params)
    outcome = "fit"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            try:
                model.fit(X, y, counts=counts, groups=groups, sample_weight=sample_weight)
            except Exception as exc:  # noqa: BLE001 - judged by check_error
                check_error(exc, "fit")
                outcome = "error"
            else:
                check_valid_fit(model, params.get("n_components", 1), X, y, counts=counts,
                                groups=groups, sample_weight=sample_weight)
    elapsed = time.perf_counter() - start
    assert elapsed < MAX_SECONDS, f"case took {elapsed:.1f} s"
    return outcome
