"""Mixture of linear regressions: Polymom start, EM, prediction API."""

import numpy as np
import pytest

from momix.exceptions import DataError
from momix.polymom import MixtureOfLinearRegressions
from momix.polymom._em import regression_em


def _data(n=5000, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    W, b, pi = np.array([[0.75, 0.4], [0.25, 0.9]]), np.array([0.5, -0.5]), np.array([0.4, 0.6])
    X = rng.standard_normal((n, 2))
    z = rng.choice(2, n, p=pi)
    y = np.sum(X * W[z], axis=1) + b[z] + noise * rng.standard_normal(n)
    return X, y, W, b, pi


def _sorted(coef, intercept):
    order = np.argsort(intercept)
    return coef[order], intercept[order]


def test_polymom_start_and_em_recover_the_regressions():
    X, y, W, b, pi = _data()
    est = MixtureOfLinearRegressions(2, random_state=0).fit(X, y)
    c0, b0 = _sorted(est.init_coef_, est.init_intercept_)
    c, bb = _sorted(est.coef_, est.intercept_)
    assert np.abs(c0 - W[::-1]).max() < 0.1 and np.abs(b0 - b[::-1]).max() < 0.1
    assert np.abs(c - W[::-1]).max() < 0.02 and np.abs(bb - b[::-1]).max() < 0.02
    np.testing.assert_allclose(np.sort(est.weights_), [0.4, 0.6], atol=0.03)
    np.testing.assert_allclose(est.noise_variance_, 0.01, rtol=0.2)
    assert est.converged_


def test_em_log_likelihood_never_decreases():
    X, y, *_ = _data(800, noise=0.5, seed=1)
    rng = np.random.default_rng(0)
    res = regression_em(X, y, rng.standard_normal((2, 2)), np.zeros(2), np.ones(2),
                        np.array([0.5, 0.5]), sample_weight=np.ones(len(y)), max_iter=60, tol=0)
    assert np.all(np.diff(res.log_likelihood) >= -1e-10)


def test_prediction_api():
    X, y, *_ = _data(600, seed=2)
    est = MixtureOfLinearRegressions(2, random_state=0).fit(X, y)
    comp = est.predict_components(X)
    np.testing.assert_allclose(est.predict(X), comp @ est.weights_)
    proba = est.predict_proba(X, y)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.isfinite(est.score(X, y))
    with pytest.raises(DataError, match="requires y to be passed"):
        MixtureOfLinearRegressions(2).fit(X)


def test_random_init_is_reproducible():
    X, y, *_ = _data(500, seed=3)
    a = MixtureOfLinearRegressions(2, init="random", n_init=3, random_state=5).fit(X, y)
    b = MixtureOfLinearRegressions(2, init="random", n_init=3, random_state=5).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
