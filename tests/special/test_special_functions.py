"""momix.special against sympy, scipy and numpy.polynomial, plus algebraic properties."""

from __future__ import annotations

from math import comb, factorial

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import scipy.stats as st
import sympy
from hypothesis import given, settings
from hypothesis import strategies as hs
from numpy.polynomial import hermite_e as npherm

from momix.special import (
    complete_bell,
    complete_bell_jacobian,
    cumulants_to_moments,
    gaussian_raw_moments,
    hermite_e,
    hermite_e_all,
    hermite_e_coefficients,
    moments_to_cumulants,
)

finite = hs.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)


def _sympy_complete_bell(values):
    """B_n(x_1..x_n) as the sum of sympy's incomplete Bell polynomials B_{n,k}."""
    n = len(values)
    xs = sympy.symbols(f"x1:{n + 1}")
    out = [1.0]
    for m in range(1, n + 1):
        poly = sum(sympy.bell(m, k, xs[: m - k + 1]) for k in range(1, m + 1))
        out.append(float(poly.subs(dict(zip(xs, values, strict=True)))))
    return np.array(out)


# ---------------------------------------------------------------- Gaussian moments


@pytest.mark.parametrize("mean,var", [(0.0, 1.0), (1.3, 0.4), (-2.0, 3.0), (5.0, 1e-4)])
def test_gaussian_raw_moments_match_scipy(mean, var):
    got = gaussian_raw_moments(mean, var, 10)
    want = [1.0] + [st.norm.moment(k, loc=mean, scale=np.sqrt(var)) for k in range(1, 11)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_gaussian_raw_moments_degenerate_variance_is_a_point_mass():
    np.testing.assert_allclose(gaussian_raw_moments(-1.5, 0.0, 9), (-1.5) ** np.arange(10), rtol=0)


def test_gaussian_raw_moments_closed_forms_from_polymom_spec():
    xi, c = 0.7, 1.9
    m = gaussian_raw_moments(xi, c, 6)
    np.testing.assert_allclose(m[4], xi**4 + 6 * xi**2 * c + 3 * c**2, rtol=1e-14)
    np.testing.assert_allclose(
        m[6], xi**6 + 15 * xi**4 * c + 45 * xi**2 * c**2 + 15 * c**3, rtol=1e-14
    )


def test_gaussian_raw_moments_broadcast_and_shape():
    mean = np.linspace(-1, 1, 6).reshape(2, 3)
    var = np.array([0.5, 1.0, 2.0])
    got = gaussian_raw_moments(mean, var, 5)
    assert got.shape == (2, 3, 6)
    for idx in np.ndindex(2, 3):
        np.testing.assert_allclose(got[idx], gaussian_raw_moments(mean[idx], var[idx[1]], 5))
    np.testing.assert_array_equal(gaussian_raw_moments(mean, var, 0), np.ones((2, 3, 1)))


def test_gaussian_raw_moments_equal_abs_hermite_coefficients():
    # E[X^n] for N(xi, c) is sum_j |c_j| xi^j c^{(n-j)/2}
    xi, c = 1.7, 0.6
    for n in range(9):
        coef = np.abs(hermite_e_coefficients(n))
        j = np.arange(n + 1)
        want = np.sum(coef * xi**j * c ** ((n - j) / 2))
        np.testing.assert_allclose(gaussian_raw_moments(xi, c, n)[n], want, rtol=1e-13)


@given(mean=finite, var=hs.floats(0.0, 4.0), a=finite)
@settings(max_examples=60, deadline=None)
def test_gaussian_moments_of_affine_map(mean, var, a):
    # cumulants of N(mean, var) are (mean, var, 0, 0, ...)
    m = gaussian_raw_moments(mean, var, 8)
    kappa = moments_to_cumulants(m[1:])
    np.testing.assert_allclose(kappa[:2], [mean, var], atol=1e-9 * (1 + np.abs(m).max()))
    np.testing.assert_allclose(kappa[2:], 0.0, atol=1e-9 * (1 + np.abs(m).max()))
    # a X ~ N(a mean, a^2 var): m_k scales by a^k
    scaled = gaussian_raw_moments(a * mean, a * a * var, 8)
    np.testing.assert_allclose(scaled, m * a ** np.arange(9), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- Hermite


def test_hermite_values_match_numpy_hermite_e():
    x = np.linspace(-4, 4, 41)
    got = hermite_e_all(12, x)
    assert got.shape == (41, 13)
    for n in range(13):
        c = np.zeros(n + 1)
        c[n] = 1.0
        np.testing.assert_allclose(got[:, n], npherm.hermeval(x, c), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(hermite_e(n, x), got[:, n], rtol=0, atol=0)


def test_hermite_coefficients_match_sympy_and_numpy():
    x = sympy.Symbol("x")
    for n in range(16):
        poly = sympy.Poly(sympy.hermite_prob(n, x), x)
        want = np.array([float(poly.coeff_monomial(x**j)) for j in range(n + 1)])
        np.testing.assert_array_equal(hermite_e_coefficients(n), want)
        basis = np.zeros(n + 1)
        basis[n] = 1.0
        np.testing.assert_allclose(hermite_e_coefficients(n), npherm.herme2poly(basis))


def test_hermite_expectation_identity():
    # E[He_r(U)] = mu^r for U ~ N(mu, 1): combine coefficients with Gaussian moments
    mu = np.array([-1.2, 0.0, 0.4, 2.5])
    m = gaussian_raw_moments(mu, 1.0, 10)
    for r in range(11):
        coef = hermite_e_coefficients(r)
        np.testing.assert_allclose(m[:, : r + 1] @ coef, mu**r, rtol=1e-10, atol=1e-10)


def test_hermite_orthogonality_by_quadrature():
    nodes, weights = npherm.hermegauss(30)
    weights = weights / np.sqrt(2 * np.pi)
    he = hermite_e_all(10, nodes)
    gram = (he * weights[:, None]).T @ he
    np.testing.assert_allclose(gram, np.diag([factorial(n) for n in range(11)]), atol=1e-6)


# ---------------------------------------------------------------- Bell


@pytest.mark.parametrize("values", [[1.0] * 7, [0.3, -1.1, 2.0, 0.5, -0.7, 1.4], [2.0, 0.0, -1.0]])
def test_complete_bell_matches_sympy(values):
    np.testing.assert_allclose(complete_bell(values), _sympy_complete_bell(values), rtol=1e-12)


def test_complete_bell_numbers_and_batch_axes():
    np.testing.assert_array_equal(complete_bell(np.ones(8)), [1, 1, 2, 5, 15, 52, 203, 877, 4140])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 5))
    got = complete_bell(x)
    assert got.shape == (3, 2, 6)
    for idx in np.ndindex(3, 2):
        np.testing.assert_allclose(got[idx], complete_bell(x[idx]), rtol=0, atol=0)
    np.testing.assert_array_equal(complete_bell(np.zeros((4, 0))), np.ones((4, 1)))


@given(x=hnp.arrays(np.float64, 6, elements=finite), a=finite)
@settings(max_examples=60, deadline=None)
def test_complete_bell_homogeneity(x, a):
    # B_n(a x_1, a^2 x_2, ...) = a^n B_n(x)
    got = complete_bell(x * a ** np.arange(1, 7))
    want = complete_bell(x) * a ** np.arange(7)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * (1 + np.abs(want).max()))


