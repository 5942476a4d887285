"""Moment polish (Gauss-Newton on the moment equations) and the 3-view categorical EM."""

import numpy as np
import pytest

from momix.datasets import make_gaussian_mixture, make_multiview_mixture
from momix.polymom import GaussianDiagonal, GaussianSpherical, MultiView, Polymom
from momix.polymom._em import (
    _simplex_projection,
    categorical_view_start,
    gaussian_em,
    multiview_em,
    multiview_log_prob,
)
from momix.polymom._fit import build_problem
from momix.polymom._moments import empirical_system, mapping_system
from momix.polymom._polish import _monomial_jacobian, _Objective, polish_atoms


def _problem(model, Z, k, weighting="variance"):
    return build_problem(model, empirical_system(model, Z, np.ones(len(Z))), k, None, weighting)


@pytest.mark.parametrize("penalty", [0.0, 0.1])
def test_polish_jacobian_matches_finite_differences(penalty):
    model = GaussianDiagonal(2, order=3, mean_sum=1.0)
    X = make_gaussian_mixture(2000, 2, 2, "constrained", random_state=1).X
    obj = _Objective(_problem(model, X, 2), 2, model.n_params, penalty)
    rng = np.random.default_rng(0)
    x = np.concatenate([[0.3, 0.6], rng.normal(size=2 * model.n_params)])
    J = obj.jacobian(x)
    h = 1e-6
    fd = np.column_stack(
        [(obj.residual(x + h * e) - obj.residual(x - h * e)) / (2 * h) for e in np.eye(len(x))]
    )
    np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-5 * np.abs(fd).max())


def test_monomial_jacobian_of_a_cubic():
    theta = np.array([[2.0, 3.0]])
    exps = np.array([[2, 1], [0, 0], [0, 3]])
    np.testing.assert_allclose(
        _monomial_jacobian(theta, exps)[0], [[2 * 2 * 3, 4], [0, 0], [0, 27]]
    )


def test_polish_keeps_exact_solution_and_recovers_perturbed_atoms():
    model = GaussianDiagonal(2, order=4)
    params = np.array([[0.0, 1.0, 1.0, 2.0], [2.0, -1.0, 0.5, 1.0]])
    w = np.array([0.4, 0.6])
    system = mapping_system(model, model.population_moments(w, params))
    problem = build_problem(model, system, 2)
    exact = polish_atoms(problem, params, w)
    assert exact.objective <= exact.start_objective < 1e-20
    start = params + 0.05 * np.random.default_rng(0).normal(size=params.shape)
    res = polish_atoms(problem, start, np.array([0.45, 0.55]))
    assert res.objective < 1e-12 < res.start_objective
    np.testing.assert_allclose(res.params, params, atol=1e-5)
    np.testing.assert_allclose(res.weights, w, atol=1e-5)


def test_polish_respects_constraints_and_lowers_residual():
    model = GaussianDiagonal(2, order=3, mean_sum=1.0)
    X = make_gaussian_mixture(5000, 2, 2, "constrained", random_state=3).X
    raw = Polymom(model, 2, polish=False, random_state=0).fit(X)
    est = Polymom(model, 2, random_state=0).fit(X)
    np.testing.assert_allclose(est.params_[:, :2].sum(axis=1), 1.0, atol=1e-6)
    assert np.all(est.params_[:, 2:] >= 0)
    obj = _Objective(_problem(model, X, 2), 2, model.n_params, est.penalty)

    def value(e):
        return np.sum(obj.residual(np.concatenate([e.weights_, e.params_.ravel()])) ** 2)

    assert value(est) <= value(raw) + 1e-9
    assert est.polished_ in (True, False)


def test_simplex_projection_and_start():
    V = np.array([[39.0, -73.0, -3.0], [0.2, 0.3, 0.5], [0.5, 0.5, 0.5]])
    P = _simplex_projection(V)
    np.testing.assert_allclose(P, [[1, 0, 0], [0.2, 0.3, 0.5], [1 / 3] * 3], atol=1e-12)
    start = categorical_view_start(np.repeat(V[:, None], 3, axis=1), np.random.default_rng(0))
    assert np.all(start > 0)
    np.testing.assert_allclose(start.sum(axis=2), 1.0)


def test_multiview_log_prob_of_one_hot_views():
    views = np.zeros((3, 2, 2))
    views[:, 0, 0] = 1  # sample 0: category 0 in all three views
    views[:, 1, 1] = 1
    means = np.array([[[0.25, 0.75]] * 3])
    np.testing.assert_allclose(
        multiview_log_prob(views, means)[:, 0], [3 * np.log(0.25), 3 * np.log(0.75)]
    )


