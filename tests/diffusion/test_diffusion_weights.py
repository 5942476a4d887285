"""ScoreMatchingMixture.fit(sample_weight=...): scale invariance, zeros, and weight 2 = twice."""

import warnings

import numpy as np
import pytest

from momix import ScoreMatchingMixture
from momix.exceptions import DataError

SMALL = {"n_noise_levels": 2, "n_steps": 5, "n_readoff_samples": 200, "degree": 1}


def _fitted(model):
    return {k: v for k, v in vars(model).items()
            if k.endswith("_") and not k.startswith("_") and isinstance(v, np.ndarray)}


def _fit(X, w=None, **params):
    params = {"n_components": 2, "random_state": 0, **SMALL, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ScoreMatchingMixture(**params).fit(X, sample_weight=w)


def _two_clusters(n, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, 2)) + [-2.0, 0.0]
    B = 0.7 * rng.normal(size=(n, 2)) + [2.0, 1.0]
    return A, B


def test_a_common_scale_of_the_weights_changes_nothing():
    A, B = _two_clusters(100)
    X = np.vstack([A, B])
    w = np.random.default_rng(1).uniform(0.5, 3.0, len(X))
    unit, weighted = _fitted(_fit(X)), _fitted(_fit(X, w))
    assert not np.allclose(weighted["means_"], unit["means_"])  # the weights do act
    fits = [(unit, _fitted(_fit(X, np.full(len(X), scale)))) for scale in (1e-300, 1e300)]
    # a power-of-two scale is exact on non-uniform weights too
    fits.append((weighted, _fitted(_fit(X, w * 2.0**-1000))))
    for reference, scaled in fits:
        for name, value in reference.items():
            np.testing.assert_array_equal(scaled[name], value, err_msg=name)


def test_zero_weights_drop_their_rows():
    A, B = _two_clusters(100)
    X = np.vstack([A, B])
    keep = np.arange(len(X)) % 3 != 0
    dropped, zeroed = _fitted(_fit(X[keep])), _fitted(_fit(X, keep.astype(float)))
    for name, value in dropped.items():
        np.testing.assert_array_equal(zeroed[name], value, err_msg=name)


def test_rows_of_positive_weight_are_what_counts():
    A, B = _two_clusters(20)
    X = np.vstack([A, B])
    w = np.zeros(len(X))
    w[3] = 1.0
    with pytest.raises(DataError, match="n_samples=1"):
        _fit(X, w)
    w[5] = 1.0  # two rows of positive weight cannot carry three components
    with pytest.raises(DataError, match="n_components=3"):
        _fit(X, w, n_components=3)


@pytest.mark.slow
def test_weight_two_counts_a_row_twice():
    """Weight 2 on one cluster and that cluster's rows repeated give the same fit in law.

    The noise draws of a weighted row and of its copy differ, so the two fits agree only up
    to Monte-Carlo error: over seeds 0-3 the read-off weight of the doubled cluster differed
    by at most 0.025 between the two, and by at least 0.13 from the unweighted fit (true
    values 2/3 and 1/2).
    """
    A, B = _two_clusters(1000)
    X = np.vstack([A, B])
    w = np.r_[np.ones(len(A)), 2.0 * np.ones(len(B))]
    params = {"n_noise_levels": 6, "n_steps": 40, "n_readoff_samples": 3000, "degree": 2}

    def read_off(X, w=None):
        model = _fit(X, w, **params)
        order = np.argsort(model.means_[:, 0])
        return model.weights_[order], model.means_[order]

    (w_weighted, mu_weighted), (w_twice, mu_twice), (w_plain, _) = (
        read_off(X, w), read_off(np.vstack([X, B])), read_off(X))
    assert abs(w_weighted[1] - w_twice[1]) < 0.05
    assert abs(w_weighted[1] - w_plain[1]) > 0.1 and abs(w_twice[1] - w_plain[1]) > 0.1
    np.testing.assert_allclose(mu_weighted, mu_twice, atol=0.2)
