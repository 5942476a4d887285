"""Random ``momix`` argument vectors mixing valid and invalid pieces over tiny data files.

Whatever the arguments, :func:`momix.cli.main`

* returns 0 or 2;
* on 2 prints exactly one stderr line, ``momix: error: ...``, and no traceback;
* on 0 prints nothing on stderr but ``momix: warning: ...`` lines;
* changes no existing file except the ``--out`` target when ``--force`` is given;
* writes only finite numbers (stdout tables, ``.csv`` and ``.npy`` outputs).

The default run draws 25 vectors (derandomised, so CI sees the same ones); the slow run 300.
Every example starts from the same files: anything it changed or created is put back.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import momix
from momix.cli import main
from momix.datasets import make_choice_set_mixture, make_softmax_mixture

#: hyper-parameters that keep every fit on the tiny files well under a second
FAST = {
    "lowrank": {"n_components": 2, "rank": 1, "max_iter": 20, "n_steps": 1},
    "polymom": {"n_components": 1, "max_iter": 5},
    "regression": {"n_components": 2, "init": "random", "max_iter": 20},
    "softmax": {"n_components": 2, "init": "random", "n_init": 1, "max_iter": 20},
    "score": {"n_components": 1, "n_noise_levels": 3, "n_steps": 6, "degree": 1,
              "noise_reps": 2, "n_readoff_samples": 200},
    "expansion": {"n_grid": 3, "bandwidth": 0.5},
}

PARAMS = ["n_components=1", "n_components=2", "n_components=1000000000", "n_components=0",
          "n_components=x", "n_components=1.5", "random_state=0", "random_state=7",
          "random_state=-1", "random_state=abc", "random_state=None", "max_iter=3",
          "max_iter=-1", "rank=1", "rank=(", "init=random", "init=nope", "bandwidth=0.3",
          "bandwidth=-1", "n_grid=2", "oops", "=1", "nope=1", "tol=nan"]

COLUMNS = [None, "a", "a,b", "b,a", "0", "0,1", "1", "9", "", "a,a", "a,0", "zz", "x1,x2",
           "f1,f2", "y", "a,,b"]
TARGETS = [None, None, "y", "a", "zz", "0"]
SOFTMAX = [[], [], ["--counts", "n"], ["--choice", "item", "--items", "features.csv"],
           ["--situation", "sid", "--choice", "chosen"],
           ["--situation", "sid", "--choice", "chosen", "--groups", "person"],
           ["--situation", "sid"], ["--choice", "item"], ["--groups", "person"],
           ["--choice", "chosen"], ["--items", "missing.csv"], ["--counts", "zz"]]

DATA = ["good.csv", "plain.csv", "good.npy", "nan.csv", "empty.csv", "header.csv",
        "ragged.csv", "text.csv", "dup.csv", "items.csv", "choices.csv", "long.csv",
        "features.csv", "missing.csv", "lowrank.skops", "folder"]
MODELS = ["lowrank.skops", "expansion.skops", "regression.skops", "polymom.skops",
          "score.skops", "items.skops", "long.skops", "junk.skops", "good.csv", "missing.skops"]
OUTS = [None, None, "new.csv", "new.npy", "new.skops", "new", "existing.csv", "good.csv",
        "folder", "folder/new.csv", "good.csv/x.csv", "nofolder/x.csv", "new.parquet",
        "/dev/null"]


def _write(root: Path) -> None:
    """The tiny data files, the fitted models and the protected files of every example."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(12, 2)), rng.normal(size=(12, 2)) + 4])
    y = np.where(np.arange(24) < 12, 2 * X[:, 0], -X[:, 0]) + 0.1 * rng.normal(size=24)
    table = np.column_stack([X, y])
    np.savetxt(root / "good.csv", table, delimiter=",", header="a,b,y", comments="")
    np.savetxt(root / "plain.csv", X, delimiter=",")
    np.save(root / "good.npy", X)
    (root / "nan.csv").write_text("a,b\n1,2\n3,nan\n5,6\n")
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("a,b\n")
    (root / "ragged.csv").write_text("a,b\n1,2\n3\n")
    (root / "text.csv").write_text("a,b\n1,2\n3,x\n")
    (root / "dup.csv").write_text("a,a\n1,2\n3,4\n")
    (root / "junk.skops").write_bytes(b"PK\x03\x04 not a model")
    (root / "existing.csv").write_text("precious\n")
    (root / "folder").mkdir()
    (root / "folder" / "keep.txt").write_text("keep")
    d = make_softmax_mixture(60, 8, 2, 2, random_state=0)
    np.savetxt(root / "items.csv", np.column_stack([d.features, d.counts]), delimiter=",",
               header="f1,f2,n", comments="")
    np.savetxt(root / "features.csv", d.features, delimiter=",", header="f1,f2", comments="")
    np.savetxt(root / "choices.csv", d.choices, delimiter=",", header="item", comments="",
               fmt="%d")
    c = make_choice_set_mixture(6, 3, 3, 2, 2, random_state=0)
    N, J, L = c.features.shape
    chosen = np.zeros((N, J))
    chosen[np.arange(N), c.chosen] = 1
    np.savetxt(root / "long.csv", np.column_stack([np.repeat(np.arange(N), J),
                                                   c.features.reshape(N * J, L), chosen.ravel(),
                                                   np.repeat(c.groups, J)]),
               delimiter=",", header="sid,x1,x2,chosen,person", comments="")
    fits = {
        "lowrank.skops": ["lowrank", "good.csv", "--columns", "a,b"],
        "expansion.skops": ["expansion", "good.csv", "--columns", "a,b"],
        "polymom.skops": ["polymom", "good.csv", "--columns", "a,b"],
        "score.skops": ["score", "good.csv", "--columns", "a,b"],
        "regression.skops": ["regression", "good.csv", "--target", "y"],
        "items.skops": ["softmax", "items.csv", "--counts", "n"],
        "long.skops": ["softmax", "long.csv", "--situation", "sid", "--choice", "chosen",
                       "--groups", "person"],
    }
    for out, (model, *rest) in fits.items():
        params = [f"--param={k}={v}" for k, v in FAST[model].items()]
        assert main(["fit", model, *rest, *params, "--param", "random_state=0",
                     "--out", out]) == 0, out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_property")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            _write(root)
        yield root
    finally:
        os.chdir(cwd)


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _restore(root: Path, before: dict[Path, bytes]) -> None:
    for p in sorted(root.rglob("*"), reverse=True):
        if p.is_file() and p not in before:
            p.unlink()
        elif p.is_dir() and not any(p.iterdir()) and p.name != "folder":
            shutil.rmtree(p)
    for p, content in before.items():
        if not p.is_file() or p.read_bytes() != content:
            p.write_bytes(content)


