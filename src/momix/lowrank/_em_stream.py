r"""EM for the mixture of probabilistic PCA over chunks and dask: one pass per iteration.

Every iteration reads the data once. The E-step at the current parameters
:math:`\theta = (\pi, \mu, V, \sigma^2)` gives the responsibilities :math:`r_{nj}`; with raw
weights :math:`w_n`, fitting coordinates :math:`\tilde y = B^\top y` (or :math:`y` itself)
and the current means :math:`\mu_j` as centres, each chunk adds

.. math::
    W = \sum_n w_n,\quad \ell = \sum_n w_n \log p_\theta(y_n),\quad
    N_j = \sum_n w_nr_{nj},\quad s_j = \sum_n w_nr_{nj}(\tilde y_n - \mu_j),\quad
    C_j = \sum_n w_nr_{nj}(\tilde y_n - \mu_j)(\tilde y_n - \mu_j)^\top,

and the complement energy :math:`\sum_n w_n(\|y_n\|^2 - \|\tilde y_n\|^2)`. These are the
sufficient statistics of the whole M-step, and :math:`\ell/W` is the log-likelihood of
:math:`\theta` itself, so the trace costs no extra pass. The M-step (an ECM step [2]_):

1. :math:`\pi_j = N_j / \sum_k N_k`, :math:`\mu_j' = \mu_j + s_j / N_j` (exact maximisers
   for any covariance);
2. with :math:`S_j = C_j/N_j - \delta_j\delta_j^\top`, :math:`\delta_j = s_j/N_j` (the
   scatter about the *new* mean, centred at the old one for accuracy), one EM step of
   PPCA with latent factors [1]_: :math:`V_j' = S_jV_j(\sigma^2 I + M_j^{-1}V_j^\top S_jV_j)^{-1}`,
   :math:`M_j = V_j^\top V_j + \sigma^2 I`, and unless :math:`\sigma^2` is known
   :math:`\sigma^{2\prime} = \big[\sum_j N_j\operatorname{tr}(S_j - S_jV_jM_j^{-1}V_j'^\top)
   + \text{complement}\big] / ((d_{\rm fit} + d_{\rm extra})\sum_j N_j)`.

Both steps increase the expected complete-data log-likelihood of the responsibilities of
:math:`\theta`, so the observed log-likelihood never decreases (a generalised EM), and
its fixed points are those of the in-memory AECM of :mod:`._em` (which takes a second
E-step, hence a second pass, between the two steps). A pass costs
:math:`O(N(dr + K(rR + r^2)))` flops: the projection, the densities and the
:math:`r \times r` scatters (:math:`r \le` the fitting dimension).

References
----------
.. [1] M. E. Tipping, C. M. Bishop, "Mixtures of probabilistic principal component
   analyzers", Neural Computation 11(2), 1999.
.. [2] X.-L. Meng, D. B. Rubin, "Maximum likelihood estimation via the ECM algorithm: a
   general framework", Biometrika 80(2), 1993.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy.special import logsumexp

from ._em import EMResult, ppca_log_prob
from ._engine import MixtureParams
from ._stream import ChunkSource, reduce_chunks

__all__ = ["stream_e_step", "m_step", "fit_em_stream"]

logger = logging.getLogger("momix.lowrank")


def _coords(X, w, basis, standardizer=None):
    X = np.asarray(X, dtype=np.float64) if standardizer is None else standardizer.transform(X)
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
    if basis is None:
        return X, w, np.zeros(X.shape[0])
    Y = X @ basis
    return Y, w, np.einsum("nd,nd->n", X, X) - np.einsum("nd,nd->n", Y, Y)


def _resp(Y, params):
    with np.errstate(divide="ignore"):
        weighted = ppca_log_prob(Y, params) + np.log(params.weights)
    norm = logsumexp(weighted, axis=1)
    return norm, np.exp(weighted - norm[:, None])


def stream_e_step(X, w, basis, params: MixtureParams, standardizer=None) -> dict:
    """Chunk sums of one E-step at ``params`` (module docstring): W, loglik, N_j, s_j, C_j.

    ``standardizer`` (:class:`._scaling.Standardizer`) maps the raw rows to the fit's
    standardised coordinates first (None: the rows as they are).
    """
    Y, w, resid = _coords(X, w, basis, standardizer)
    norm, resp = _resp(Y, params)
    wr = resp * w[:, None]
    K, r, _ = params.factors.shape
    shift, scatter = np.empty((K, r)), np.empty((K, r, r))
    for j, mu in enumerate(params.means):
        Z = Y - mu
        shift[j] = wr[:, j] @ Z
        Z *= np.sqrt(wr[:, j])[:, None]
        scatter[j] = Z.T @ Z  # symmetric product (syrk)
    return {
        "W": np.array(w.sum()),
        "loglik": np.array(w @ norm),
        "resid": np.array(w @ resid),
        "nk": wr.sum(axis=0),
        "shift": shift,
        "scatter": scatter,
    }


def _loglik(s: dict, params: MixtureParams, extra: int) -> float:
    W = float(s["W"])
    value = float(s["loglik"]) / W
    if extra:
        sig = params.noise_variance
        value -= 0.5 * (extra * np.log(2 * np.pi * sig) + float(s["resid"]) / W / sig)
    return value


def m_step(s: dict, params: MixtureParams, estimate_noise: bool, extra: int) -> MixtureParams:
    """The ECM update of the module docstring from the summed statistics of one pass."""
    W = float(s["W"])
    nk = s["nk"] / W + 1e-300
    delta = (s["shift"] / W) / nk[:, None]
    means = params.means + delta
    sig, R = params.noise_variance, params.factors.shape[2]
    factors, total = np.empty_like(params.factors), 0.0
    for j, V in enumerate(params.factors):
        S = s["scatter"][j] / W / nk[j] - np.outer(delta[j], delta[j])
        SV = S @ V
        Minv = np.linalg.inv(V.T @ V + sig * np.eye(R))
        factors[j] = SV @ np.linalg.inv(sig * np.eye(R) + Minv @ V.T @ SV)
        total += nk[j] * (np.trace(S) - np.trace(SV @ Minv @ factors[j].T))
    if extra:
        total += float(s["resid"]) / W
    d = params.factors.shape[1]
    noise = max(total / ((d + extra) * nk.sum()), 1e-12) if estimate_noise else sig
    return MixtureParams(nk / nk.sum(), means, factors, noise)


def fit_em_stream(
    source: ChunkSource,
    basis: np.ndarray | None,
    ambient_dim: int,
    init: MixtureParams,
    *,
    estimate_noise: bool,
    max_iter: int,
    tol: float,
    callback: Callable | None = None,
    standardizer=None,
) -> EMResult:
    """EM from ``init`` with one pass over ``source`` per iteration (plus the first E-step).

    ``basis`` (d, r) gives the fitting coordinates (None: the whole space); the likelihood
    includes the complement :math:`N(0, \\sigma^2 I_{d-r})` as in :func:`._em.refine`.
    The trace holds the mean log-likelihood of ``init`` and of every iterate (the last
    entry is that of the returned parameters); iteration stops when it gains less than
    ``tol``. ``standardizer``: rows are standardised as they are read (:func:`stream_e_step`).
    """
    extra = 0 if basis is None else ambient_dim - basis.shape[1]
    params, converged = init, False
    stats = reduce_chunks(source, stream_e_step, basis, params, standardizer)
    trace = [_loglik(stats, params, extra)]
    for it in range(1, max_iter + 1):
        params = m_step(stats, params, estimate_noise, extra)
        stats = reduce_chunks(source, stream_e_step, basis, params, standardizer)
        trace.append(_loglik(stats, params, extra))
        if callback is not None:
            callback(it, trace[-1])
        logger.debug("streaming EM iteration %d: mean log-likelihood %.8g", it, trace[-1])
        if abs(trace[-1] - trace[-2]) < tol:
            converged = True
            break
    return EMResult(params, np.array(trace), len(trace) - 1, converged)
