"""Moment-matrix machinery: indexing, localizing matrices, constraint rows."""

from math import comb

import numpy as np
import pytest

from momix.polymom import MonomialError, moment_structure, monomial_basis
from momix.polymom._basis import equality_rows, linear_rows, localizing_map, minimal_order


def _atomic_y(struct, atoms, weights):
    mono = np.prod(atoms[None, :, :] ** struct.monomials[:, None, :], axis=2)
    return mono @ weights


def test_weighted_basis_matches_paper_eq9():
    basis = monomial_basis(2, 2, degree_weights=(1, 2))
    assert [tuple(b) for b in basis] == [(0, 0), (1, 0), (2, 0), (0, 1)]
    st = moment_structure(2, 2, (1, 2))
    assert tuple(st.monomials[st.index[1, 3]]) == (1, 1)  # M[xi, c] = y_(1,1)
    assert tuple(monomial_basis(2, 3, (1, 2))[-1]) == (1, 1)  # r=3 adds xi^3, xi c


@pytest.mark.parametrize("p, r", [(1, 3), (2, 3), (4, 2), (3, 3)])
def test_unit_weight_basis_size(p, r):
    st = moment_structure(p, r)
    assert st.size == comb(p + r, r)
    assert st.n_vars == comb(p + 2 * r, 2 * r)


def test_diagonal_2d_weighted_sizes_match_spec():
    st = moment_structure(4, 3, (1, 1, 2, 2))
    assert (st.size, st.n_vars) == (16, 76)


def test_moment_matrix_of_atomic_measure():
    rng = np.random.default_rng(0)
    st = moment_structure(3, 2)
    atoms, w = rng.standard_normal((3, 3)), np.array([0.2, 0.3, 0.5])
    y = _atomic_y(st, atoms, w)
    V = np.prod(atoms[None] ** st.basis[:, None, :], axis=2)
    np.testing.assert_allclose(st.matrix(y), V @ np.diag(w) @ V.T, atol=1e-12)
    np.testing.assert_allclose(st.trace_vector() @ y, np.trace(st.matrix(y)), rtol=1e-12)


def test_localizing_matrix_of_atomic_measure():
    rng = np.random.default_rng(1)
    st = moment_structure(2, 3)
    atoms, w = rng.standard_normal((2, 2)), np.array([0.4, 0.6])
    y = _atomic_y(st, atoms, w)
    g = {(0, 0): 2.0, (1, 0): -1.0, (0, 2): 0.5}  # 2 - a + 0.5 b^2
    G, t = localizing_map(st, g)
    rows = st.basis[:t]
    V = np.prod(atoms[None] ** rows[:, None, :], axis=2)
    gval = 2 - atoms[:, 0] + 0.5 * atoms[:, 1] ** 2
    np.testing.assert_allclose((G @ y).reshape(t, t), V @ np.diag(w * gval) @ V.T, atol=1e-12)
    assert t == comb(2 + 2, 2)  # rows of degree <= r - 1


def test_equality_rows_vanish_on_measures_satisfying_g():
    st = moment_structure(2, 3)
    atoms = np.array([[0.3, 0.7], [1.5, -0.5]])  # a + b = 1
    y = _atomic_y(st, atoms, np.array([0.5, 0.5]))
    E = equality_rows(st, {(1, 0): 1.0, (0, 1): 1.0, (0, 0): -1.0})
    assert E.shape[0] == comb(2 + 5, 5)  # every multiplier of degree <= 5
    np.testing.assert_allclose(E @ y, 0, atol=1e-12)


def test_missing_monomial_raises_never_drops():
    st = moment_structure(2, 3, (1, 2))  # xi, c with c of weight 2
    with pytest.raises(MonomialError, match=r"\(0, 3\)"):
        linear_rows(st, [{(6, 0): 1.0, (0, 3): 15.0}])  # E[x^6] has 15 c^3
    assert minimal_order([{(6, 0): 1.0, (0, 3): 15.0}], 2, 2, (1, 2)) == 4
