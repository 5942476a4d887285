"""SoftmaxMixture: layouts, equivalences, recovery, API and bad input."""

import warnings

import numpy as np
import pytest
from softmax_testdata import make_item_data, make_panel_data

from momix import SoftmaxMixture
from momix.exceptions import ConvergenceWarning, DataError
from momix.metrics import parameter_error
from momix.softmax import MomentStartWarning


def test_choices_and_counts_give_identical_fits():
    X, y, w, t = make_item_data(2000, 2, 2, 20_000, seed=0)
    a = SoftmaxMixture(2, random_state=0).fit(X, y)
    b = SoftmaxMixture(2, random_state=0).fit(X, counts=np.bincount(y, minlength=len(X)))
    np.testing.assert_array_equal(a.coefs_, b.coefs_)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    assert a.n_iter_ == b.n_iter_ and a.log_likelihood_ == b.log_likelihood_
    np.testing.assert_allclose(a.score(X, y), b.score(X, counts=np.bincount(y, minlength=len(X))))


def test_recovers_separated_item_set_mixture():
    """Spec test 9: p=5000, N=5e4, K=L=2 -> Err_theta < 0.05, Err_alpha < 0.02."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5000, 2))
    theta, w = np.array([[1.5, 0.5], [-1.0, 1.0]]), np.array([0.4, 0.6])
    y, _ = SoftmaxMixture(2).set_fitted(w, theta, X).sample(50_000, random_state=4)
    model = SoftmaxMixture(2, random_state=0).fit(X, y)
    assert model.init_used_ == "moments" and model.converged_
    err = parameter_error(theta, model.coefs_, relative=False)
    assert err.value < 0.05
    np.testing.assert_allclose(model.weights_[err.permutation], w, atol=0.02)
    assert np.all(np.diff(model.log_likelihood_path_) >= -1e-9 * abs(model.log_likelihood_))


def test_panel_fit_with_groups_recovers_classes():
    F, y, g, w, t = make_panel_data(300, 10, 4, 3, 2, seed=2)
    with pytest.warns(MomentStartWarning, match="fixed item set"):
        model = SoftmaxMixture(2, n_init=4, random_state=0).fit(F, y, groups=g)
    assert model.init_used_ == "random"
    assert parameter_error(t, model.coefs_, relative=False).value < 0.5
    post = model.predict_proba(F, y, groups=g)
    assert post.shape == (len(y), 2)
    for gid in np.unique(g)[:5]:
        rows = post[g == gid]
        np.testing.assert_allclose(rows, np.broadcast_to(rows[0], rows.shape))
    np.testing.assert_allclose(post.sum(axis=1), 1.0)


def test_same_seed_same_fit_and_relabelling_invariance():
    X, y, w, t = make_item_data(1500, 2, 2, 10_000, seed=5)
    a = SoftmaxMixture(2, init="random", n_init=2, random_state=7).fit(X, y)
    b = SoftmaxMixture(2, init="random", n_init=2, random_state=7).fit(X, y)
    np.testing.assert_array_equal(a.coefs_, b.coefs_)
    swapped = SoftmaxMixture(2).set_fitted(a.weights_[::-1], a.coefs_[::-1], X)
    np.testing.assert_allclose(swapped.score(X, y), a.score(X, y), rtol=1e-12)
    err = parameter_error(t, a.coefs_, relative=False)
    err_swapped = parameter_error(t[::-1], a.coefs_, relative=False)
    assert err.value == pytest.approx(err_swapped.value)


def test_methods_shapes_and_consistency():
    X, y, w, t = make_item_data(1000, 3, 2, 5000, seed=6)
    m = SoftmaxMixture(2, init="random", random_state=0).fit(X, y)
    probs = m.choice_probabilities(X)
    assert probs.shape == (1000,)
    np.testing.assert_allclose(probs.sum(), 1.0)
    np.testing.assert_allclose(m.score_samples(X, y), np.log(probs[y]), rtol=1e-10)
    np.testing.assert_allclose(m.score(X, y) * len(y), m.log_likelihood_, rtol=1e-10)
    k = m._n_parameters()
    assert k == 2 * 3 + 1
    np.testing.assert_allclose(m.bic(X, y), -2 * m.log_likelihood_ + k * np.log(len(y)))
    np.testing.assert_allclose(m.aic(X, y), -2 * m.log_likelihood_ + 2 * k)
    assert m.predict(X, y).shape == (len(y),)
    choices, labels = m.sample(50, random_state=1)
    assert choices.shape == labels.shape == (50,) and choices.max() < 1000
    F = np.random.default_rng(0).standard_normal((7, 4, 3))
    np.testing.assert_allclose(m.choice_probabilities(F).sum(axis=1), 1.0)
    choices, labels = m.sample(X=F, groups=[0, 0, 1, 1, 1, 2, 2])
    assert choices.shape == (7,) and labels[0] == labels[1]


def test_fixed_gradient_step_matches_newton_optimum():
    X, y, w, t = make_item_data(2000, 2, 2, 20_000, seed=8)
    a = SoftmaxMixture(2, random_state=0, tol=1e-10, max_iter=2000).fit(X, y)
    b = SoftmaxMixture(2, random_state=0, step_size=1.0, tol=1e-10, max_iter=2000).fit(X, y)
    np.testing.assert_allclose(a.log_likelihood_, b.log_likelihood_, rtol=1e-7)


@pytest.mark.filterwarnings("ignore::momix.exceptions.ConvergenceWarning")
def test_moment_start_skipped_with_warning_on_non_gaussian_items():
    rng = np.random.default_rng(9)
    X = rng.binomial(1, 0.2, (500, 2)).astype(float) + rng.normal(0, 0.01, (500, 2))
    y = rng.integers(0, 500, 2000)
    with pytest.warns(MomentStartWarning, match="Gaussian"):
        m = SoftmaxMixture(2, random_state=0, max_iter=50).fit(X, y)
    assert m.init_used_ == "random"


def test_not_converged_warns_and_names_the_knob():
    X, y, w, t = make_item_data(500, 2, 2, 3000, seed=1)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        m = SoftmaxMixture(2, init="random", max_iter=2, tol=0.0, random_state=0).fit(X, y)
    assert not m.converged_ and m.n_iter_ == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "requires y to be passed"),
        ({"y": [0, 1], "counts": np.ones(30)}, "not both"),
        ({"y": [0, 30]}, "outside"),
        ({"y": [0.5, 1]}, "integer"),
        ({"counts": -np.ones(30)}, "non-negative"),
        ({"counts": np.ones(29)}, "expected \\(30,\\)"),
        ({"y": [0, 1], "groups": [0, 0]}, "groups apply"),
    ],
)
def test_bad_item_set_input(kwargs, match):
    X = np.random.default_rng(0).standard_normal((30, 2))
    with pytest.raises(DataError, match=match):
        SoftmaxMixture(2, init="random").fit(X, **kwargs)


def test_bad_choice_set_input():
    F = np.random.default_rng(0).standard_normal((10, 3, 2))
    y = np.zeros(10, dtype=int)
    with pytest.raises(DataError, match="counts apply"):
        SoftmaxMixture(2).fit(F, y, counts=np.ones(3))
    with pytest.raises(DataError, match="10 choice situations"):
        SoftmaxMixture(2).fit(F, y[:5])
    with pytest.raises(DataError, match="groups has shape"):
        SoftmaxMixture(2).fit(F, y, groups=[1, 2])
    const = F.copy()
    const[:, :, 1] = 3.0  # constant within each situation: not identified
    with pytest.raises(DataError, match="not identified"):
        SoftmaxMixture(2, init="random").fit(const, y)
    with pytest.raises(ValueError, match="NaN|infinity"):
        SoftmaxMixture(2).fit(np.where(F > 1, np.nan, F), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = SoftmaxMixture(2, init="random", max_iter=5).fit(F, y)
    with pytest.raises(DataError, match="features per alternative"):
        m.predict_proba(np.zeros((10, 3, 4)), y)


def test_single_feature_uses_sphere_directions_and_recovers():
    """Spec test 12: K > L (here L = 1) skips the subspace step; lifting still works."""
    rng = np.random.default_rng(12)
    X = rng.standard_normal((4000, 1))
    theta, w = np.array([[1.3], [-0.9]]), np.array([0.5, 0.5])
    y, _ = SoftmaxMixture(2).set_fitted(w, theta, X).sample(60_000, random_state=2)
    model = SoftmaxMixture(2, random_state=0).fit(X, y)
    assert model.init_used_ == "moments"
    assert parameter_error(theta, model.coefs_, relative=False).value < 0.1
