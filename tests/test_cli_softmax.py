"""``momix fit/predict/sample softmax`` from CSV tables in the three layouts of the CLI.

Data come from :mod:`momix.datasets`; each CLI result is compared with the estimator called
directly on the same arrays.
"""

import contextlib
import io
import warnings

import numpy as np
import pytest

import momix
from momix.cli import main
from momix.datasets import make_choice_set_mixture, make_softmax_mixture

PARAMS = ["--param", "n_components=2", "--param", "init=random", "--param", "n_init=2",
          "--param", "max_iter=60", "--param", "random_state=0"]
KWARGS = dict(n_components=2, init="random", n_init=2, max_iter=60, random_state=0)


def _run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _run_outside_a_test(args):
    """``_run`` for module fixtures (capsys is per test)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def _one_line_error(code, err, fragment=""):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("momix: error:"), err
    assert fragment in lines[0], err


def _table(text):
    lines = text.strip().splitlines()
    return lines[0].split(","), np.loadtxt(lines[1:], delimiter=",", ndmin=2)


def _csv(path, data, names, fmt="%.17g"):
    np.savetxt(path, data, delimiter=",", header=",".join(names), comments="", fmt=fmt)
    return path


def _direct(*args, **kwargs):
    with warnings.catch_warnings():  # random starts: the moment-start warning
        warnings.simplefilter("ignore")
        return momix.SoftmaxMixture(**KWARGS).fit(*args, **kwargs)


@pytest.fixture(scope="module")
def item_set(tmp_path_factory):
    """30 items with 2 features, 400 choices; the item table (with counts) and the choices."""
    root = tmp_path_factory.mktemp("items")
    d = make_softmax_mixture(400, 30, 2, 2, random_state=0)
    _csv(root / "items.csv", np.column_stack([d.features, d.counts]), ["f1", "f2", "n"])
    _csv(root / "features.csv", d.features, ["f1", "f2"])
    _csv(root / "choices.csv", d.choices[:, None], ["item"], fmt="%d")
    return root, d


@pytest.fixture(scope="module")
def situations(tmp_path_factory):
    """A long table: 40 panels x 5 occasions, 3 alternatives with 2 features each.

    Rows are shuffled (situations are found by id, alternatives keep their file order).
    """
    root = tmp_path_factory.mktemp("situations")
    c = make_choice_set_mixture(40, 5, 3, 2, 2, random_state=0)
    N, J, L = c.features.shape
    chosen = np.zeros((N, J))
    chosen[np.arange(N), c.chosen] = 1
    rows = np.column_stack([np.repeat(np.arange(N) * 7 + 3, J), c.features.reshape(N * J, L),
                            chosen.ravel(), np.repeat(c.groups, J)])
    perm = np.random.default_rng(0).permutation(N)  # whole situations in another order
    rows = rows.reshape(N, J, -1)[perm].reshape(N * J, -1)
    _csv(root / "long.csv", rows, ["sid", "x1", "x2", "chosen", "person"])
    return root, c


LONG = ["--situation", "sid", "--choice", "chosen"]


@pytest.fixture(scope="module")
def counts_model(item_set):
    """``fit softmax items.csv --counts n``: the model file and the run's (code, out, err)."""
    root, _ = item_set
    path = root / "counts.skops"
    return path, _run_outside_a_test(["fit", "softmax", root / "items.csv", "--counts", "n",
                                      *PARAMS, "--out", path])


@pytest.fixture(scope="module")
def situation_model(situations):
    """``fit softmax long.csv`` on features x1, x2 without panels: the model file and run."""
    root, _ = situations
    path = root / "situations.skops"
    return path, _run_outside_a_test(["fit", "softmax", root / "long.csv", *LONG, "--columns",
                                      "x1,x2", *PARAMS, "--out", path])


def test_item_set_counts_and_choices_fit_like_the_estimator(capsys, item_set, counts_model):
    root, d = item_set
    ref = _direct(d.features, d.choices)
    m1, (code, out, err) = counts_model
    m2 = root / "choices.skops"
    assert code == 0, err
    assert "30 items x 2 features" in out
    code, out, err = _run(["fit", "softmax", root / "choices.csv", "--choice", "item",
                           "--items", root / "features.csv", *PARAMS, "--out", m2], capsys)
    assert code == 0, err
    assert "400 choices among 30 items" in out
    for path in (m1, m2):
        model = momix.load(path)
        assert list(model.feature_names_in_) == ["f1", "f2"]
        np.testing.assert_allclose(model.coefs_, ref.coefs_, rtol=1e-10)
        np.testing.assert_allclose(model.weights_, ref.weights_, rtol=1e-10)


