r"""EM for the mixture of probabilistic PCA over chunks and dask: per-chunk sufficient statistics.

The same AECM iteration as :func:`._em.em_step` (two cycles, each after its own E-step, so
the log-likelihood never decreases), with every data sum accumulated chunk by chunk with
raw weights :math:`w_n` and divided by :math:`W = \sum_n w_n` at the end. In the fitting
coordinates :math:`\tilde y = B^\top y` (or :math:`y` itself), with responsibilities
:math:`r_{nj}`:

* cycle 1 (E-step at :math:`\theta`): :math:`\sum_n w_n\log p(y_n)`,
  :math:`N_j = \sum_n w_nr_{nj}`, :math:`\sum_n w_nr_{nj}\tilde y_n`;
* cycle 2 (E-step at :math:`\pi, \mu` new): :math:`N_j`,
  :math:`\sum_n w_nr_{nj}(\tilde y_n - \mu_j)(\tilde y_n - \mu_j)^\top V_j` (that is
  :math:`N_jS_jV_j`, shape (r, R)), :math:`\sum_n w_nr_{nj}\|\tilde y_n - \mu_j\|^2` and the
  complement energy :math:`\sum_n w_n(\|y_n\|^2 - \|\tilde y_n\|^2)`.

The updates are those of :func:`._em.em_step`. One iteration therefore reads the data twice
(the second E-step needs the new means), and the final log-likelihood once more; each pass
costs :math:`O(NdK R)` flops plus the projection :math:`O(N d r)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy.special import logsumexp

from ._em import EMResult, ppca_log_prob
from ._engine import MixtureParams
from ._stream import ChunkSource, reduce_chunks

__all__ = ["stream_e_cycle1", "stream_e_cycle2", "fit_em_stream"]

logger = logging.getLogger("momix.lowrank")
_LOG_2PI = float(np.log(2 * np.pi))


def _coords(X, w, basis):
    X = np.asarray(X, dtype=np.float64)
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


def stream_e_cycle1(X, w, basis, params: MixtureParams) -> dict:
    """Chunk sums of the first E-step: weight, log-likelihood, :math:`N_j`, :math:`\\sum r y`."""
    Y, w, resid = _coords(X, w, basis)
    norm, resp = _resp(Y, params)
    wr = resp * w[:, None]
    return {
        "W": np.array(w.sum()),
        "loglik": np.array(w @ norm),
        "resid": np.array(w @ resid),
        "nk": wr.sum(axis=0),
        "sx": wr.T @ Y,
    }


def stream_e_cycle2(X, w, basis, params: MixtureParams) -> dict:
    """Chunk sums of the second E-step: :math:`N_j`, :math:`N_jS_jV_j`, scatter traces."""
    Y, w, resid = _coords(X, w, basis)
    _, resp = _resp(Y, params)
    wr = resp * w[:, None]
    K, r, R = params.factors.shape
    sv, tr = np.empty((K, r, R)), np.empty(K)
    for j, (mu, V) in enumerate(zip(params.means, params.factors, strict=True)):
        Yc = Y - mu
        sv[j] = Yc.T @ (wr[:, j, None] * (Yc @ V))
        tr[j] = wr[:, j] @ np.einsum("nd,nd->n", Yc, Yc)
    return {"nk": wr.sum(axis=0), "sv": sv, "tr": tr, "resid": np.array(w @ resid)}


def _loglik(s1: dict, params: MixtureParams, extra: int) -> float:
    W = float(s1["W"])
    value = float(s1["loglik"]) / W
    if extra:
        sig = params.noise_variance
        value -= 0.5 * (extra * np.log(2 * np.pi * sig) + float(s1["resid"]) / W / sig)
    return value


def _m_step2(s2: dict, W: float, mid: MixtureParams, estimate_noise: bool, extra: int):
    """:func:`._em.em_step` cycle 2 from summed statistics."""
    nk = s2["nk"] / W + 1e-300
    s, d = mid.noise_variance, mid.factors.shape[1]
    factors = np.empty_like(mid.factors)
    total = 0.0
    for j, V in enumerate(mid.factors):
        SV = s2["sv"][j] / W / nk[j]
        Minv = np.linalg.inv(V.T @ V + s * np.eye(V.shape[1]))
        new = SV @ np.linalg.inv(s * np.eye(V.shape[1]) + Minv @ V.T @ SV)
        factors[j] = new
        total += nk[j] * (s2["tr"][j] / W / nk[j] - np.trace(SV @ Minv @ new.T))
    if extra:
        total += float(s2["resid"]) / W
    noise = max(total / ((d + extra) * nk.sum()), 1e-12) if estimate_noise else s
    return MixtureParams(mid.weights, mid.means, factors, noise)


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
) -> EMResult:
    """:func:`._em.fit_em` with the E-steps as passes over ``source`` (2 per iteration + 1).

    ``basis`` (d, r) gives the fitting coordinates (None: the whole space); the likelihood
    includes the complement :math:`N(0, \\sigma^2 I_{d-r})` as in :func:`._em.refine`.
    """
    extra = 0 if basis is None else ambient_dim - basis.shape[1]
    params, trace, converged = init, [], False
    s1 = reduce_chunks(source, stream_e_cycle1, basis, params)
    for it in range(1, max_iter + 1):
        W = float(s1["W"])
        trace.append(_loglik(s1, params, extra))
        nk = s1["nk"] / W + 1e-300
        mid = MixtureParams(
            nk / nk.sum(), (s1["sx"] / W) / nk[:, None], params.factors, params.noise_variance
        )
        s2 = reduce_chunks(source, stream_e_cycle2, basis, mid)
        params = _m_step2(s2, W, mid, estimate_noise, extra)
        if callback is not None:
            callback(it, trace[-1])
        logger.debug("streaming EM iteration %d: mean log-likelihood %.8g", it, trace[-1])
        s1 = reduce_chunks(source, stream_e_cycle1, basis, params)
        if len(trace) > 1 and abs(trace[-1] - trace[-2]) < tol:
            converged = True
            break
    trace.append(_loglik(s1, params, extra))
    return EMResult(params, np.array(trace), len(trace) - 1, converged)
