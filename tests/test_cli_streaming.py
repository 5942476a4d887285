"""``momix fit`` streams .npy and Parquet files in chunks for estimators that accept them."""

from __future__ import annotations

import numpy as np
import pytest

from momix import LowRankGaussianMixture
from momix.cli import chunk_reader, main
from momix.datasets import make_lowrank_gaussian_mixture
from momix.io import load

PARAMS = ["--param", "n_components=2", "--param", "rank=1", "--param", "random_state=0"]


@pytest.fixture(scope="module")
def data():
    return make_lowrank_gaussian_mixture(2000, 6, 2, rank=1, noise_variance=0.2, random_state=0).X


@pytest.fixture(scope="module")
def in_memory(data):
    """The estimator fitted on the array itself, for both file formats."""
    return LowRankGaussianMixture(2, rank=1, random_state=0).fit(data)


def _write_parquet(path, X, row_group_size):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({f"x{i}": X[:, i] for i in range(X.shape[1])})
    pq.write_table(table, path, row_group_size=row_group_size)


def test_chunk_reader_npy_and_parquet(tmp_path, data):
    np.save(tmp_path / "x.npy", data)
    _write_parquet(tmp_path / "x.parquet", data, 300)
    for name, cols in (("x.npy", "1,3"), ("x.parquet", "x1,x3")):
        chunks, shape, names = chunk_reader(tmp_path / name, cols)
        assert shape == (2000, 2)
        got = np.concatenate(list(chunks()))
        np.testing.assert_array_equal(got, data[:, [1, 3]])
        np.testing.assert_array_equal(np.concatenate(list(chunks())), got)  # re-readable
    assert names == ["x1", "x3"]


@pytest.mark.parametrize("suffix", ["npy", "parquet"])
def test_fit_streams_file_same_as_in_memory(tmp_path, data, in_memory, suffix, capsys):
    path = tmp_path / f"x.{suffix}"
    if suffix == "npy":
        np.save(path, data)
    else:
        _write_parquet(path, data, 250)
    out = tmp_path / "m.skops"
    assert main(["-v", "fit", "lowrank", str(path), *PARAMS, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "2000 x 6" in captured.out
    assert "reading x." in captured.err  # the progress bar of the passes
    model = load(out)
    chunks, _, _ = chunk_reader(path)  # the CLI fits exactly what fit() gets from its chunks
    direct = LowRankGaussianMixture(2, rank=1, random_state=0).fit(chunks)
    np.testing.assert_allclose(model.means_, direct.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.objective_, direct.objective_, rtol=1e-10)
    # against the in-memory fit: the same statistics up to rounding (1e-15), but this
    # noiseless whole-space objective is flat, and the re-weighted L-BFGS-B solves amplify
    # rounding into a different stopping point (objective within 0.5 %)
    ref = in_memory
    np.testing.assert_allclose(model.objective_, ref.objective_, rtol=1e-2)
    np.testing.assert_allclose(model.means_, ref.means_, atol=1e-2)
    np.testing.assert_allclose(model.covariances_, ref.covariances_, atol=1e-2)


def test_streaming_errors_are_one_line(tmp_path, data, capsys):
    bad = data.copy()
    bad[1500, 2] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    assert main(["fit", "lowrank", str(tmp_path / "bad.npy"), *PARAMS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NaN" in err[0]
    np.save(tmp_path / "x.npy", data)
    assert main(["fit", "lowrank", str(tmp_path / "x.npy"), "--columns", "9", *PARAMS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no column" in err[0]
