"""Statistical behaviour (slow): error rates in N, moment-start consistency."""

import numpy as np
import pytest

from momix import SoftmaxMixture
from momix.metrics import parameter_error
from momix.softmax._model import ItemSetData, log_choice_probabilities
from momix.softmax._start import moment_starts


def _counts(p, L, N, seed, theta, weights):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((p, L))
    pi = weights @ np.exp(log_choice_probabilities(X[None], theta)[:, 0, :])
    return X, rng.multinomial(N, pi / pi.sum()).astype(float)


@pytest.mark.slow
def test_em_error_decreases_like_root_n():
    theta = np.array([[1.5, 0.5, 0.0], [-1.0, 1.0, 0.5], [0.3, -1.2, -0.8]])
    weights = np.array([0.3, 0.3, 0.4])
    sizes, errs = [10_000, 100_000, 1_000_000], []
    for N in sizes:
        e = []
        for seed in range(6):
            X, counts = _counts(10_000, 3, N, seed, theta, weights)
            model = SoftmaxMixture(3, random_state=seed).fit(X, counts=counts)
            e.append(parameter_error(theta, model.coefs_, relative=False).value)
        errs.append(np.median(e))
    slope = np.polyfit(np.log(sizes), np.log(errs), 1)[0]
    assert -0.7 < slope < -0.35, (errs, slope)


@pytest.mark.slow
def test_moment_start_error_decreases_with_n_equal_p():
    """Spec test 6: Err_theta(MoM) decreases as N = p grows (K = 2, L = 2)."""
    theta, weights = np.array([[1.2, 0.4], [-0.8, 0.9]]), np.array([0.4, 0.6])
    errs = []
    for n in (2_000, 200_000):
        e = []
        for seed in range(8):
            X, counts = _counts(n, 2, n, seed, theta, weights)
            starts = moment_starts(ItemSetData(X, counts), 2, 20, np.random.default_rng(seed))
            e.append(parameter_error(theta, starts.theta[0], relative=False).value)
        errs.append(np.median(e))
    assert errs[1] < 0.5 * errs[0], errs
