"""The passes themselves: the statistics Gram, threads, and the single pass of whole-space fits."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from momix import LowRankGaussianMixture
from momix.datasets import make_lowrank_gaussian_mixture
from momix.lowrank._stats import (
    moment_gram,
    moment_statistics,
    shifted_statistics,
    statistics_from_moment_gram,
    statistics_gram,
)
from momix.lowrank._stream import ChunkSource, first_pass
from momix.moments import map_ordered, n_threads, one_pass


def _explicit(Y, sq, w, L):
    """T_{a,l} by explicit outer products, row by row."""
    out = {}
    for a in range(L + 1):
        for l in range((L - a) // 2 + 1):
            total = np.zeros((Y.shape[1],) * a)
            for y, q, wn in zip(Y, sq, w, strict=True):
                t = np.array(1.0)
                for _ in range(a):
                    t = np.multiply.outer(t, y)
                total = total + wn * q**l * t
            out[(a, l)] = total
    return out


@pytest.mark.parametrize(("r", "L"), [(1, 4), (3, 2), (3, 3), (2, 5), (2, 6), (4, 4)])
def test_statistics_from_one_syrk_equal_explicit_tensors(r, L):
    rng = np.random.default_rng(r + 10 * L)
    Y = rng.normal(size=(37, r)) + 1.5
    sq = np.sum(Y * Y, axis=1) + rng.uniform(0, 2, 37)  # ambient norms exceed the fit norms
    w = rng.uniform(0, 2, 37)
    got = moment_statistics(Y, sq, w, L, chunk_size=8)
    want = _explicit(Y, sq, w, L)
    assert got.tensors.keys() == want.keys() and got.max_order == L
    for key, value in want.items():
        np.testing.assert_allclose(got.tensors[key], value, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("r", "L"), [(1, 4), (3, 2), (3, 3), (2, 5), (2, 6), (4, 4)])
def test_whole_space_statistics_from_shifted_monomials_equal_explicit_tensors(r, L):
    """Whole space: no norm columns; T_{a,l} = traces of the shifted-back moment tensors."""
    rng = np.random.default_rng(r + 10 * L)
    Y = rng.normal(size=(37, r)) + 1.5
    w = rng.uniform(0, 2, 37)
    shift = rng.normal(size=r) * 3
    G = moment_gram(Y, w, L, shift, chunk_size=8)
    h = (L + 1) // 2
    assert G.shape[0] == sum(comb(r + p - 1, p) for p in range(h + 1))  # 66 at r=10, L=4
    got = statistics_from_moment_gram(G, shift, L)
    want = _explicit(Y, np.sum(Y * Y, axis=1), w, L)
    assert got.tensors.keys() == want.keys()
    for key, value in want.items():
        np.testing.assert_allclose(got.tensors[key], value, rtol=1e-12, atol=1e-11)
    parts = moment_gram(Y[:20], w[:20], L, shift) + moment_gram(Y[20:], w[20:], L, shift)
    np.testing.assert_allclose(parts, G, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(("r", "L"), [(1, 4), (3, 3), (2, 6), (4, 4)])
def test_subspace_statistics_about_a_shift_equal_explicit_tensors(r, L):
    """Rows in a subspace with ambient norms: products of (B^T x - c, ||x - Bc||^2), unshifted."""
    rng = np.random.default_rng(7 * r + L)
    X = rng.normal(size=(41, r + 3)) + 2.0
    w = rng.uniform(0, 2, 41)
    B = np.linalg.qr(rng.normal(size=(r + 3, r)))[0]
    Y, sq = X @ B, np.sum(X * X, axis=1)
    want = _explicit(Y, sq, w, L)
    got = shifted_statistics(Y, sq, w, L, B.T @ X[0])
    single = shifted_statistics(Y, sq, w, L, B.T @ X[0], np.float32)
    for key, value in want.items():
        scale = np.max(np.abs(value))
        np.testing.assert_allclose(got.tensors[key], value, rtol=1e-12, atol=1e-12 * scale)
        np.testing.assert_allclose(single.tensors[key], value, rtol=0, atol=2e-6 * scale)


def test_single_precision_gram_is_close_to_double_and_far_data_stay_accurate():
    """float32 products, double sums: relative error ~1e-7 even at an offset of 1e6."""
    rng = np.random.default_rng(3)
    Y = rng.normal(size=(20_000, 6)) * rng.uniform(0.5, 2, 6) + 1e6
    w = rng.uniform(0.5, 2.0, 20_000)
    shift = Y[0].copy()
    double = moment_gram(Y, w, 4, shift)
    single = moment_gram(Y, w, 4, shift, chunk_size=1000, dtype=np.float32)
    assert single.dtype == np.float64
    np.testing.assert_allclose(single, double, rtol=0, atol=1e-6 * np.abs(double).max())
    T64 = statistics_from_moment_gram(double, shift, 4).tensors
    T32 = statistics_from_moment_gram(single, shift, 4).tensors
    for key in T64:  # raw moments about the origin: equal to the precision of their shift
        np.testing.assert_allclose(T32[key], T64[key], rtol=1e-6)


def test_whole_space_first_pass_summary_is_read_off_the_gram_accurately():
    """Mean and covariance from the shifted Gram equal the centred one-pass moments, even
    at an offset of 1e6 standard deviations (the shift is the first row)."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 4)) @ rng.normal(size=(4, 4)) + 1e6
    w = rng.uniform(0.5, 2.0, 3000)
    ref = one_pass(X, sample_weight=w)
    chunks = [(X[:1100], w[:1100]), (X[1100:], w[1100:])]
    got = first_pass(ChunkSource.wrap(chunks), 100, np.random.default_rng(0), lambda d: 4)
    assert got.statistics is not None
    # weights of (X, w) chunks are divided by the first chunk's largest one
    assert got.weight_unit == w[:1100].max()
    np.testing.assert_allclose(got.count * got.weight_unit, ref.count, rtol=1e-14)
    np.testing.assert_allclose(got.mean, ref.mean, rtol=1e-15)
    np.testing.assert_allclose(got.covariance, ref.covariance, rtol=1e-9, atol=1e-9)


