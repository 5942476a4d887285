"""Gaussian-mixture samplers: shapes, the generating model, reproducibility, moments."""

from __future__ import annotations

import numpy as np
import pytest

from momix.datasets import (
    dgmm_default_weights,
    make_gaussian_mixture,
    make_lowrank_gaussian_mixture,
)


def _per_label_moments(X, labels, k):
    means = np.array([X[labels == j].mean(axis=0) for j in range(k)])
    covs = np.array([np.cov(X[labels == j].T, bias=True) for j in range(k)])
    return means, covs


def _mixture_mean_cov(w, mu, cov):
    m = w @ mu
    second = np.einsum("k,kij->ij", w, cov + mu[:, :, None] * mu[:, None, :])
    return m, second - np.outer(m, m)


# ------------------------------------------------------------------ low-rank (DGMM)


def test_lowrank_shapes_and_structure():
    data = make_lowrank_gaussian_mixture(300, 6, 3, rank=[1, 3, 2], random_state=0)
    assert data.X.shape == (300, 6) and data.labels.shape == (300,)
    assert data.factors.shape == (3, 6, 3) and data.covariances.shape == (3, 6, 6)
    np.testing.assert_array_equal(data.ranks, [1, 3, 2])
    np.testing.assert_allclose(np.linalg.norm(data.means, axis=1), 1.0)
    np.testing.assert_allclose(data.weights.sum(), 1.0)
    for j, r in enumerate(data.ranks):
        V = data.factors[j]
        np.testing.assert_array_equal(V[:, r:], 0.0)  # zero padding
        gram = V[:, :r].T @ V[:, :r]
        np.testing.assert_allclose(gram, np.diag(np.diag(gram)), atol=1e-12)  # orthogonal columns
        assert np.all((np.diag(gram) >= 1.0) & (np.diag(gram) <= 4.0))  # column norms in [1, 2]
        assert np.linalg.matrix_rank(data.covariances[j]) == r
        np.testing.assert_allclose(data.covariances[j], V @ V.T, atol=1e-14)


def test_lowrank_noiseless_samples_lie_in_affine_span():
    data = make_lowrank_gaussian_mixture(400, 8, 2, rank=2, random_state=1)
    for j in range(2):
        centred = data.X[data.labels == j] - data.means[j]
        V = data.factors[j]
        resid = centred - centred @ np.linalg.pinv(V).T @ V.T
        np.testing.assert_allclose(resid, 0.0, atol=1e-10)


def test_lowrank_noise_enters_covariance_and_samples():
    data = make_lowrank_gaussian_mixture(
        40_000, 4, 2, rank=1, noise_variance=0.25, random_state=2
    )
    V = data.factors
    np.testing.assert_allclose(
        data.covariances, V @ V.transpose(0, 2, 1) + 0.25 * np.eye(4), atol=1e-14
    )
    assert data.noise_variance == 0.25
    means, covs = _per_label_moments(data.X, data.labels, 2)
    np.testing.assert_allclose(means, data.means, atol=0.06)
    np.testing.assert_allclose(covs, data.covariances, atol=0.15)


def test_lowrank_empirical_moments_match_truth():
    data = make_lowrank_gaussian_mixture(60_000, 5, 3, rank=[1, 2, 1], random_state=3)
    m, c = _mixture_mean_cov(data.weights, data.means, data.covariances)
    np.testing.assert_allclose(data.X.mean(axis=0), m, atol=0.04)
    np.testing.assert_allclose(np.cov(data.X.T), c, atol=0.12)
    freq = np.bincount(data.labels, minlength=3) / len(data.labels)
    np.testing.assert_allclose(freq, data.weights, atol=0.01)


def test_lowrank_reproducible_and_seed_sensitive():
    a = make_lowrank_gaussian_mixture(50, 4, 2, rank=2, random_state=7)
    b = make_lowrank_gaussian_mixture(50, 4, 2, rank=2, random_state=np.random.default_rng(7))
    c = make_lowrank_gaussian_mixture(50, 4, 2, rank=2, random_state=8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.X, c.X)


def test_lowrank_options_fixed_norms_and_weights():
    data = make_lowrank_gaussian_mixture(
        10, 3, 2, rank=1, mean_norm=5.0, factor_norm=2.0, weights=[0.3, 0.7], random_state=0
    )
    np.testing.assert_allclose(np.linalg.norm(data.means, axis=1), 5.0)
    np.testing.assert_allclose(np.linalg.norm(data.factors[:, :, 0], axis=1), 2.0)
    np.testing.assert_allclose(data.weights, [0.3, 0.7])


