"""Test helpers of the diffusion tests: overlapping mixtures with unequal covariances."""

import numpy as np


def overlapping_mixture(n_components: int = 3, n_features: int = 2, seed: int = 0):
    """Weights, means, full covariances of an overlapping, unequal-covariance mixture."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 1.2, (n_components, n_features))
    covs = []
    for _ in range(n_components):
        Q, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
        covs.append(Q @ np.diag(rng.uniform(0.15, 1.0, n_features)) @ Q.T)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    return weights, means, np.array(covs)
