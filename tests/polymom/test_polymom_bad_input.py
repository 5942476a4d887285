"""Polymom and MixtureOfLinearRegressions on bad input, and their likelihood API (issue 15)."""

import time
import warnings

import numpy as np
import pytest
import sympy as sp

from momix.exceptions import ConvergenceWarning, DataError, MomixWarning, NumericalError
from momix.polymom import (
    ComponentModel,
    GaussianSpherical,
    LinearRegression,
    MixtureOfLinearRegressions,
    Poisson,
    Polymom,
)


def _gauss(d=1, n=40, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0, 1, (n, d)), rng.normal(4, 1, (n, d))])


def _regression(n=60, seed=0, d=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    z = rng.integers(0, 2, n)
    W = np.array([[1.0, -1.0, 0.5][:d], [-1.0, 2.0, 0.0][:d]])
    y = np.sum(X * W[z], axis=1) + np.array([1.0, 0.0])[z] + 0.1 * rng.normal(size=n)
    return X, y


def _pm(**kw):
    return Polymom(random_state=0, **kw)


@pytest.mark.parametrize("refine", [None, "em"])
@pytest.mark.parametrize("d", [1, 2])
def test_polymom_offset_by_1e8_is_the_same_fit_translated(d, refine):
    X = _gauss(d)
    a, b = _pm(refine=refine).fit(X), _pm(refine=refine).fit(X + 1e8)
    np.testing.assert_allclose(b.means_ - 1e8, a.means_, atol=1e-5)
    np.testing.assert_allclose(b.covariances_, a.covariances_, rtol=1e-4)
    np.testing.assert_allclose(b.weights_, a.weights_, atol=1e-6)
    assert abs(b.score(X + 1e8) - a.score(X)) < 1e-5


def test_polymom_tiny_magnitudes_are_data_not_constants():
    X = _gauss(2)
    a, b = _pm().fit(X), _pm().fit(X * 1e-300)
    np.testing.assert_allclose(b.means_ / 1e-300, a.means_, rtol=1e-6, atol=1e-9)
    assert np.isfinite(b.score(X * 1e-300))
    # reg_covar is in the data's units: at 1e-300 it is the whole variance, and EM merges
    em = _pm(refine="em").fit(X * 1e-300)
    assert np.isfinite(em.score(X * 1e-300)) and em.weights_.sum() == pytest.approx(1)
    with pytest.raises(NumericalError, match="variance 0"):  # variances of 1e-600 underflow
        _pm(reg_covar=0.0).fit(X * 1e-300)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_uniform_weights_of_any_scale_give_the_unit_weight_fit(scale):
    X = _gauss(2, n=25)
    w = np.full(len(X), scale)
    for kw in ({}, {"refine": "em"}):
        a, b = _pm(**kw).fit(X), _pm(**kw).fit(X, sample_weight=w)
        np.testing.assert_array_equal(a.params_, b.params_)
        np.testing.assert_array_equal(a.weights_, b.weights_)
    X, y = _regression()
    for init in ("polymom", "random"):
        a = MixtureOfLinearRegressions(2, init=init, random_state=0).fit(X, y)
        b = MixtureOfLinearRegressions(2, init=init, random_state=0).fit(
            X, y, sample_weight=np.full(len(y), scale))
        np.testing.assert_array_equal(a.coef_, b.coef_)
        np.testing.assert_array_equal(a.noise_variance_, b.noise_variance_)


def test_polymom_weight_two_is_the_row_twice():
    X = _gauss(1, n=20)
    w = np.ones(len(X))
    w[[3, 25]] = 2.0
    twice = np.vstack([X, X[[3, 25]]])
    # the moments and the SDP are those of the repeated rows; the default weighting divides
    # by the effective sample size (sum w)^2 / sum w^2, which differs (see docs/polymom.md)
    a = _pm(moment_weighting="none").fit(X, sample_weight=w)
    b = _pm(moment_weighting="none").fit(twice)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a.weights_, b.weights_, atol=1e-7)


@pytest.mark.parametrize("init", ["polymom", "random"])
def test_regression_weight_two_is_the_row_twice(init):
    X, y = _regression(40)
    w = np.ones(len(y))
    w[[0, 7, 11]] = 2.0
    idx = np.r_[np.arange(len(y)), [0, 7, 11]]
    kw = dict(init=init, random_state=3, tol=1e-12, max_iter=500)
    a = MixtureOfLinearRegressions(2, **kw).fit(X, y, sample_weight=w)
    b = MixtureOfLinearRegressions(2, **kw).fit(X[idx], y[idx])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.noise_variance_, b.noise_variance_, rtol=1e-5)


