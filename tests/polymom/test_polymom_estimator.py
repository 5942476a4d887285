"""Polymom estimator: exact-moment recoveries, custom models, errors."""

import numpy as np
import pytest
import sympy as sp

from momix.exceptions import DataError, SolverError
from momix.polymom import (
    ComponentModel,
    Gaussian1D,
    GaussianDiagonal,
    GaussianSpherical,
    LinearRegression,
    MonomialError,
    MultiView,
    Poisson,
    Polymom,
)


def _match(est_params, est_w, params, w):
    params, w = np.asarray(params, float), np.asarray(w, float)
    a, b = np.lexsort(est_params.T[::-1]), np.lexsort(params.T[::-1])
    return np.abs(est_params[a] - params[b]).max(), np.abs(est_w[a] - w[b]).max()


def _exact(model, w, params, aux=None, **kw):
    est = Polymom(model, len(w), relaxation="exact", random_state=0, **kw)
    return est.fit_moments(model.population_moments(w, params, aux))


def test_pearson_exact_moments_recovered():
    est = _exact(Gaussian1D(order=6), [0.4, 0.6], [[-1.0, 0.5], [1.5, 1.2]])
    dp, dw = _match(est.params_, est.weights_, [[-1.0, 0.5], [1.5, 1.2]], [0.4, 0.6])
    assert dp < 1e-6 and dw < 1e-6
    assert est.flat_extension_ and est.ranks_ == (2, 2)
    assert est.model_.param_names == ("mean", "variance")
    np.testing.assert_allclose(np.sort(est.means_.ravel()), [-1.0, 1.5], atol=1e-6)


def _random_diagonal(seed, mean_sum=None):
    rng = np.random.default_rng(seed)
    means = np.eye(2) + 0.3 * rng.random((2, 2))
    if mean_sum is not None:
        means -= (means.sum(1, keepdims=True) - mean_sum) / 2
    return rng.dirichlet(3 * np.ones(2)), np.hstack([means, rng.uniform(0.5, 1.0, (2, 2))])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_diagonal_2d_exact_moments_recovered(seed):
    w, params = _random_diagonal(seed)
    est = _exact(GaussianDiagonal(2, order=4), w, params)
    dp, dw = _match(est.params_, est.weights_, params, w)
    assert dp < 1e-6 and dw < 1e-6 and est.flat_extension_


@pytest.mark.slow
def test_diagonal_2d_exact_moments_ten_of_ten():
    for seed in range(10):
        w, params = _random_diagonal(100 + seed)
        est = _exact(GaussianDiagonal(2, order=4), w, params)
        dp, dw = _match(est.params_, est.weights_, params, w)
        assert dp < 1e-6 and dw < 1e-6


def test_third_order_moments_with_sum_to_one_constraint_recovered():
    w, params = _random_diagonal(5, mean_sum=1.0)
    est = _exact(GaussianDiagonal(2, order=3, mean_sum=1.0), w, params)
    dp, dw = _match(est.params_, est.weights_, params, w)
    assert dp < 1e-6 and dw < 1e-6


def _standard_normal_aux(model):
    """Population moments E[x^gamma] of x ~ N(0, I) for a regression model's auxiliaries."""
    out = {}
    for _, expr in model.auxiliary:
        exps = sp.Poly(expr, *model.data_symbols[:-1]).monoms()[0]
        out[str(expr)] = float(np.prod([0 if a % 2 else np.prod(np.arange(a - 1, 0, -2))
                                        for a in exps]))
    return out


@pytest.mark.parametrize("noise, intercept", [(0.0, False), (0.5, True)])
def test_linear_regression_exact_moments_recovered(noise, intercept):
    model = LinearRegression(2, noise, x_order=2, y_order=3, fit_intercept=intercept)
    params = [[0.75, 0.4], [0.25, 0.9]]
    if intercept:
        params = [p + [b] for p, b in zip(params, [0.5, -1.0], strict=True)]
    est = _exact(model, [0.4, 0.6], params, _standard_normal_aux(model))
    dp, dw = _match(est.params_, est.weights_, params, [0.4, 0.6])
    assert dp < 1e-6 and dw < 1e-6


def test_poisson_and_multiview_exact_moments_recovered():
    est = _exact(Poisson(2, order=3), [0.3, 0.7], [[1.0, 2.0], [4.0, 0.5]])
    assert max(_match(est.params_, est.weights_, [[1.0, 2.0], [4.0, 0.5]], [0.3, 0.7])) < 1e-6
    means = [[0.1, 0.9, 0.3, 0.7, 0.5, 0.5], [0.8, 0.2, 0.6, 0.4, 0.2, 0.8]]
    est = _exact(MultiView(2), [0.4, 0.6], means)
    assert max(_match(est.params_, est.weights_, means, [0.4, 0.6])) < 1e-6


def _exponential_pair():
    """A model that is not built in, defined only by sympy: two independent exponentials."""
    from sympy import stats

    b1, b2 = sp.symbols("scale_0 scale_1", positive=True)
    x1, x2 = stats.Exponential("x1", 1 / b1), stats.Exponential("x2", 1 / b2)
    phis = [x1**a * x2**b for a in range(4) for b in range(4) if 1 <= a + b <= 3]
    return ComponentModel.from_distribution((b1, b2), [x1, x2], phis, inequalities=[b1, b2])