@pytest.mark.parametrize("k", [1, 2, 3, 10, 15])
def test_dgmm_default_weights_rule(k):
    w = dgmm_default_weights(np.random.default_rng(k), k)
    np.testing.assert_allclose(w.sum(), 1.0)
    assert np.all(w > 0)
    if 1 < k <= 10:
        assert np.all(w[:-1] >= 0.1 - 1e-15) and np.all(w[:-1] <= 0.9 / (k - 1) + 1e-15)
        assert w[-1] >= 0.1 - 1e-12


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rank": 5}, "exceeds n_features"),
        ({"rank": [1, 2, 1]}, "one per component"),
        ({"rank": 0}, "rank must be"),
        ({"noise_variance": -1.0}, "noise_variance"),
        ({"factor_norm": (2.0, 1.0)}, "factor_norm"),
        ({"weights": [0.5, 0.6]}, "sum to 1"),
    ],
)
def test_lowrank_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_lowrank_gaussian_mixture(10, 4, 2, **{"rank": 1, **kwargs})


# ------------------------------------------------------------------ Polymom table Gaussians


def test_gaussian_types_follow_the_table_generator():
    sph = make_gaussian_mixture(10, 2, 2, "spherical", random_state=0)
    var = np.diagonal(sph.covariances, axis1=1, axis2=2)
    np.testing.assert_allclose(var, var[:, :1] * np.ones((1, 2)))
    np.testing.assert_allclose(sph.covariances, var[:, :, None] * np.eye(2))
    assert np.all((var >= 2) & (var <= 4))
    np.testing.assert_allclose(sph.means - np.eye(2), np.clip(sph.means - np.eye(2), 0, 0.02))

    diag = make_gaussian_mixture(10, 3, 2, "diagonal", random_state=1)
    dv = np.diagonal(diag.covariances, axis1=1, axis2=2)
    np.testing.assert_allclose(diag.covariances, dv[:, :, None] * np.eye(3))
    assert np.all((dv >= 1) & (dv <= 4))

    con = make_gaussian_mixture(10, 3, 3, "constrained", random_state=2)
    np.testing.assert_allclose(con.means.sum(axis=1), 1.0, rtol=1e-14)
    assert np.max(np.abs(con.means - np.eye(3))) < 0.1

    full = make_gaussian_mixture(10, 3, 2, "full", random_state=3)
    for c in full.covariances:
        np.testing.assert_allclose(c, c.T, atol=1e-14)
        lam = np.linalg.eigvalsh(c)
        assert np.all((lam >= 1 - 1e-12) & (lam <= 4 + 1e-12))
        assert np.abs(c - np.diag(np.diag(c))).max() > 1e-3  # genuinely non-diagonal


def test_gaussian_more_components_than_features_uses_distinct_vertices():
    data = make_gaussian_mixture(10, 2, 4, "spherical", random_state=0)
    vertices = np.round(data.means).astype(int)
    assert len({tuple(v) for v in vertices}) == 4
    with pytest.raises(ValueError, match="vertices"):
        make_gaussian_mixture(10, 2, 5, random_state=0)
    with pytest.raises(ValueError, match="n_components <= n_features"):
        make_gaussian_mixture(10, 2, 3, "constrained", random_state=0)


@pytest.mark.parametrize("covariance_type", ["spherical", "diagonal", "constrained", "full"])
def test_gaussian_empirical_moments_match_truth(covariance_type):
    data = make_gaussian_mixture(60_000, 2, 2, covariance_type, random_state=4)
    means, covs = _per_label_moments(data.X, data.labels, 2)
    np.testing.assert_allclose(means, data.means, atol=0.06)
    np.testing.assert_allclose(covs, data.covariances, atol=0.2)
    m, c = _mixture_mean_cov(data.weights, data.means, data.covariances)
    np.testing.assert_allclose(data.X.mean(axis=0), m, atol=0.04)
    np.testing.assert_allclose(np.cov(data.X.T), c, atol=0.15)


def test_gaussian_reproducible_and_overrides():
    a = make_gaussian_mixture(30, 2, 2, random_state=5)
    b = make_gaussian_mixture(30, 2, 2, random_state=5)
    np.testing.assert_array_equal(a.X, b.X)
    mu = np.array([[0.0, 0.0], [3.0, 3.0]])
    c = make_gaussian_mixture(
        30, 2, 2, weights=[0.2, 0.8], means=mu, variance_range=(0.5, 1.0), random_state=5
    )
    np.testing.assert_array_equal(c.means, mu)
    np.testing.assert_allclose(c.weights, [0.2, 0.8])
    assert np.all(np.diagonal(c.covariances, axis1=1, axis2=2) <= 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"covariance_type": "tied"}, "covariance_type"),
        ({"means": np.zeros((3, 2))}, "means must be"),
        ({"variance_range": (-1.0, 1.0)}, "variance_range"),
        ({"n_samples": 0}, "n_samples"),
    ],
)
def test_gaussian_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_gaussian_mixture(**{"n_samples": 10, **kwargs})
