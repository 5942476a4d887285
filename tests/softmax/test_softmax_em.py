"""Generalised EM: gradients against finite differences, monotone ascent, fixed point, K=1 MLE."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

from momix.softmax._em import class_gradients, class_objectives, fit_em
from momix.softmax._model import ItemSetData, e_step, log_choice_probabilities


def _finite_difference(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        d = np.zeros_like(x)
        d.flat[i] = eps
        g.flat[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


@pytest.mark.parametrize("layout", ["items", "panel"])
def test_gradient_and_hessian_match_finite_differences(layout, item_problem, panel_problem):
    data = item_problem[-1] if layout == "items" else panel_problem[-1]
    F = data.situations
    K, L = 2, F.shape[-1]
    rng = np.random.default_rng(0)
    est = e_step(data, np.array([0.5, 0.5]), rng.standard_normal((K, L)))
    theta = rng.standard_normal((K, L))
    grad, neg_h = class_gradients(F, est.chosen_sums, est.situation_weights, theta, hessian=True)
    for k in range(K):
        def q(th, k=k):
            full = theta.copy()
            full[k] = th
            return class_objectives(F, est.chosen_sums, est.situation_weights, full)[k]
        np.testing.assert_allclose(grad[k], _finite_difference(q, theta[k]), rtol=1e-5, atol=1e-4)
        hess = np.array([_finite_difference(
            lambda th, i=i, k=k: class_gradients(
                F, est.chosen_sums, est.situation_weights,
                np.where(np.arange(K)[:, None] == k, th, theta), hessian=False)[0][k, i],
            theta[k]) for i in range(L)])
        np.testing.assert_allclose(-neg_h[k], hess, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("step_size", ["auto", 1.0, 5.0])
@pytest.mark.parametrize("layout", ["items", "panel"])
def test_log_likelihood_never_decreases(layout, step_size, accelerate, item_problem,
                                        panel_problem):
    data = item_problem[-1] if layout == "items" else panel_problem[-1]
    L = data.situations.shape[-1]
    rng = np.random.default_rng(3)
    res = fit_em(data, np.array([0.9, 0.1]), 2 * rng.standard_normal((2, L)),
                 max_iter=60, tol=0.0, step_size=step_size, accelerate=accelerate)
    steps = np.diff(res.path)
    assert np.all(steps >= -1e-10 * np.abs(res.path[1:])), steps.min()
    assert 5 < res.n_iter <= 60
    np.testing.assert_allclose(res.weights.sum(), 1.0)
    assert np.all(res.weights >= 0)
    again = e_step(data, res.weights, res.theta).log_likelihood
    np.testing.assert_allclose(res.log_likelihood, again)


def test_truth_is_a_fixed_point_of_population_em():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((400, 2))
    w, t = np.array([0.4, 0.6]), np.array([[1.5, 0.5], [-1.0, 1.0]])
    pi = w @ np.exp(log_choice_probabilities(X[None], t)[:, 0, :])
    data = ItemSetData(X, 1e6 * pi)  # n = N pi exactly
    res = fit_em(data, w, t, max_iter=5, tol=0.0)
    np.testing.assert_allclose(res.theta, t, atol=1e-6)
    np.testing.assert_allclose(res.weights, w, atol=1e-6)


def test_single_class_equals_direct_multinomial_logit_mle(panel_problem):
    F, y, g, w, t, data = panel_problem

    def nll(theta):
        u = F @ theta
        return -(u[np.arange(len(y)), y] - logsumexp(u, axis=1)).sum()

    direct = minimize(nll, np.zeros(F.shape[-1]), method="BFGS", options={"gtol": 1e-9})
    solo = data.__class__(F, y, np.arange(len(y)), len(y))
    res = fit_em(solo, np.ones(1), np.zeros((1, F.shape[-1])), max_iter=50, tol=1e-14)
    np.testing.assert_allclose(res.theta[0], direct.x, atol=1e-5)
    np.testing.assert_allclose(res.log_likelihood, -direct.fun, rtol=1e-10)


def test_em_stops_by_tol_and_reports_convergence(item_problem):
    data = item_problem[-1]
    res = fit_em(data, np.array([0.5, 0.5]), np.array([[1.0, 0.0], [-1.0, 0.5]]),
                 max_iter=500, tol=1e-6)
    assert res.converged and res.n_iter < 500
    assert (res.path[-1] - res.path[-2]) / data.n_units < 1e-6


def test_acceleration_reaches_the_same_maximum_in_fewer_steps(item_problem):
    data = item_problem[-1]
    start = (np.array([0.7, 0.3]), np.array([[0.2, 0.1], [-0.3, 0.4]]))
    plain = fit_em(data, *start, max_iter=3000, tol=1e-11)
    fast = fit_em(data, *start, max_iter=3000, tol=1e-11, accelerate=True)
    assert plain.converged and fast.converged
    np.testing.assert_allclose(fast.log_likelihood, plain.log_likelihood, rtol=1e-8)
    assert fast.n_iter < plain.n_iter
