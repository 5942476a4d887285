"""Permutation-matched errors: known values, relabelling invariance, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from momix.metrics import match_components, mixture_errors, parameter_error


def _random_mixture(rng, k, d):
    w = rng.dirichlet(np.ones(k) * 3) + 0.01
    w /= w.sum()
    mu = rng.normal(size=(k, d)) + 0.1
    a = rng.normal(size=(k, d, d))
    cov = a @ a.transpose(0, 2, 1) + np.eye(d)
    return w, mu, cov


def _perturbed(rng, w, mu, cov, scale):
    w2 = np.abs(w + scale * rng.normal(size=w.shape)) + 1e-3
    w2 /= w2.sum()
    mu2 = mu + scale * rng.normal(size=mu.shape)
    e = scale * rng.normal(size=cov.shape)
    cov2 = cov + (e + e.transpose(0, 2, 1)) / 2
    return w2, mu2, cov2


def test_match_components_known_pairing():
    true = np.array([[0.0, 0.0], [5.0, 5.0], [-3.0, 1.0]])
    est = np.array([[-2.9, 1.1], [0.1, 0.0], [5.2, 4.9]])
    np.testing.assert_array_equal(match_components(true, est), [1, 2, 0])
    np.testing.assert_array_equal(match_components(true[1:], est[[0, 2]], cost="relative"), [1, 0])


def test_match_components_minimises_total_cost_against_brute_force():
    rng = np.random.default_rng(0)
    true, est = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    perm = match_components(true, est)
    cost = np.linalg.norm(true[:, None] - est[None], axis=-1)
    best = min(itertools.permutations(range(5)), key=lambda p: cost[np.arange(5), list(p)].sum())
    np.testing.assert_allclose(cost[np.arange(5), perm].sum(), cost[np.arange(5), list(best)].sum())


def test_match_components_callable_and_matrix_cost():
    true, est = np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]])
    anti = np.array([[1.0, 0.0], [0.0, 1.0]])  # prefers the swap
    np.testing.assert_array_equal(match_components(true, est, cost=anti), [1, 0])
    np.testing.assert_array_equal(match_components(true, est, cost=lambda t, e: anti), [1, 0])


def test_parameter_error_hand_computed():
    true = np.array([[1.0, 0.0], [0.0, 2.0]])
    est = np.array([[0.0, 2.5], [1.3, 0.0]])
    res = parameter_error(true, est)
    np.testing.assert_array_equal(res.permutation, [1, 0])
    np.testing.assert_allclose(res.component_errors, [0.3, 0.25])
    np.testing.assert_allclose(res.coordinate_errors, [0.3, 0.25])
    assert res.value == pytest.approx(0.3)
    assert parameter_error(true, est, reduce="mean").value == pytest.approx(0.275)
    absolute = parameter_error(true, est, relative=False)
    np.testing.assert_allclose(absolute.component_errors, [0.3, 0.5])


def test_parameter_error_component_and_coordinate_versions_differ():
    true = np.array([[1.0, 1.0], [2.0, 0.0]])
    est = np.array([[2.0, 0.2], [1.1, 1.0]])
    res = parameter_error(true, est)
    np.testing.assert_array_equal(res.permutation, [1, 0])
    np.testing.assert_allclose(res.component_errors, [0.1 / np.sqrt(2), 0.2 / 2.0])
    np.testing.assert_allclose(res.coordinate_errors, [0.1 / np.sqrt(5), 0.2 / 1.0])
    assert res.value == pytest.approx(0.1)  # paper: max over components
    assert res.coordinate_errors.max() == pytest.approx(0.2)  # table code: max over columns


def test_parameter_error_with_given_permutation_scores_weights():
    alpha, alpha_hat = np.array([0.4, 0.6]), np.array([0.55, 0.45])
    res = parameter_error(alpha[:, None], alpha_hat[:, None], relative=False, permutation=[1, 0])
    np.testing.assert_allclose(res.component_errors, [0.05, 0.05])
    with pytest.raises(ValueError, match="permutation"):
        parameter_error(alpha[:, None], alpha_hat[:, None], permutation=[0, 0])


def test_mixture_errors_hand_computed():
    w = np.array([0.25, 0.75])
    mu = np.array([[3.0, 4.0], [0.0, -1.0]])
    cov = np.array([np.eye(2), 2 * np.eye(2)])
    # estimate lists the components in the opposite order
    w_hat = np.array([0.6, 0.3])
    mu_hat = np.array([[0.0, -1.3], [3.5, 4.0]])
    cov_hat = np.array([np.diag([2.6, 2.0]), 1.1 * np.eye(2)])
    res = mixture_errors(w, mu, cov, w_hat, mu_hat, cov_hat)
    np.testing.assert_array_equal(res.permutation, [1, 0])
    np.testing.assert_allclose(res.weight_errors, [0.05 / 0.25, 0.15 / 0.75])
    np.testing.assert_allclose(res.mean_errors, [0.5 / 5.0, 0.3 / 1.0])
    np.testing.assert_allclose(res.covariance_errors, [0.1, 0.6 / (2 * np.sqrt(2))])
    assert res.weights == pytest.approx(0.2)
    assert res.means == pytest.approx(0.2)
    assert res.covariances == pytest.approx((0.1 + 0.6 / (2 * np.sqrt(2))) / 2)


def test_mixture_errors_accepts_spherical_and_diagonal_forms():
    w = np.array([0.5, 0.5])
    mu = np.array([[1.0, 0.0], [0.0, 1.0]])
    eye = np.eye(2)
    full = mixture_errors(w, mu, np.array([eye, 2 * eye]), w, mu, np.array([eye, 3 * eye]))
    spherical = mixture_errors(w, mu, [1.0, 2.0], w, mu, [1.0, 3.0])
    diagonal = mixture_errors(w, mu, [[1.0, 1.0], [2.0, 2.0]], w, mu, [[1.0, 1.0], [3.0, 3.0]])
    for other in (spherical, diagonal):
        np.testing.assert_allclose(other.covariance_errors, full.covariance_errors)
    np.testing.assert_allclose(full.covariance_errors, [0.0, 0.5])


def test_covariance_matching_follows_covariances_not_means():
    # identical true means: only the covariances tell the components apart (weakly separated)
    w = np.array([0.5, 0.5])
    mu = np.array([[1.0, 0.0], [1.0, 0.0]])
    cov = np.array([np.diag([1.0, 0.0]), np.diag([0.0, 4.0])])
    mu_hat = np.array([[1.0, 0.01], [1.0, -0.01]])
    cov_hat = cov[::-1].copy()
    for match in ("covariances", "joint"):
        res = mixture_errors(w, mu, cov, w, mu_hat, cov_hat, match=match)
        np.testing.assert_array_equal(res.permutation, [1, 0])
        np.testing.assert_allclose(res.covariance_errors, 0.0, atol=1e-15)


@pytest.mark.parametrize("match", ["joint", "means", "covariances"])
def test_zero_error_on_identical(match):
    w, mu, cov = _random_mixture(np.random.default_rng(1), 3, 4)
    res = mixture_errors(w, mu, cov, w, mu, cov, match=match)
    assert (res.weights, res.means, res.covariances) == (0.0, 0.0, 0.0)
    np.testing.assert_array_equal(res.permutation, np.arange(3))
    assert parameter_error(mu, mu).value == 0.0


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 5),
    d=st.integers(1, 4),
    data=st.data(),
)
def test_errors_invariant_under_relabelling_the_estimate(seed, k, d, data):
    rng = np.random.default_rng(seed)
    w, mu, cov = _random_mixture(rng, k, d)
    w2, mu2, cov2 = _perturbed(rng, w, mu, cov, 0.05)
    perm = np.array(data.draw(st.permutations(range(k))))
    for match in ("joint", "means", "covariances"):
        base = mixture_errors(w, mu, cov, w2, mu2, cov2, match=match)
        moved = mixture_errors(w, mu, cov, w2[perm], mu2[perm], cov2[perm], match=match)
        for name in ("weight_errors", "mean_errors", "covariance_errors"):
            np.testing.assert_allclose(getattr(moved, name), getattr(base, name), rtol=1e-12)
        # the matched estimate is the same object either way
        np.testing.assert_array_equal(perm[moved.permutation], base.permutation)
    base_p = parameter_error(mu, mu2)
    moved_p = parameter_error(mu, mu2[perm])
    np.testing.assert_allclose(moved_p.component_errors, base_p.component_errors, rtol=1e-12)
    np.testing.assert_allclose(moved_p.coordinate_errors, base_p.coordinate_errors, rtol=1e-12)


def test_relabelling_truth_and_estimate_together_permutes_errors():
    rng = np.random.default_rng(3)
    w, mu, cov = _random_mixture(rng, 4, 2)
    w2, mu2, cov2 = _perturbed(rng, w, mu, cov, 0.05)
    perm = np.array([2, 0, 3, 1])
    base = mixture_errors(w, mu, cov, w2, mu2, cov2)
    moved = mixture_errors(w[perm], mu[perm], cov[perm], w2, mu2, cov2)
    np.testing.assert_allclose(moved.mean_errors, base.mean_errors[perm])
    assert moved.means == pytest.approx(base.means)


def test_different_numbers_of_components_raise():
    with pytest.raises(ValueError, match="3 components but the truth has 2"):
        match_components(np.zeros((2, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="components"):
        parameter_error(np.ones((2, 2)), np.ones((3, 2)))
    w, mu, cov = _random_mixture(np.random.default_rng(0), 2, 2)
    w3, mu3, cov3 = _random_mixture(np.random.default_rng(1), 3, 2)
    with pytest.raises(ValueError, match="n_components"):
        mixture_errors(w, mu, cov, w3, mu3, cov3)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="zero"):
        parameter_error(np.array([[0.0, 0.0], [1.0, 1.0]]), np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        parameter_error(np.array([[np.nan], [1.0]]), np.ones((2, 1)))
    with pytest.raises(ValueError, match="per-component shapes"):
        match_components(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="cost must be"):
        match_components(np.ones((2, 2)), np.ones((2, 2)), cost="manhattan")
    with pytest.raises(ValueError, match="match must be"):
        w, mu, cov = _random_mixture(np.random.default_rng(0), 2, 2)
        mixture_errors(w, mu, cov, w, mu, cov, match="labels")
    with pytest.raises(ValueError, match="covariances_est must have shape"):
        mixture_errors(w, mu, cov, w, mu, np.ones((2, 3, 3)))
