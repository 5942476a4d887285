"""Moment candidates run to convergence: ordering, screening, resumption, n_init='auto'."""

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError
from softmax_testdata import make_item_data

from momix import SoftmaxMixture
from momix.softmax._data import standardise
from momix.softmax._em import fit_em
from momix.softmax._model import ItemSetData
from momix.softmax._multivariate import matched_atom_draws
from momix.softmax._select import (
    SCREEN_STEPS,
    auto_n_runs,
    n_screened,
    resume_em,
    screen_in_two_stages,
    screen_starts,
    screening_order,
)
from momix.softmax._start import moment_starts


def test_screening_order_is_a_round_robin_over_routes():
    ll = np.array([-5.0, -1.0, -3.0, -2.0, -4.0, np.nan])
    src = ("a", "b", "a", "b", "c", "a")
    order = screening_order(ll, src)
    assert sorted(order.tolist()) == list(range(6))
    # routes in the order of their best candidate (b: -1, a: -3, c: -4), each by likelihood
    assert order.tolist() == [1, 2, 4, 3, 0, 5]


def test_screening_order_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="3 log-likelihoods but 2 sources"):
        screening_order(np.zeros(3), ("a", "b"))


def test_screened_then_resumed_run_is_one_uninterrupted_run():
    X, y, w, t = make_item_data(800, 2, 2, 5000, seed=3, norm=1.0)
    data = ItemSetData(X, np.bincount(y, minlength=len(X)).astype(float))
    w0, t0 = np.array([0.5, 0.5]), np.array([[0.3, -0.2], [-0.4, 0.5]])
    whole = fit_em(data, w0, t0, max_iter=300, tol=1e-10, accelerate=True)
    first = screen_starts(data, w0[None], t0[None], 1, n_steps=6, tol=1e-10)[0]
    assert first.n_iter == 6 and not first.converged
    resumed = resume_em(data, first, max_iter=300, tol=1e-10)
    assert resumed.n_iter == whole.n_iter and resumed.converged == whole.converged
    np.testing.assert_array_equal(resumed.theta, whole.theta)
    np.testing.assert_array_equal(resumed.path, whole.path)
    assert resume_em(data, resumed, max_iter=300, tol=1e-10) is resumed  # converged: unchanged


def test_screen_starts_keeps_the_best_and_rejects_n_keep_zero():
    X, y, w, t = make_item_data(800, 2, 2, 5000, seed=4)
    data = ItemSetData(X, np.bincount(y, minlength=len(X)).astype(float))
    starts = np.array([t, -t, t[::-1] * 0.5])
    weights = np.array([w, w, w[::-1]])
    kept = screen_starts(data, weights, starts, 2, n_steps=3)
    everyone = screen_starts(data, weights, starts, 3, n_steps=3)
    assert len(kept) == 2
    assert kept[0].log_likelihood == max(r.log_likelihood for r in everyone)
    assert kept[0].log_likelihood >= kept[1].log_likelihood
    with pytest.raises(ValueError, match="n_keep"):
        screen_starts(data, weights, starts, 0)


def test_two_stage_screening_survivors_equal_a_direct_screening():
    X, y, w, t = make_item_data(800, 2, 3, 5000, seed=6, norm=1.0)
    data = ItemSetData(X, np.bincount(y, minlength=len(X)).astype(float))
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((6, 3, 2))
    weights = np.full((6, 3), 1 / 3)
    kept = screen_in_two_stages(data, weights, theta, 2)
    direct = screen_starts(data, weights, theta, 6, n_steps=SCREEN_STEPS)
    assert len(kept) == 2 and kept[0].n_iter == SCREEN_STEPS
    assert kept[0].log_likelihood >= kept[1].log_likelihood
    for run in kept:  # each survivor is in the state a direct screening reaches
        match = [d for d in direct if np.array_equal(d.theta, run.theta)]
        assert len(match) == 1 and match[0].log_likelihood == run.log_likelihood