#: coherent pieces per model: (data file, flags) that fit or predict, and sample flags
VALID_FIT = {
    "lowrank": [["good.csv", "--columns", "a,b"], ["plain.csv"], ["good.npy"]],
    "polymom": [["good.csv", "--columns", "b,a"], ["good.npy"]],
    "score": [["good.csv", "--columns", "0,1"], ["plain.csv"]],
    "expansion": [["good.csv", "--columns", "a"], ["good.npy"]],
    "regression": [["good.csv", "--target", "y"], ["good.csv", "--target", "y", "--columns", "a"]],
    "softmax": [["items.csv", "--counts", "n"],
                ["choices.csv", "--choice", "item", "--items", "features.csv"],
                ["long.csv", "--situation", "sid", "--choice", "chosen", "--groups", "person"],
                ["long.csv", "--situation", "sid", "--choice", "chosen", "--columns", "x1,x2"]],
}
VALID_PREDICT = {
    "lowrank.skops": [["good.csv"], ["good.npy"], ["plain.csv"]],
    "expansion.skops": [["good.csv"]],
    "polymom.skops": [["good.csv"]],
    "score.skops": [["good.csv"], ["good.npy"]],
    "regression.skops": [["good.csv"], ["good.csv", "--target", "y"]],
    "items.skops": [["choices.csv", "--choice", "item"],
                    ["choices.csv", "--choice", "item", "--items", "items.csv"]],
    "long.skops": [["long.csv", "--situation", "sid", "--choice", "chosen", "--groups",
                    "person"]],
}
VALID_SAMPLE = {
    "lowrank.skops": [["-n", "5"]], "expansion.skops": [["-n", "3", "--seed", "1"]],
    "polymom.skops": [["-n", "4"]], "score.skops": [["-n", "2"]], "items.skops": [["-n", "6"]],
    "long.skops": [["--data", "long.csv", "--situation", "sid", "--groups", "person"]],
}
#: one wrong (or merely surplus) piece, added to a coherent command now and then
MUTATIONS = [["--columns", c] for c in COLUMNS if c is not None] + [
    ["--target", "y"], ["--target", "zz"], ["--proba"], ["--param", "n_components=1000000000"],
    ["--param", "random_state=abc"], ["--param", "nope=1"], ["--counts", "n"],
    ["--choice", "zz"], ["--situation", "sid"], ["--groups", "person"], ["--items", "good.csv"],
    ["-n", "0"], ["-n", "1000000000000"], ["--seed", "-1"], ["--data", "good.csv"], ["--bogus"]]


