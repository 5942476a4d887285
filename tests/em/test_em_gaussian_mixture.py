"""momix.mixture.GaussianMixture: frequency weights, degenerate data, scale equivariance, API."""

import functools
import warnings

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks

from momix.em import COVARIANCE_TYPES, DegenerateComponentWarning
from momix.exceptions import ConvergenceWarning, DataError
from momix.mixture import GaussianMixture
from momix.testing import check_error, check_fitted, check_outcome

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def _blobs(seed=0, n=240, d=2):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])[:, :d]
    labels = rng.integers(0, 3, size=n)
    return centres[labels] + rng.normal(size=(n, d)) * 0.8


def _fit(X, _w=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(**kw).fit(X, sample_weight=_w)


def _assert_same_fit(a, b, rtol=1e-10):
    for name in ATTRIBUTES:
        np.testing.assert_allclose(
            getattr(a, name),
            getattr(b, name),
            rtol=rtol,
            atol=rtol * np.abs(getattr(b, name)).max(),
            err_msg=name,
        )
    assert a.n_iter_ == b.n_iter_
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=rtol, abs=rtol)


# ---------------------------------------------------------------------- frequency weights


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random_from_data"])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_weight_two_is_the_row_twice(ct, init):
    X = _blobs(1)
    rng = np.random.default_rng(2)
    w = rng.integers(0, 4, size=len(X)).astype(float)
    repeated = np.repeat(X, w.astype(int), axis=0)  # each copy next to its original
    kw = dict(n_components=3, covariance_type=ct, init_params=init, random_state=0, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = GaussianMixture(**kw).fit(X, sample_weight=w)
        copies = GaussianMixture(**kw).fit(repeated)
    _assert_same_fit(weighted, copies, rtol=1e-8)


@pytest.mark.parametrize("scale", [1e-300, 1e-3, 7.0, 1e6, 1e300])
def test_uniform_weight_scale_changes_nothing(scale):
    X = _blobs(3)
    w = np.random.default_rng(4).uniform(0.5, 2.0, size=len(X))
    kw = dict(n_components=3, init_params="k-means++", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = GaussianMixture(**kw).fit(X, sample_weight=w)
        b = GaussianMixture(**kw).fit(X, sample_weight=scale * w)
    _assert_same_fit(a, b)


def test_weighted_score_bic_aic_are_frequency_counts():
    X = _blobs(5)
    gm = _fit(X, n_components=3, random_state=0)
    w = np.random.default_rng(6).integers(1, 4, size=len(X))
    repeated = np.repeat(X, w, axis=0)
    assert gm.score(X, sample_weight=w) == pytest.approx(gm.score(repeated), rel=1e-12)
    assert gm.bic(X, sample_weight=w) == pytest.approx(gm.bic(repeated), rel=1e-12)
    assert gm.aic(X, sample_weight=w) == pytest.approx(gm.aic(repeated), rel=1e-12)


# ---------------------------------------------------------------------- never raises


@pytest.mark.parametrize("floor", ["add", "clip"])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_two_distinct_points_ten_components_no_floor(ct, floor):
    """scikit-learn's test_regularisation data: scikit-learn raises, momix fits and warns."""
    X = np.vstack((np.ones((5, 5)), np.zeros((5, 5))))
    gm = GaussianMixture(10, covariance_type=ct, reg_covar=0.0, floor=floor, random_state=0)
    with pytest.warns(DegenerateComponentWarning, match="n_components"):
        gm.fit(X)
    check_fitted(gm, X)
    assert gm.weights_.shape == (10,)
    assert np.all(np.linalg.eigvalsh(_full(gm)) > 0)


@pytest.mark.parametrize("floor", ["add", "clip"])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_collinear_columns_without_floor(ct, floor):
    """Rank-one data, reg_covar=0: covariances stay positive definite for any eigen-solver."""
    x = np.random.default_rng(17).normal(size=22)
    X = np.column_stack([x, x, 2 * x, -x])
    for max_iter in (0, 1, 50):
        gm = GaussianMixture(
            4, covariance_type=ct, floor=floor, reg_covar=0.0, max_iter=max_iter, random_state=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm.fit(X)
        check_fitted(gm, X)


def _full(gm):
    K, d = gm.means_.shape
    c = gm.covariances_
    if gm.covariance_type == "full":
        return c
    if gm.covariance_type == "tied":
        return np.broadcast_to(c, (K, d, d))
    var = c if gm.covariance_type == "diag" else np.outer(c, np.ones(d))
    return np.stack([np.diag(v) for v in var])


def _transforms():
    return {
        "offset_1e8": lambda X: X + 1e8,
        "scale_1e8": lambda X: X * 1e8,
        "scale_1e-8": lambda X: X * 1e-8,
        "scale_1e-200": lambda X: X * 1e-200,
        "scale_1e90": lambda X: X * 1e90,
        "beyond_1e100": lambda X: X * 1e150,
        "constant_column": lambda X: np.column_stack([X[:, 0], np.full(len(X), 3.0)]),
        "duplicated_column": lambda X: np.column_stack([X[:, 0], X[:, 0]]),
        "all_constant": np.ones_like,
        "one_row": lambda X: X[:1],
        "two_rows": lambda X: X[:2],
        "three_distinct_rows": lambda X: np.repeat(X[:3], 20, axis=0),
        "integers_with_ties": np.round,
        "nan": lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X),
    }


@pytest.mark.parametrize("floor", ["add", "clip"])
@pytest.mark.parametrize("case", sorted(_transforms()))
def test_bad_input_contract(case, floor):
    X = _transforms()[case](_blobs(7, n=60))
    for ct in COVARIANCE_TYPES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            refused = check_outcome(
                functools.partial(
                    GaussianMixture, 3, covariance_type=ct, floor=floor, random_state=0
                ),
                X,
            )
        if case in (
            "offset_1e8",
            "scale_1e8",
            "scale_1e-8",
            "constant_column",
            "duplicated_column",
            "integers_with_ties",
            "three_distinct_rows",
        ):
            assert refused is None, (case, ct, refused)


@pytest.mark.parametrize("sw", ["zeros_but_one", "with_zeros", "tiny", "huge"])
def test_degenerate_weights(sw):
    X = _blobs(8, n=60)
    w = {
        "zeros_but_one": np.eye(1, 60, 5).ravel(),
        "with_zeros": np.where(np.arange(60) % 3 == 0, 0.0, 1.0),
        "tiny": np.full(60, 1e-300),
        "huge": np.full(60, 1e300),
    }[sw]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refused = check_outcome(lambda: GaussianMixture(3, random_state=0), X, sample_weight=w)
    assert refused is None
    if sw in ("tiny", "huge"):
        _assert_same_fit(
            _fit(X, n_components=3, random_state=0, _w=w), _fit(X, n_components=3, random_state=0)
        )


def test_variance_below_float64_covariances_is_refused():
    X = _blobs(9, n=60) * 1e-150
    with pytest.raises(DataError, match="multiply the data"):
        GaussianMixture(2, floor="clip").fit(X)
    gm = _fit(X, n_components=2, floor="add")  # the absolute floor keeps it representable
    check_fitted(gm, X)


# ---------------------------------------------------------------------- equivariance


@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_clip_floor_is_scale_equivariant(ct, accelerate):
    X = _blobs(10, n=300)
    d = X.shape[1]
    kw = dict(
        n_components=3,
        covariance_type=ct,
        floor="clip",
        reg_covar=1e-3,
        init_params="random_from_data",
        random_state=0,
        tol=1e-8,
        accelerate=accelerate,
    )
    ref = _fit(X, **kw)
    for a, b in ((1e3, -2e5), (-0.01, 7.0)):
        got = _fit(a * X + b, **kw)
        assert got.n_iter_ == ref.n_iter_
        np.testing.assert_allclose(got.weights_, ref.weights_, rtol=1e-10)
        np.testing.assert_allclose(got.means_, a * ref.means_ + b, rtol=1e-10, atol=1e-10 * abs(a))
        np.testing.assert_allclose(
            got.covariances_,
            a * a * ref.covariances_,
            rtol=1e-9,
            atol=1e-10 * a * a * np.abs(ref.covariances_).max(),
        )
        assert got.lower_bound_ == pytest.approx(ref.lower_bound_ - d * np.log(abs(a)), abs=1e-10)


# ---------------------------------------------------------------------- API


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_attributes_and_methods(ct):
    X = _blobs(11, d=2)
    gm = _fit(X, n_components=3, covariance_type=ct, random_state=0)
    K, d = 3, 2
    shapes = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}[ct]
    assert gm.covariances_.shape == gm.precisions_.shape == gm.precisions_cholesky_.shape
    assert gm.covariances_.shape == shapes
    assert gm.means_.shape == (K, d) and np.isclose(gm.weights_.sum(), 1.0)
    if ct == "full":
        P = gm.precisions_cholesky_
        np.testing.assert_allclose(P @ np.swapaxes(P, 1, 2), gm.precisions_, rtol=1e-10)
        np.testing.assert_allclose(
            gm.precisions_ @ gm.covariances_, np.broadcast_to(np.eye(d), (K, d, d)), atol=1e-10
        )
        assert np.all(np.tril(P, -1) == 0)  # scikit-learn's upper factor
    proba = gm.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(gm.predict(X), proba.argmax(axis=1))
    assert gm.score(X) == pytest.approx(gm.score_samples(X).mean())
    labels = GaussianMixture(3, covariance_type=ct, random_state=0).fit_predict(X)
    np.testing.assert_array_equal(labels, gm.predict(X))
    Xs, ys = gm.sample(50)
    assert Xs.shape == (50, d) and ys.shape == (50,) and np.all(np.diff(ys) >= 0)
    np.testing.assert_array_equal(gm.sample(5, random_state=1)[0], gm.sample(5, random_state=1)[0])
    assert gm.init_used_ == "kmeans" and gm.n_passes_ > gm.n_iter_
    assert gm.lower_bounds_.shape[0] <= gm.n_iter_
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)


