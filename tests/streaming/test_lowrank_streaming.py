"""LowRankGaussianMixture from .npy paths, memory maps, chunk lists, callables and dask."""

from __future__ import annotations

import warnings

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
    """N <= 3000: the subsample is the whole data, so the fit equals the in-memory one.

    The inputs of the solves (standardisation, basis, statistics) agree to 1e-14; the fits
    to the L-BFGS-B stopping tolerance: the DGMM objective is flat along the mixing weights
    here (an in-memory fit of the data perturbed by 1e-15 moves them by 6e-5), so the
    parameters agree to about 1e-4 and the objective to 1e-7.
    """
    X, path = small
    kw = dict(n_components=2, rank=1, noise_variance=0.25, random_state=0)
    ref = LowRankGaussianMixture(**kw).fit(X)
    model = LowRankGaussianMixture(**kw).fit(_sources(X, path)[kind])
    _close(model, ref, tol=2e-4)
    assert model.n_features_in_ == 20
    np.testing.assert_allclose(model.objective_, ref.objective_, rtol=1e-7)


def test_streaming_whole_space_noiseless_and_weights(tmp_path):
    """d small (no subspace), weighted rows as (X, w) tuples and as sample_weight.

    The statistics of the single streaming pass equal the in-memory ones to rounding
    (checked directly). The objective is flat near its minimum (whole-space L = 4 fit at
    d = 4): statistics equal to 1e-14 give objectives equal to 1e-8 and parameters only to
    a few 1e-2, the L-BFGS-B stopping point on a flat valley, not a difference of paths.
    """
    from momix.lowrank._stats import moment_statistics
    from momix.lowrank._stream import ChunkSource, first_pass

    data = make_lowrank_gaussian_mixture(1500, 4, 2, rank=1, noise_variance=0.1, random_state=3)
    X = data.X
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    kw = dict(n_components=2, rank=1, noise_variance=0.1, random_state=1)
    ref = LowRankGaussianMixture(**kw).fit(X, sample_weight=w)
    pairs = [(X[:700], w[:700]), (X[700:], w[700:])]
    darr = da.from_array(X, chunks=(400, 4))
    for source in (ChunkSource.wrap(pairs), ChunkSource.wrap(darr, w)):
        first = first_pass(source, 5000, np.random.default_rng(0), lambda d: 4)
        Z = first.summary.standardizer.transform(X)  # statistics of the standardised rows
        exact = moment_statistics(Z, np.sum(Z * Z, axis=1), w / w.sum(), 4).tensors
        for key, value in exact.items():
            np.testing.assert_allclose(first.statistics.tensors[key], value, rtol=1e-12, atol=1e-13)
    for model in (
        LowRankGaussianMixture(**kw).fit(pairs),
        LowRankGaussianMixture(**kw).fit(darr, sample_weight=w),
    ):
        _close(model, ref, tol=5e-2)
        np.testing.assert_allclose(model.objective_, ref.objective_, rtol=1e-6)


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


@pytest.mark.parametrize("d", [6, 20])  # whole space (one pass) and a subspace (two passes)
def test_single_precision_statistics_same_fit_from_every_source(tmp_path, d):
    """statistics_dtype='float32': every source gives the same fit, and the float64 fit, to
    solver tolerance (statistics within ~1e-7 relative; measured parameter differences
    2e-6 to 2.5e-4). The whole-space L = 4 objective (d = 6) is flat near its minimum, so its
    value (which omits the data constant) moves by up to 1e-3 relative."""
    data = make_lowrank_gaussian_mixture(6_000, d, 2, rank=1, noise_variance=0.5, random_state=4)
    X = data.X
    path = tmp_path / "x.npy"
    np.save(path, X)
    kw = dict(n_components=2, rank=1, noise_variance=0.5, random_state=0)

    def same(a, b):
        _close(a, b, tol=5e-4)
        np.testing.assert_allclose(a.objective_, b.objective_, rtol=5e-3)

    ref = LowRankGaussianMixture(statistics_dtype="float32", **kw).fit(str(path))
    same(ref, LowRankGaussianMixture(**kw).fit(str(path)))
    single = LowRankGaussianMixture(statistics_dtype="float32", **kw).fit(X)
    same(single, LowRankGaussianMixture(**kw).fit(X))  # in memory, both precisions
    sources = _sources(X, path)
    for kind in ("memmap", "chunks", "dask"):  # numpy memmap, list of chunks, dask array
        same(LowRankGaussianMixture(statistics_dtype="float32", **kw).fit(sources[kind]), ref)


