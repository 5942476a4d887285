"""Sample weights of SoftmaxMixture: a weight of 2 is the unit twice, a weight of 0 drops it,
a uniform scale changes nothing; counts multiply by item weights; panel weights are per group;
score, bic and aic take the weights; fit_predict."""

import warnings

import numpy as np
import pytest
from softmax_testdata import make_item_data, make_panel_data

from momix import SoftmaxMixture
from momix.exceptions import DataError
from momix.softmax._data import as_choice_sets, standardise
from momix.softmax._em import fit_em

#: EM steps that all raise the log-likelihood (no stop decided by rounding near the optimum):
#: weighted and repeated data then take the same steps, equal to rounding
_KW = dict(init="random", n_init=2, tol=0.0, max_iter=25, accelerate=False, random_state=3)
#: converged fits (stopped by tol, where the coefficients are set to about sqrt(eps))
_CONVERGED = dict(init="random", n_init=2, tol=1e-12, max_iter=2000, random_state=3)


def _fit(*args, kw=_KW, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SoftmaxMixture(2, **kw).fit(*args, **kwargs)
    rising = np.all(np.diff(model.log_likelihood_path_) > 0)
    assert kw is not _KW or (model.n_iter_ == 25 and rising)
    return model


@pytest.fixture(scope="module")
def items():
    X, y, _, _ = make_item_data(60, 2, 2, 400, seed=21)
    w = np.random.default_rng(0).integers(0, 4, size=len(y))
    return X, y, w


def _assert_same_fit(a, b, rtol):
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(a.coefs_, b.coefs_, rtol=rtol, atol=rtol)


def test_item_weights_equal_repeated_and_removed_choices(items):
    X, y, w = items
    assert 0 in w and w.max() > 1
    weighted, repeated = _fit(X, y, sample_weight=w), _fit(X, np.repeat(y, w))
    _assert_same_fit(weighted, repeated, rtol=1e-11)
    converged = [_fit(X, y, sample_weight=w, kw=_CONVERGED),
                 _fit(X, np.repeat(y, w), kw=_CONVERGED)]
    _assert_same_fit(*converged, rtol=1e-6)
    # the weighted log-likelihood uses weights of mean 1: the repeated one times N / sum(w)
    np.testing.assert_allclose(weighted.log_likelihood_,
                               repeated.log_likelihood_ * len(y) / w.sum(), rtol=1e-9)


@pytest.mark.parametrize("scale", [1e-300, 1e300, 7.0])
def test_uniform_scale_of_weights_changes_nothing(items, scale):
    X, y, w = items
    unit = _fit(X, y)
    scaled = _fit(X, y, sample_weight=np.full(len(y), scale))
    np.testing.assert_array_equal(scaled.coefs_, unit.coefs_)
    np.testing.assert_array_equal(scaled.weights_, unit.weights_)
    _assert_same_fit(_fit(X, y, sample_weight=scale * (w + 0.5)),
                     _fit(X, y, sample_weight=w + 0.5), rtol=1e-11)


def test_count_weights_multiply_counts(items):
    X, y, _ = items
    counts = np.bincount(y, minlength=len(X)).astype(float)
    item_w = np.random.default_rng(1).uniform(0, 3, len(X))
    a = _fit(X, counts=counts, sample_weight=item_w)
    b = _fit(X, counts=counts * item_w)
    _assert_same_fit(a, b, rtol=1e-11)
    # the weighted counts keep the total of the counts: the same log-likelihood scale
    np.testing.assert_allclose(a.log_likelihood_, b.log_likelihood_ * counts.sum()
                               / (counts * item_w).sum(), rtol=1e-9)


def test_choice_situation_weights_equal_repeated_rows_from_one_start():
    F, y, _, _, _ = make_panel_data(40, 3, 4, 2, 2, seed=5)
    w = np.random.default_rng(2).integers(1, 4, size=len(y))
    weighted, _ = standardise(as_choice_sets(F, y, None, w))
    repeated, _ = standardise(as_choice_sets(np.repeat(F, w, axis=0), np.repeat(y, w), None))
    start_w, start_t = np.array([0.5, 0.5]), np.array([[1.0, -0.5], [-1.0, 0.5]])
    a = fit_em(weighted, start_w, start_t, max_iter=40, tol=0.0)
    b = fit_em(repeated, start_w, start_t, max_iter=40, tol=0.0)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-9)


def test_panel_weight_is_the_group_repeated_under_a_new_label():
    F, y, g, _, _ = make_panel_data(30, 4, 3, 2, 2, seed=6)
    gw = np.random.default_rng(3).integers(1, 3, size=30)
    w = gw[g]
    weighted, _ = standardise(as_choice_sets(F, y, g, w))
    # group k repeated gw[k] times, each copy with its own label
    idx = np.concatenate([np.flatnonzero(g == k) for k in range(30) for _ in range(gw[k])])
    labels = np.concatenate([np.full(4, c) for c in range(int(gw.sum()))])
    repeated, _ = standardise(as_choice_sets(F[idx], y[idx], labels))
    start_w, start_t = np.array([0.5, 0.5]), np.array([[1.0, -0.5], [-1.0, 0.5]])
    a = fit_em(weighted, start_w, start_t, max_iter=40, tol=0.0)
    b = fit_em(repeated, start_w, start_t, max_iter=40, tol=0.0)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-9)


