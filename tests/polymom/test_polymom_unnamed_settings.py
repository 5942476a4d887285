"""Settings outside the paper's table: odd data, degenerate moment fits, user mistakes."""

import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from momix.exceptions import ConvergenceWarning, DataError
from momix.polymom import (
    Gaussian1D,
    GaussianSpherical,
    MixtureOfLinearRegressions,
    Poisson,
    Polymom,
)
from momix.polymom._refine import em_start_variances, split_repeated


def _pearson3(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.choice(3, n, p=[0.3, 0.4, 0.3])
    return rng.normal(np.array([-3.0, 0.0, 4.0])[z], np.sqrt([1.0, 0.5, 2.0])[z])[:, None]


def test_em_from_a_zero_moment_variance_does_not_collapse():
    # the moment fit puts the middle component's variance on its bound 0; EM from there
    # collapsed it onto a few points (weight 0.001) before the start variances were floored
    x = _pearson3()
    moment = Polymom(Gaussian1D(order=9), 3, random_state=0).fit(x)
    assert moment.params_[:, 1].min() < 1e-3
    est = Polymom(Gaussian1D(order=9), 3, refine="em", random_state=0).fit(x)
    assert est.weights_.min() > 0.25
    assert est.params_[:, 1].min() > 0.3
    best = GaussianMixture(3, n_init=5, tol=1e-8, max_iter=1000, random_state=0).fit(x)
    np.testing.assert_allclose(est.score(x), best.score(x), atol=1e-4)


def test_em_start_variances_floor_per_feature_or_pooled():
    Z = np.column_stack([np.arange(4.0), 10 * np.arange(4.0)])
    sw = np.ones(4)
    var = np.array([[0.0, 50.0], [2.0, 0.0]])
    np.testing.assert_allclose(em_start_variances(Z, sw, var, pooled=False),
                               [[0.0125, 50.0], [2.0, 1.25]])
    np.testing.assert_allclose(em_start_variances(Z, sw, var, pooled=True),
                               [[0.63125, 50.0], [2.0, 0.63125]])


def test_split_repeated_moves_only_the_copies():
    Z = np.random.default_rng(0).normal(size=(50, 2))
    means = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]])
    out = split_repeated(means, Z, np.ones(50), np.random.default_rng(1))
    np.testing.assert_allclose(out[[0, 2]], means[[0, 2]])
    assert np.abs(out[1] - means[1]).min() > 1e-3


