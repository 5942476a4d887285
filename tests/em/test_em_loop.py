"""The loop: monotone likelihood, SQUAREM, streamed data, threads, bookkeeping."""

import numpy as np
import pytest

from momix.em import (
    COVARIANCE_TYPES,
    EMData,
    GaussianFamily,
    complete_data_params,
    evaluate,
    fit_em,
)
from momix.exceptions import DataError


def _overlapping(seed, n=300, d=2, K=3):
    """Strongly overlapping components (slow EM), weights that are not uniform."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(K, size=n, p=[0.5, 0.3, 0.2][:K] / np.sum([0.5, 0.3, 0.2][:K]))
    centres = rng.normal(scale=1.2, size=(K, d))
    X = centres[labels] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, size=d)
    return X, rng.uniform(0.2, 2.0, size=n)


def _setup(X, w, ct, floor, reg, seed=0, K=3):
    fam = GaussianFamily(ct, floor=floor, reg_covar=reg)
    data = EMData(X, w)
    fam.prepare(data.summary())
    labels = np.random.default_rng(seed).integers(0, K, size=len(X))
    return data, fam, complete_data_params(fam, X, w, labels, K)


def _assert_monotone(values):
    values = np.asarray(values)
    drops = np.diff(values)
    assert np.all(drops >= -1e-12 * (1 + np.abs(values[:-1]))), drops.min()


def _check_monotone(ct, floor, reg, accelerate, seeds, passes):
    for seed in seeds:
        X, w = _overlapping(seed)
        data, fam, start = _setup(X, w, ct, floor, reg, seed)
        result = fit_em(data, fam, start, max_iter=passes, tol=0.0, accelerate=accelerate)
        assert result.n_iter == passes and not result.converged
        assert result.n_repairs == 0  # no collapse: the exact M-step is in force throughout
        _assert_monotone(result.lower_bounds)
        # the returned parameters are one M-step past the last value: at least as good
        assert evaluate(data, fam, result.params) >= result.lower_bound - 1e-12


@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("floor, reg", [("clip", 1e-3), ("add", 0.0)])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_likelihood_never_decreases(ct, floor, reg, accelerate):
    _check_monotone(ct, floor, reg, accelerate, seeds=range(2), passes=100)


@pytest.mark.slow
@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("floor, reg", [("clip", 1e-3), ("add", 0.0)])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_likelihood_never_decreases_ten_seeds(ct, floor, reg, accelerate):
    _check_monotone(ct, floor, reg, accelerate, seeds=range(10), passes=300)


def test_bookkeeping_follows_scikit_learn():
    X, w = _overlapping(4)
    data, fam, start = _setup(X, w, "full", "clip", 1e-3)
    result = fit_em(data, fam, start, max_iter=500, tol=1e-4)
    lb = result.lower_bounds
    assert result.converged and result.n_iter == len(lb)
    assert abs(lb[-1] - lb[-2]) < 1e-4 and np.all(np.abs(np.diff(lb[:-1])) >= 1e-4)
    assert result.lower_bound == lb[-1]
    assert lb[0] == pytest.approx(evaluate(data, fam, start), abs=1e-12)
    capped = fit_em(data, fam, start, max_iter=3, tol=1e-4)
    assert capped.n_iter == 3 and not capped.converged
    np.testing.assert_allclose(capped.lower_bounds, lb[:3], rtol=1e-13)
    # a warm start measures the first change from the previous value
    warm = fit_em(
        data, fam, result.params, max_iter=50, tol=1e-4, previous_lower_bound=result.lower_bound
    )
    assert warm.n_iter == 1 and warm.converged
    with pytest.raises(ValueError, match="max_iter"):
        fit_em(data, fam, start, max_iter=0)


def _two_overlapping(seed, n=800):
    """Two components 2 sd apart: a single optimum that plain EM approaches slowly."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.35).astype(int)
    X = np.where(labels[:, None] == 1, [2.0, 1.0], [0.0, 0.0]) + rng.normal(size=(n, 2)) * [
        1.0,
        1.3,
    ]
    return X, rng.uniform(0.2, 2.0, size=n)


