"""The split Gram of the degree-2 monomials against the full syrk and explicit sums."""

from __future__ import annotations

from itertools import combinations_with_replacement
from math import comb

import numpy as np
import pytest

from momix.lowrank._gram import split_flops, split_gram, split_plan, split_rows
from momix.lowrank._stats import _layout, _monomial_matrix, moment_gram, statistics_gram


def _full_syrk(Y, w, shift):
    """The Gram of all 1 + r + r(r+1)/2 columns from one product (the previous kernel)."""
    At = _monomial_matrix(Y, None, np.sqrt(w), _layout(Y.shape[1], 4, norms=False), shift)
    return At @ At.T


@pytest.mark.parametrize("r", range(1, 13))
def test_split_gram_equals_the_full_syrk(r):
    rng = np.random.default_rng(r)
    Y = rng.normal(size=(203, r)) * rng.uniform(0.5, 3, r) + 4.0
    w = rng.uniform(0, 2, 203)
    shift = Y[5].copy()
    want = _full_syrk(Y, w, shift)
    got = split_gram(Y, w, shift, chunk_size=64)
    assert got.shape == want.shape == (1 + r + comb(r + 1, 2),) * 2
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13 * np.abs(want).max())
    np.testing.assert_array_equal(got, got.T)
    single = split_gram(Y, w, shift, chunk_size=64, dtype=np.float32)
    assert single.dtype == np.float64
    np.testing.assert_allclose(single, want, rtol=0, atol=1e-6 * np.abs(want).max())


def test_split_gram_entries_are_the_explicit_monomial_sums():
    """Entry (i, j) is sum_n w_n m_i(z_n) m_j(z_n), z = y - c, by a slow loop over monomials."""
    rng = np.random.default_rng(1)
    r = 4
    Y, w, shift = rng.normal(size=(30, r)), rng.uniform(0, 2, 30), rng.normal(size=r)
    Z = Y - shift
    colex = [()] + [(j,) for j in range(r)] + [(a, j) for j in range(r) for a in range(j + 1)]
    terms = [w * np.prod(Z[:, list(a + b)], axis=1) for a in colex for b in colex]
    want = np.array([float(sum(t)) for t in terms]).reshape(len(colex), len(colex))
    np.testing.assert_allclose(split_gram(Y, w, shift), want, rtol=1e-12, atol=1e-12)


def test_split_plan_reads_every_sum_once_and_counts_its_products():
    """All degree <= 4 monomial sums appear in the two products; flop count as stated."""
    for r in range(1, 13):
        plan = split_plan(r)
        distinct = len(set(plan.gather.ravel()))
        assert distinct == sum(
            len(list(combinations_with_replacement(range(r), k))) for k in range(5)
        )
    assert split_flops(10) == 11 + 40 * 41 // 2 + 25 * 30 == 1581  # against 66 * 67 / 2 = 2211


def test_moment_gram_uses_the_split_product_and_is_additive():
    rng = np.random.default_rng(4)
    Y, w = rng.normal(size=(5000, 10)) + 1.0, rng.uniform(0, 2, 5000)
    shift = Y[0].copy()
    G = moment_gram(Y, w, 4, shift)
    np.testing.assert_allclose(G, _full_syrk(Y, w, shift), rtol=1e-12, atol=1e-12 * G.max())
    parts = moment_gram(Y[:1234], w[:1234], 4, shift) + moment_gram(Y[1234:], w[1234:], 4, shift)
    np.testing.assert_allclose(parts, G, rtol=1e-13, atol=1e-13 * G.max())


def test_unit_weight_rows_are_the_weighted_rows_with_unit_weights():
    """root=None (all weights 1) builds the same matrix without the weighted copy."""
    rng = np.random.default_rng(2)
    Y, shift = rng.normal(size=(50, 7)), rng.normal(size=7)
    plan = split_plan(7)
    np.testing.assert_array_equal(
        split_rows(Y, None, shift, plan), split_rows(Y, np.ones(50), shift, plan)
    )
    G = split_gram(Y, np.ones(50), shift, chunk_size=16)
    np.testing.assert_allclose(G, _full_syrk(Y, np.ones(50), shift), rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("r", [1, 2, 5, 9, 10])
def test_split_gram_with_the_norm_row_equals_the_syrk_with_norm_columns(r):
    """Subspace pass: columns [1, y, m_2(y), q] (q = ambient squared norm), L = 4 and 3."""
    rng = np.random.default_rng(30 + r)
    Y = rng.normal(size=(157, r)) + 1.0
    sq = np.sum(Y * Y, axis=1) + rng.uniform(0, 3, 157)
    for w in (rng.uniform(0, 2, 157), np.ones(157)):
        At = _monomial_matrix(Y, sq, np.sqrt(w), _layout(r, 4), None)
        want = At @ At.T
        got = split_gram(Y, w, None, chunk_size=50, sqnorm=sq)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13 * np.abs(want).max())
        for L in (3, 4):
            np.testing.assert_allclose(
                statistics_gram(Y, sq, w, L, chunk_size=50), want, rtol=1e-13, atol=1e-9
            )
    assert split_flops(9, norm=True) == 11 + 35 * 36 // 2 + 20 * 26 == 1161  # syrk: 56 * 57 / 2
