"""LowRankGaussianMixture: recovery, weightings, noise, refinement, API and bad input."""

import warnings

import numpy as np
import pytest

from momix.datasets import make_lowrank_gaussian_mixture
from momix.exceptions import ConvergenceWarning
from momix.lowrank import LowRankGaussianMixture
from momix.lowrank._em import fit_em, mixture_log_likelihood
from momix.lowrank._engine import MixtureParams
from momix.lowrank._init import estimate_noise_variance
from momix.lowrank._solver import (
    MomentData,
    diagonal_objective,
    pack,
    reduce_to_subspace,
    signal_basis,
)
from momix.lowrank._stats import moment_statistics
from momix.lowrank._stein import data_term_from_statistics
from momix.metrics import mixture_errors


def _errors(data, model):
    return mixture_errors(
        data.weights, data.means, data.covariances, model.weights_, model.means_, model.covariances_
    )


def _truth_init(data, scale=0.05, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "weights": data.weights,
        "means": data.means + scale * rng.normal(size=data.means.shape),
        "factors": data.factors + scale * rng.normal(size=data.factors.shape),
    }


@pytest.mark.parametrize("weighting", ["identity", "diagonal", "full"])
def test_recovery_from_near_truth_noiseless(weighting):
    data = make_lowrank_gaussian_mixture(4000, 3, 2, rank=1, mean_norm=2.0, random_state=1)
    model = LowRankGaussianMixture(
        2, 1, weighting=weighting, noise_variance=None, init=_truth_init(data), random_state=0
    )
    model.fit(data.X)
    err = _errors(data, model)
    assert max(err.weights, err.means, err.covariances) < 0.15
    assert model.factors_.shape == (2, 3, 1)
    assert model.noise_variance_ == 0.0 and model.noise_method_ == "none"
    # noiseless: V V^T plus the reg_covar floor, relative to the data's mean variance
    floor = model.reg_covar * np.trace(np.cov(data.X.T, bias=True)) / 3
    np.testing.assert_allclose(
        model.covariances_,
        model.factors_ @ model.factors_.transpose(0, 2, 1) + floor * np.eye(3),
        rtol=1e-10,
        atol=1e-12,
    )


def test_full_weighting_refuses_large_dimension():
    X = np.random.default_rng(0).normal(size=(50, 40))
    with pytest.raises(ValueError, match="weighting='diagonal'"):
        LowRankGaussianMixture(2, 1, weighting="full").fit(X)


def test_subspace_statistics_match_per_sample_objective():
    data = make_lowrank_gaussian_mixture(300, 12, 2, rank=2, noise_variance=0.3, random_state=2)
    full = MomentData.build(data.X, np.ones(300))
    basis = signal_basis(full, 6)
    reduced = reduce_to_subspace(full, basis)
    rng = np.random.default_rng(0)
    small = MixtureParams(
        np.array([0.4, 0.6]), rng.normal(size=(2, 6)), rng.normal(size=(2, 6, 2)), 0.3
    )
    lifted = MixtureParams(
        small.weights, small.means @ basis.T, np.einsum("de,ker->kdr", basis, small.factors), 0.3
    )
    w = np.array([1.0, 0.4, 0.1, 0.03])
    value_full, _ = diagonal_objective(pack(lifted), full, w, lifted.factors.shape, 0.3)
    value_red, grad_red = diagonal_objective(pack(small), reduced, w, small.factors.shape, 0.3)
    with_stats = reduced.with_statistics(4)
    value_stats, grad_stats = diagonal_objective(
        pack(small), with_stats, w, small.factors.shape, 0.3
    )
    np.testing.assert_allclose(value_red, value_full, rtol=1e-10)
    np.testing.assert_allclose(value_stats, value_red, rtol=1e-10)
    np.testing.assert_allclose(grad_stats, grad_red, rtol=1e-8, atol=1e-10 * np.abs(grad_red).max())