def test_em_separates_repeated_poisson_atoms():
    rng = np.random.default_rng(0)
    z = rng.choice(2, 3000, p=[0.46, 0.54])
    X = rng.poisson(np.array([[8.3, 9.2], [6.5, 7.6]])[z]).astype(float)
    # a penalty 1e4 times the default forces a rank-1 moment matrix: repeated atoms
    with pytest.warns(UserWarning, match="numerical rank 1"):
        moment = Polymom(Poisson(2), 2, penalty=1000.0, random_state=0).fit(X)
    np.testing.assert_allclose(moment.params_[0], moment.params_[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = Polymom(Poisson(2), 2, penalty=1000.0, refine="em", random_state=0).fit(X)
    assert np.abs(est.params_[0] - est.params_[1]).max() > 0.5
    assert est.score(X) > moment.score(X)


def test_refine_not_converged_warns_momix_naming_the_knob():
    X = np.random.default_rng(0).normal(size=(300, 2)) * [1.0, 3.0]
    X[:150] += 4
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Polymom(n_components=2, refine="em", refine_max_iter=1, random_state=0).fit(X)
    conv = [w for w in caught if issubclass(w.category, Warning) and "converge" in str(w.message)]
    assert conv and all(issubclass(w.category, ConvergenceWarning) for w in conv)
    assert all("refine_max_iter" in str(w.message) for w in conv)


def test_constant_feature_is_rejected_quickly_for_two_components():
    X = np.random.default_rng(0).normal(size=(200, 2))
    Z = np.column_stack([X, np.full(200, 3.0)])
    with pytest.raises(DataError, match=r"feature\(s\) \[2\] of X are constant"):
        Polymom(n_components=2).fit(Z)
    # constant among the rows of positive weight
    sw = np.r_[np.zeros(100), np.ones(100)]
    Z[:100, 0] = np.random.default_rng(1).normal(size=100)
    Z[100:, 0] = 1.0
    with pytest.raises(DataError, match=r"\[0, 2\]"):
        Polymom(n_components=2).fit(Z, sample_weight=sw)
    one = Polymom(n_components=1).fit(Z)
    np.testing.assert_allclose(one.means_[0, 2], 3.0)


def test_profile_without_candidates_is_a_clear_error():
    X = np.random.default_rng(0).normal(size=(100, 2))
    model = GaussianSpherical(2, shared_variance=True)
    for grid in ([], [1.0, np.nan]):
        with pytest.raises(ValueError, match=r"profile\['variance'\] must hold"):
            Polymom(model, 2, profile={"variance": grid}).fit(X)


@pytest.mark.parametrize("shift", [-3.0, 0.5])
def test_poisson_needs_counts(shift):
    X = np.random.default_rng(0).poisson(5.0, size=(200, 1)) + shift
    with pytest.raises(DataError, match="non-negative integer"):
        Polymom(Poisson(1), 2).fit(X)


def test_poisson_zero_rate_is_the_point_mass_at_zero():
    params = np.array([[0.0], [4.0]])
    logp = Poisson(1).log_prob(np.array([[0.0], [2.0]]), params)
    np.testing.assert_allclose(logp[0], [0.0, -4.0])
    assert logp[1, 0] == -np.inf
    with pytest.raises(DataError, match="non-negative integer"):
        Poisson(1).log_prob(np.array([[1.5]]), params)


def test_sample_of_a_model_without_sampler_is_a_clear_error():
    X = np.random.default_rng(0).poisson(5.0, size=(200, 1)).astype(float)
    est = Polymom(Poisson(1), 1).fit(X)
    with pytest.raises(ValueError, match="sample draws from Gaussian models"):
        est.sample(3)


def test_regression_mixture_on_one_row_is_a_clear_error():
    with pytest.raises(DataError, match="n_samples=1"):
        MixtureOfLinearRegressions(1).fit(np.ones((1, 2)), np.ones(1))


def test_constant_feature_is_rejected_in_streamed_data_too(tmp_path):
    X = np.random.default_rng(0).normal(size=(200, 2))
    path = tmp_path / "x.npy"
    np.save(path, np.column_stack([X, np.ones(200)]))
    with pytest.raises(DataError, match=r"feature\(s\) \[2\] of X are constant"):
        Polymom(n_components=2).fit(str(path))


def test_categorical_views_have_predict_and_score():
    from momix.datasets import make_multiview_mixture
    from momix.polymom import MultiView
    from momix.polymom._em import multiview_log_prob

    data = make_multiview_mixture(2000, 3, 2, symmetric=True, random_state=0)
    X = np.concatenate(list(data.views), axis=1)
    est = Polymom(MultiView(3, symmetric=True, simplex=True), 2, refine="em",
                  random_state=0).fit(X)
    means = np.repeat(est.params_[:, None, :], 3, axis=1)
    logp = multiview_log_prob(data.views, means) + np.log(est.weights_)
    resp = np.exp(logp - logp.max(axis=1, keepdims=True))
    np.testing.assert_allclose(est.predict_proba(X), resp / resp.sum(axis=1, keepdims=True),
                               rtol=1e-10)
    assert np.mean(est.predict(X) == data.labels) in (pytest.approx(1, abs=0.25),
                                                       pytest.approx(0, abs=0.25))
    assert np.isfinite(est.score(X))
    with pytest.raises(DataError, match="counts"):
        est.score(-X)


def test_standardized_moments_match_the_moments_of_standardized_components():
    from momix.polymom import GaussianDiagonal
    from momix.polymom._moments import mapping_system
    from momix.polymom._scaling import standardize_moments

    model = GaussianDiagonal(2, order=4)
    w, params = np.array([0.3, 0.7]), np.array([[1.0, -2.0, 1.0, 0.5], [3.0, 5.0, 2.0, 0.3]])
    b = mapping_system(model, model.population_moments(w, params)).b
    scaling, b_std = standardize_moments(model, b)
    np.testing.assert_allclose(scaling.location, w @ params[:, :2])
    std_params = params.copy()
    std_params[:, :2] = (params[:, :2] - scaling.location) / scaling.scale
    std_params[:, 2:] = params[:, 2:] / scaling.scale**2
    expected = mapping_system(model, model.population_moments(w, std_params)).b
    np.testing.assert_allclose(b_std, expected, atol=1e-12)


def test_exact_moments_of_three_pearson_components_far_from_unit_scale():
    # raw moments up to x^9 reach 1e6: unstandardised, every Clarabel solve failed and SCS
    # returned two distinct components after 43 s
    model = Gaussian1D(order=9)
    params = np.array([[-3.0, 1.0], [0.0, 0.5], [4.0, 2.0]])
    est = Polymom(model, 3, relaxation="exact", random_state=0)
    est.fit_moments(model.population_moments([0.3, 0.4, 0.3], params))
    order = np.argsort(est.params_[:, 0])
    np.testing.assert_allclose(est.params_[order], params, atol=1e-8)
    np.testing.assert_allclose(est.weights_[order], [0.3, 0.4, 0.3], atol=1e-8)
    assert est.solver_ == "CLARABEL" and est.converged_


def test_more_components_than_rows_is_a_clear_error():
    X = np.random.default_rng(0).normal(size=(3, 2))
    with pytest.raises(DataError, match="n_components=4 needs at least 4 samples"):
        Polymom(n_components=4).fit(X)


def test_regression_start_warns_once_not_once_per_noise_level():
    from momix.polymom._mlr import polymom_regression_start

    X = np.random.default_rng(0).normal(size=(300, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # a constant response (refused by the estimator) gives a rank-1 moment matrix at
        # every noise level of the profile
        polymom_regression_start(X, np.ones(300), np.ones(300), 2, noise_variance=None,
                                 x_order=2, y_order=3, solver="CLARABEL",
                                 rng=np.random.default_rng(0))
    rank = [w for w in caught if "numerical rank" in str(w.message)]
    assert len(rank) == 1
    with pytest.raises(DataError, match="y is constant"):
        MixtureOfLinearRegressions(2, random_state=0).fit(X, np.ones(300))


@pytest.mark.parametrize("kw", [{"solver": "NONEXISTENT"}, {"fallback": "NOPE"}])
def test_unknown_solver_is_a_clear_error_not_a_silent_fallback(kw):
    X = np.random.default_rng(0).normal(size=(100, 2))
    with pytest.raises(ValueError, match="is not installed; cvxpy has"):
        Polymom(n_components=2, **kw).fit(X)
    with pytest.raises(ValueError, match="is not installed"):
        MixtureOfLinearRegressions(2, solver=kw.get("solver", "NOPE")).fit(X, X[:, 0])


def test_solver_names_are_case_insensitive():
    from momix.polymom._sdp import check_solvers

    assert check_solvers("clarabel", "scs") == ["CLARABEL", "SCS"]
    assert check_solvers("CLARABEL", "clarabel") == ["CLARABEL"]
    assert check_solvers("SCS", None) == ["SCS"]
    X = np.random.default_rng(0).normal(size=(100, 2))
    assert Polymom(n_components=2, solver="clarabel", fallback=None).fit(X).solver_ == "CLARABEL"


def _poisson_counts(rates, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.4
    return rng.poisson(np.where(z[:, None], rates[0], rates[1])).astype(float)


def test_poisson_counts_far_above_one_are_scaled():
    """Rates near 30 came out as one component (the trace term outweighed the residual);
    counts are now divided by their mean through the model's unit constants."""
    rates = np.array([[20.0, 40.0], [50.0, 25.0]])
    X = _poisson_counts(rates)
    est = Polymom(Poisson(2), 2, random_state=0).fit(X)
    order = np.argsort(est.params_[:, 0])
    np.testing.assert_allclose(est.params_[order], rates, rtol=0.02)
    np.testing.assert_allclose(est.weights_[order], [0.4, 0.6], atol=0.02)
    np.testing.assert_allclose(est.data_scale_, X.mean(axis=0))
    assert est.constants_ == {"unit_0": 1.0, "unit_1": 1.0}  # model_ is in counts
    assert np.isfinite(est.score(X))


def test_poisson_scaling_is_exact_on_population_moments():
    """The scaled moment polynomials u^a T_a(theta/u) equal the raw ones at theta = u lambda."""
    model = Poisson(2, order=3)
    params = np.array([[2.0, 7.0], [9.0, 3.0]])
    raw = model.population_moments([0.3, 0.7], params)
    u = np.array([0.25, 0.5])
    scaled = model.with_constants({"unit_0": u[0], "unit_1": u[1]}).population_moments(
        [0.3, 0.7], params * u)
    c = model.compiled()
    alphas = [next(iter(p)) for p in c.data_polys[:len(c.obs_keys)]]
    for alpha, key in zip(alphas, c.obs_keys, strict=True):
        np.testing.assert_allclose(scaled[key], raw[key] * np.prod(u ** np.array(alpha)))


def test_poisson_streamed_fit_matches_in_memory(tmp_path):
    X = _poisson_counts(np.array([[20.0, 40.0], [50.0, 25.0]]), n=5000)
    path = tmp_path / "counts.npy"
    np.save(path, X)
    a = Polymom(Poisson(2), 2, random_state=0).fit(X)
    b = Polymom(Poisson(2), 2, random_state=0).fit(str(path))
    np.testing.assert_allclose(b.params_, a.params_, rtol=1e-6)
