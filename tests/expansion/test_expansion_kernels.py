"""Kernels of the GMM expansion against independent oracles (scipy, dense loops)."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

from momix import GMMExpansion
from momix.exceptions import DataError
from momix.expansion import (
    em_map,
    em_weights,
    grid_means,
    kde_grid_weights,
    local_kernels,
    log_density,
    make_grid,
    one_step_weights,
    precompute,
    robust_scale,
    soft_counts,
)
from momix.expansion._grid import truncation_bound
from momix.expansion._kernels import backproject, contract


def _dense_components(X, grid, sigmas):
    """Oracle: every grid component's density at every point, shape (n, K), via scipy."""
    means = grid_means(grid)
    cov = np.diag(sigmas**2)
    return np.column_stack([multivariate_normal(m, cov).pdf(X) for m in means]).reshape(len(X), -1)


@pytest.fixture(params=[1, 2], ids=["1d", "2d"])
def problem(request):
    d = request.param
    rng = np.random.default_rng(d)
    X = rng.gamma(2.0, size=(40, d))
    sigmas = np.full(d, 0.6)
    grid = make_grid(X, 6, sigmas, 10_000)
    return X, rng.uniform(0.5, 2.0, len(X)), grid, sigmas


def test_contract_and_backproject_match_dense(problem):
    X, w, grid, sigmas = problem
    Phi = _dense_components(X, grid, sigmas)
    rng = np.random.default_rng(0)
    W = rng.dirichlet(np.ones(Phi.shape[1])).reshape([len(g) for g in grid])
    K = local_kernels(X, grid, sigmas)
    np.testing.assert_allclose(contract(W, K), Phi @ W.ravel(), rtol=1e-12)
    np.testing.assert_allclose(backproject(w, K).ravel(), Phi.T @ w, rtol=1e-12)


def test_windowed_kernels_on_a_fine_grid_lose_less_than_the_bound():
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(0, 1, (30, 2)), [[40.0, -3.0]]])
    sigmas = np.array([0.2, 0.15])
    grid = make_grid(X, "auto", sigmas, 100_000)
    K = local_kernels(X, grid, sigmas)
    assert not K.dense and all(v.shape[1] < len(g) for v, g in zip(K.values, grid, strict=True))
    W = rng.dirichlet(np.ones(int(np.prod([len(g) for g in grid])))).reshape(K.shape)
    Phi = _dense_components(X, grid, sigmas)
    dense = Phi @ W.ravel()
    windowed = contract(W, K)
    assert np.all(windowed <= dense * (1 + 1e-12))
    assert np.all(dense - windowed <= truncation_bound(sigmas))
    exact = log_density(X, W, grid, sigmas)
    np.testing.assert_allclose(exact, np.log(dense), rtol=1e-8)


def test_one_step_is_mean_responsibility_from_uniform(problem):
    X, w, grid, sigmas = problem
    Phi = _dense_components(X, grid, sigmas)
    resp = Phi / Phi.sum(axis=1, keepdims=True)
    expected = (w[:, None] * resp).sum(axis=0) / w.sum()
    got = one_step_weights(X, w, grid, sigmas).ravel()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert got.min() >= 0
    np.testing.assert_allclose(got.sum(), 1.0, rtol=1e-14)


def test_kde_grid_is_normalised_kernel_mass(problem):
    X, w, grid, sigmas = problem
    Phi = _dense_components(X, grid, sigmas)
    expected = Phi.T @ w
    got = kde_grid_weights(X, w, grid, sigmas).ravel()
    np.testing.assert_allclose(got, expected / expected.sum(), rtol=1e-12)


def test_log_density_matches_scipy_also_far_outside(problem):
    X, _, grid, sigmas = problem
    d = X.shape[1]
    rng = np.random.default_rng(3)
    W = rng.dirichlet(np.ones(int(np.prod([len(g) for g in grid])))).reshape([len(g) for g in grid])
    far = np.vstack([X[:5], np.full((1, d), 60.0), np.full((1, d), -1e3)])
    means = grid_means(grid)
    comp = np.column_stack(
        [multivariate_normal(m, np.diag(sigmas**2)).logpdf(far) for m in means]
    ).reshape(len(far), -1)
    expected = logsumexp(comp + np.log(W.ravel()), axis=1)
    got = log_density(far, W, grid, sigmas)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_soft_counts_stream_equal_batch(problem):
    X, w, grid, sigmas = problem
    whole = soft_counts(X, w, grid, sigmas)
    parts = sum(
        soft_counts(X[idx], w[idx], grid, sigmas) for idx in np.array_split(np.arange(len(X)), 10)
    )
    np.testing.assert_allclose(parts, whole, rtol=1e-12)


