"""Implicit moment engine against explicit Isserlis tensors and finite differences."""

from itertools import product

import numpy as np
import pytest

from momix.lowrank._engine import (
    MixtureParams,
    alpha_moments,
    beta_moments,
    data_term,
    scalar_moments,
)
from momix.lowrank._explicit import gaussian_moment_tensors, mixture_moment_tensors


def _pairings(items):
    """All partial pairings of ``items``: lists of (pairs, singletons)."""
    if not items:
        yield [], []
        return
    first, rest = items[0], items[1:]
    for pairs, singles in _pairings(rest):
        yield pairs, [first, *singles]
    for t in range(len(rest)):
        for pairs, singles in _pairings(rest[:t] + rest[t + 1 :]):
            yield [(first, rest[t]), *pairs], singles


def isserlis_tensor(mu, cov, k):
    """E[x^{(x)k}] entry by entry from partial pairings (slow, independent oracle)."""
    d = mu.shape[0]
    T = np.zeros((d,) * k)
    for index in product(range(d), repeat=k):
        total = 0.0
        for pairs, singles in _pairings(list(range(k))):
            term = 1.0
            for a, b in pairs:
                term *= cov[index[a], index[b]]
            for a in singles:
                term *= mu[index[a]]
            total += term
        T[index] = total
    return T


def random_params(rng, d=3, K=2, R=2, noise=0.0, zero_cols=True):
    w = rng.dirichlet(np.ones(K))
    mu = rng.normal(size=(K, d))
    V = rng.normal(size=(K, d, R))
    if zero_cols and R > 1:
        V[0, :, R - 1 :] = 0.0  # unequal ranks: component 0 has rank R-1
    return MixtureParams(w, mu, V, noise)


@pytest.mark.parametrize("noise", [0.0, 0.7])
@pytest.mark.parametrize("R", [1, 2])
def test_alpha_beta_match_isserlis_tensors(R, noise):
    rng = np.random.default_rng(R)
    params = random_params(rng, R=R, noise=noise)
    L = 4
    covs = params.covariances()
    tensors = [
        sum(params.weights[j] * isserlis_tensor(params.means[j], covs[j], k) for j in range(2))
        for k in range(1, L + 1)
    ]
    alpha_explicit = np.array([np.sum(T * T) for T in tensors])
    np.testing.assert_allclose(alpha_moments(params, L).alpha, alpha_explicit, rtol=1e-10)
    Y = rng.normal(size=(5, 3))
    beta_explicit = np.empty((5, L))
    for n, y in enumerate(Y):
        for k, T in enumerate(tensors, start=1):
            yk = y
            for _ in range(k - 1):
                yk = np.multiply.outer(yk, y)
            beta_explicit[n, k - 1] = np.sum(T * yk)
    beta = beta_moments(Y, np.sum(Y * Y, axis=1), params, L)
    np.testing.assert_allclose(beta, beta_explicit, rtol=1e-10)


def test_stein_recursion_matches_isserlis():
    rng = np.random.default_rng(3)
    mu, A = rng.normal(size=3), rng.normal(size=(3, 3))
    cov = A @ A.T
    rec = gaussian_moment_tensors(mu, cov, 4)
    for k in range(1, 5):
        np.testing.assert_allclose(rec[k], isserlis_tensor(mu, cov, k), rtol=1e-12)


def test_alpha_bell_special_cases():
    rng = np.random.default_rng(0)
    V = rng.normal(size=(1, 4, 2))
    zero_mean = MixtureParams(np.ones(1), np.zeros((1, 4)), V)
    alpha = alpha_moments(zero_mean, 2).alpha
    sigma = V[0] @ V[0].T
    assert alpha[0] == 0.0
    np.testing.assert_allclose(alpha[1], np.sum(sigma * sigma), rtol=1e-12)
    mu = rng.normal(size=(2, 4))
    no_cov = MixtureParams(np.array([0.3, 0.7]), mu, np.zeros((2, 4, 2)))
    gram = mu @ mu.T
    w = no_cov.weights
    expected = [w @ gram**k @ w for k in range(1, 5)]
    np.testing.assert_allclose(alpha_moments(no_cov, 4).alpha, expected, rtol=1e-12)


