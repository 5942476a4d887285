"""DGMM weights, kernel sums (exact and Nystrom) and the objective against explicit tensors."""

import numpy as np
import pytest

from momix.datasets import make_lowrank_gaussian_mixture
from momix.exceptions import NumericalError
from momix.lowrank._engine import MixtureParams, alpha_moments, beta_moments
from momix.lowrank._explicit import mixture_moment_tensors
from momix.lowrank._solver import MomentData, diagonal_objective, pack
from momix.lowrank._weights import (
    KernelSums,
    dgmm_weights,
    exact_kernel_sums,
    nystrom_kernel_sums,
)


def _power(y, k):
    out = y
    for _ in range(k - 1):
        out = np.multiply.outer(out, y)
    return out


def _setting(seed=0, n=50, d=3):
    rng = np.random.default_rng(seed)
    params = MixtureParams(
        np.array([0.4, 0.6]), rng.normal(size=(2, d)), rng.normal(size=(2, d, 2)), 0.0
    )
    params.factors[0, :, 1] = 0.0
    X = rng.normal(size=(n, d)) * 1.5
    omega = rng.dirichlet(np.ones(n))
    return params, X, omega


def _explicit_S(params, X, omega, L):
    tensors = mixture_moment_tensors(params, L)
    F = np.stack(
        [
            np.concatenate([(tensors[k - 1] - _power(y, k)).ravel() for k in range(1, L + 1)])
            for y in X
        ]
    )
    S = (F * omega[:, None]).T @ F
    sizes = np.cumsum([0] + [X.shape[1] ** k for k in range(1, L + 1)])
    blocks = [
        [S[sizes[a] : sizes[a + 1], sizes[b] : sizes[b + 1]] for b in range(L)] for a in range(L)
    ]
    return S, blocks, sizes


def test_dgmm_weights_match_explicit_S():
    params, X, omega = _setting()
    L = 4
    _, blocks, _ = _explicit_S(params, X, omega, L)
    expected = np.array(
        [
            np.trace(blocks[k][k]) / sum(np.sum(blocks[k][j] ** 2) for j in range(L))
            for k in range(L)
        ]
    )
    sq = np.sum(X * X, axis=1)
    w = dgmm_weights(
        alpha_moments(params, L).alpha,
        beta_moments(X, sq, params, L),
        omega,
        exact_kernel_sums(X, omega, L, block_size=7),
    )
    np.testing.assert_allclose(w, expected, rtol=1e-9)


def test_dgmm_weights_minimise_ws_minus_identity():
    params, X, omega = _setting(seed=1)
    L = 4
    S, _, sizes = _explicit_S(params, X, omega, L)
    sq = np.sum(X * X, axis=1)
    w = dgmm_weights(
        alpha_moments(params, L).alpha,
        beta_moments(X, sq, params, L),
        omega,
        exact_kernel_sums(X, omega, L),
    )

    def loss(weights):
        diag = np.concatenate([np.full(sizes[k + 1] - sizes[k], weights[k]) for k in range(L)])
        return np.sum((diag[:, None] * S - np.eye(S.shape[0])) ** 2)

    base = loss(w)
    for k in range(L):
        for factor in (0.999, 1.001):
            moved = w.copy()
            moved[k] *= factor
            assert loss(moved) > base


def test_exact_kernel_sums_against_loops():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(20, 4))
    omega = rng.dirichlet(np.ones(20))
    sums = exact_kernel_sums(X, omega, 3, block_size=6)
    gram = X @ X.T
    for k in range(1, 7):
        rows = (gram**k) @ omega
        np.testing.assert_allclose(sums.totals[k - 1], omega @ rows, rtol=1e-12)
        if k <= 3:
            np.testing.assert_allclose(sums.rows[:, k - 1], rows, rtol=1e-12)
            np.testing.assert_allclose(sums.diag[k - 1], omega @ np.diag(gram) ** k, rtol=1e-12)


