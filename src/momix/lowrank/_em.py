"""EM for the mixture of probabilistic PCA (low-rank plus isotropic noise), warm-started.

Model: :math:`y \\sim \\sum_j \\pi_j N(\\mu_j, V_jV_j^\\top + \\sigma^2 I)` with one shared
:math:`\\sigma^2`. Densities use the Woodbury identities with :math:`M_j = V_j^\\top V_j +
\\sigma^2 I_R`,

.. math:: \\Sigma_j^{-1} = \\sigma^{-2}(I - V_j M_j^{-1} V_j^\\top), \\qquad
          \\log\\det\\Sigma_j = (d - R)\\log\\sigma^2 + \\log\\det M_j,

so nothing of size :math:`d \\times d` is formed.

When the data are given as coordinates :math:`B^\\top y` in an orthonormal basis of a
subspace holding the parameters, the density factorises exactly into the subspace part and
:math:`N(0, \\sigma^2 I)` on the complement, which enters through the residual norms
:math:`\\|y\\|^2 - \\|B^\\top y\\|^2` only (arguments ``resid``, ``extra_dims``).

Each iteration is an AECM step with two cycles, each preceded by its own E-step, so the
log-likelihood never decreases:

1. labels missing: :math:`\\pi_j`, :math:`\\mu_j` (responsibility-weighted mean);
2. labels and latent :math:`t \\sim N(0, I_R)` missing: with :math:`S_j` the weighted
   scatter around the new :math:`\\mu_j` (used only through :math:`S_jV_j`),
   :math:`V_j \\leftarrow S_jV_j(\\sigma^2 I + M_j^{-1}V_j^\\top S_jV_j)^{-1}` and, unless
   :math:`\\sigma^2` is known, :math:`\\sigma^2 \\leftarrow \\sum_j N_j
   \\operatorname{tr}(S_j - S_jV_jM_j^{-1}V_j^{\\mathrm{new}\\top}) / (d\\sum_j N_j)`.

References
----------
.. [1] M. E. Tipping, C. M. Bishop, "Mixtures of probabilistic principal component
   analyzers", Neural Computation 11(2), 1999.
.. [2] X.-L. Meng, D. van Dyk, "The EM algorithm -- an old folk-song sung to a fast new
   tune", JRSS-B 59(3), 1997.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import logsumexp

from ._blocks import row_slices
from ._engine import MixtureParams

__all__ = [
    "ppca_log_prob",
    "mixture_log_likelihood",
    "EMResult",
    "em_step",
    "fit_em",
    "start_noise",
    "refine",
]

logger = logging.getLogger("momix.lowrank")
_LOG_2PI = float(np.log(2 * np.pi))


def ppca_log_prob(
    X: np.ndarray, params: MixtureParams, noise_floor: float = 0.0, standardizer=None
) -> np.ndarray:
    """Log-density of each row under each component, shape (n_samples, K).

    The isotropic variance used is :math:`\\max(\\sigma^2, \\text{noise\\_floor})`; a noiseless
    (singular) model needs a positive floor. Rows are processed in blocks (:mod:`._blocks`);
    ``standardizer`` (:class:`._scaling.Standardizer`) maps each block first, for ``params``
    in standardised coordinates (the densities are then those of the standardised rows).
    """
    N, d = X.shape
    s = max(params.noise_variance, noise_floor)
    out = np.empty((N, params.n_components))
    parts = []
    for mu, V in zip(params.means, params.factors, strict=True):
        C = np.linalg.cholesky(V.T @ V + s * np.eye(V.shape[1]))
        logdet = (d - V.shape[1]) * np.log(s) + 2 * np.sum(np.log(np.diag(C)))
        parts.append((mu, V, C, d * _LOG_2PI + logdet))
    for sl in row_slices(N, d):
        if standardizer is None:
            rows = np.asarray(X[sl], dtype=np.float64)
        else:
            rows = standardizer.transform(X[sl])
        for j, (mu, V, C, const) in enumerate(parts):
            Xc = rows - mu
            Z = solve_triangular(C, (Xc @ V).T, lower=True)
            quad = (np.einsum("nd,nd->n", Xc, Xc) - np.einsum("rn,rn->n", Z, Z)) / s
            out[sl, j] = -0.5 * (const + quad)
    return out


def _block_resp(rows: np.ndarray, params: MixtureParams):
    """(log p(y_n), responsibilities) of one block of rows (float64)."""
    with np.errstate(divide="ignore"):
        weighted = ppca_log_prob(rows, params) + np.log(params.weights)
    norm = logsumexp(weighted, axis=1)
    return norm, np.exp(weighted - norm[:, None])


def _complement(loglik: float, omega, params: MixtureParams, resid, extra_dims: int) -> float:
    """Add the log-density of the complement :math:`N(0, \\sigma^2 I_{d_{extra}})`."""
    if not extra_dims:
        return loglik
    s = params.noise_variance
    return loglik - 0.5 * (extra_dims * np.log(2 * np.pi * s) + float(omega @ resid) / s)


def mixture_log_likelihood(
    X: np.ndarray,
    omega: np.ndarray,
    params: MixtureParams,
    resid: np.ndarray | None = None,
    extra_dims: int = 0,
) -> float:
    """Weighted mean log-likelihood :math:`\\sum_n \\omega_n \\log p(y_n)`, over row blocks.

    ``omega`` sums to one.
    """
    loglik = 0.0
    for sl in row_slices(*X.shape):
        norm, _ = _block_resp(np.asarray(X[sl], dtype=np.float64), params)
        loglik += float(omega[sl] @ norm)
    return _complement(loglik, omega, params, resid, extra_dims)


def em_step(
    X: np.ndarray,
    omega: np.ndarray,
    params: MixtureParams,
    estimate_noise: bool,
    resid: np.ndarray | None = None,
    extra_dims: int = 0,
) -> tuple[MixtureParams, float]:
    """One AECM iteration (two cycles, module docstring).

    Returns the new parameters and the mean log-likelihood of the *input* parameters
    (a by-product of the first E-step). Each E-step is one pass over row blocks that sums
    what its cycle needs; responsibilities exist for one block at a time.
    """
    N, d = X.shape
    K, _, R = params.factors.shape
    loglik, nk, moment = 0.0, np.zeros(K), np.zeros((K, d))
    for sl in row_slices(N, d):
        rows = np.asarray(X[sl], dtype=np.float64)
        norm, resp = _block_resp(rows, params)
        wr = resp * omega[sl, None]
        loglik += float(omega[sl] @ norm)
        nk += wr.sum(axis=0)
        moment += wr.T @ rows
    loglik = _complement(loglik, omega, params, resid, extra_dims)
    nk = nk + 1e-300
    weights = nk / nk.sum()
    means = moment / nk[:, None]
    mid = MixtureParams(weights, means, params.factors, params.noise_variance)
    s = params.noise_variance
    nk = np.zeros(K)
    SV, trace_S = np.zeros((K, d, R)), np.zeros(K)
    for sl in row_slices(N, d):
        rows = np.asarray(X[sl], dtype=np.float64)
        _, resp = _block_resp(rows, mid)
        wr = resp * omega[sl, None]
        nk += wr.sum(axis=0)
        for j, (mu, V) in enumerate(zip(means, params.factors, strict=True)):
            Xc = rows - mu
            SV[j] += Xc.T @ (wr[:, j, None] * (Xc @ V))
            trace_S[j] += float(wr[:, j] @ np.einsum("nd,nd->n", Xc, Xc))
    nk = nk + 1e-300
    factors = np.empty_like(params.factors)
    total = 0.0
    for j, V in enumerate(params.factors):
        SVj = SV[j] / nk[j]
        Minv = np.linalg.inv(V.T @ V + s * np.eye(R))
        new = SVj @ np.linalg.inv(s * np.eye(R) + Minv @ V.T @ SVj)
        factors[j] = new
        total += nk[j] * (trace_S[j] / nk[j] - np.trace(SVj @ Minv @ new.T))
    if extra_dims:
        total += float(omega @ resid)
    noise = max(total / ((d + extra_dims) * nk.sum()), 1e-12) if estimate_noise else s
    return MixtureParams(weights, means, factors, noise), loglik


@dataclass(frozen=True)
class EMResult:
    """Result of :func:`fit_em`: parameters, mean log-likelihood trace, iterations, convergence."""

    params: MixtureParams
    log_likelihood: np.ndarray
    n_iter: int
    converged: bool


def fit_em(
    X: np.ndarray,
    omega: np.ndarray,
    init: MixtureParams,
    *,
    estimate_noise: bool,
    max_iter: int,
    tol: float,
    callback: Callable | None = None,
    resid: np.ndarray | None = None,
    extra_dims: int = 0,
) -> EMResult:
    """Run EM from ``init`` until the mean log-likelihood gains less than ``tol``.

    ``callback(iteration, log_likelihood)`` is called after every iteration.
    """
    params, trace, converged = init, [], False
    for it in range(1, max_iter + 1):
        new, loglik = em_step(X, omega, params, estimate_noise, resid, extra_dims)
        trace.append(loglik)
        if callback is not None:
            callback(it, loglik)
        logger.debug("EM iteration %d: mean log-likelihood before the step %.8g", it, loglik)
        params = new
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) < tol:
            converged = True
            break
    trace.append(mixture_log_likelihood(X, omega, params, resid, extra_dims))
    return EMResult(params, np.array(trace), len(trace) - 1, converged)


def start_noise(X, omega, sqnorm, ambient_dim: int, n_components: int, rank: int) -> float:
    """Starting :math:`\\sigma^2` of EM after a noiseless moment fit.

    The mean energy per dimension outside the fitted subspace when one is used, else the
    trailing-spectrum estimate; at least 1e-3 of the mean variance.
    """
    from ._init import estimate_noise_variance, weighted_covariance

    _, cov = weighted_covariance(X, omega)
    floor = 1e-3 * np.trace(cov) / cov.shape[0] + 1e-12
    extra = ambient_dim - X.shape[1]
    if extra:
        resid = sqnorm - np.einsum("nd,nd->n", X, X)
        return max(float(omega @ resid) / extra, floor)
    try:
        est = estimate_noise_variance(X, omega, n_components, rank)
    except ValueError:
        return floor
    return max(est, floor)


def refine(
    X,
    omega,
    sqnorm,
    ambient_dim: int,
    params: MixtureParams,
    *,
    estimate_noise: bool,
    max_iter: int,
    tol: float,
    callback: Callable | None = None,
) -> EMResult:
    """EM from a moment estimate; ``X`` may hold subspace coordinates (``ambient_dim`` > its width).

    A noiseless start (:math:`\\sigma^2 = 0`) begins at :func:`start_noise`.
    """
    K, _, R = params.factors.shape
    start = params.noise_variance
    if start <= 0:
        start = start_noise(X, omega, sqnorm, ambient_dim, K, R)
    params = MixtureParams(params.weights, params.means, params.factors, start)
    extra = ambient_dim - X.shape[1]
    resid = sqnorm - np.einsum("nd,nd->n", X, X) if extra else None
    return fit_em(
        X,
        omega,
        params,
        estimate_noise=estimate_noise,
        max_iter=max_iter,
        tol=tol,
        callback=callback,
        resid=resid,
        extra_dims=extra,
    )


def sample_ppca(params: MixtureParams, n_samples: int, rng: np.random.Generator):
    r"""Draw ``(X, labels)`` from the mixture: :math:`y = \mu_j + V_j g + \sigma\varepsilon`.

    Labels are grouped by component; :math:`g` and :math:`\varepsilon` are standard normal.
    """
    counts = rng.multinomial(n_samples, params.weights / params.weights.sum())
    labels = np.repeat(np.arange(params.n_components), counts)
    g = rng.standard_normal((n_samples, params.factors.shape[2]))
    X = params.means[labels] + np.einsum("ndr,nr->nd", params.factors[labels], g)
    X += np.sqrt(params.noise_variance) * rng.standard_normal(X.shape)
    return X, labels
