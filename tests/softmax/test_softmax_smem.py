"""Split-and-merge EM (momix.softmax._smem): kernels against slow oracles, escape, determinism."""

import numpy as np
import pytest
from scipy.linalg import eigh

from momix import SoftmaxMixture
from momix.metrics import parameter_error
from momix.softmax._em import fit_em
from momix.softmax._model import ChoiceSetData, ItemSetData, log_choice_probabilities
from momix.softmax._smem import (
    auto_split_merge,
    candidate_triples,
    merge_scores,
    partial_em,
    split_and_merge,
    split_directions,
    split_merge_start,
)

THETA = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
WEIGHTS = np.array([0.3, 0.35, 0.35])


def _expected_counts_data(n_items=1000, total=20000.0, seed=0):
    X = np.random.default_rng(seed).standard_normal((n_items, 2))
    pi = WEIGHTS @ np.exp(log_choice_probabilities(X[None], THETA)[:, 0])
    return ItemSetData(X, total * pi)


def _duplicate_start_run(data):
    """EM from two identical classes: they stay identical forever (a fixed subspace)."""
    theta0 = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    return fit_em(data, np.array([0.15, 0.15, 0.7]), theta0, max_iter=2000, tol=1e-10)


def _posterior_matrix(X, counts, weights, theta):
    """Slow oracle: item posteriors by explicit loops."""
    p, K = len(X), len(weights)
    R = np.empty((p, K))
    for j in range(p):
        joint = [weights[k] * np.exp(X[j] @ theta[k]) / np.exp(X @ theta[k]).sum()
                 for k in range(K)]
        R[j] = np.array(joint) / sum(joint)
    return R


def test_merge_scores_match_the_cosine_of_per_observation_posteriors():
    data = _expected_counts_data(n_items=60)
    counts = np.round(data.counts / 100)  # integer counts: expand to single observations
    data = ItemSetData(data.features, counts)
    w, t = np.array([0.2, 0.3, 0.5]), np.array([[1.0, 0.2], [0.5, -0.4], [-1.0, 0.3]])
    R = _posterior_matrix(data.features, counts, w, t)
    per_obs = np.repeat(R, counts.astype(int), axis=0)  # one row per observation
    norms = np.linalg.norm(per_obs, axis=0)
    expected = per_obs.T @ per_obs / np.outer(norms, norms)
    np.testing.assert_allclose(merge_scores(data, w, t), expected, rtol=1e-10)


def test_split_excess_is_the_generalised_eigenvalue_of_observed_vs_model_covariance():
    data = _expected_counts_data(n_items=80)
    w, t = np.array([0.5, 0.3, 0.2]), np.array([[0.5, 0.1], [-0.3, 0.8], [0.2, -0.6]])
    X, n = data.features, data.counts
    R = _posterior_matrix(X, n, w, t)
    sd = split_directions(data, w, t)
    for k in range(3):
        pi = np.exp(X @ t[k]) / np.exp(X @ t[k]).sum()
        m = pi @ X
        model_cov = (X - m).T @ ((X - m) * pi[:, None])
        f = R[:, k] * n / (R[:, k] * n).sum()
        observed = (X - m).T @ ((X - m) * f[:, None])  # second moment about the model mean
        vals, vecs = eigh(observed, model_cov)
        np.testing.assert_allclose(sd.excess[k], vals[-1] - 1, rtol=1e-8)
        total = (R[:, k] * n).sum()
        np.testing.assert_allclose(sd.score[k], total * max(vals[-1] - 1, 0) ** 2, rtol=1e-8)
        u = vecs[:, -1]  # u' model_cov u = 1: the shift is sqrt(excess) u up to sign
        np.testing.assert_allclose(np.abs(sd.shift[k] @ model_cov @ sd.shift[k]),
                                   max(vals[-1] - 1, 1e-2), rtol=1e-8)
        np.testing.assert_allclose(abs(sd.shift[k] @ model_cov @ u),
                                   np.sqrt(max(vals[-1] - 1, 1e-2)), rtol=1e-6)


def test_split_merge_start_keeps_total_weight_and_merges_by_weighted_mean():
    w, t = np.array([0.1, 0.3, 0.2, 0.4]), np.arange(8.0).reshape(4, 2)
    shift = np.ones((4, 2))
    w2, t2 = split_merge_start(w, t, (1, 3, 0), shift)
    np.testing.assert_allclose(w2, [0.05, 0.7, 0.2, 0.05])
    np.testing.assert_allclose(t2[1], (0.3 * t[1] + 0.4 * t[3]) / 0.7)
    np.testing.assert_allclose(t2[3], t[0] + 1)
    np.testing.assert_allclose(t2[0], t[0] - 1)
    np.testing.assert_array_equal(t2[2], t[2])


