"""Full GMM on distinct monomials equals the two-step GMM on the dense d^k tensors."""

import numpy as np

from momix.lowrank._engine import MixtureParams
from momix.lowrank._explicit import full_weighting, mixture_moment_tensors
from momix.lowrank._solver import full_gmm_objective, pack


def _power(y, k):
    out = y
    for _ in range(k - 1):
        out = np.multiply.outer(out, y)
    return out


def test_monomial_objective_equals_dense_tensor_objective():
    """:math:`g^\\top S^+ g` is invariant under the duplication map monomials -> tensor entries.

    The dense conditions are :math:`Ag` with A of full column rank (every tensor entry copies
    one monomial), so :math:`A^\\top (ASA^\\top)^+ A = S^{-1}` for an invertible S.
    """
    rng = np.random.default_rng(4)
    d, L, n = 3, 4, 400
    params = MixtureParams(
        np.array([0.3, 0.7]), rng.normal(size=(2, d)), rng.normal(size=(2, d, 2)), 0.0
    )
    X = rng.normal(size=(n, d)) + rng.normal(size=d)
    omega = rng.dirichlet(np.ones(n))
    fw = full_weighting(X, omega, L, chunk_size=37)
    value, _ = full_gmm_objective(pack(params), fw, L, params.factors.shape, 0.0)

    F = np.stack([np.concatenate([_power(y, k).ravel() for k in range(1, L + 1)]) for y in X])
    mean = omega @ F
    S = ((F - mean) * omega[:, None]).T @ (F - mean)  # centered, q_dense = 120 > 34 monomials
    model = np.concatenate([t.ravel() for t in mixture_moment_tensors(params, L)])
    g = model - mean
    dense = g @ np.linalg.pinv(S, rcond=1e-10, hermitian=True) @ g
    assert S.shape == (120, 120) and fw.weight.shape == (34, 34)
    np.testing.assert_allclose(value, dense, rtol=1e-6)
