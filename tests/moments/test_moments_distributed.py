"""The dask moment pass on a two-process distributed cluster."""

from __future__ import annotations

import numpy as np
import pytest

from momix.moments import one_pass


@pytest.mark.slow
def test_local_cluster_with_processes_matches_numpy():
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(4000, 3)) + 1e3
    w = rng.uniform(0, 1, size=4000)
    A = rng.normal(size=(2, 3))
    ref = one_pass(X, max_order=3, directions=A, tensors=True, sample_weight=w)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        dX = da.from_array(X, chunks=(500, 3))
        dw = da.from_array(w, chunks=1000)
        got = one_pass(dX, max_order=3, directions=A, tensors=True, sample_weight=dw, split_every=2)
    np.testing.assert_allclose(got.covariance, ref.covariance, rtol=1e-10)
    np.testing.assert_allclose(got.tensors[3], ref.tensors[3], rtol=1e-10)
    np.testing.assert_allclose(got.projected, ref.projected, rtol=1e-10)
    assert got.n_samples == 4000


def test_in_process_distributed_client_is_used():
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(4)
    X = rng.normal(size=(600, 2))
    ref = one_pass(X, max_order=4, directions=np.eye(2))
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with distributed.get_task_stream(client) as stream:
            got = one_pass(da.from_array(X, chunks=(100, 2)), max_order=4, directions=np.eye(2))
    keys = [str(task["key"]) for task in stream.data]
    # block summaries (fused by dask into the reduction's first layer) and merges ran there
    assert sum("momix-merge" in key for key in keys) >= 6, keys
    np.testing.assert_allclose(got.covariance, ref.covariance, rtol=1e-12)
    np.testing.assert_allclose(got.projected, ref.projected, rtol=1e-12)
