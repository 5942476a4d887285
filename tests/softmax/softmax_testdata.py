"""Synthetic softmax-mixture data shared by the tests (ground truth included)."""

import numpy as np

from momix.softmax._model import sample_items, sample_situations


def make_item_data(p, L, K, N, seed, norm=1.5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((p, L))
    theta = rng.standard_normal((K, L))
    theta *= norm / np.linalg.norm(theta, axis=1, keepdims=True)
    weights = rng.dirichlet(5 * np.ones(K))
    choices, labels = sample_items(N, X, weights, theta, rng)
    return X, choices, weights, theta


def make_panel_data(n_groups, per_group, J, L, K, seed):
    rng = np.random.default_rng(seed)
    N = n_groups * per_group
    F = rng.standard_normal((N, J, L))
    groups = np.repeat(np.arange(n_groups), per_group)
    theta = 1.5 * rng.standard_normal((K, L))
    weights = np.full(K, 1 / K)
    choices, labels = sample_situations(F, groups, n_groups, weights, theta, rng)
    return F, choices, groups, weights, theta
