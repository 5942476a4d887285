"""Early-stopped EM (``max_iter="auto"``) and per-axis bandwidths against slow references."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from momix import GMMExpansion
from momix.expansion import (
    add_tail,
    batch_adjoint,
    batch_density,
    em_weights,
    held_out_step_path,
    level_soft_counts,
    make_levels,
    mixture_log_density,
    precompute_levels,
    robust_scale,
    tail_level,
    tail_mass,
)
from momix.expansion._levels import level_means, level_variances


def _dense(X, levels):
    """Oracle: every component's density at every point, via scipy."""
    means, variances = level_means(levels), level_variances(levels)
    return np.column_stack(
        [multivariate_normal(m, np.diag(v)).pdf(X) for m, v in zip(means, variances, strict=True)]
    )


def _three_normals(n, seed=0):
    rng = np.random.default_rng(seed)
    means = np.array([[0, 0], [3, 1], [-1, 3.0]])
    sds = np.array([[1, 0.5], [0.4, 0.4], [0.7, 1.2]])
    k = rng.integers(0, 3, n)
    return means[k] + rng.standard_normal((n, 2)) * sds[k]


@pytest.mark.parametrize(
    ("d", "sigma", "n_levels"),
    [(1, 0.4, 1), (2, 0.5, 1), (2, 0.08, 1), (2, 0.4, 2)],
    ids=["1d-design", "2d-factorised", "2d-sparse", "2d-two-levels"],
)
def test_batched_passes_match_the_dense_design(d, sigma, n_levels):
    rng = np.random.default_rng(d)
    X = rng.gamma(2.0, size=(50, d))
    w = rng.uniform(0.5, 2.0, len(X))
    levels = make_levels(X, "auto", np.full(d, sigma), n_levels, 100_000)
    pre = precompute_levels(X, w, levels)
    Phi = _dense(X, levels)
    W = rng.dirichlet(np.ones(Phi.shape[1]), size=3).T  # three weight vectors as columns
    R = rng.uniform(0, 1, (len(X), 3))
    # windowed kernels drop components beyond 8 sigma: absolute error below e^-32 / sigma^d
    atol = 1e-12 / sigma**d
    np.testing.assert_allclose(batch_density(W, pre), Phi @ W, rtol=1e-10, atol=atol)
    np.testing.assert_allclose(batch_adjoint(R, pre), Phi.T @ R, rtol=1e-10, atol=atol * 50)


def _slow_path(X, w, folds, levels, scale, tail_weight, n_steps):
    """Reference: each fold on its own, m plain EM steps from uniform, exact held-out scores."""
    out = []
    for m in range(1, n_steps + 1):
        total = 0.0
        for k, test in enumerate(folds):
            train = np.concatenate([f for i, f in enumerate(folds) if i != k])
            counts = level_soft_counts(X[train], w[train], levels)
            pre = precompute_levels(X[train], w[train], levels)
            fit = em_weights(pre, counts / counts.sum(), max_iter=m, tol=-np.inf, accelerate=False)
            log_p = mixture_log_density(X[test], fit.weights, levels)
            tail = tail_level(X[train], scale)
            log_p = add_tail(log_p, X[test], tail, tail_mass(tail_weight, len(train)))
            total += float(np.dot(w[test], log_p))
        out.append(total / w.sum())
    return np.array(out)


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("tail_weight", ["auto", 0.0])
def test_lockstep_path_equals_separate_fold_fits(d, tail_weight):
    rng = np.random.default_rng(5)
    X = rng.standard_t(4, size=(80, d))
    w = rng.integers(1, 3, len(X)).astype(float)
    scale = robust_scale(X, w)
    levels = make_levels(X, "auto", 0.5 * scale, 1, 100_000)
    folds = np.array_split(rng.permutation(len(X)), 4)
    path = held_out_step_path(
        X, w, folds, levels, scale=scale, tail_weight=tail_weight, max_steps=6
    )
    n = len(path.scores)
    ref = _slow_path(X, w, folds, levels, scale, tail_weight, n)
    np.testing.assert_allclose(path.scores, ref, rtol=1e-10)
    assert path.best_steps == int(np.argmax(ref)) + 1
    assert path.best_score == pytest.approx(ref.max(), rel=1e-12)


def test_path_stops_after_the_peak_and_respects_the_cap():
    X = _three_normals(300)
    scale = robust_scale(X)
    levels = make_levels(X, "auto", 0.3 * scale, 1, 100_000)
    folds = np.array_split(np.random.default_rng(0).permutation(len(X)), 5)
    path = held_out_step_path(X, np.ones(len(X)), folds, levels, scale=scale, max_steps=500)
    assert 1 <= path.best_steps < len(path.scores) < 500
    capped = held_out_step_path(X, np.ones(len(X)), folds, levels, scale=scale, max_steps=3)
    assert len(capped.scores) <= 3
    np.testing.assert_allclose(capped.scores, path.scores[: len(capped.scores)], rtol=1e-12)
    with pytest.raises(ValueError, match="max_steps"):
        held_out_step_path(X, np.ones(len(X)), folds, levels, scale=scale, max_steps=0)


