"""The momix command: help, the console script, table reading, outputs, one-line errors.

Every user mistake is exit status 2 with exactly one stderr line ``momix: error: ...``.
Model-specific behaviour (responses, feature names, sampling) is in test_cli_models.py,
softmax mixtures in test_cli_softmax.py, the random argument vectors in test_cli_property.py.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from momix.cli import MAX_SAMPLE_BYTES, main, read_table

MOMIX = Path(sys.executable).parent / "momix"  # the installed console script of this venv

LOWRANK = ["--param", "n_components=2", "--param", "rank=1", "--param", "random_state=0"]


def _run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code, err, fragment=""):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("momix: error:"), err
    assert fragment in lines[0], err
    assert "Traceback" not in err


def _write_two_clusters(path, header="a,b"):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 5])
    np.savetxt(path, X, delimiter=",", header=header, comments="")
    return X


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A two-cluster CSV and a LowRankGaussianMixture fitted on it (in process)."""
    root = tmp_path_factory.mktemp("fitted")
    data = root / "d.csv"
    X = _write_two_clusters(data)
    model = root / "m.skops"
    assert main(["fit", "lowrank", str(data), *LOWRANK, "--out", str(model)]) == 0
    return data, model, X


# ---------------------------------------------------------------------------------------
# help and the console script
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"], ["fit", "--help"],
                                  ["predict", "--help"], ["sample", "--help"],
                                  ["bench", "--help"]])
def test_help_exits_zero(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "fit", "predict", "sample", "bench"):
        assert command in out


def test_fit_help_documents_the_softmax_layouts(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = capsys.readouterr().out
    for fragment in ("--counts", "--items", "--situation", "--groups", "long table"):
        assert fragment in out


# The installed console script (and ``python -m momix``), one subprocess run per command.
# Each run spends seconds importing scikit-learn (and skops, through it torch); the
# ``console`` fixture starts the five together and each test waits for its own. Every other
# test calls main() in this process.


@pytest.fixture(scope="module")
def console(request, tmp_path_factory):
    """``result(command)`` of the started console runs, their folder, and the data file."""
    root = tmp_path_factory.mktemp("console")
    data = root / "d.csv"
    X = _write_two_clusters(data)
    (root / "report").write_text("not a folder")
    repo = Path(__file__).resolve().parents[1]
    runs, started, done = {}, {}, {}

    def start(name, cmd, cwd=None):
        runs[name] = cmd
        started[name] = subprocess.Popen(
            cmd if isinstance(cmd, str) else [str(a) for a in cmd], shell=isinstance(cmd, str),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            cwd=cwd)

    try:
        start("fit", [MOMIX, "fit", "lowrank", data, *LOWRANK, "--out", root / "m.skops"])
        start("demo", [MOMIX, "demo", "--out", root / "report"])
        start("bench", [sys.executable, "-m", "momix", "bench", "--help"], cwd=repo)
        model = request.getfixturevalue("fitted")[1]  # fitted in this process meanwhile
        big = root / "big.csv"
        np.savetxt(big, np.tile(X, (25, 1)), delimiter=",", header="a,b", comments="")
        # 5000 rows, more than a pipe buffer, into a reader that stops after two lines
        start("predict", f"{MOMIX} predict {model} {big} --proba | head -n 2")
        start("sample", [MOMIX, "sample", model, "-n", 7, "--seed", 3])

        def result(name):
            if name not in done:
                out, err = started[name].communicate(timeout=300)
                done[name] = subprocess.CompletedProcess(runs[name], started[name].returncode,
                                                         out, err)
            return done[name]

        yield result, root, data
    finally:
        for name, proc in started.items():
            if name not in done:  # not waited for (a failure, a deselected test)
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


def test_console_script_fit(console, capsys):
    result, root, data = console
    res = result("fit")
    assert res.returncode == 0 and "saved to" in res.stdout, res.stderr
    code, out, err = _run(["predict", root / "m.skops", data, "--proba"], capsys)
    assert code == 0, err
    proba = np.loadtxt(out.splitlines()[1:], delimiter=",")
    assert proba.shape == (200, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_console_script_predict_into_a_closed_pipe_exits_quietly(console):
    res = console[0]("predict")
    lines = res.stdout.splitlines()
    assert lines[0] == "p0,p1" and len(lines) == 2
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr


def test_console_script_sample(console):
    res = console[0]("sample")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "a,b" and len(lines) == 8
    assert np.all(np.isfinite(np.loadtxt(lines[1:], delimiter=",")))


def test_console_script_demo_error_is_one_line(console):
    result, root, _ = console
    res = result("demo")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        f"momix: error: --out {root / 'report'} exists and is not a folder"]


def test_python_dash_m_bench_help_lists_benchmarks(console):
    res = console[0]("bench")
    assert res.returncode == 0, res.stderr
    scripts = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "benchmarks")
                     .glob("*.py") if not p.name.startswith("_"))
    assert scripts, "the source tree has benchmark scripts"
    for name in scripts:
        line = next((ln for ln in res.stdout.splitlines() if ln.split()[:1] == [name]), None)
        assert line is not None, (name, res.stdout)
        assert len(line.split(None, 1)) == 2  # name and its one-line summary


