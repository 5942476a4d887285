"""Generators of bad and edge-case input shared by the estimators' contract tests.

Importable from every test folder (``tests/`` is on ``sys.path`` through ``tests/conftest.py``).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


@st.composite
def datasets(draw):
    """(X, sample_weight) with the pathologies of the contract."""
    n = draw(st.sampled_from([1, 2, 3, 5, 8, 13, 21, 30, 40]))
    d = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["normal", "integers", "few_distinct", "bimodal"]))
    if kind == "normal":
        X = rng.normal(size=(n, d))
    elif kind == "integers":
        X = rng.integers(-2, 3, size=(n, d)).astype(float)
    elif kind == "few_distinct":
        k = draw(st.integers(1, 3))
        X = rng.normal(size=(k, d))[rng.integers(0, k, n)]
    else:
        X = rng.normal(size=(n, d)) + 5.0 * (rng.random((n, 1)) < 0.5)
    column = draw(st.sampled_from(["none", "none", "none", "constant", "duplicate"]))
    if column == "constant" and d > 1:
        X[:, -1] = draw(st.sampled_from([0.0, 1.0 / 3.0, -7.0, 1e8]))
    elif column == "duplicate" and d > 1:
        X[:, -1] = X[:, 0]
    X = X * 10.0 ** draw(st.sampled_from([-300, -200, -100, -8, 0, 0, 0, 8, 90, 99]))
    X = X + draw(st.sampled_from([0.0, 0.0, 0.0, 0.0, 1e8, -1e8, 1e4]))
    weights = draw(st.sampled_from(["none", "none", "none", "uniform_tiny", "uniform_huge",
                                    "zeros", "single", "random", "random"]))
    w = {
        "none": None,
        "uniform_tiny": np.full(n, 1e-300),
        "uniform_huge": np.full(n, 1e300),
        "zeros": np.where(np.arange(n) % 2 == 0, 1.0, 0.0),
        "single": np.eye(1, n, n // 2).ravel(),
        "random": rng.random(n),
    }[weights]
    return X, w


def make_weights(kind: str, n: int, rng: np.random.Generator):
    if kind == "none" or n == 0:
        return None
    if kind == "random":
        return rng.uniform(0.1, 3.0, n)
    if kind == "uniform_1e-300":
        return np.full(n, 1e-300)
    if kind == "uniform_1e300":
        return np.full(n, 1e300)
    if kind == "some_zero":
        w = rng.uniform(0.5, 2.0, n)
        w[rng.random(n) < 0.3] = 0.0
        w[0] = 1.0
        return w
    w = np.zeros(n)
    w[rng.integers(0, n)] = 1.0
    return w
