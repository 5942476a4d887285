"""Hermite method of moments: each kernel against exact quantities, then the chain."""

import numpy as np
import pytest
from softmax_testdata import make_item_data

from momix.metrics import parameter_error
from momix.softmax._model import ItemSetData, log_choice_probabilities
from momix.softmax._moments import (
    Quadrature,
    TensorDecomposition,
    denoise_moments,
    design_hermite_deviation,
    gauss_quadrature,
    hermite_moments,
    in_moment_space,
    lift_atoms,
    moment_subspace,
    tensor_atoms,
    vector_hermite_moments,
    whiten_items,
    whitened_hermite_tensor,
)
from momix.softmax._start import moment_start_issue, moment_starts


def _exact_moments(atoms, weights, n):
    return np.array([weights @ atoms**r for r in range(n)])


def test_hermite_moments_match_explicit_polynomials():
    rng = np.random.default_rng(0)
    u, f = rng.standard_normal(50), rng.dirichlet(np.ones(50))
    explicit = [np.ones_like(u), u, u**2 - 1, u**3 - 3 * u, u**4 - 6 * u**2 + 3,
                u**5 - 10 * u**3 + 15 * u]
    np.testing.assert_allclose(hermite_moments(u, f, 5), [f @ h for h in explicit], atol=1e-12)


def test_whitening_gives_identity_covariance_and_maps_coefficients():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 3)) @ np.array([[2, 0, 0], [1, 1, 0], [0, 0.5, 3]]) + 4
    wh = whiten_items(X)
    np.testing.assert_allclose(wh.scores.T @ wh.scores / 500, np.eye(3), atol=1e-10)
    eta = rng.standard_normal(3)
    theta = eta @ wh.transform  # softmax utilities agree up to one constant
    diff = wh.scores @ eta - X @ theta
    np.testing.assert_allclose(diff, diff[0], atol=1e-9)
    with pytest.raises(ValueError, match="collinear"):
        whiten_items(np.c_[X, X[:, 0]])


@pytest.mark.parametrize("K", [2, 3])
def test_quadrature_is_exact_on_exact_moments(K):
    atoms = np.array([-1.3, 0.4, 1.1])[:K]
    weights = np.array([0.2, 0.5, 0.3])[:K] / np.array([0.2, 0.5, 0.3])[:K].sum()
    quad = gauss_quadrature(_exact_moments(atoms, weights, 2 * K))
    np.testing.assert_allclose(quad.atoms, atoms, atol=1e-8)
    np.testing.assert_allclose(quad.weights, weights, atol=1e-8)


def test_quadrature_reports_fewer_atoms():
    m = _exact_moments(np.array([0.7]), np.ones(1), 4)  # one atom, asked for K = 2
    assert gauss_quadrature(m) is None


def test_denoising_is_identity_on_valid_moments():
    m = _exact_moments(np.array([-1.0, 0.5, 2.0]), np.array([0.3, 0.3, 0.4]), 6)
    assert in_moment_space(m, 3.0)
    np.testing.assert_array_equal(denoise_moments(m, 3.0), m)


def test_denoising_projects_invalid_moments_into_the_moment_space():
    truth = _exact_moments(np.array([-1.0, 1.2]), np.array([0.5, 0.5]), 4)
    noisy = truth + np.array([0, 0.0, -1.25, 0.3])  # m2 < 0: not a moment vector
    assert not in_moment_space(noisy, 2.5)
    proj = denoise_moments(noisy, 2.5)
    assert in_moment_space(proj, 2.5, atol=1e-6)
    assert proj[0] == pytest.approx(1.0, abs=1e-8)
    assert np.linalg.norm(proj - noisy) <= np.linalg.norm(truth - noisy) + 1e-7


def test_lifting_is_exact_on_population_vector_moments():
    rng = np.random.default_rng(2)
    eta, w = rng.standard_normal((3, 4)), np.array([0.2, 0.3, 0.5])
    v = rng.standard_normal(4)
    v /= np.linalg.norm(v)
    t = eta @ v
    g = np.stack([(w * t**r) @ eta for r in range(3)], axis=1)  # (L, K)
    np.testing.assert_allclose(lift_atoms(g, Quadrature(t, w)), eta, atol=1e-10)


@pytest.fixture(scope="module")
def big_design():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200_000, 2))
    eta = np.array([[0.9, 0.3], [-0.6, 0.6]])
    w = np.array([0.4, 0.6])
    pi = w @ np.exp(log_choice_probabilities(X[None], eta)[:, 0, :])
    return X, eta, w, pi


def test_latent_moment_identity_on_a_large_gaussian_design(big_design):
    """[derived] sum_j pi_j He_r(u_j) ~ sum_k alpha_k t_k^r and the vector version."""
    X, eta, w, pi = big_design
    v = np.array([0.6, 0.8])
    u, t = X @ v, eta @ v
    m = hermite_moments(u, pi, 3)
    np.testing.assert_allclose(m, _exact_moments(t, w, 4), atol=0.03)
    g = vector_hermite_moments(X, u, pi, v, m, 2)
    expected = np.stack([(w * t**r) @ eta for r in range(2)], axis=1)
    np.testing.assert_allclose(g, expected, atol=0.03)


