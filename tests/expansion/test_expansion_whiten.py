"""Whitened coordinates (``whiten``): the affine map, its Jacobian, selection and bad input."""

import numpy as np
import pytest

from momix import GMMExpansion
from momix.exceptions import DataError
from momix.expansion import robust_scale, zca_whitening
from momix.expansion._bandwidth import select_bandwidth
from momix.expansion._whiten import (
    MIN_TOTAL_CORRELATION,
    choose_whitening,
    total_correlation,
)


def _correlated(n, seed=0, rho=0.9):
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal([1.0, -2.0], [[2.0, rho * 2.0**0.5], [rho * 2.0**0.5, 1.0]], n)


def test_zca_whitening_is_symmetric_and_whitens_the_weighted_sample():
    X = _correlated(500)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    white = zca_whitening(X, w)
    Z = white.apply(X)
    np.testing.assert_allclose(white.matrix, white.matrix.T, atol=1e-12)
    np.testing.assert_allclose(np.average(Z, axis=0, weights=w), 0.0, atol=1e-12)
    cov = np.cov(Z.T, aweights=w, bias=True)
    np.testing.assert_allclose(cov, np.eye(2), atol=1e-10)
    np.testing.assert_allclose(white.invert(Z), X, atol=1e-10)
    np.testing.assert_allclose(white.log_det, np.log(np.linalg.det(white.matrix)), rtol=1e-12)


def test_whitened_fit_is_the_raw_fit_of_z_plus_the_jacobian():
    X = _correlated(300)
    est = GMMExpansion(bandwidth=0.4, whiten=True, random_state=0).fit(X)
    white = est.whitening_
    plain = GMMExpansion(bandwidth=0.4, random_state=0).fit(white.apply(X))
    Y = _correlated(40, seed=5)
    np.testing.assert_allclose(
        est.score_samples(Y), plain.score_samples(white.apply(Y)) + white.log_det, rtol=1e-12
    )
    np.testing.assert_allclose(est.lower_bound_, est.score(X), rtol=1e-10)
    d = 2
    assert est._n_parameters() == plain._n_parameters() + d + d * (d + 1) // 2


def test_whitened_fit_is_equivariant_under_shifts_and_isotropic_scaling():
    X = _correlated(300)
    c, b = 3.0, np.array([10.0, -4.0])
    params = {"max_iter": "auto", "whiten": True, "random_state": 0}
    est = GMMExpansion(**params).fit(X)
    moved = GMMExpansion(**params).fit(c * X + b)
    Y = _correlated(30, seed=7)
    np.testing.assert_allclose(
        moved.score_samples(c * Y + b), est.score_samples(Y) - 2 * np.log(c), rtol=1e-7
    )


