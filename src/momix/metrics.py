r"""Permutation-matched errors between a fitted and a true mixture.

Mixture components are identified only up to relabelling, so every error here first finds
the permutation :math:`\sigma` that pairs true component :math:`k` with estimated component
:math:`\sigma(k)` by the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`),
then measures errors on the matched pairs.

Which spec uses which metric
----------------------------
========================  ================================================================
DGMM (dgmm.md §6)         match on relative covariance error; mean over components of the
                          relative weight, mean and covariance (Frobenius) errors:
                          ``mixture_errors(..., match="covariances")``
Polymom (polymom.md §2)   match on :math:`\|\mu_k-\hat\mu_j\|_2`; paper metric
                          :math:`\max_k \|\theta_k-\hat\theta_{\sigma(k)}\|_2/\|\theta_k\|_2`
                          (``parameter_error(...).value``, ``reduce="max"``), table-code
                          metric: max over coordinates (``.coordinate_errors.max()``)
Softmax (softmax.md §4)   :math:`\mathrm{Err}_\theta=\max_k\|\hat\theta_{\sigma(k)}-\theta_k\|_2`
                          (``parameter_error(theta, theta_hat, relative=False)``) and
                          :math:`\mathrm{Err}_\alpha` with the same :math:`\sigma`
                          (``parameter_error(alpha[:, None], alpha_hat[:, None],
                          relative=False, permutation=...)``)
Score matching (A.3)      EM on generated samples, then mean/weight/covariance errors:
                          :func:`mixture_errors`
========================  ================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "match_components",
    "MixtureErrors",
    "mixture_errors",
    "ParameterError",
    "parameter_error",
]

CostSpec = str | Callable[[np.ndarray, np.ndarray], np.ndarray] | np.ndarray


# ---------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------


def _as_components(params, name: str) -> np.ndarray:
    """Return ``params`` as a float64 array whose first axis indexes components."""
    arr = np.asarray(params, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a leading component axis, got a scalar")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no components")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_same_k(true: np.ndarray, est: np.ndarray, what: str) -> None:
    if true.shape[0] != est.shape[0]:
        raise ValueError(
            f"{what}: the estimate has {est.shape[0]} components but the truth has "
            f"{true.shape[0]}; errors are defined only for equal numbers of components "
            "(fit with n_components equal to the true number)"
        )
    if true.shape[1:] != est.shape[1:]:
        raise ValueError(
            f"{what}: per-component shapes differ, truth {true.shape[1:]} "
            f"vs estimate {est.shape[1:]}"
        )


def _relative_denominator(norms: np.ndarray, what: str) -> np.ndarray:
    if np.any(norms == 0):
        k = int(np.flatnonzero(norms == 0)[0])
        raise ValueError(
            f"relative {what} error is undefined: the true value of entry {k} is zero; "
            "use relative=False"
        )
    return norms


# ---------------------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------------------


def _cost_matrix(true: np.ndarray, est: np.ndarray, cost: CostSpec) -> np.ndarray:
    """Cost ``C[k, j]`` of pairing true component ``k`` with estimated component ``j``."""
    if isinstance(cost, str):
        t = true.reshape(true.shape[0], -1)
        e = est.reshape(est.shape[0], -1)
        dist = np.linalg.norm(t[:, None, :] - e[None, :, :], axis=-1)
        if cost == "euclidean":
            return dist
        if cost == "relative":
            return dist / _relative_denominator(np.linalg.norm(t, axis=1), "matching")[:, None]
        raise ValueError(
            f"cost must be 'euclidean', 'relative', a callable or an array, got {cost!r}"
        )
    matrix = cost(true, est) if callable(cost) else cost
    matrix = np.asarray(matrix, dtype=np.float64)
    k = true.shape[0]
    if matrix.shape != (k, k):
        raise ValueError(f"cost matrix must have shape ({k}, {k}), got {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("cost matrix contains NaN or infinite values")
    return matrix


def match_components(true_params, est_params, cost: CostSpec = "euclidean") -> np.ndarray:
    r"""Permutation pairing estimated with true components at minimum total cost.

    Solves the assignment problem

    .. math::

        \sigma = \arg\min_{\sigma \in S_K} \sum_{k=1}^K C_{k,\sigma(k)}

    with the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`).

    Parameters
    ----------
    true_params : array-like of shape (n_components, ...)
        True per-component parameters (means, covariances, coefficient vectors, ...).
        Trailing axes are flattened.
    est_params : array-like of shape (n_components, ...)
        Estimated parameters, same shape.
    cost : {'euclidean', 'relative'}, callable or array of shape (n_components, n_components)
        ``'euclidean'``: :math:`C_{kj}=\|t_k-e_j\|_2` (Frobenius for matrices);
        ``'relative'``: :math:`C_{kj}=\|t_k-e_j\|_2/\|t_k\|_2`;
        a callable ``cost(true, est)`` returning the matrix; or the matrix itself.

    Returns
    -------
    permutation : ndarray of shape (n_components,), dtype int
        ``permutation[k]`` is the index of the estimated component matched to true
        component ``k``, so ``est_params[permutation]`` is aligned with ``true_params``.

    Raises
    ------
    ValueError
        If the numbers of components (or the per-component shapes) differ.

    Examples
    --------
    >>> match_components([[0.0], [5.0]], [[5.1], [0.2]]).tolist()
    [1, 0]
    """
    true = _as_components(true_params, "true_params")
    est = _as_components(est_params, "est_params")
    _check_same_k(true, est, "match_components")
    rows, cols = linear_sum_assignment(_cost_matrix(true, est, cost))
    perm = np.empty(true.shape[0], dtype=np.intp)
    perm[rows] = cols
    return perm


def _check_permutation(permutation, k: int) -> np.ndarray:
    perm = np.asarray(permutation)
    if perm.shape != (k,) or not np.array_equal(np.sort(perm), np.arange(k)):
        raise ValueError(f"permutation must be a permutation of 0..{k - 1}, got {permutation!r}")
    return perm.astype(np.intp)


# ---------------------------------------------------------------------------------------
# generic parameter vectors
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterError:
    r"""Matched error between true and estimated parameter matrices of shape (K, P).

    Attributes
    ----------
    value : float
        ``reduce`` (max or mean) of ``component_errors``.
    component_errors : ndarray of shape (K,)
        :math:`\|\theta_k-\hat\theta_{\sigma(k)}\|_2` divided by
        :math:`\|\theta_k\|_2` when relative.
    coordinate_errors : ndarray of shape (P,)
        Per-coordinate (column) errors :math:`\|\Theta_{:,p}-\hat\Theta_{\sigma,p}\|_2`,
        divided by :math:`\|\Theta_{:,p}\|_2` when relative (Polymom's table code reports
        their maximum).
    permutation : ndarray of shape (K,)
        ``permutation[k]`` = estimated component matched to true component ``k``.
    """

    value: float
    component_errors: np.ndarray
    coordinate_errors: np.ndarray
    permutation: np.ndarray


def parameter_error(
    true,
    est,
    *,
    relative: bool = True,
    reduce: str = "max",
    permutation=None,
) -> ParameterError:
    r"""Permutation-matched error of generic per-component parameter vectors.

    With :math:`\sigma` from :func:`match_components` on Euclidean distance (or given):

    .. math::

        e_k = \frac{\|\theta_k - \hat\theta_{\sigma(k)}\|_2}{\|\theta_k\|_2},
        \qquad \text{value} = \max_k e_k \;(\text{or } \tfrac1K\textstyle\sum_k e_k).

    This is Polymom's metric (paper: max over components of the relative error) and, with
    ``relative=False``, the softmax ``Err_theta``. Polymom parameter vectors follow the
    model's ``param_names`` column order; softmax vectors are the coefficients ``coefs``.

    Parameters
    ----------
    true : array-like of shape (n_components, n_params)
    est : array-like of shape (n_components, n_params)
    relative : bool, default=True
        Divide by the norm of the true component (or coordinate column). Raises if that
        norm is zero.
    reduce : {'max', 'mean'}, default='max'
        How ``component_errors`` are combined into ``value``.
    permutation : array-like of shape (n_components,), optional
        Use this pairing instead of matching (e.g. to score weights with the pairing found
        on the coefficients).

    Returns
    -------
    ParameterError

    Raises
    ------
    ValueError
        On different numbers of components, different ``n_params``, or a zero true norm
        with ``relative=True``.

    References
    ----------
    S. I. Wang, A. T. Chaganty, P. Liang, "Estimating mixture models via mixtures of
    polynomials", NIPS 2015, §5.

    Examples
    --------
    >>> res = parameter_error([[1.0, 0.0], [0.0, 2.0]], [[0.0, 2.5], [1.3, 0.0]])
    >>> res.permutation.tolist(), round(res.value, 6)
    ([1, 0], 0.3)
    """
    t = _as_components(true, "true")
    e = _as_components(est, "est")
    if t.ndim == 1:
        t = t[:, None]
    if e.ndim == 1:
        e = e[:, None]
    if t.ndim != 2 or e.ndim != 2:
        raise ValueError(
            f"true and est must be 2-D (n_components, n_params), got {t.shape}, {e.shape}"
        )
    _check_same_k(t, e, "parameter_error")
    if reduce not in ("max", "mean"):
        raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}")
    if permutation is None:
        perm = match_components(t, e)
    else:
        perm = _check_permutation(permutation, len(t))
    diff = t - e[perm]
    comp = np.linalg.norm(diff, axis=1)
    coord = np.linalg.norm(diff, axis=0)
    if relative:
        comp = comp / _relative_denominator(np.linalg.norm(t, axis=1), "component")
        coord = coord / _relative_denominator(np.linalg.norm(t, axis=0), "coordinate")
    value = float(comp.max() if reduce == "max" else comp.mean())
    return ParameterError(
        value=value, component_errors=comp, coordinate_errors=coord, permutation=perm
    )


# ---------------------------------------------------------------------------------------
# Gaussian mixtures
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixtureErrors:
    r"""Relative errors of a fitted Gaussian mixture after matching components.

    Attributes
    ----------
    weights, means, covariances : float
        Means over components of the per-component errors below (the aggregation of the
        DGMM reference code; take ``.max()`` of the arrays for a worst-case version).
    weight_errors : ndarray of shape (K,)
        :math:`|\hat\pi_{\sigma(k)}-\pi_k|/\pi_k`.
    mean_errors : ndarray of shape (K,)
        :math:`\|\hat\mu_{\sigma(k)}-\mu_k\|_2/\|\mu_k\|_2`.
    covariance_errors : ndarray of shape (K,)
        :math:`\|\hat\Sigma_{\sigma(k)}-\Sigma_k\|_F/\|\Sigma_k\|_F`.
    permutation : ndarray of shape (K,)
        ``permutation[k]`` = estimated component matched to true component ``k``.
    match : str
        The matching cost used.
    """

    weights: float
    means: float
    covariances: float
    weight_errors: np.ndarray
    mean_errors: np.ndarray
    covariance_errors: np.ndarray
    permutation: np.ndarray
    match: str


def _full_covariances(cov, n_components: int, n_features: int, name: str) -> np.ndarray:
    """Expand spherical (K,), diagonal (K, d) or full (K, d, d) covariances to (K, d, d)."""
    c = _as_components(cov, name)
    k, d = n_components, n_features
    if c.shape == (k,):
        return c[:, None, None] * np.eye(d)
    if c.shape == (k, d):
        return c[:, :, None] * np.eye(d)
    if c.shape == (k, d, d):
        return c
    raise ValueError(
        f"{name} must have shape ({k},) spherical, ({k}, {d}) diagonal or ({k}, {d}, {d}) full, "
        f"got {c.shape}"
    )


def _check_weights(w, k: int, name: str) -> np.ndarray:
    w = _as_components(w, name)
    if w.shape != (k,):
        raise ValueError(f"{name} must have shape ({k},), got {w.shape}")
    return w


def _gaussian_cost(mu, cov, mu_hat, cov_hat, match: str) -> np.ndarray:
    mean_norm = np.linalg.norm(mu, axis=1)
    cov_norm = np.linalg.norm(cov.reshape(len(cov), -1), axis=1)
    d_mean = np.linalg.norm(mu[:, None] - mu_hat[None], axis=-1)
    d_cov = np.linalg.norm((cov[:, None] - cov_hat[None]).reshape(len(mu), len(mu), -1), axis=-1)
    if match == "means":
        return d_mean
    rel_cov = d_cov / _relative_denominator(cov_norm, "covariance")[:, None]
    if match == "covariances":
        return rel_cov
    if match == "joint":
        return d_mean / _relative_denominator(mean_norm, "mean")[:, None] + rel_cov
    raise ValueError(f"match must be 'means', 'covariances' or 'joint', got {match!r}")


def mixture_errors(
    weights_true,
    means_true,
    covariances_true,
    weights_est,
    means_est,
    covariances_est,
    *,
    match: str = "joint",
) -> MixtureErrors:
    r"""Relative weight, mean and covariance errors of a Gaussian mixture fit.

    Components are paired by :func:`match_components` on one of three costs:

    - ``'means'``: :math:`C_{kj}=\|\mu_k-\hat\mu_j\|_2` (Polymom's table code);
    - ``'covariances'``: :math:`C_{kj}=\|\Sigma_k-\hat\Sigma_j\|_F/\|\Sigma_k\|_F`
      (the DGMM reference code, dgmm.md §6; best when means are weakly separated);
    - ``'joint'`` (default): the sum of the relative mean and relative covariance
      errors, :math:`C_{kj}=\|\mu_k-\hat\mu_j\|/\|\mu_k\| +
      \|\Sigma_k-\hat\Sigma_j\|_F/\|\Sigma_k\|_F`, which uses both parameters
      and is scale-free.

    Then, for the matched pairs (dgmm.md §6),

    .. math::

        e_\pi = \frac1K\sum_k\frac{|\hat\pi_{\sigma(k)}-\pi_k|}{\pi_k},\quad
        e_\mu = \frac1K\sum_k\frac{\|\hat\mu_{\sigma(k)}-\mu_k\|_2}{\|\mu_k\|_2},\quad
        e_\Sigma = \frac1K\sum_k\frac{\|\hat\Sigma_{\sigma(k)}-\Sigma_k\|_F}{\|\Sigma_k\|_F}.

    Parameters
    ----------
    weights_true : array-like of shape (n_components,)
    means_true : array-like of shape (n_components, n_features)
    covariances_true : array-like of shape (n_components,), (n_components, n_features) \
            or (n_components, n_features, n_features)
        Spherical variances, diagonal variances or full covariance matrices; they are
        expanded to full matrices, so true and estimate may use different forms.
        A tied covariance (one ``(n_features, n_features)`` matrix) must be broadcast
        to ``(n_components, n_features, n_features)`` first.
    weights_est, means_est, covariances_est : array-like
        The estimate, same conventions (e.g. an estimator's ``weights_``, ``means_``,
        ``covariances_``).
    match : {'joint', 'means', 'covariances'}, default='joint'

    Returns
    -------
    MixtureErrors

    Raises
    ------
    ValueError
        If the numbers of components differ, shapes disagree, or a true weight, mean or
        covariance is zero (its relative error is undefined; use :func:`parameter_error`
        with ``relative=False``).

    References
    ----------
    L. Zhang, O. Mickelin, S. Xu, A. Singer, "Diagonally-weighted generalized method of
    moments estimation for Gaussian mixture modeling", arXiv:2507.20459 (2025).

    Examples
    --------
    >>> import numpy as np
    >>> w, mu, cov = [0.5, 0.5], [[1.0, 0.0], [0.0, 1.0]], [1.0, 2.0]  # spherical
    >>> err = mixture_errors(w, mu, cov, [0.6, 0.4], [[0.0, 1.1], [1.0, 0.0]], [2.0, 1.0])
    >>> err.permutation.tolist(), round(err.weights, 6), round(err.means, 6)
    ([1, 0], 0.2, 0.05)
    """
    mu = _as_components(means_true, "means_true")
    mu_hat = _as_components(means_est, "means_est")
    if mu.ndim != 2:
        raise ValueError(f"means_true must be 2-D (n_components, n_features), got {mu.shape}")
    _check_same_k(mu, mu_hat, "mixture_errors")
    k, d = mu.shape
    w = _check_weights(weights_true, k, "weights_true")
    w_hat = _check_weights(weights_est, k, "weights_est")
    cov = _full_covariances(covariances_true, k, d, "covariances_true")
    cov_hat = _full_covariances(covariances_est, k, d, "covariances_est")
    perm = match_components(mu, mu_hat, cost=_gaussian_cost(mu, cov, mu_hat, cov_hat, match))
    e_w = np.abs(w_hat[perm] - w) / _relative_denominator(w, "weight")
    e_mu = np.linalg.norm(mu_hat[perm] - mu, axis=1) / _relative_denominator(
        np.linalg.norm(mu, axis=1), "mean"
    )
    e_cov = np.linalg.norm((cov_hat[perm] - cov).reshape(k, -1), axis=1) / _relative_denominator(
        np.linalg.norm(cov.reshape(k, -1), axis=1), "covariance"
    )
    return MixtureErrors(
        weights=float(e_w.mean()),
        means=float(e_mu.mean()),
        covariances=float(e_cov.mean()),
        weight_errors=e_w,
        mean_errors=e_mu,
        covariance_errors=e_cov,
        permutation=perm,
        match=match,
    )