def test_noise_estimate_streaming(small):
    X, path = small
    kw = dict(n_components=2, rank=1, noise_variance="estimate", random_state=0)
    streamed = LowRankGaussianMixture(**kw).fit(str(path))
    in_memory = LowRankGaussianMixture(**kw).fit(X)
    _close(streamed, in_memory, tol=2e-4)  # solver tolerance, see the small-N test above
    np.testing.assert_allclose(streamed.noise_variance_, in_memory.noise_variance_, rtol=1e-12)
    assert streamed.noise_method_ == in_memory.noise_method_ == "spectrum"


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_uniform_weight_scale_changes_nothing_streamed(small, scale):
    """Weights beside a dask array (numpy or dask) and inside (X, w) chunks."""
    X, _ = small
    kw = dict(n_components=2, rank=1, noise_variance=0.25, random_state=0)
    darr = da.from_array(X, chunks=(700, 20))
    ref = LowRankGaussianMixture(**kw).fit(darr)
    w = np.full(len(X), scale)
    for weights in (w, da.from_array(w, chunks=700)):
        _close(LowRankGaussianMixture(**kw).fit(darr, sample_weight=weights), ref, tol=1e-12)
    pairs = [(X[:1000], w[:1000]), (X[1000:], w[1000:])]
    ref_pairs = LowRankGaussianMixture(**kw).fit([X[:1000], X[1000:]])
    _close(LowRankGaussianMixture(**kw).fit(pairs), ref_pairs, tol=1e-12)


