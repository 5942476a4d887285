"""The momix command: help, table reading, and one-line errors with exit status 2."""

import subprocess
import sys

import numpy as np
import pytest

from momix.cli import main, read_table


def _run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"], ["fit", "--help"]])
def test_help_exits_zero(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "momix", "--help"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0 and "demo" in out.stdout


def _assert_one_line_error(code, err, fragment):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("momix: error:") and fragment in lines[0]


def test_missing_file(capsys, tmp_path):
    code, _, err = _run(["fit", "lowrank", str(tmp_path / "none.csv")], capsys)
    _assert_one_line_error(code, err, "no such file")


def test_unknown_subcommand_and_option(capsys):
    code, _, err = _run(["bogus"], capsys)
    _assert_one_line_error(code, err, "invalid choice")
    code, _, err = _run(["demo", "--no-such-flag"], capsys)
    _assert_one_line_error(code, err, "unrecognized")


def test_unknown_demo_part(capsys, tmp_path):
    code, _, err = _run(["demo", "--parts", "nope", "--out", str(tmp_path)], capsys)
    _assert_one_line_error(code, err, "unknown demo part")


def test_bad_column(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    code, _, err = _run(["fit", "expansion", str(path), "--columns", "c"], capsys)
    _assert_one_line_error(code, err, "no column 'c'")


def test_bad_param_syntax(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a\n1\n2\n")
    code, _, err = _run(["fit", "expansion", str(path), "--param", "oops"], capsys)
    _assert_one_line_error(code, err, "key=value")


def test_unknown_file_type(capsys, tmp_path):
    path = tmp_path / "d.xlsx"
    path.write_text("x")
    code, _, err = _run(["predict", str(path), str(path)], capsys)
    _assert_one_line_error(code, err, "")


def test_read_table_formats(tmp_path):
    data = np.arange(12.0).reshape(4, 3)
    np.save(tmp_path / "d.npy", data)
    np.savetxt(tmp_path / "h.csv", data, delimiter=",", header="a,b,c", comments="")
    np.savetxt(tmp_path / "n.csv", data, delimiter=",")
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(
        pa.table({"a": data[:, 0], "b": data[:, 1], "c": data[:, 2]}), tmp_path / "d.parquet"
    )
    for name in ["d.npy", "h.csv", "n.csv", "d.parquet"]:
        got, names = read_table(tmp_path / name)
        np.testing.assert_array_equal(got, data)
        assert len(names) == 3
    got, names = read_table(tmp_path / "h.csv", columns="c,a")
    np.testing.assert_array_equal(got, data[:, [2, 0]])
    assert names == ["c", "a"]


def test_csv_with_missing_value_reads_as_nan(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("a,b\n1,\n3,4\n")
    got, _ = read_table(path)
    assert np.isnan(got[0, 1])


def _write_two_clusters(path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 5])
    np.savetxt(path, X, delimiter=",", header="a,b", comments="")
    return X


def test_fit_predict_sample_round_trip(capsys, tmp_path):
    data = tmp_path / "d.csv"
    X = _write_two_clusters(data)
    model = tmp_path / "m.skops"
    code, out, err = _run(
        [
            "fit",
            "lowrank",
            str(data),
            "--param",
            "n_components=2",
            "--param",
            "rank=1",
            "--param",
            "random_state=0",
            "--out",
            str(model),
        ],
        capsys,
    )
    assert code == 0, err
    assert "saved" in out and model.is_file()
    code, _, err = _run(
        ["predict", str(model), str(data), "--out", str(tmp_path / "p.csv")], capsys
    )
    assert code == 0, err
    labels = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    assert len(np.unique(labels[:100])) == 1 and labels[0] != labels[-1]
    code, _, err = _run(
        ["predict", str(model), str(data), "--proba", "--out", str(tmp_path / "q.npy")], capsys
    )
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "q.npy").sum(1), 1.0)
    code, _, err = _run(
        ["sample", str(model), "-n", "50", "--seed", "1", "--out", str(tmp_path / "s.csv")], capsys
    )
    assert code == 0, err
    assert np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1).shape == (50, X.shape[1])


def test_nan_in_data_is_one_line(capsys, tmp_path):
    path = tmp_path / "nan.csv"
    path.write_text("a,b\n1,2\n,4\n5,6\n")
    code, _, err = _run(["fit", "lowrank", str(path), "--param", "n_components=1"], capsys)
    _assert_one_line_error(code, err, "NaN")


def test_unknown_hyper_parameter_is_one_line(capsys, tmp_path):
    path = tmp_path / "d.csv"
    _write_two_clusters(path)
    code, _, err = _run(["fit", "lowrank", str(path), "--param", "n_clusters=2"], capsys)
    _assert_one_line_error(code, err, "no parameter 'n_clusters'")


def test_untrusted_model_file_is_one_line(capsys, tmp_path):
    path = tmp_path / "bad.skops"
    path.write_bytes(b"junk")
    data = tmp_path / "d.csv"
    _write_two_clusters(data)
    code, _, err = _run(["predict", str(path), str(data)], capsys)
    _assert_one_line_error(code, err, "not a readable")


def test_predict_with_a_model_without_likelihood_is_one_line(capsys, tmp_path):
    from momix.io import save
    from momix.polymom import MultiView, Polymom

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 3)) + 1.0
    model_path = save(Polymom(MultiView(1), 1, random_state=0).fit(Z), tmp_path / "m.skops")
    data = tmp_path / "z.csv"
    np.savetxt(data, Z, delimiter=",", header="a,b,c", comments="")
    code, _, err = _run(["predict", str(model_path), str(data)], capsys)
    _assert_one_line_error(code, err, "no likelihood")


def test_output_into_a_closed_pipe_exits_quietly(tmp_path):
    data = tmp_path / "d.csv"
    _write_two_clusters(data)
    model = tmp_path / "m.skops"
    assert main(["fit", "lowrank", str(data), "--param", "n_components=2", "--param", "rank=1",
                 "--param", "random_state=0", "--out", str(model)]) == 0
    big = tmp_path / "big.csv"
    np.savetxt(big, np.tile(np.loadtxt(data, delimiter=",", skiprows=1), (500, 1)),
               delimiter=",", header="a,b", comments="")
    cmd = f"{sys.executable} -m momix predict {model} {big} | head -n 2"
    res = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120, check=False)
    assert len(res.stdout.splitlines()) == 2
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr
