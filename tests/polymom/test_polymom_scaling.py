"""Standardisation of Gaussian fits: exact affine map back, and speed on badly scaled data."""

import time
import warnings

import numpy as np
import pytest

from momix.polymom import Gaussian1D, GaussianDiagonal, GaussianSpherical, Polymom
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
