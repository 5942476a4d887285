"""Restarts of :meth:`LowRankGaussianMixture.fit` and its optional EM refinement.

Functions of the estimator ``model`` (they read its hyper-parameters, set nothing):

* :func:`fit_restarts` -- :func:`n_restarts` restarts, each from :func:`start_params`, whose
  kind :func:`._init.restart_init` gives; L-BFGS-B solves in :mod:`._solver`, which runs
  the ``first_step`` variants. The kept restart has the lowest moment objective, DGMM
  restarts compared under the first restart's order weights; restarts with a collapsed
  component (:func:`._solver.collapsed`) lose to every other one.
* :func:`refine_fit` -- PPCA EM from the moment estimate (:mod:`._em` in memory,
  :mod:`._em_stream` for streamed input).
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Real

import numpy as np
from tqdm.auto import tqdm

from .._base import best_of_restarts, warn_not_converged
from ._em import refine
from ._em_stream import fit_em_stream
from ._engine import MixtureParams
from ._init import initial_params, restart_init, user_params
from ._solver import MomentData, collapsed, diagonal_objective, fit_moments, pack

__all__ = ["n_restarts", "start_params", "fit_restarts", "refine_fit"]


def start_params(
    model, data: MomentData, basis, noise: float, rng, index=0, standardizer=None
) -> MixtureParams:
    """Start of restart ``index``: the user's values, or :func:`restart_init`'s kind.

    User values (``init`` a dict, in the data's units) are mapped to the fit's standardised
    coordinates by ``standardizer`` (:mod:`._scaling`) and projected on ``basis``.
    """
    if isinstance(model.init, dict):
        p = user_params(model.init, model.n_components, model.n_features_in_, model.rank, noise)
        if standardizer is not None:
            z = standardizer.to_fit(p)
            p = MixtureParams(z.weights, z.means, z.factors, noise)
        if basis is None:
            return p
        return MixtureParams(
            p.weights, p.means @ basis, np.einsum("de,kdr->ker", basis, p.factors), noise
        )
    method = restart_init(model.init, index)
    return initial_params(data.X, data.omega, model.n_components, model.rank, noise, method, rng)


def n_restarts(model) -> int:
    """Number of restarts: ``n_init``, with ``'auto'`` = 5 for ``init='mixed'``, else 1."""
    if model.n_init != "auto":
        return model.n_init
    return 5 if model.init == "mixed" else 1


def fit_restarts(model, data, basis, noise, weight_fn, full, rng, standardizer=None):
    """The best of :func:`n_restarts` moment fits (:func:`momix._base.best_of_restarts`)."""
    n_init = n_restarts(model)
    bar = tqdm(total=n_init, desc="LowRankGaussianMixture", disable=model.verbose <= 0)
    reference, index = {}, iter(range(n_init))

    def fit_once(r):
        result = fit_moments(
            data,
            start_params(model, data, basis, noise, r, next(index), standardizer),
            weighting=model.weighting,
            max_order=model.max_order,
            weight_fn=weight_fn,
            full=full,
            max_iter=model.max_iter,
            tol=model.tol,
            n_steps=model.n_steps,
            first_step=model.first_step,
        )
        bar.update(1)
        return result

    def objective(result):
        if n_init > 1 and collapsed(result.params):  # diverged: any intact restart wins
            return np.inf
        if model.weighting != "diagonal" or n_init == 1:
            return result.objective
        w = reference.setdefault("w", result.order_weights)
        theta = pack(result.params)
        return diagonal_objective(theta, data, w, result.params.factors.shape, noise)[0]

    try:
        return best_of_restarts(fit_once, n_init, rng, objective=objective)
    finally:
        bar.close()


def refine_fit(model, data: MomentData, params: MixtureParams, stream=None):
    """EM for the mixture of probabilistic PCA (Tipping & Bishop 1999) from ``params``.

    ``stream`` (a :class:`._stream.StreamContext`): EM passes over the streamed source,
    started from the noise of the first pass if the moment fit is noiseless.

    Returns
    -------
    params, log_likelihood, n_iter, converged
        The EM estimate, its mean log-likelihood trace, iterations and convergence.
    """
    bar = tqdm(total=model.max_iter, desc="EM refinement", disable=model.verbose <= 0)
    estimate = not isinstance(model.noise_variance, Real)
    common = dict(max_iter=model.max_iter, tol=model.tol, callback=lambda it, ll: bar.update(1))
    try:
        if stream is None:
            res = refine(
                data.X, data.omega, data.sqnorm, data.ambient_dim, params,
                estimate_noise=estimate, **common,
            )  # fmt: skip
        else:
            K, _, R = params.factors.shape
            if params.noise_variance <= 0:
                params = replace(params, noise_variance=stream.start_noise(K, R))
            res = fit_em_stream(
                stream.source, stream.basis, data.ambient_dim, params,
                estimate_noise=estimate, standardizer=stream.standardizer, **common,
            )  # fmt: skip
    finally:
        bar.close()
    if not res.converged:
        warn_not_converged("EM refinement", "increase max_iter or loosen tol")
    return res.params, res.log_likelihood, res.n_iter, res.converged