@pytest.mark.parametrize("symmetric", [True, False])
def test_multiview_em_is_monotone(symmetric):
    data = make_multiview_mixture(3000, 3, 2, symmetric=symmetric, random_state=0)
    rng = np.random.default_rng(1)
    start = rng.dirichlet(np.ones(3), size=(2, 3))
    if symmetric:
        start = np.repeat(start[:, :1], 3, axis=1)
    means, w, hist, n_iter, _ = multiview_em(
        data.views,
        start,
        np.array([0.5, 0.5]),
        sample_weight=np.ones(3000),
        symmetric=symmetric,
        max_iter=50,
    )
    assert np.all(np.diff(hist) >= -1e-12) and n_iter >= 1
    np.testing.assert_allclose(means.sum(axis=2), 1.0)
    if symmetric:
        np.testing.assert_allclose(means[:, 0], means[:, 2])


def test_polymom_refine_em_on_three_views():
    data = make_multiview_mixture(
        20000,
        3,
        3,
        means=[[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]],
        weights=[0.3, 0.3, 0.4],
        random_state=0,
    )
    Z = np.hstack(list(data.views))
    model = MultiView(3, symmetric=True, simplex=True)
    est = Polymom(model, 3, refine="em", random_state=0).fit(Z)
    order = np.argsort(est.params_.argmax(axis=1))
    np.testing.assert_allclose(est.params_[order], data.means[0], atol=0.03)
    np.testing.assert_allclose(est.weights_[order], [0.3, 0.3, 0.4], atol=0.03)
    with pytest.raises(ValueError, match="simplex=True"):
        Polymom(MultiView(3, symmetric=True), 3, refine="em").fit(Z)
    with pytest.raises(ValueError, match="one-hot"):
        Polymom(model, 3, refine="em").fit(Z * 2.0)


def test_fit_is_stable_under_rounding_level_perturbation():
    """A 1e-15 relative perturbation of the data moves the parameters by rounding only (the
    Clarabel stalls that sent solves to SCS made this 4e-3 before)."""
    X = make_gaussian_mixture(10000, 2, 2, "diagonal", random_state=1).X
    Xp = X * (1 + 1e-15 * np.random.default_rng(1).standard_normal(X.shape))
    a, b = (Polymom(GaussianDiagonal(2, 4), 2, random_state=0).fit(Z) for Z in (X, Xp))
    assert a.solver_ == b.solver_ == "CLARABEL"
    np.testing.assert_allclose(np.sort(a.params_, axis=0), np.sort(b.params_, axis=0), atol=1e-7)


@pytest.mark.filterwarnings("ignore::momix.exceptions.ConvergenceWarning")
def test_custom_two_uniforms_from_data():
    """A model that is not built in: x ~ U[a, b], moments derived by sympy integration."""
    import sympy as sp

    from momix.polymom import ComponentModel

    a, b, x = sp.symbols("a b x")
    obs = {x**n: sp.cancel(sp.integrate(x**n, (x, a, b)) / (b - a)) for n in range(1, 7)}
    model = ComponentModel((a, b), (x,), obs, inequalities=[b - a])
    rng = np.random.default_rng(0)
    z = rng.choice(2, 20000, p=[0.4, 0.6])
    X = rng.uniform(np.array([0.0, 2.0])[z], np.array([1.5, 5.0])[z])[:, None]
    # custom models are fitted in the data's units: standardise (the uniform family is closed
    # under x' = (x - m) / s, with a' = (a - m) / s, b' = (b - m) / s) and map back
    m, s = X.mean(), X.std()
    est = Polymom(model, 2, random_state=0).fit((X - m) / s)
    params = m + s * est.params_
    order = np.argsort(params[:, 0])
    np.testing.assert_allclose(params[order], [[0.0, 1.5], [2.0, 5.0]], atol=0.1)
    np.testing.assert_allclose(est.weights_[order], [0.4, 0.6], atol=0.02)


# ------------------------------------------------------------- Gaussian EM under constraints