def test_custom_model_from_sympy_distribution():
    model = _exponential_pair()
    assert dict(model.observations)[sp.Symbol("x1") ** 2 * sp.Symbol("x2")] == \
        2 * model.params[0] ** 2 * model.params[1]
    est = _exact(model, [0.4, 0.6], [[1.0, 2.0], [3.0, 0.5]])
    assert max(_match(est.params_, est.weights_, [[1.0, 2.0], [3.0, 0.5]], [0.4, 0.6])) < 1e-6
    rng = np.random.default_rng(0)
    z = rng.choice(2, 20000, p=[0.4, 0.6])
    X = rng.exponential(np.array([[1.0, 2.0], [3.0, 0.5]])[z])
    fit = Polymom(model, 2, random_state=0).fit(X)
    dp, dw = _match(fit.params_, fit.weights_, [[1.0, 2.0], [3.0, 0.5]], [0.4, 0.6])
    assert dp < 0.2 and dw < 0.1


def _infeasible_model():
    t, x = sp.Symbol("t"), sp.Symbol("x")
    return ComponentModel([t], [x], {x: t, x**2: t**2})


@pytest.mark.parametrize("solver, fallback", [("CLARABEL", "SCS"), ("SCS", None)])
def test_solver_failure_raises_solver_error_after_fallback(solver, fallback):
    est = Polymom(_infeasible_model(), 1, relaxation="exact", solver=solver, fallback=fallback)
    with pytest.raises(SolverError) as info:
        est.fit_moments({"x": 2.0, "x**2": 1.0})  # E[x^2] < E[x]^2: no measure
    assert info.value.solver == "SCS"
    assert "infeasible" in info.value.status


def test_too_small_order_raises_and_none_enlarges():
    model = Gaussian1D(order=6)
    moments = model.population_moments([0.4, 0.6], [[-1.0, 0.5], [1.5, 1.2]])
    with pytest.raises(MonomialError, match="increase `order`"):
        Polymom(model, 2, order=2, relaxation="exact").fit_moments(moments)
    assert Polymom(model, 2, relaxation="exact", random_state=0).fit_moments(moments).order_ == 3


def test_moment_mapping_errors():
    model = Gaussian1D(order=4)
    with pytest.raises(ValueError, match="missing"):
        Polymom(model, 1).fit_moments({"x": 1.0})
    with pytest.raises(ValueError, match="unknown"):
        Polymom(model, 1).fit_moments({"x": 1, "x**2": 2, "x**3": 3, "x**4": 9, "y": 0})
    with pytest.raises(ValueError, match="explicit model"):
        Polymom().fit_moments({"x": 1.0})
    with pytest.raises(ValueError, match="needs data"):
        Polymom(model, 1, moment_weighting="variance").fit_moments(
            model.population_moments([1.0], [[0.0, 1.0]]))


def test_bad_input():
    X = np.random.default_rng(0).standard_normal((50, 3))
    with pytest.raises(DataError, match="expects 2 feature"):
        Polymom(GaussianDiagonal(2, 3), 1).fit(X)
    with pytest.raises(DataError, match="needs the target"):
        Polymom(LinearRegression(3), 1).fit(X)
    with pytest.raises(ValueError, match="relaxation"):
        Polymom(relaxation="nope").fit(X)


def _pearson_data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.choice(2, n, p=[0.4, 0.6])
    return (np.array([-1.0, 1.5])[z] + np.sqrt(np.array([0.5, 1.2]))[z]
            * rng.standard_normal(n)).reshape(-1, 1)


def test_fit_on_data_is_deterministic_and_em_refines():
    X = _pearson_data()
    a = Polymom(Gaussian1D(6), 2, random_state=3).fit(X)
    b = Polymom(Gaussian1D(6), 2, random_state=3).fit(X)
    np.testing.assert_array_equal(a.params_, b.params_)
    dp, _ = _match(a.params_, a.weights_, [[-1.0, 0.5], [1.5, 1.2]], [0.4, 0.6])
    assert dp < 0.5
    em = Polymom(Gaussian1D(6), 2, random_state=3, refine="em").fit(X)
    assert em.score(X) >= a.score(X) - 1e-9
    dp, dw = _match(em.params_, em.weights_, [[-1.0, 0.5], [1.5, 1.2]], [0.4, 0.6])
    assert dp < 0.2 and dw < 0.1
    assert em.sample(5, random_state=0)[0].shape == (5, 1)
    np.testing.assert_allclose(em.predict_proba(X).sum(axis=1), 1.0)


def test_integer_sample_weight_equals_repeated_rows():
    X = _pearson_data(600, seed=1)
    w = np.random.default_rng(2).integers(0, 3, X.shape[0])
    a = Polymom(Gaussian1D(6), 2, random_state=0, moment_weighting="none").fit(
        X, sample_weight=w)
    b = Polymom(Gaussian1D(6), 2, random_state=0, moment_weighting="none").fit(
        np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.params_, b.params_, atol=1e-5)


def test_shared_variance_is_profiled():
    model = GaussianSpherical(2, 3, shared_variance=True)
    assert model.n_params == 2 and model.constants[0][0].name == "variance"
    truth = [[0.0, 1.0], [1.5, -0.5]]
    moments = model.with_constants({"variance": 0.7}).population_moments([0.4, 0.6], truth)
    grid = {"variance": [0.3, 0.7, 1.1]}
    est = Polymom(model, 2, relaxation="exact", profile=grid, max_iter=20, random_state=0)
    est.fit_moments(moments)
    assert est.constants_ == {"variance": pytest.approx(0.7)}
    assert max(_match(est.params_, est.weights_, truth, [0.4, 0.6])) < 1e-6
    np.testing.assert_allclose(est.covariances_[:, 0, 0], 0.7 + est.reg_covar)
