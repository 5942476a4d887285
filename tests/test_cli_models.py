"""The momix command per model family: responses, column names, what each model can do."""

import contextlib
import io
import warnings

import numpy as np
import pytest

import momix
from momix.cli import main

LOWRANK = ["--param", "n_components=2", "--param", "rank=1", "--param", "random_state=0"]
REGRESSION = ["--param", "n_components=2", "--param", "init=random", "--param", "n_init=3",
              "--param", "random_state=0"]


def _run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code, err, fragment=""):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("momix: error:"), err
    assert fragment in lines[0], err


def _csv(path, data, names):
    np.savetxt(path, data, delimiter=",", header=",".join(names), comments="")
    return path


def _table(text):
    lines = text.strip().splitlines()
    return lines[0].split(","), np.loadtxt(lines[1:], delimiter=",", ndmin=2)


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    """Two well separated lines y = 3x + 1 and y = -2x - 1 (noise 0.1); a fitted model."""
    root = tmp_path_factory.mktemp("regression")
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=(300, 1))
    z = rng.integers(0, 2, size=300)
    y = np.where(z == 0, 3 * x[:, 0] + 1, -2 * x[:, 0] - 1) + 0.1 * rng.normal(size=300)
    data = _csv(root / "r.csv", np.column_stack([y, x]), ["y", "x"])  # response first
    model = root / "reg.skops"
    assert main(["fit", "regression", str(data), "--target", "y", *REGRESSION,
                 "--out", str(model)]) == 0
    return data, model, x, y, z


@pytest.fixture(scope="module")
def lowrank(tmp_path_factory):
    root = tmp_path_factory.mktemp("lowrank")
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) + 5])
    data = _csv(root / "d.csv", X, ["a", "b", "c"])
    model = root / "m.skops"
    err = io.StringIO()  # the fit's warnings, for test_success_prints_warnings_as_single_lines
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(["fit", "lowrank", str(data), *LOWRANK, "--out", str(model)]) == 0
    return data, model, X, err.getvalue()


# ---------------------------------------------------------------------------------------
# mixtures of regressions: the response
# ---------------------------------------------------------------------------------------


def test_regression_fit_needs_the_target(capsys, regression, tmp_path):
    data = regression[0]
    code, _, err = _run(["fit", "regression", data, "--out", tmp_path / "m.skops"], capsys)
    _one_line_error(code, err, "needs --target")
    code, _, err = _run(["fit", "regression", data, "--target", "nope"], capsys)
    _one_line_error(code, err, "no column 'nope' (--target)")
    code, _, err = _run(["fit", "regression", data, "--target", "y", "--columns", "x,y"], capsys)
    _one_line_error(code, err, "column 'y' is both a feature")


def test_regression_stores_feature_names_without_the_response(regression):
    model = momix.load(regression[1])
    assert list(model.feature_names_in_) == ["x"]
    assert model.n_features_in_ == 1


def test_regression_predict_without_response_is_the_conditional_mean(capsys, regression):
    data, model_path, x, _, _ = regression
    code, out, err = _run(["predict", model_path, data], capsys)
    assert code == 0, err
    header, values = _table(out)
    model = momix.load(model_path)
    expected = (x @ model.coef_.T + model.intercept_) @ model.weights_
    assert header == ["prediction"]
    np.testing.assert_allclose(values[:, 0], expected, rtol=1e-12)


def test_regression_proba_needs_the_response(capsys, regression):
    data, model, *_ = regression
    code, out, err = _run(["predict", model, data, "--proba"], capsys)
    _one_line_error(code, err, "needs the response: pass --target")
    assert out == ""


def test_regression_posteriors_given_the_response(capsys, regression):
    data, model_path, x, y, z = regression
    code, out, err = _run(["predict", model_path, data, "--target", "y", "--proba"], capsys)
    assert code == 0, err
    header, proba = _table(out)
    assert header == ["p0", "p1"]
    with warnings.catch_warnings():  # arrays without names for a model fitted with names
        warnings.simplefilter("ignore", UserWarning)
        expected = momix.load(model_path).predict_proba(x, y)
    np.testing.assert_allclose(proba, expected, rtol=1e-12)
    code, out, err = _run(["predict", model_path, data, "--target", "y"], capsys)
    assert code == 0, err
    header, labels = _table(out)
    assert header == ["component"]
    np.testing.assert_array_equal(labels[:, 0], np.argmax(proba, axis=1))
    # the two lines are recovered: labels agree with the truth up to a swap, bar the crossing
    agree = np.mean(labels[:, 0] == z)
    assert max(agree, 1 - agree) > 0.9