def _two_gaussians(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack(
        [
            rng.normal([0.0, 1.0], [1.0, 0.7], (n // 2, 2)),
            rng.normal([1.0, 0.0], [0.8, 1.2], (n - n // 2, 2)),
        ]
    )
    return X, np.array([[0.1, 0.8], [0.9, 0.2]]), np.ones((2, 2)), np.array([0.5, 0.5])


@pytest.mark.parametrize("covariance", ["diag", "spherical", "shared"])
@pytest.mark.parametrize("mean_sum", [None, 1.0])
def test_gaussian_em_is_monotone_and_keeps_the_constraints(covariance, mean_sum):
    X, means, var, w = _two_gaussians()
    res = gaussian_em(
        X,
        means,
        var,
        w,
        sample_weight=np.ones(len(X)),
        covariance=covariance,
        mean_sum=mean_sum,
        max_iter=200,
        tol=1e-10,
    )
    assert np.all(np.diff(res.log_likelihood) > -1e-12)
    assert res.log_likelihood[-1] > res.log_likelihood[0] + 0.01
    if mean_sum is not None:
        np.testing.assert_allclose(res.means.sum(axis=1), mean_sum, atol=1e-12)
    if covariance != "diag":
        np.testing.assert_allclose(res.variances, res.variances[:, :1] * np.ones((1, 2)))
    if covariance == "shared":
        np.testing.assert_allclose(res.variances, res.variances[0, 0])


def test_gaussian_em_matches_scikit_learn_without_constraints():
    from sklearn.mixture import GaussianMixture

    X, means, var, w = _two_gaussians()
    res = gaussian_em(
        X, means, var, w, sample_weight=np.ones(len(X)), max_iter=2000, tol=1e-12, reg_covar=1e-6
    )
    gm = GaussianMixture(
        2,
        covariance_type="diag",
        weights_init=w,
        means_init=means,
        precisions_init=1 / var,
        max_iter=2000,
        tol=1e-12,
        reg_covar=1e-6,
    ).fit(X)
    np.testing.assert_allclose(res.means, gm.means_, atol=1e-5)
    np.testing.assert_allclose(res.variances, gm.covariances_, atol=1e-5)
    np.testing.assert_allclose(res.weights, gm.weights_, atol=1e-5)


def test_gaussian_em_constrained_mean_step_is_the_constrained_maximiser():
    """One step from the start: the mean maximises the expected complete log-likelihood
    on the hyperplane (compare with a brute-force search along the hyperplane)."""
    X, means, var, w = _two_gaussians()
    res = gaussian_em(X, means, var, w, sample_weight=np.ones(len(X)), mean_sum=1.0, max_iter=1)
    logp = np.log(w) - 0.5 * (((X[:, None] - means) ** 2 / var).sum(2) + np.log(var).sum(1))
    r = np.exp(logp - np.logaddexp.reduce(logp, axis=1, keepdims=True))
    for k in range(2):
        t = np.linspace(-1, 2, 30001)  # means (t, 1 - t)
        q = [-(r[:, k] * (((X - [a, 1 - a]) ** 2) / var[k]).sum(1)).sum() for a in t]
        assert abs(t[int(np.argmax(q))] - res.means[k, 0]) < 2e-4


def test_gaussian_em_sample_weights_equal_repeated_rows():
    X, means, var, w = _two_gaussians(400)
    reps = np.random.default_rng(1).integers(1, 4, len(X))
    a = gaussian_em(
        X, means, var, w, sample_weight=reps.astype(float), mean_sum=1.0, max_iter=50, tol=0
    )
    b = gaussian_em(
        np.repeat(X, reps, axis=0),
        means,
        var,
        w,
        sample_weight=np.ones(reps.sum()),
        mean_sum=1.0,
        max_iter=50,
        tol=0,
    )
    np.testing.assert_allclose(a.means, b.means, atol=1e-10)
    np.testing.assert_allclose(a.variances, b.variances, atol=1e-10)


def test_refine_em_keeps_the_models_constraints():
    """refine='em' fits the model the moments fitted: means on the hyperplane, one shared
    variance (refined into constants_), sample weights used."""
    X = make_gaussian_mixture(4000, 2, 2, "constrained", random_state=3).X
    est = Polymom(
        GaussianDiagonal(2, order=3, mean_sum=1.0),
        2,
        refine="em",
        refine_max_iter=2000,
        random_state=0,
    ).fit(X)
    np.testing.assert_allclose(est.means_.sum(axis=1), 1.0, atol=1e-10)
    assert est.params_.shape == (2, 4) and est.converged_

    X, *_ = _two_gaussians(4000, seed=2)
    model = GaussianSpherical(2, order=4, shared_variance=True)
    est = Polymom(model, 2, profile={"variance": [0.6, 0.9, 1.2]}, refine="em", random_state=0).fit(
        X
    )
    assert est.params_.shape == (2, 2)
    v = est.constants_["variance"]
    assert v not in (0.6, 0.9, 1.2) and 0.7 < v < 1.3
    np.testing.assert_allclose(est.covariances_, (v + 1e-6) * np.eye(2)[None].repeat(2, 0))
    assert est.model_.constants[0][1] == v

    sw = np.random.default_rng(0).uniform(0.5, 1.5, len(X))
    a = Polymom(GaussianDiagonal(2, order=3), 2, refine="em", random_state=0).fit(
        X, sample_weight=sw
    )
    b = Polymom(GaussianDiagonal(2, order=3), 2, refine="em", random_state=0).fit(X)
    assert not np.allclose(a.means_, b.means_)
