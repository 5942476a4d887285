"""Model kernels: log-probabilities, E-step, sampling (against slow loops and scipy)."""

import numpy as np
import pytest
from scipy import stats

from momix.softmax._model import (
    ChoiceSetData,
    e_step,
    log_choice_probabilities,
    sample_items,
    situation_class_loglik,
)


def test_log_probabilities_match_explicit_softmax():
    rng = np.random.default_rng(0)
    F, theta = rng.standard_normal((3, 5, 2)), rng.standard_normal((2, 2))
    out = log_choice_probabilities(F, theta)
    for k in range(2):
        for s in range(3):
            u = F[s] @ theta[k]
            np.testing.assert_allclose(out[k, s], np.log(np.exp(u) / np.exp(u).sum()), atol=1e-12)


def test_log_probabilities_shift_invariant_and_finite_for_huge_coefficients():
    rng = np.random.default_rng(1)
    F, theta = rng.standard_normal((2, 50, 3)), rng.standard_normal((2, 3))
    shifted = F + rng.standard_normal(3)  # the same vector added to every alternative
    np.testing.assert_allclose(log_choice_probabilities(shifted, theta),
                               log_choice_probabilities(F, theta), atol=1e-10)
    big = 50 * theta / np.linalg.norm(theta, axis=1, keepdims=True)
    out = log_choice_probabilities(F, big)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(np.exp(out).sum(axis=2), 1.0, atol=1e-12)


def test_item_e_step_log_likelihood_matches_loop(item_problem):
    X, y, w, t, data = item_problem
    loglik = 0.0
    for j in y[:500]:
        pis = [np.exp(X[j] @ t[k]) / np.exp(X @ t[k]).sum() for k in range(2)]
        loglik += np.log(w @ np.array(pis))
    sub = data.__class__(X, np.bincount(y[:500], minlength=len(X)).astype(float))
    est = e_step(sub, w, t)
    np.testing.assert_allclose(est.log_likelihood, loglik, rtol=1e-10)
    np.testing.assert_allclose(est.class_totals.sum(), 500, rtol=1e-12)


def test_panel_e_step_matches_brute_force(panel_problem):
    F, y, g, w, t, data = panel_problem
    total = 0.0
    for gid in np.unique(g):
        rows = np.flatnonzero(g == gid)
        per_class = []
        for k in range(len(w)):
            probs = [np.exp(F[i, y[i]] @ t[k]) / np.exp(F[i] @ t[k]).sum() for i in rows]
            per_class.append(w[k] * np.prod(probs))
        total += np.log(np.sum(per_class))
    np.testing.assert_allclose(e_step(data, w, t).log_likelihood, total, rtol=1e-10)
    assert situation_class_loglik(data, t).shape == (data.n_groups, len(w))


def test_groups_of_single_observations_equal_independent_rows(panel_problem):
    F, y, g, w, t, data = panel_problem
    solo = ChoiceSetData(F, y, np.arange(len(y)), len(y))
    log_p = log_choice_probabilities(F, t)[:, np.arange(len(y)), y]
    expected = np.log(w @ np.exp(log_p)).sum()
    np.testing.assert_allclose(e_step(solo, w, t).log_likelihood, expected, rtol=1e-12)


def test_sampler_frequencies_match_mixture_probabilities():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 2))
    w, t = np.array([0.3, 0.7]), np.array([[1.0, 0.0], [-0.5, 1.0]])
    choices, labels = sample_items(200_000, X, w, t, rng)
    probs = w @ np.exp(log_choice_probabilities(X[None], t)[:, 0, :])
    counts = np.bincount(choices, minlength=20)
    assert counts.sum() == 200_000
    assert stats.chisquare(counts, probs * 200_000).pvalue > 1e-3
    np.testing.assert_allclose(np.bincount(labels) / 200_000, w, atol=5e-3)


@pytest.mark.parametrize("seed", [0, 1])
def test_e_step_totals_are_responsibilities(item_problem, seed):
    X, y, w, t, data = item_problem
    est = e_step(data, w, t + 0.1 * seed)
    np.testing.assert_allclose(est.class_totals.sum(), data.n_units, rtol=1e-12)
    assert np.all(est.class_totals > 0)


def test_lean_logsumexp_matches_scipy_including_infinite_entries():
    from scipy.special import logsumexp as scipy_lse

    from momix.softmax._model import logsumexp

    rng = np.random.default_rng(5)
    a = 300 * rng.standard_normal((3, 7))
    a[0, 2] = -np.inf
    a[1] = -np.inf  # a whole row of zero weights
    for axis in (0, 1):
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(logsumexp(a, axis=axis), scipy_lse(a, axis=axis))
    assert logsumexp(a, axis=1, keepdims=True).shape == (3, 1)
