"""The M-step equals the closed-form weighted MLE on complete data (one-hot responsibilities,
random weights), checked against numpy's weighted mean and covariance."""

import numpy as np
import pytest

from momix.em import COVARIANCE_TYPES, EMData, GaussianFamily, complete_data_params


def _complete_data(seed):
    rng = np.random.default_rng(seed)
    K, d, n = 3, 4, 600
    labels = rng.integers(0, K, size=n)
    centres = rng.normal(scale=5, size=(K, d)) + 1e3  # away from the origin
    X = centres[labels] + rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    w = rng.exponential(size=n)
    return X, w, labels, K


def _oracle(X, w, labels, K, ct):
    d = X.shape[1]
    N = np.array([w[labels == k].sum() for k in range(K)])
    weights = N / N.sum()
    means = np.stack([np.average(X[labels == k], axis=0, weights=w[labels == k]) for k in range(K)])
    covs = np.stack(
        [np.cov(X[labels == k].T, aweights=w[labels == k], bias=True) for k in range(K)]
    )
    if ct == "full":
        cov = covs
    elif ct == "tied":
        cov = np.einsum("k,kij->ij", N, covs) / N.sum()
    elif ct == "diag":
        cov = np.diagonal(covs, axis1=1, axis2=2)
    else:
        cov = np.trace(covs, axis1=1, axis2=2) / d
    return weights, means, cov


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_m_step_is_the_weighted_mle(ct, seed):
    X, w, labels, K = _complete_data(seed)
    fam = GaussianFamily(ct, floor="add", reg_covar=0.0)
    fam.prepare(EMData(X, w).summary())
    params = complete_data_params(fam, X, w, labels, K)
    weights, means, cov = _oracle(X, w, labels, K, ct)
    np.testing.assert_allclose(params.weights, weights, rtol=1e-10)
    np.testing.assert_allclose(params.means, means, rtol=1e-10)
    np.testing.assert_allclose(params.covariances, cov, rtol=1e-10, atol=1e-10 * np.abs(cov).max())
    # the same through an (n, K) one-hot responsibility array
    resp = np.eye(K)[labels]
    params2 = complete_data_params(fam, X, w, resp, K)
    np.testing.assert_allclose(params2.covariances, params.covariances, rtol=1e-12)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_floors(ct):
    """'add' adds reg_covar to the MLE covariance; 'clip' raises eigenvalues to reg * s^2."""
    X, w, labels, K = _complete_data(5)
    reg = 0.3
    fam0 = GaussianFamily(ct, floor="add", reg_covar=0.0)
    summary = EMData(X, w).summary()
    fam0.prepare(summary)
    mle = complete_data_params(fam0, X, w, labels, K).full_covariances()
    for floor in ("add", "clip"):
        fam = GaussianFamily(ct, floor=floor, reg_covar=reg)
        fam.prepare(summary)
        got = complete_data_params(fam, X, w, labels, K).full_covariances()
        if floor == "add":
            np.testing.assert_allclose(got, mle + reg * np.eye(4), rtol=1e-10)
        else:
            eps = reg * summary.scale2
            for S, F in zip(mle, got, strict=True):
                lam, U = np.linalg.eigh(S)
                if ct in ("diag", "spherical"):
                    expect = np.diag(np.maximum(np.diag(S), eps))
                else:
                    expect = (U * np.maximum(lam, eps)) @ U.T
                np.testing.assert_allclose(F, expect, rtol=1e-9, atol=1e-9 * eps)


def test_empty_component_is_frozen():
    X, w, labels, K = _complete_data(7)
    labels = np.where(labels == 2, 1, labels)  # component 2 receives nothing
    fam = GaussianFamily("full", floor="clip")
    fam.prepare(EMData(X, w).summary())
    params = complete_data_params(fam, X, w, labels, K)
    assert params.weights[2] == 0.0
    np.testing.assert_allclose(params.means[2], fam.center)
    assert np.all(np.isfinite(params.covariances))