def test_panel_weights_must_be_constant_within_groups():
    F, y, g, _, _ = make_panel_data(10, 3, 3, 2, 2, seed=7)
    w = np.ones(len(y))
    w[0] = 2.0
    with pytest.raises(DataError, match="constant within each group"):
        SoftmaxMixture(2, init="random").fit(F, y, groups=g, sample_weight=w)
    # constant within groups: a uniform scale changes nothing
    gw = np.arange(1, 11, dtype=float)[g]
    a = _fit(F, y, groups=g, sample_weight=gw)
    b = _fit(F, y, groups=g, sample_weight=1e300 * gw)
    _assert_same_fit(a, b, rtol=1e-11)


def test_score_bic_aic_take_weights(items):
    X, y, w = items
    model = _fit(X, y, sample_weight=w)
    # score: weighted mean log-likelihood, equal to the mean over the repeated choices
    np.testing.assert_allclose(model.score(X, y, sample_weight=w), model.score(X, np.repeat(y, w)),
                               rtol=1e-12)
    loglik = model.log_likelihood(X, y, sample_weight=w)
    np.testing.assert_allclose(loglik, model.log_likelihood_, rtol=1e-9)
    n_par = 2 * 2 + 1
    np.testing.assert_allclose(model.bic(X, y, sample_weight=w),
                               -2 * loglik + n_par * np.log(len(y)), rtol=1e-12)
    np.testing.assert_allclose(model.aic(X, y, sample_weight=w), -2 * loglik + 2 * n_par,
                               rtol=1e-12)
    for method in (model.score, model.bic, model.aic):
        np.testing.assert_allclose(method(X, y, sample_weight=1e-300 * w),
                                   method(X, y, sample_weight=w), rtol=1e-12)
        assert method(X, y, sample_weight=np.ones(len(y))) == method(X, y)


def test_zero_weight_groups_drop_out_of_the_panel_fit():
    F, y, g, _, _ = make_panel_data(60, 4, 4, 2, 2, seed=8)
    w = np.where(g % 3 == 0, 0.0, 1.0)
    kw = dict(init="random", n_init=3, tol=1e-12, max_iter=2000, random_state=0)
    a = SoftmaxMixture(2, **kw).fit(F, y, groups=g, sample_weight=w)
    b = SoftmaxMixture(2, **kw).fit(F[w > 0], y[w > 0], groups=g[w > 0])
    # group weights of mean 1 over the 60 groups: 1.5 for each of the 40 kept groups
    np.testing.assert_allclose(a.log_likelihood_, 1.5 * b.log_likelihood_, rtol=1e-7)
    assert np.abs(b.coefs_).max() < 10
    order = np.argsort(a.coefs_[:, 0]), np.argsort(b.coefs_[:, 0])
    np.testing.assert_allclose(a.coefs_[order[0]], b.coefs_[order[1]], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.weights_[order[0]], b.weights_[order[1]], rtol=1e-5)


@pytest.mark.parametrize("weights, match", [
    (np.ones(3), "shape"),
    (-np.ones(400), "non-negative"),
    (np.full(400, np.nan), "NaN"),
    (np.zeros(400), "sums to zero"),
    ("heavy", "numeric"),
])
def test_bad_weights_are_data_errors(items, weights, match):
    X, y, _ = items
    with pytest.raises(DataError, match=match):
        SoftmaxMixture(2, init="random").fit(X, y, sample_weight=weights)


def test_weights_on_too_few_units_and_chunked_choices(items):
    X, y, _ = items
    one = np.zeros(len(y))
    one[5] = 1.0
    with pytest.raises(DataError, match="1 chosen item"):
        SoftmaxMixture(2, init="random").fit(X, y, sample_weight=one)
    model = SoftmaxMixture(1, init="random").fit(X, y, sample_weight=one)
    assert np.all(np.isfinite(model.coefs_)) and model.weights_.tolist() == [1.0]
    with pytest.raises(DataError, match="chunks"):
        SoftmaxMixture(2).fit(X, [y[:100], y[100:]], sample_weight=np.ones(len(y)))
    counts = np.bincount(y, minlength=len(X)).astype(float)
    with pytest.raises(DataError, match="weights are 0"):
        SoftmaxMixture(2).fit(X, counts=counts, sample_weight=(counts == 0).astype(float))


@pytest.mark.filterwarnings("ignore::momix.exceptions.ConvergenceWarning")
def test_fit_predict_labels_observations(items):
    X, y, w = items
    labels = SoftmaxMixture(2, **_KW).fit_predict(X, y, sample_weight=w)
    np.testing.assert_array_equal(labels, _fit(X, y, sample_weight=w).predict(X, y))
    F, yc, g, _, _ = make_panel_data(20, 3, 3, 2, 2, seed=9)
    labels = SoftmaxMixture(2, **_KW).fit_predict(F, yc, groups=g)
    assert labels.shape == (60,) and set(labels) <= {0, 1}
    assert all(len(set(labels[g == k])) == 1 for k in range(20))
    with pytest.raises(DataError, match="counts"):
        SoftmaxMixture(2).fit_predict(X, counts=np.bincount(y, minlength=len(X)))