def test_nystrom_exact_on_low_rank_data_and_improves_with_landmarks():
    data = make_lowrank_gaussian_mixture(2000, 20, 2, rank=2, random_state=0)
    X = data.X
    omega = np.full(X.shape[0], 1.0 / X.shape[0])
    exact = exact_kernel_sums(X, omega, 4)
    bound = 2 * 45  # sum_j C(R_j + k, k) at k = 2L = 8, R = 2
    # landmarks need not split evenly between the two subspaces: take 1.5x the bound
    ny = nystrom_kernel_sums(X, omega, 4, int(1.5 * bound), np.random.default_rng(0))
    np.testing.assert_allclose(ny.totals, exact.totals, rtol=1e-6)
    np.testing.assert_allclose(ny.rows, exact.rows, rtol=1e-6)
    errors = [
        np.max(
            np.abs(
                nystrom_kernel_sums(X, omega, 4, m, np.random.default_rng(0)).totals / exact.totals
                - 1
            )
        )
        for m in (10, 30)
    ]
    assert errors[1] < errors[0]


def test_objective_matches_explicit_weighted_distance():
    params, X, omega = _setting(seed=3)
    L = 4
    w = np.array([1.0, 0.3, 0.1, 0.02])
    data = MomentData.build(X, omega)
    sums = exact_kernel_sums(X, omega, L)
    value, _ = diagonal_objective(
        pack(params), data, w, params.factors.shape, 0.0, constant=float(w @ sums.totals[:L])
    )
    tensors = mixture_moment_tensors(params, L)
    sample = [sum(o * _power(y, k) for o, y in zip(omega, X, strict=True)) for k in range(1, L + 1)]
    explicit = sum(w[k] * np.sum((tensors[k] - sample[k]) ** 2) for k in range(L))
    np.testing.assert_allclose(value, explicit, rtol=1e-9)


def test_weights_raise_on_inconsistent_sums():
    params, X, omega = _setting(seed=4)
    sq = np.sum(X * X, axis=1)
    bad = KernelSums(rows=np.zeros((X.shape[0], 4)), totals=-1e12 * np.ones(8), diag=np.zeros(4))
    with pytest.raises(NumericalError, match="nystrom"):
        dgmm_weights(alpha_moments(params, 4).alpha, beta_moments(X, sq, params, 4), omega, bad)


def test_full_gmm_gradient_and_value():
    from momix.lowrank._explicit import full_weighting
    from momix.lowrank._solver import full_gmm_objective

    params, X, omega = _setting(seed=5, n=80)
    fw = full_weighting(X, omega, 3, chunk_size=13)
    theta = pack(params)
    value, grad = full_gmm_objective(theta, fw, 3, params.factors.shape, 0.0)
    tensors = mixture_moment_tensors(params, 3)
    g = np.concatenate(
        [tensors[k - 1][tuple(idx.T)] for k, idx in zip((1, 2, 3), fw.index_sets, strict=True)]
    )
    g = g - fw.sample_moments
    np.testing.assert_allclose(value, g @ fw.weight @ g, rtol=1e-10)
    h = 1e-6
    numeric = np.array(
        [
            (
                full_gmm_objective(theta + h * e, fw, 3, params.factors.shape, 0.0)[0]
                - full_gmm_objective(theta - h * e, fw, 3, params.factors.shape, 0.0)[0]
            )
            / (2 * h)
            for e in np.eye(theta.size)
        ]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6 * np.abs(numeric).max())


def test_model_weights_fall_back_to_subsample_when_not_positive():
    from momix.lowrank._weights import make_weight_fn, weight_function

    data = make_lowrank_gaussian_mixture(4000, 10, 2, rank=2, noise_variance=0.25, random_state=8)
    md = MomentData.build(data.X, np.ones(4000))
    fn, mode = weight_function("model", md, md, 0.25, 2, 2, 4, np.random.default_rng(0))
    assert mode == "model"
    rng = np.random.default_rng(1)
    far = MixtureParams(
        np.array([0.5, 0.5]),
        0.1 * rng.normal(size=(2, 10)),
        0.1 * rng.normal(size=(2, 10, 2)),
        0.25,
    )
    with pytest.raises(NumericalError):  # the model-based S is not positive this far off
        make_weight_fn(md, 4, None)(far)
    w = fn(far)
    assert np.all(np.isfinite(w)) and np.all(w > 0)
