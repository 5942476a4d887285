"""LowRankGaussianMixture: honest defaults (estimated noise), the moment count, and odd input.

Offsets, extreme scales, constant columns, few distinct rows, degenerate weights and
numerical failures, in memory and streamed (issue 15).
"""

import warnings

import numpy as np
import pytest

from momix import LowRankGaussianMixture
from momix.datasets import make_lowrank_gaussian_mixture
from momix.exceptions import DataError, MomixWarning, NumericalError
from momix.metrics import mixture_errors


def _noisy(n=1500, d=20, K=3, R=2, noise=1.0, seed=0, mean_norm=3.0):
    return make_lowrank_gaussian_mixture(
        n, d, K, rank=R, noise_variance=noise, mean_norm=mean_norm, random_state=seed
    )


def _errors(data, model):
    return mixture_errors(
        data.weights, data.means, data.covariances,
        model.weights_, model.means_, model.covariances_, match="covariances",
    )  # fmt: skip


# ----------------------------------------------------------------------------- defaults


def test_default_noise_is_estimated_on_noisy_data():
    """The default fit of noisy 20-D data estimates sigma^2 and scores like the truth."""
    data = _noisy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", MomixWarning)  # identifiable: no warning
        model = LowRankGaussianMixture(3, 2, random_state=0).fit(data.X)
    assert model.noise_method_ == "spectrum"
    assert abs(model.noise_variance_ - 1.0) < 0.1
    assert np.all(np.linalg.eigvalsh(model.covariances_) > 0.5)
    assert model.score(data.X) > -40  # the noiseless default scored -1e7 here
    assert _errors(data, model).covariances < 0.3