def test_statistics_data_term_with_noise_matches_engine():
    from momix.lowrank._engine import data_term

    rng = np.random.default_rng(3)
    params = MixtureParams(
        np.array([0.3, 0.7]), rng.normal(size=(2, 4)), rng.normal(size=(2, 4, 2)), 0.6
    )
    Y = rng.normal(size=(40, 4))
    sq = np.sum(Y * Y, axis=1) + rng.uniform(0, 2, 40)  # ambient norms exceed the subspace norms
    omega = rng.dirichlet(np.ones(40))
    w = np.array([1.0, 0.5, 0.2, 0.05])
    a = data_term(Y, sq, omega, params, w)
    b = data_term_from_statistics(moment_statistics(Y, sq, omega, 4, chunk_size=9), params, w)
    for name in ("b", "grad_weights", "grad_means", "grad_factors"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-10, atol=1e-12)


def test_noise_estimate_from_trailing_spectrum():
    data = make_lowrank_gaussian_mixture(20000, 30, 2, rank=1, noise_variance=0.5, random_state=3)
    est = estimate_noise_variance(data.X, np.full(20000, 1 / 20000), 2, 1)
    assert abs(est - 0.5) < 0.02
    with pytest.raises(ValueError, match="noise_variance"):
        estimate_noise_variance(data.X[:, :3], np.full(20000, 1 / 20000), 2, 1)


def test_em_log_likelihood_monotone_with_subspace_and_noise_estimate():
    data = make_lowrank_gaussian_mixture(3000, 20, 2, rank=2, noise_variance=0.4, random_state=4)
    full = MomentData.build(data.X, np.ones(3000))
    basis = signal_basis(full, 6)
    red = reduce_to_subspace(full, basis)
    resid = red.sqnorm - np.sum(red.X**2, axis=1)
    rng = np.random.default_rng(1)
    init = MixtureParams(
        np.array([0.5, 0.5]), rng.normal(size=(2, 6)), rng.normal(size=(2, 6, 2)), 1.0
    )
    res = fit_em(
        red.X,
        red.omega,
        init,
        estimate_noise=True,
        max_iter=40,
        tol=0.0,
        resid=resid,
        extra_dims=14,
    )
    assert np.all(np.diff(res.log_likelihood) >= -1e-10)
    # the factorised likelihood equals the ambient one for parameters in the subspace
    p = res.params
    lifted = MixtureParams(
        p.weights, p.means @ basis.T, np.einsum("de,ker->kdr", basis, p.factors), p.noise_variance
    )
    np.testing.assert_allclose(
        mixture_log_likelihood(red.X, red.omega, p, resid, 14),
        mixture_log_likelihood(full.X, full.omega, lifted),
        rtol=1e-10,
    )


def test_refine_em_improves_likelihood_and_predicts():
    data = make_lowrank_gaussian_mixture(
        3000, 8, 2, rank=1, noise_variance=0.2, mean_norm=3.0, random_state=5
    )
    base = LowRankGaussianMixture(2, 1, noise_variance="estimate", random_state=0).fit(data.X)
    refined = LowRankGaussianMixture(
        2, 1, noise_variance="estimate", refine="em", random_state=0
    ).fit(data.X)
    assert refined.score(data.X) >= base.score(data.X) - 1e-9
    assert refined.em_n_iter_ >= 1
    assert np.all(np.diff(refined.em_log_likelihood_) >= -1e-10)
    proba = refined.predict_proba(data.X[:10])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    X_new, labels = refined.sample(50, random_state=0)
    assert X_new.shape == (50, 8) and labels.shape == (50,)
    assert np.isfinite(refined.bic(data.X)) and np.isfinite(refined.aic(data.X))


def test_refine_em_rejects_zero_noise():
    X = make_lowrank_gaussian_mixture(200, 4, 2, rank=1, random_state=0).X
    with pytest.raises(ValueError, match="positive noise variance"):
        LowRankGaussianMixture(2, 1, noise_variance=0.0, refine="em").fit(X)


def test_sample_weight_equals_repetition_for_fixed_init():
    data = make_lowrank_gaussian_mixture(400, 4, 2, rank=1, mean_norm=2.0, random_state=6)
    X = data.X[:200]
    counts = np.random.default_rng(0).integers(1, 3, size=200)
    init = _truth_init(data)
    kw = dict(init=init, weighting="diagonal", nystrom="exact", random_state=0)
    a = LowRankGaussianMixture(2, 1, **kw).fit(X, sample_weight=counts)
    b = LowRankGaussianMixture(2, 1, **kw).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(a.means_, b.means_, atol=1e-5)
    np.testing.assert_allclose(a.weights_, b.weights_, atol=1e-5)


