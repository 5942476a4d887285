"""SoftmaxMixture on bad and extreme input: a clear momix error or a valid fit (issue 15)."""

import warnings

import numpy as np
import pytest
from softmax_contract import check_contract, check_error
from softmax_testdata import make_item_data, make_panel_data

from momix import SoftmaxMixture
from momix.exceptions import DataError

RNG = np.random.default_rng(0)
X = RNG.standard_normal((12, 2))
Y = RNG.integers(0, 12, 40)
F = RNG.standard_normal((30, 3, 2))
YF = RNG.integers(0, 3, 30)
G = np.repeat(np.arange(10), 3)
BASE = dict(n_components=2, init="random", max_iter=50, random_state=0)


def _fit(params, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SoftmaxMixture(**params).fit(*args, **kwargs)


def _raises(match, params, *args, **kwargs):
    with pytest.raises(DataError, match=match) as info:
        _fit(params, *args, **kwargs)
    check_error(info.value, "fit")


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1e50, 1e99])
def test_feature_scale_maps_coefficients_exactly(scale):
    items = make_item_data(40, 2, 2, 3000, seed=3)[:2]
    panel = make_panel_data(40, 4, 3, 2, 2, seed=3)
    for args in [items, (panel[0], panel[1])]:
        ref = _fit(BASE, *args)
        scaled = _fit(BASE, args[0] * scale, args[1])
        assert np.abs(ref.coefs_[0] - ref.coefs_[1]).max() > 0.5  # two distinct classes
        np.testing.assert_allclose(scaled.coefs_ * scale, ref.coefs_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(scaled.weights_, ref.weights_, rtol=1e-9)
        np.testing.assert_allclose(scaled.score(args[0] * scale, args[1]), ref.score(*args),
                                   rtol=1e-9)


@pytest.mark.parametrize("offset", [1e8, np.array([1e8, -3e7])])
def test_offsets_change_nothing_but_rounding(offset):
    ref = _fit(BASE, X, Y)
    shifted = _fit(BASE, X + offset, Y)
    np.testing.assert_allclose(shifted.coefs_, ref.coefs_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shifted.score(X + offset, Y), ref.score(X, Y), rtol=1e-7)
    ref3 = _fit(BASE, F, YF)
    shifted3 = _fit(BASE, F + offset, YF)
    np.testing.assert_allclose(shifted3.coefs_, ref3.coefs_, rtol=1e-5, atol=1e-6)


def test_magnitudes_beyond_1e100_and_spreads_below_1e_300_are_refused():
    _raises("magnitude", BASE, X * 1e101, Y)
    _raises("magnitude", BASE, F * 1e101, YF)
    _raises("magnitude", BASE, X, counts=np.full(12, 1e200))
    _raises("vary by less than", BASE, X * 1e-310, Y)


@pytest.mark.parametrize("bad, match", [
    (np.column_stack([X[:, 0], np.ones(12)]), r"column\(s\) \[1\] are constant"),
    (np.column_stack([X[:, 0], -2 * X[:, 0]]), "collinear"),
    (np.column_stack([X[:, 0], X[:, 0] + 5]), "collinear"),
])
def test_constant_and_collinear_columns(bad, match):
    _raises(match, BASE, bad, Y)


def test_constant_and_collinear_choice_situations():
    _raises("constant", BASE, np.ones((30, 3, 2)), YF)
    _raises("collinear", BASE, np.concatenate([F[..., :1], 3 * F[..., :1]], axis=2), YF)
    # a column constant within every situation, different between situations
    shifted = F.copy()
    shifted[..., 1] = np.arange(30)[:, None]
    _raises(r"column\(s\) \[1\]", BASE, shifted, YF)


def test_too_few_units_for_the_classes():
    _raises("1 chosen item", BASE, X, np.zeros(40, int))
    _raises("2 chosen item", dict(BASE, n_components=3), X, np.arange(40) % 2)
    _raises("free parameters", dict(BASE, n_components=5), X, Y)  # 14 > 11
    _raises("1 group", BASE, F, YF, groups=np.zeros(30))
    _raises("distinct observation", BASE, np.repeat(F[:1], 30, axis=0), np.zeros(30, int))
    _raises("1 sample", BASE, X[:1], [0])
    _raises("1 observation", BASE, F[:1], YF[:1])


@pytest.mark.parametrize("n_components", [10**6, 10**9, 2**62])
def test_huge_n_components_is_refused_at_once(n_components):
    import time

    for args in [(X, Y), (F, YF)]:
        start = time.perf_counter()
        _raises("fewer than", dict(BASE, n_components=n_components), *args)
        assert time.perf_counter() - start < 1.0


def test_degenerate_but_valid_fits():
    cases = [
        (dict(BASE, n_components=1), (X, np.zeros(40, int)), {}),  # one item always chosen
        (BASE, (X, RNG.integers(0, 3, 40)), {}),  # 9 items never chosen
        (BASE, (F, np.zeros(30, int)), {}),  # the first alternative always
        (dict(BASE, n_components=1), (F[:1], YF[:1]), {}),  # one row
        (BASE, (np.round(X), Y), {}),  # integer features with ties
        (BASE, (X, Y), {"sample_weight": np.r_[np.zeros(20), np.ones(20)]}),
        (BASE, (F, YF), {"groups": G, "sample_weight": (G % 2).astype(float)}),
        (BASE, (X,), {"counts": np.full(12, 1e100)}),
        (BASE, (X,), {"counts": np.full(12, 1e-300)}),
        (dict(BASE, max_iter=0), (X, Y), {}),
        (dict(BASE, max_iter=1, tol=0.0), (F, YF), {"groups": G}),
        (dict(BASE, step_size=1e10), (X, Y), {}),
        (dict(BASE, step_size=1e-300), (X, Y), {}),
        (dict(BASE, n_components=3, max_iter=100), (F, YF), {"groups": G}),  # split-and-merge
    ]
    for params, args, kwargs in cases:
        assert check_contract(params, *args, **kwargs) == "fit", (params, kwargs)


def test_one_class_on_a_single_chosen_item_stays_finite():
    model = _fit(dict(BASE, n_components=1, max_iter=500), X, np.zeros(40, int))
    # the likelihood rises towards 0 as the coefficients grow along x_0's direction
    assert np.all(np.isfinite(model.coefs_)) and model.log_likelihood_ < 0
    assert model.predict_proba(X, [0]).tolist() == [[1.0]]


@pytest.mark.parametrize("bad, match", [
    (np.where(X > 1, np.nan, X), "NaN"),
    (np.where(X > 1, np.inf, X), "infinity"),
    (np.zeros((0, 2)), "0 sample"),
    ([["a", "b"]] * 12, "could not convert"),
    (np.zeros((12, 2, 2, 2)), "dim 4"),
])
def test_unusable_arrays_are_data_errors_with_scikit_learn_messages(bad, match):
    _raises(match, BASE, bad, Y)


def test_unusable_choice_situations_and_labels():
    _raises("NaN", BASE, np.where(F > 1, np.nan, F), YF)
    _raises("0 sample", BASE, np.zeros((0, 3, 2)), [])
    _raises("inhomogeneous", BASE, [[[1.0, 2.0]], [[1.0]]], [0, 0])
    _raises("integer indices", BASE, X, Y + 0.5)
    _raises("integer indices", BASE, X, ["a"] * 40)
    _raises("outside", BASE, X, np.r_[Y[:-1], 12])
    _raises("comparable", BASE, F, YF, groups=["a"] * 15 + [None] * 15)


def test_evaluation_with_bad_data_raises_momix_errors():
    model = _fit(BASE, X, Y)
    for call in [lambda: model.predict_proba(np.where(X > 1, np.nan, X), Y),
                 lambda: model.score(X[:, :1], Y),
                 lambda: model.score_samples(X * 1e200, Y),
                 lambda: model.bic(X, Y + 0.5),
                 lambda: model.sample(0)]:
        with pytest.raises(ValueError) as info:
            call()
        check_error(info.value, "method")
