"""DGMM first step: order weights estimated at the MM estimate (two-step) or at the start."""

import numpy as np
import pytest

from momix.datasets import make_lowrank_gaussian_mixture
from momix.lowrank import LowRankGaussianMixture
from momix.lowrank._engine import MixtureParams
from momix.lowrank._solver import MomentData, diagonal_objective, fit_moments, pack
from momix.lowrank._weights import exact_kernel_sums, make_weight_fn

L = 4


def _problem(seed=0, n=600):
    data = make_lowrank_gaussian_mixture(
        n, 4, 2, rank=1, noise_variance=0.25, mean_norm=1.0, random_state=seed
    )
    md = MomentData.build(data.X, np.ones(n))
    weight_fn = make_weight_fn(md, L, exact_kernel_sums(data.X, md.omega, L))
    rng = np.random.default_rng(seed)
    init = MixtureParams(
        np.array([0.5, 0.5]),
        data.means + 0.5 * rng.normal(size=data.means.shape),
        data.factors + 0.5 * rng.normal(size=data.factors.shape),
        0.25,
    )
    return md, weight_fn, init


def _recording(weight_fn):
    calls = []

    def fn(params):
        calls.append(params)
        return weight_fn(params)

    return fn, calls


def _fit(md, init, weighting, weight_fn=None, **kw):
    opts = dict(max_order=L, full=None, max_iter=200, tol=1e-4, n_steps=1)
    return fit_moments(md, init, weighting=weighting, weight_fn=weight_fn, **{**opts, **kw})


def test_two_step_estimates_first_weights_at_the_mm_estimate():
    md, weight_fn, init = _problem()
    mm = _fit(md, init, "identity")
    fn, calls = _recording(weight_fn)
    two = _fit(md, init, "diagonal", fn, first_step="identity")
    np.testing.assert_allclose(pack(calls[0]), pack(mm.params), rtol=0, atol=1e-12)
    # the same as an explicit DGMM solve with the weights at the MM estimate, started there
    explicit = _fit(md, mm.params, "diagonal", weight_fn, first_step="init")
    np.testing.assert_allclose(pack(two.params), pack(explicit.params), rtol=0, atol=1e-10)
    np.testing.assert_allclose(two.order_weights, weight_fn(mm.params), rtol=1e-12)
    assert two.n_iter == mm.n_iter + explicit.n_iter
    assert two.n_steps == 2  # the MM solve and one weighted solve


def test_init_first_step_estimates_first_weights_at_the_start():
    md, weight_fn, init = _problem()
    fn, calls = _recording(weight_fn)
    res = _fit(md, init, "diagonal", fn, first_step="init")
    np.testing.assert_allclose(pack(calls[0]), pack(init), rtol=0, atol=0)
    np.testing.assert_allclose(res.order_weights, weight_fn(init), rtol=1e-12)
    assert res.n_steps == 1


def test_both_keeps_the_lower_objective_under_the_init_runs_weights():
    md, weight_fn, init = _problem(seed=2)
    runs = {fs: _fit(md, init, "diagonal", weight_fn, first_step=fs) for fs in ("init", "identity")}
    both = _fit(md, init, "diagonal", weight_fn, first_step="both")
    w = runs["init"].order_weights
    shape = init.factors.shape
    values = {k: diagonal_objective(pack(r.params), md, w, shape, 0.25)[0] for k, r in runs.items()}
    kept = runs[min(values, key=values.get)]
    np.testing.assert_allclose(pack(both.params), pack(kept.params), rtol=0, atol=1e-12)
    np.testing.assert_allclose(both.order_weights, kept.order_weights, rtol=1e-12)
    assert both.n_iter == runs["init"].n_iter + runs["identity"].n_iter
    assert both.n_steps == runs["init"].n_steps + runs["identity"].n_steps


def test_weights_at_start_and_at_mm_estimate_differ():
    """The mechanism behind the two-step default: weights depend on where S is estimated."""
    md, weight_fn, init = _problem()
    mm = _fit(md, init, "identity")
    w_start, w_mm = weight_fn(init), weight_fn(mm.params)
    assert np.max(np.abs(w_start / w_mm - 1)) > 0.05


def test_estimator_two_step_is_dgmm_started_at_the_mm_fit():
    """first_step='identity' = DGMM started (first_step='init') at the MM estimate.

    The MM estimate travels through the data's units and back (rounding 1e-16) before the
    second fit, and the final DGMM solve stops on a flat objective (ftol 1e-10 on a value
    of 0.16): start points 1e-14 apart end up to 5e-3 apart in the covariances, against a
    distance of 3.7 between the MM and DGMM estimates.
    """
    data = make_lowrank_gaussian_mixture(800, 4, 2, rank=1, noise_variance=0.25, random_state=3)
    kw = dict(noise_variance=0.25, random_state=0)
    mm = LowRankGaussianMixture(2, 1, weighting="identity", **kw).fit(data.X)
    two = LowRankGaussianMixture(2, 1, first_step="identity", **kw).fit(data.X)
    start = {"weights": mm.weights_, "means": mm.means_, "factors": mm.factors_}
    at_mm = LowRankGaussianMixture(2, 1, first_step="init", init=start, **kw).fit(data.X)
    np.testing.assert_allclose(two.moment_weights_, at_mm.moment_weights_, rtol=1e-3)
    np.testing.assert_allclose(two.covariances_, at_mm.covariances_, atol=2e-2)
    np.testing.assert_allclose(two.means_, at_mm.means_, atol=2e-2)
    assert np.abs(two.covariances_ - mm.covariances_).max() > 0.1  # DGMM moved off MM
    assert two.n_iter_ > mm.n_iter_


def test_first_step_rejects_unknown_value():
    X = make_lowrank_gaussian_mixture(200, 3, 2, rank=1, random_state=0).X
    with pytest.raises(ValueError, match="first_step"):
        LowRankGaussianMixture(2, 1, first_step="mm").fit(X)


@pytest.mark.slow
@pytest.mark.parametrize("sigma", [0.5, 1.0])
def test_dgmm_median_covariance_error_not_above_mm_low_snr(sigma):
    """Issue 3 target: d=10, K=2, R=2, N=1e4, weakly separated, same initialisations."""
    import warnings

    from momix.exceptions import ConvergenceWarning
    from momix.metrics import mixture_errors

    errors = {"identity": [], "diagonal": []}
    for seed in range(10):
        data = make_lowrank_gaussian_mixture(
            10_000, 10, 2, rank=2, noise_variance=sigma**2, mean_norm=1.0,
            factor_norm=(1.0, 2.0), random_state=seed,
        )  # fmt: skip
        for weighting, errs in errors.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model = LowRankGaussianMixture(
                    2, 2, weighting=weighting, noise_variance=sigma**2, random_state=seed
                ).fit(data.X)
            err = mixture_errors(
                data.weights, data.means, data.covariances, model.weights_, model.means_,
                model.covariances_, match="covariances",
            )  # fmt: skip
            errs.append(err.covariances)
    assert np.median(errors["diagonal"]) <= np.median(errors["identity"])
