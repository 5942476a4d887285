"""Forward process and closed-form noised-mixture score against independent oracles."""

import numpy as np
import pytest
from diffusion_helpers import overlapping_mixture
from scipy.stats import multivariate_normal

from momix.diffusion import (
    forward_noise,
    mixture_log_density,
    mixture_score,
    noised_mixture,
    vp_coefficients,
)


def test_vp_coefficients_small_t_accurate():
    a, s2 = vp_coefficients(np.array([1e-12, 1.0]))
    np.testing.assert_allclose(s2[0], 2e-12, rtol=1e-9)
    np.testing.assert_allclose(a ** 2 + s2, 1.0, rtol=1e-14)


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("t", [1e-3, 0.1, 2.0])
def test_score_matches_finite_differences(d, t):
    w, mu, cov = overlapping_mixture(3, d, seed=d)
    X = np.random.default_rng(1).normal(0, 1.5, (20, d))
    h = 1e-5
    fd = np.empty_like(X)
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        fd[:, j] = (mixture_log_density(X + e, w, mu, cov, t)
                    - mixture_log_density(X - e, w, mu, cov, t)) / (2 * h)
    np.testing.assert_allclose(mixture_score(X, w, mu, cov, t), fd, rtol=1e-5, atol=1e-6)


def test_standardised_process_matches_finite_differences_and_transform(mixture3):
    """center/scale: the score is the plain VP score of the standardised variable / scale."""
    w, mu, cov = mixture3
    c, sig, t = np.array([3.0, -1.0]), np.array([2.0, 0.5]), 0.2
    X = np.random.default_rng(4).normal(size=(10, 2))
    std = {"center": c, "scale": sig}
    plain = mixture_score((X - c) / sig, w, (mu - c) / sig, cov / np.outer(sig, sig), t)
    np.testing.assert_allclose(mixture_score(X, w, mu, cov, t, **std), plain / sig, rtol=1e-10)
    h = 1e-6
    fd = np.stack([(mixture_log_density(X + h * e, w, mu, cov, t, **std)
                    - mixture_log_density(X - h * e, w, mu, cov, t, **std)) / (2 * h)
                   for e in np.eye(2)], axis=1)
    np.testing.assert_allclose(mixture_score(X, w, mu, cov, t, **std), fd, rtol=1e-5, atol=1e-6)


def test_log_density_matches_scipy(mixture3):
    w, mu, cov = mixture3
    t = 0.3
    X = np.random.default_rng(2).normal(size=(50, 2))
    a, s2 = vp_coefficients(t)
    expected = np.log(sum(wk * multivariate_normal(a * m, a * a * c + s2 * np.eye(2)).pdf(X)
                          for wk, m, c in zip(w, mu, cov, strict=True)))
    np.testing.assert_allclose(mixture_log_density(X, w, mu, cov, t), expected, rtol=1e-12)


def test_noised_mixture_matches_monte_carlo(mixture3):
    w, mu, cov = mixture3
    t, n = 0.4, 200_000
    rng = np.random.default_rng(3)
    labels = rng.choice(len(w), size=n, p=w)
    X0 = mu[labels] + np.einsum("nij,nj->ni", np.linalg.cholesky(cov)[labels],
                                rng.standard_normal((n, 2)))
    Xt = forward_noise(X0, t, rng.standard_normal((n, 2)))
    mu_t, cov_t = noised_mixture(mu, cov, t)
    mean = w @ mu_t
    second = np.einsum("k,kij->ij", w, cov_t + np.einsum("ki,kj->kij", mu_t, mu_t))
    covariance = second - np.outer(mean, mean)
    se_mean = np.sqrt(np.diag(covariance) / n)
    assert np.all(np.abs(Xt.mean(axis=0) - mean) < 3 * se_mean)
    se_cov = np.sqrt((covariance ** 2 + np.outer(np.diag(covariance), np.diag(covariance))) / n)
    assert np.all(np.abs(np.cov(Xt.T) - covariance) < 4 * se_cov)


def test_score_finite_far_from_data(mixture3):
    w, mu, cov = mixture3
    X = np.array([[1e6, -1e6], [-1e8, 3.0]])
    score = mixture_score(X, w, mu, cov, 1e-3)
    assert np.all(np.isfinite(score))
    assert np.all(np.sum(score * X, axis=1) < 0)  # points back towards the data