def test_subsample_indices_are_the_smallest_keys_in_row_order(monkeypatch):
    """Deterministic subsample: the m smallest of n keys drawn in row order, over blocks."""
    import momix.lowrank._stream as stream

    monkeypatch.setattr(stream, "_KEY_BLOCK", 1000)
    for n, m in ((10_003, 300), (2_500, 2_000), (50, 300)):
        want = np.sort(np.argsort(np.random.default_rng(9).random(n))[:m])
        got = stream._smallest_keys(np.random.default_rng(9), n, m)
        np.testing.assert_array_equal(got, want)


def test_statistics_gram_is_additive_and_has_the_stated_width():
    rng = np.random.default_rng(0)
    Y, w = rng.normal(size=(50, 10)), rng.uniform(size=50)
    sq = np.sum(Y * Y, axis=1)
    G = statistics_gram(Y, sq, w, 4)
    assert G.shape == (2 + 10 + comb(11, 2),) * 2  # m = 67: m(m + 1) = 4556 flops per row
    parts = statistics_gram(Y[:17], sq[:17], w[:17], 4) + statistics_gram(
        Y[17:], sq[17:], w[17:], 4
    )
    np.testing.assert_allclose(parts, G, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(G, G.T, rtol=0, atol=0)


def test_map_ordered_keeps_order_and_bounds_in_flight(monkeypatch):
    items = [(i,) for i in range(23)]
    assert list(map_ordered(lambda i: i * i, items, threads=3, ahead=2)) == [
        i * i for i in range(23)
    ]
    assert list(map_ordered(lambda i: -i, iter(items), threads=1)) == [-i for i in range(23)]
    monkeypatch.setenv("MOMIX_NUM_THREADS", "3")
    assert n_threads() == 3
    monkeypatch.setenv("MOMIX_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="MOMIX_NUM_THREADS"):
        n_threads()


@pytest.mark.filterwarnings("ignore:the moment fit did not converge")
def test_threads_do_not_change_a_single_bit(monkeypatch, tmp_path):
    """Chunks are reduced in order: 1 and 3 threads give identical moments and fits."""
    data = make_lowrank_gaussian_mixture(7000, 6, 2, rank=1, noise_variance=0.3, random_state=1)
    path = tmp_path / "x.npy"
    np.save(path, data.X)
    out = {}
    for threads in ("1", "3"):
        monkeypatch.setenv("MOMIX_NUM_THREADS", threads)
        s = one_pass(str(path), chunk_size=500)
        m = LowRankGaussianMixture(2, rank=1, noise_variance=0.3, random_state=0)
        m.fit(np.load(path, mmap_mode="r"))
        out[threads] = (s.mean, s.covariance, m.means_, m.covariances_)
    for a, b in zip(out["1"], out["3"], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:the moment fit did not converge")
def test_whole_space_fit_reads_the_data_once():
    """d <= 2K(R+1): moments, subsample and statistics come from a single pass."""
    data = make_lowrank_gaussian_mixture(2500, 5, 2, rank=1, noise_variance=0.3, random_state=2)
    X, reads = data.X, []

    def chunks():
        reads.append(1)
        return iter([X[:1000], X[1000:2200], X[2200:]])

    kw = dict(n_components=2, rank=1, noise_variance=0.3, random_state=0)
    model = LowRankGaussianMixture(**kw).fit(chunks)
    assert len(reads) == 1
    ref = LowRankGaussianMixture(**kw).fit(X)  # N <= 3000: the same fit, in memory
    np.testing.assert_allclose(model.objective_, ref.objective_, rtol=1e-7)
    np.testing.assert_allclose(model.means_, ref.means_, atol=5e-3)


@pytest.mark.parametrize(
    ("n", "m", "step"), [(10_003, 300, 977), (2_500, 2_000, 400), (50, 300, 7)]
)
def test_streamed_subsample_is_the_rows_of_smallest_keys_in_row_order(n, m, step):
    """Keys drawn per chunk as it is read: the same rows as the m smallest of n keys."""
    X = np.arange(2.0 * n).reshape(n, 2)
    chunks = [X[i : i + step] for i in range(0, n, step)]
    got = first_pass(ChunkSource.wrap(chunks), m, np.random.default_rng(9))
    want = np.sort(np.argsort(np.random.default_rng(9).random(n))[:m])
    np.testing.assert_array_equal(got.sub_X, X[want])
    rng = np.random.default_rng(9)
    first_pass(ChunkSource.wrap(X), m, rng)  # one array: the same stream consumed
    np.testing.assert_array_equal(rng.random(3), np.random.default_rng(9).random(n + 3)[n:])