def test_grid_search_over_n_components_finds_the_true_count():
    from sklearn.model_selection import GridSearchCV

    data = _noisy(n=1200, K=3, mean_norm=4.0, seed=1)
    search = GridSearchCV(
        LowRankGaussianMixture(rank=2, random_state=0), {"n_components": [1, 2, 3]}, cv=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(data.X)
    assert search.best_params_ == {"n_components": 3}
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_noise_fallback_warns_naming_the_parameter():
    """d <= K(R+1)-1 with R < d: no noise-only directions, a warned fallback."""
    data = make_lowrank_gaussian_mixture(2000, 3, 2, rank=1, noise_variance=0.25, random_state=2)
    with pytest.warns(MomixWarning, match="noise_variance"):
        model = LowRankGaussianMixture(2, 1, random_state=0).fit(data.X)
    assert model.noise_method_ == "clusters"
    assert 0.1 < model.noise_variance_ < 0.8
    assert np.all(np.linalg.eigvalsh(model.covariances_) > 0)


def test_full_rank_factors_absorb_the_noise_without_warning():
    """rank = d: sigma^2 = 0; with max_order = 2 the fit is the sample mean and covariance."""
    X = np.random.default_rng(0).normal(size=(400, 2)) @ np.array([[2.0, 0.5], [0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", MomixWarning)
        model = LowRankGaussianMixture(1, 2, max_order=2, random_state=0).fit(X)
    assert model.noise_method_ == "absorbed" and model.noise_variance_ == 0.0
    np.testing.assert_allclose(model.means_[0], X.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(model.covariances_[0], np.cov(X.T, bias=True), rtol=1e-3)


def test_noiseless_and_given_noise_are_kept():
    data = make_lowrank_gaussian_mixture(1000, 6, 2, rank=1, random_state=3)
    none = LowRankGaussianMixture(2, 1, noise_variance=None, random_state=0).fit(data.X)
    given = LowRankGaussianMixture(2, 1, noise_variance=0.3, random_state=0).fit(data.X)
    assert none.noise_method_ == "none" and none.noise_variance_ == 0.0
    assert given.noise_method_ == "given" and given.noise_variance_ == pytest.approx(0.3)
    assert np.all(np.linalg.eigvalsh(none.covariances_) > 0)  # reg_covar floor
    assert none._n_parameters() == given._n_parameters()
    default = LowRankGaussianMixture(2, 1, random_state=0).fit(data.X)
    assert default._n_parameters() == none._n_parameters() + 1  # the estimated sigma^2


# ----------------------------------------------------------------------------- moment count


def test_fewer_moment_equations_than_parameters_is_refused():
    """d = 2, K = 3, R = 2: 14 distinct moments of orders <= 4 for 17 parameters."""
    X = np.random.default_rng(0).normal(size=(300, 2))
    with pytest.raises(ValueError, match=r"14 distinct moment equations.*17 free parameters"):
        LowRankGaussianMixture(3, 2).fit(X)
    with pytest.raises(ValueError, match="raise max_order to 5"):  # 20 equations
        LowRankGaussianMixture(3, 2).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LowRankGaussianMixture(3, 2, max_order=5, max_iter=5, random_state=0).fit(X)


def test_moment_count_formula():
    from math import comb

    from momix.lowrank._prepare import count_free_parameters, count_moment_equations

    for d in range(1, 6):
        for L in range(1, 7):
            distinct = sum(comb(d + k - 1, k) for k in range(1, L + 1))
            assert count_moment_equations(d, L) == distinct
    assert count_free_parameters(3, 2, 2, False) == 17
    assert count_free_parameters(2, 10, 1, True) == 1 + 20 + 20 + 1


# ----------------------------------------------------------------------------- odd data


def test_constant_data_says_constant():
    with pytest.raises(DataError, match="constant"):
        LowRankGaussianMixture(2, 1).fit(np.ones((100, 3)))
    with pytest.raises(DataError, match="constant"):
        LowRankGaussianMixture(2, 1).fit([np.ones((50, 3)), np.ones((50, 3))])


def test_constant_column_is_named_and_fitted():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=(300, 3)), np.full(300, 7.0)])
    with pytest.warns(MomixWarning, match=r"column\(s\) 3 of X are constant"):
        model = LowRankGaussianMixture(2, 1, random_state=0).fit(X)
    assert np.all(np.isfinite(model.score_samples(X)))
    assert np.all(np.linalg.eigvalsh(model.covariances_) > 0)


def test_fewer_distinct_rows_than_components():
    X = np.repeat(np.random.default_rng(0).normal(size=(2, 3)), 30, axis=0)
    with pytest.raises(DataError, match="distinct"):
        LowRankGaussianMixture(3, 1).fit(X)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    w = np.zeros(60)
    w[:2] = 1.0  # two rows of positive weight
    with pytest.raises(DataError, match="positive sample_weight"):
        LowRankGaussianMixture(3, 1).fit(X, sample_weight=w)
    with pytest.raises(DataError, match="distinct"):
        LowRankGaussianMixture(3, 1).fit([(X[:30], w[:30]), (X[30:], w[30:])])


@pytest.mark.parametrize("stream", [False, True])
def test_offset_1e8_gives_the_fit_of_the_centred_data(stream):
    data = _noisy(n=3000, d=8, K=2, R=1, noise=0.5, seed=4)
    kw = dict(n_components=2, rank=1, noise_variance=0.5, weighting="identity", random_state=0)
    ref = LowRankGaussianMixture(**kw).fit(data.X)
    X = data.X + 1e8
    model = LowRankGaussianMixture(**kw).fit([X[:1000], X[1000:]] if stream else X)
    np.testing.assert_allclose(model.weights_, ref.weights_, atol=1e-3)
    np.testing.assert_allclose(model.means_ - 1e8, ref.means_, atol=1e-2)
    np.testing.assert_allclose(model.covariances_, ref.covariances_, atol=1e-2)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.score_samples(X), ref.score_samples(data.X), atol=1e-2)


@pytest.mark.parametrize("scale", [1e-120, 1e90])
def test_extreme_scales_give_the_fit_of_unit_scale(scale):
    data = _noisy(n=2000, d=6, K=2, R=1, noise=0.3, seed=5)
    kw = dict(n_components=2, rank=1, weighting="identity", random_state=0)
    ref = LowRankGaussianMixture(**kw).fit(data.X)
    model = LowRankGaussianMixture(**kw).fit(data.X * scale)
    np.testing.assert_allclose(model.means_ / scale, ref.means_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.covariances_ / scale**2, ref.covariances_, atol=1e-6)
    logdet = data.X.shape[1] * np.log(scale)
    np.testing.assert_allclose(
        model.score_samples(data.X * scale) + logdet, ref.score_samples(data.X), atol=1e-6
    )


def test_spread_below_representable_covariances_is_refused():
    X = np.random.default_rng(0).normal(size=(200, 3)) * 1e-200
    with pytest.raises(DataError, match="multiply X by a unit"):
        LowRankGaussianMixture(2, 1).fit(X)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
@pytest.mark.parametrize("stream", [False, True])
def test_uniform_weight_scale_changes_nothing(scale, stream):
    data = _noisy(n=800, d=5, K=2, R=1, noise=0.3, seed=6)
    X, n = data.X, 800
    kw = dict(n_components=2, rank=1, random_state=0)
    if stream:
        unit = LowRankGaussianMixture(**kw).fit([X[:300], X[300:]])
        w = np.full(n, scale)
        scaled = LowRankGaussianMixture(**kw).fit([(X[:300], w[:300]), (X[300:], w[300:])])
    else:
        unit = LowRankGaussianMixture(**kw).fit(X)
        scaled = LowRankGaussianMixture(**kw).fit(X, sample_weight=np.full(n, scale))
    for name in ("weights_", "means_", "covariances_", "noise_variance_", "objective_"):
        np.testing.assert_allclose(getattr(scaled, name), getattr(unit, name), rtol=1e-12)


def test_float32_data_are_read_in_place_and_fit_like_double():
    import momix.lowrank._prepare as prepare

    data = _noisy(n=3000, d=12, K=2, R=1, noise=0.5, seed=7)
    X32 = data.X.astype(np.float32)
    seen = {}
    original = prepare.StandardizedRows

    def spy(X, std):
        seen["raw"] = X
        return original(X, std)

    prepare.StandardizedRows = spy
    try:
        single = LowRankGaussianMixture(2, 1, random_state=0).fit(X32)
    finally:
        prepare.StandardizedRows = original
    assert seen["raw"] is X32  # neither converted nor copied
    double = LowRankGaussianMixture(2, 1, random_state=0).fit(data.X)
    assert abs(_errors(data, single).covariances - _errors(data, double).covariances) < 0.02


def test_far_points_have_finite_scores_and_probabilities():
    data = _noisy(n=1000, d=4, K=2, R=1, noise=0.2, seed=8)
    model = LowRankGaussianMixture(2, 1, noise_variance=None, random_state=0).fit(data.X)
    far = np.vstack([data.X[:5], np.full((2, 4), 1e50), np.full((1, 4), -3e99)])
    proba = model.predict_proba(far)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.all(np.isfinite(model.score_samples(data.X)))
    assert np.all(model.score_samples(data.X) < 50)  # densities bounded by the reg_covar floor


# ----------------------------------------------------------------------------- failures


def test_numerical_failure_is_a_numerical_error_with_its_cause(monkeypatch):
    import momix.lowrank._prepare as prepare

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("Eigenvalues did not converge")

    monkeypatch.setattr(prepare, "_top_eigenvectors", broken)
    data = _noisy(n=500, d=20, K=2, R=1, seed=9)
    with pytest.raises(NumericalError, match="Eigenvalues did not converge") as info:
        LowRankGaussianMixture(2, 1).fit(data.X)
    assert isinstance(info.value.__cause__, np.linalg.LinAlgError)


def test_non_finite_fitted_parameters_are_refused(monkeypatch):
    import momix.lowrank._engine as engine

    original = engine.MixtureParams.covariances
    data = _noisy(n=500, d=5, K=2, R=1, seed=10)
    model = LowRankGaussianMixture(2, 1, random_state=0)
    store = type(model)._store

    def poisoned(self, *args, **kwargs):
        store(self, *args, **kwargs)
        self.means_ = self.means_ * np.nan

    monkeypatch.setattr(type(model), "_store", poisoned)
    with pytest.raises(NumericalError, match="means_"):
        model.fit(data.X)
    assert engine.MixtureParams.covariances is original


def test_as_many_distinct_points_as_components_refuse_dgmm_weights_not_mm():
    """Two distinct points, K = 2, noise estimated (0): the centred second moments y y^T of
    all rows coincide and the fit matches them, so the order-2 variance tr S_22 is zero and
    the DGMM weight undefined; the error says so, and MM fits."""
    X = np.repeat(np.random.default_rng(0).normal(size=(2, 3)), 300, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MomixWarning)  # the noise fallback (d <= K(R+1)-1)
        with pytest.raises(NumericalError, match=r"order\(s\) 2, 4 do not vary.*'identity'"):
            LowRankGaussianMixture(2, 1, random_state=0).fit(X)
        model = LowRankGaussianMixture(2, 1, weighting="identity", random_state=0).fit(X)
    np.testing.assert_allclose(model.weights_, [0.5, 0.5], atol=1e-6)
