"""Polymom's fit preparation (model, target, streamed data) and the profile of constants."""

import logging
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from momix.exceptions import DataError, SolverError
from momix.polymom import Gaussian1D, GaussianDiagonal, GaussianSpherical, LinearRegression
from momix.polymom._inputs import (
    default_model,
    resolve_model,
    streamed_data,
    with_target,
)
from momix.polymom._profile import (
    constant_grid,
    convex_iteration_progress,
    fit_profile,
    profile_score,
    resolve_weighting,
)
from momix.polymom._scaling import data_scaling


def test_default_model_by_width_and_components():
    assert isinstance(default_model(1, 3), Gaussian1D) and default_model(1, 3).order == 9
    one = default_model(3, 1)
    assert isinstance(one, GaussianDiagonal) and one.order == 2
    assert default_model(2, 2).order == 4
    with pytest.raises(DataError, match="too large"):
        default_model(11, 2)
    with pytest.raises(DataError, match="expects 2 feature"):
        resolve_model(GaussianDiagonal(2), 3, 2)
    given = GaussianDiagonal(2)
    assert resolve_model(given, 2, 5) is given


def test_target_becomes_the_last_column():
    X = np.arange(6.0).reshape(3, 2)
    assert with_target(X, [1.0, 2.0, 3.0], GaussianDiagonal(2)) is X  # ignored
    Z = with_target(X, [1.0, 2.0, 3.0], LinearRegression(2))
    np.testing.assert_array_equal(Z, np.column_stack([X, [1.0, 2.0, 3.0]]))
    with pytest.raises(DataError, match="needs the target"):
        with_target(X, None, LinearRegression(2))
    with pytest.raises(DataError, match="one value per row"):
        with_target(X, [1.0, np.nan, 3.0], LinearRegression(2))


def test_streamed_first_pass_gives_the_in_memory_standardisation():
    rng = np.random.default_rng(0)
    X = rng.normal([3.0, -200.0], [0.5, 40.0], size=(500, 2))
    w = rng.uniform(0.5, 2.0, len(X))
    chunks = [(X[i : i + 128], w[i : i + 128]) for i in range(0, len(X), 128)]
    data = streamed_data(lambda: iter(chunks), None, None, 2, standardize=True)
    assert data.n_features == 2 and isinstance(data.model, GaussianDiagonal)
    memory = data_scaling(X, w, data.model)
    np.testing.assert_allclose(data.scaling.location, memory.location, rtol=1e-12)
    np.testing.assert_allclose(data.scaling.scale, memory.scale, rtol=1e-12)
    assert streamed_data(lambda: iter(chunks), None, None, 2, standardize=False).scaling is None
    with pytest.raises(ValueError, match="needs the target"):
        streamed_data(lambda: iter(chunks), None, LinearRegression(2), 2, standardize=True)


def test_constant_grid_is_the_product_of_the_candidates():
    assert constant_grid(None) == [{}] and constant_grid({}) == [{}]
    grid = constant_grid({"a": [1, 2], "b": 0.5})
    assert grid == [{"a": 1.0, "b": 0.5}, {"a": 2.0, "b": 0.5}]


_SYSTEM = SimpleNamespace(b=np.ones(2))


def _result(residual, rank_gap):
    return SimpleNamespace(sdp=SimpleNamespace(residual=residual, rank_gap=rank_gap))


def test_profile_keeps_the_smallest_residual_plus_rank_gap():
    model = GaussianSpherical(2, shared_variance=True)
    system = SimpleNamespace(b=np.array([3.0, 4.0]))  # |b| = 5
    # (residual, rank gap) per variance: scores 1 + 0.5, 0.2 + 5 * 0.1, 0.1 + 5 * 0.5
    table = {0.5: (1.0, 0.1), 1.0: (0.2, 0.1), 2.0: (0.1, 0.5)}
    seen = []

    def fit(m, s):
        ((_, v),) = m.constants
        seen.append(v)
        if v == 1.0:
            warnings.warn("kept fit", UserWarning, stacklevel=1)
        else:
            warnings.warn("dropped fit", UserWarning, stacklevel=1)
        return _result(*table[v]), "variance"

    best = fit_profile(model, lambda m: system, fit, profile={"variance": [0.5, 1.0, 2.0]})
    assert seen == [0.5, 1.0, 2.0]
    assert best.model.constants[0][1] == 1.0 and best.fit_model is best.model
    np.testing.assert_allclose(best.score, 0.2 + 5 * 0.1, rtol=1e-15)
    assert best.score == profile_score(best.result, system) and best.weighting == "variance"
    assert [str(w.message) for w in best.warnings] == ["kept fit"]


def test_profile_scales_the_fitted_constants_and_keeps_the_data_units():
    model = LinearRegression(1, noise_variance=0.3)
    fitted = []

    def fit(m, s):
        fitted.append(m.constants[0][1])
        return _result(0.0, 0.0), "none"

    best = fit_profile(model, lambda m: _SYSTEM, fit, profile=None, factors={"noise_variance": 4})
    np.testing.assert_allclose(fitted, [1.2], rtol=1e-15)
    assert best.model is model and best.fit_model.constants[0][1] == fitted[0]


def test_profile_skips_failed_values_and_raises_when_all_fail():
    model = GaussianSpherical(1, shared_variance=True)

    def fit(m, s):
        if m.constants[0][1] < 1:
            raise SolverError("CLARABEL", "infeasible", "no solution")
        return _result(1.0, 0.0), "none"

    best = fit_profile(model, lambda m: _SYSTEM, fit, profile={"variance": [0.5, 2.0]})
    assert best.model.constants[0][1] == 2.0
    with pytest.raises(SolverError):
        fit_profile(model, lambda m: _SYSTEM, fit, profile={"variance": [0.1, 0.2]})
    with pytest.raises(SolverError):  # a single value re-raises at once
        fit_profile(model, lambda m: _SYSTEM, fit, profile={"variance": [0.1]})


def test_auto_weighting():
    gauss, reg = GaussianDiagonal(2), LinearRegression(2)
    assert resolve_weighting("auto", gauss, from_data=True) == "variance"
    assert resolve_weighting("auto", reg, from_data=True) == "covariance"
    assert resolve_weighting("auto", reg, from_data=False) == "none"
    assert resolve_weighting("two_step", gauss, from_data=False) == "two_step"
    custom = np.ones(3)
    assert resolve_weighting(custom, gauss, from_data=True) is custom


def test_progress_logs_every_gap_and_closes_the_bar(caplog):
    with caplog.at_level(logging.INFO, logger="momix.polymom"):
        with convex_iteration_progress(verbose=0, total=3) as progress:
            progress(0.5)
            progress(1e-9)
    assert [r.getMessage() for r in caplog.records] == [
        "polymom: rank gap 5.000e-01",
        "polymom: rank gap 1.000e-09",
    ]
    with pytest.raises(RuntimeError), convex_iteration_progress(verbose=1, total=2) as progress:
        progress(0.1)
        raise RuntimeError("solver crashed")  # the bar is closed on the way out
