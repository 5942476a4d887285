"""The family contract on the Gaussian family: parameter maps, statistics, free parameters."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from momix.em import COVARIANCE_TYPES, EMData, GaussianFamily, Stats
from momix.em._families.gaussian import DiagStats, FullStats


def _data(seed=0, n=200, d=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 5.0


def _family(ct, X, floor="add"):
    fam = GaussianFamily(ct, floor=floor)
    fam.prepare(EMData(X).summary())
    return fam


def _random_params(fam, K, d, rng):
    A = rng.normal(size=(K, d, d))
    full = A @ np.swapaxes(A, 1, 2) + 0.1 * np.eye(d)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": rng.uniform(0.1, 3.0, size=(K, d)),
        "spherical": rng.uniform(0.1, 3.0, size=K),
    }[fam.covariance_type]
    weights = rng.dirichlet(np.ones(K))
    return fam.make_params(weights, rng.normal(size=(K, d)) + fam.center, cov)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_pack_unpack_round_trip(ct):
    rng = np.random.default_rng(1)
    X = _data()
    fam = _family(ct, X)
    params = _random_params(fam, 4, 3, rng)
    eta = fam.pack(params)
    back = fam.unpack(eta, 4)
    for name in ("weights", "means", "covariances"):
        a, b = getattr(params, name), getattr(back, name)
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * np.abs(a).max())
    np.testing.assert_allclose(fam.pack(back), eta, rtol=1e-12, atol=1e-12)
    # every vector is a valid parameter: a random one gives positive definite covariances
    other = fam.unpack(rng.normal(size=eta.shape), 4)
    assert np.isclose(other.weights.sum(), 1.0)
    assert np.all(np.linalg.eigvalsh(other.full_covariances()) > 0)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_pack_is_invariant_to_affine_units(ct):
    rng = np.random.default_rng(2)
    X = _data()
    fam, fam2 = _family(ct, X), _family(ct, 1e4 * X - 3e6)
    params = _random_params(fam, 3, 3, rng)
    scale = {"full": 1e8, "tied": 1e8, "diag": 1e8, "spherical": 1e8}[ct]
    moved = fam2.make_params(params.weights, 1e4 * params.means - 3e6, scale * params.covariances)
    np.testing.assert_allclose(fam2.pack(moved), fam.pack(params), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_n_free_matches_scikit_learn(ct):
    X = _data()
    sk = SklearnGaussianMixture(3, covariance_type=ct, random_state=0).fit(X)
    assert GaussianFamily(ct).n_free(3, X.shape[1]) == sk._n_parameters()


def test_stats_are_additive_and_pack():
    rng = np.random.default_rng(3)
    a = FullStats(rng.normal(size=(2, 3)), rng.normal(size=(2, 3, 3)))
    b = FullStats(rng.normal(size=(2, 3)), rng.normal(size=(2, 3, 3)))
    total = a + b
    np.testing.assert_array_equal(total.s, a.s + b.s)
    np.testing.assert_array_equal(total.C, a.C + b.C)
    c = a.copy().add_(b)
    np.testing.assert_array_equal(c.pack(), total.pack())
    back = a.unpack(total.pack())
    assert isinstance(back, Stats)
    np.testing.assert_array_equal(back.C, total.C)
    with pytest.raises(ValueError, match="entries"):
        a.unpack(np.zeros(3))
    d = DiagStats(np.ones((2, 3)), np.ones((2, 3)))
    assert d.pack().shape == (12,)


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_take_keeps_shared_fields(ct):
    rng = np.random.default_rng(4)
    fam = _family(ct, _data())
    params = _random_params(fam, 4, 3, rng)
    sub = params.take([2, 0])
    np.testing.assert_array_equal(sub.means, params.means[[2, 0]])
    np.testing.assert_array_equal(sub.weights, params.weights[[2, 0]])
    if ct == "tied":
        np.testing.assert_array_equal(sub.covariances, params.covariances)
    else:
        np.testing.assert_array_equal(sub.covariances, params.covariances[[2, 0]])


@pytest.mark.parametrize("ct", COVARIANCE_TYPES)
def test_sample_draws_from_the_components(ct):
    rng = np.random.default_rng(5)
    fam = _family(ct, _data())
    params = _random_params(fam, 2, 3, rng)
    X, labels = fam.sample(params, 40000, np.random.default_rng(0))
    assert X.shape == (40000, 3) and labels.shape == (40000,)
    assert np.all(np.diff(labels) >= 0)  # grouped by component
    for k in range(2):
        Xk = X[labels == k]
        assert abs(len(Xk) / 40000 - params.weights[k]) < 0.02
        np.testing.assert_allclose(Xk.mean(0), params.means[k], atol=0.1)
        np.testing.assert_allclose(
            np.cov(Xk.T),
            params.full_covariances()[k],
            atol=0.15 * np.abs(params.full_covariances()[k]).max(),
        )


def test_family_refuses_unknown_settings():
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianFamily("banana")
    with pytest.raises(ValueError, match="floor"):
        GaussianFamily("full", floor="soft")
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianFamily("full", reg_covar=-1.0)
    with pytest.raises(RuntimeError, match="prepare"):
        GaussianFamily("full").make_params(np.ones(1), np.zeros((1, 2)), np.eye(2)[None])
