"""The contract checks of momix.testing catch what they promise to catch."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from momix.testing import ContractViolation, check_error, check_fitted, check_outcome


def _raised(fn):
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


def test_momix_error_is_deliberate():
    from momix._validation import check_sample_weight

    check_error(_raised(lambda: check_sample_weight([-1.0], 1)))


def test_linalg_error_is_a_violation():
    exc = _raised(lambda: np.linalg.solve(np.zeros((2, 2)), np.ones(2)))
    with pytest.raises(ContractViolation, match="forbidden"):
        check_error(exc)


def test_error_from_inside_numpy_is_a_violation():
    exc = _raised(lambda: np.ones(3).reshape(2, 2))
    with pytest.raises(ContractViolation, match="outside momix"):
        check_error(exc)


def test_magnitude_refusal_is_deliberate():
    from momix._validation import check_magnitude

    check_error(_raised(lambda: check_magnitude(np.array([1e200]))))


def test_non_finite_fitted_attribute_is_a_violation():
    X = np.random.default_rng(0).normal(size=(50, 2))
    gm = GaussianMixture(2, random_state=0).fit(X)
    check_fitted(gm, X)
    gm.means_[0, 0] = np.nan
    with pytest.raises(ContractViolation, match="means_"):
        check_fitted(gm, X)


def test_bad_weights_are_a_violation():
    X = np.random.default_rng(0).normal(size=(50, 2))
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.weights_ = np.array([0.7, 0.7])
    with pytest.raises(ContractViolation, match="weights_"):
        check_fitted(gm, X)


def test_singular_covariance_is_a_violation():
    X = np.random.default_rng(0).normal(size=(50, 2))
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.covariances_[1] = np.array([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ContractViolation, match="positive definite"):
        check_fitted(gm, X)


def test_check_outcome_returns_the_refusal():
    import momix

    exc = check_outcome(momix.GMMExpansion, np.array([[np.nan]]))
    assert isinstance(exc, ValueError)