def test_regression_has_nothing_to_sample(capsys, regression):
    code, _, err = _run(["sample", regression[1]], capsys)
    _one_line_error(code, err, "MixtureOfLinearRegressions models y given x")


@pytest.mark.parametrize("model", ["lowrank", "expansion", "polymom", "score"])
def test_target_is_refused_for_density_models(capsys, lowrank, model, tmp_path):
    data = lowrank[0]
    out = tmp_path / "m.skops"
    code, _, err = _run(["fit", model, data, "--target", "c", "--out", out], capsys)
    _one_line_error(code, err, "--target names the response of a mixture of regressions")
    assert not out.exists()


def test_target_is_refused_at_predict_for_density_models(capsys, lowrank):
    data, model, _, _ = lowrank
    code, _, err = _run(["predict", model, data, "--target", "c"], capsys)
    _one_line_error(code, err, "takes no response")


def test_softmax_options_are_refused_for_other_models(capsys, lowrank, regression):
    code, _, err = _run(["fit", "lowrank", lowrank[0], "--choice", "a"], capsys)
    _one_line_error(code, err, "--choice applies to softmax mixtures")
    code, _, err = _run(["predict", regression[1], regression[0], "--situation", "x"], capsys)
    _one_line_error(code, err, "--situation applies to softmax mixtures")
    code, _, err = _run(["sample", lowrank[1], "--data", lowrank[0]], capsys)
    _one_line_error(code, err, "--data applies to softmax mixtures")


# ---------------------------------------------------------------------------------------
# models without components or sampler
# ---------------------------------------------------------------------------------------


def test_expansion_has_no_predict_but_samples(capsys, tmp_path):
    X = np.random.default_rng(0).normal(size=(200, 1))
    data = _csv(tmp_path / "x.csv", X, ["height"])
    model = tmp_path / "e.skops"
    code, _, err = _run(["fit", "expansion", data, "--out", model], capsys)
    assert code == 0, err
    code, _, err = _run(["predict", model, data, "--proba"], capsys)
    _one_line_error(code, err, "GMMExpansion")
    code, out, err = _run(["predict", model, data], capsys)
    if hasattr(momix.GMMExpansion, "predict"):  # the grid component of each row
        assert code == 0, err
        header, labels = _table(out)
        assert header == ["component"] and labels.shape == (200, 1)
        np.testing.assert_array_equal(labels[:, 0], momix.load(model).predict(X))
    else:
        _one_line_error(code, err, "GMMExpansion is a density estimate without components")
    code, out, err = _run(["sample", model, "-n", "20", "--seed", "0"], capsys)
    assert code == 0, err
    header, draws = _table(out)
    assert header == ["height"] and draws.shape == (20, 1)


def test_polymom_without_sampler_is_one_line(capsys, tmp_path):
    from momix.polymom import MultiView, Polymom

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 3)) + 1.0
    model_path = momix.save(Polymom(MultiView(1), 1, random_state=0).fit(Z), tmp_path / "m.skops")
    data = _csv(tmp_path / "z.csv", Z, ["a", "b", "c"])
    code, _, err = _run(["predict", model_path, data], capsys)
    _one_line_error(code, err, "no likelihood")
    code, _, err = _run(["sample", model_path], capsys)
    _one_line_error(code, err, "no sampler")


# ---------------------------------------------------------------------------------------
# column names
# ---------------------------------------------------------------------------------------