def test_determinism_and_n_init():
    X = make_lowrank_gaussian_mixture(1500, 5, 2, rank=1, random_state=7).X
    a = LowRankGaussianMixture(2, 1, n_init=2, init="random", random_state=3).fit(X)
    b = LowRankGaussianMixture(2, 1, n_init=2, init="random", random_state=3).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.moment_weights_.shape == (4,)


def test_bad_input():
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(ValueError, match="rank"):
        LowRankGaussianMixture(2, rank=4).fit(X)
    with pytest.raises(ValueError):
        LowRankGaussianMixture(2, weighting="bogus").fit(X)
    with pytest.raises(ValueError, match="init"):
        LowRankGaussianMixture(2, init={"means": np.zeros((2, 3))}).fit(X)
    with pytest.raises(ValueError, match="shape"):
        LowRankGaussianMixture(
            2, init={"means": np.zeros((3, 3)), "factors": np.zeros((2, 3, 1))}
        ).fit(X)
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        LowRankGaussianMixture(2).fit(X_bad)


def test_non_convergence_warns():
    X = make_lowrank_gaussian_mixture(500, 4, 2, rank=1, random_state=8).X
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        LowRankGaussianMixture(2, 1, weighting="identity", max_iter=1).fit(X)


@pytest.mark.slow
def test_recovery_noiseless_d10_large_sample():
    data = make_lowrank_gaussian_mixture(100_000, 10, 2, rank=2, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LowRankGaussianMixture(2, 2, init=_truth_init(data, 0.1), random_state=0).fit(
            data.X
        )
    err = _errors(data, model)
    assert max(err.weights, err.means, err.covariances) < 0.05


@pytest.mark.slow
def test_dgmm_not_worse_than_mm_low_snr():
    cov_err = {"identity": [], "diagonal": []}
    for seed in range(10):
        data = make_lowrank_gaussian_mixture(
            5000, 10, 2, rank=2, factor_norm=2.0, random_state=seed
        )
        for weighting in cov_err:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = LowRankGaussianMixture(2, 2, weighting=weighting, random_state=seed).fit(
                    data.X
                )
            cov_err[weighting].append(_errors(data, model).covariances)
    assert np.median(cov_err["diagonal"]) <= np.median(cov_err["identity"])


@pytest.mark.parametrize("nystrom", ["model", 150, "exact"])
def test_weight_modes_and_verbose(nystrom, caplog):
    import logging

    data = make_lowrank_gaussian_mixture(
        1500, 6, 2, rank=1, noise_variance=0.1, mean_norm=2.0, random_state=9
    )
    with caplog.at_level(logging.INFO, logger="momix.lowrank"):
        model = LowRankGaussianMixture(
            2,
            1,
            noise_variance="estimate",
            nystrom=nystrom,
            init=_truth_init(data),
            verbose=1,
            random_state=0,
        )
        model.fit(data.X)
    assert any("diagonal solve 1" in r.message for r in caplog.records)
    assert abs(model.noise_variance_ - 0.1) < 0.03
    assert np.all(model.moment_weights_ > 0)
    err = _errors(data, model)
    assert max(err.weights, err.means, err.covariances) < 0.3


@pytest.mark.slow
def test_demo_writes_figure(tmp_path):
    from momix.lowrank._demo import DGMM, FIGURE, run

    section = run(tmp_path, np.random.default_rng(0))
    assert (tmp_path / FIGURE).exists()
    assert f"| {DGMM} |" in section.text


@pytest.mark.slow
def test_error_falls_like_inverse_root_n():
    errors = []
    for n in (1_000, 10_000, 100_000):
        per_seed = []
        for seed in range(3):
            data = make_lowrank_gaussian_mixture(n, 10, 2, rank=2, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = LowRankGaussianMixture(2, 2, init=_truth_init(data, 0.1), random_state=0)
                model.fit(data.X)
            per_seed.append(_errors(data, model).covariances)
        errors.append(np.median(per_seed))
    slope = np.polyfit(np.log10([1e3, 1e4, 1e5]), np.log10(errors), 1)[0]
    assert -0.8 < slope < -0.3, (errors, slope)
