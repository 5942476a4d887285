"""LowRankGaussianMixture from .npy paths, memory maps, chunk lists, callables and dask."""

from __future__ import annotations

import numpy as np
import pytest

from momix import LowRankGaussianMixture
from momix.datasets import make_lowrank_gaussian_mixture
from momix.exceptions import DataError
from momix.metrics import mixture_errors

da = pytest.importorskip("dask.array")


def _close(a, b, tol=1e-8):
    np.testing.assert_allclose(a.weights_, b.weights_, atol=tol)
    np.testing.assert_allclose(a.means_, b.means_, atol=tol)
    np.testing.assert_allclose(a.covariances_, b.covariances_, atol=tol)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    data = make_lowrank_gaussian_mixture(2500, 20, 2, rank=1, noise_variance=0.25, random_state=0)
    path = tmp_path_factory.mktemp("lr") / "x.npy"
    np.save(path, data.X)
    return data.X, path


def _sources(X, path):
    return {
        "path": str(path),
        "memmap": np.load(path, mmap_mode="r"),
        "chunks": [X[:1000], X[1000:1700], X[1700:]],
        "callable": lambda: (X[i : i + 600] for i in range(0, len(X), 600)),
        "dask": da.from_array(X, chunks=(700, 20)),
    }


@pytest.mark.parametrize("kind", ["path", "memmap", "chunks", "callable", "dask"])
def test_streaming_equals_in_memory_small_n(small, kind):
    """N <= 3000: the subsample is the whole data, so the fit equals the in-memory one."""
    X, path = small
    kw = dict(n_components=2, rank=1, noise_variance=0.25, random_state=0)
    ref = LowRankGaussianMixture(**kw).fit(X)
    model = LowRankGaussianMixture(**kw).fit(_sources(X, path)[kind])
    _close(model, ref)
    assert model.n_features_in_ == 20
    np.testing.assert_allclose(model.objective_, ref.objective_, rtol=1e-8)


def test_streaming_whole_space_noiseless_and_weights(tmp_path):
    """d small (no subspace), weighted rows as (X, w) tuples and as sample_weight.

    Here the objective is flat near its minimum (whole-space L = 4 fit at d = 4): statistics
    equal to rounding give objectives equal to 1e-7 and parameters to ~1e-3 only, which is
    the L-BFGS-B tolerance, not a difference between the paths.
    """
    data = make_lowrank_gaussian_mixture(1500, 4, 2, rank=1, noise_variance=0.1, random_state=3)
    X = data.X
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    kw = dict(n_components=2, rank=1, noise_variance=0.1, random_state=1)
    ref = LowRankGaussianMixture(**kw).fit(X, sample_weight=w)
    pairs = [(X[:700], w[:700]), (X[700:], w[700:])]
    darr = da.from_array(X, chunks=(400, 4))
    for model in (
        LowRankGaussianMixture(**kw).fit(pairs),
        LowRankGaussianMixture(**kw).fit(darr, sample_weight=w),
    ):
        _close(model, ref, tol=5e-3)
        np.testing.assert_allclose(model.objective_, ref.objective_, atol=1e-6)


def test_large_n_same_answer_from_every_source(tmp_path):
    """N > 5000 (6000): subsample and statistics do not depend on the source or its chunking."""
    data = make_lowrank_gaussian_mixture(6_000, 20, 2, rank=1, noise_variance=0.5, random_state=2)
    X = data.X
    path = tmp_path / "x.npy"
    np.save(path, X)
    kw = dict(n_components=2, rank=1, noise_variance=0.5, random_state=0)
    fits = [LowRankGaussianMixture(**kw).fit(src) for src in _sources(X, path).values()]
    for other in fits[1:]:
        _close(other, fits[0], tol=1e-5)
    err = mixture_errors(
        data.weights,
        data.means,
        data.covariances,
        fits[0].weights_,
        fits[0].means_,
        fits[0].covariances_,
        match="covariances",
    )
    assert err.weights < 0.05 and err.means < 0.1 and err.covariances < 0.15


def test_noise_estimate_streaming(small):
    X, path = small
    kw = dict(n_components=2, rank=1, noise_variance="estimate", random_state=0)
    _close(LowRankGaussianMixture(**kw).fit(str(path)), LowRankGaussianMixture(**kw).fit(X))


def test_bad_streaming_input(tmp_path, small):
    X, _ = small
    model = LowRankGaussianMixture(2, rank=1)
    with pytest.raises(ValueError, match="more than once"):
        model.fit(x for x in [X[:100], X[100:]])
    with pytest.raises(DataError, match="cannot read"):
        model.fit(str(tmp_path / "missing.npy"))
    with pytest.raises(ValueError, match="streaming"):
        LowRankGaussianMixture(2, rank=1, weighting="full").fit([X[:10], X[10:]])
    with pytest.raises(DataError, match="NaN"):
        bad = X[:50].copy()
        bad[3, 2] = np.nan
        model.fit([X[:50], bad])


def test_distributed_local_cluster(small):
    """Two worker processes: the passes run as tasks, the answer matches the array."""
    distributed = pytest.importorskip("distributed")
    X, _ = small
    kw = dict(n_components=2, rank=1, noise_variance=0.25, random_state=0)
    ref = LowRankGaussianMixture(**kw).fit(X)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        model = LowRankGaussianMixture(**kw).fit(da.from_array(X, chunks=(500, 20)))
    _close(model, ref)


@pytest.mark.parametrize("noise", [None, 0.5])
def test_streaming_em_equals_in_memory_and_is_monotone(noise):
    """EM from per-chunk sufficient statistics (lists and dask) = the in-memory AECM."""
    data = make_lowrank_gaussian_mixture(2500, 20, 2, rank=1, noise_variance=0.5, random_state=0)
    X = data.X
    kw = dict(
        n_components=2, rank=1, noise_variance=noise, refine="em", random_state=0, max_iter=50
    )
    ref = LowRankGaussianMixture(**kw).fit(X)
    for src in ([X[:1000], X[1000:]], da.from_array(X, chunks=(600, 20))):
        model = LowRankGaussianMixture(**kw).fit(src)
        _close(model, ref, tol=1e-9)
        assert model.em_n_iter_ == ref.em_n_iter_
        np.testing.assert_allclose(model.em_log_likelihood_, ref.em_log_likelihood_, atol=1e-9)
        assert np.all(np.diff(model.em_log_likelihood_) >= -1e-12)


@pytest.mark.filterwarnings("ignore:the moment fit did not converge")
def test_streaming_em_whole_space_memmap_large_n(tmp_path):
    """d = 5 (no subspace), N = 8000 from a memory map: EM over all rows, monotone."""
    data = make_lowrank_gaussian_mixture(8000, 5, 2, rank=1, noise_variance=0.3, random_state=4)
    path = tmp_path / "x.npy"
    np.save(path, data.X)
    kw = dict(n_components=2, rank=1, refine="em", random_state=0, max_iter=30, tol=1e-6)
    model = LowRankGaussianMixture(**kw).fit(np.load(path, mmap_mode="r"))
    trace = model.em_log_likelihood_
    assert trace.size >= 2 and np.all(np.diff(trace) >= -1e-12)
    # the streamed likelihood of the final parameters is the in-memory score
    np.testing.assert_allclose(trace[-1], model.score(data.X), rtol=1e-10)
    assert abs(model.noise_variance_ - 0.3) < 0.05
