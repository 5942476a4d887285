"""Multi-level dictionaries, the tail component and linear binning against dense oracles."""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

from momix import GMMExpansion
from momix.expansion import (
    add_tail,
    auto_levels,
    em_map,
    em_weights,
    level_soft_counts,
    linear_bin,
    local_kernels,
    make_levels,
    merge_bins,
    mixture_log_density,
    precompute_levels,
    tail_level,
)
from momix.expansion._binning import BIN_FRACTION, lattice
from momix.expansion._em import dense_design
from momix.expansion._levels import level_means, level_variances


def _dense(X, levels):
    """Oracle: every component's density at every point, level by level, via scipy."""
    means, variances = level_means(levels), level_variances(levels)
    return np.column_stack(
        [multivariate_normal(m, np.diag(v)).pdf(X) for m, v in zip(means, variances, strict=True)]
    )


@pytest.fixture(params=[1, 2], ids=["1d", "2d"])
def dictionary(request):
    d = request.param
    rng = np.random.default_rng(10 + d)
    X = rng.standard_t(3, size=(60, d))
    levels = make_levels(X, "auto", np.full(d, 0.5), 3, 100_000)
    return X, rng.uniform(0.5, 2.0, len(X)), levels


def test_levels_double_the_bandwidth_and_cover_the_data(dictionary):
    X, _, levels = dictionary
    assert len(levels) == 3
    for k, lv in enumerate(levels):
        np.testing.assert_allclose(lv.sigmas, 0.5 * 2.0**k)
        for j, nodes in enumerate(lv.grid):
            assert nodes[0] <= X[:, j].min() - 3 * lv.sigmas[j] + 1e-12
            assert nodes[-1] >= X[:, j].max() + 3 * lv.sigmas[j] - 1e-12
            assert np.diff(nodes).max() <= lv.sigmas[j] + 1e-12
    assert level_means(levels).shape == (sum(lv.size for lv in levels), X.shape[1])


def test_auto_levels_reach_a_quarter_of_the_range():
    X = np.array([[0.0, 0.0], [10.0, 2.0]])
    L = auto_levels(X, np.array([0.3, 0.3]))
    assert 0.3 * 2.0 ** (L - 1) >= 10.0 / 4 > 0.3 * 2.0 ** (L - 2)


def test_multilevel_density_and_em_map_match_dense_oracle(dictionary):
    X, w, levels = dictionary
    Phi = _dense(X, levels)
    pi = np.random.default_rng(0).dirichlet(np.ones(Phi.shape[1]))
    np.testing.assert_allclose(mixture_log_density(X, pi, levels), np.log(Phi @ pi), rtol=1e-10)
    new, ll, gap = em_map(pi, precompute_levels(X, w, levels))
    p = Phi @ pi
    g = Phi.T @ (w / p) / w.sum()
    np.testing.assert_allclose(new, pi * g / (pi * g).sum(), rtol=1e-10)
    np.testing.assert_allclose(ll, np.dot(w, np.log(p)) / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(gap, np.log(g.max()), rtol=1e-10)


def test_multilevel_soft_counts_are_uniform_start_responsibilities(dictionary):
    X, w, levels = dictionary
    Phi = _dense(X, levels)
    R = Phi / Phi.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(level_soft_counts(X, w, levels), R.T @ w, rtol=1e-10, atol=1e-14)


def test_dense_design_of_a_windowed_grid_matches_oracle():
    X = np.random.default_rng(3).normal(size=(50, 1)) * 5
    levels = make_levels(X, "auto", np.array([0.1]), 1, 100_000)
    lk = local_kernels(X, list(levels[0].grid), levels[0].sigmas)
    assert not lk.dense
    oracle = norm.pdf(X, levels[0].grid[0], 0.1)
    np.testing.assert_allclose(dense_design(lk), oracle, rtol=1e-12, atol=1e-14 * oracle.max())


def test_multilevel_em_reaches_the_same_optimum_from_any_start():
    X = np.random.default_rng(4).standard_t(3, size=(100, 1))
    levels = make_levels(X, "auto", np.array([0.6]), 3, 10_000)
    pre = precompute_levels(X, np.ones(len(X)), levels)
    K = sum(lv.size for lv in levels)
    rng = np.random.default_rng(0)
    starts = [np.ones(K), rng.dirichlet(np.ones(K)), rng.dirichlet(np.full(K, 0.2))]
    fits = [em_weights(pre, s, max_iter=20_000, tol=1e-6) for s in starts]
    assert all(f.converged for f in fits)
    for f in fits:
        assert np.all(np.diff(f.history) >= -1e-12)
        np.testing.assert_allclose(f.log_likelihood, fits[0].log_likelihood, atol=2e-6)
        dens = mixture_log_density(X, f.weights, levels)
        np.testing.assert_allclose(dens, mixture_log_density(X, fits[0].weights, levels), atol=1e-3)


def test_multilevel_estimator_integrates_to_one_and_samples():
    X = np.random.default_rng(5).standard_t(3, size=(300, 1))
    est = GMMExpansion(bandwidth=0.4, update="em", n_levels="auto").fit(X)
    assert len(est.levels_) > 2  # at least two grids plus the tail component
    centre, span = (X.max() + X.min()) / 2, np.ptp(X)
    xs = np.linspace(centre - 10 * span, centre + 10 * span, 60_001)[:, None]
    total = np.trapezoid(np.exp(est.score_samples(xs)), xs[:, 0])
    assert abs(total - 1) < 1e-3
    draws, labels = est.sample(20_000, random_state=0)
    sd = np.sqrt(est.covariances_[labels, 0])
    z = (draws[:, 0] - est.means_[labels, 0]) / sd
    assert abs(z.std() - 1) < 0.03  # each draw uses its own component's variance


def test_closed_form_updates_keep_one_grid_under_auto_levels():
    X = np.random.default_rng(6).normal(size=(100, 1))
    est = GMMExpansion(bandwidth=0.4, n_levels="auto", tail_weight=0.0).fit(X)
    assert len(est.levels_) == 1


def test_add_tail_is_the_defensive_mixture():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(30, 2))
    tail = tail_level(X, np.ones(2))
    centre, span = (X.max(0) + X.min(0)) / 2, np.ptp(X, axis=0)
    Z = rng.normal(size=(10, 2)) * 5
    log_p = rng.normal(size=10)
    q = multivariate_normal(centre, np.diag(span**2)).pdf(Z)
    np.testing.assert_allclose(
        add_tail(log_p, Z, tail, 0.1), np.log(0.9 * np.exp(log_p) + 0.1 * q), rtol=1e-12
    )
    np.testing.assert_array_equal(add_tail(log_p, Z, tail, 0.0), log_p)