@pytest.mark.parametrize("ct, seed", [(ct, 0) for ct in COVARIANCE_TYPES] + [("full", 1)])
def test_squarem_reaches_the_same_optimum_in_fewer_passes(ct, seed):
    X, w = _two_overlapping(seed)
    fam = GaussianFamily(ct, floor="clip", reg_covar=1e-3)
    data = EMData(X, w)
    fam.prepare(data.summary())
    noise = np.random.default_rng(seed).normal(size=len(X))
    start = complete_data_params(fam, X, w, (X[:, 0] + noise > 1.5).astype(int), 2)
    plain = fit_em(data, fam, start, max_iter=5000, tol=1e-8)
    fast = fit_em(data, fam, start, max_iter=5000, tol=1e-8, accelerate=True)
    assert plain.converged and fast.converged
    assert fast.n_accepted > 0
    assert fast.n_iter < plain.n_iter / 2, (fast.n_iter, plain.n_iter)
    assert abs(fast.lower_bound - plain.lower_bound) < 1e-6
    np.testing.assert_allclose(fast.params.means, plain.params.means, atol=2e-2)  # flat optimum
    _assert_monotone(fast.lower_bounds)


def _chunks(X, w, sizes):
    out, start = [], 0
    for size in sizes:
        out.append((X[start : start + size], w[start : start + size]))
        start += size
    return out


def _compare_streamed(X, w, ct, accelerate, sizes, max_iter=40):
    data, fam, start = _setup(X, w, ct, "clip", 1e-3)
    ref = fit_em(data, fam, start, max_iter=max_iter, tol=1e-6, accelerate=accelerate)
    stream = EMData(_chunks(X, w, sizes))
    fam2 = GaussianFamily(ct, floor="clip", reg_covar=1e-3)
    fam2.prepare(stream.summary())
    np.testing.assert_allclose(fam2.center, fam.center, rtol=1e-12)
    assert fam2.scale2 == pytest.approx(fam.scale2, rel=1e-12)
    start2 = fam2.make_params(start.weights, start.means, start.covariances)
    got = fit_em(stream, fam2, start2, max_iter=max_iter, tol=1e-6, accelerate=accelerate)
    assert got.n_iter == ref.n_iter and got.converged == ref.converged
    np.testing.assert_allclose(got.lower_bounds, ref.lower_bounds, rtol=0, atol=1e-10)
    for name in ("weights", "means", "covariances"):
        np.testing.assert_allclose(
            getattr(got.params, name), getattr(ref.params, name), rtol=1e-10, atol=1e-12
        )


@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_chunk_lists_give_the_in_memory_fit(ct, accelerate):
    X, w = _overlapping(5, n=200)
    sizes = list(np.random.default_rng(0).integers(1, 30, size=10))
    _compare_streamed(X, w, ct, accelerate, [*sizes, len(X) - sum(sizes)])


@pytest.mark.parametrize("ct", ["full", "diag"])
def test_one_row_chunks_give_the_in_memory_fit(ct):
    X, w = _overlapping(9, n=60)
    _compare_streamed(X, w, ct, True, [1] * len(X), max_iter=15)


def test_threads_do_not_change_a_bit():
    X, w = _overlapping(6, n=2000)
    data, fam, start = _setup(X, w, "full", "clip", 1e-3)
    chunked = EMData(X, w, chunk_size=97)
    one = fit_em(chunked, fam, start, max_iter=30, tol=0.0, accelerate=True, threads=1)
    two = fit_em(chunked, fam, start, max_iter=30, tol=0.0, accelerate=True, threads=2)
    np.testing.assert_array_equal(one.lower_bounds, two.lower_bounds)
    np.testing.assert_array_equal(one.params.covariances, two.params.covariances)


def test_callable_sources_and_one_shot_generators():
    X, w = _overlapping(8, n=100)
    data = EMData(lambda: iter(_chunks(X, w, [30, 30, 40])))
    assert data.summary().total_weight == pytest.approx(w.sum())
    with pytest.raises(ValueError, match="more than once"):
        EMData(iter(_chunks(X, w, [50, 50])))
    with pytest.raises(DataError, match="NaN"):
        EMData(np.array([[0.0, np.nan]]))
    with pytest.raises(DataError, match="sample_weight"):
        EMData(X, -w)


def test_one_read_of_the_data_per_iteration():
    X, w = _overlapping(10, n=90)
    reads = []

    def source():
        reads.append(1)
        return iter(_chunks(X, w, [30, 30, 30]))

    data = EMData(source)
    fam = GaussianFamily("full", floor="clip", reg_covar=1e-3)
    fam.prepare(data.summary())
    assert len(reads) == 1  # pass 0
    start = complete_data_params(fam, X, w, np.arange(len(X)) % 3, 3)
    for accelerate in (False, True):
        reads.clear()
        result = fit_em(data, fam, start, max_iter=12, tol=0.0, accelerate=accelerate)
        assert len(reads) == result.n_iter == 12
