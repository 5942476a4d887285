"""ScoreMatchingMixture: learned score against the closed form, sampling, API and bad input."""

import warnings

import numpy as np
import pytest
from diffusion_helpers import overlapping_mixture
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import NotFittedError

from momix._base import sample_gaussian_mixture
from momix.diffusion import ScoreMatchingMixture, forward_noise, mixture_log_density, mixture_score

FAST = {"n_noise_levels": 14, "n_steps": 80, "n_readoff_samples": 3000}


def _rel_score_error(model, w, mu, cov, t, rng, n=5000):
    std = {"center": model.center_, "scale": model.scale_}
    X0 = sample_gaussian_mixture(n, w, mu, cov, rng)[0]
    Xt = forward_noise(X0, t, rng.standard_normal(X0.shape), **std)
    truth = mixture_score(Xt, w, mu, cov, t, **std)
    return np.linalg.norm(model.score_function(Xt, t) - truth) / np.linalg.norm(truth)


@pytest.fixture(scope="module")
def fitted():
    w, mu, cov = overlapping_mixture(3, 2, seed=3)
    X = sample_gaussian_mixture(20_000, w, mu, cov, np.random.default_rng(0))[0]
    model = ScoreMatchingMixture(3, random_state=0, **FAST).fit(X)
    return model, (w, mu, cov), X


def test_learned_score_close_to_closed_form(fitted):
    model, (w, mu, cov), _ = fitted
    rng = np.random.default_rng(1)
    assert _rel_score_error(model, w, mu, cov, 1.0, rng) < 0.03
    assert _rel_score_error(model, w, mu, cov, 0.1, rng) < 0.1


def test_plain_vp_process_without_standardisation(fitted):
    _, (w, mu, cov), X = fitted
    model = ScoreMatchingMixture(3, standardize=False, random_state=0, **FAST).fit(X)
    np.testing.assert_array_equal(model.center_, 0.0)
    np.testing.assert_array_equal(model.scale_, 1.0)
    assert _rel_score_error(model, w, mu, cov, 1.0, np.random.default_rng(9)) < 0.02


def test_affine_equivariance(fitted):
    """Spec A test 8: scaling by 10 and shifting maps samples and scores accordingly."""
    model, _, X = fitted
    shift = np.array([100.0, -50.0])
    moved = ScoreMatchingMixture(3, random_state=0, **FAST).fit(10 * X + shift)
    Xs, _ = model.sample(500, random_state=4)
    Ys, _ = moved.sample(500, random_state=4)
    np.testing.assert_allclose(Ys, 10 * Xs + shift, rtol=1e-6, atol=1e-6 * 100)
    np.testing.assert_allclose(moved.score_function(10 * X[:50] + shift, 0.1),
                               model.score_function(X[:50], 0.1) / 10, rtol=1e-6, atol=1e-8)


def test_partition_beats_single_polynomial(fitted):
    """Spec A test 5: the partition cuts the score error at small t (here >= 2x)."""
    model, (w, mu, cov), X = fitted
    single = ScoreMatchingMixture(3, partition="none", random_state=0, **FAST).fit(X)
    rng = np.random.default_rng(2)
    for t in (0.01, 0.1):
        part = _rel_score_error(model, w, mu, cov, t, rng)
        assert 2 * part < _rel_score_error(single, w, mu, cov, t, rng)


def test_samples_finite_and_close_in_log_density(fitted):
    model, (w, mu, cov), _ = fitted
    X, labels = model.sample(5000)
    assert X.shape == (5000, 2) and labels.shape == (5000,)
    assert np.all(np.isfinite(X))
    ref = mixture_log_density(sample_gaussian_mixture(50_000, w, mu, cov,
                                                      np.random.default_rng(3))[0], w, mu, cov)
    assert abs(mixture_log_density(X, w, mu, cov).mean() - ref.mean()) < 0.1


def test_read_off_parameters_are_a_valid_mixture(fitted):
    model, _, X = fitted
    assert model.weights_.shape == (3,) and model.means_.shape == (3, 2)
    np.testing.assert_allclose(model.weights_.sum(), 1.0)
    assert np.all(np.linalg.eigvalsh(model.covariances_) > 0)
    assert np.isfinite(model.score(X)) and model.predict(X).shape == (len(X),)
    assert model.bic(X) > model.aic(X) - 1e9


def test_same_seed_same_samples(fitted):
    model, _, _ = fitted
    np.testing.assert_array_equal(model.sample(50, random_state=7)[0],
                                  model.sample(50, random_state=7)[0])
    assert not np.array_equal(model.sample(50, random_state=7)[0],
                              model.sample(50, random_state=8)[0])


def test_score_finite_far_out(fitted):
    model, _, _ = fitted
    far = np.array([[1e6, 1e6], [-1e9, 0.0], [0.0, 1e12]])
    for t in (0.0, 1e-3, 0.1, 10.0):
        ev = model.score_evaluation(far, t)
        assert np.all(np.isfinite(ev.score)) and np.all(ev.extrapolated)


