"""Held-out score of one bandwidth and the walks of the search, against explicit oracles."""

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from momix.exceptions import DataError
from momix.expansion import em_weights, make_levels, precompute_levels
from momix.expansion._holdout import CV_EM_TOL, cv_score, search_config
from momix.expansion._ladder import (
    CANDIDATE_FACTORS,
    coarse_climb,
    coarse_descending,
    parabola_vertex,
    refine_vertex,
)
from momix.expansion._levels import level_means, level_variances, tail_level


def _dense(X, levels):
    """Oracle: density of every dictionary component at every point, shape (n, K), via scipy."""
    means, variances = level_means(levels), level_variances(levels)
    return np.column_stack(
        [multivariate_normal(m, np.diag(v)).pdf(X) for m, v in zip(means, variances, strict=True)]
    ).reshape(len(X), -1)


def _problem(d=1, n=60):
    rng = np.random.default_rng(d)
    X = rng.gamma(2.0, size=(n, d))
    w = rng.uniform(0.5, 2.0, n)
    folds = np.array_split(rng.permutation(n), 4)
    return X, w, folds, X.std(axis=0)


def _config(scale, update, tail_weight="auto", **kwargs):
    options = {"n_grid": "auto", "n_levels": 1, "max_grid_size": 10_000, "binned": False}
    em = {"max_iter": 5000, "tol": 1e-3}
    return search_config(
        scale, update=update, em_options=em, max_steps=None, tail_weight=tail_weight,
        **{**options, **kwargs},
    )  # fmt: skip


def _oracle_score(X, w, folds, levels, scale, tail_weight, fold_weights):
    """Slow loop: every fold's weights from its own training rows, scored with scipy."""
    total = 0.0
    for k, test in enumerate(folds):
        train = np.concatenate([f for i, f in enumerate(folds) if i != k])
        pi = fold_weights(X[train], w[train])
        p = _dense(X[test], levels) @ pi
        tail = tail_level(X[train], scale)
        eps = 1 / (len(train) + 1) if tail_weight == "auto" else tail_weight
        q = _dense(X[test], (tail,))[:, 0]
        total += np.dot(w[test], np.log((1 - eps) * p + eps * q))
    return total / w.sum()


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("tail_weight", ["auto", 0.0])
def test_closed_form_scores_equal_per_fold_refits(d, tail_weight):
    X, w, folds, scale = _problem(d)
    h = 0.5
    levels = make_levels(X, "auto", h * scale, 1, 10_000)

    def soft(Xt, wt):  # one EM step from uniform weights on the training rows
        Phi = _dense(Xt, levels)
        pi = wt @ (Phi / Phi.sum(axis=1, keepdims=True))
        return pi / pi.sum()

    def kde(Xt, wt):  # kernel mass at each node
        pi = wt @ _dense(Xt, levels)
        return pi / pi.sum()

    for update, oracle in (("one_step", soft), ("kde_grid", kde)):
        config = _config(scale, update, tail_weight)
        score, extra = cv_score(X, w, folds, h, scale, config)
        expected = _oracle_score(X, w, folds, levels, scale, tail_weight, oracle)
        assert extra is None
        np.testing.assert_allclose(score, expected, rtol=1e-9)


def test_em_score_uses_each_folds_optimum_and_returns_their_mean():
    X, w, folds, scale = _problem(1)
    h = 0.6
    config = _config(scale, "em")
    score, mean_weights = cv_score(X, w, folds, h, scale, config)
    levels = make_levels(X, "auto", h * scale, 1, 10_000)

    def em(Xt, wt):  # the fold's maximum-likelihood weights, to a tight gap
        start = np.full(levels[0].size, 1.0 / levels[0].size)
        pre = precompute_levels(Xt, wt, levels)
        return em_weights(pre, start, max_iter=20_000, tol=1e-9).weights

    expected = _oracle_score(X, w, folds, levels, scale, "auto", em)
    # inside the search EM stops at a certified gap of CV_EM_TOL nats per training row
    assert abs(score - expected) < CV_EM_TOL
    assert mean_weights.shape == (levels[0].size,)
    np.testing.assert_allclose(mean_weights.sum(), 1.0, rtol=1e-12)
    assert np.all(mean_weights >= 0)  # EM weights are identified only through the density


def test_search_config_raises_the_em_tolerance_and_drops_steps_for_other_updates():
    scale = np.ones(1)
    em = {"max_iter": 10, "tol": 1e-3}
    config = search_config(scale, update="em", em_options=em, max_steps=50, n_grid=3)
    assert config["em_options"] == {"max_iter": 10, "tol": CV_EM_TOL}
    assert config["max_steps"] is None and config["n_grid"] == 3 and config["scale"] is scale
    loose = search_config(scale, update="one_step", em_options={"tol": 0.5}, max_steps=50)
    assert loose["em_options"]["tol"] == 0.5 and loose["max_steps"] == 50
    assert em == {"max_iter": 10, "tol": 1e-3}  # the caller's options are not modified


def test_cv_score_refuses_a_grid_over_budget():
    X, w, folds, scale = _problem(2)
    with pytest.raises(DataError):
        cv_score(X, w, folds, 0.01, scale, _config(scale, "one_step", max_grid_size=50))


@pytest.mark.parametrize("seed", range(5))
def test_parabola_vertex_matches_a_quadratic_fit(seed):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2, 2, 3))
    a, b, c = -rng.uniform(0.5, 2), rng.normal(), rng.normal()
    vertex = -b / (2 * a)
    y = a * x**2 + b * x + c
    expected = float(np.clip(vertex, x[0], x[2]))
    order = rng.permutation(3)  # any order of the points
    np.testing.assert_allclose(parabola_vertex(x[order], y[order]), expected, atol=1e-12)
    a2, b2, _ = np.polyfit(x, y, 2)
    np.testing.assert_allclose(-b2 / (2 * a2), vertex, rtol=1e-8)


def test_parabola_vertex_of_a_convex_triple_is_the_middle_point():
    assert parabola_vertex(np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.0, 1.0])) == 1.0


def _recording(f):
    calls = []

    def score(h):
        calls.append(h)
        return f(h)

    return score, calls


@pytest.mark.parametrize("peak", [0.3, 1.0, 4.0])
def test_walks_find_the_maximum_of_a_unimodal_score(peak):
    hs = CANDIDATE_FACTORS.copy()

    def f(h):
        return -((math.log(h) - math.log(peak)) ** 2)

    best = hs[np.argmax([f(h) for h in hs])]
    score, calls = _recording(f)
    down = coarse_descending(hs, score, verbose=0)
    assert hs[np.argmax(down)] == best and calls == list(hs[: len(calls)])
    assert len(calls) <= int(np.argmax(hs == best)) + 2  # stops one below the best
    score, calls = _recording(f)
    up = coarse_climb(hs, score)
    assert hs[np.argmax(up)] == best
    assert calls[0] == 1.0  # the climb starts at Silverman's factor


def test_refine_vertex_scores_the_log_parabola_vertex_once():
    tried = {0.5: -1.0, 1.0: -0.5, 2.0: -0.8}
    score, calls = _recording(lambda h: 0.0)
    refine_vertex(tried, score)
    x = np.log([0.5, 1.0, 2.0])
    expected = math.exp(parabola_vertex(x, np.array([-1.0, -0.5, -0.8])))
    assert calls == [expected] and 0.5 < expected < 2.0
    score, calls = _recording(lambda h: 0.0)
    refine_vertex({0.5: -1.0, 1.0: -0.5}, score)  # best at an end: nothing to refine
    assert calls == []
