"""Entry checks: every bad input gets a clear error."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from momix._base import MixtureEstimator
from momix._validation import (
    check_distinct_rows,
    check_fit_data,
    check_n_components,
    check_rng,
    check_sample_weight,
    count_distinct_rows,
)
from momix.exceptions import DataError, NumericalError
from momix.testing import check_error


class _Probe(MixtureEstimator):
    def __init__(self, n_components=1):
        self.n_components = n_components


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.array([[1.0, np.nan]]), "NaN"),
        (np.array([[1.0, np.inf]]), "infinity"),
        (np.zeros(3), "2D array"),
        (np.zeros((0, 2)), "0 sample"),
        (np.zeros((2, 0)), "0 feature"),
        (np.array([[1.0, 1e101]]), "rescale"),
        (np.array([[1.0, -1e300]]), "rescale"),
    ],
)
def test_check_fit_data_errors(X, match):
    with pytest.raises(ValueError, match=match):
        check_fit_data(_Probe(), X)


def test_check_fit_data_accepts_edges_of_the_range():
    X = np.array([[1e100, -1e-300], [0.0, 5e-324]])
    np.testing.assert_array_equal(check_fit_data(_Probe(), X), X)
    assert check_fit_data(_Probe(), [[1, 2]]).dtype == np.float64


def test_check_fit_data_min_samples():
    with pytest.raises(ValueError, match="minimum of 2"):
        check_fit_data(_Probe(), np.zeros((1, 2)), min_samples=2)


@pytest.mark.parametrize(
    ("w", "match"),
    [
        ([1.0, -1.0], "non-negative"),
        ([0.0, 0.0], "sums to zero"),
        ([1.0], "shape"),
        ([np.nan, 1], "NaN"),
    ],
)
def test_sample_weight_errors(w, match):
    with pytest.raises(DataError, match=match):
        check_sample_weight(w, 2)


def test_sample_weight_default_and_scalar():
    np.testing.assert_array_equal(check_sample_weight(None, 3), np.ones(3))
    np.testing.assert_array_equal(check_sample_weight(2.0, 3), np.ones(3))


@pytest.mark.parametrize("scale", [1e-300, 1e-8, 1.0, 3.0, 1e300])
def test_sample_weight_scale_changes_nothing(scale):
    w = np.array([2.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(check_sample_weight(scale * w, 4), [2.0, 1.0, 1.0, 0.0])


def test_distinct_rows():
    X = np.repeat(np.arange(3.0).reshape(-1, 1), 500, axis=0)
    assert count_distinct_rows(X, 10) == 3
    assert count_distinct_rows(np.arange(1e5).reshape(-1, 1), 7) == 7
    check_distinct_rows(X, 3)
    with pytest.raises(DataError, match="only 3 distinct"):
        check_distinct_rows(X, 4)


def test_fitted_attributes_are_checked_finite():
    est = _Probe()
    est.means_ = np.array([0.0, 1.0])
    est.n_iter_ = 3
    est._scratch_ = np.array([np.nan])  # private: not a fitted parameter
    est._check_fitted_finite()
    est.covariances_ = np.array([1.0, np.nan])
    with pytest.raises(NumericalError, match="covariances_"):
        est._check_fitted_finite()
    est.covariances_ = np.inf
    with pytest.raises(NumericalError, match="covariances_"):
        est._check_fitted_finite()


def test_n_components_larger_than_data():
    with pytest.raises(DataError, match="decrease n_components"):
        check_n_components(5, 4)
    with pytest.raises(DataError, match="positive integer"):
        check_n_components(0, 4)


@given(st.integers(min_value=0, max_value=2**31))
def test_rng_from_seed_is_reproducible(seed):
    assert check_rng(seed).integers(1 << 30) == check_rng(seed).integers(1 << 30)


def test_rng_accepts_generator_and_randomstate():
    gen = np.random.default_rng(0)
    assert check_rng(gen) is gen
    assert isinstance(check_rng(np.random.RandomState(0)), np.random.Generator)
    with pytest.raises(DataError, match="random_state"):
        check_rng("seed")


@pytest.mark.parametrize("X", [[[np.nan, 1.0]], np.zeros(3), np.zeros((0, 2))])
def test_door_errors_are_momix_data_errors(X):
    with pytest.raises(DataError) as info:
        check_fit_data(_Probe(), X)
    check_error(info.value)


def test_feature_count_mismatch_is_a_momix_data_error():
    est = _Probe()
    check_fit_data(est, [[1.0, 2.0]])
    with pytest.raises(DataError, match="features") as info:
        check_fit_data(est, [[1.0, 2.0, 3.0]], reset=False)
    check_error(info.value)
