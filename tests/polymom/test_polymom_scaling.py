"""Standardisation of Gaussian fits: exact affine map back, and speed on badly scaled data."""

import time
import warnings

import numpy as np
import pytest

from momix.polymom import (
    Gaussian1D,
    GaussianDiagonal,
    GaussianSpherical,
    LinearRegression,
    Polymom,
)
from momix.polymom._scaling import Scaling, gaussian_scaling, standardizable, unscale_params


def _mixture(rng, n=2000, d=2):
    z = rng.random(n) < 0.4
    return rng.normal(size=(n, d)) * np.where(z[:, None], 0.5, 1.0) + 3.0 * z[:, None]


def _fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X)


def _sorted(est):
    order = np.argsort(est.means_[:, 0])
    return est.params_[order], est.weights_[order]


@pytest.mark.parametrize("model_factory,scale", [
    (lambda: GaussianDiagonal(2), np.array([200.0, 0.01])),
    (lambda: GaussianSpherical(2), np.array([50.0, 50.0])),
])
def test_scaled_and_shifted_data_give_transformed_parameters(model_factory, scale):
    X = _mixture(np.random.default_rng(0))
    shift = np.array([-1e3, 7.5])
    base = _fit(Polymom(model_factory(), 2, random_state=0), X)
    moved = _fit(Polymom(model_factory(), 2, random_state=0), shift + scale * X)
    p0, w0 = _sorted(base)
    p1, w1 = _sorted(moved)
    # the standardised data agree to rounding, so the fits agree to solver precision
    # (~1e-5 of a standard deviation), mapped back by xi = m + s xi', c = s^2 c'
    np.testing.assert_allclose(w1, w0, rtol=1e-5)
    np.testing.assert_allclose((p1[:, :2] - shift) / scale, p0[:, :2], rtol=0, atol=1e-4)
    var_scale = scale**2 if p0.shape[1] == 4 else scale[:1] ** 2
    np.testing.assert_allclose(p1[:, 2:] / var_scale, p0[:, 2:], rtol=0, atol=1e-3)
    np.testing.assert_allclose(moved.covariances_[:, 0, 0], p1[:, 0 + 2] + 1e-6, rtol=1e-12)


def test_standardised_fit_recovers_truth_at_large_offset():
    rng = np.random.default_rng(1)
    z = rng.random(4000) < 0.5
    X = (1e3 + np.where(z, -2.0, 2.0) + 0.5 * rng.normal(size=4000))[:, None] * 100.0
    est = _fit(Polymom(Gaussian1D(), 2, random_state=0), X)
    params, weights = _sorted(est)
    np.testing.assert_allclose(params[:, 0], [99800.0, 100200.0], rtol=2e-4)
    np.testing.assert_allclose(np.sqrt(params[:, 1]), [50.0, 50.0], rtol=0.1)
    np.testing.assert_allclose(weights, [0.5, 0.5], atol=0.05)
    np.testing.assert_allclose(est.data_location_, [X.mean()])
    assert est.data_scale_[0] == pytest.approx(X.std())


def test_unscale_params_against_explicit_formula():
    s = Scaling(np.array([1.0, -2.0]), np.array([3.0, 0.5]))
    p = np.array([[0.1, 0.2, 1.0, 4.0]])
    np.testing.assert_allclose(unscale_params(p, s), [[1.3, -1.9, 9.0, 1.0]])
    sph = Scaling(np.array([1.0, -2.0]), np.array([2.0, 2.0]))
    np.testing.assert_allclose(unscale_params(np.array([[0.0, 1.0, 0.25]]), sph), [[1, 0, 1]])


def test_scaling_choice():
    X = np.array([[1.0, 5.0], [3.0, 5.0]])
    diag = gaussian_scaling(X, np.ones(2), GaussianDiagonal(2))
    np.testing.assert_allclose(diag.location, [2.0, 5.0])
    np.testing.assert_allclose(diag.scale, [1.0, 1.0])  # constant column: centred only
    sph = gaussian_scaling(np.array([[0.0, 0.0], [2.0, 4.0]]), np.ones(2), GaussianSpherical(2))
    np.testing.assert_allclose(sph.scale, [np.sqrt(2.5)] * 2)
    assert not standardizable(GaussianDiagonal(2, mean_sum=1))
    assert not standardizable(GaussianSpherical(2, shared_variance=True))


def test_standardize_false_keeps_units_and_flag_is_honoured():
    X = _mixture(np.random.default_rng(2), n=500)
    est = _fit(Polymom(GaussianDiagonal(2), 2, standardize=False, random_state=0), X)
    np.testing.assert_array_equal(est.data_location_, [0.0, 0.0])
    np.testing.assert_array_equal(est.data_scale_, [1.0, 1.0])


