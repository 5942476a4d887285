"""Component models: symbolic moments against independent oracles."""

import numpy as np
import pytest
import sympy as sp
from numpy.polynomial import hermite_e
from scipy import stats

from momix.polymom import (
    ComponentModel,
    Gaussian1D,
    GaussianDiagonal,
    GaussianSpherical,
    LinearRegression,
    MultiView,
    Poisson,
    empirical_system,
)


def _moment_expr(model, phi):
    return dict(model.observations)[sp.sympify(phi, locals={s.name: s for s in model.data_symbols})]


def test_gaussian1d_moments_are_hermite_absolute_coefficients():
    model = Gaussian1D(order=8)
    xi, c = model.params
    h = [sp.Integer(1)] + [f for _, f in model.observations]
    assert sp.expand(h[4] - (xi**4 + 6 * xi**2 * c + 3 * c**2)) == 0
    assert sp.expand(h[6] - (xi**6 + 15 * xi**4 * c + 45 * xi**2 * c**2 + 15 * c**3)) == 0
    for n in range(1, 9):
        he = hermite_e.herme2poly([0] * n + [1])  # coefficients of He_n in powers of x
        # h_n(xi, c) = sum_i |He_n coef of x^{n-2i}| xi^{n-2i} c^i
        expected = sum(abs(int(he[n - 2 * i])) * xi ** (n - 2 * i) * c**i
                       for i in range(n // 2 + 1))
        assert sp.expand(h[n] - expected) == 0
        # and equals E[X^n] for X ~ N(0.3, 1.7)
        val = float(h[n].subs({xi: 0.3, c: 1.7}))
        np.testing.assert_allclose(val, stats.norm(0.3, np.sqrt(1.7)).moment(n), rtol=1e-10)


def test_diagonal_and_spherical_moments_factorise():
    model = GaussianDiagonal(2, order=4)
    m0, m1, v0, v1 = model.params
    f = _moment_expr(model, "x_0**2*x_1")
    assert sp.expand(f - (m0**2 + v0) * m1) == 0
    sph = GaussianSpherical(2, order=3)
    g = dict(sph.observations)[sp.Symbol("x_0") ** 2 * sp.Symbol("x_1")]
    mm0, mm1, v = sph.params
    assert sp.expand(g - (mm0**2 + v) * mm1) == 0
    assert model.degree_weights == (1, 1, 2, 2)


def test_poisson_moments_match_scipy():
    model = Poisson(1, order=5)
    (lam,) = model.params
    ((unit, _),) = model.constants
    for k, (_, f) in enumerate(model.observations, start=1):
        expected = stats.poisson(2.3).moment(k)
        np.testing.assert_allclose(float(f.subs({lam: 2.3, unit: 1.0})), expected, rtol=1e-10)
        # in units u: E[(u x)^k] at theta = u * lambda
        np.testing.assert_allclose(float(f.subs({lam: 0.25 * 2.3, unit: 0.25})),
                                   0.25**k * expected, rtol=1e-10)


def test_linear_regression_moments_follow_table_2():
    model = LinearRegression(2, noise_variance=0.0, x_order=2, y_order=2)
    model = model.with_constants({"noise_variance": 0.5})
    assert model.noise_variance == 0.5
    w0, w1 = model.params
    aux = {str(e): s for s, e in model.auxiliary}
    x0, x1, y = model.data_symbols
    obs = dict(model.observations)
    # f_{alpha,1} = sum_p E[x^{alpha+e_p}] w_p for alpha = e_0
    assert sp.expand(obs[x0 * y] - (aux["x_0**2"] * w0 + aux["x_0*x_1"] * w1)) == 0
    # f_{0,2} = sigma^2 + sum_pq E[x_p x_q] w_p w_q
    expected = (sp.Symbol("noise_variance") + aux["x_0**2"] * w0**2 + 2 * aux["x_0*x_1"] * w0 * w1
                + aux["x_1**2"] * w1**2)
    assert sp.expand(obs[y**2] - expected) == 0


def test_symmetric_multiview_averages_view_assignments():
    model = MultiView(2, symmetric=True, simplex=True)
    xi0, xi1 = model.params
    phi = [p for p, f in model.observations if sp.expand(f - xi0**2 * xi1) == 0][0]
    assert len(phi.args) == 3  # three assignments of (0, 0, 1) to distinct views
    assert len(model.equalities) == 1 and len(model.inequalities) == 2


def test_population_moments_match_monte_carlo():
    model = GaussianDiagonal(2, order=3)
    rng = np.random.default_rng(0)
    w = np.array([0.3, 0.7])
    means, var = np.array([[0.0, 1.0], [1.0, -1.0]]), np.array([[1.0, 0.5], [0.3, 2.0]])
    n = 400_000
    z = rng.choice(2, n, p=w)
    X = means[z] + np.sqrt(var[z]) * rng.standard_normal((n, 2))
    exact = model.population_moments(w, np.hstack([means, var]))
    emp = empirical_system(model, X, np.ones(n))
    keys = model.moment_keys()
    b = np.array([exact[k] for k in keys])
    np.testing.assert_allclose(emp.b, b, atol=6 * emp.std.max())


def test_from_distribution_derives_uniform_moments():
    a, b = sp.symbols("a b")
    from sympy import stats

    x = stats.Uniform("x", a, b)
    model = ComponentModel.from_distribution((a, b), [x], [x, x**2, x**3])
    f3 = dict(model.observations)[sp.Symbol("x") ** 3]
    assert sp.expand(f3 - (a**3 + a**2 * b + a * b**2 + b**3) / 4) == 0


def test_model_validation_errors():
    t = sp.Symbol("t")
    x = sp.Symbol("x")
    with pytest.raises(ValueError, match="not a polynomial"):
        ComponentModel([t], [x], {x: sp.exp(t)})
    with pytest.raises(ValueError, match="unknown symbols"):
        ComponentModel([t], [x], {x: t * sp.Symbol("q")})
    with pytest.raises(ValueError, match="outside data_symbols"):
        ComponentModel([t], [x], {sp.Symbol("z"): t})
    with pytest.raises(ValueError, match="degree_weights"):
        ComponentModel([t], [x], {x: t}, degree_weights=(1, 2))


def test_non_polynomial_observation_function_is_evaluated_numerically():
    p = sp.Symbol("p")
    x = sp.Symbol("x")
    # mixture of Bernoulli-coded binomials: phi = 1[x == 1] for Binomial(2, p)
    model = ComponentModel([p], [x], {sp.Piecewise((1, sp.Eq(x, 1)), (0, True)): 2 * p * (1 - p)})
    Z = np.array([[0.0], [1.0], [1.0], [2.0]])
    system = empirical_system(model, Z, np.ones(4))
    np.testing.assert_allclose(system.b, [0.5])
