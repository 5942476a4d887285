"""The damped Newton direction of the softmax-mixture M-step on singular and nearly singular
Hessians: a class without weight, collinear or constant features, probabilities concentrated
on one alternative, and a Hessian at the edge of singularity."""

import warnings

import numpy as np
import pytest

from momix import SoftmaxMixture
from momix.softmax._data import as_choice_sets, standardise
from momix.softmax._em import (
    DAMPING,
    MAX_UTILITY_STEP,
    _directions,
    class_gradients,
    class_objectives,
    m_step_theta,
    reference_curvature,
)
from momix.softmax._model import ItemSetData, e_step, situation_radius, situation_spread
from momix.softmax._smem import split_directions


def _item_problem(X, counts, weights, theta):
    data = ItemSetData(np.asarray(X, float), np.asarray(counts, float))
    est = e_step(data, np.asarray(weights, float), np.asarray(theta, float))
    F = data.situations
    grad, neg_h = class_gradients(F, est.chosen_sums, est.situation_weights, theta,
                                  hessian=True)
    ref = reference_curvature(situation_spread(F), est.situation_weights)
    return data, est, grad, neg_h, ref


def test_hessian_is_a_gram_matrix_when_a_class_concentrates_on_one_item():
    # class 0 puts probability 1 - 1e-100 on item 0: the raw-moment form E[xx'] - mm' of the
    # Hessian cancels to rounding noise of either sign there (an indefinite, singular matrix)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 2))
    X[0] = [5.0, 5.0]
    theta = np.array([10 * X[0], [0.3, -0.2]])
    _, est, grad, neg_h, ref = _item_problem(X, [5, 1, 0, 2, 3, 4], [0.5, 0.5], theta)
    for k in range(2):
        np.testing.assert_array_equal(neg_h[k], neg_h[k].T)
        assert np.linalg.eigvalsh(neg_h[k])[0] >= -1e-12 * max(np.abs(neg_h[k]).max(), 1e-300)
    assert np.abs(neg_h[0]).max() < 1e-50 * np.abs(neg_h[1]).max()
    d = _directions(grad, neg_h, est.situation_weights.sum(axis=0), "auto", ref)
    assert np.all(np.isfinite(d))
    slope = np.einsum("kl,kl->k", grad, d)
    assert np.all(slope[grad.any(axis=1)] > 0) and np.all(d[~grad.any(axis=1)] == 0)


def test_class_without_weight_gets_no_step():
    X = np.random.default_rng(1).standard_normal((5, 3))
    theta = np.array([[0.5, 0.1, -0.3], [1.0, -1.0, 0.2]])
    data, est, grad, neg_h, ref = _item_problem(X, [3, 1, 2, 0, 4], [1.0, 0.0], theta)
    assert np.all(neg_h[1] == 0) and np.all(grad[1] == 0) and ref[1] == 0
    d = _directions(grad, neg_h, est.situation_weights.sum(axis=0), "auto", ref)
    np.testing.assert_array_equal(d[1], 0.0)
    new = m_step_theta(est, data.situations, theta, "auto")
    np.testing.assert_array_equal(new[1], theta[1])
    assert np.all(np.isfinite(new))


@pytest.mark.parametrize("column", ["duplicate", "constant", "zero"])
def test_exactly_singular_hessian_gives_a_finite_ascent_step(column):
    rng = np.random.default_rng(2)
    a = rng.standard_normal(7)
    second = {"duplicate": a, "constant": np.full(7, 3.0), "zero": np.zeros(7)}[column]
    X = np.column_stack([a, second])
    theta = np.array([[0.4, 0.0], [-0.7, 0.0]])
    data, est, grad, neg_h, ref = _item_problem(X, [4, 1, 0, 2, 5, 1, 3], [0.6, 0.4], theta)
    for k in range(2):
        assert np.linalg.matrix_rank(neg_h[k]) == 1
    d = _directions(grad, neg_h, est.situation_weights.sum(axis=0), "auto", ref)
    assert np.all(np.isfinite(d))
    new = m_step_theta(est, data.situations, theta, "auto")
    q0 = class_objectives(data.situations, est.chosen_sums, est.situation_weights, theta)
    q1 = class_objectives(data.situations, est.chosen_sums, est.situation_weights, new)
    assert np.all(q1 >= q0) and np.all(q1 > q0 + 1e-6)


def test_well_conditioned_direction_is_the_newton_step():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    theta = rng.standard_normal((2, 3))
    _, est, grad, neg_h, ref = _item_problem(X, rng.integers(0, 9, 40), [0.3, 0.7], theta)
    d = _directions(grad, neg_h, est.situation_weights.sum(axis=0), "auto", ref)
    newton = np.linalg.solve(neg_h, grad[..., None])[..., 0]
    cond = np.linalg.cond(neg_h).max()
    np.testing.assert_allclose(d, newton, rtol=10 * DAMPING * cond)