def _mutate(draw, argv: list[str]) -> list[str]:
    if draw(st.integers(0, 2)) == 0:  # a third of the commands get one extra piece
        piece = draw(st.sampled_from(MUTATIONS))
        argv = argv + piece
    return argv


@st.composite
def _fit(draw):
    model = draw(st.sampled_from([*FAST, "nope"]))
    if model in VALID_FIT and draw(st.booleans()):
        argv = ["fit", model, *draw(st.sampled_from(VALID_FIT[model]))]
        argv += [f"--param={k}={v}" for k, v in FAST[model].items()]
        return _mutate(draw, argv + ["--param", "random_state=0"])
    argv = ["fit", model, draw(st.sampled_from(DATA))]
    drawn = draw(st.lists(st.sampled_from(PARAMS), max_size=3))
    keys = {p.partition("=")[0] for p in drawn}
    fast = [f"{k}={v}" for k, v in FAST.get(model, {}).items() if k not in keys]
    for p in [*drawn, *fast]:
        argv += ["--param", p]
    columns = draw(st.sampled_from(COLUMNS))
    target = draw(st.sampled_from(TARGETS))
    argv += [] if columns is None else ["--columns", columns]
    argv += [] if target is None else ["--target", target]
    argv += draw(st.sampled_from(SOFTMAX))
    return argv


@st.composite
def _predict(draw):
    model = draw(st.sampled_from(MODELS))
    if model in VALID_PREDICT and draw(st.booleans()):
        argv = ["predict", model, *draw(st.sampled_from(VALID_PREDICT[model]))]
        return _mutate(draw, argv + (["--proba"] if draw(st.booleans()) else []))
    argv = ["predict", model, draw(st.sampled_from(DATA))]
    columns = draw(st.sampled_from(COLUMNS))
    target = draw(st.sampled_from(TARGETS))
    argv += [] if columns is None else ["--columns", columns]
    argv += [] if target is None else ["--target", target]
    argv += ["--proba"] if draw(st.booleans()) else []
    argv += draw(st.sampled_from(SOFTMAX))
    return argv


@st.composite
def _sample(draw):
    model = draw(st.sampled_from(MODELS))
    if model in VALID_SAMPLE and draw(st.booleans()):
        return _mutate(draw, ["sample", model, *draw(st.sampled_from(VALID_SAMPLE[model]))])
    argv = ["sample", model]
    n = draw(st.sampled_from([None, "5", "1", "0", "-2", "x", "2.5", "1000000000000"]))
    seed = draw(st.sampled_from([None, "0", "3", "-1", "z"]))
    argv += [] if n is None else ["-n", n]
    argv += [] if seed is None else ["--seed", seed]
    argv += draw(st.sampled_from([[], [], ["--data", "long.csv", "--situation", "sid"],
                                  ["--data", "long.csv", "--situation", "sid", "--groups",
                                   "person", "--choice", "chosen"],
                                  ["--data", "long.csv"], ["--situation", "sid"]]))
    return argv


@st.composite
def _other(draw):
    """demo and bench, only in forms that fail before running anything, and stray tokens."""
    kind = draw(st.sampled_from(["demo", "bench", "tokens"]))
    if kind == "demo":
        argv = ["demo", "--out", draw(st.sampled_from(["existing.csv", "folder",
                                                       "good.csv/sub"]))]
        return argv + draw(st.sampled_from([[], ["--parts", "nope"], ["--parts", ""],
                                            ["--seed", "-1"]]))
    if kind == "bench":
        return ["bench", "--benchmarks", "folder", *draw(st.sampled_from([[], ["nope"]]))]
    return draw(st.lists(st.sampled_from(["fit", "predict", "sample", "--out", "-n", "--bogus",
                                          "lowrank", "good.csv", "x", "--param", "-v=3", "",
                                          "--columns", "--force", "--help-me"]),
                         min_size=0, max_size=5))


