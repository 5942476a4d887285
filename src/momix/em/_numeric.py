r"""Numeric safety of the EM engine: factorisations that never raise.

No ``LinAlgError`` leaves the engine and no matrix is inverted explicitly.
:func:`factor_covariances` returns, for each covariance :math:`\Sigma`, the covariance actually
used, its lower Cholesky factor :math:`L` (:math:`\Sigma = LL^\top`) and
:math:`\log\det\Sigma`:

1. a plain Cholesky, accepted when every eigenvalue exceeds
   :math:`10\,d\,\epsilon_{\rm mach}\lambda_{\max}` (so any eigen-solver sees the matrix
   positive definite), the factorisation succeeds and :math:`L^{-1}` and :math:`\log\det`
   are finite: a well-conditioned covariance is never altered;
2. otherwise a diagonal jitter :math:`\Sigma + \tau_j I`,
   :math:`\tau_j = 10^j\,d\,\epsilon_{\rm mach}\max(\max_i\Sigma_{ii}, \bar s^2)`, j = 0..8;
3. otherwise ``eigh`` (numpy's, then scipy's ``evr`` driver) with the eigenvalues clipped at
   :math:`\max(\varepsilon, 20\,d\,\epsilon_{\rm mach}\lambda_{\max},
   \epsilon_{\rm mach}\bar s^2)`;
4. a covariance with non-finite entries is reported as such (the caller keeps the previous
   one).

Every case past step 1 is a *repair*, counted by the caller (``n_numeric_repairs_``).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh

from ..exceptions import DegenerateComponentWarning

__all__ = [
    "DegenerateComponentWarning",
    "EPS",
    "Factor",
    "factor_covariances",
    "clip_eigenvalues",
    "repair_variances",
    "precision_cholesky",
]

EPS = float(np.finfo(np.float64).eps)

#: a covariance is used as is only when its smallest eigenvalue exceeds
#: MARGIN * d * eps * its largest (a condition number below about 2e13 at d = 20)
MARGIN = 10.0


class Factor:
    """Covariances used, their lower Cholesky factors, log-determinants and repair flags.

    Attributes
    ----------
    covariances : ndarray of shape (K, d, d)
    cholesky : ndarray of shape (K, d, d)
        Lower factors :math:`L_k`.
    inverse : ndarray of shape (K, d, d)
        :math:`L_k^{-1}` (lower; scikit-learn's precision factor is its transpose).
    log_det : ndarray of shape (K,)
    repaired : ndarray of bool, shape (K,)
        Components whose covariance was altered (jitter or eigenvalue clipping).
    nonfinite : ndarray of bool, shape (K,)
        Components whose input covariance held NaN or inf (their outputs are meaningless and
        the caller must replace them).
    """

    __slots__ = ("covariances", "cholesky", "inverse", "log_det", "repaired", "nonfinite")

    def __init__(self, covariances, cholesky, inverse, log_det, repaired, nonfinite):
        self.covariances = covariances
        self.cholesky = cholesky
        self.inverse = inverse
        self.log_det = log_det
        self.repaired = repaired
        self.nonfinite = nonfinite


def _inverse_lower(L: np.ndarray) -> np.ndarray:
    """:math:`L^{-1}` of lower-triangular factors (K, d, d) or (d, d), lower-triangular.

    numpy's batched inverse (LAPACK ``getrf``/``getri``) with the strict upper triangle
    zeroed; a singular factor gives NaN (the callers check finiteness).
    """
    with np.errstate(all="ignore"):
        try:
            return np.tril(np.linalg.inv(L))
        except np.linalg.LinAlgError:
            return np.full_like(L, np.nan)


def _checked(L: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(L, L^{-1})`` when the factor is usable: finite, positive pivots, finite inverse."""
    diag = np.diagonal(L, axis1=-2, axis2=-1)
    if not (np.all(np.isfinite(L)) and np.all(diag > 0)):
        return None
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_det = np.sum(np.log(diag), axis=-1)
    if not np.all(np.isfinite(log_det)):
        return None
    inv = _inverse_lower(L)
    return (L, inv) if np.all(np.isfinite(inv)) else None


def _well_posed(S: np.ndarray) -> np.ndarray:
    """Per matrix: every eigenvalue above ``MARGIN`` :math:`d\\,\\epsilon_{\\rm mach}
    \\lambda_{\\max}`, so that any eigen-solver sees it positive definite."""
    d = S.shape[-1]
    try:
        lam = np.linalg.eigvalsh(S)
    except np.linalg.LinAlgError:
        return np.zeros(S.shape[:-2], dtype=bool)
    top = lam[..., -1]
    return (top > 0) & (lam[..., 0] > MARGIN * d * EPS * top)


def _cholesky(S: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    if not np.all(_well_posed(S)):
        return None
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        return None
    return _checked(L)


def _eigh(S: np.ndarray):
    """Eigen-decomposition of a symmetric matrix, ``None`` if LAPACK fails twice."""
    try:
        return np.linalg.eigh(S)
    except np.linalg.LinAlgError:
        pass
    try:
        return eigh(S, driver="evr", check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None


def clip_eigenvalues(S: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """:math:`U\\max(\\Lambda, \\varepsilon)U^\\top` of symmetric matrices; ``(matrices, clipped)``.

    The exact maximiser of :math:`-\\log\\det\\Sigma - \\operatorname{tr}(\\Sigma^{-1}S)` over
    :math:`\\Sigma \\succeq \\varepsilon I`. ``S`` is (d, d) or a stack (K, d, d); ``clipped``
    (bool, per matrix) says whether an eigenvalue was raised. A matrix whose eigenvalues are
    all at least ``floor`` is returned unchanged (symmetrised).
    """
    single = S.ndim == 2
    S = S[None] if single else S
    S = 0.5 * (S + np.swapaxes(S, -1, -2))
    out = S.copy()
    clipped = np.zeros(S.shape[0], dtype=bool)
    found = _eigh(S) if np.all(np.isfinite(S)) else None
    if found is None:  # eigh failed: per matrix, then a diagonal floor
        for k in range(S.shape[0]):
            one = _eigh(S[k]) if np.all(np.isfinite(S[k])) else None
            if one is None:
                out[k] = np.diag(np.maximum(np.diag(S[k]), floor))
                clipped[k] = True
                continue
            lam, U = one
            if lam.min() < floor:
                out[k] = (U * np.maximum(lam, floor)) @ U.T
                clipped[k] = True
    else:
        lam, U = found
        clipped = lam.min(axis=1) < floor
        if clipped.any():
            Uc = U[clipped]
            out[clipped] = (Uc * np.maximum(lam[clipped], floor)[:, None, :]) @ np.swapaxes(
                Uc, 1, 2
            )
    out = 0.5 * (out + np.swapaxes(out, -1, -2))
    return (out[0], clipped[0]) if single else (out, clipped)


def _repair_one(S: np.ndarray, floor: float, scale2: float):
    d = S.shape[0]
    top = max(float(np.max(np.diag(S))), scale2, 0.0)
    eye = np.eye(d)
    for j in range(9):
        tau = 10.0**j * d * EPS * top
        found = _cholesky(S + tau * eye)
        if found is not None:
            return (S + tau * eye, *found)
    spectrum = _eigh(S)
    if spectrum is not None:
        lam, U = spectrum
        lo = max(floor, 2 * MARGIN * d * EPS * max(float(lam.max()), 0.0), EPS * scale2)
        S2 = (U * np.maximum(lam, lo)) @ U.T
        S2 = 0.5 * (S2 + S2.T)
        found = _cholesky(S2)
        if found is not None:
            return (S2, *found)
    # last resort: the diagonal, floored (its Cholesky factor is its square root)
    lo = max(floor, d * EPS * top, EPS * scale2, np.finfo(float).tiny ** 0.5)
    S2 = np.diag(np.maximum(np.abs(np.diag(S)), lo))
    L = np.sqrt(S2)
    return S2, L, np.diag(1.0 / np.diag(L))


def factor_covariances(covariances: np.ndarray, *, floor: float, scale2: float) -> Factor:
    """Factor a stack of covariances (K, d, d), repairing those that are not usable.

    Parameters
    ----------
    covariances : ndarray of shape (K, d, d)
    floor : float
        The model floor :math:`\\varepsilon` (a lower bound for clipped eigenvalues).
    scale2 : float
        The data scale :math:`\\bar s^2` (positive; sets the jitter of an all-zero covariance).

    Returns
    -------
    Factor
    """
    S = 0.5 * (covariances + np.swapaxes(covariances, -1, -2))
    K, d = S.shape[0], S.shape[1]
    nonfinite = ~np.all(np.isfinite(S.reshape(K, -1)), axis=1)
    repaired = np.zeros(K, dtype=bool)
    found = None if nonfinite.any() else _cholesky(S)
    if found is not None:
        L, inv = found
    else:
        S, L, inv = S.copy(), np.empty_like(S), np.empty_like(S)
        for k in range(K):
            if nonfinite[k]:
                S[k] = L[k] = inv[k] = np.eye(d)
                continue
            one = _cholesky(S[k])
            if one is None:
                S[k], *one = _repair_one(S[k], floor, scale2)
                repaired[k] = True
            L[k], inv[k] = one
    log_det = 2.0 * np.sum(np.log(np.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    return Factor(S, L, inv, log_det, repaired, nonfinite)


def repair_variances(
    variances: np.ndarray, *, floor: float, scale2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Variances (K, m) made positive with finite reciprocals; ``(variances, repaired, nonfinite)``.

    A non-positive variance or one whose reciprocal overflows is raised to
    :math:`\\max(\\varepsilon, m\\,\\epsilon_{\\rm mach}\\max(\\max_j\\sigma^2_{kj},\\bar s^2))`;
    rows with a non-finite entry are flagged (and set to one) for the caller to replace.
    """
    var = np.array(variances, dtype=np.float64)
    nonfinite = ~np.all(np.isfinite(var), axis=1)
    var[nonfinite] = 1.0
    with np.errstate(divide="ignore", over="ignore"):
        bad = ~(var > 0) | ~np.isfinite(1.0 / var) | ~np.isfinite(np.log(np.abs(var) + 0.0))
    repaired = bad.any(axis=1) & ~nonfinite
    if repaired.any():
        m = var.shape[1]
        top = np.maximum(np.max(var, axis=1), scale2)
        lo = np.maximum(floor, m * EPS * top)
        lo = np.where(lo > 0, lo, np.finfo(float).tiny ** 0.5)
        var = np.where(bad, np.maximum(var, lo[:, None]), var)
    return var, repaired, nonfinite


def precision_cholesky(cholesky: np.ndarray) -> np.ndarray:
    """scikit-learn's upper precision factor :math:`P = L^{-\\top}` (inverse transposed)."""
    return np.swapaxes(_inverse_lower(cholesky), -1, -2)