def test_direction_is_continuous_across_the_edge_of_singularity():
    # a rank-1 Hessian plus 0, a denormal, and a perturbation far below the damping: a solve
    # that is singular on one LAPACK and barely regular on another gives nearly one direction
    v = np.array([[1.0, 2.0, -1.0]]) / np.sqrt(6)
    grad = np.array([[0.3, -0.1, 0.5]])
    ref = np.array([2.0])
    dirs = []
    for eps in [0.0, 1e-310, 1e-14, -1e-14]:
        neg_h = (5.0 * v.T @ v + eps * np.eye(3))[None]
        dirs.append(_directions(grad, neg_h, np.ones(1), "auto", ref))
    for d in dirs:
        assert np.all(np.isfinite(d))
        np.testing.assert_allclose(d, dirs[0], rtol=1e-5)
    # along the null space of the Hessian the step is grad / mu
    null = grad[0] - (grad[0] @ v[0]) * v[0]
    mu = DAMPING * 5.0
    np.testing.assert_allclose(dirs[0][0] - (dirs[0][0] @ v[0]) * v[0], null / mu, rtol=1e-8)


def test_nearly_collinear_features_fit_finitely():
    rng = np.random.default_rng(4)
    a = rng.standard_normal(300)
    X = np.column_stack([a, a + 1e-4 * rng.standard_normal(300), rng.standard_normal(300)])
    y = rng.integers(0, 300, 2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SoftmaxMixture(2, init="random", max_iter=50, random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.coefs_)) and np.isfinite(model.log_likelihood_)
    assert np.all(np.diff(model.log_likelihood_path_) >= -1e-9 * abs(model.log_likelihood_))


def test_fit_where_a_class_concentrates_on_one_item_is_finite():
    # item 0 is chosen by half the observations: one class drifts to a spike on it (its
    # Hessian vanishes); EM stays finite and monotone
    rng = np.random.default_rng(5)
    X = rng.standard_normal((10, 2))
    y = np.concatenate([np.zeros(50, int), rng.integers(1, 10, 50)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SoftmaxMixture(2, init="random", max_iter=200, random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.coefs_)) and np.isfinite(model.log_likelihood_)
    assert np.all(np.diff(model.log_likelihood_path_) >= -1e-9 * abs(model.log_likelihood_))
    np.testing.assert_allclose(model.weights_.sum(), 1.0)


def test_steps_move_no_utility_by_more_than_the_trust_region():
    # a class that always picks item 0 has an objective rising without bound along x_0:
    # the gradient step with a huge eta, and the damped Newton step, are cut to 50 nats
    rng = np.random.default_rng(6)
    X = rng.standard_normal((8, 2))
    data = ItemSetData(X, np.r_[30.0, np.zeros(7)])
    theta = np.array([[0.1, -0.2]])
    est = e_step(data, np.ones(1), theta)
    centred = X - X.mean(axis=0)
    for step_size in ["auto", 1e12]:
        new = m_step_theta(est, data.situations, theta, step_size)
        moved = np.abs(centred @ (new - theta)[0]).max()
        assert 1.0 < moved <= MAX_UTILITY_STEP * (1 + 1e-12)
        assert np.linalg.norm(new - theta) * situation_radius(data.situations) <= 50 * (1 + 1e-12)


def test_saturating_classes_keep_coefficients_bounded_under_squarem_and_split_merge():
    # 15 classes on 60 binary choices separate the data: the likelihood rises towards its
    # supremum as coefficients grow; SQUAREM extrapolations and split moves are bounded too
    rng = np.random.default_rng(0)
    F = rng.standard_normal((60, 2, 3))
    y = rng.integers(0, 2, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SoftmaxMixture(15, random_state=0).fit(F, y)
    assert model.n_split_merge_ > 0
    assert np.abs(model.coefs_).max() < 1e4  # the unbounded steps reached 1e51
    data, scale = standardise(as_choice_sets(F, y, None))
    sd = split_directions(data, model.weights_, model.coefs_ * scale)
    assert np.all(np.linalg.norm(sd.shift, axis=1) * data.radius <= 50 * (1 + 1e-12))


def test_non_finite_statistics_give_no_step_instead_of_a_lapack_error():
    grad = np.array([[0.3, -0.1], [np.nan, 1.0]])
    neg_h = np.array([np.eye(2), [[np.inf, 0.0], [0.0, 1.0]]])
    d = _directions(grad, neg_h, np.ones(2), "auto", np.ones(2))
    np.testing.assert_array_equal(d[1], 0.0)
    np.testing.assert_allclose(d[0], grad[0] / (1 + DAMPING))
