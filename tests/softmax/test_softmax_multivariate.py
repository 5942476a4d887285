"""Multivariate Hermite moment matrix and its atoms: the start for more classes than features."""

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermeval
from softmax_testdata import make_item_data

from momix.metrics import parameter_error
from momix.polymom._basis import moment_structure
from momix.softmax._model import ItemSetData, log_choice_probabilities
from momix.softmax._multivariate import (
    LatentMomentMatrix,
    latent_gaussian_draws,
    latent_moment_matrix,
    moment_matrix_atoms,
    moment_matrix_order,
)
from momix.softmax._start import moment_starts


def _he(n, x):
    return hermeval(x, np.eye(n + 1)[n])


def test_moment_matrix_order():
    assert moment_matrix_order(2, 5) == 3  # basis of order 2 in 2 variables has 6 monomials
    assert moment_matrix_order(2, 3) == 2
    assert moment_matrix_order(1, 4) == 4
    assert moment_matrix_order(3, 2) == 2


def test_latent_moment_matrix_matches_a_slow_loop():
    rng = np.random.default_rng(0)
    Z, f = rng.standard_normal((30, 2)), rng.dirichlet(np.ones(30))
    out = latent_moment_matrix(Z, f, 2)
    basis = out.structure.basis
    for i, a in enumerate(basis):
        for j, b in enumerate(basis):
            g = a + b
            expected = sum(fj * _he(g[0], z[0]) * _he(g[1], z[1])
                           for fj, z in zip(f, Z, strict=True))
            np.testing.assert_allclose(out.matrix[i, j], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("L,K", [(2, 3), (2, 5), (1, 3)])
def test_atoms_exact_on_a_population_moment_matrix(L, K):
    rng = np.random.default_rng(K + L)
    eta, w = rng.uniform(-1.5, 1.5, (K, L)), rng.dirichlet(4 * np.ones(K))
    st = moment_structure(L, moment_matrix_order(L, K))
    y = np.prod(eta[None] ** st.monomials[:, None, :], axis=2) @ w  # sum_k w_k eta_k^gamma
    atoms = moment_matrix_atoms(LatentMomentMatrix(st, y[st.index]), K, rng)
    perm = [int(np.argmin(np.linalg.norm(atoms[0] - e, axis=1))) for e in eta]
    np.testing.assert_allclose(atoms[0][perm], eta, atol=1e-7)
    np.testing.assert_allclose(atoms[1][perm], w, atol=1e-7)


def test_extraction_reports_failure_instead_of_garbage():
    st = moment_structure(2, 2)
    assert moment_matrix_atoms(LatentMomentMatrix(st, np.zeros((6, 6))), 3,
                               np.random.default_rng(0)) is None


def test_latent_moments_identity_on_a_large_gaussian_design():
    """[derived] sum_j pi_j He_gamma(Z_j) ~ sum_k alpha_k eta_k^gamma, |gamma| <= 4."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400_000, 2))
    eta, w = np.array([[0.8, 0.2], [-0.5, 0.6], [0.1, -0.7]]), np.array([0.3, 0.3, 0.4])
    pi = w @ np.exp(log_choice_probabilities(X[None], eta)[:, 0, :])
    out = latent_moment_matrix(X, pi, 2)  # X is already close to white
    st = out.structure
    exact = (np.prod(eta[None] ** st.monomials[:, None, :], axis=2) @ w)[st.index]
    np.testing.assert_allclose(out.matrix, exact, atol=0.06)


def test_gaussian_draws_match_the_first_two_latent_moments():
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((5000, 2))
    f = rng.dirichlet(np.ones(5000))
    draws = latent_gaussian_draws(Z, f, 3, 20_000, rng).reshape(-1, 2)
    m1 = f @ Z
    cov = Z.T @ (f[:, None] * Z) - np.eye(2) - np.outer(m1, m1)
    vals, vecs = np.linalg.eigh(cov)
    clipped = (vecs * np.clip(vals, 0, None)) @ vecs.T
    np.testing.assert_allclose(draws.mean(axis=0), m1, atol=0.02)
    np.testing.assert_allclose(np.cov(draws.T), clipped, atol=0.02)


def test_moment_start_with_more_classes_than_features():
    X, y, w, theta = make_item_data(20_000, 2, 3, 200_000, seed=5, norm=1.5)
    data = ItemSetData(X, np.bincount(y, minlength=len(X)).astype(float))
    starts = moment_starts(data, 3, 6, np.random.default_rng(0))
    assert {"hermite-nd", "gaussian"} <= set(starts.sources)
    nd = [i for i, s in enumerate(starts.sources) if s == "hermite-nd"]
    assert parameter_error(theta, starts.theta[nd[0]], relative=False).value < 0.5