@st.composite
def _argv(draw):
    argv = draw(st.one_of(_fit(), _predict(), _sample(), _other()))
    if argv[:1] in (["fit"], ["predict"], ["sample"]):
        out = draw(st.sampled_from(OUTS[:3] if argv[0] != "fit" else [None, "new.skops"])
                   if draw(st.booleans()) else st.sampled_from(OUTS))
        argv += [] if out is None else ["--out", out]
        argv += ["--force"] if draw(st.booleans()) else []
    return argv


def _finite_table(text: str) -> None:
    lines = text.strip().splitlines()
    assert lines, "an empty table"
    if len(lines) > 1:
        values = np.loadtxt(lines[1:], delimiter=",", ndmin=2)
        assert np.all(np.isfinite(values)), text


def _out_path(argv: list[str]) -> str | None:
    if "--out" in argv and argv.index("--out") + 1 < len(argv):
        return argv[argv.index("--out") + 1]
    return "model.skops" if argv[:1] == ["fit"] else None


def _check(root: Path, argv: list[str], *, in_hypothesis: bool = True) -> None:
    before = _snapshot(root)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # --help of argparse; no such token is drawn
                code = exc.code
        stderr = err.getvalue()
        if in_hypothesis:  # counted by --hypothesis-show-statistics
            event(f"{argv[0] if argv else '(none)'} exit {code}")
        assert code in (0, 2), (argv, code, stderr)
        assert "Traceback" not in stderr, (argv, stderr)
        if code == 2:
            lines = stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("momix: error: "), (argv, stderr)
        else:
            assert all(ln.startswith("momix: warning: ") for ln in stderr.splitlines()), (
                argv, stderr)
        target = _out_path(argv)
        target_path = None if target is None else (root / target).resolve()
        forced = "--force" in argv
        changed = [p for p, c in before.items() if not p.is_file() or p.read_bytes() != c]
        for path in changed:
            assert code == 0 and forced and path.resolve() == target_path, (
                argv, f"{path.name} changed without --force")
        if code == 0 and argv[0] in ("predict", "sample"):
            if target is None:
                _finite_table(out.getvalue())
            elif target_path is not None and target_path.is_file():
                if target_path.suffix == ".npy":
                    assert np.all(np.isfinite(np.load(target_path))), argv
                else:
                    _finite_table(target_path.read_text())
        if code == 0 and argv[0] == "fit" and target_path.is_file():
            fitted = momix.load(target_path)
            assert len(fitted.feature_names_in_) == fitted.n_features_in_
    finally:
        _restore(root, before)


_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.function_scoped_fixture])


@settings(max_examples=25, derandomize=True, **_SETTINGS)
@given(argv=_argv())
def test_random_argument_vectors(workdir, argv):
    _check(workdir, argv)


@pytest.mark.slow
@settings(max_examples=300, **_SETTINGS)
@given(argv=_argv())
def test_random_argument_vectors_many(workdir, argv):
    _check(workdir, argv)


def test_the_checks_catch_what_the_property_forbids(workdir, monkeypatch):
    """The property's checks fail on an overwrite, a second error line and a NaN output."""
    import sys

    this = sys.modules[__name__]

    def overwrite(argv):
        (workdir / "existing.csv").write_text("gone")
        return 0

    def two_lines(argv):
        print("momix: error: one\nmore", file=sys.stderr)
        return 2

    def nan_output(argv):
        print("p0\nnan")
        return 0

    for fake, message in ((overwrite, "changed without --force"), (two_lines, "more"),
                          (nan_output, "nan")):
        monkeypatch.setattr(this, "main", fake)
        with pytest.raises(AssertionError, match=message):
            _check(workdir, ["predict", "lowrank.skops", "good.csv"], in_hypothesis=False)
    assert (workdir / "existing.csv").read_text() == "precious\n"  # restored
