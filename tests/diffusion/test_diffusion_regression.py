"""Per-level DSM regression, cells and the extrapolation guard."""

import numpy as np

from momix.diffusion import crude_estimates, mixture_score, vp_coefficients
from momix.diffusion._cells import CrudeMixture, crude_log_joint, merge_groups
from momix.diffusion._features import multi_indices
from momix.diffusion._regression import (
    LevelScore,
    RegressionConfig,
    _merge_small_cells,
    cell_statistics,
    evaluate_level,
    fit_cells,
    fit_level,
)


def _single_gaussian(n, rng):
    mu = np.array([1.0, -2.0])
    cov = np.array([[1.5, 0.4], [0.4, 0.5]])
    return mu, cov, rng.multivariate_normal(mu, cov, size=n)


def test_degree_one_dsm_recovers_gaussian_score():
    """Spec A test 3: a linear model recovers -Sigma_t^{-1}(x - mu_t)."""
    rng = np.random.default_rng(0)
    mu, cov, X = _single_gaussian(50_000, rng)
    crude = crude_estimates(X, 1, rng)
    t = 0.3
    level = fit_level(X, t, crude, RegressionConfig(degree=1, noise_reps=8), rng)
    a, s2 = vp_coefficients(t)
    Xq = a * X[:2000] + np.sqrt(s2) * rng.standard_normal((2000, 2))
    truth = mixture_score(Xq, np.ones(1), mu[None], cov[None], t)
    est = evaluate_level(level, crude, Xq, 1).score
    rel = np.linalg.norm(est - truth) / np.linalg.norm(truth)
    assert rel < 2e-2


def test_guard_is_finite_continuous_and_restoring():
    rng = np.random.default_rng(1)
    mu, cov, X = _single_gaussian(5000, rng)
    crude = crude_estimates(X, 2, rng)
    level = fit_level(X, 1e-3, crude, RegressionConfig(degree=5), rng)
    far = np.array([[1e3, 1e3], [-1e6, 2.0], [3.0, 1e8], [-1e12, -1e12]])
    ev = evaluate_level(level, crude, far, 5)
    assert np.all(np.isfinite(ev.score)) and np.all(ev.extrapolated)
    assert np.all(np.sum(ev.score * (far - X.mean(axis=0)), axis=1) < 0)
    # continuity across the box boundary of one cell
    poly = level.cells[0]
    chol = np.linalg.inv(poly.whitening.inv_chol)
    edge_u = np.array([poly.upper[0], 0.5 * (poly.lower[1] + poly.upper[1])])
    pts = np.array([edge_u - [1e-7, 0], edge_u + [1e-7, 0]]) @ chol.T + poly.whitening.center
    ev = evaluate_level(level, crude, pts, 5)
    if ev.cell[0] == ev.cell[1] == 0:
        assert not ev.extrapolated[0] and ev.extrapolated[1]
        np.testing.assert_allclose(ev.score[0], ev.score[1], rtol=1e-4, atol=1e-4)


def test_antithetic_pairs_reduce_small_t_error():
    """At small t antithetic noise (the default) beats the same number of iid draws."""
    rng = np.random.default_rng(2)
    mu, cov, X = _single_gaussian(4000, rng)
    crude = crude_estimates(X, 1, rng)
    t = 1e-3
    a, s2 = vp_coefficients(t)
    Xq = a * X + np.sqrt(s2) * rng.standard_normal(X.shape)
    truth = mixture_score(Xq, np.ones(1), mu[None], cov[None], t)
    level = fit_level(X, t, crude, RegressionConfig(degree=2, noise_reps=2), rng)
    anti = np.linalg.norm(evaluate_level(level, crude, Xq, 2).score - truth)
    # the same fit with 2n independent noise draws, no pairing
    z = rng.standard_normal((2 * len(X), 2))
    Xt = a * np.vstack([X, X]) + np.sqrt(s2) * z
    blocks = [(Xt, -z / np.sqrt(s2), np.ones(len(Xt)))]
    one = np.zeros(1, dtype=int)
    stats = cell_statistics(blocks, crude, t, one)
    iid_level = LevelScore(t, one, fit_cells(blocks, stats, multi_indices(2, 2),
                                             RegressionConfig(degree=2)), 0.0)
    iid = np.linalg.norm(evaluate_level(iid_level, crude, Xq, 2).score - truth)
    assert anti < 0.5 * iid


