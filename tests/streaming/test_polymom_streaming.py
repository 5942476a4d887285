"""Polymom from a .npy file, a memory map, chunks and a dask array: the in-memory answer."""

import numpy as np
import pytest

import momix
from momix.datasets import make_gaussian_mixture


@pytest.fixture(scope="module")
def data():
    return make_gaussian_mixture(4000, n_features=2, n_components=2, random_state=0).X + 50.0


def _fit(X, **kwargs):
    return momix.Polymom(n_components=2, random_state=0, **kwargs).fit(X)


@pytest.mark.parametrize("source", ["path", "memmap", "chunks", "callable", "dask"])
def test_streaming_equals_in_memory(data, source, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, data)
    chunks = [data[i : i + 700] for i in range(0, len(data), 700)]
    if source == "dask":
        da = pytest.importorskip("dask.array")
    X = {
        "path": lambda: str(path),
        "memmap": lambda: np.load(path, mmap_mode="r"),
        "chunks": lambda: chunks,
        "callable": lambda: lambda: iter(chunks),
        "dask": lambda: da.from_array(data, chunks=(900, 2)),
    }[source]()
    ref, est = _fit(data), _fit(X)
    np.testing.assert_allclose(est.data_location_, ref.data_location_, rtol=1e-12)
    np.testing.assert_allclose(est.data_scale_, ref.data_scale_, rtol=1e-10)
    # The SDP answer is reproducible only to ~1e-3: scaling the in-memory data by (1 + 1e-15),
    # or reversing its rows, moves its parameters by 4e-3 (values near 4); the streamed
    # moment system itself equals the in-memory one to 1e-14 (test below).
    np.testing.assert_allclose(est.params_, ref.params_, rtol=5e-3)
    np.testing.assert_allclose(est.weights_, ref.weights_, atol=5e-3)
    assert est.n_features_in_ == 2


def test_streamed_moment_system_equals_in_memory(data, tmp_path):
    from momix.moments import ChunkSource
    from momix.polymom._moments import empirical_system, streaming_system

    model = _fit(data).model_
    np.save(tmp_path / "x.npy", data)
    ref = empirical_system(model, data, np.ones(len(data)))
    got = streaming_system(
        model, ChunkSource.wrap(str(tmp_path / "x.npy"), chunk_size=333).chunks()
    )
    np.testing.assert_allclose(got.b, ref.b, rtol=1e-12)
    np.testing.assert_allclose(got.std, ref.std, rtol=1e-10)


def test_streaming_refuses_target_and_refine(data):
    with pytest.raises(ValueError, match="refine=None"):
        _fit([data[:2000], data[2000:]], refine="em")
    with pytest.raises(ValueError, match="more than once"):
        _fit(iter([data[:2000], data[2000:]]))


def test_cli_streams_npy_into_polymom(data, tmp_path, capsys):
    from momix.cli import main

    np.save(tmp_path / "x.npy", data)
    out = tmp_path / "m.skops"
    code = main(
        [
            "fit",
            "polymom",
            str(tmp_path / "x.npy"),
            "--param",
            "n_components=2",
            "--param",
            "random_state=0",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    fitted = momix.load(out)
    np.testing.assert_allclose(fitted.means_, _fit(data).means_, rtol=5e-3)