# ---------------------------------------------------------------------------------------
# Linear binning
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2])
def test_linear_binning_keeps_weight_and_mean(d):
    rng = np.random.default_rng(d)
    X, w = rng.gamma(2.0, size=(500, d)), rng.uniform(0.1, 2, 500)
    bins = linear_bin(X, w, *lattice(X, np.full(d, 0.3)))
    np.testing.assert_allclose(bins.weights.sum(), w.sum(), rtol=1e-12)
    np.testing.assert_allclose(bins.weights @ bins.centres, w @ X, rtol=1e-12)
    assert np.all(bins.weights > 0) and len(np.unique(bins.keys)) == len(bins.keys)
    # corners are lattice points within one bin width of some data point
    width = BIN_FRACTION * 0.3
    k = (bins.centres - X.min(0)) / width
    np.testing.assert_allclose(k, np.rint(k), atol=1e-9)


def test_merged_bins_equal_the_bins_of_the_union():
    rng = np.random.default_rng(8)
    X, w = rng.normal(size=(300, 2)), np.ones(300)
    origin, width, dims = lattice(X, np.array([0.4, 0.4]))
    parts = [linear_bin(X[s], w[s], origin, width, dims) for s in np.array_split(np.arange(300), 3)]
    merged, whole = merge_bins(parts, origin, width), linear_bin(X, w, origin, width, dims)
    np.testing.assert_array_equal(merged.keys, whole.keys)
    np.testing.assert_allclose(merged.weights, whole.weights, rtol=1e-12)


@pytest.mark.parametrize("d", [1, 2])
def test_binned_log_likelihood_error_is_within_the_documented_bound(d):
    """|mean log p(bins) - mean log p(x)| <= (d/8) (b/sigma)^2 * max|(log p)''| sigma^2."""
    rng = np.random.default_rng(20 + d)
    X = rng.normal(size=(1000, d)) * 1.5
    sig = np.full(d, 0.3)
    levels = make_levels(X, "auto", sig, 1, 100_000)
    pi = em_weights(
        precompute_levels(X, np.ones(len(X)), levels),
        np.ones(levels[0].size),
        max_iter=30,
        tol=1e-3,
    ).weights
    bins = linear_bin(X, np.ones(len(X)), *lattice(X, sig))
    exact = mixture_log_density(X, pi, levels).mean()
    binned = bins.weights @ mixture_log_density(bins.centres, pi, levels) / len(X)
    bound = d / 8 * BIN_FRACTION**2  # with |(log p)''| <= 1/sigma^2 where the data lie
    assert abs(binned - exact) <= bound
    assert abs(binned - exact) < 0.25 * bound  # measured well inside the bound


def test_binned_em_fit_is_close_to_the_exact_fit():
    rng = np.random.default_rng(9)
    X, Xt = rng.gamma(2.0, size=(30_000, 1)), rng.gamma(2.0, size=(5_000, 1))
    params = {"bandwidth": 0.1, "update": "em", "tail_weight": 0.0}
    exact = GMMExpansion(binning=False, **params).fit(X)
    binned = GMMExpansion(binning=True, **params).fit(X)
    assert abs(binned.score(Xt) - exact.score(Xt)) < 1e-3
    assert abs(binned.lower_bound_ - exact.lower_bound_) < 1e-3
    auto = GMMExpansion(**params).fit(X)  # "auto" bins samples of 20 000 rows and more
    np.testing.assert_allclose(auto.weights_, binned.weights_)


def test_binning_is_ignored_by_closed_form_updates():
    X = np.random.default_rng(10).normal(size=(500, 1))
    a = GMMExpansion(bandwidth=0.3, binning=True).fit(X)
    b = GMMExpansion(bandwidth=0.3, binning=False).fit(X)
    np.testing.assert_array_equal(a.weights_, b.weights_)


def test_logsumexp_oracle_far_outside_with_levels():
    X = np.random.default_rng(11).normal(size=(40, 1))
    levels = make_levels(X, "auto", np.array([0.2]), 3, 10_000)
    pi = np.random.default_rng(0).dirichlet(np.ones(sum(lv.size for lv in levels)))
    far = np.array([[80.0], [-300.0]])
    means, var = level_means(levels)[:, 0], level_variances(levels)[:, 0]
    oracle = logsumexp(np.log(pi) + norm.logpdf(far, means, np.sqrt(var)), axis=1)
    np.testing.assert_allclose(mixture_log_density(far, pi, levels), oracle, rtol=1e-10)
