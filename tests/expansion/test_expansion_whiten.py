"""Whitened coordinates (``whiten``): the affine map, its Jacobian, selection and bad input."""

import numpy as np
import pytest

from momix import GMMExpansion
from momix.exceptions import DataError
from momix.expansion import zca_whitening


def _correlated(n, seed=0, rho=0.9):
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal([1.0, -2.0], [[2.0, rho * 2.0**0.5], [rho * 2.0**0.5, 1.0]], n)


def test_zca_whitening_is_symmetric_and_whitens_the_weighted_sample():
    X = _correlated(500)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    white = zca_whitening(X, w)
    Z = white.apply(X)
    np.testing.assert_allclose(white.matrix, white.matrix.T, atol=1e-12)
    np.testing.assert_allclose(np.average(Z, axis=0, weights=w), 0.0, atol=1e-12)
    cov = np.cov(Z.T, aweights=w, bias=True)
    np.testing.assert_allclose(cov, np.eye(2), atol=1e-10)
    np.testing.assert_allclose(white.invert(Z), X, atol=1e-10)
    np.testing.assert_allclose(white.log_det, np.log(np.linalg.det(white.matrix)), rtol=1e-12)


def test_whitened_fit_is_the_raw_fit_of_z_plus_the_jacobian():
    X = _correlated(300)
    est = GMMExpansion(bandwidth=0.4, whiten=True, random_state=0).fit(X)
    white = est.whitening_
    plain = GMMExpansion(bandwidth=0.4, random_state=0).fit(white.apply(X))
    Y = _correlated(40, seed=5)
    np.testing.assert_allclose(
        est.score_samples(Y), plain.score_samples(white.apply(Y)) + white.log_det, rtol=1e-12
    )
    np.testing.assert_allclose(est.lower_bound_, est.score(X), rtol=1e-10)
    d = 2
    assert est._n_parameters() == plain._n_parameters() + d + d * (d + 1) // 2


def test_whitened_fit_is_equivariant_under_shifts_and_isotropic_scaling():
    X = _correlated(300)
    c, b = 3.0, np.array([10.0, -4.0])
    params = {"max_iter": "auto", "whiten": True, "random_state": 0}
    est = GMMExpansion(**params).fit(X)
    moved = GMMExpansion(**params).fit(c * X + b)
    Y = _correlated(30, seed=7)
    np.testing.assert_allclose(
        moved.score_samples(c * Y + b), est.score_samples(Y) - 2 * np.log(c), rtol=1e-7
    )


def test_whitened_density_integrates_to_one_and_samples_back_in_x():
    X = _correlated(250)
    est = GMMExpansion(bandwidth=0.4, whiten=True, random_state=0).fit(X)
    ax = np.linspace(-25, 25, 301)
    xx, yy = np.meshgrid(ax + 1.0, ax - 2.0, indexing="ij")
    dens = np.exp(est.score_samples(np.column_stack([xx.ravel(), yy.ravel()]))).reshape(xx.shape)
    total = np.trapezoid(np.trapezoid(dens, ax - 2.0, axis=1), ax + 1.0)
    assert abs(total - 1) < 1e-3
    S, _ = est.sample(20_000, random_state=1)
    np.testing.assert_allclose(S.mean(axis=0), X.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(np.corrcoef(S.T)[0, 1], np.corrcoef(X.T)[0, 1], atol=0.03)


def test_auto_keeps_the_coordinates_with_the_better_held_out_search():
    X = _correlated(400)
    params = {"max_iter": "auto", "random_state": 0}
    raw = GMMExpansion(**params).fit(X)
    white = GMMExpansion(whiten=True, **params).fit(X)
    auto = GMMExpansion(whiten="auto", **params).fit(X)
    best = max((raw, white), key=lambda e: e._held_out_score())
    assert (auto.whitening_ is None) == (best.whitening_ is None)
    assert auto.whitening_ is not None  # rho = 0.9: whitening wins on the folds
    Y = _correlated(20, seed=3)
    np.testing.assert_allclose(auto.score_samples(Y), best.score_samples(Y), rtol=1e-12)
    fixed = GMMExpansion(bandwidth=0.4, whiten="auto").fit(X)  # no search: raw coordinates
    assert fixed.whitening_ is None
    one_d = GMMExpansion(whiten="auto", **params).fit(X[:, :1])  # equivariant: not refitted
    assert one_d.whitening_ is None


def test_whiten_bad_input():
    X = _correlated(100)
    collinear = np.column_stack([X[:, 0], 2 * X[:, 0] + 1])
    with pytest.raises(DataError, match="non-singular covariance"):
        GMMExpansion(bandwidth=0.4, whiten=True).fit(collinear)
    est = GMMExpansion(whiten="auto", random_state=0).fit(collinear)  # falls back to raw
    assert est.whitening_ is None
    with pytest.raises(ValueError, match="whiten"):
        GMMExpansion(whiten="yes").fit(X)