@pytest.mark.parametrize("kind", ["chunks", "callable", "dask"])
def test_streamed_odd_data_meet_the_contract(small, kind):
    """Offsets, tiny and huge scales, constant data and columns, NaN, few distinct rows."""
    from momix.testing import check_error, check_fitted

    X, _ = small
    X = X[:600, :3]
    cases = {
        "offset_1e8": (X + 1e8, None),
        "scale_1e-120": (X * 1e-120, None),
        "scale_1e-200": (X * 1e-200, "multiply X by a unit"),
        "beyond_1e100": (X * 1e150, "1e+100"),
        "constant": (np.ones_like(X), "constant"),
        "constant_column": (np.column_stack([X[:, :2], np.full(600, 3.0)]), None),
        "nan": (np.where(np.arange(1800).reshape(600, 3) == 7, np.nan, X), "NaN"),
        "one_distinct_row_per_component": (np.repeat(X[:2], 300, axis=0), "do not vary"),
    }
    for name, (Z, refused) in cases.items():
        if kind == "dask":
            source = da.from_array(Z, chunks=(250, 3))
        elif kind == "callable":
            source = lambda Z=Z: iter([Z[:250], Z[250:]])  # noqa: E731
        else:
            source = [Z[:250], Z[250:]]
        model = LowRankGaussianMixture(2, 1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model.fit(source)
            except Exception as exc:
                check_error(exc)
                assert refused is not None and refused in str(exc), (name, exc)
                continue
        assert refused is None, (name, "was fitted")
        check_fitted(model, Z)


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
    _close(model, ref, tol=2e-4)  # solver tolerance, see test_streaming_equals_in_memory_small_n


def _ecm_oracle(Y, resid, extra, params, estimate_noise):
    """One ECM step with explicit r x r covariances, scipy densities and a slow scatter."""
    from scipy.stats import multivariate_normal

    K, r, R = params.factors.shape
    s = params.noise_variance
    covs = [V @ V.T + s * np.eye(r) for V in params.factors]
    logp = np.column_stack(
        [np.log(params.weights[j]) + multivariate_normal(params.means[j], covs[j]).logpdf(Y)
         for j in range(K)]
    )  # fmt: skip
    top = logp.max(axis=1, keepdims=True)
    norm = top[:, 0] + np.log(np.exp(logp - top).sum(axis=1))
    loglik = norm.mean() - 0.5 * (extra * np.log(2 * np.pi * s) + resid.mean() / s)
    resp = np.exp(logp - norm[:, None])
    nk = resp.mean(axis=0)
    means = (resp.T @ Y) / len(Y) / nk[:, None]
    factors, total = np.empty_like(params.factors), resid.mean()
    for j, V in enumerate(params.factors):
        S = sum(resp[n, j] * np.outer(Y[n] - means[j], Y[n] - means[j]) for n in range(len(Y)))
        S /= len(Y) * nk[j]
        M = V.T @ V + s * np.eye(R)
        factors[j] = S @ V @ np.linalg.inv(s * np.eye(R) + np.linalg.solve(M, V.T @ S @ V))
        total += nk[j] * np.trace(S - S @ V @ np.linalg.solve(M, factors[j].T))
    noise = total / ((r + extra) * nk.sum()) if estimate_noise else s
    return loglik, nk / nk.sum(), means, factors, noise


@pytest.mark.parametrize("subspace", [False, True])
def test_one_pass_em_step_equals_explicit_oracle(subspace):
    """E-step statistics of one pass (3 chunks) + M-step = the explicit ECM step."""
    from momix.lowrank._em_stream import m_step, stream_e_step
    from momix.lowrank._engine import MixtureParams
    from momix.lowrank._stream import ChunkSource, reduce_chunks

    rng = np.random.default_rng(5)
    X = rng.normal(size=(90, 5)) + 3.0  # far from the origin: tests the centred scatter
    basis = np.linalg.qr(rng.normal(size=(5, 3)))[0] if subspace else None
    r = 3 if subspace else 5
    params = MixtureParams(
        np.array([0.3, 0.7]), rng.normal(size=(2, r)) + 3.0, rng.normal(size=(2, r, 2)), 0.8
    )
    source = ChunkSource.wrap([X[:20], X[20:61], X[61:]])
    stats = reduce_chunks(source, stream_e_step, basis, params)
    Y = X if basis is None else X @ basis
    resid = np.sum(X * X, axis=1) - np.sum(Y * Y, axis=1)
    extra = 5 - r
    loglik, weights, means, factors, noise = _ecm_oracle(Y, resid, extra, params, True)
    from momix.lowrank._em_stream import _loglik

    np.testing.assert_allclose(_loglik(stats, params, extra), loglik, rtol=1e-12)
    new = m_step(stats, params, True, extra)
    np.testing.assert_allclose(new.weights, weights, rtol=1e-11)
    np.testing.assert_allclose(new.means, means, rtol=1e-11)
    np.testing.assert_allclose(new.factors, factors, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(new.noise_variance, noise, rtol=1e-10)


@pytest.mark.parametrize("noise", [None, 0.5])
def test_streaming_em_one_pass_per_iteration_reaches_the_in_memory_em(noise):
    """One pass per iteration (counted), monotone, and the fixed point of the in-memory EM."""
    data = make_lowrank_gaussian_mixture(2500, 20, 2, rank=1, noise_variance=0.5, random_state=0)
    X = data.X
    kw = dict(n_components=2, rank=1, noise_variance=noise, refine="em", random_state=0)
    kw.update(max_iter=400, tol=1e-13)
    ref = LowRankGaussianMixture(**kw).fit(X)
    reads = []

    def chunks():
        reads.append(1)
        return iter([X[:1000], X[1000:]])

    for src in (chunks, da.from_array(X, chunks=(600, 20))):
        reads.clear()
        model = LowRankGaussianMixture(**kw).fit(src)
        if src is chunks:  # 2 passes for the moment fit, then one per EM iteration (+1)
            assert len(reads) == 2 + model.em_n_iter_ + 1
        _close(model, ref, tol=1e-6)
        np.testing.assert_allclose(model.noise_variance_, ref.noise_variance_, rtol=1e-7)
        np.testing.assert_allclose(
            model.em_log_likelihood_[-1], ref.em_log_likelihood_[-1], atol=1e-10
        )
        assert np.all(np.diff(model.em_log_likelihood_) >= -1e-12)
        assert model.converged_ or model.em_n_iter_ == 400


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