# ---------------------------------------------------------------------------------------
# reading tables
# ---------------------------------------------------------------------------------------


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
    for name, names in [("d.npy", ["0", "1", "2"]), ("h.csv", ["a", "b", "c"]),
                        ("n.csv", ["0", "1", "2"]), ("d.parquet", ["a", "b", "c"])]:
        got, got_names = read_table(tmp_path / name)
        np.testing.assert_array_equal(got, data)
        assert got_names == names
    got, names = read_table(tmp_path / "h.csv", columns="c,a")
    np.testing.assert_array_equal(got, data[:, [2, 0]])
    assert names == ["c", "a"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("a,b\n1,\n3,4\n", "line 2, column 'b': missing value"),
        ("a,b\n1,2\n3,nan\n", "line 3, column 'b': missing or non-finite"),
        ("a,b\n1,2\ninf,4\n", "line 3, column 'a': missing or non-finite"),
        ("a,b\n1,2\n3,x\n", "line 3, column 'b': 'x' is not a number"),
        ("a,b\n1,2\n3\n", "line 3 has 1 field(s); expected 2"),
        ("a,b\n1,2,3\n", "line 2 has 3 field(s); expected 2"),
        ("", "is empty"),
        ("a,b\n", "header but no data rows"),
        ("a,a\n1,2\n", "names column 'a' twice"),
        ("a,,c\n1,2,3\n", "column 1 has no name"),
    ],
)
def test_bad_csv_is_one_line(tmp_path, capsys, content, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match="bad.csv"):
        read_table(path)
    code, _, err = _run(["fit", "expansion", path], capsys)
    _one_line_error(code, err, fragment)