@pytest.mark.parametrize("seed", [0, 2**32 - 1, pytest.param(1, marks=pytest.mark.slow),
                                  pytest.param(2**31 - 1, marks=pytest.mark.slow),
                                  pytest.param(123456789, marks=pytest.mark.slow)])
def test_no_nan_with_extreme_seeds_and_degree(seed):
    """Spec A test 6: no NaN in generated samples for any degree <= 5."""
    w, mu, cov = overlapping_mixture(4, 2, seed=seed % 97)
    X = sample_gaussian_mixture(3000, w, mu, cov, np.random.default_rng(seed))[0]
    model = ScoreMatchingMixture(4, degree=5, n_noise_levels=8, n_steps=40,
                                 n_readoff_samples=500, random_state=seed).fit(X)
    Xs, _ = model.sample(2000)
    assert np.all(np.isfinite(Xs))


def test_single_gaussian_mean_and_covariance():
    """Spec A test 9 (k = 1): sample mean and covariance within 5%."""
    rng = np.random.default_rng(4)
    cov = np.array([[1.0, 0.6], [0.6, 2.0]])
    X = rng.multivariate_normal([2.0, -1.0], cov, size=5000)
    model = ScoreMatchingMixture(1, random_state=0, n_noise_levels=8, n_steps=200,
                                 n_readoff_samples=4000).fit(X)
    Xs, _ = model.sample(10_000)
    np.testing.assert_allclose(Xs.mean(axis=0), [2.0, -1.0], atol=0.05 * 2.0)
    np.testing.assert_allclose(np.cov(Xs.T), cov, atol=0.05 * 2.0)
    np.testing.assert_allclose(model.means_[0], [2.0, -1.0], atol=0.1)  # 4000 read-off draws


def test_progress_bar_at_verbose(capsys):
    X = np.random.default_rng(5).normal(size=(300, 2))
    ScoreMatchingMixture(1, verbose=1, n_noise_levels=3, n_steps=5,
                         n_readoff_samples=100, random_state=0).fit(X)
    err = capsys.readouterr().err
    assert "score matching" in err and "read-off sampling" in err


def test_bad_input():
    X = np.random.default_rng(6).normal(size=(100, 2))
    with pytest.raises(ValueError, match="noise_reps"):
        ScoreMatchingMixture(noise_reps=3).fit(X)
    with pytest.raises(ValueError):
        ScoreMatchingMixture(partition="kmeans").fit(X)
    with pytest.raises(ValueError, match="NaN|infinity"):
        ScoreMatchingMixture().fit(np.array([[0.0, np.nan]] * 10))
    with pytest.raises(NotFittedError):
        ScoreMatchingMixture().score_function(X, 0.1)
    model = ScoreMatchingMixture(n_noise_levels=3, n_steps=5, n_readoff_samples=100,
                                 random_state=0).fit(X)
    with pytest.raises(ValueError, match="t must be"):
        model.score_function(X, -1.0)
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(0)
    with pytest.raises(ValueError, match="features"):
        model.score_function(X[:, :1], 0.1)


@settings(max_examples=8, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 40), st.integers(1, 3)),
              elements=st.floats(-1e6, 1e6, allow_nan=False, width=64)))
def test_arbitrary_data_fits_finitely_or_raises(X):
    """A clear ValueError or a finite fit and finite samples, never NaN."""
    model = ScoreMatchingMixture(2, n_noise_levels=3, n_steps=5, n_readoff_samples=50,
                                 random_state=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X)
    except ValueError:
        return
    Xs, _ = model.sample(20)
    assert np.all(np.isfinite(Xs))
    assert np.all(np.isfinite(model.score_function(X, 0.5)))


@pytest.mark.slow
def test_learned_sampler_close_to_oracle_sampler():
    """Spec A test 7: learned-score samples within 0.2 nats of the exact-score sampler."""
    from threadpoolctl import threadpool_limits

    from momix.diffusion import reverse_diffusion, time_grid

    w, mu, cov = overlapping_mixture(3, 2, seed=3)
    X = sample_gaussian_mixture(20_000, w, mu, cov, np.random.default_rng(0))[0]
    model = ScoreMatchingMixture(3, random_state=0).fit(X)
    Xs, _ = model.sample(10_000, random_state=1)
    std = {"center": model.center_, "scale": model.scale_}
    grid = time_grid(model.times_[0], model.times_[-1], model.n_steps + 1)[::-1]
    rng = np.random.default_rng(2)
    with threadpool_limits(1, "blas"):
        Z = reverse_diffusion(
            lambda z, t: model.scale_ * mixture_score(model.center_ + model.scale_ * z, w, mu,
                                                      cov, t, **std),
            rng.standard_normal((10_000, 2)), grid, rng)
    oracle = model.center_ + model.scale_ * Z
    learned = mixture_log_density(Xs, w, mu, cov).mean()
    assert abs(learned - mixture_log_density(oracle, w, mu, cov).mean()) < 0.2
