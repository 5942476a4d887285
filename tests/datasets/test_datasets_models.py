"""Samplers for regressions, multi-view, Poisson and softmax mixtures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import softmax

from momix.datasets import (
    make_choice_set_mixture,
    make_linear_regression_mixture,
    make_multiview_mixture,
    make_poisson_mixture,
    make_softmax_mixture,
)

# ------------------------------------------------------------------ linear regressions


def test_regression_noiseless_responses_are_exact():
    data = make_linear_regression_mixture(200, 3, 2, random_state=0)
    assert data.X.shape == (200, 3) and data.y.shape == (200,) and data.coefs.shape == (2, 3)
    np.testing.assert_allclose(data.y, np.sum(data.X * data.coefs[data.labels], axis=1))
    assert data.noise_variance == 0.0


@pytest.mark.parametrize("x_distribution", ["normal", "uniform"])
def test_regression_moments(x_distribution):
    data = make_linear_regression_mixture(
        50_000, 2, 2, noise_variance=0.5, x_distribution=x_distribution, x_variance=0.1,
        random_state=1,
    )
    np.testing.assert_allclose(data.X.var(axis=0), 0.1, rtol=0.03)
    resid = data.y - np.sum(data.X * data.coefs[data.labels], axis=1)
    np.testing.assert_allclose(resid.mean(), 0.0, atol=0.02)
    np.testing.assert_allclose(resid.var(), 0.5, rtol=0.03)
    if x_distribution == "uniform":
        assert np.abs(data.X).max() <= np.sqrt(0.3)
    freq = np.bincount(data.labels, minlength=2) / 50_000
    np.testing.assert_allclose(freq, data.weights, atol=0.01)


def test_regression_overrides_and_reproducibility():
    coefs = np.array([[0.75, 0.4], [0.25, 0.9]])
    a = make_linear_regression_mixture(
        30, 2, 2, coefs=coefs, weights=[0.4, 0.6], random_state=3
    )
    b = make_linear_regression_mixture(
        30, 2, 2, coefs=coefs, weights=[0.4, 0.6], random_state=3
    )
    np.testing.assert_array_equal(a.coefs, coefs)
    np.testing.assert_array_equal(a.y, b.y)
    with pytest.raises(ValueError, match="x_distribution"):
        make_linear_regression_mixture(10, x_distribution="cauchy")
    with pytest.raises(ValueError, match="coefs must be"):
        make_linear_regression_mixture(10, 2, 2, coefs=np.ones((3, 2)))
    with pytest.raises(ValueError, match="noise_variance"):
        make_linear_regression_mixture(10, noise_variance=-0.1)


# ------------------------------------------------------------------ multi-view


def test_multiview_categorical_symmetric_cross_moments():
    data = make_multiview_mixture(60_000, 3, 3, random_state=0)
    assert data.views.shape == (3, 60_000, 3) and data.means.shape == (3, 3, 3)
    np.testing.assert_array_equal(data.views.sum(axis=2), 1.0)  # one-hot
    np.testing.assert_array_equal(data.means[0], data.means[2])  # symmetric
    np.testing.assert_allclose(data.means.sum(axis=-1), 1.0)
    xi = data.means[0]
    m3 = np.einsum("k,ka,kb,kc->abc", data.weights, xi, xi, xi)
    emp = np.einsum("na,nb,nc->abc", *data.views) / 60_000
    np.testing.assert_allclose(emp, m3, atol=0.01)
    for k in range(3):
        np.testing.assert_allclose(data.views[1, data.labels == k].mean(axis=0), xi[k], atol=0.03)


def test_multiview_asymmetric_and_gaussian():
    asym = make_multiview_mixture(10, 4, 2, symmetric=False, random_state=1)
    assert not np.allclose(asym.means[0], asym.means[1])
    gauss = make_multiview_mixture(
        40_000, 2, 2, view_distribution="gaussian", noise_variance=0.25, random_state=2
    )
    assert gauss.noise_variance == 0.25
    for v in range(3):
        for k in range(2):
            sel = gauss.views[v, gauss.labels == k]
            np.testing.assert_allclose(sel.mean(axis=0), gauss.means[v, k], atol=0.02)
            np.testing.assert_allclose(sel.var(axis=0), 0.25, rtol=0.05)


def test_multiview_user_means_and_bad_input():
    xi = np.array([[1.0, 0.0], [0.0, 1.0]])
    data = make_multiview_mixture(50, 2, 2, means=xi, random_state=0)
    for v in range(3):  # deterministic views: each view equals the label's one-hot
        np.testing.assert_array_equal(data.views[v], np.eye(2)[data.labels])
    with pytest.raises(ValueError, match="probability vectors"):
        make_multiview_mixture(5, 2, 2, means=[[0.5, 0.6], [0.2, 0.8]])
    with pytest.raises(ValueError, match="view_distribution"):
        make_multiview_mixture(5, view_distribution="poisson")


# ------------------------------------------------------------------ Poisson


def test_poisson_moments_and_types():
    data = make_poisson_mixture(60_000, 2, 3, random_state=0)
    assert data.X.dtype == np.int64 and data.X.shape == (60_000, 3)
    assert np.all((data.rates >= 1) & (data.rates <= 10))
    for k in range(2):
        sel = data.X[data.labels == k]
        np.testing.assert_allclose(sel.mean(axis=0), data.rates[k], rtol=0.03)
        np.testing.assert_allclose(sel.var(axis=0), data.rates[k], rtol=0.06)


def test_poisson_user_rates_one_dimensional():
    data = make_poisson_mixture(20, 2, rates=[1.0, 30.0], weights=[0.5, 0.5], random_state=1)
    np.testing.assert_array_equal(data.rates, [[1.0], [30.0]])
    with pytest.raises(ValueError, match="positive"):
        make_poisson_mixture(20, 2, rates=[1.0, -1.0])


# ------------------------------------------------------------------ softmax, shared items


def test_softmax_structure_and_probabilities():
    data = make_softmax_mixture(1000, 50, 3, 2, random_state=0)
    assert data.features.shape == (50, 3) and data.coefs.shape == (2, 3)
    assert data.choices.shape == (1000,) and data.counts.shape == (50,)
    np.testing.assert_array_equal(data.counts, np.bincount(data.choices, minlength=50))
    assert data.counts.sum() == 1000
    norms = np.linalg.norm(data.coefs, axis=1)
    assert np.all((norms >= 1) & (norms <= 2))
    expected = data.weights @ softmax(data.features @ data.coefs.T, axis=0).T
    np.testing.assert_allclose(data.item_probabilities, expected, rtol=1e-12)
    np.testing.assert_allclose(data.item_probabilities.sum(), 1.0)


def test_softmax_frequencies_pass_chi_square():
    data = make_softmax_mixture(200_000, 20, 2, 2, random_state=1)
    res = stats.chisquare(data.counts, 200_000 * data.item_probabilities)
    assert res.pvalue > 1e-3
    for k in range(2):
        probs = softmax(data.features @ data.coefs[k])
        freq = np.bincount(data.choices[data.labels == k], minlength=20)
        assert stats.chisquare(freq, freq.sum() * probs).pvalue > 1e-3


def test_softmax_large_atoms_stay_finite_and_design_covariance():
    big = make_softmax_mixture(100, 30, 2, 2, coefs=[[50.0, 0.0], [0.0, -50.0]], random_state=2)
    assert np.all(np.isfinite(big.item_probabilities))
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    data = make_softmax_mixture(10, 40_000, 2, 2, feature_covariance=cov, random_state=3)
    np.testing.assert_allclose(np.cov(data.features.T), cov, atol=0.05)
    with pytest.raises(ValueError, match="positive definite"):
        make_softmax_mixture(10, 10, 2, 2, feature_covariance=[[1.0, 2.0], [2.0, 1.0]])


def test_softmax_reproducible():
    a = make_softmax_mixture(100, 10, random_state=4)
    b = make_softmax_mixture(100, 10, random_state=4)
    np.testing.assert_array_equal(a.choices, b.choices)
    np.testing.assert_array_equal(a.features, b.features)


# ------------------------------------------------------------------ per-occasion choice sets


def test_choice_set_panel_structure():
    data = make_choice_set_mixture(40, 5, 4, 3, 2, random_state=0)
    assert data.features.shape == (200, 4, 3)
    np.testing.assert_array_equal(data.groups, np.repeat(np.arange(40), 5))
    np.testing.assert_array_equal(data.labels, data.group_labels[data.groups])
    assert data.chosen.min() >= 0 and data.chosen.max() <= 3


def test_choice_set_choices_follow_the_logit():
    data = make_choice_set_mixture(20_000, 2, 3, 2, 2, random_state=1)
    util = np.einsum("njl,nl->nj", data.features, data.coefs[data.labels])
    probs = softmax(util, axis=1)
    onehot = np.eye(3)[data.chosen]
    # E[1{chosen=j} - P_ij] = 0; also weighted by a feature (a score-type moment)
    np.testing.assert_allclose((onehot - probs).mean(axis=0), 0.0, atol=0.01)
    np.testing.assert_allclose(
        np.einsum("nj,njl->l", onehot - probs, data.features) / len(probs), 0.0, atol=0.015
    )
    b = make_choice_set_mixture(20_000, 2, 3, 2, 2, random_state=1)
    np.testing.assert_array_equal(b.chosen, data.chosen)
    with pytest.raises(ValueError, match="n_alternatives"):
        make_choice_set_mixture(5, 1, 1)