def test_candidate_triples_follow_merge_then_split_order():
    merge = np.array([[1, 0.2, 0.9, 0.1], [0.2, 1, 0.3, 0.5], [0.9, 0.3, 1, 0.4],
                      [0.1, 0.5, 0.4, 1]])
    split = np.array([0.0, 5.0, 1.0, 3.0])
    assert candidate_triples(merge, split, 5) == [(0, 2, 1), (0, 2, 3), (1, 3, 2), (1, 3, 0),
                                                  (2, 3, 1)]


def test_partial_em_is_monotone_and_moves_only_the_free_classes():
    data = _expected_counts_data()
    w0, t0 = split_merge_start(WEIGHTS, THETA + 0.3, (0, 1, 2), 0.2 * np.ones((3, 2)))
    w0, t0 = np.r_[w0 * 0.8, 0.2], np.vstack([t0, [[0.5, 0.5]]])  # a fixed fourth class
    w, t, path = partial_em(data, w0, t0, [0, 1, 2], n_steps=15, tol=0.0)
    assert np.all(np.diff(path) >= -1e-9 * abs(path[0]))
    assert path[-1] > path[0]
    np.testing.assert_array_equal(t[3], t0[3])
    assert w[3] == w0[3]
    np.testing.assert_allclose(w[:3].sum(), w0[:3].sum(), rtol=1e-12)


def test_moves_escape_two_identical_classes_that_em_cannot_separate():
    data = _expected_counts_data()
    stuck = _duplicate_start_run(data)
    np.testing.assert_array_equal(stuck.theta[0], stuck.theta[1])  # EM alone stays stuck
    truth = fit_em(data, WEIGHTS, THETA, max_iter=500, tol=1e-10)
    res = split_and_merge(data, stuck, n_candidates=5, max_iter=500, tol=1e-10)
    assert res.n_accepted >= 1
    np.testing.assert_allclose(res.run.log_likelihood, truth.log_likelihood, rtol=1e-9)
    assert parameter_error(THETA, res.run.theta, relative=False).value < 1e-3
    assert np.all(np.diff(res.run.path) >= -1e-9 * abs(res.run.path[0]))


def test_accepted_moves_raise_the_likelihood_and_rejected_leave_the_run_unchanged():
    data = _expected_counts_data()
    at_optimum = fit_em(data, WEIGHTS, THETA, max_iter=500, tol=1e-10)
    res = split_and_merge(data, at_optimum, n_candidates=3, max_iter=500, tol=1e-10)
    assert res.n_accepted == 0 and res.n_tried == 3
    assert res.run is at_optimum
    stuck = _duplicate_start_run(data)
    one = split_and_merge(data, stuck, n_candidates=5, max_iter=500, tol=1e-10, max_moves=1)
    assert one.n_accepted == 1
    assert one.run.path[-1] > stuck.log_likelihood + 1e-10 * data.n_units
    assert one.run.n_iter > stuck.n_iter


def test_choice_situations_layout_runs_monotone(panel_problem):
    *_, data = panel_problem
    F = data.features
    rng = np.random.default_rng(3)
    data3 = ChoiceSetData(F, data.choices, data.groups, data.n_groups)
    run = fit_em(data3, np.full(3, 1 / 3), rng.standard_normal((3, F.shape[2])), max_iter=300,
                 tol=1e-10)
    res = split_and_merge(data3, run, n_candidates=3, max_iter=300, tol=1e-10)
    assert res.run.log_likelihood >= run.log_likelihood
    assert np.all(np.diff(res.run.path) >= -1e-9 * abs(res.run.path[0]))
    assert np.all(np.isfinite(split_directions(data3, run.weights, run.theta).shift))


def test_estimator_split_merge_is_deterministic_and_never_lowers_the_fit():
    data = _expected_counts_data(n_items=400)
    X, counts = data.features, np.round(data.counts)
    kw = dict(init="random", n_init=1, random_state=5, tol=1e-9)
    on = [SoftmaxMixture(3, **kw).fit(X, counts=counts) for _ in range(2)]
    off = SoftmaxMixture(3, split_merge=0, **kw).fit(X, counts=counts)
    np.testing.assert_array_equal(on[0].coefs_, on[1].coefs_)
    assert on[0].n_split_merge_ == on[1].n_split_merge_
    assert off.n_split_merge_ == 0
    assert on[0].log_likelihood_ >= off.log_likelihood_
    path = on[0].log_likelihood_path_
    assert np.all(np.diff(path) >= -1e-9 * abs(path[0]))


def test_auto_split_merge_and_bad_parameter():
    assert auto_split_merge(2) == 0 and auto_split_merge(3) > 0
    X = np.random.default_rng(0).standard_normal((50, 2))
    with pytest.raises(ValueError, match="split_merge"):
        SoftmaxMixture(3, split_merge=-1).fit(X, counts=np.ones(50))