def test_fewer_distinct_rows_than_components_is_refused():
    X = np.repeat([[0.0], [1.0], [5.0]], 10, axis=0)
    with pytest.raises(DataError, match="3 distinct row"):
        _pm(n_components=4).fit(X)
    w = np.zeros(len(X))
    w[0] = 1.0
    with pytest.raises(DataError, match="1 distinct row"):
        _pm(n_components=2).fit(X, sample_weight=w)
    Xr = np.repeat([[0.0], [1.0]], 10, axis=0)
    with pytest.raises(DataError, match="2 distinct row"):
        MixtureOfLinearRegressions(3).fit(Xr, Xr[:, 0] * 2.0)
    Xr, y = _regression(30)
    w = np.zeros(len(y))
    w[4] = 1.0
    with pytest.raises(DataError, match="1 distinct row"):
        MixtureOfLinearRegressions(2, init="random").fit(Xr, y, sample_weight=w)


def test_regression_refuses_a_constant_response_and_huge_y():
    X, _ = _regression()
    with pytest.raises(DataError, match="y is constant"):
        MixtureOfLinearRegressions(2).fit(X, np.full(len(X), 3.0))
    with pytest.raises(DataError, match="magnitude"):
        MixtureOfLinearRegressions(2).fit(X, np.full(len(X), 1e200))


@pytest.mark.parametrize("init", ["polymom", "random"])
def test_regression_offsets_and_scales_fit_as_unit_data(init):
    X, y = _regression()
    base = MixtureOfLinearRegressions(2, init=init, random_state=0).fit(X, y)
    ob = np.argsort(base.coef_[:, 0])
    # (X shift, X scale, y shift, y scale): coefficients scale by ys / xs, noise by ys^2
    for xo, xs, yo, ys in [(1e8, 1, 0, 1), (0, 1, 1e8, 1), (0, 1e90, 0, 1e90), (0, 1e-150, 0, 1)]:
        est = MixtureOfLinearRegressions(2, init=init, random_state=0).fit(
            X * xs + xo, y * ys + yo)
        coef = est.coef_ * xs / ys
        o = np.argsort(coef[:, 0])
        np.testing.assert_allclose(coef[o], base.coef_[ob], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(est.noise_variance_[o] / ys**2, base.noise_variance_[ob],
                                   rtol=1e-3)
        assert abs(est.score(X * xs + xo, y * ys + yo) + np.log(ys) - base.score(X, y)) < 1e-4


def test_regression_collinear_and_wide_covariates_need_no_solve():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(12, 20))  # more features than rows
    X[:, 1] = X[:, 0]  # and duplicated columns
    y = X[:, 0] + 0.1 * rng.normal(size=12)
    est = MixtureOfLinearRegressions(2, init="random", random_state=0).fit(X, y)
    assert np.all(np.isfinite(est.coef_)) and np.all(est.noise_variance_ > 0)


def test_predict_proba_rows_sum_to_one_exactly():
    X = _gauss(2, n=30)
    X[0] += 1e3  # far from both components: log-densities near -1e6
    est = _pm().fit(X)
    p = est.predict_proba(X)
    assert np.all((p >= 0) & (p <= 1)) and np.max(np.abs(p.sum(1) - 1)) <= 2e-16
    Xr, y = _regression()
    w = np.zeros(len(y))
    w[[0, 1, 2, 3]] = 1.0
    reg = MixtureOfLinearRegressions(2, random_state=0).fit(Xr, y, sample_weight=w)
    p = reg.predict_proba(Xr, y)
    assert np.max(np.abs(p.sum(1) - 1)) <= 2e-16


def test_zero_probability_rows_are_a_clear_error():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.poisson(3.0, 60), np.zeros(60)])
    est = Polymom(Poisson(2), 2, random_state=0).fit(X)
    assert np.all(est.params_[:, 1] < 1e-6)  # the second feature is never positive
    est.params_[:, 1] = 0.0  # a rate of exactly 0: the point mass at 0
    with pytest.raises(NumericalError, match="zero probability under every component"):
        est.score_samples(np.array([[2.0, 1.0]]))