@given(x=hnp.arrays(np.float64, 6, elements=finite), y=hnp.arrays(np.float64, 6, elements=finite))
@settings(max_examples=60, deadline=None)
def test_complete_bell_binomial_type(x, y):
    # cumulants of independent sums add: B_n(x + y) = sum_k C(n, k) B_k(x) B_{n-k}(y)
    bx, by = complete_bell(x), complete_bell(y)
    want = [sum(comb(n, k) * bx[k] * by[n - k] for k in range(n + 1)) for n in range(7)]
    scale = 1 + np.abs(bx).max() * np.abs(by).max() * 64
    np.testing.assert_allclose(complete_bell(x + y), want, rtol=1e-9, atol=1e-11 * scale)


def test_complete_bell_jacobian_matches_sympy_and_finite_differences():
    values = [0.4, -0.3, 1.2, 0.8, -0.5]
    n = len(values)
    xs = sympy.symbols(f"x1:{n + 1}")
    jac = complete_bell_jacobian(values)
    assert jac.shape == (n + 1, n)
    subs = dict(zip(xs, values, strict=True))
    for k in range(1, n + 1):
        poly = sum(sympy.bell(k, j, xs[: k - j + 1]) for j in range(1, k + 1))
        for l in range(n):
            want = float(sympy.diff(poly, xs[l]).subs(subs)) if l < k else 0.0
            np.testing.assert_allclose(jac[k, l], want, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(jac[0], 0.0)
    batch = complete_bell_jacobian(np.tile(values, (2, 1)))
    np.testing.assert_array_equal(batch[1], jac)


# ---------------------------------------------------------------- moments <-> cumulants


def test_cumulant_maps_match_scipy_distributions():
    n = 8
    lam = 2.5  # Poisson: every cumulant equals lam
    pois = [st.poisson.moment(k, lam) for k in range(1, n + 1)]
    np.testing.assert_allclose(cumulants_to_moments(np.full(n, lam)), pois, rtol=1e-12)
    np.testing.assert_allclose(moments_to_cumulants(pois), np.full(n, lam), rtol=1e-9)
    rate = 1.7  # exponential: kappa_k = (k-1)! / rate^k
    kappa = np.array([factorial(k - 1) / rate**k for k in range(1, n + 1)])
    expo = [factorial(k) / rate**k for k in range(1, n + 1)]  # scipy's expon.moment loses 1e-9
    np.testing.assert_allclose(cumulants_to_moments(kappa), expo, rtol=1e-12)
    np.testing.assert_allclose(moments_to_cumulants(expo), kappa, rtol=1e-10)


@given(kappa=hnp.arrays(np.float64, (3, 7), elements=finite))
@settings(max_examples=80, deadline=None)
def test_cumulant_moment_round_trip(kappa):
    m = cumulants_to_moments(kappa)
    assert m.shape == kappa.shape
    back = moments_to_cumulants(m)
    scale = 1 + np.abs(m).max()
    np.testing.assert_allclose(back, kappa, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(cumulants_to_moments(back), m, rtol=1e-9, atol=1e-12 * scale)


def test_moments_to_cumulants_of_sample_match_kstat_limit():
    # the first four cumulants of a sample (plug-in) against the closed forms
    rng = np.random.default_rng(1)
    x = rng.gamma(3.0, size=2000)
    m = np.array([np.mean(x**k) for k in range(1, 5)])
    c = x - x.mean()
    mu2, mu3, mu4 = (np.mean(c**k) for k in (2, 3, 4))
    np.testing.assert_allclose(
        moments_to_cumulants(m), [x.mean(), mu2, mu3, mu4 - 3 * mu2**2], rtol=1e-9
    )


# ---------------------------------------------------------------- input checks and torch


@pytest.mark.parametrize("bad", [-1, 2.5, True, "3"])
def test_bad_orders_raise(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        gaussian_raw_moments(0.0, 1.0, bad)
    with pytest.raises(ValueError, match="non-negative integer"):
        hermite_e(bad, 0.0)


def test_scalar_sequences_raise():
    with pytest.raises(ValueError, match="at least one axis"):
        complete_bell(1.0)
    with pytest.raises(ValueError, match="at least one axis"):
        moments_to_cumulants(2.0)


def test_torch_tensors_pass_through_with_gradients():
    torch = pytest.importorskip("torch")
    x = torch.tensor([0.4, -0.3, 1.2, 0.8], dtype=torch.float64, requires_grad=True)
    bell = complete_bell(x)
    assert isinstance(bell, torch.Tensor)
    np.testing.assert_allclose(bell.detach().numpy(), complete_bell(x.detach().numpy()))
    bell[4].backward()
    np.testing.assert_allclose(x.grad.numpy(), complete_bell_jacobian(x.detach().numpy())[4])
    mean = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    m = gaussian_raw_moments(mean, torch.tensor(2.0, dtype=torch.float64), 5)
    np.testing.assert_allclose(m.detach().numpy(), gaussian_raw_moments([0.5, -1.0], 2.0, 5))
    m[:, 3].sum().backward()  # d m_3 / d mean = 3 m_2
    np.testing.assert_allclose(mean.grad.numpy(), 3 * m[:, 2].detach().numpy())
    np.testing.assert_allclose(
        moments_to_cumulants(cumulants_to_moments(x)).detach().numpy(), x.detach().numpy()
    )
    np.testing.assert_allclose(
        hermite_e_all(4, x).detach().numpy(), hermite_e_all(4, [0.4, -0.3, 1.2, 0.8])
    )