def test_auto_steps_refit_is_that_many_em_steps_from_uniform_on_all_data():
    X = _three_normals(400)
    est = GMMExpansion(max_iter="auto", random_state=0).fit(X)
    search = est.bandwidth_search_
    assert est.n_iter_ == search.best_steps >= 1
    assert len(search.steps) == len(search.bandwidths)
    # reference: grid at the selected per-axis sigmas, n_iter_ plain steps, tail mixed in
    w = np.ones(len(X))
    levels = make_levels(X, "auto", est.sigmas_, 1, 200_000)
    counts = level_soft_counts(X, w, levels)
    fit = em_weights(
        precompute_levels(X, w, levels),
        counts / counts.sum(),
        max_iter=est.n_iter_,
        tol=-np.inf,
        accelerate=False,
    )
    Z = _three_normals(50, seed=3)
    ref = add_tail(
        mixture_log_density(Z, fit.weights, levels),
        Z,
        tail_level(X, robust_scale(X)),
        tail_mass("auto", len(X)),
    )
    np.testing.assert_allclose(est.score_samples(Z), ref, rtol=1e-10)


def test_auto_steps_at_a_fixed_bandwidth_uses_the_path():
    X = _three_normals(300)
    est = GMMExpansion(bandwidth=0.3, max_iter="auto", random_state=0).fit(X)
    folds = np.array_split(np.random.default_rng(0).permutation(len(X)), 5)
    path = held_out_step_path(
        X, np.ones(len(X)), folds, est.levels_[:1], scale=robust_scale(X), tail_weight="auto"
    )
    assert est.bandwidth_search_ is None
    assert est.n_iter_ == path.best_steps
    np.testing.assert_allclose(est.axis_factors_, 1.0)


def test_per_axis_factors_stay_in_range_and_set_the_sigmas():
    X = _three_normals(400)
    est = GMMExpansion(max_iter="auto", random_state=0).fit(X)
    f = est.axis_factors_
    assert f.shape == (2,)
    assert np.all(f >= 2**-0.5 - 1e-12) and np.all(f <= 2**0.5 + 1e-12)
    np.testing.assert_allclose(est.sigmas_, est.bandwidth_ * f * robust_scale(X), rtol=1e-12)
    trials = est.bandwidth_search_.axis_trials
    assert trials and all(len(t[0]) == 2 for t in trials)
    one_d = GMMExpansion(max_iter="auto", random_state=0).fit(X[:, :1])
    assert one_d.bandwidth_search_.axis_factors is None
    np.testing.assert_allclose(one_d.axis_factors_, [1.0])


@pytest.mark.parametrize("per_axis", [True, False])
def test_fit_is_equivariant_under_axis_scaling_and_shifts(per_axis):
    X = _three_normals(300)
    A, b = np.array([3.0, 0.25]), np.array([-7.0, 100.0])
    params = {"max_iter": "auto", "per_axis_bandwidth": per_axis, "random_state": 0}
    est = GMMExpansion(**params).fit(X)
    moved = GMMExpansion(**params).fit(X * A + b)
    Z = _three_normals(40, seed=9)
    np.testing.assert_allclose(
        moved.score_samples(Z * A + b), est.score_samples(Z) - np.log(A).sum(), rtol=1e-7
    )
    assert moved.n_iter_ == est.n_iter_
    np.testing.assert_allclose(moved.axis_factors_, est.axis_factors_)


def test_auto_steps_density_integrates_to_one_in_1d_and_2d():
    rng = np.random.default_rng(2)
    x1 = np.concatenate([rng.normal(0, 1, 150), rng.normal(4, 0.5, 100)])[:, None]
    est = GMMExpansion(max_iter="auto", random_state=0).fit(x1)
    xs = np.linspace(-40, 45, 40001)[:, None]
    total = np.trapezoid(np.exp(est.score_samples(xs)), xs[:, 0])
    assert abs(total - 1) < 1e-3
    X = _three_normals(250)
    est2 = GMMExpansion(max_iter="auto", random_state=0).fit(X)
    ax = np.linspace(-30, 35, 261)  # the tail component (sd = data range) reaches far
    xx, yy = np.meshgrid(ax, ax, indexing="ij")
    dens = np.exp(est2.score_samples(np.column_stack([xx.ravel(), yy.ravel()]))).reshape(xx.shape)
    assert abs(np.trapezoid(np.trapezoid(dens, ax, axis=1), ax) - 1) < 1e-3


def test_auto_steps_bad_input():
    X = _three_normals(100)
    with pytest.raises(ValueError, match="update='one_step'"):
        GMMExpansion(update="em", max_iter="auto").fit(X)
    with pytest.raises(ValueError, match="per_axis_bandwidth"):
        GMMExpansion(per_axis_bandwidth="sometimes").fit(X)
    with pytest.raises(ValueError, match="max_iter"):
        GMMExpansion(max_iter="many").fit(X)
    tiny = GMMExpansion(max_iter="auto", random_state=0).fit(X[:6])  # too few to hold out
    assert tiny.n_iter_ == 1 and tiny.bandwidth_search_ is None


@pytest.mark.slow
def test_early_stopping_beats_one_step_on_three_normals():
    """Held-out gain on the benchmark's 3-normal density (n = 1000, 10 000 test points)."""
    X, Xt = _three_normals(1000, seed=0), _three_normals(10_000, seed=1)
    one = GMMExpansion(random_state=0).fit(X).score(Xt)
    auto = GMMExpansion(max_iter="auto", random_state=0).fit(X).score(Xt)
    assert auto > one + 0.01