def test_polymom_bic_aic():
    X = _gauss(2)
    est = _pm().fit(X)
    n, p = len(X), 2 * 4 + 1
    ll = est.score_samples(X).sum()
    assert est.bic(X) == pytest.approx(-2 * ll + p * np.log(n))
    assert est.aic(X) == pytest.approx(-2 * ll + 2 * p)
    shared = Polymom(GaussianSpherical(2, shared_variance=True), 2, refine="em",
                     random_state=0).fit(X)
    assert shared._n_parameters() == 2 * 2 + 1 + 1  # means, one weight, the shared variance
    assert _pm(n_components=1).fit(X).bic(X) > est.bic(X)


def test_polymom_regression_bic_needs_y_and_fit_predict_passes_it():
    X, y = _regression(200)
    est = Polymom(LinearRegression(2, 0.01, fit_intercept=True), 2, random_state=0)
    labels = est.fit_predict(X, y)
    assert labels.shape == (200,) and set(labels) <= {0, 1}
    assert np.isfinite(est.bic(X, y))
    with pytest.raises(DataError, match="needs the target y"):
        est.bic(X)


def test_model_without_likelihood_names_why():
    a, x = sp.symbols("a x")
    model = ComponentModel([a], [x], {x: a, x**2: a**2 + 1})
    X = _gauss(1)
    est = Polymom(model, 2, random_state=0).fit(X)
    for method in (est.bic, est.aic, est.score, est.predict_proba):
        with pytest.raises(ValueError, match="has no likelihood"):
            method(X)
    assert not model.has_likelihood and Poisson(1).has_likelihood


def test_regression_bic_aic_and_fit_predict():
    X, y = _regression(300)
    est = MixtureOfLinearRegressions(2, random_state=0)
    labels = est.fit_predict(X, y)
    np.testing.assert_array_equal(labels, np.argmax(est.predict_proba(X, y), axis=1))
    ll = est.conditional_log_likelihood(X, y).sum()
    p = 2 * (2 + 1 + 1) + 1
    assert est.bic(X, y) == pytest.approx(-2 * ll + p * np.log(300))
    assert est.aic(X, y) == pytest.approx(-2 * ll + 2 * p)
    one = MixtureOfLinearRegressions(1, random_state=0).fit(X, y)
    assert one.bic(X, y) > est.bic(X, y)
    with pytest.raises(DataError, match="requires y"):
        est.bic(X)


def test_regression_predict_proba_without_y_is_the_prior_and_warns():
    X, y = _regression()
    est = MixtureOfLinearRegressions(2, random_state=0).fit(X, y)
    with pytest.warns(MomixWarning, match="pass y for the posterior"):
        p = est.predict_proba(X)
    np.testing.assert_array_equal(p, np.tile(est.weights_, (len(X), 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        post = est.predict_proba(X, y)
    assert not np.allclose(post, p)


def test_regression_sample_draws_y_given_x():
    X, y = _regression(400)
    est = MixtureOfLinearRegressions(2, random_state=0).fit(X, y)
    draws, labels = est.sample(3000, X=X[:1], random_state=1)
    assert draws.shape == (3000,) and labels.shape == (3000,)
    comp = est.predict_components(X[:1])[0]
    for k in range(2):
        sel = labels == k
        assert abs(sel.mean() - est.weights_[k]) < 0.04
        assert abs(draws[sel].mean() - comp[k]) < 5 * np.sqrt(est.noise_variance_[k] / sel.sum())
    y2, lab2 = est.sample(len(X), X=X, random_state=1)
    assert y2.shape == (len(X),)
    with pytest.raises(DataError, match="pass the covariates"):
        est.sample(5)
    with pytest.raises(DataError, match="one per draw"):
        est.sample(5, X=X[:3])
    with pytest.raises(ValueError, match="positive integer"):
        est.sample(0, X=X[:1])


@pytest.mark.slow
def test_fallback_solver_time_is_bounded(monkeypatch):
    import momix.polymom._sdp as sdp

    monkeypatch.setattr(sdp, "FALLBACK_TIME_BUDGET", 2.0)
    rng = np.random.default_rng(1)
    X = rng.normal(scale=3.0, size=(2, 1))[rng.integers(0, 2, 30)] + rng.normal(size=(30, 1))
    start = time.perf_counter()
    # an exact relaxation of raw sample moments up to x^15: infeasible, so the interior-point
    # solver fails every step (with the 10 s budget: 15 s; before any budget: 254 s)
    with pytest.warns(ConvergenceWarning):
        est = Polymom(n_components=5, relaxation="exact", moment_weighting="none",
                      standardize=False, polish=False, max_iter=20, random_state=0).fit(X)
    assert time.perf_counter() - start < 12
    assert est.solver_ == "SCS" and not est.converged_ and est.n_iter_ < 21
