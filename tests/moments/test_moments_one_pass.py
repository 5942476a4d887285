"""one_pass and MomentAccumulator against direct numpy computation, across data sources."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from momix.exceptions import DataError
from momix.moments import MomentAccumulator, iter_chunks, one_pass


def _raw_tensor(X, w, k):
    letters = "abcdef"[:k]
    spec = "n," + ",".join("n" + c for c in letters) + "->" + letters
    return np.einsum(spec, w, *([X] * k)) / w.sum()


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(503, 3)) @ rng.normal(size=(3, 3)) + [1.0, -2.0, 0.5]
    w = rng.uniform(0.0, 2.0, size=503)
    A = rng.normal(size=(4, 3))
    return X, w, A


def assert_summaries_close(a, b, rtol=1e-10):
    """Agreement to ``rtol`` relative to the size of each moment (1e-10 by default)."""
    np.testing.assert_allclose(a.count, b.count, rtol=rtol)
    assert a.n_samples == b.n_samples
    for name in ("mean", "second", "covariance", "projected", "projected_central"):
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * np.abs(y).max(initial=1.0))
    assert a.tensors.keys() == b.tensors.keys()
    for k in a.tensors:
        np.testing.assert_allclose(
            a.tensors[k], b.tensors[k], rtol=rtol, atol=rtol * np.abs(b.tensors[k]).max()
        )
        if k >= 2:
            np.testing.assert_allclose(
                a.central_tensors[k],
                b.central_tensors[k],
                rtol=rtol,
                atol=rtol * np.abs(b.central_tensors[k]).max(),
            )


# ---------------------------------------------------------------- against numpy


def test_one_pass_matches_einsum_with_weights(data):
    X, w, A = data
    s = one_pass(X, max_order=4, directions=A, tensors=True, sample_weight=w, chunk_size=64)
    W = w.sum()
    np.testing.assert_allclose(s.count, W, rtol=1e-14)
    np.testing.assert_allclose(s.mean, w @ X / W, rtol=1e-13)
    np.testing.assert_allclose(s.covariance, np.cov(X.T, aweights=w, bias=True), rtol=1e-12)
    np.testing.assert_allclose(s.second, (w[:, None] * X).T @ X / W, rtol=1e-12)
    np.testing.assert_array_equal(s.covariance, s.covariance.T)
    np.testing.assert_array_equal(s.second, s.second.T)
    for k in range(1, 5):
        ref = _raw_tensor(X, w, k)
        np.testing.assert_allclose(s.tensors[k], ref, rtol=1e-11, atol=1e-12 * np.abs(ref).max())
    for k in range(2, 5):
        ref = _raw_tensor(X - s.mean, w, k)
        np.testing.assert_allclose(s.central_tensors[k], ref, rtol=1e-10, atol=1e-12)
    P = X @ A.T
    np.testing.assert_allclose(
        s.projected, np.stack([w @ P**k for k in range(5)], 1) / W, rtol=1e-11
    )
    assert s.projected.shape == (4, 5) and s.max_order == 4 and s.n_samples == 503


def test_unit_weights_and_default_outputs(data):
    X, _, _ = data
    s = one_pass(X)
    np.testing.assert_allclose(s.covariance, np.cov(X.T, bias=True), rtol=1e-12)
    assert s.count == 503.0 and s.tensors == {} and s.projected.shape == (0, 3)


def test_moments_about_a_center(data):
    X, w, A = data
    c = np.array([0.5, 0.1, -3.0])
    s = one_pass(X, max_order=3, directions=A, tensors=True, sample_weight=w, center=c)
    for k in range(1, 4):
        np.testing.assert_allclose(s.tensors[k], _raw_tensor(X - c, w, k), rtol=1e-11, atol=1e-12)
    P = (X - c) @ A.T
    np.testing.assert_allclose(s.projected, np.stack([w @ P**k for k in range(4)], 1) / w.sum())
    np.testing.assert_array_equal(s.center, c)


def test_integer_weights_equal_repeated_rows(data):
    X, _, A = data
    reps = np.random.default_rng(0).integers(0, 4, size=len(X))
    weighted = one_pass(X, max_order=3, directions=A, tensors=True, sample_weight=reps)
    repeated = one_pass(np.repeat(X, reps, axis=0), max_order=3, directions=A, tensors=True)
    for name in ("mean", "covariance", "projected"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-11)
    np.testing.assert_allclose(weighted.tensors[3], repeated.tensors[3], rtol=1e-11)


def test_large_offset_keeps_precision():
    rng = np.random.default_rng(11)
    Z = rng.normal(size=(20_000, 2)) * [1.0, 0.01]
    w = rng.uniform(0.5, 1.5, size=len(Z))
    Y = Z + 1e6
    exact = np.cov((Y - 1e6).T, aweights=w, bias=True)  # Y - 1e6 is exact in float64
    s = one_pass(Y, sample_weight=w, chunk_size=333)
    np.testing.assert_allclose(s.covariance, exact, rtol=1e-9, atol=1e-12)
    naive = (w[:, None] * Y).T @ Y / w.sum() - np.outer(s.mean, s.mean)
    assert np.abs(naive - exact).max() > 1e-6  # the textbook formula fails on this data
    np.testing.assert_allclose(s.projected_central.shape, (0, 3))


# ---------------------------------------------------------------- chunk boundaries


@given(cuts=hs.lists(hs.integers(0, 120), max_size=12), weighted=hs.booleans())
@settings(max_examples=40, deadline=None)
def test_any_chunk_boundaries_give_the_same_summary(cuts, weighted):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 2)) + [3.0, -1.0]
    w = rng.uniform(0, 2, size=120) if weighted else np.ones(120)
    A = np.array([[1.0, 0.5], [0.0, 1.0]])
    edges = [0, *sorted(cuts), 120]
    chunks = [(X[a:b], w[a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    ref = one_pass(X, max_order=4, directions=A, tensors=True, sample_weight=w)
    got = one_pass(iter(chunks), max_order=4, directions=A, tensors=True)
    assert_summaries_close(got, ref, rtol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 502, 503, 10_000])
def test_array_chunk_sizes(data, chunk_size):
    X, w, A = data
    ref = one_pass(X, max_order=3, directions=A, tensors=True, sample_weight=w)
    got = one_pass(
        X, max_order=3, directions=A, tensors=True, sample_weight=w, chunk_size=chunk_size
    )
    assert_summaries_close(got, ref, rtol=1e-12)


# ---------------------------------------------------------------- sources


def test_sources_agree(data, tmp_path):
    import dask
    import dask.array as da

    X, w, A = data
    kw = dict(max_order=4, directions=A, tensors=True)
    ref = one_pass(X, sample_weight=w, **kw)
    path = tmp_path / "x.npy"
    np.save(path, X)
    memmap = np.load(path, mmap_mode="r")
    pairs = ((X[i : i + 40], w[i : i + 40]) for i in range(0, len(X), 40))
    assert_summaries_close(one_pass(memmap, sample_weight=w, chunk_size=50, **kw), ref)
    assert_summaries_close(one_pass(str(path), sample_weight=w, **kw), ref)
    assert_summaries_close(one_pass(pairs, **kw), ref)
    with dask.config.set(scheduler="synchronous"):
        dX = da.from_array(X, chunks=(60, 2))
        assert_summaries_close(one_pass(dX, sample_weight=w, **kw), ref)
        dw = da.from_array(w, chunks=200)
        assert_summaries_close(one_pass(dX, sample_weight=dw, split_every=2, **kw), ref)
    with dask.config.set(scheduler="threads"):
        got = one_pass(da.from_array(X, chunks=(100, 3)), sample_weight=w, chunk_size=37, **kw)
        assert_summaries_close(got, ref)


def test_unweighted_chunk_list_and_array_likes(data):
    X, _, _ = data
    ref = one_pass(X)
    assert_summaries_close(one_pass([X[:100], X[100:]]), ref)
    assert_summaries_close(one_pass(X.tolist()), ref)
    torch = pytest.importorskip("torch")
    assert_summaries_close(one_pass(torch.from_numpy(X)), ref)


def test_iter_chunks_yields_float64_chunks(data):
    X, w, _ = data
    Xi = (X * 100).astype(np.int32)
    chunks = list(iter_chunks(Xi, chunk_size=100, sample_weight=w))
    assert [len(c) for c, _ in chunks] == [100] * 5 + [3]
    assert all(c.dtype == np.float64 and cw.dtype == np.float64 for c, cw in chunks)
    np.testing.assert_array_equal(np.concatenate([c for c, _ in chunks]), Xi)
    np.testing.assert_array_equal(np.concatenate([cw for _, cw in chunks]), w)
    split = list(iter_chunks([(X[:300], w[:300]), X[300:]], chunk_size=128))
    assert [len(c) for c, _ in split] == [128, 128, 44, 128, 75]
    np.testing.assert_array_equal(split[-1][1], 1.0)


def test_iter_chunks_dask_blocks(data):
    import dask
    import dask.array as da

    X, w, _ = data
    with dask.config.set(scheduler="synchronous"):
        chunks = list(iter_chunks(da.from_array(X, chunks=(200, 1)), sample_weight=w))
    assert [c.shape for c, _ in chunks] == [(200, 3), (200, 3), (103, 3)]
    np.testing.assert_array_equal(np.concatenate([cw for _, cw in chunks]), w)


def test_memmap_pass_reads_one_chunk_at_a_time(tmp_path):
    import tracemalloc

    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(400_000, 5))
    big[:] = 1.5
    big.flush()
    del big
    tracemalloc.start()
    s = one_pass(path, chunk_size=4096, directions=np.eye(5), max_order=3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB for an 8 MiB file in 160 KiB chunks"
    np.testing.assert_allclose(s.mean, 1.5)
    np.testing.assert_allclose(s.covariance, 0.0, atol=1e-12)


# ---------------------------------------------------------------- accumulator


def test_accumulator_update_merge_result(data):
    X, w, A = data
    ref = one_pass(X, max_order=3, directions=A, tensors=True, sample_weight=w)
    left = MomentAccumulator(max_order=3, directions=A, tensors=True)
    right = MomentAccumulator(3, max_order=3, directions=A, tensors=True)
    left.update(X[:10], w[:10]).update(X[10:200], w[10:200])
    right.update(X[200:], w[200:])
    assert_summaries_close(left.merge(right).result(), ref)
    assert_summaries_close(
        MomentAccumulator(max_order=3, directions=A, tensors=True).merge(left).result(), ref
    )
    other = MomentAccumulator(max_order=2, directions=A)
    with pytest.raises(ValueError, match="cannot merge"):
        left.merge(other.update(X[:5]))


def test_accumulator_empty_and_zero_weight(data):
    X, _, _ = data
    with pytest.raises(DataError, match="no data"):
        MomentAccumulator().result()
    acc = MomentAccumulator().update(X[:0]).update(X[:5], np.zeros(5))
    with pytest.raises(DataError, match="total sample weight is zero after 5 row"):
        acc.result()


# ---------------------------------------------------------------- bad input


def test_tensor_memory_limit_is_named():
    X = np.zeros((3, 100))
    with pytest.raises(ValueError, match="max_tensor_bytes"):
        one_pass(X, max_order=4, tensors=True)
    s = one_pass(np.ones((3, 100)), max_order=4, directions=np.eye(100)[:2])  # projections are fine
    np.testing.assert_allclose(s.projected, 1.0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(max_order=0), ValueError, "max_order"),
        (dict(max_order=2.5), ValueError, "max_order"),
        (dict(directions=np.ones((2, 4))), ValueError, "directions must have shape"),
        (dict(directions=[[np.nan, 0, 0]]), ValueError, "directions contain NaN"),
        (dict(center=[0.0, 1.0]), ValueError, "center must be"),
        (dict(chunk_size=0), ValueError, "chunk_size"),
        (dict(sample_weight=np.ones(4)), DataError, "4 entries for 503 rows"),
        (dict(sample_weight=-np.ones(503)), DataError, "non-negative"),
        (dict(sample_weight=np.zeros(503)), DataError, "total sample weight is zero"),
    ],
)
def test_bad_arguments(data, kwargs, error, match):
    X, _, _ = data
    with pytest.raises(error, match=match):
        one_pass(X, **kwargs)


def test_bad_data():
    with pytest.raises(DataError, match="NaN or infinite"):
        one_pass(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(DataError, match="2-D"):
        one_pass(np.arange(5.0))
    with pytest.raises(DataError, match="3 features, expected 2"):
        one_pass([np.ones((4, 2)), np.ones((4, 3))])
    with pytest.raises(DataError, match="empty"):
        one_pass(np.zeros((0, 2)))
    with pytest.raises(DataError, match="empty"):
        one_pass(iter([]))
    with pytest.raises(ValueError, match=r"\(X, w\) tuples"):
        one_pass([np.ones((4, 2))], sample_weight=np.ones(4))
    with pytest.raises(DataError, match="not numeric"):
        one_pass([np.array([["a", "b"]])])
    with pytest.raises(DataError, match="cannot read"):
        one_pass(3.0)


def test_bad_dask_input():
    import dask
    import dask.array as da

    X = np.ones((10, 2))
    X[7, 1] = np.inf
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(DataError, match="NaN or infinite"):
            one_pass(da.from_array(X, chunks=(5, 2)))
        with pytest.raises(DataError, match="sample_weight has shape"):
            one_pass(da.from_array(np.ones((10, 2)), chunks=5), sample_weight=np.ones(9))
        with pytest.raises(DataError, match="2-D"):
            one_pass(da.ones(5, chunks=2))
        with pytest.raises(DataError, match="non-negative"):
            one_pass(da.ones((4, 2), chunks=2), sample_weight=-np.ones(4))