def test_bad_binary_files_are_one_line(tmp_path, capsys):
    (tmp_path / "latin.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    code, _, err = _run(["fit", "expansion", tmp_path / "latin.csv"], capsys)
    _one_line_error(code, err, "not a UTF-8 text file")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    code, _, err = _run(["fit", "expansion", tmp_path / "junk.npy"], capsys)
    _one_line_error(code, err, "not a readable .npy file")
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    code, _, err = _run(["fit", "expansion", tmp_path / "strings.npy"], capsys)
    _one_line_error(code, err, "momix reads real numbers")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    code, _, err = _run(["fit", "expansion", tmp_path / "cube.npy"], capsys)
    _one_line_error(code, err, "shape (2, 2, 2)")
    np.save(tmp_path / "none.npy", np.zeros((0, 2)))
    code, _, err = _run(["fit", "expansion", tmp_path / "none.npy"], capsys)
    _one_line_error(code, err, "no data")


def test_csv_with_bom_and_spaces(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa , b\n 1, 2\n3 ,4\n".encode())
    got, names = read_table(path)
    assert names == ["a", "b"]
    np.testing.assert_array_equal(got, [[1, 2], [3, 4]])


def test_missing_file_and_unknown_type(capsys, tmp_path):
    code, _, err = _run(["fit", "lowrank", tmp_path / "none.csv"], capsys)
    _one_line_error(code, err, "no such file")
    path = tmp_path / "d.xlsx"
    path.write_text("x")
    code, _, err = _run(["fit", "expansion", path], capsys)
    _one_line_error(code, err, "unknown file type '.xlsx'")


@pytest.mark.parametrize(
    ("columns", "fragment"),
    [
        ("c", "no column 'c'"),
        ("", "empty column name"),
        ("a,", "empty column name"),
        ("2", "no column '2'"),
        ("-1", "no column '-1'"),
        ("a,a", "selects column 'a' twice"),
        ("a,0", "selects column 'a' twice"),
    ],
)
def test_bad_columns_are_one_line(capsys, tmp_path, columns, fragment):
    path = tmp_path / "d.csv"
    _write_two_clusters(path)
    code, _, err = _run(["fit", "expansion", path, "--columns", columns,
                         "--out", tmp_path / "m.skops"], capsys)
    _one_line_error(code, err, fragment)
    assert not (tmp_path / "m.skops").exists()


# ---------------------------------------------------------------------------------------
# options and hyper-parameters
# ---------------------------------------------------------------------------------------


def test_unknown_subcommand_model_and_option(capsys, tmp_path):
    code, _, err = _run(["bogus"], capsys)
    _one_line_error(code, err, "invalid choice")
    code, _, err = _run(["fit", "nomodel", tmp_path / "d.csv"], capsys)
    _one_line_error(code, err, "invalid choice: 'nomodel'")
    code, _, err = _run(["demo", "--no-such-flag"], capsys)
    _one_line_error(code, err, "unrecognized")
    code, _, err = _run(["demo", "--parts", "nope", "--out", tmp_path / "r"], capsys)
    _one_line_error(code, err, "unknown demo part")


@pytest.mark.parametrize(
    ("param", "fragment"),
    [
        ("oops", "key=value"),
        ("=3", "key=value"),
        ("n_clusters=2", "no parameter 'n_clusters'"),
        ("n_components=x", "'n_components' parameter"),
        ("n_components=1.5", "'n_components' parameter"),
        ("n_components=0", "'n_components' parameter"),
        ("n_components=[2]", "'n_components' parameter"),
        ("random_state=abc", "'random_state' parameter"),
        ("random_state=-1", "'random_state' parameter"),
        ("random_state=1e30", "'random_state' parameter"),
        ("rank=" + "(" * 200, "'rank' parameter"),
    ],
)
def test_bad_params_are_one_line(capsys, tmp_path, param, fragment):
    path = tmp_path / "d.csv"
    _write_two_clusters(path)
    code, _, err = _run(["fit", "lowrank", path, "--param", param], capsys)
    _one_line_error(code, err, fragment)


def test_param_given_twice(capsys, tmp_path):
    path = tmp_path / "d.csv"
    _write_two_clusters(path)
    code, _, err = _run(["fit", "lowrank", path, "--param", "rank=1", "--param", "rank=2"], capsys)
    _one_line_error(code, err, "--param rank is given twice")


def test_random_state_param_makes_fits_repeatable(capsys, fitted, tmp_path):
    path = tmp_path / "d.csv"
    _write_two_clusters(path)  # the fixture's data, in another file
    code, _, err = _run(["fit", "lowrank", path, *LOWRANK, "--out", tmp_path / "b.skops"], capsys)
    assert code == 0, err
    import momix

    a, b = momix.load(fitted[1]), momix.load(tmp_path / "b.skops")
    np.testing.assert_array_equal(a.means_, b.means_)


@pytest.mark.parametrize(("n", "fragment"), [("0", "positive integer"), ("-3", "positive"),
                                             ("1.5", "positive integer"), ("ten", "'ten'")])
def test_bad_sample_sizes(capsys, fitted, n, fragment):
    _, model, _ = fitted
    code, _, err = _run(["sample", model, "-n", n], capsys)
    _one_line_error(code, err, fragment)


@pytest.mark.parametrize("seed", ["-1", "4294967296", "x"])
def test_bad_seeds(capsys, fitted, seed):
    _, model, _ = fitted
    code, _, err = _run(["sample", model, "--seed", seed], capsys)
    _one_line_error(code, err, "--seed")


def test_huge_sample_is_refused_up_front(capsys, fitted):
    _, model, _ = fitted
    code, _, err = _run(["sample", model, "-n", "1000000000000"], capsys)
    _one_line_error(code, err, "at most 1 GiB")
    most = MAX_SAMPLE_BYTES // (3 * 8)  # two features and the labels
    assert f"({most} draws here)" in err
    code, _, err = _run(["sample", model, "-n", str(most + 1)], capsys)
    _one_line_error(code, err, "at most 1 GiB")


# ---------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------


def test_fit_refuses_to_overwrite_without_force(capsys, tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    _write_two_clusters(path)
    monkeypatch.chdir(tmp_path)
    Path("model.skops").write_text("precious")
    code, _, err = _run(["fit", "lowrank", path, *LOWRANK], capsys)  # default --out model.skops
    _one_line_error(code, err, "model.skops exists; pass --force")
    assert Path("model.skops").read_text() == "precious"
    for flag in ("--force", "--overwrite"):
        code, out, err = _run(["fit", "lowrank", path, *LOWRANK, flag], capsys)
        assert code == 0 and "saved to model.skops" in out, err
    import momix

    assert momix.load("model.skops").n_components == 2


def test_predict_and_sample_refuse_to_overwrite(capsys, fitted, tmp_path):
    data, model, _ = fitted
    for command in (["predict", model, data], ["sample", model, "-n", "5"]):
        target = tmp_path / "out.csv"
        target.write_text("keep me")
        code, _, err = _run([*command, "--out", target], capsys)
        _one_line_error(code, err, "exists; pass --force")
        assert target.read_text() == "keep me"
        code, _, err = _run([*command, "--out", target, "--force"], capsys)
        assert code == 0, err
        assert target.read_text().splitlines()[0] in ("component", "a,b")
        assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary file left


@pytest.mark.parametrize("where", ["folder", "under_file", "missing_folder", "bad_suffix"])
def test_unwritable_outputs_are_one_line(capsys, fitted, tmp_path, where):
    data, model, _ = fitted
    (tmp_path / "file.txt").write_text("x")
    out, fragment = {
        "folder": (tmp_path, "is a folder"),
        "under_file": (tmp_path / "file.txt" / "o.csv", "is not a folder"),
        "missing_folder": (tmp_path / "no" / "o.csv", "does not exist"),
        "bad_suffix": (tmp_path / "o.parquet", "unknown output type '.parquet'"),
    }[where]
    for command in (["predict", model, data], ["sample", model, "-n", "5"]):
        code, _, err = _run([*command, "--out", out], capsys)
        _one_line_error(code, err, fragment)
    if where != "bad_suffix":  # a model file may have any suffix
        code, _, err = _run(["fit", "lowrank", data, *LOWRANK, "--out", out], capsys)
        _one_line_error(code, err, fragment)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_device_is_one_line(capsys, fitted):
    data, model, _ = fitted
    for command in (["predict", model, data], ["sample", model, "-n", "5"],
                    ["fit", "lowrank", data, *LOWRANK]):
        code, _, err = _run([*command, "--out", "/dev/full"], capsys)
        _one_line_error(code, err, "cannot write /dev/full: No space left on device")


def test_devices_are_written_without_force(capsys, fitted):
    data, model, _ = fitted
    code, _, err = _run(["predict", model, data, "--out", os.devnull], capsys)
    assert code == 0, err


def test_outputs_round_trip_exactly(capsys, fitted, tmp_path):
    data, model, _ = fitted
    code, _, err = _run(["predict", model, data, "--proba", "--out", tmp_path / "p.csv"], capsys)
    assert code == 0, err
    code, _, err = _run(["predict", model, data, "--proba", "--out", tmp_path / "p.npy"], capsys)
    assert code == 0, err
    from_csv = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(from_csv, np.load(tmp_path / "p.npy"))  # shortest repr
    code, out, _ = _run(["predict", model, data], capsys)
    assert out.splitlines()[0] == "component"
    assert set(out.splitlines()[1:]) == {"0", "1"}  # integers, not 0.0


def test_demo_refuses_a_non_empty_folder(capsys, tmp_path):
    (tmp_path / "old.txt").write_text("x")
    code, _, err = _run(["demo", "--out", tmp_path, "--parts", "expansion"], capsys)
    _one_line_error(code, err, "is not empty; pass --force")
    (tmp_path / "f").write_text("x")
    code, _, err = _run(["demo", "--out", tmp_path / "f" / "sub"], capsys)
    _one_line_error(code, err, "is not a folder")


# ---------------------------------------------------------------------------------------
# models the data or the command does not fit
# ---------------------------------------------------------------------------------------


def test_more_components_than_rows_is_refused_quickly(capsys, tmp_path):
    import time

    path = tmp_path / "d.csv"
    _write_two_clusters(path)
    for model in ("lowrank", "score", "polymom"):
        start = time.perf_counter()
        code, _, err = _run(["fit", model, path, "--param", "n_components=1000000000"], capsys)
        _one_line_error(code, err, "n_components=1000000000 needs at least")
        assert time.perf_counter() - start < 5
    dup = tmp_path / "dup.csv"
    np.savetxt(dup, np.tile([[1.0, 2.0], [3.0, 4.0]], (20, 1)), delimiter=",", header="a,b",
               comments="")
    code, _, err = _run(["fit", "score", dup, "--param", "n_components=3"], capsys)
    _one_line_error(code, err, "only 2 distinct row(s)")


def test_nan_in_npy_is_one_line(capsys, tmp_path):
    X = np.random.default_rng(0).normal(size=(50, 2))
    X[7, 1] = np.nan
    np.save(tmp_path / "x.npy", X)
    code, _, err = _run(["fit", "expansion", tmp_path / "x.npy"], capsys)
    _one_line_error(code, err, "row 7, column '1': missing or non-finite")


def test_untrusted_model_file_is_one_line(capsys, tmp_path):
    path = tmp_path / "bad.skops"
    path.write_bytes(b"junk")
    data = tmp_path / "d.csv"
    _write_two_clusters(data)
    for command in (["predict", path, data], ["sample", path]):
        code, _, err = _run(command, capsys)
        _one_line_error(code, err, "bad.skops")


def test_model_file_naming_a_function_is_one_line(capsys, tmp_path):
    import skops.io as sio

    path = tmp_path / "crafted.skops"
    sio.dump({"run": os.system}, path)  # a valid skops file whose content calls a function
    data = tmp_path / "d.csv"
    _write_two_clusters(data)
    for command in (["predict", path, data], ["sample", path]):
        code, out, err = _run(command, capsys)
        _one_line_error(code, err, "crafted.skops")
        assert out == ""


def test_bench_without_name_lists_and_unknown_folder(capsys, tmp_path):
    code, _, err = _run(["bench"], capsys)
    _one_line_error(code, err, "name a benchmark; available")
    code, _, err = _run(["bench", "--benchmarks", tmp_path, "x"], capsys)
    _one_line_error(code, err, "available: none")
    (tmp_path / "tiny.py").write_text('"""A tiny benchmark. More text."""\nimport sys\n'
                                      'print("ran", sys.argv[1:])\n')
    (tmp_path / "_helper.py").write_text('"""Not a benchmark."""\n')
    code, out, err = _run(["bench", "--benchmarks", tmp_path, "tiny", "--quick"], capsys)
    assert code == 0, err
    assert "ran ['--quick']" in out
    code, _, err = _run(["bench", "--benchmarks", tmp_path, "_helper"], capsys)
    _one_line_error(code, err, "available: tiny")


def test_unknown_benchmark_outside_the_source_tree(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./benchmarks here: the source tree's are listed
    code, _, err = _run(["bench", "no_such_benchmark"], capsys)
    _one_line_error(code, err, "no benchmark 'no_such_benchmark'")
    assert "lowrank_gaussian" in err
