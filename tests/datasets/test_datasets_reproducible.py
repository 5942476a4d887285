"""Every sampler: same random_state gives identical output; frozen results; bad sizes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from momix import datasets

SAMPLERS = {
    "lowrank": lambda rs: datasets.make_lowrank_gaussian_mixture(40, 3, 2, random_state=rs),
    "gaussian": lambda rs: datasets.make_gaussian_mixture(40, 2, 2, "full", random_state=rs),
    "regression": lambda rs: datasets.make_linear_regression_mixture(
        40, 2, 2, noise_variance=0.1, random_state=rs
    ),
    "multiview": lambda rs: datasets.make_multiview_mixture(40, 3, 2, random_state=rs),
    "poisson": lambda rs: datasets.make_poisson_mixture(40, 2, 2, random_state=rs),
    "softmax": lambda rs: datasets.make_softmax_mixture(40, 15, 2, 2, random_state=rs),
    "choice_set": lambda rs: datasets.make_choice_set_mixture(10, 4, 3, 2, 2, random_state=rs),
}


def _arrays(result):
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_same_seed_same_draw_and_frozen(name):
    make = SAMPLERS[name]
    a, b = make(11), make(np.random.default_rng(11))
    for key, value in _arrays(a).items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(getattr(b, key)), err_msg=key)
    c = make(12)
    assert any(
        not np.array_equal(np.asarray(v), np.asarray(getattr(c, k))) for k, v in _arrays(a).items()
    )
    make(np.random.RandomState(0))  # legacy generators are accepted
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.weights = None
    np.testing.assert_allclose(a.weights.sum(), 1.0)
    assert np.all(np.isfinite(a.weights))


@pytest.mark.parametrize(
    "call",
    [
        lambda: datasets.make_lowrank_gaussian_mixture(0, 3, 2),
        lambda: datasets.make_gaussian_mixture(10, 0, 2),
        lambda: datasets.make_linear_regression_mixture(10, 2, 0),
        lambda: datasets.make_multiview_mixture(10, n_views=0),
        lambda: datasets.make_poisson_mixture(2.5),
        lambda: datasets.make_softmax_mixture(10, 0),
        lambda: datasets.make_choice_set_mixture(True, 2, 2),
    ],
)
def test_bad_sizes_raise(call):
    with pytest.raises(ValueError, match="must be an integer"):
        call()
