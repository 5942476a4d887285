"""Moment weighting of the least-squares relaxation: the moments' covariance and its whitening."""

import numpy as np
import pytest
import sympy as sp

from momix.moments import iter_chunks
from momix.polymom import (
    Gaussian1D,
    GaussianDiagonal,
    GaussianSpherical,
    LinearRegression,
    MultiView,
    Poisson,
    Polymom,
)
from momix.polymom._fit import build_problem
from momix.polymom._moments import empirical_system, streaming_system
from momix.polymom._weighting import covariance_weights, model_covariance_weights


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.choice(2, n, p=[0.4, 0.6])
    means = np.array([[0.0, 1.0], [1.0, 0.0]])
    return means[z] + np.sqrt(np.array([[0.5, 0.8], [1.0, 0.3]]))[z] * rng.standard_normal((n, 2))


def test_moment_covariance_matches_explicit_loop():
    X = _data(400)
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    model = GaussianDiagonal(2, order=3)
    system = empirical_system(model, X, w)
    # oracle: every observation function evaluated by sympy, weighted covariance / n_eff
    syms = model.data_symbols
    V = np.column_stack([sp.lambdify(syms, sp.sympify(k), "numpy")(X[:, 0], X[:, 1])
                         * np.ones(len(X)) for k in model.moment_keys()])
    p = w / w.sum()
    mean = p @ V
    cov = (V - mean).T @ ((V - mean) * p[:, None]) / (w.sum() ** 2 / np.sum(w**2))
    np.testing.assert_allclose(system.b, mean, rtol=1e-12)
    np.testing.assert_allclose(system.covariance, cov, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(system.std, np.sqrt(np.diag(cov)), rtol=1e-12)


def test_streamed_covariance_equals_in_memory():
    X = _data(1000)
    w = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    model = GaussianDiagonal(2, order=3)
    full = empirical_system(model, X, w)
    streamed = streaming_system(model, iter_chunks(X, 137, w))
    np.testing.assert_allclose(streamed.b, full.b, rtol=1e-12)
    np.testing.assert_allclose(streamed.covariance, full.covariance, rtol=1e-9, atol=1e-15)


def test_covariance_weights_whiten_the_moments():
    X = _data(2000)
    system = empirical_system(GaussianDiagonal(2, order=3), X, np.ones(len(X)))
    L = covariance_weights(system)
    np.testing.assert_allclose(L.T @ L, np.linalg.inv(system.covariance), rtol=1e-6)
    np.testing.assert_allclose(L @ system.covariance @ L.T, np.eye(len(system.b)), atol=1e-8)


def test_singular_covariance_of_one_hot_views_is_floored():
    # one-hot views: the categories of a view sum to one, so the covariance is singular
    rng = np.random.default_rng(0)
    Z = np.hstack([np.eye(3)[rng.integers(0, 3, 500)] for _ in range(3)])
    model = MultiView(3, symmetric=True, simplex=True)
    system = empirical_system(model, Z, np.ones(len(Z)))
    assert np.linalg.eigvalsh(system.covariance)[0] < 1e-12 * np.trace(system.covariance)
    L = covariance_weights(system)
    assert np.all(np.isfinite(L))
    s = np.linalg.svd(L, compute_uv=False)
    assert s[0] / s[-1] < 1e4  # condition number bounded by the floor (1e-6 of R's top)


def test_covariance_weighted_fit_recovers_and_is_the_problem_weight():
    X = _data(20000, seed=3)
    model = GaussianDiagonal(2, order=3)
    est = Polymom(model, 2, moment_weighting="covariance", random_state=0).fit(X)
    order = np.argsort(est.means_[:, 0])
    np.testing.assert_allclose(est.means_[order], [[0.0, 1.0], [1.0, 0.0]], atol=0.15)
    np.testing.assert_allclose(est.weights_[order], [0.4, 0.6], atol=0.1)
    problem = build_problem(model, empirical_system(model, X, np.ones(len(X))), 2,
                            moment_weighting="covariance")
    assert problem.residual_weights.shape == (len(problem.b), len(problem.b))


def test_covariance_weighting_needs_data():
    model = GaussianDiagonal(2, order=3)
    moments = model.population_moments([0.5, 0.5], [[0, 1, 1, 1], [1, 0, 1, 1]])
    with pytest.raises(ValueError, match="needs data"):
        Polymom(model, 2, moment_weighting="covariance").fit_moments(moments)


@pytest.mark.parametrize("model", [GaussianDiagonal(2, order=3), GaussianSpherical(2, order=3),
                                   Gaussian1D(order=4)])
def test_product_moments_match_population_moments_of_twice_the_order(model):
    """E[phi_i phi_j | theta] against the model of twice the order (sympy-derived moments)."""
    d = model.n_features
    params = np.array([[0.3, -1.2, 0.7, 1.5][:d] + [0.8, 0.4][: model.n_params - d]])
    twice = type(model)(d, order=2 * model.order) if d > 1 else Gaussian1D(2 * model.order)
    keys = [sp.sympify(k) for k in model.moment_keys()]
    population = {sp.sympify(k): v for k, v in twice.population_moments([1.0], params).items()}
    expected = np.array([[population[sp.expand(a * b)] for b in keys] for a in keys])
    np.testing.assert_allclose(model.observation_product_moments(params)[0], expected,
                               rtol=1e-12)


def test_model_covariance_at_the_truth_matches_the_sample_covariance():
    X = _data(200_000, seed=4)
    model = GaussianDiagonal(2, order=3)
    system = empirical_system(model, X, np.ones(len(X)))
    problem = build_problem(model, system, 2, moment_weighting="variance")
    truth = np.array([[0.0, 1.0, 0.5, 0.8], [1.0, 0.0, 1.0, 0.3]])
    L = model_covariance_weights(model, problem, system, truth, np.array([0.4, 0.6]))
    implied = np.linalg.inv(L.T @ L)
    np.testing.assert_allclose(np.diag(implied), np.diag(system.covariance), rtol=0.1)
    np.testing.assert_allclose(implied, system.covariance,
                               atol=0.1 * np.max(np.diag(system.covariance)))


def test_two_step_refits_gaussians_and_refuses_other_models():
    X = _data(20000, seed=3)
    est = Polymom(GaussianDiagonal(2, order=3), 2, moment_weighting="two_step",
                  random_state=0).fit(X)
    order = np.argsort(est.means_[:, 0])
    np.testing.assert_allclose(est.means_[order], [[0.0, 1.0], [1.0, 0.0]], atol=0.15)
    with pytest.raises(ValueError, match="polish=True"):
        Polymom(GaussianDiagonal(2, order=3), 2, moment_weighting="two_step",
                polish=False).fit(X)
    counts = np.random.default_rng(0).poisson(3.0, (500, 1))
    with pytest.raises(ValueError, match="products"):
        Polymom(Poisson(1, order=3), 2, moment_weighting="two_step").fit(counts)


def test_auto_weighting_is_covariance_for_regressions_only():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(2000, 2))
    z = rng.random(2000) < 0.5
    y = np.sum(X * np.where(z[:, None], [1.0, -1.0], [-1.0, 0.5]), axis=1)
    reg = Polymom(LinearRegression(2, 0.0), 2, random_state=0).fit(X, y)
    assert reg.moment_weighting_ == "covariance"
    assert Polymom(GaussianDiagonal(2, 3), 2, random_state=0).fit(_data(2000)).moment_weighting_ \
        == "variance"
    model = GaussianDiagonal(2, order=3)
    moments = model.population_moments([0.5, 0.5], [[0, 1, 1, 1], [1, 0, 1, 1]])
    est = Polymom(model, 2, relaxation="exact", random_state=0).fit_moments(moments)
    assert est.moment_weighting_ == "none"
    forced = Polymom(LinearRegression(2, 0.0), 2, moment_weighting="variance",
                     random_state=0).fit(X, y)
    assert forced.moment_weighting_ == "variance"
