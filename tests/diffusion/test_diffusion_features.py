"""Hermite tensor features, multi-indices and whitening."""

from math import comb

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermeval

from momix.diffusion._features import (
    fit_whitening,
    hermite_features,
    multi_indices,
    n_polynomial_features,
)


@pytest.mark.parametrize(("d", "D"), [(1, 5), (2, 3), (5, 3), (3, 0)])
def test_multi_indices_count_and_degree(d, D):
    idx = multi_indices(d, D)
    assert idx.shape == (comb(d + D, D), d) == (n_polynomial_features(d, D), d)
    assert idx.sum(axis=1).max() == D
    assert len({tuple(r) for r in idx}) == len(idx)


def test_hermite_features_match_slow_product():
    rng = np.random.default_rng(0)
    U = rng.normal(size=(7, 3))
    idx = multi_indices(3, 4)
    slow = np.array([[np.prod([hermeval(u[j], np.eye(5)[a[j]]) for j in range(3)])
                      for a in idx] for u in U])
    np.testing.assert_allclose(hermite_features(U, idx), slow, rtol=1e-12, atol=1e-12)


def test_features_span_all_monomials():
    """A random cubic of two variables is reproduced exactly by least squares."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = 1.5 - X[:, 0] + 2 * X[:, 0] * X[:, 1] ** 2 - 0.5 * X[:, 1] ** 3
    W = fit_whitening(X)
    Phi = hermite_features(W.apply(X), multi_indices(2, 3))
    coef = np.linalg.lstsq(Phi, y, rcond=None)[0]
    np.testing.assert_allclose(Phi @ coef, y, atol=1e-9)


def test_whitening_gives_identity_covariance():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(5000, 3)) @ np.array([[2.0, 0, 0], [1.0, 0.5, 0], [0, 3.0, 1.0]]) + 7
    U = fit_whitening(X).apply(X)
    np.testing.assert_allclose(U.mean(axis=0), 0, atol=1e-10)
    # the covariance is floored at 1e-8 times its top eigenvalue, hence atol 1e-4
    np.testing.assert_allclose(np.cov(U.T, bias=True), np.eye(3), atol=1e-4)
