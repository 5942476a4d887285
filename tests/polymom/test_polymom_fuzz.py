"""Property-based bad-input contract of Polymom and MixtureOfLinearRegressions
(:mod:`momix.testing`, issue 15).

Every generated case -- valid mixture data, edge cases (offsets of 1e8, magnitudes 1e-300
to 1e90, constant or duplicated columns, integer ties, few distinct rows, one or two rows,
large counts, a constant or exactly linear response), degenerate sample weights (uniform
1e-300 / 1e300, zeros, a single positive weight), extreme hyper-parameters (max_iter 0 or 1,
tol 0, reg_covar 0, n_components far above the distinct rows) and bad input (NaN, inf,
magnitudes above 1e100, wrong shapes and widths, non-count Poisson data, a missing or
mismatched response) -- must end in outcome (a), a deliberate momix error
(:func:`momix.testing.check_error`), or (b), a valid fit (:func:`momix.testing.check_fitted`
plus finite ``bic``, ``aic`` and draws from ``sample``, and ``n_components`` weights);
bad input must end in (a); a uniform scale of the sample weights must give the fit of unit
weights (or the same refusal); no fit may take 30 s.

Polymom draws the default model, Gaussian1D, GaussianDiagonal and Poisson, with
``refine=None`` and ``"em"``, in memory and (``refine=None``) streamed as chunks. SDP solves
are slow, so the data are tiny and ``n_components`` small. The default run draws a fast
subset of 25 cases per estimator; the slow run draws 300 each.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_cases import make_weights
from momix.polymom import (
    Gaussian1D,
    GaussianDiagonal,
    MixtureOfLinearRegressions,
    Poisson,
    Polymom,
)
from momix.testing import ContractViolation, check_error, check_fitted

GAUSS_TRANSFORMS = ("offset_1e8", "scale_1e-120", "scale_1e-300", "scale_1e90",
                    "constant_column", "duplicated_column", "integers", "few_distinct",
                    "all_constant", "one_row", "two_rows")
COUNT_TRANSFORMS = ("large_counts", "zero_feature", "few_distinct", "one_row", "two_rows")
BAD = ("nan", "inf", "beyond_1e100", "one_dimensional", "empty", "wrong_width")
WEIGHTS = ("none", "random", "uniform_1e-300", "uniform_1e300", "some_zero", "single_positive")
UNIFORM = ("uniform_1e-300", "uniform_1e300")


# -- data ---------------------------------------------------------------------------------

def _gauss(rng, n, d):
    centres = rng.normal(scale=3.0, size=(2, d))
    return centres[rng.integers(0, 2, n)] + rng.normal(size=(n, d))


def _counts(rng, n, d):
    rates = rng.uniform(0.5, 6.0, size=(2, d))
    return rng.poisson(rates[rng.integers(0, 2, n)]).astype(float)


def _transform(X, name, rng):
    X = X.copy()
    n, d = X.shape
    if name == "offset_1e8":
        return X + 1e8
    if name.startswith("scale_"):
        return X * float(name.split("_")[1])
    if name == "constant_column":
        X[:, rng.integers(0, d)] = 3.0
    elif name == "duplicated_column" and d > 1:
        X[:, -1] = X[:, 0]
    elif name == "integers":
        X = np.round(X)
    elif name == "few_distinct":
        X = X[rng.integers(0, min(3, n), n)]
    elif name == "all_constant":
        X = np.full_like(X, 2.5)
    elif name == "one_row":
        X = X[:1]
    elif name == "two_rows":
        X = X[:2]
    elif name == "large_counts":
        X = X * 1000.0
    elif name == "zero_feature":
        X[:, rng.integers(0, d)] = 0.0
    return X


def _bad(X, name, rng, counts=False):
    X = X.copy()
    if name == "nan":
        X[rng.integers(0, X.shape[0]), rng.integers(0, X.shape[1])] = np.nan
    elif name == "inf":
        X[rng.integers(0, X.shape[0]), rng.integers(0, X.shape[1])] = -np.inf
    elif name == "beyond_1e100":
        X = X * 1e150 + 1e150
    elif name == "one_dimensional":
        return X[:, 0]
    elif name == "empty":
        return X[:0]
    elif name == "wrong_width":
        return np.column_stack([X, X[:, :1]])
    elif name == "not_counts":
        X = X + 0.5 if counts else -X
    return X


# -- Polymom cases ------------------------------------------------------------------------

def _model(name, d, k):
    if name == "gaussian1d":
        return Gaussian1D(order=max(3 * k, 4))
    if name == "diagonal":
        return GaussianDiagonal(d, order=3)
    if name == "poisson":
        return Poisson(d, order=3)
    return None


@st.composite
def polymom_cases(draw):
    kind = draw(st.sampled_from(["valid", "edge", "bad"]))
    model = draw(st.sampled_from(["default", "gaussian1d", "diagonal", "poisson"]))
    d = 1 if model == "gaussian1d" else draw(st.integers(1, 2))
    n = draw(st.integers(20, 50) if kind == "valid" else st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    counts = model == "poisson"
    X = _counts(rng, n, d) if counts else _gauss(rng, n, d)
    transform, bad = "none", None
    if kind == "edge":
        transform = draw(st.sampled_from(COUNT_TRANSFORMS if counts else GAUSS_TRANSFORMS))
        X = _transform(X, transform, rng)
    elif kind == "bad":
        # the default model takes any width; an explicit model refuses another one
        options = BAD if model != "default" else tuple(b for b in BAD if b != "wrong_width")
        bad = draw(st.sampled_from(options + (("not_counts",) if counts else ())))
        X = _bad(X, bad, rng, counts)
    k = draw(st.sampled_from([1, 2, 2, 2, 3, 5, 50] if kind != "valid" else [1, 2, 2, 3]))
    refine = draw(st.sampled_from([None, "em"]))
    params = dict(
        n_components=k,
        refine=refine,
        max_iter=draw(st.sampled_from([1, 5, 20])),
        tol=draw(st.sampled_from([1e-7, 1e-3] + ([0.0] if kind != "valid" else []))),
        reg_covar=draw(st.sampled_from([1e-6, 1e-6, 0.0])),
        refine_max_iter=draw(st.sampled_from([1, 100])),
        relaxation=draw(st.sampled_from(["least_squares", "least_squares", "exact"])),
        moment_weighting=draw(st.sampled_from(["auto", "auto", "none", "covariance"])),
        polish=draw(st.booleans()),
        standardize=draw(st.sampled_from([True, True, False])),
        random_state=0,
    )
    weights = draw(st.sampled_from(WEIGHTS)) if kind != "bad" else "none"
    stream = refine is None and np.ndim(X) == 2 and len(X) > 1 and draw(st.integers(0, 4)) == 0
    return dict(kind=kind, model=model, d=d, transform=transform, bad=bad, X=X,
                weights=weights, params=params, stream=stream, rng=rng)


def _chunks(X, w):
    cut = max(1, len(X) // 2)
    w = np.ones(len(X)) if w is None else w
    return [(X[:cut], w[:cut]), (X[cut:], w[cut:])]


def _timed(fit):
    """Run one fit; no fit may take 30 s (the contract's bound on a hang)."""
    start = time.perf_counter()
    out = fit()
    elapsed = time.perf_counter() - start
    if elapsed >= 30:
        raise ContractViolation(f"a fit took {elapsed:.1f} s")
    return out


def _fit_polymom(case, X, w):
    return _timed(lambda: _polymom_outcome(case, X, w))


def _polymom_outcome(case, X, w):
    try:  # building the model is part of the call (a too-high order is refused there)
        est = Polymom(_model(case["model"], case["d"], case["params"]["n_components"]),
                      **case["params"])
        if case["stream"]:
            est.fit(_chunks(X, w))
        else:
            est.fit(X, sample_weight=w)
    except Exception as exc:  # outcome (a): must be deliberate
        check_error(exc)
        return exc
    return est


def _check_polymom(est, X):
    check_fitted(est, X)
    if est.weights_.shape != (est.n_components,):
        raise ContractViolation(f"weights_ has shape {est.weights_.shape}")
    for method in (est.bic, est.aic):
        try:
            value = method(X)
        except Exception as exc:
            check_error(exc)
            continue
        if not np.isfinite(value):
            raise ContractViolation(f"{method.__name__} = {value}")
    if hasattr(est, "covariances_"):
        draws, labels = est.sample(5, random_state=0)
        if not (np.all(np.isfinite(draws)) and labels.shape == (5,)):
            raise ContractViolation("sample() returned non-finite draws")


# -- regression mixture cases -------------------------------------------------------------

REG_TRANSFORMS = ("offset_x_1e8", "offset_y_1e8", "scale_1e-120", "scale_1e-300", "scale_1e90",
                  "constant_column", "duplicated_column", "integers", "few_distinct",
                  "constant_y", "exact_line", "two_rows", "wide")
REG_BAD = ("nan_x", "nan_y", "inf_y", "beyond_1e100_x", "beyond_1e100_y", "y_missing",
           "y_length", "one_dimensional", "empty")


def _regression(rng, n, d):
    X = rng.normal(size=(n, d))
    W = rng.normal(scale=2.0, size=(2, d))
    z = rng.integers(0, 2, n)
    return X, np.sum(X * W[z], axis=1) + np.array([1.0, -1.0])[z] + 0.2 * rng.normal(size=n)


def _regression_transform(X, y, name, rng):
    X, y = X.copy(), y.copy()
    n, d = X.shape
    if name == "offset_x_1e8":
        X = X + 1e8
    elif name == "offset_y_1e8":
        y = y + 1e8
    elif name.startswith("scale_"):
        s = float(name.split("_")[1])
        X, y = X * s, y * s
    elif name == "constant_column":
        X[:, rng.integers(0, d)] = 3.0
    elif name == "duplicated_column" and d > 1:
        X[:, -1] = X[:, 0]
    elif name == "integers":
        X, y = np.round(X), np.round(y)
    elif name == "few_distinct":
        idx = rng.integers(0, min(3, n), n)
        X, y = X[idx], y[idx]
    elif name == "constant_y":
        y = np.full(n, 2.0)
    elif name == "exact_line":
        y = X @ np.arange(1.0, d + 1)
    elif name == "two_rows":
        X, y = X[:2], y[:2]
    elif name == "wide":
        X = np.column_stack([X, rng.normal(size=(n, 2 * n))])
    return X, y


def _regression_bad(X, y, name, rng):
    X, y = X.copy(), y.copy()
    if name == "nan_x":
        X[rng.integers(0, len(X)), 0] = np.nan
    elif name == "nan_y":
        y[rng.integers(0, len(y))] = np.nan
    elif name == "inf_y":
        y[0] = np.inf
    elif name == "beyond_1e100_x":
        X = X * 1e150
    elif name == "beyond_1e100_y":
        y = y * 1e150 + 1e150
    elif name == "y_missing":
        y = None
    elif name == "y_length":
        y = y[:-1]
    elif name == "one_dimensional":
        X = X[:, 0]
    elif name == "empty":
        X, y = X[:0], y[:0]
    return X, y


@st.composite
def regression_cases(draw):
    kind = draw(st.sampled_from(["valid", "edge", "bad"]))
    d = draw(st.integers(1, 3))
    n = draw(st.integers(20, 60) if kind == "valid" else st.integers(2, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X, y = _regression(rng, n, d)
    transform, bad = "none", None
    if kind == "edge":
        transform = draw(st.sampled_from(REG_TRANSFORMS))
        X, y = _regression_transform(X, y, transform, rng)
    elif kind == "bad":
        bad = draw(st.sampled_from(REG_BAD))
        X, y = _regression_bad(X, y, bad, rng)
    init = draw(st.sampled_from(["polymom", "random", "random"]))
    params = dict(
        n_components=draw(st.sampled_from([1, 2, 2, 3] + ([8, 100] if kind != "valid" else []))),
        init=init,
        fit_intercept=draw(st.booleans()),
        noise_variance=draw(st.sampled_from([None, None, 0.0, 0.5])),
        x_order=draw(st.sampled_from([1, 2])),
        y_order=draw(st.sampled_from([2, 3])),
        max_iter=draw(st.sampled_from([0, 1, 20, 200])),
        tol=draw(st.sampled_from([0.0, 1e-6])),
        n_init=draw(st.integers(1, 2)),
        random_state=0,
    )
    weights = draw(st.sampled_from(WEIGHTS)) if kind != "bad" else "none"
    return dict(kind=kind, transform=transform, bad=bad, X=X, y=y, weights=weights,
                params=params, rng=rng)


def _fit_regression(case, X, y, w):
    return _timed(lambda: _regression_outcome(case, X, y, w))


def _regression_outcome(case, X, y, w):
    est = MixtureOfLinearRegressions(**case["params"])
    try:
        est.fit(X, y, sample_weight=w)
    except Exception as exc:
        check_error(exc)
        return exc
    return est


def _check_regression(est, X, y):
    check_fitted(est, X, y)
    if est.weights_.shape != (est.n_components,):
        raise ContractViolation(f"weights_ has shape {est.weights_.shape}")
    if not (np.isfinite(est.bic(X, y)) and np.isfinite(est.aic(X, y))):
        raise ContractViolation("bic/aic not finite")
    if not np.all(np.isfinite(est.predict(X))):
        raise ContractViolation("predict (E[y | x]) not finite")
    draws, labels = est.sample(len(X), X=X, random_state=0)
    if not (np.all(np.isfinite(draws)) and labels.shape == (len(X),)):
        raise ContractViolation("sample() returned non-finite draws")


# -- the contract -------------------------------------------------------------------------

def _same_fit(scaled, unit, kind):
    """A uniform weight scale changes nothing: the same refusal or the same fit."""
    if isinstance(unit, Exception) or isinstance(scaled, Exception):
        if type(unit) is not type(scaled):
            raise ContractViolation(f"weights {kind}: {scaled!r} vs unit weights {unit!r}")
        return
    for name, value in vars(unit).items():
        if name.endswith("_") and not name.startswith("_") and isinstance(value, np.ndarray):
            np.testing.assert_allclose(getattr(scaled, name), value, rtol=1e-9, err_msg=name)


def _describe(case):
    return {k: v for k, v in case.items() if k not in ("X", "y", "rng")}


def _run_polymom(case):
    X = case["X"]
    n = len(X) if np.ndim(X) >= 1 else 0
    w = make_weights(case["weights"], n, case["rng"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = _fit_polymom(case, X, w)
        if case["kind"] == "bad" and not isinstance(outcome, Exception):
            raise ContractViolation(f"bad input was fitted: {_describe(case)}")
        if not isinstance(outcome, Exception):
            _check_polymom(outcome, np.asarray(X))
        if case["weights"] in UNIFORM:
            _same_fit(outcome, _fit_polymom(case, X, None), case["weights"])


def _run_regression(case):
    X, y = case["X"], case["y"]
    n = len(X) if np.ndim(X) >= 1 else 0
    w = make_weights(case["weights"], n, case["rng"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = _fit_regression(case, X, y, w)
        if case["kind"] == "bad" and not isinstance(outcome, Exception):
            raise ContractViolation(f"bad input was fitted: {_describe(case)}")
        if not isinstance(outcome, Exception):
            _check_regression(outcome, np.asarray(X), np.asarray(y))
        if case["weights"] in UNIFORM:
            _same_fit(outcome, _fit_regression(case, X, y, None), case["weights"])


_FAST = settings(max_examples=25, deadline=None, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_SLOW = settings(max_examples=300, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_FAST
@given(case=polymom_cases())
def test_polymom_contract_fast_subset(case):
    _run_polymom(case)


@_FAST
@given(case=regression_cases())
def test_regression_contract_fast_subset(case):
    _run_regression(case)


@pytest.mark.slow
@_SLOW
@given(case=polymom_cases())
def test_polymom_contract_300_cases(case):
    _run_polymom(case)


@pytest.mark.slow
@_SLOW
@given(case=regression_cases())
def test_regression_contract_300_cases(case):
    _run_regression(case)