def test_em_map_matches_dense_fixed_point(problem):
    X, w, grid, sigmas = problem
    Phi = _dense_components(X, grid, sigmas)
    rng = np.random.default_rng(5)
    pi = rng.dirichlet(np.ones(Phi.shape[1]))
    p = Phi @ pi
    g = Phi.T @ (w / p) / w.sum()
    new, ll, gap = em_map(pi.reshape([len(x) for x in grid]), precompute(X, w, grid, sigmas))
    np.testing.assert_allclose(new.ravel(), pi * g, rtol=1e-11)
    np.testing.assert_allclose(ll, np.dot(w, np.log(p)) / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(gap, np.log(g.max()), rtol=1e-10, atol=1e-14)


def _coarse_problem(d):
    rng = np.random.default_rng(11)
    X = np.vstack([rng.normal(0, 1, (150, d)), rng.normal(3, 0.5, (100, d))])
    nodes = 9 if d == 1 else 5
    sigmas = np.full(d, 1.0)
    grid = make_grid(X, nodes, sigmas, 10_000)
    return X, np.ones(len(X)), grid, sigmas


@pytest.mark.parametrize("d", [1, 2])
def test_em_reaches_the_same_optimum_from_any_interior_start(d):
    X, w, grid, sigmas = _coarse_problem(d)
    pre = precompute(X, w, grid, sigmas)
    shape = [len(g) for g in grid]
    rng = np.random.default_rng(0)
    K = int(np.prod(shape))
    one_hotish = np.full(K, 1e-3)
    one_hotish[0] = 1.0
    starts = [np.ones(K), rng.dirichlet(np.ones(K)), rng.dirichlet(0.2 * np.ones(K)), one_hotish]
    fits = [em_weights(pre, s.reshape(shape), max_iter=100_000, tol=1e-10) for s in starts]
    assert all(f.converged for f in fits)
    for f in fits[1:]:
        np.testing.assert_allclose(f.log_likelihood, fits[0].log_likelihood, rtol=0, atol=1e-9)
        dens = np.exp(log_density(X, f.weights, grid, sigmas))
        dens0 = np.exp(log_density(X, fits[0].weights, grid, sigmas))
        np.testing.assert_allclose(dens, dens0, rtol=1e-3)
        assert np.abs(f.weights - fits[0].weights).sum() < 1e-2


@pytest.mark.parametrize("accelerate", [False, True])
def test_em_log_likelihood_is_monotone_and_beats_one_step(accelerate):
    X, w, grid, sigmas = _coarse_problem(1)
    pre = precompute(X, w, grid, sigmas)
    fit = em_weights(pre, np.ones(len(grid[0])), max_iter=400, tol=1e-8, accelerate=accelerate)
    assert np.all(np.diff(fit.history) >= -1e-13)
    one = em_weights(pre, one_step_weights(X, w, grid, sigmas), max_iter=1, tol=np.inf)
    assert fit.log_likelihood >= one.log_likelihood


def test_gap_certificate_bounds_the_true_suboptimality():
    X, w, grid, sigmas = _coarse_problem(1)
    pre = precompute(X, w, grid, sigmas)
    best = em_weights(pre, np.ones(len(grid[0])), max_iter=100_000, tol=1e-11)
    for steps in [1, 3, 10, 30]:
        fit = em_weights(pre, np.ones(len(grid[0])), max_iter=steps, tol=-np.inf, accelerate=False)
        assert best.log_likelihood - fit.log_likelihood <= fit.gap + 1e-12
        assert fit.gap >= 0


def test_w1_to_uniform_decreases_with_grid_size():
    """Paper appendix A: W1(expansion, U(0,1)) with sigma = spacing, 0.0179 at N=10."""
    X = np.linspace(0, 1, 4001)[:, None]
    w = np.ones(len(X))
    xs = np.linspace(-1, 2, 30001)
    w1 = []
    for n in [10, 51, 101]:
        grid = [np.linspace(0, 1, n)]
        s = np.array([1 / (n - 1)])
        W = one_step_weights(X, w, grid, s)
        cdf = norm.cdf((xs[:, None] - grid[0]) / s[0]) @ W
        w1.append(np.trapezoid(np.abs(cdf - np.clip(xs, 0, 1)), xs))
    assert w1[0] == pytest.approx(0.0179, rel=1.0)
    assert w1[0] > w1[1] > w1[2]


def test_grid_too_large_raises_naming_the_dimension():
    X = np.random.default_rng(0).normal(size=(20, 5))
    with pytest.raises(DataError, match="5 feature"):
        make_grid(X, 20, np.ones(5), 100_000)


def test_auto_grid_spacing_and_padding():
    X = np.array([[0.0], [1.0]])
    grid = make_grid(X, "auto", np.array([0.1]), 10_000)[0]
    assert grid[0] == pytest.approx(-0.3) and grid[-1] == pytest.approx(1.3)
    assert np.diff(grid).max() <= 0.1 + 1e-12


def test_robust_scale_weighted_equals_repeated():
    rng = np.random.default_rng(0)
    X = rng.standard_t(2, size=(50, 2))
    reps = rng.integers(0, 4, 50)
    np.testing.assert_allclose(
        robust_scale(X, reps.astype(float)), robust_scale(np.repeat(X, reps, axis=0)), rtol=1e-12
    )
    iqr = np.subtract(*np.percentile(X, [75, 25], axis=0, method="inverted_cdf")) / 1.349
    np.testing.assert_allclose(robust_scale(X), np.minimum(X.std(axis=0), iqr), rtol=1e-12)


def test_robust_scale_tied_middle_half_falls_back_to_sd():
    # the middle half tied up to a denormal-scale gap: the IQR (~6e-241) would make
    # kernels underflow to NaN weights, so the spread falls back to the standard deviation
    X = np.array([[3.0], [7.87697661e-241], [1.0], [0.0], [0.0], [0.0], [0.0], [0.0]])
    np.testing.assert_allclose(robust_scale(X), X.std(axis=0), rtol=1e-12)
    est = GMMExpansion(n_grid=3, bandwidth=0.5, random_state=0).fit(X)
    assert np.all(np.isfinite(est.weights_))
    np.testing.assert_allclose(est.weights_.sum(), 1.0, rtol=1e-12)
