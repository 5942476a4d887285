"""momix.mixture.GaussianMixture reproduces scikit-learn's iterations from the same start
(floor='add', accelerate=False): fitted arrays to rtol 1e-9, lower_bounds_ to 1e-10, the same
n_iter_, converged_ and predictions."""

import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from momix.em import COVARIANCE_TYPES
from momix.mixture import GaussianMixture


def _data(seed):
    rng = np.random.default_rng(seed)
    parts = [
        rng.normal(0, 1, (300, 3)),
        rng.normal(1.5, 0.7, (200, 3)),
        rng.normal([3, 0, -1], 1.5, (250, 3)),
    ]
    return np.vstack(parts) @ rng.normal(size=(3, 3)) + 10.0


def _sklearn_start(X, ct, seed):
    """scikit-learn's own k-means start (a max_iter=0 fit), as *_init arrays."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g0 = SklearnGaussianMixture(3, covariance_type=ct, max_iter=0, random_state=seed).fit(X)
    P = g0.precisions_cholesky_
    if ct == "full":
        precisions = np.einsum("kij,klj->kil", P, P)
    elif ct == "tied":
        precisions = P @ P.T
    else:
        precisions = P**2
    return dict(
        weights_init=g0.weights_ / g0.weights_.sum(),
        means_init=g0.means_,
        precisions_init=precisions,
    )


@pytest.mark.parametrize("tol", [1e-3, 1e-8])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_same_iterations_as_scikit_learn(ct, tol):
    X = _data(0)
    kw = dict(covariance_type=ct, tol=tol, max_iter=400, reg_covar=1e-6, **_sklearn_start(X, ct, 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SklearnGaussianMixture(3, **kw).fit(X)
        got = GaussianMixture(3, accelerate=False, floor="add", **kw).fit(X)
    assert got.n_iter_ == ref.n_iter_
    assert got.converged_ == ref.converged_
    assert got.n_iter_ > 2  # the comparison covers real iterations
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        a, b = getattr(got, name), getattr(ref, name)
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * np.abs(b).max(), err_msg=name)
    np.testing.assert_allclose(got.lower_bounds_, ref.lower_bounds_, rtol=0, atol=1e-10)
    assert got.lower_bound_ == pytest.approx(ref.lower_bound_, abs=1e-10)
    np.testing.assert_array_equal(got.predict(X), ref.predict(X))
    np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), atol=1e-9)
    np.testing.assert_allclose(got.score_samples(X), ref.score_samples(X), rtol=1e-10)
    assert got.bic(X) == pytest.approx(ref.bic(X), rel=1e-10)
    assert got.aic(X) == pytest.approx(ref.aic(X), rel=1e-10)


def test_fitted_model_scores_like_scikit_learn_on_new_data():
    """Same parameters give the same predictions on rows the model never saw."""
    X = _data(1)
    kw = dict(covariance_type="full", **_sklearn_start(X, "full", 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SklearnGaussianMixture(3, **kw).fit(X)
        got = GaussianMixture(3, accelerate=False, **kw).fit(X)
    new = np.random.default_rng(2).normal(size=(50, 3)) * 5 + 10
    np.testing.assert_allclose(got.score_samples(new), ref.score_samples(new), rtol=1e-9)
    assert got.score(new) == pytest.approx(ref.score(new), rel=1e-9)