def test_scalar_moments_against_scipy():
    from scipy.stats import norm

    m, s = np.array([0.3, -1.2]), np.array([0.5, 2.0])
    mom = scalar_moments(m, s, 6)
    for i in range(2):
        dist = norm(loc=m[i], scale=np.sqrt(s[i]))
        np.testing.assert_allclose(mom[:, i], [dist.moment(k) for k in range(7)], rtol=1e-12)


def _flat(params):
    return np.concatenate([params.weights, params.means.ravel(), params.factors.ravel()])


def _unflat(theta, like):
    K, d, R = like.factors.shape
    return MixtureParams(
        theta[:K],
        theta[K : K + K * d].reshape(K, d),
        theta[K + K * d :].reshape(K, d, R),
        like.noise_variance,
    )


def _fd_grad(f, theta, h=1e-6):
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        g[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g


@pytest.mark.parametrize("noise", [0.0, 0.4])
def test_alpha_gradient_finite_differences(noise):
    rng = np.random.default_rng(5)
    params = random_params(rng, d=4, K=3, R=2, noise=noise)
    w = np.array([1.0, 0.5, 0.2, 0.05])
    res = alpha_moments(params, 4, w)
    analytic = np.concatenate([res.grad_weights, res.grad_means.ravel(), res.grad_factors.ravel()])
    numeric = _fd_grad(lambda t: w @ alpha_moments(_unflat(t, params), 4).alpha, _flat(params))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max())


@pytest.mark.parametrize("noise", [0.0, 0.4])
def test_data_term_gradient_finite_differences(noise):
    rng = np.random.default_rng(6)
    params = random_params(rng, d=4, K=2, R=2, noise=noise)
    X = rng.normal(size=(30, 4))
    sq = np.sum(X * X, axis=1)
    omega = rng.dirichlet(np.ones(30))
    w = np.array([1.0, 0.5, 0.2, 0.05])
    res = data_term(X, sq, omega, params, w)
    np.testing.assert_allclose(res.b, omega @ beta_moments(X, sq, params, 4), rtol=1e-12)
    analytic = np.concatenate([res.grad_weights, res.grad_means.ravel(), res.grad_factors.ravel()])
    numeric = _fd_grad(
        lambda t: w @ (omega @ beta_moments(X, sq, _unflat(t, params), 4)), _flat(params)
    )
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6 * np.abs(numeric).max())


def test_mixture_tensors_and_invariances():
    rng = np.random.default_rng(8)
    params = random_params(rng, d=3, K=2, R=2, noise=0.2)
    tensors = mixture_moment_tensors(params, 4)
    alpha = alpha_moments(params, 4).alpha
    np.testing.assert_allclose(alpha, [np.sum(T * T) for T in tensors], rtol=1e-10)
    Q, _ = np.linalg.qr(rng.normal(size=(2, 2)))
    rotated = MixtureParams(params.weights, params.means, params.factors @ Q, 0.2)
    np.testing.assert_allclose(alpha_moments(rotated, 4).alpha, alpha, rtol=1e-12)
    perm = MixtureParams(params.weights[::-1], params.means[::-1], params.factors[::-1], 0.2)
    np.testing.assert_allclose(alpha_moments(perm, 4).alpha, alpha, rtol=1e-12)


def test_kernels_agree_with_momix_special():
    from momix.special import complete_bell, complete_bell_jacobian, gaussian_raw_moments

    rng = np.random.default_rng(9)
    m, s = rng.normal(size=5), rng.uniform(0.1, 2, size=5)
    np.testing.assert_allclose(
        np.moveaxis(scalar_moments(m, s, 6), 0, -1), gaussian_raw_moments(m, s, 6), rtol=1e-13
    )
    # the Bell-derivative identity used by the alpha gradient
    kappa = rng.normal(size=5)
    B, J = complete_bell(kappa), complete_bell_jacobian(kappa)
    from math import comb

    for k in range(1, 6):
        for l in range(1, k + 1):
            np.testing.assert_allclose(J[k, l - 1], comb(k, l) * B[k - l], rtol=1e-12)


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_explicit_alpha_matches_cumulant_engine(noise):
    from momix.lowrank._stein import alpha_from_tensors

    rng = np.random.default_rng(11)
    params = random_params(rng, d=3, K=3, R=2, noise=noise)
    w = np.array([1.0, 0.5, 0.2, 0.05])
    a, b = alpha_moments(params, 4, w), alpha_from_tensors(params, w)
    for name in ("alpha", "grad_weights", "grad_means", "grad_factors"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-9, atol=1e-12)
