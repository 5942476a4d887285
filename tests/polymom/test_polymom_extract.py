"""Henrion-Lasserre extraction on known atomic measures and a small SDP completion."""

import numpy as np
import pytest

from momix.polymom import extract_atoms, moment_structure
from momix.polymom._basis import localizing_map
from momix.polymom._sdp import MomentProblem, solve_moment_sdp


def _moment_matrix(st, atoms, w):
    V = np.prod(atoms[None] ** st.basis[:, None, :], axis=2)
    return V @ np.diag(w) @ V.T


def _sorted(params, weights):
    order = np.lexsort(params.T[::-1])
    return params[order], weights[order]


def test_paper_example_4_1():
    st = moment_structure(2, 2)
    atoms, w = np.array([[2.0, 3.0], [-2.0, 5.0]]), np.array([0.5, 0.5])
    ext = extract_atoms(st, _moment_matrix(st, atoms, w), 2, np.random.default_rng(0))
    p, q = _sorted(ext.params, ext.weights)
    np.testing.assert_allclose(p, atoms[::-1], atol=1e-8)
    np.testing.assert_allclose(q, w, atol=1e-8)


@pytest.mark.parametrize("n_vars, k, seed", [(2, 3, 0), (4, 3, 1), (6, 4, 2), (3, 5, 3)])
def test_random_atoms_are_recovered(n_vars, k, seed):
    rng = np.random.default_rng(seed)
    st = moment_structure(n_vars, 3)
    atoms, w = rng.uniform(-2, 2, (k, n_vars)), rng.dirichlet(np.ones(k))
    ext = extract_atoms(st, _moment_matrix(st, atoms, w), k, rng)
    p, q = _sorted(ext.params, ext.weights)
    a, b = _sorted(atoms, w)
    np.testing.assert_allclose(p, a, atol=1e-8)
    np.testing.assert_allclose(q, b, atol=1e-8)


def test_noisy_moment_matrix_gives_error_of_noise_order():
    rng = np.random.default_rng(4)
    st = moment_structure(2, 3)
    atoms, w = np.array([[1.0, -0.5], [-0.7, 0.8]]), np.array([0.35, 0.65])
    M = _moment_matrix(st, atoms, w)
    noise = rng.standard_normal(M.shape) * 1e-6
    ext = extract_atoms(st, M + (noise + noise.T) / 2, 2, rng)
    p, q = _sorted(ext.params, ext.weights)
    a, b = _sorted(atoms, w)
    assert np.abs(p - a).max() < 1e-4
    assert np.abs(q - b).max() < 1e-4


def test_mompy_toy_extraction_and_completion():
    st = moment_structure(1, 2)
    y = np.array([1, 1.5, 2.5, 4.5, 8.5])  # (delta_1 + delta_2) / 2
    ext = extract_atoms(st, st.matrix(y), 2, np.random.default_rng(0))
    p, q = _sorted(ext.params, ext.weights)
    np.testing.assert_allclose(p.ravel(), [1, 2], atol=1e-8)
    np.testing.assert_allclose(q, [0.5, 0.5], atol=1e-8)
    # complete y_3 from y_1, y_2, y_4 with the localizing constraints 2 +- x >= 0 (r = 3)
    st3 = moment_structure(1, 3)
    A = np.zeros((3, st3.n_vars))
    for row, k in enumerate([1, 2, 4]):
        A[row, st3.lookup[(k,)]] = 1
    locs = tuple(localizing_map(st3, g) for g in ({(0,): 2.0, (1,): -1.0}, {(0,): 2.0, (1,): 1.0}))
    prob = MomentProblem(st3, A, np.array([1.5, 2.5, 8.5]), np.ones(3), np.zeros((0, st3.n_vars)),
                         locs)
    res = solve_moment_sdp(prob, 2, relaxation="exact")
    assert abs(res.y[st3.lookup[(3,)]] - 4.5) < 1e-3


def test_single_atom_is_the_first_order_moment_vector():
    st = moment_structure(3, 1)
    atom = np.array([[120.0, -0.5, 3.0]])
    ext = extract_atoms(st, _moment_matrix(st, atom, np.ones(1)), 1, np.random.default_rng(0))
    np.testing.assert_allclose(ext.params, atom, rtol=1e-12)
    # not rank one (two atoms): the mean of the measure, where the echelon pivots would not
    # start at the constant monomial
    atoms, w = np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0]]), np.array([0.5, 0.5])
    ext = extract_atoms(st, _moment_matrix(st, atoms * 10, w), 1, np.random.default_rng(0))
    np.testing.assert_allclose(ext.params, [[0.0, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(ext.weights, [1.0])
