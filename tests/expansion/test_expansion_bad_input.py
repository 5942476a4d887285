"""GMMExpansion on degenerate input: constant features, one row, extreme magnitudes, offsets,
grids float64 cannot resolve; ``predict`` against a brute-force argmax."""

import math
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

from momix import GMMExpansion
from momix.exceptions import DataError
from momix.expansion._grid import power_of_two_unit


def _bimodal(n, d=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[: n // 3] += 4.0
    return X


def _fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GMMExpansion(random_state=0, **params).fit(X)


def test_constant_feature_is_refused_by_name():
    X = np.column_stack([_bimodal(50)[:, 0], np.ones(50)])
    with pytest.raises(DataError, match=r"feature\(s\) \[1\] of X are constant"):
        GMMExpansion(random_state=0).fit(X)
    # constant over the rows of positive weight is what counts
    X = _bimodal(50, d=2)
    X[:25, 1] = 1.0 / 3.0
    w = np.r_[np.ones(25), np.zeros(25)]
    with pytest.raises(DataError, match=r"\[1\]"):
        GMMExpansion(random_state=0).fit(X, sample_weight=w)
    assert np.isfinite(_fit(X).score(X))


def test_one_row_or_one_positive_weight_is_refused():
    X = _bimodal(30, d=2)
    with pytest.raises(DataError, match="n_samples=1"):
        GMMExpansion().fit(X[:1])
    with pytest.raises(DataError, match="n_samples=1"):
        GMMExpansion().fit(X, sample_weight=np.eye(1, 30, 4).ravel())


@pytest.mark.parametrize("params", [{}, {"update": "em"}, {"max_iter": "auto"}])
def test_power_of_two_scales_are_equivariant(params):
    """x * 2^-450 (about 3e-136) and x * 2^290 (about 2e87) give the fit of x, scaled (up to
    rounding: the data are fitted in a unit within a factor sqrt(2) of their spread, so the
    bandwidth search sees log-likelihoods shifted by a constant)."""
    X = _bimodal(200, d=2)
    ref = _fit(X, **params)
    for k in (-450, 290):
        est = _fit(np.ldexp(X, k), **params)
        np.testing.assert_allclose(est.bandwidth_, ref.bandwidth_, rtol=1e-10)
        np.testing.assert_allclose(est.weights_, ref.weights_, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(est.sigmas_, np.ldexp(ref.sigmas_, k), rtol=1e-10)
        np.testing.assert_allclose(est.means_, np.ldexp(ref.means_, k), rtol=1e-10)
        shift = -2 * k * math.log(2.0)  # log-Jacobian of the two features
        np.testing.assert_allclose(est.score_samples(np.ldexp(X, k)),
                                   ref.score_samples(X) + shift, rtol=1e-9)
        np.testing.assert_allclose(est.lower_bound_, ref.lower_bound_ + shift, rtol=1e-9)
        np.testing.assert_array_equal(est.predict(np.ldexp(X, k)), ref.predict(X))


def test_decimal_extreme_scales_and_offsets_fit_the_data_itself():
    """Spreads of 1e-140 or 1e90 and an offset of 1e8 keep the unit-scale bandwidth.

    In 3-D at 1e-140 the kernel values (about 1e141 per feature) overflow in their product;
    the weight EM chose a bandwidth 3.5 times too small there before the data were fitted in
    a power-of-two unit.
    """
    X = _bimodal(90, d=3)
    ref = _fit(X, update="em")
    for Y, log_jacobian in ((X * 1e-140, 420 * math.log(10)), (X * 1e90, -270 * math.log(10)),
                            (X + 1e8, 0.0)):
        est = _fit(Y, update="em")
        np.testing.assert_allclose(est.bandwidth_, ref.bandwidth_, rtol=1e-6)
        np.testing.assert_allclose(est.score(Y), ref.score(X) + log_jacobian, rtol=1e-6)
        assert np.all(np.isfinite(est.score_samples(Y * 1.5)))


def test_power_of_two_unit_only_beyond_two_to_the_twenty():
    spread = np.array([1e-200, 2.0**-20, 1.0, 3e5, 2.0**21, 1e90])
    unit = power_of_two_unit(spread)
    np.testing.assert_array_equal(unit[1:4], 1.0)
    assert np.all(np.log2(unit) == np.round(np.log2(unit)))
    beyond = [0, 4, 5]
    assert np.all(np.abs(np.log2(spread[beyond] / unit[beyond])) <= 0.5 + 1e-12)


def test_spreads_whose_variances_underflow_are_refused():
    with pytest.raises(DataError, match="rescale"):
        GMMExpansion().fit(_bimodal(50) * 1e-200)


def test_spread_below_the_resolution_of_its_offset_is_refused():
    # integer steps of 2 at 1e16 are single units in the last place
    X = 1e16 + 2.0 * np.random.default_rng(0).integers(0, 4, (60, 1))
    for params in ({"bandwidth": 0.5}, {}):
        with pytest.raises(DataError, match="cannot be told apart"):
            GMMExpansion(**params).fit(X)


def _brute_force_labels(est, X):
    sd = np.sqrt(est.covariances_)
    with np.errstate(divide="ignore"):
        log_w = np.log(est.weights_)
    log_joint = log_w[None] + np.sum(
        -0.5 * ((X[:, None, :] - est.means_[None]) / sd[None]) ** 2
        - np.log(sd * math.sqrt(2 * math.pi))[None], axis=2)
    return np.argmax(log_joint, axis=1), logsumexp(log_joint, axis=1)


@pytest.mark.parametrize(
    ("d", "params"),
    [(1, {}), (1, {"update": "em", "n_levels": "auto"}), (2, {"n_grid": 12}),
     (2, {"update": "em", "n_levels": 2, "tail_weight": 0.2})],
)
def test_predict_is_the_most_probable_component(d, params):
    X = _bimodal(300, d=d)
    est = _fit(X, **params)
    far = np.vstack([X[:40], X[:5] * 50, -1e4 * np.ones((1, d))])
    labels, log_p = _brute_force_labels(est, far)
    np.testing.assert_array_equal(est.predict(far), labels)
    np.testing.assert_allclose(est.score_samples(far), log_p, rtol=1e-8)
    np.testing.assert_array_equal(est.fit_predict(X), est.predict(X))
    assert est.predict(far).dtype == np.intp


def test_sample_labels_index_the_components_they_come_from():
    est = _fit(_bimodal(300, d=2), n_grid=10)
    Xs, labels = est.sample(200, random_state=1)
    assert np.all(est.weights_[labels] > 0)
    # draws sit within a few component standard deviations of their component's mean
    z = (Xs - est.means_[labels]) / np.sqrt(est.covariances_[labels])
    assert np.all(np.abs(z) < 6)


@pytest.mark.parametrize(("whiten", "bandwidth"), [(True, 0.4), ("auto", "auto")])
def test_whitened_fits_of_extreme_scales_report_x_units(whiten, bandwidth):
    rng = np.random.default_rng(2)
    X = rng.multivariate_normal([1.0, -2.0], [[2.0, 1.6], [1.6, 1.5]], 200)
    ref = _fit(X, whiten=whiten, bandwidth=bandwidth)
    assert ref.whitening_ is not None
    for k in (-400, 290):
        Y = np.ldexp(X, k)
        est = _fit(Y, whiten=whiten, bandwidth=bandwidth)
        assert est.whitening_ is not None
        shift = -2 * k * math.log(2.0)
        np.testing.assert_allclose(est.score_samples(Y), ref.score_samples(X) + shift,
                                   rtol=1e-9)
        np.testing.assert_allclose(est.lower_bound_, ref.lower_bound_ + shift, rtol=1e-9)
        draws = est.sample(500, random_state=0)[0]
        np.testing.assert_allclose(np.ldexp(draws, -k), ref.sample(500, random_state=0)[0],
                                   rtol=1e-8, atol=1e-8)
        if whiten == "auto":
            for name in ("raw_score", "white_score"):
                np.testing.assert_allclose(getattr(est.whitening_choice_, name),
                                           getattr(ref.whitening_choice_, name) + shift,
                                           rtol=1e-9)
