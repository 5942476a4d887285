"""Reverse-diffusion sampler with the exact score, and the level interpolation."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from momix._base import sample_gaussian_mixture
from momix.diffusion import (
    evaluate_score,
    mixture_log_density,
    mixture_score,
    reverse_diffusion,
    time_grid,
    vp_coefficients,
)
from momix.diffusion._regression import ScoreEvaluation


def test_time_grid_geometric():
    grid = time_grid(1e-3, 4.0, 5)
    np.testing.assert_allclose(grid[[0, -1]], [1e-3, 4.0])
    np.testing.assert_allclose(grid[1:] / grid[:-1], (4.0 / 1e-3) ** 0.25)


def test_oracle_sampler_log_density_gap(mixture3):
    """Spec A test 4: with the true score the sample log-density is within 0.05 nats."""
    w, mu, cov = mixture3
    rng = np.random.default_rng(0)
    grid = time_grid(1e-3, 4.0, 201)[::-1]
    with threadpool_limits(1, "blas"):
        X = reverse_diffusion(lambda x, t: mixture_score(x, w, mu, cov, t),
                              rng.standard_normal((20_000, 2)), grid, rng)
    ref = mixture_log_density(sample_gaussian_mixture(100_000, w, mu, cov, rng)[0], w, mu, cov)
    gap = mixture_log_density(X, w, mu, cov).mean() - ref.mean()
    assert abs(gap) < 0.05


def test_exponential_integrator_variance_recursion():
    """For N(0, I) data the score is -x; each step maps the variance v to
    (e^h - c)^2 v + e^{2h} - 1 with c = 2 s_t (e^h s_t - s_t') (a slow scalar loop is the
    oracle). The discretisation error (v - 1 = 0.060 after 30 steps) is well below that of
    freezing the score instead, (2 - e^h)^2 v + e^{2h} - 1 (v - 1 = 0.161)."""
    rng = np.random.default_rng(1)
    grid = time_grid(1e-3, 4.0, 31)[::-1]
    X = reverse_diffusion(lambda x, t: -x, rng.standard_normal((100_000, 2)), grid, rng)
    v = 1.0
    for t, t_next in zip(grid[:-1], grid[1:], strict=True):
        h = t - t_next
        s, s_next = np.sqrt(-np.expm1(-2 * t)), np.sqrt(-np.expm1(-2 * t_next))
        v = (np.exp(h) - 2 * s * (np.exp(h) * s - s_next)) ** 2 * v + np.expm1(2 * h)
    np.testing.assert_allclose(np.var(X, axis=0), v, rtol=0.02)
    assert abs(v - 1.0) < 0.07


class _FakeLevel:
    def __init__(self, t, value):
        self.t, self.value = t, value


def test_interpolation_in_noise_prediction(monkeypatch):
    """Exact at the levels, clamped outside, eps-linear in log t in between."""
    import momix.diffusion._sampler as sampler

    def fake_eval(level, crude, X, degree):
        n = len(X)
        return ScoreEvaluation(np.full((n, 1), level.value), np.zeros(n, int), np.zeros(n, bool))

    monkeypatch.setattr(sampler, "evaluate_level", fake_eval)
    times = np.array([0.01, 0.1, 1.0])
    model = sampler.PiecewisePolynomialScore(None, times, tuple(
        _FakeLevel(t, v) for t, v in zip(times, [1.0, 2.0, 3.0], strict=True)), 1)
    X = np.zeros((2, 1))
    for t, v in [(0.01, 1.0), (0.1, 2.0), (1.0, 3.0), (1e-5, 1.0), (50.0, 3.0)]:
        np.testing.assert_allclose(evaluate_score(model, X, t).score, v)
    t = np.sqrt(0.01 * 0.1)
    s = np.sqrt(vp_coefficients(np.array([0.01, 0.1, t]))[1])
    expected = (0.5 * s[0] * 1.0 + 0.5 * s[1] * 2.0) / s[2]
    np.testing.assert_allclose(evaluate_score(model, X, t).score, expected)


@pytest.mark.slow
def test_oracle_sampler_histogram_tv(mixture3):
    """Spec A test 4: 2-D histogram TV below 0.05 at n = 1e5 with the true score."""
    w, mu, cov = mixture3
    rng = np.random.default_rng(5)
    grid = time_grid(1e-3, 4.0, 201)[::-1]
    with threadpool_limits(1, "blas"):
        X = reverse_diffusion(lambda x, t: mixture_score(x, w, mu, cov, t),
                              rng.standard_normal((100_000, 2)), grid, rng)
    Y = sample_gaussian_mixture(100_000, w, mu, cov, rng)[0]
    edges = [np.linspace(-5, 5, 41)] * 2
    h1 = np.histogram2d(*X.T, bins=edges)[0] / len(X)
    h2 = np.histogram2d(*Y.T, bins=edges)[0] / len(Y)
    assert 0.5 * np.abs(h1 - h2).sum() < 0.05
