"""The numeric safety net: factorisations never raise, repairs are counted, the clip floor is
the constrained maximiser."""

import numpy as np
import pytest

from momix.em._numeric import clip_eigenvalues, factor_covariances, repair_variances


def _bad_matrices(d=4):
    rng = np.random.default_rng(0)
    v = rng.normal(size=d)
    return [
        np.zeros((d, d)),  # a singleton component with reg_covar = 0
        np.outer(v, v),  # rank one
        -np.eye(d),  # indefinite
        np.diag([1e16, 1.0, 1e-16, 0.0]),  # extreme conditioning
        np.ones((d, d)) * 1e-300,  # tiny and singular
        np.eye(d) * 1e200,  # huge
    ]


def test_valid_covariances_are_not_altered():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(3, 4, 4))
    S = A @ np.swapaxes(A, 1, 2) + 1e-3 * np.eye(4)
    fac = factor_covariances(S, floor=1e-6, scale2=1.0)
    assert not fac.repaired.any()
    np.testing.assert_array_equal(fac.covariances, 0.5 * (S + np.swapaxes(S, 1, 2)))
    np.testing.assert_allclose(fac.cholesky @ np.swapaxes(fac.cholesky, 1, 2), S, rtol=1e-12)
    np.testing.assert_allclose(
        fac.inverse @ fac.cholesky, np.broadcast_to(np.eye(4), S.shape), atol=1e-10
    )
    np.testing.assert_allclose(fac.log_det, np.linalg.slogdet(S)[1], rtol=1e-12)


@pytest.mark.parametrize("case", range(6))
def test_singular_and_indefinite_covariances_are_repaired(case):
    S = _bad_matrices()[case]
    fac = factor_covariances(S[None], floor=0.0, scale2=1.0)
    assert np.all(np.isfinite(fac.cholesky)) and np.all(np.isfinite(fac.inverse))
    assert np.all(np.isfinite(fac.log_det))
    lam = np.linalg.eigvalsh(fac.covariances[0])
    assert lam.min() > 0
    if case in (0, 1, 2):
        assert fac.repaired[0]


def test_nonfinite_covariances_are_flagged_not_raised():
    S = np.stack([np.eye(2), np.full((2, 2), np.nan)])
    fac = factor_covariances(S, floor=0.0, scale2=1.0)
    assert fac.nonfinite.tolist() == [False, True]
    assert np.all(np.isfinite(fac.cholesky))


def test_variances_are_repaired():
    var = np.array([[1.0, 0.0, -1e-20], [2.0, 3.0, 4.0], [np.nan, 1.0, 1.0]])
    out, repaired, nonfinite = repair_variances(var, floor=0.0, scale2=1.0)
    assert repaired.tolist() == [True, False, False]
    assert nonfinite.tolist() == [False, False, True]
    assert np.all(out > 0) and np.all(np.isfinite(1.0 / out))
    np.testing.assert_array_equal(out[1], var[1])


def _objective(Sigma, S):
    sign, logdet = np.linalg.slogdet(Sigma)
    return -logdet - np.trace(np.linalg.solve(Sigma, S))


def test_clip_is_the_constrained_maximiser():
    """F(S) maximises -log det Sigma - tr(Sigma^-1 S) over Sigma >= eps I (random rivals)."""
    rng = np.random.default_rng(2)
    v = rng.normal(size=(4, 2))
    S = v @ v.T + 1e-4 * np.eye(4)  # two eigenvalues below the floor
    eps = 0.05
    F, clipped = clip_eigenvalues(S, eps)
    assert clipped
    assert np.linalg.eigvalsh(F).min() >= eps * (1 - 1e-12)
    best = _objective(F, S)
    for _ in range(300):
        B = rng.normal(size=(4, 4)) * rng.uniform(0.01, 1.0)
        rival = F + B @ B.T * rng.uniform(0, 1)  # feasible: F + PSD >= eps I
        rival2, _ = clip_eigenvalues(S + B @ B.T * rng.uniform(-1, 1), eps)
        assert _objective(rival, S) <= best + 1e-12
        assert _objective(rival2, S) <= best + 1e-12
    unchanged, clipped = clip_eigenvalues(np.eye(3), 0.5)
    assert not clipped
    np.testing.assert_array_equal(unchanged, np.eye(3))