def test_cells_merge_at_large_t_and_split_at_small_t():
    crude = CrudeMixture(np.array([0.5, 0.5]), np.array([[-3.0, 0.0], [3.0, 0.0]]),
                         np.array([np.eye(2) * 0.5] * 2))
    assert len(np.unique(merge_groups(crude, 1e-2, 0.5))) == 2
    assert len(np.unique(merge_groups(crude, 10.0, 0.5))) == 1
    assert len(np.unique(merge_groups(crude, 1e-2, np.inf))) == 1


def test_small_cells_are_merged_into_a_neighbour():
    rng = np.random.default_rng(4)
    crude = CrudeMixture(np.array([0.98, 0.01, 0.01]),
                         np.array([[0.0, 0.0], [4.0, 0.0], [-4.0, 0.0]]),
                         np.array([np.eye(2)] * 3))
    X = rng.normal(size=(500, 2))
    log_joint = crude_log_joint(X, crude, 1e-2)
    blocks = [(X[:200], None, np.ones(200)), (X[200:], None, np.ones(300))]

    def statistics(groups):
        return cell_statistics(blocks, crude, 1e-2, groups)

    groups, stats = _merge_small_cells(statistics, np.arange(3), min_count=50)
    assert groups.max() == 0
    np.testing.assert_array_equal(stats.cells, 0)
    # min_count=0 merges only empty cells (here the one at x = -4): every other point keeps
    # its likelihood-ratio cell
    direct = np.argmax(log_joint, axis=1)
    groups, stats = _merge_small_cells(statistics, np.arange(3), 0)
    assert groups.max() + 1 == len(np.unique(direct)) == 2
    np.testing.assert_array_equal(stats.cells, groups[direct])
    np.testing.assert_array_equal(stats.counts, np.bincount(stats.cells))
    # per-cell weighted moments give the cell's mean and covariance
    cell0 = X[stats.cells == 0]
    white = stats.whitening(0)
    np.testing.assert_allclose(white.center, cell0.mean(axis=0), rtol=1e-12, atol=1e-12)
    U = white.apply(cell0)
    np.testing.assert_allclose(np.cov(U.T, bias=True), np.eye(2), atol=1e-6)


def test_crude_log_joint_and_group_likelihood_match_scipy():
    """Stacked whitening against scipy's logpdf; grouped log-sum-exp against scipy."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    from momix.diffusion._cells import group_log_likelihood
    from momix.diffusion._process import noised_mixture

    rng = np.random.default_rng(7)
    A = rng.normal(size=(4, 3, 3))
    crude = CrudeMixture(rng.dirichlet(np.ones(4)), rng.normal(size=(4, 3)),
                         A @ A.transpose(0, 2, 1) + 0.1 * np.eye(3))
    X = rng.normal(size=(50, 3)) * 3
    mu, cov = noised_mixture(crude.means, crude.covariances, 0.3)
    expected = np.column_stack([np.log(w) + multivariate_normal(m, c).logpdf(X)
                                for w, m, c in zip(crude.weights, mu, cov, strict=True)])
    log_joint = crude_log_joint(X, crude, 0.3)
    np.testing.assert_allclose(log_joint, expected, rtol=1e-10)
    groups = np.array([1, 0, 1, 2])
    np.testing.assert_allclose(group_log_likelihood(log_joint, groups), np.column_stack(
        [logsumexp(log_joint[:, groups == g], axis=1) for g in range(3)]), rtol=1e-12)
    perm = np.array([2, 0, 3, 1])
    np.testing.assert_allclose(group_log_likelihood(log_joint, perm),
                               log_joint[:, np.argsort(perm)], rtol=1e-12)


def test_crude_estimates_on_a_kmeans_subset_use_every_row():
    """k-means on a subset, then statistics over all rows: separated clusters recovered."""
    rng = np.random.default_rng(11)
    centres = np.array([[-5.0, 0.0], [0.0, 6.0], [5.0, 0.0]])
    labels = rng.choice(3, size=6000, p=[0.5, 0.3, 0.2])
    X = centres[labels] + rng.normal(size=(6000, 2))
    crude = crude_estimates(X, 3, rng, max_kmeans_samples=300)
    order = np.argsort(crude.means[:, 0])
    np.testing.assert_allclose(crude.means[order], centres, atol=0.1)
    np.testing.assert_allclose(crude.weights[order], np.bincount(labels) / 6000, atol=0.01)
    np.testing.assert_allclose(crude.covariances[order], np.array([np.eye(2)] * 3), atol=0.15)
