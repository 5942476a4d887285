"""Contracts every public estimator keeps, beyond scikit-learn's suite.

- bad input gets a clear ``ValueError`` (NaN, inf, empty, one row, wrong shape), and random
  small inputs give either a clear ``ValueError`` or a fit with finite parameters -- never
  another exception, never NaN;
- a skops round trip through ``momix.save`` / ``momix.load`` reproduces predictions;
- the same ``random_state`` gives the same fit.

Estimators whose ``fit`` needs more than ``X`` get their example data from ``_EXAMPLES``.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import momix

ESTIMATORS = momix.all_estimators()


def _make(cls):
    return cls(**getattr(cls, "_check_params", {}))


def _two_clusters(rng):
    return rng.normal(size=(60, 2)) + np.repeat([[0, 0], [4, 4]], 30, axis=0)


def _regression(rng):
    X = rng.normal(size=(80, 2))
    coefs = np.where(np.arange(80)[:, None] < 40, [[1.0, -2.0]], [[-1.5, 0.5]])
    return (X, np.sum(X * coefs, axis=1) + 0.1 * rng.normal(size=80)), {}


def _choices(rng):
    features = rng.normal(size=(12, 2))
    return (features, rng.integers(0, 12, size=300)), {}


#: estimators whose fit needs more than X: class name -> rng -> (args, kwargs)
_EXAMPLES = {"MixtureOfLinearRegressions": _regression, "SoftmaxMixture": _choices}


def _example(cls, rng):
    if cls.__name__ in _EXAMPLES:
        return _EXAMPLES[cls.__name__](rng)
    return (_two_clusters(rng),), {}


def _fitted_arrays(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and isinstance(v, np.ndarray)}


def _fit_quietly(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args, **kwargs)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "bad",
    [
        np.array([[np.nan, 1.0], [0.0, 1.0]]),
        np.array([[np.inf, 1.0], [0.0, 1.0]]),
        np.zeros((0, 2)),
        np.zeros(5),
    ],
    ids=["nan", "inf", "empty", "1d"],
)
def test_bad_input_clear_error(cls, bad):
    args, kwargs = _example(cls, np.random.default_rng(0))
    with pytest.raises(ValueError):
        _fit_quietly(_make(cls), bad, *args[1:], **kwargs)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_save_load_round_trip(cls, tmp_path):
    args, kwargs = _example(cls, np.random.default_rng(1))
    est = _fit_quietly(_make(cls).set_params(random_state=0), *args, **kwargs)
    loaded = momix.load(momix.save(est, tmp_path / "m.skops"))
    for name, value in _fitted_arrays(est).items():
        np.testing.assert_array_equal(getattr(loaded, name), value, err_msg=name)
    np.testing.assert_allclose(loaded.score(*args, **kwargs), est.score(*args, **kwargs))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_same_random_state_same_fit(cls):
    args, kwargs = _example(cls, np.random.default_rng(2))
    first = _fitted_arrays(_fit_quietly(_make(cls).set_params(random_state=3), *args, **kwargs))
    second = _fitted_arrays(_fit_quietly(_make(cls).set_params(random_state=3), *args, **kwargs))
    for name, value in first.items():
        np.testing.assert_array_equal(second[name], value, err_msg=name)


_X_ONLY = [c for c in ESTIMATORS if c.__name__ not in _EXAMPLES]


@pytest.mark.parametrize("cls", _X_ONLY, ids=lambda c: c.__name__)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=arrays(
        np.float64,
        st.tuples(st.integers(1, 12), st.integers(1, 3)),
        elements=st.floats(-1e3, 1e3, allow_nan=False, width=64),
    )
)
def test_random_small_inputs_error_or_finite(cls, X):
    est = _make(cls).set_params(random_state=0)
    try:
        _fit_quietly(est, X)
    except ValueError:
        return
    for name, value in _fitted_arrays(est).items():
        assert np.all(np.isfinite(value)), name
