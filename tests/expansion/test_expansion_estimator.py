"""GMMExpansion: density properties, sampling, options, bad input."""

import warnings

import numpy as np
import pytest
from scipy.stats import norm

from momix import GMMExpansion
from momix.exceptions import ConvergenceWarning, DataError


def _bimodal(n, d=1, seed=0):
    rng = np.random.default_rng(seed)
    k = int(0.6 * n)
    return np.vstack([rng.normal(0, 1, (k, d)), rng.normal(3.5, 0.5, (n - k, d))])


@pytest.mark.parametrize("update", ["one_step", "kde_grid", "em"])
def test_density_integrates_to_one_in_1d(update):
    est = GMMExpansion(bandwidth=0.3, update=update).fit(_bimodal(300))
    xs = np.linspace(-15, 20, 20001)[:, None]
    total = np.trapezoid(np.exp(est.score_samples(xs)), xs[:, 0])
    assert abs(total - 1) < 1e-3


def test_density_integrates_to_one_in_2d():
    est = GMMExpansion(bandwidth=0.4).fit(_bimodal(200, d=2))
    ax = np.linspace(-40, 42, 821)  # the tail component (sd = data range) reaches far
    xx, yy = np.meshgrid(ax, ax, indexing="ij")
    dens = np.exp(est.score_samples(np.column_stack([xx.ravel(), yy.ravel()]))).reshape(xx.shape)
    total = np.trapezoid(np.trapezoid(dens, ax, axis=1), ax)
    assert abs(total - 1) < 1e-3


def test_fitted_attributes_are_consistent():
    X = _bimodal(200, d=2)
    est = GMMExpansion(n_grid=7, bandwidth=0.5, tail_weight=0.0).fit(X)
    assert est.grid_shape_ == (7, 7)
    assert est.weights_.shape == (49,) and est.means_.shape == (49, 2)
    np.testing.assert_allclose(est.weights_.sum(), 1.0)
    np.testing.assert_allclose(np.diag(est.covariance_), est.sigmas_**2)
    assert est.means_[:, 0].min() == pytest.approx(X[:, 0].min() - 3 * est.sigmas_[0])
    np.testing.assert_allclose(est.lower_bound_, est.score(X), rtol=1e-12)


def test_score_is_finite_far_outside_the_grid():
    est = GMMExpansion(bandwidth=0.2, tail_weight=0.0).fit(_bimodal(200))
    scores = est.score_samples(np.array([[-1e4], [50.0], [1e6]]))
    assert np.all(np.isfinite(scores))
    # far in the tail the log-density is the widest-reaching Gaussian's quadratic
    sigma = est.sigmas_[0]
    edge = est.grid_[0][-1]
    assert scores[1] == pytest.approx(
        norm.logpdf(50.0, edge, sigma) + np.log(est.weights_[-1]), rel=1e-3
    )


def test_tail_component_is_the_last_and_sets_the_far_tail():
    X = _bimodal(200)
    est = GMMExpansion(n_grid=20, bandwidth=0.3).fit(X)
    eps = 1 / (len(X) + 1)
    assert est.tail_weight_ == pytest.approx(eps)
    assert est.weights_.size == 21 and est.weights_[-1] == pytest.approx(eps)
    np.testing.assert_allclose(est.weights_.sum(), 1.0)
    centre, span = (X.max() + X.min()) / 2, np.ptp(X)
    np.testing.assert_allclose(est.means_[-1], [centre])
    np.testing.assert_allclose(est.covariances_[-1], [span**2])
    np.testing.assert_allclose(est.lower_bound_, est.score(X), rtol=1e-12)
    # far away only the broad component matters: log(eps) + its Gaussian log-density
    far = np.array([[centre + 10 * span]])
    np.testing.assert_allclose(
        est.score_samples(far), np.log(eps) + norm.logpdf(far[0, 0], centre, span), rtol=1e-9
    )
    # near the data the cost is log(1 - eps) at most
    plain = GMMExpansion(n_grid=20, bandwidth=0.3, tail_weight=0.0).fit(X)
    assert np.all(est.score_samples(X) >= plain.score_samples(X) + np.log1p(-eps) - 1e-12)


def test_sampling_histogram_matches_density():
    est = GMMExpansion(bandwidth=0.3).fit(_bimodal(300))
    X, labels = est.sample(100_000, random_state=0)
    assert X.shape == (100_000, 1) and labels.shape == (100_000,)
    edges = np.linspace(-6, 8, 141)
    hist = np.histogram(X[:, 0], bins=edges)[0] / len(X)
    fine = np.linspace(-6, 8, 14001)[:, None]
    dens = np.exp(est.score_samples(fine))
    cdf = np.concatenate([[0], np.cumsum((dens[1:] + dens[:-1]) / 2 * np.diff(fine[:, 0]))])
    mass = np.diff(np.interp(edges, fine[:, 0], cdf))
    assert 0.5 * np.abs(hist - mass).sum() < 0.02


def test_same_seed_same_fit_and_samples():
    X = _bimodal(150)
    a = GMMExpansion(random_state=3).fit(X)
    b = GMMExpansion(random_state=3).fit(X)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    np.testing.assert_array_equal(a.sample(50)[0], b.sample(50)[0])