def test_latent_moments_consistent_as_n_grows(big_design):
    X, eta, w, pi = big_design
    v = np.array([1.0, 0.0])
    u, truth = X[:, 0], _exact_moments(eta @ v, w, 4)
    errs = {}
    for n in (1_000, 100_000):
        rng = np.random.default_rng(n)
        reps = [hermite_moments(u, rng.multinomial(n, pi) / n, 3) for _ in range(5)]
        errs[n] = np.mean([np.abs(r - truth).max() for r in reps])
    assert errs[100_000] < 0.05
    assert errs[100_000] < errs[1_000] / 3


def test_subspace_angle_small_and_shrinking():
    """sin of the largest principal angle; it floors at the design (p) term, ~0.08 here."""
    sines = []
    for n in (5_000, 200_000):
        X, y, w, theta = make_item_data(20_000, 5, 2, n, seed=11, norm=1.2)
        wh = whiten_items(X)
        eta = theta @ np.linalg.inv(wh.transform)
        freq = np.bincount(y, minlength=len(X)) / n
        basis = moment_subspace(wh.scores, freq, 2)
        q, _ = np.linalg.qr(eta.T)
        sines.append(np.linalg.norm(q - basis @ (basis.T @ q), 2))
    assert sines[1] < 0.12
    assert sines[1] < sines[0]


def test_moment_start_recovers_separated_atoms():
    X, y, w, theta = make_item_data(5000, 2, 2, 50_000, seed=3)
    data = ItemSetData(X, np.bincount(y, minlength=len(X)).astype(float))
    assert moment_start_issue(data, 2) is None
    starts = moment_starts(data, 2, 20, np.random.default_rng(0))
    assert np.all(np.diff(starts.log_likelihood) <= 0)
    err = parameter_error(theta, starts.theta[0], relative=False)
    assert err.value < 0.4
    np.testing.assert_allclose(starts.weights[0][err.permutation], w, atol=0.1)


def test_moment_start_issue_flags_unsuitable_designs(panel_problem):
    rng = np.random.default_rng(4)
    binary = ItemSetData(rng.binomial(1, 0.2, (2000, 2)).astype(float), np.ones(2000))
    assert "Gaussian" in moment_start_issue(binary, 2)
    small = ItemSetData(rng.standard_normal((50, 2)), np.ones(50))
    assert "p=50" in moment_start_issue(small, 2)
    assert "fixed item set" in moment_start_issue(panel_problem[-1], 2)
    gauss = rng.standard_normal((5000, 3))
    assert design_hermite_deviation(gauss, np.eye(3), 5) < 0.1


def test_whitened_hermite_tensor_matches_explicit_sum():
    rng = np.random.default_rng(6)
    Z, f = rng.standard_normal((40, 3)), rng.dirichlet(np.ones(40))
    dec = whitened_hermite_tensor(Z + 0.5, f, 2)
    W = dec.basis / np.sqrt(dec.scales)
    eye = np.eye(3)
    full = sum(fj * (np.einsum("a,b,c->abc", z, z, z) - np.einsum("a,bc->abc", z, eye)
                     - np.einsum("b,ac->abc", z, eye) - np.einsum("c,ab->abc", z, eye))
               for fj, z in zip(f, Z + 0.5, strict=True))
    np.testing.assert_allclose(dec.tensor, np.einsum("abc,ai,bj,ck->ijk", full, W, W, W),
                               atol=1e-10)


@pytest.mark.parametrize("K", [2, 3, 4])
def test_tensor_atoms_exact_on_population_tensor(K):
    rng = np.random.default_rng(K)
    eta, w = rng.standard_normal((K, 5)), rng.dirichlet(4 * np.ones(K))
    vals, vecs = np.linalg.eigh((eta.T * w) @ eta)
    basis, scales = vecs[:, ::-1][:, :K], vals[::-1][:K]
    Wt = (basis / np.sqrt(scales)).T
    y = eta @ Wt.T
    tensor = np.einsum("k,ka,kb,kc->abc", w, y, y, y)
    out = tensor_atoms(TensorDecomposition(basis, scales, tensor), rng.standard_normal(K))
    perm = [int(np.argmin(np.linalg.norm(out[0] - e, axis=1))) for e in eta]
    np.testing.assert_allclose(out[0][perm], eta, atol=1e-8)
    np.testing.assert_allclose(out[1][perm], w, atol=1e-8)


def test_screening_keeps_the_start_that_em_improves_most():
    from momix.softmax._select import screen_starts

    X, y, w, theta = make_item_data(1000, 3, 2, 20_000, seed=13)
    data = ItemSetData(X, np.bincount(y, minlength=len(X)).astype(float))
    j = int(np.argmax(data.counts))
    spike = np.array([30 * X[j] / np.linalg.norm(X[j]), theta[1]])  # one class on one item
    weights = np.array([[0.1, 0.9], w])
    kept = screen_starts(data, weights, np.array([spike, theta]), 1, n_steps=12)
    assert len(kept) == 1 and kept[0].theta.shape == (2, 3) and kept[0].n_iter == 12
    assert parameter_error(theta, kept[0].theta, relative=False).value < 0.3