def test_badly_scaled_small_inputs_are_fast():
    rng = np.random.default_rng(3)
    cases = [np.full((5, 2), -66.781079), np.array([[898.63652118, -488.39970792]]),
             np.array([[-704.51, -9.15606995e-188]]), rng.uniform(-1e3, 1e3, (12, 3))]
    start = time.perf_counter()
    for X in cases:
        est = _fit(Polymom(n_components=1, max_iter=5, random_state=0), X)
        assert np.all(np.isfinite(est.params_))
        np.testing.assert_allclose(est.means_[0], X.mean(axis=0), rtol=1e-6, atol=1e-9)
    assert time.perf_counter() - start < 10.0


def test_rounding_level_spread_counts_as_constant():
    X = np.full((12, 1), -6.30505589e-142)  # its weighted mean leaves a spread ~1e-157
    s = gaussian_scaling(X, np.ones(12), Gaussian1D())
    np.testing.assert_array_equal(s.scale, [1.0])
    assert np.all(np.abs(s.transform(X)) < 1e-150)


def _regression_data(rng, n=3000, intercept=True):
    X = rng.normal(size=(n, 2))
    z = rng.random(n) < 0.4
    coef = np.where(z[:, None], [1.0, -2.0], [-1.5, 0.5])
    b = np.where(z, 1.0, -0.5) if intercept else 0.0
    return X, np.sum(X * coef, axis=1) + b + 0.3 * rng.normal(size=n)


def _regression_fit(X, y, noise, intercept, **kw):
    model = LinearRegression(2, noise, x_order=2, y_order=3, fit_intercept=intercept)
    est = _fit_xy(Polymom(model, 2, random_state=0, **kw), X, y)
    order = np.argsort(est.params_[:, 0])
    return est, est.params_[order], est.weights_[order]


def _fit_xy(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


@pytest.mark.parametrize("intercept", [True, False])
def test_regression_fit_is_equivariant_under_affine_maps(intercept):
    """(a x + c, b y + e) with noise b^2 sigma^2 gives w' = b w / a, b' = b b0 + e - w'.c."""
    X, y = _regression_data(np.random.default_rng(0), intercept=intercept)
    a, b = np.array([300.0, 0.02]), -40.0
    c, e = (np.array([5e2, -3.0]), 1e3) if intercept else (np.zeros(2), 0.0)
    _, p0, w0 = _regression_fit(X, y, 0.09, intercept)
    est, p1, w1 = _regression_fit(a * X + c, b * y + e, 0.09 * b**2, intercept)
    p1 = p1[np.argsort(-p1[:, 0])] if b < 0 else p1  # w' = b w / a flips the order
    w1 = est.weights_[np.argsort(est.params_[:, 0])][::-1] if b < 0 else w1
    np.testing.assert_allclose(w1, w0, atol=1e-5)
    np.testing.assert_allclose(p1[:, :2] * a / b, p0[:, :2], atol=1e-4)
    if intercept:
        np.testing.assert_allclose((p1[:, 2] - e + p1[:, :2] @ c) / b, p0[:, 2], atol=1e-4)
    assert est.constants_ == {"noise_variance": pytest.approx(0.09 * b**2)}
    np.testing.assert_allclose(est.data_scale_[-1], np.std(b * y + e) if intercept
                               else np.sqrt(np.mean((b * y) ** 2)))


def test_regression_standardisation_recovers_badly_scaled_data():
    X, y = _regression_data(np.random.default_rng(1), n=20000)
    X, y = X * 1e3, y * 1e2  # coefficients 0.1 x the unit-scale ones
    _, p, w = _regression_fit(X, y, 0.09 * 1e4, True)
    np.testing.assert_allclose(p[:, :2], [[-0.15, 0.05], [0.1, -0.2]], atol=0.02)
    np.testing.assert_allclose(p[:, 2], [-50.0, 100.0], atol=15.0)
    np.testing.assert_allclose(w, [0.6, 0.4], atol=0.05)


def test_profiled_noise_is_mapped_to_standardised_units_and_back():
    X, y = _regression_data(np.random.default_rng(2))
    grid = {"noise_variance": [0.0, 0.09, 1.0]}
    a, _, _ = _regression_fit(X, y, 0.0, True, profile=grid)
    b, _, _ = _regression_fit(X, 10 * y, 0.0, True,
                              profile={"noise_variance": [0.0, 9.0, 100.0]})
    assert b.constants_["noise_variance"] == 100 * a.constants_["noise_variance"]
    assert b.model_.noise_variance == b.constants_["noise_variance"]


def test_unscale_regression_params_against_explicit_formula():
    s = Scaling(np.array([1.0, -2.0, 3.0]), np.array([2.0, 0.5, 10.0]))
    model = LinearRegression(2, 0.0, fit_intercept=True)
    out = unscale_params(np.array([[0.4, -0.1, 0.2]]), s, model)
    coef = np.array([0.4 * 10 / 2, -0.1 * 10 / 0.5])
    np.testing.assert_allclose(out, [[*coef, 3.0 + 10 * 0.2 - coef @ [1.0, -2.0]]])
    assert standardizable(model) and standardizable(LinearRegression(2))