@pytest.mark.parametrize("d", [1, 2])
def test_integer_sample_weight_equals_repetition(d):
    X = _bimodal(60, d=d, seed=d)
    reps = np.random.default_rng(0).integers(0, 3, len(X))
    params = {"n_grid": 8, "bandwidth": 0.4, "update": "em", "tol": 1e-9, "max_iter": 20_000}
    params["tail_weight"] = 0.01  # "auto" counts rows: 1 / (rows + 1)
    a = GMMExpansion(**params).fit(X, sample_weight=reps)
    b = GMMExpansion(**params).fit(np.repeat(X, reps, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(X), rtol=1e-6)


def test_auto_bandwidth_is_the_best_candidate():
    from momix.expansion._bandwidth import CANDIDATE_FACTORS, REFINE, silverman_factor

    X = _bimodal(400)
    est = GMMExpansion(random_state=0).fit(X)
    search = est.bandwidth_search_
    assert est.bandwidth_ == search.best
    assert search.scores[search.bandwidths.index(search.best)] == max(search.scores)
    # coarse pass: powers of two times Silverman's factor, largest first, stopped after the
    # first candidate below the best; then the best times and divided by sqrt(2)
    hs, scores = np.array(search.bandwidths), np.array(search.scores)
    h0 = silverman_factor(len(X), 1)
    n_coarse = int(np.sum(np.isin(np.round(hs / h0, 9), np.round(CANDIDATE_FACTORS, 9))))
    np.testing.assert_allclose(hs[:n_coarse], h0 * CANDIDATE_FACTORS[:n_coarse])
    assert n_coarse == len(CANDIDATE_FACTORS) or scores[n_coarse - 1] < scores[: n_coarse - 1].max()
    coarse_best = hs[int(np.argmax(scores[:n_coarse]))]
    np.testing.assert_allclose(
        sorted(hs[n_coarse : n_coarse + 2]), [coarse_best / REFINE, coarse_best * REFINE]
    )


def test_em_beats_one_step_on_training_data_and_is_certified():
    X = _bimodal(300)
    one = GMMExpansion(n_grid=15, bandwidth=0.3).fit(X)
    em = GMMExpansion(n_grid=15, bandwidth=0.3, update="em", tol=1e-6, max_iter=20_000).fit(X)
    assert em.converged_ and em.optimality_gap_ <= 1e-6
    assert em.lower_bound_ >= one.lower_bound_
    several = GMMExpansion(n_grid=15, bandwidth=0.3, max_iter=5).fit(X)
    assert one.lower_bound_ <= several.lower_bound_ <= em.lower_bound_
    assert several.n_iter_ == 5


def test_em_iteration_limit_warns():
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        GMMExpansion(bandwidth=0.2, update="em", max_iter=3, tol=1e-12).fit(_bimodal(200))


def test_bic_counts_grid_weights():
    X = _bimodal(100)
    est = GMMExpansion(n_grid=12, bandwidth=0.5).fit(X)
    expected = -2 * est.score(X) * 100 + 11 * np.log(100)
    np.testing.assert_allclose(est.bic(X), expected)
    np.testing.assert_allclose(est.aic(X), -2 * est.score(X) * 100 + 22)


def test_too_many_features_raise_clearly():
    X = np.random.default_rng(0).normal(size=(100, 6))
    with pytest.raises(DataError, match="n_grid\\*\\*n_features"):
        GMMExpansion().fit(X)


@pytest.mark.parametrize(
    "params",
    [
        {"bandwidth": -1.0},
        {"bandwidth": "silverman"},
        {"update": "newton"},
        {"n_grid": 0},
        {"n_folds": 1},
        {"tol": -1.0},
    ],
)
def test_bad_parameters_raise(params):
    with pytest.raises(ValueError):
        GMMExpansion(**params).fit(_bimodal(50))


def test_bad_data_raise():
    with pytest.raises(ValueError, match="NaN"):
        GMMExpansion().fit(np.array([[0.0], [np.nan], [1.0]]))
    est = GMMExpansion(bandwidth=0.5).fit(_bimodal(50, d=2))
    with pytest.raises(ValueError, match="features"):
        est.score_samples(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="n_samples"):
        est.sample(0)


def test_tiny_samples_use_the_reference_bandwidth():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = GMMExpansion().fit(np.array([[0.0], [1.0], [2.5]]))
    assert est.bandwidth_search_ is None
    assert np.isfinite(est.score(np.array([[1.0]])))


@pytest.mark.slow
def test_five_normal_target_matches_cross_validated_kde():
    """Spec B test 8: regression guard, within 0.05 nats of KDE with a CV bandwidth."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(0)
    means, sds = np.array([-4, -1.5, 0, 2, 5.0]), np.array([0.6, 0.4, 0.8, 0.3, 1.2])

    def draw(n):
        k = rng.integers(0, 5, n)
        return (means[k] + sds[k] * rng.standard_normal(n))[:, None]

    X, Xt = draw(10_000), draw(20_000)
    est = GMMExpansion(random_state=0).fit(X)
    kde = GridSearchCV(KernelDensity(), {"bandwidth": np.geomspace(0.02, 1, 20)}, cv=5).fit(X)
    assert est.score(Xt) >= kde.best_estimator_.score(Xt) / len(Xt) - 0.05
