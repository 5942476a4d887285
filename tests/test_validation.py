"""Entry checks: every bad input gets a clear error."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from momix._validation import check_data, check_n_components, check_rng, check_sample_weight
from momix.exceptions import DataError


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.array([[1.0, np.nan]]), "NaN or infinite"),
        (np.array([[1.0, np.inf]]), "NaN or infinite"),
        (np.zeros(3), "reshape"),
        (np.zeros((0, 2)), "0 sample"),
        (np.zeros((2, 0)), "0 features"),
        ([["a", "b"]], "numeric"),
    ],
)
def test_check_data_errors(X, match):
    with pytest.raises(DataError, match=match):
        check_data(X)


def test_check_data_min_samples():
    with pytest.raises(DataError, match="at least 2"):
        check_data(np.zeros((1, 2)), min_samples=2)
    assert check_data([[1, 2]]).dtype == np.float64


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
    np.testing.assert_array_equal(check_sample_weight(2.0, 3), np.full(3, 2.0))


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
