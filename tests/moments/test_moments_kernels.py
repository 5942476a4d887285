"""Kernels of momix.moments against explicit sums: chunk summaries, shifts, exact merge."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from momix.moments._kernels import (
    Plan,
    chunk_state,
    empty_state,
    merge_states,
    pack_state,
    shift_projected,
    shift_tensor,
    unpack_state,
)


def _power_sum(Y, w, k):
    """sum_n w_n y_n^{(x)k} by einsum (the oracle)."""
    letters = "abcdef"[:k]
    spec = "n," + ",".join("n" + c for c in letters) + "->" + letters
    return np.einsum(spec, w, *([Y] * k))


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(57, 3)) * [1.0, 2.0, 0.5] + [0.3, -1.0, 2.0]
    w = rng.uniform(0.0, 3.0, size=57)
    A = rng.normal(size=(5, 3))
    return X, w, A


def _plan(A, order=4):
    return Plan(n_features=A.shape[1], max_order=order, tensor_order=order, directions=A)


def test_chunk_state_matches_einsum(data):
    X, w, A = data
    state = chunk_state(X, w, _plan(A))
    mean = w @ X / w.sum()
    np.testing.assert_allclose(state.mean, mean, rtol=1e-14)
    Y = X - mean
    for k in range(2, 5):
        np.testing.assert_allclose(
            state.central[k - 2], _power_sum(Y, w, k), rtol=1e-12, atol=1e-12
        )
    want = np.stack([w @ (Y @ A.T) ** k for k in range(5)], axis=1)
    np.testing.assert_allclose(state.projected, want, rtol=1e-12, atol=1e-12)
    assert state.n_samples == 57
    np.testing.assert_allclose(state.weight, w.sum(), rtol=1e-15)


def test_chunk_state_blocks_rows_without_changing_the_result(data, monkeypatch):
    import momix.moments._kernels as kernels

    X, w, A = data
    full = chunk_state(X, w, _plan(A))
    monkeypatch.setattr(kernels, "_BLOCK_FLOATS", 20)  # forces one-row and few-row blocks
    blocked = chunk_state(X, w, _plan(A))
    for a, b in zip(full.central, blocked.central, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_central_tensors_are_symmetric(data):
    X, w, A = data
    T4 = chunk_state(X, w, _plan(A)).central[2]
    for perm in permutations(range(4)):
        np.testing.assert_allclose(T4.transpose(perm), T4, rtol=1e-12, atol=1e-13)


def test_shift_tensor_equals_direct_power_sums(data):
    X, w, A = data
    state = chunk_state(X, w, _plan(A))
    e = np.array([0.7, -0.2, 1.5])
    Y = X - state.mean
    for k in range(0, 5):
        want = w.sum() if k == 0 else _power_sum(Y + e, w, k)
        got = shift_tensor(state.weight, state.central, e, k)
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


def test_shift_projected_is_a_binomial_shift(data):
    X, w, A = data
    state = chunk_state(X, w, _plan(A))
    e = np.array([0.7, -0.2, 1.5])
    Y = X - state.mean + e
    want = np.stack([w @ (Y @ A.T) ** k for k in range(5)], axis=1)
    np.testing.assert_allclose(
        shift_projected(state.projected, A @ e), want, rtol=1e-11, atol=1e-11
    )


def test_merge_is_exact_and_has_identity(data):
    X, w, A = data
    plan = _plan(A)
    whole = chunk_state(X, w, plan)
    merged = merge_states(
        chunk_state(X[:20], w[:20], plan), chunk_state(X[20:], w[20:], plan), plan
    )
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-14)
    for a, b in zip(merged.central, whole.central, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(merged.projected, whole.projected, rtol=1e-12, atol=1e-12)
    assert merged.n_samples == 57
    # the empty summary is the identity, on either side, and still counts rows
    empty = empty_state(plan, n_samples=4)
    for left, right in ((empty, whole), (whole, empty)):
        out = merge_states(left, right, plan)
        np.testing.assert_array_equal(out.central[0], whole.central[0])
        assert out.n_samples == 61


def test_zero_weight_chunk_is_empty(data):
    X, _, A = data
    state = chunk_state(X, np.zeros(len(X)), _plan(A))
    assert state.weight == 0.0 and state.n_samples == len(X)
    np.testing.assert_array_equal(state.central[0], 0.0)


def test_pack_round_trip(data):
    X, w, A = data
    plan = _plan(A)
    state = chunk_state(X, w, plan)
    vec = pack_state(state)
    assert vec.shape == (plan.packed_size,)
    back = unpack_state(vec, plan)
    assert back.n_samples == state.n_samples and back.weight == state.weight
    for a, b in zip(back.central, state.central, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.projected, state.projected)
