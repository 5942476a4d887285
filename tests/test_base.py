"""The shared Gaussian-mixture behaviour of momix estimators, against scipy."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from momix._base import (
    GaussianMixin,
    MixtureEstimator,
    best_of_restarts,
    covariance_cholesky,
    mixture_log_resp,
    sample_gaussian_mixture,
)
from momix.exceptions import ConvergenceWarning, NumericalError


class _Fixed(GaussianMixin, MixtureEstimator):
    """A Gaussian mixture with given parameters, 'fitted' by storing them."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        X = self._check_X(X, reset=True)
        self.weights_ = np.array([0.3, 0.7])
        self.means_ = np.array([[0.0, 0.0], [2.0, -1.0]])
        self.covariances_ = np.array([[[1.0, 0.3], [0.3, 0.5]], [[0.4, 0.0], [0.0, 2.0]]])
        return self

    def _n_parameters(self):
        return 1 + 2 * 2 + 2 * 3


def _oracle_logpdf(est, X):
    dens = sum(
        w * multivariate_normal(m, c).pdf(X)
        for w, m, c in zip(est.weights_, est.means_, est.covariances_, strict=True)
    )
    return np.log(dens)


def test_score_samples_matches_scipy():
    X = np.random.default_rng(0).normal(size=(50, 2))
    est = _Fixed().fit(X)
    np.testing.assert_allclose(est.score_samples(X), _oracle_logpdf(est, X), rtol=1e-12)
    np.testing.assert_allclose(est.score(X), _oracle_logpdf(est, X).mean(), rtol=1e-12)


def test_predict_proba_is_posterior():
    X = np.random.default_rng(1).normal(size=(30, 2))
    est = _Fixed().fit(X)
    joint = np.column_stack(
        [
            w * multivariate_normal(m, c).pdf(X)
            for w, m, c in zip(est.weights_, est.means_, est.covariances_, strict=True)
        ]
    )
    np.testing.assert_allclose(
        est.predict_proba(X), joint / joint.sum(1, keepdims=True), rtol=1e-10
    )
    np.testing.assert_array_equal(est.predict(X), joint.argmax(1))


def test_bic_aic_definitions():
    X = np.random.default_rng(2).normal(size=(40, 2))
    est = _Fixed().fit(X)
    loglik = _oracle_logpdf(est, X).sum()
    np.testing.assert_allclose(est.bic(X), -2 * loglik + 11 * np.log(40), rtol=1e-12)
    np.testing.assert_allclose(est.aic(X), -2 * loglik + 22, rtol=1e-12)


def test_sample_moments_and_reproducibility():
    est = _Fixed(random_state=3).fit(np.zeros((3, 2)))
    X, labels = est.sample(200_000)
    assert X.shape == (200_000, 2) and labels.shape == (200_000,)
    np.testing.assert_allclose(np.bincount(labels) / 200_000, est.weights_, atol=5e-3)
    np.testing.assert_allclose(X[labels == 1].mean(0), est.means_[1], atol=2e-2)
    np.testing.assert_allclose(np.cov(X[labels == 0].T), est.covariances_[0], atol=2e-2)
    np.testing.assert_array_equal(est.sample(10)[0], est.sample(10)[0])
    with pytest.raises(ValueError, match="n_samples"):
        est.sample(0)


def test_wrong_feature_count_is_an_error():
    est = _Fixed().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="features"):
        est.score_samples(np.zeros((3, 5)))


def test_singular_covariance_is_a_clear_error():
    with pytest.raises(NumericalError, match="positive definite"):
        covariance_cholesky(np.zeros((1, 2, 2)))


def test_log_resp_normalised_with_zero_weight():
    X = np.random.default_rng(4).normal(size=(5, 1))
    chol = np.ones((2, 1, 1))
    log_norm, log_resp = mixture_log_resp(X, np.array([1.0, 0.0]), np.zeros((2, 1)), chol)
    np.testing.assert_allclose(np.exp(log_resp).sum(1), 1.0)
    assert np.all(np.isfinite(log_norm))


def test_sample_gaussian_mixture_groups_labels():
    rng = np.random.default_rng(5)
    X, labels = sample_gaussian_mixture(
        7, np.array([0.5, 0.5]), np.zeros((2, 3)), np.stack([np.eye(3)] * 2), rng
    )
    assert X.shape == (7, 3)
    assert np.all(np.diff(labels) >= 0)


def test_best_of_restarts_keeps_lowest_and_skips_nan():
    values = iter([3.0, np.nan, 1.0, 2.0])
    best = best_of_restarts(lambda rng: next(values), 4, 0, objective=lambda v: v)
    assert best == 1.0


def test_convergence_warning_is_sklearns():
    from sklearn.exceptions import ConvergenceWarning as SkWarning

    assert issubclass(ConvergenceWarning, SkWarning)