@pytest.mark.parametrize(("K", "d"), [(3, 3), (5, 2), (4, 6)])
def test_matched_atom_draws_match_the_first_two_latent_moments(K, d):
    rng = np.random.default_rng(K + d)
    Z, f = rng.standard_normal((400, d)), rng.dirichlet(np.ones(400))
    Z[:, 0] += 0.8 * (np.arange(400) % 2)  # a non-trivial latent covariance
    draws = matched_atom_draws(Z, f, K, 4, rng)
    assert draws.shape == (4, K, d)
    m1 = f @ Z
    cov = Z.T @ (f[:, None] * Z) - np.eye(d) - np.outer(m1, m1)
    vals, vecs = np.linalg.eigh(cov)
    r = min(K - 1, d)
    top = (vecs[:, -r:] * np.clip(vals[-r:], 0, None)) @ vecs[:, -r:].T
    for eta in draws:
        np.testing.assert_allclose(eta.mean(axis=0), m1, atol=1e-10)
        c = eta - m1
        np.testing.assert_allclose(c.T @ c / K, top, atol=1e-10)
    assert not np.allclose(draws[0], draws[1])  # only the orientation is random


def test_low_order_routes_join_when_k_at_most_l():
    X, y, w, theta = make_item_data(3000, 4, 3, 50_000, seed=8, norm=1.2)
    data = ItemSetData(X, np.bincount(y, minlength=len(X)).astype(float))
    starts = moment_starts(data, 3, 6, np.random.default_rng(0))
    assert {"tensor", "hermite-nd", "matched"} <= set(starts.sources)
    again = moment_starts(data, 3, 6, np.random.default_rng(0))
    np.testing.assert_array_equal(starts.theta, again.theta)


def test_auto_runs_k_screened_candidates_and_keeps_the_best():
    X, y, w, theta = make_item_data(2000, 3, 3, 30_000, seed=9, norm=1.0)
    model = SoftmaxMixture(3, random_state=1).fit(X, y)
    assert model.init_used_ == "moments" and model.n_init_ == auto_n_runs(3) == 3
    again = SoftmaxMixture(3, random_state=1).fit(X, y)
    np.testing.assert_array_equal(model.coefs_, again.coefs_)
    # the same pipeline by hand on the standardised item set: the best of the K resumed runs
    data, scale = standardise(ItemSetData(X, np.bincount(y, minlength=len(X)).astype(float)))
    ms = moment_starts(data, 3, 30, np.random.default_rng(1))
    top = screening_order(ms.log_likelihood, ms.sources)[:n_screened(3)]
    runs = [resume_em(data, r, max_iter=500, tol=1e-8)
            for r in screen_in_two_stages(data, ms.weights[top], ms.theta[top], 3, tol=1e-8)]
    assert len(runs) == 3
    # without split-and-merge moves exactly that; with them (the default) at least that
    plain = SoftmaxMixture(3, split_merge=0, random_state=1).fit(X, y)
    assert plain.log_likelihood_ == max(r.log_likelihood for r in runs)
    assert model.log_likelihood_ >= plain.log_likelihood_
    single = SoftmaxMixture(3, n_init=1, split_merge=0, random_state=1).fit(X, y)
    assert single.n_init_ == 1
    assert plain.log_likelihood_ >= single.log_likelihood_ - 1e-9 * abs(single.log_likelihood_)


def test_auto_means_k_random_starts_for_random_init():
    X, y, w, t = make_item_data(500, 2, 2, 3000, seed=2)
    assert SoftmaxMixture(2, init="random", random_state=0).fit(X, y).n_init_ == 2


@pytest.mark.parametrize("bad", ["many", 0, -1, 1.5])
def test_bad_n_init(bad):
    X, y, w, t = make_item_data(500, 2, 2, 3000, seed=2)
    with pytest.raises(InvalidParameterError, match="n_init"):
        SoftmaxMixture(2, n_init=bad).fit(X, y)


def test_integer_n_init_beyond_the_candidates_is_made_up_with_random_starts():
    X, y, w, t = make_item_data(800, 2, 1, 4000, seed=3)
    data = ItemSetData(X, np.bincount(y, minlength=len(X)).astype(float))
    n_candidates = len(moment_starts(data, 1, 10, np.random.default_rng(0)).weights)
    model = SoftmaxMixture(1, n_init=n_candidates + 3, random_state=0).fit(X, y)
    assert model.init_used_ == "moments" and model.n_init_ == n_candidates + 3
    single = SoftmaxMixture(1, random_state=0).fit(X, y)  # K = 1: one atom, no spacing check
    assert single.init_used_ == "moments" and single.n_init_ == 1
    np.testing.assert_allclose(single.coefs_, model.coefs_, atol=1e-6)