def test_sample_writes_the_fitted_column_names(capsys, lowrank, tmp_path):
    _, model, _, _ = lowrank
    code, out, err = _run(["sample", model, "-n", "5", "--seed", "1"], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == "a,b,c"
    code, _, err = _run(["sample", model, "-n", "5", "--out", tmp_path / "s.npy"], capsys)
    assert code == 0, err
    assert np.load(tmp_path / "s.npy").shape == (5, 3)


def test_fit_with_columns_stores_their_names_in_that_order(capsys, lowrank, tmp_path):
    data = lowrank[0]
    out = tmp_path / "m.skops"
    code, _, err = _run(["fit", "lowrank", data, "--columns", "c,a", *LOWRANK, "--out", out],
                        capsys)
    assert code == 0, err
    assert list(momix.load(out).feature_names_in_) == ["c", "a"]
    code, stdout, _ = _run(["sample", out, "-n", "3"], capsys)
    assert stdout.splitlines()[0] == "c,a"


def test_predict_takes_the_fitted_columns_by_name(capsys, lowrank, tmp_path):
    data, model, X, _ = lowrank
    code, ref, err = _run(["predict", model, data, "--proba"], capsys)
    assert code == 0, err
    shuffled = _csv(tmp_path / "s.csv", np.column_stack([X[:, [2, 0]], np.ones(len(X)),
                                                         X[:, 1]]), ["c", "a", "extra", "b"])
    code, got, err = _run(["predict", model, shuffled, "--proba"], capsys)
    assert code == 0, err
    assert got == ref
    code, got, err = _run(["predict", model, shuffled, "--proba", "--columns", "a,b,c"], capsys)
    assert code == 0 and got == ref, err


def test_predict_refuses_columns_in_another_order(capsys, lowrank):
    data, model, _, _ = lowrank
    code, _, err = _run(["predict", model, data, "--columns", "b,a,c"], capsys)
    _one_line_error(code, err, "--columns b,a,c differ from the model's columns a,b,c")
    code, _, err = _run(["predict", model, data, "--columns", "a,b"], capsys)
    _one_line_error(code, err, "differ from the model's columns")


def test_predict_refuses_a_file_without_the_fitted_names(capsys, lowrank, tmp_path):
    _, model, X, _ = lowrank
    other = _csv(tmp_path / "o.csv", X, ["a", "b", "z"])
    code, _, err = _run(["predict", model, other], capsys)
    _one_line_error(code, err, "has no column 'c'; the model was fitted on columns a, b, c")


def test_positional_files_match_by_position(capsys, lowrank, tmp_path):
    data, model, X, _ = lowrank
    code, ref, _ = _run(["predict", model, data], capsys)
    np.save(tmp_path / "x.npy", X)
    code, got, err = _run(["predict", model, tmp_path / "x.npy"], capsys)
    assert code == 0 and got == ref, err
    np.save(tmp_path / "wide.npy", np.column_stack([X, X]))
    code, _, err = _run(["predict", model, tmp_path / "wide.npy"], capsys)
    _one_line_error(code, err, "fitted on 3 feature column(s) (a, b, c)")
    code, got, err = _run(["predict", model, tmp_path / "wide.npy", "--columns", "3,4,5"], capsys)
    assert code == 0 and got == ref, err
    # a model fitted on a positional file predicts a named file by position
    npy_model = tmp_path / "n.skops"
    assert main(["fit", "lowrank", str(tmp_path / "x.npy"), *LOWRANK, "--out", str(npy_model)]) == 0
    assert list(momix.load(npy_model).feature_names_in_) == ["0", "1", "2"]
    code, got, err = _run(["predict", npy_model, data], capsys)
    assert code == 0, err
    code, _, _ = _run(["sample", npy_model, "-n", "2"], capsys)
    assert code == 0


def test_model_without_feature_names_still_works(capsys, lowrank, tmp_path):
    _, _, X, _ = lowrank
    plain = momix.LowRankGaussianMixture(2, rank=1, random_state=0).fit(X)
    path = momix.save(plain, tmp_path / "plain.skops")
    code, out, err = _run(["sample", path, "-n", "3"], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == "x0,x1,x2"
    code, _, err = _run(["predict", path, lowrank[0]], capsys)
    assert code == 0 and err == "", err


def test_success_prints_warnings_as_single_lines(lowrank):
    err = lowrank[3]  # the fixture's fit, which returned 0
    # three features, two rank-1 components: no noise-only directions, a MomixWarning says so
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("momix: warning:") for line in lines), err