def test_item_set_predict_and_sample(capsys, item_set, counts_model):
    root, d = item_set
    model_path, (code, _, err) = counts_model
    assert code == 0, err
    model = momix.load(model_path)
    code, out, err = _run(["predict", model_path, root / "choices.csv", "--choice", "item",
                           "--proba"], capsys)
    assert code == 0, err
    header, proba = _table(out)
    assert header == ["p0", "p1"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = model.predict_proba(d.features, d.choices)
    np.testing.assert_allclose(proba, expected, rtol=1e-12)
    # another item table given by name (columns in another order, an extra column)
    _csv(root / "other.csv", np.column_stack([d.features[:, 1], d.counts, d.features[:, 0]]),
         ["f2", "n", "f1"])
    code, out2, err = _run(["predict", model_path, root / "choices.csv", "--choice", "item",
                            "--proba", "--items", root / "other.csv"], capsys)
    assert code == 0 and out2 == out, err
    code, out, err = _run(["predict", model_path, root / "choices.csv", "--choice", "item"],
                          capsys)
    assert code == 0, err
    header, labels = _table(out)
    assert header == ["component"]
    np.testing.assert_array_equal(labels[:, 0], np.argmax(expected, axis=1))
    code, out, err = _run(["sample", model_path, "-n", "50", "--seed", "2"], capsys)
    assert code == 0, err
    header, drawn = _table(out)
    assert header == ["choice"] and drawn.shape == (50, 1)
    np.testing.assert_array_equal(drawn[:, 0], model.sample(50, random_state=2)[0])
    # drawn choices feed back into fit
    _csv(root / "drawn.csv", drawn, ["choice"], fmt="%d")
    code, _, err = _run(["fit", "softmax", root / "drawn.csv", "--choice", "choice", "--items",
                         root / "features.csv", *PARAMS, "--out", root / "refit.skops"], capsys)
    assert code == 0, err


def test_situations_round_trip(capsys, situations):
    root, c = situations
    long = root / "long.csv"
    model_path = root / "panel.skops"
    code, out, err = _run(["fit", "softmax", long, *LONG, "--groups", "person", *PARAMS,
                           "--out", model_path], capsys)
    assert code == 0, err
    assert "200 choice situations x 3 alternatives x 2 features" in out
    ref = _direct(c.features, c.chosen, groups=c.groups)
    model = momix.load(model_path)
    assert list(model.feature_names_in_) == ["x1", "x2"]
    np.testing.assert_allclose(model.coefs_, ref.coefs_, rtol=1e-8)
    code, out, err = _run(["predict", model_path, long, *LONG, "--groups", "person", "--proba"],
                          capsys)
    assert code == 0, err
    _, proba = _table(out)
    # one row per situation, in situation-id order (ids 3, 10, 17, ... follow the dataset)
    np.testing.assert_allclose(proba, model.predict_proba(c.features, c.chosen, groups=c.groups),
                               rtol=1e-10)
    # draw a choice per situation: the table comes back with a drawn 0/1 column
    code, out, err = _run(["sample", model_path, "--data", long, "--situation", "sid",
                           "--choice", "chosen", "--groups", "person", "--seed", "4",
                           "--out", root / "drawn.csv"], capsys)
    assert code == 0, err
    drawn = np.loadtxt(root / "drawn.csv", delimiter=",", skiprows=1)
    original = np.loadtxt(long, delimiter=",", skiprows=1)
    with open(root / "drawn.csv") as fh:
        assert fh.readline().strip() == "sid,x1,x2,person,chosen"
    np.testing.assert_array_equal(drawn[:, :3], original[:, :3])
    assert np.all(np.bincount(np.unique(drawn[:, 0], return_inverse=True)[1],
                              weights=drawn[:, 4]) == 1)
    code, _, err = _run(["fit", "softmax", root / "drawn.csv", *LONG, "--groups", "person",
                         *PARAMS, "--out", root / "refit.skops"], capsys)
    assert code == 0, err


def test_fit_situations_prints_only_warnings(situation_model):
    _, (code, out, err) = situation_model
    assert code == 0, err
    assert "200 choice situations x 3 alternatives x 2 features" in out
    assert all(line.startswith("momix: warning:") for line in err.splitlines())


@pytest.mark.parametrize(
    ("rows", "flags", "fragment"),
    [
        ([[0, 1, 1], [0, 2, 0], [1, 3, 1]], LONG, "the same number of alternatives"),
        ([[0, 1, 1], [1, 2, 1]], LONG, "at least 2 alternatives"),
        ([[0, 1, 1], [0, 2, 1], [1, 1, 1], [1, 2, 0]], LONG, "has 2 chosen alternatives"),
        ([[0, 1, 0], [0, 2, 0], [1, 1, 1], [1, 2, 0]], LONG, "has 0 chosen alternatives"),
        ([[0, 1, 0.5], [0, 2, 0.5]], LONG, "must hold 1 for the chosen"),
        ([[0, 1, 1], [0, 2, 0]], ["--situation", "sid"], "need --choice"),
        ([[0, 1, 1], [0, 2, 0]], [*LONG, "--counts", "x"], "--counts applies to an item set"),
        ([[0, 1, 1], [0, 2, 0]], [*LONG, "--columns", "chosen"], "both a feature"),
        ([[0, 1, 1], [0, 2, 0]], ["--situation", "sid", "--choice", "sid"], "two roles"),
        ([[0, 1, 1], [0, 2, 0]], [], "needs one layout"),
        ([[0, 1, 1], [0, 2, 0]], ["--groups", "x"], "pass --situation too"),
        ([[0, 1, 1], [0, 2, 0]], ["--counts", "chosen", "--choice", "x"], "pass one"),
        ([[0, 1, 1], [0, 2, 0]], [*LONG, "--target", "x"], "takes no response"),
    ],
)
def test_bad_long_tables_are_one_line(capsys, tmp_path, rows, flags, fragment):
    data = _csv(tmp_path / "t.csv", np.array(rows, dtype=float), ["sid", "x", "chosen"])
    code, _, err = _run(["fit", "softmax", data, *flags, *PARAMS, "--out", tmp_path / "m.skops"],
                        capsys)
    _one_line_error(code, err, fragment)
    assert not (tmp_path / "m.skops").exists()


def test_a_panel_column_left_among_the_features_is_one_line(capsys, situations):
    root, _ = situations  # without --groups, "person" is a feature constant in each situation
    code, _, err = _run(["fit", "softmax", root / "long.csv", *LONG, *PARAMS], capsys)
    _one_line_error(code, err, "constant within every choice situation")


def test_groups_must_be_constant_within_a_situation(capsys, tmp_path):
    rows = np.array([[0, 1, 1, 5], [0, 2, 0, 6], [1, 1, 0, 5], [1, 2, 1, 5]], dtype=float)
    data = _csv(tmp_path / "t.csv", rows, ["sid", "x", "chosen", "g"])
    code, _, err = _run(["fit", "softmax", data, *LONG, "--groups", "g", *PARAMS], capsys)
    _one_line_error(code, err, "varies within choice situation 0")


def test_bad_item_choices_are_one_line(capsys, item_set, counts_model, tmp_path):
    root, _ = item_set
    _csv(tmp_path / "bad.csv", np.array([[0.0], [31.0]]), ["item"])
    code, _, err = _run(["fit", "softmax", tmp_path / "bad.csv", "--choice", "item", "--items",
                         root / "features.csv", *PARAMS], capsys)
    _one_line_error(code, err, "outside [0, 30)")
    _csv(tmp_path / "half.csv", np.array([[0.5], [1.0]]), ["item"])
    code, _, err = _run(["fit", "softmax", tmp_path / "half.csv", "--choice", "item", "--items",
                         root / "features.csv", *PARAMS], capsys)
    _one_line_error(code, err, "integer indices")
    counts_model, (code, _, err) = counts_model
    assert code == 0, err
    code, _, err = _run(["predict", counts_model, tmp_path / "bad.csv", "--choice", "item"],
                        capsys)
    _one_line_error(code, err, "--choice holds indices outside [0, 30)")
    code, _, err = _run(["predict", counts_model, root / "choices.csv"], capsys)
    _one_line_error(code, err, "needs the observed choices")
    code, _, err = _run(["sample", counts_model, "--data", root / "choices.csv"], capsys)
    _one_line_error(code, err, "pass --situation")


def test_situation_model_needs_situations(capsys, situations, situation_model):
    root, _ = situations
    model, (code, _, err) = situation_model
    assert code == 0, err
    code, _, err = _run(["sample", model, "-n", "5"], capsys)
    _one_line_error(code, err, "fitted on choice situations")
    code, _, err = _run(["sample", model, "--data", root / "long.csv", "--situation", "sid",
                         "-n", "5"], capsys)
    _one_line_error(code, err, "one draw each")
    code, _, err = _run(["predict", model, root / "long.csv", "--choice", "chosen"], capsys)
    _one_line_error(code, err, "fitted on choice situations")
    code, _, err = _run(["predict", model, root / "long.csv", "--situation", "sid"], capsys)
    _one_line_error(code, err, "needs the observed choices")


def test_too_many_classes_is_refused_quickly(capsys, item_set):
    root, _ = item_set
    code, _, err = _run(["fit", "softmax", root / "choices.csv", "--choice", "item", "--items",
                         root / "features.csv", "--param", "n_components=1000000000"], capsys)
    _one_line_error(code, err, "n_components=1000000000 needs at least")
