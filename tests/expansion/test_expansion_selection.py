"""Hyper-parameter resolution of GMMExpansion and the tail mixing of the final fit."""

import inspect
import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from momix import GMMExpansion
from momix.expansion import make_levels, select_bandwidth, silverman_factor
from momix.expansion._binning import AUTO_BIN_MIN_SAMPLES
from momix.expansion._levels import level_means, level_variances, tail_level
from momix.expansion._refit import fit_grid_weights, with_tail
from momix.expansion._selection import (
    auto_step_cap,
    dictionary_levels,
    em_options,
    fallback_bandwidth,
    fold_seed,
    search_bandwidth,
    search_options,
    step_count,
    use_binning,
    use_per_axis,
    weight_options,
)
from momix.expansion._steps import MAX_AUTO_STEPS


def _params(**kwargs):
    return GMMExpansion(**kwargs).get_params(deep=False)


def test_auto_steps_need_the_one_step_update():
    assert auto_step_cap(_params()) is None
    assert auto_step_cap(_params(max_iter=7)) is None
    assert auto_step_cap(_params(max_iter="auto")) == MAX_AUTO_STEPS
    with pytest.raises(ValueError, match="update='em'"):
        auto_step_cap(_params(max_iter="auto", update="em"))


def test_em_options_default_to_5000_map_evaluations():
    assert em_options(_params(update="em")) == {"max_iter": 5000, "tol": 1e-3}
    assert em_options(_params(max_iter=12, tol=0.5)) == {"max_iter": 12, "tol": 0.5}


def test_auto_levels_only_for_em_and_binning_only_for_large_em_fits():
    assert dictionary_levels(_params(n_levels="auto")) == 1
    assert dictionary_levels(_params(n_levels="auto", update="em")) == "auto"
    assert dictionary_levels(_params(n_levels=3)) == 3
    em = _params(update="em")
    assert not use_binning(em, AUTO_BIN_MIN_SAMPLES - 1) and use_binning(em, AUTO_BIN_MIN_SAMPLES)
    assert not use_binning(_params(binning=True), 10**6)  # closed forms use the exact points
    assert use_binning(_params(binning=True, update="em"), 10)
    assert not use_binning(_params(binning=False, update="em"), 10**6)


def test_per_axis_auto_follows_the_early_stopped_path():
    assert not use_per_axis(_params())
    assert use_per_axis(_params(max_iter="auto"))
    assert use_per_axis(_params(per_axis_bandwidth=True))
    assert not use_per_axis(_params(max_iter="auto", per_axis_bandwidth=False))


def test_fold_seed_is_the_integer_or_one_draw_from_the_generator():
    assert fold_seed(7) == 7 and fold_seed(np.int64(3)) == 3
    g, copy = np.random.default_rng(5), np.random.default_rng(5)
    assert fold_seed(g) == int(copy.integers(2**31 - 1))
    assert g.bit_generator.state == copy.bit_generator.state  # exactly one draw
    assert 0 <= fold_seed(None) < 2**31 - 1


def test_fallback_bandwidth_is_silverman_over_sqrt_two():
    assert fallback_bandwidth(0.3, 100, 2) == 0.3
    np.testing.assert_allclose(
        fallback_bandwidth("auto", 100, 2), (4 / (4 * 100)) ** (1 / 6) / math.sqrt(2), rtol=1e-15
    )
    assert fallback_bandwidth("auto", 50, 1) == silverman_factor(50, 1) / math.sqrt(2)


def test_search_options_are_the_keywords_of_the_search():
    keywords = {
        name
        for name, p in inspect.signature(select_bandwidth).parameters.items()
        if p.kind is p.KEYWORD_ONLY
    }
    options = search_options(_params(max_iter="auto", random_state=0), 100)
    assert set(options) <= keywords
    assert options["max_steps"] == MAX_AUTO_STEPS and options["per_axis"]
    a = search_options(_params(random_state=0), 10)["rng"].integers(10**9)
    b = search_options(_params(random_state=1), 10, seed=0)["rng"].integers(10**9)
    assert a == b  # the seed overrides random_state
    fit_keywords = set(inspect.signature(fit_grid_weights).parameters)
    weights = weight_options(_params(update="em"), 10, None)
    assert set(weights) | {"X", "sample_weight", "levels", "steps", "sigmas"} == fit_keywords


def test_no_search_for_a_fixed_bandwidth_or_too_few_rows():
    X = np.random.default_rng(0).normal(size=(9, 1))
    w, scale = np.ones(9), np.ones(1)
    assert search_bandwidth(X, w, scale, _params(bandwidth=0.5)) is None
    assert search_bandwidth(X, w, scale, _params()) is None  # 9 < 2 * n_folds
    assert search_bandwidth(X, w, scale, _params(n_folds=4)) is not None


def test_step_counts():
    X = np.random.default_rng(0).normal(size=(8, 1))
    w, scale = np.ones(8), np.ones(1)
    levels = make_levels(X, "auto", scale, 1, 1000)
    count = step_count
    assert count(X, w, scale, levels, None, _params()) == 1
    assert count(X, w, scale, levels, None, _params(max_iter=9)) == 9
    assert count(X, w, scale, levels, None, _params(max_iter=9, update="em")) == 1
    assert count(X, w, scale, levels, None, _params(max_iter="auto")) == 1  # 8 < 2 * n_folds


def _explicit_log_density(X, weights, levels):
    means, variances = level_means(levels), level_variances(levels)
    pairs = zip(means, variances, strict=True)
    dens = np.column_stack([multivariate_normal(m, np.diag(v)).pdf(X) for m, v in pairs])
    return np.log(dens.reshape(len(X), -1) @ weights)


@pytest.mark.parametrize("tail_weight", ["auto", 0.2, 0.0])
def test_with_tail_mixes_the_broad_component_and_rescores(tail_weight):
    rng = np.random.default_rng(1)
    X, w = rng.gamma(2.0, size=(50, 2)), rng.uniform(0.5, 2.0, 50)
    scale = X.std(axis=0)
    levels = make_levels(X, "auto", 0.5 * scale, 1, 10_000)
    fit = fit_grid_weights(
        X, w, levels, update="one_step", steps=2, em_options={}, sigmas=0.5 * scale,
        binned=False, warm=None,
    )  # fmt: skip
    mixed = with_tail(X, w, levels, fit, scale=scale, tail_weight=tail_weight)
    eps = {"auto": 1 / 51, 0.2: 0.2, 0.0: 0.0}[tail_weight]
    assert mixed.tail_weight == eps and mixed.grid is fit
    np.testing.assert_allclose(mixed.weights.sum(), 1.0, rtol=1e-12)
    if eps == 0:
        assert len(mixed.levels) == len(levels) and mixed.log_likelihood == fit.log_likelihood
        return
    tail, expected_tail = mixed.levels[-1], tail_level(X, scale)
    np.testing.assert_array_equal(np.concatenate(tail.grid), np.concatenate(expected_tail.grid))
    np.testing.assert_array_equal(tail.sigmas, expected_tail.sigmas)
    assert mixed.weights[-1] == eps
    np.testing.assert_allclose(mixed.weights[:-1], (1 - eps) * fit.weights.ravel(), rtol=1e-15)
    expected = np.average(_explicit_log_density(X, mixed.weights, mixed.levels), weights=w)
    np.testing.assert_allclose(mixed.log_likelihood, expected, rtol=1e-10)