def test_max_iter_zero_returns_the_start():
    X = _blobs(12)
    gm = _fit(X, n_components=3, max_iter=0, random_state=0)
    assert gm.n_iter_ == 0 and not gm.converged_ and gm.lower_bounds_.shape == (0,)
    assert gm.lower_bound_ == pytest.approx(gm.score(X), rel=1e-12)


def test_warm_start_continues():
    X = _blobs(13)
    gm = GaussianMixture(
        3, max_iter=3, warm_start=True, accelerate=False, random_state=0, tol=1e-10
    )
    with pytest.warns(ConvergenceWarning, match="increase max_iter or tol"):
        gm.fit(X)
    first = gm.lower_bound_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    assert gm.init_used_ == "warm_start"
    assert gm.lower_bounds_[0] >= first - 1e-12


def test_n_init_keeps_the_best_lower_bound():
    X = _blobs(14)
    kw = dict(n_components=3, init_params="random", accelerate=False, random_state=0)
    first = _fit(X, n_init=1, **kw)  # the first initialisation of the same stream
    best = _fit(X, n_init=4, **kw)
    assert best.lower_bound_ >= first.lower_bound_
    assert best.n_passes_ > first.n_passes_
    assert best.lower_bound_ == pytest.approx(best.score(X), abs=1e-2)


def test_user_start_and_checks():
    X = _blobs(15)
    means = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])
    gm = _fit(X, n_components=3, means_init=means, random_state=0)
    assert gm.init_used_ == "kmeans"
    full = _fit(
        X,
        n_components=3,
        means_init=means,
        weights_init=np.full(3, 1 / 3),
        precisions_init=np.stack([np.eye(2)] * 3),
    )
    assert full.init_used_ == "user"
    for bad, match in [
        (dict(weights_init=[0.5, 0.5, 0.5]), "normalized"),
        (dict(weights_init=[0.5, 0.5]), "shape"),
        (dict(means_init=np.zeros((2, 2))), "shape"),
        (dict(precisions_init=-np.stack([np.eye(2)] * 3)), "positive-definite"),
    ]:
        with pytest.raises(ValueError, match=match) as info:
            GaussianMixture(3, **bad).fit(X)
        check_error(info.value)
    with pytest.raises(InvalidParameterError):
        GaussianMixture(3, init_params="moments").fit(X)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).fit(X[:4])


def test_verbose_prints(capsys):
    X = _blobs(16)
    _fit(X, n_components=2, verbose=2, verbose_interval=1, random_state=0)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 1" in out and "converged" in out


@parametrize_with_checks([GaussianMixture()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
