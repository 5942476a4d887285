"""Every public estimator meets the bad-input contract of :mod:`momix.testing` on a fixed
battery of inputs a careless user or an attacker would hand it.

Each case is a transformation of the estimator's example data (extreme magnitudes, offsets,
constant and duplicated columns, too few rows or distinct rows, degenerate sample weights).
The outcome must be a deliberate momix error or a valid finite fit; uniform sample-weight
scales must give the fit of unit weights. The estimators' own property-based tests draw
hundreds more cases of the same kinds.
"""

import inspect
import warnings

import numpy as np
import pytest

import momix
from momix.testing import check_outcome

ESTIMATORS = momix.all_estimators()


def _make(cls, **extra):
    params = dict(getattr(cls, "_check_params", {}))
    params.update(random_state=0, **extra)
    return cls(**params)


def _X(rng, n=60):
    return rng.normal(size=(n, 2)) + np.repeat([[0.0, 0.0], [4.0, 4.0]], n // 2, axis=0)


def _example(cls, rng):
    """(X, extra positional args) for a fit of ``cls``; softmax data has its own form."""
    if cls.__name__ == "MixtureOfLinearRegressions":
        X = rng.normal(size=(80, 2))
        coefs = np.where(np.arange(80)[:, None] < 40, [[1.0, -2.0]], [[-1.5, 0.5]])
        return X, (np.sum(X * coefs, axis=1) + 0.1 * rng.normal(size=80),)
    if cls.__name__ == "SoftmaxMixture":
        return rng.normal(size=(12, 2)), (rng.integers(0, 12, size=300),)
    return _X(rng), ()


def _transforms():
    """name -> X -> X' (applied to the feature matrix of every estimator)."""
    return {
        "offset_1e8": lambda X: X + 1e8,
        "scale_1e-200": lambda X: X * 1e-200,
        "scale_1e90": lambda X: X * 1e90,
        "beyond_1e100": lambda X: X * 1e150,
        "constant_column": lambda X: np.column_stack([X[:, 0], np.full(len(X), 3.0)]),
        "duplicated_column": lambda X: np.column_stack([X[:, 0], X[:, 0]]),
        "all_constant": np.ones_like,
        "one_row": lambda X: X[:1],
        "two_rows": lambda X: X[:2],
        "three_distinct_rows": lambda X: np.repeat(X[:3], 20, axis=0),
        "integers_with_ties": np.round,
    }


def _fit_args(cls, X, extra):
    if cls.__name__ == "SoftmaxMixture":  # item features change, the choices stay valid
        return (X, *extra)
    if cls.__name__ == "MixtureOfLinearRegressions":
        return (X, extra[0][: len(X)])
    return (X,)


@pytest.mark.parametrize("case", sorted(_transforms()))
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_transformed_input_meets_the_contract(cls, case):
    X, extra = _example(cls, np.random.default_rng(0))
    if cls.__name__ == "SoftmaxMixture" and case in ("one_row", "two_rows"):
        X = X[: 1 if case == "one_row" else 2]
        args = (X, extra[0] % len(X))
    else:
        args = _fit_args(cls, _transforms()[case](X), extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refused = check_outcome(lambda: _make(cls), *args)
    if case == "beyond_1e100":
        assert refused is not None, "magnitudes beyond 1e100 are refused at the door"


_WITH_K = [c for c in ESTIMATORS if "n_components" in c().get_params()]


@pytest.mark.parametrize("cls", _WITH_K, ids=lambda c: c.__name__)
def test_more_components_than_distinct_rows_is_a_clear_error(cls):
    X, extra = _example(cls, np.random.default_rng(1))
    if cls.__name__ == "SoftmaxMixture":  # two distinct observations: items 0 and 1
        args = (X, extra[0] % 2)
    else:
        X = np.repeat(X[:2], 30, axis=0)
        args = (X, extra[0][: len(X)]) if extra else (X,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refused = check_outcome(lambda: _make(cls, n_components=5), *args)
    assert refused is not None
    assert "n_components" in str(refused) or "distinct" in str(refused)


_WEIGHTED = [c for c in ESTIMATORS if "sample_weight" in inspect.signature(c.fit).parameters]


@pytest.mark.parametrize("scale", [1e-300, 1e300])
@pytest.mark.parametrize("cls", _WEIGHTED, ids=lambda c: c.__name__)
def test_uniform_weight_scale_changes_nothing(cls, scale):
    X, extra = _example(cls, np.random.default_rng(2))
    n = len(extra[0]) if cls.__name__ == "SoftmaxMixture" else len(X)
    args = (X, *extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unit = _make(cls).fit(*args)
        scaled = _make(cls).fit(*args, sample_weight=np.full(n, scale))
    for name, value in vars(unit).items():
        if name.endswith("_") and not name.startswith("_") and isinstance(value, np.ndarray):
            np.testing.assert_allclose(getattr(scaled, name), value, rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("cls", _WEIGHTED, ids=lambda c: c.__name__)
def test_single_positive_weight_meets_the_contract(cls):
    X, extra = _example(cls, np.random.default_rng(3))
    n = len(extra[0]) if cls.__name__ == "SoftmaxMixture" else len(X)
    w = np.zeros(n)
    w[0] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_outcome(lambda: _make(cls), X, *extra, sample_weight=w)