def test_whitened_density_integrates_to_one_and_samples_back_in_x():
    X = _correlated(250)
    est = GMMExpansion(bandwidth=0.4, whiten=True, random_state=0).fit(X)
    ax = np.linspace(-25, 25, 301)
    xx, yy = np.meshgrid(ax + 1.0, ax - 2.0, indexing="ij")
    dens = np.exp(est.score_samples(np.column_stack([xx.ravel(), yy.ravel()]))).reshape(xx.shape)
    total = np.trapezoid(np.trapezoid(dens, ax - 2.0, axis=1), ax + 1.0)
    assert abs(total - 1) < 1e-3
    S, _ = est.sample(20_000, random_state=1)
    np.testing.assert_allclose(S.mean(axis=0), X.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(np.corrcoef(S.T)[0, 1], np.corrcoef(X.T)[0, 1], atol=0.03)


def test_total_correlation_is_the_gaussian_mutual_information():
    X = _correlated(400)
    r = np.corrcoef(X.T)[0, 1]
    w = np.ones(len(X))
    np.testing.assert_allclose(total_correlation(X, w), -0.5 * np.log(1 - r**2), rtol=1e-10)
    # invariant under per-axis scalings and shifts; weights act as repetitions
    np.testing.assert_allclose(
        total_correlation(X * [3.0, 0.1] + 5, w), total_correlation(X, w), rtol=1e-10
    )
    reps = np.arange(len(X)) % 3 + 1
    np.testing.assert_allclose(
        total_correlation(X, reps.astype(float)),
        total_correlation(np.repeat(X, reps, axis=0), np.ones(reps.sum())),
        rtol=1e-10,
    )
    assert total_correlation(np.column_stack([X[:, 0], 2 * X[:, 0]]), w) == np.inf


def _uncorrelated(n, seed=0):
    """Heavy-tailed columns with an exactly diagonal sample covariance."""
    Z = np.random.default_rng(seed).standard_t(3, (n, 2))
    Z = zca_whitening(Z, np.ones(n)).apply(Z)  # exactly uncorrelated, unit variances
    return Z * [2.0, 0.5] + [1.0, -3.0]


def test_without_correlation_whitening_is_a_per_axis_scaling_and_changes_nothing():
    # the claim behind the skip rule: a diagonal covariance makes whitening a shift and a
    # per-axis scaling, to which the fit (grid, relative bandwidth, spreads) is equivariant
    X = _uncorrelated(400)
    assert total_correlation(X, np.ones(len(X))) < 1e-12
    params = {"max_iter": "auto", "random_state": 0}
    raw = GMMExpansion(**params).fit(X)
    white = GMMExpansion(whiten=True, **params).fit(X)
    np.testing.assert_allclose(white.whitening_.matrix, np.diag([0.5, 2.0]), atol=1e-10)
    Y = _uncorrelated(50, seed=4)
    np.testing.assert_allclose(white.score_samples(Y), raw.score_samples(Y), rtol=1e-8)
    assert white.n_iter_ == raw.n_iter_


def test_auto_skips_the_comparison_below_the_total_correlation_threshold():
    X = _uncorrelated(300)
    X = X + 0.02 * X[:, ::-1] * [1.0, 0.0]  # a little correlation, below the threshold
    info = total_correlation(X, np.ones(len(X)))
    assert 0 < info < MIN_TOTAL_CORRELATION
    auto = GMMExpansion(max_iter="auto", whiten="auto", random_state=0).fit(X)
    choice = auto.whitening_choice_
    assert auto.whitening_ is None and choice.raw_score is None
    np.testing.assert_allclose(choice.total_correlation, info, rtol=1e-12)
    raw = GMMExpansion(max_iter="auto", random_state=0).fit(X)
    np.testing.assert_allclose(auto.score_samples(X[:20]), raw.score_samples(X[:20]), rtol=1e-12)


def test_auto_compares_coarse_searches_on_the_same_folds_and_continues_the_winner():
    X = _correlated(400)
    w = np.ones(len(X))
    params = {"max_iter": "auto", "random_state": 0}
    auto = GMMExpansion(whiten="auto", **params).fit(X)
    choice = auto.whitening_choice_
    assert choice.total_correlation >= MIN_TOTAL_CORRELATION
    white = zca_whitening(X, w)

    def search(Y, **kwargs):  # a fresh generator per call: the folds of every search
        options = GMMExpansion(**params)._search_options(len(Y))
        return select_bandwidth(Y, w, robust_scale(Y, w), **kwargs, **options)

    Z = white.apply(X)
    raw_c = search(X, coarse_only=True)
    white_c = search(Z, coarse_only=True, start=raw_c.best)  # climbs from the raw optimum
    assert white_c.bandwidths[0] == raw_c.best
    np.testing.assert_allclose(
        [choice.raw_score, choice.white_score],
        [max(raw_c.scores), max(white_c.scores) + white.log_det],
        rtol=1e-12,
    )
    margin = (2 + 3) / len(X)  # d + d(d+1)/2 whitening parameters over n
    assert choice.white_score > choice.raw_score + margin and auto.whitening_ is not None
    # the continued search is the full search in the winner's coordinates from the same
    # start, candidate by candidate (the coarse candidates are not scored again)
    full = search(Z, start=raw_c.best)
    assert auto.bandwidth_search_.bandwidths == full.bandwidths
    np.testing.assert_allclose(auto.bandwidth_search_.scores, full.scores, rtol=1e-12)
    assert full.bandwidths[: len(white_c.bandwidths)] == white_c.bandwidths
    assert auto.bandwidth_ == full.best and auto.n_iter_ == full.best_steps
    Y = _correlated(20, seed=3)
    again = GMMExpansion(whiten="auto", **params).fit(X)  # deterministic
    fields = ("total_correlation", "raw_score", "white_score")
    assert [getattr(again.whitening_choice_, f) for f in fields] == [
        getattr(choice, f) for f in fields
    ]
    np.testing.assert_array_equal(again.score_samples(Y), auto.score_samples(Y))
    # a Generator gives one integer for the folds of both coordinate systems
    gen = GMMExpansion(whiten="auto", max_iter="auto", random_state=np.random.default_rng(0))
    seed = int(np.random.default_rng(0).integers(2**31 - 1))
    seeded = GMMExpansion(whiten="auto", max_iter="auto", random_state=seed).fit(X)
    np.testing.assert_array_equal(gen.fit(X).score_samples(Y), seeded.score_samples(Y))
    fixed = GMMExpansion(bandwidth=0.4, whiten="auto").fit(X)  # no search: raw coordinates
    assert fixed.whitening_ is None
    one_d = GMMExpansion(whiten="auto", **params).fit(X[:, :1])  # equivariant: not refitted
    assert one_d.whitening_ is None


def test_auto_keeps_raw_coordinates_for_axis_aligned_components():
    # correlated through the component means, axis-aligned within: the raw grid fits better
    rng = np.random.default_rng(0)
    means = np.array([[0, 0], [3, 1], [-1, 3.0]])
    sds = np.array([[1, 0.5], [0.4, 0.4], [0.7, 1.2]])
    k = rng.integers(0, 3, 600)
    X = means[k] + rng.standard_normal((600, 2)) * sds[k]
    auto = GMMExpansion(max_iter="auto", whiten="auto", random_state=0).fit(X)
    choice = auto.whitening_choice_
    assert choice.total_correlation >= MIN_TOTAL_CORRELATION
    assert choice.raw_score > choice.white_score and auto.whitening_ is None


def test_auto_whitened_density_integrates_to_one():
    X = _correlated(300)
    est = GMMExpansion(max_iter="auto", whiten="auto", random_state=0).fit(X)
    assert est.whitening_ is not None
    ax = np.linspace(-25, 25, 301)
    xx, yy = np.meshgrid(ax + 1.0, ax - 2.0, indexing="ij")
    dens = np.exp(est.score_samples(np.column_stack([xx.ravel(), yy.ravel()]))).reshape(xx.shape)
    total = np.trapezoid(np.trapezoid(dens, ax - 2.0, axis=1), ax + 1.0)
    assert abs(total - 1) < 1e-3


def test_whiten_bad_input():
    X = _correlated(100)
    collinear = np.column_stack([X[:, 0], 2 * X[:, 0] + 1])
    with pytest.raises(DataError, match="non-singular covariance"):
        GMMExpansion(bandwidth=0.4, whiten=True).fit(collinear)
    est = GMMExpansion(whiten="auto", random_state=0).fit(collinear)  # falls back to raw
    assert est.whitening_ is None and est.whitening_choice_.total_correlation == np.inf
    with pytest.raises(ValueError, match="whiten"):
        GMMExpansion(whiten="yes").fit(X)


def test_choose_whitening_needs_a_lead_above_the_whitening_maps_optimism():
    X = _correlated(500)
    w = np.ones(len(X))
    log_det = zca_whitening(X, w).log_det
    margin = (2 + 3) / len(X)

    def fake(lead):
        calls = []

        def score(Z):  # raw first, then whitened (in z units: the Jacobian is added)
            calls.append(Z)
            raw = len(calls) == 1
            return (-2.0, "raw") if raw else (-2.0 + lead - log_det, "white")

        return score, calls

    score, calls = fake(0.9 * margin)
    choice = choose_whitening(X, w, score)
    assert choice.whitening is None and choice.search == "raw"
    np.testing.assert_array_equal(calls[0], X)
    score, _ = fake(1.1 * margin)
    choice = choose_whitening(X, w, score)
    assert choice.whitening is not None and choice.search == "white"
    np.testing.assert_allclose(choice.white_score - choice.raw_score, 1.1 * margin)
    skipped = choose_whitening(_uncorrelated(200), np.ones(200), fake(1.0)[0])
    assert skipped.whitening is None and skipped.raw_score is None
