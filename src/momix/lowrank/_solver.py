"""Weighted moment objectives, their L-BFGS-B minimisation and the outer GMM weight loop.

Parameterisation (spec §5): :math:`\\theta = [\\ell, \\mu_1..\\mu_K, \\operatorname{vec} V_1..
\\operatorname{vec} V_K]`, unconstrained, with :math:`\\pi = \\operatorname{softmax}(\\ell/\\tau)`,
:math:`\\tau = 1.5`. The diagonal objective is

.. math:: F_w(\\theta) = \\sum_{k=1}^L w_k
          \\big(\\alpha_k(\\theta) - 2 b_k(\\theta) + \\bar G_k\\big)
          = \\sum_k w_k \\|M^{(k)}(\\theta) - \\hat M^{(k)}\\|_F^2,

where the data-only constant :math:`\\bar G_k = \\|\\hat M^{(k)}\\|_F^2` is added when known.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from ._blocks import row_slices
from ._engine import MixtureParams, alpha_moments, data_term
from ._explicit import FullWeighting, full_objective
from ._init import weighted_second_moment
from ._stats import (
    MomentStatistics,
    moment_gram,
    moment_statistics,
    shifted_statistics,
    statistics_from_moment_gram,
)
from ._stein import alpha_from_tensors, data_term_from_statistics

__all__ = [
    "MomentData",
    "signal_basis",
    "reduce_to_subspace",
    "pack",
    "unpack",
    "diagonal_objective",
    "lbfgs",
    "SolveResult",
    "MomentFit",
    "fit_moments",
    "collapsed",
]

logger = logging.getLogger("momix.lowrank")

SOFTMAX_TEMPERATURE = 1.5

#: the DGMM outer loop also stops when re-estimated weights move by less than this (relative)
WEIGHT_RTOL = 1e-2

#: a mixing weight below this marks a collapsed (diverged) component (:func:`collapsed`)
COLLAPSED_WEIGHT = 1e-6


@dataclass(frozen=True)
class MomentData:
    """Validated data and the data-only quantities every objective evaluation reuses.

    Attributes
    ----------
    X : ndarray of shape (n_samples, d)
    omega : ndarray of shape (n_samples,)
        Sample weights normalised to sum to one.
    sqnorm : ndarray of shape (n_samples,)
        :math:`\\|y_n\\|^2` in the ambient space.
    ambient_dim : int
        Dimension of the data; larger than ``X.shape[1]`` when ``X`` holds coordinates
        in an orthonormal basis of a subspace (see :func:`reduce_to_subspace`).
    statistics : MomentStatistics or None
        One-pass tensors :math:`T_{a,l}` (:mod:`._stats`); when present, objective
        evaluations use them instead of a pass over the samples.
    """

    X: np.ndarray
    omega: np.ndarray
    sqnorm: np.ndarray
    ambient_dim: int
    statistics: MomentStatistics | None = None

    def with_statistics(self, max_order: int, dtype=None) -> MomentData:
        """A copy carrying the one-pass statistics of orders up to ``max_order``.

        ``dtype`` None: the double-precision sums of :func:`._stats.moment_statistics`.
        ``np.float32`` (or ``np.float64``): products of the rows minus the first row in that
        precision, as the streaming passes form them (:func:`._stats.moment_gram` in the
        whole space, :func:`._stats.shifted_statistics` in a subspace).
        """
        if dtype is None:
            stats = moment_statistics(self.X, self.sqnorm, self.omega, max_order)
        elif self.X.shape[1] == self.ambient_dim:
            shift = np.array(self.X[0], dtype=float)
            G = moment_gram(self.X, self.omega, max_order, shift, dtype=dtype)
            stats = statistics_from_moment_gram(G, shift, max_order)
        else:
            shift = np.array(self.X[0], dtype=float)
            stats = shifted_statistics(self.X, self.sqnorm, self.omega, max_order, shift, dtype)
        return replace(self, statistics=stats)

    @classmethod
    def build(cls, X: np.ndarray, sample_weight: np.ndarray) -> MomentData:
        """Moment data of rows ``X`` (float64 or float32) with raw weights ``sample_weight``."""
        sqnorm = np.empty(X.shape[0])
        for sl in row_slices(*X.shape):
            rows = np.asarray(X[sl], dtype=np.float64)
            sqnorm[sl] = np.einsum("nd,nd->n", rows, rows)
        return cls(
            X=X,
            omega=sample_weight / sample_weight.sum(),
            sqnorm=sqnorm,
            ambient_dim=X.shape[1],
        )


def signal_basis(data: MomentData, dim: int) -> np.ndarray:
    """Orthonormal basis (d, dim) of the top eigenvectors of :math:`\\sum_n\\omega_n y_ny_n^\\top`.

    Its population version is
    :math:`\\sum_j\\pi_j(\\mu_j\\mu_j^\\top + V_jV_j^\\top) + \\sigma^2 I`,
    whose top-:math:`K(R+1)` eigenspace contains every :math:`\\mu_j` and every column of
    :math:`V_j`.
    """
    second = weighted_second_moment(data.X, data.omega)
    _, vecs = np.linalg.eigh(second)
    return vecs[:, ::-1][:, :dim]


def reduce_to_subspace(data: MomentData, basis: np.ndarray) -> MomentData:
    """Coordinates :math:`B^\\top y_n` with the ambient norms kept.

    For parameters in the span of ``basis`` every projection :math:`\\mu_j^\\top y`,
    :math:`V_j^\\top y` and every :math:`\\alpha_k` (given ``ambient_dim``) is unchanged, so the
    objective restricted to that span is computed exactly at cost :math:`O(N\\,\\dim)` per
    projection instead of :math:`O(Nd)`.
    """
    X = np.empty((data.X.shape[0], basis.shape[1]))
    for sl in row_slices(*data.X.shape):  # float32 rows are upcast one block at a time
        X[sl] = np.asarray(data.X[sl], dtype=np.float64) @ basis
    return MomentData(X=X, omega=data.omega, sqnorm=data.sqnorm, ambient_dim=data.ambient_dim)


def pack(params: MixtureParams, tau: float = SOFTMAX_TEMPERATURE) -> np.ndarray:
    """Flatten parameters; logits :math:`\\ell = \\tau \\log \\pi` (centred)."""
    logits = tau * np.log(np.clip(params.weights, 1e-300, None))
    return np.concatenate([logits - logits.mean(), params.means.ravel(), params.factors.ravel()])


def unpack(
    theta: np.ndarray, shape: tuple[int, int, int], noise: float, tau: float = SOFTMAX_TEMPERATURE
) -> MixtureParams:
    """Inverse of :func:`pack`."""
    K, d, R = shape
    z = theta[:K] / tau
    pi = np.exp(z - z.max())
    return MixtureParams(
        pi / pi.sum(),
        theta[K : K + K * d].reshape(K, d),
        theta[K + K * d :].reshape(K, d, R),
        noise,
    )


def _chain(params: MixtureParams, g_pi, g_mu, g_V, tau: float) -> np.ndarray:
    """Gradient in :math:`\\theta`, with the softmax chain rule

    .. math:: \\partial F/\\partial\\ell
              = \\tau^{-1}(\\operatorname{diag}\\pi - \\pi\\pi^\\top)\\,\\partial F/\\partial\\pi.
    """
    pi = params.weights
    g_logit = (pi * g_pi - pi * (pi @ g_pi)) / tau
    return np.concatenate([g_logit, g_mu.ravel(), g_V.ravel()])


def diagonal_objective(
    theta,
    data: MomentData,
    order_weights,
    shape,
    noise,
    constant=0.0,
    tau: float = SOFTMAX_TEMPERATURE,
):
    """:math:`F_w(\\theta)` and its exact gradient.

    The data term from the one-pass statistics when ``data`` carries them, else from a pass
    over the samples; :math:`\\alpha_k` from the implicit cumulant engine, or from explicit
    tensors when the statistics exist (small :math:`r^L`) and the fit is in the whole space.
    """
    params = unpack(theta, shape, noise, tau)
    w = np.asarray(order_weights)
    if data.statistics is not None and data.ambient_dim == data.X.shape[1]:
        a = alpha_from_tensors(params, w)  # small d^L in the whole space: explicit is faster
    else:
        a = alpha_moments(params, w.shape[0], w, data.ambient_dim)
    if data.statistics is not None:
        t = data_term_from_statistics(data.statistics, params, w)
    else:
        t = data_term(data.X, data.sqnorm, data.omega, params, w)
    value = float(w @ (a.alpha - 2 * t.b)) + constant
    grad = _chain(
        params,
        a.grad_weights - 2 * t.grad_weights,
        a.grad_means - 2 * t.grad_means,
        a.grad_factors - 2 * t.grad_factors,
        tau,
    )
    return value, grad


def full_gmm_objective(
    theta, weighting: FullWeighting, max_order, shape, noise, tau: float = SOFTMAX_TEMPERATURE
):
    """:math:`g^\\top \\hat S^+ g` on explicit monomial moments, with its gradient."""
    params = unpack(theta, shape, noise, tau)
    value, (g_pi, g_mu, g_V) = full_objective(params, weighting, max_order)
    return value, _chain(params, g_pi, g_mu, g_V, tau)


@dataclass(frozen=True)
class SolveResult:
    """One L-BFGS-B solve."""

    theta: np.ndarray
    value: float
    n_iter: int
    success: bool
    message: str


def lbfgs(fun: Callable, theta0: np.ndarray, *, max_iter: int, tol: float) -> SolveResult:
    """L-BFGS-B (``maxcor=50``, ``maxls=20``, no bounds) with ``ftol = gtol = tol``."""
    res = minimize(
        fun,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "maxcor": 50, "maxls": 20, "ftol": tol, "gtol": tol},
    )
    if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun):
        return SolveResult(theta0, np.inf, int(res.nit), False, "non-finite objective")
    return SolveResult(res.x, float(res.fun), int(res.nit), bool(res.success), str(res.message))


@dataclass(frozen=True)
class MomentFit:
    """Result of :func:`fit_moments`.

    Attributes
    ----------
    params : MixtureParams
    order_weights : ndarray of shape (L,)
        Final moment weights (ones for MM; the DGMM weights otherwise; for the full
        weighting, ones -- its weight matrix is not diagonal).
    objective : float
    n_iter : int
        Total L-BFGS-B iterations over all solves.
    n_steps : int
        Number of weighted solves.
    converged : bool
    """

    params: MixtureParams
    order_weights: np.ndarray
    objective: float
    n_iter: int
    n_steps: int
    converged: bool


def _step_tol(step: int) -> float:
    return max(1e-8 * 1e-2**step, 1e-14)


def fit_moments(
    data: MomentData,
    init: MixtureParams,
    *,
    weighting: str,
    max_order: int,
    weight_fn: Callable | None,
    full: FullWeighting | None,
    max_iter: int,
    tol: float,
    n_steps: int,
    first_step: str = "both",
) -> MomentFit:
    """Minimise the weighted moment objective from ``init``.

    - ``'identity'`` (MM): one solve with :math:`w \\equiv 1`.
    - ``'diagonal'`` (DGMM, spec §2.5): from a first estimate :math:`\\hat\\theta^{(1)}`, up
      to ``n_steps`` solves with :math:`w = w(\\hat\\theta)` re-estimated after each, stopping
      when :math:`\\|\\Delta\\theta\\| \\le \\mathrm{tol}\\,(1 + \\|\\theta\\|)` or when the
      re-estimated weights differ from the ones just used by less than 1% (relative, every
      order): the next solve would then minimise (almost) the same objective. Solver
      tolerances tighten 100x per step (1e-8, 1e-10, ..., floor 1e-14). The first estimate
      (``first_step``) is ``init`` itself (``'init'``, the reference code's
      ``W_init='diagonal'``) or the MM solve from ``init`` (``'identity'``, two-step GMM);
      ``'both'`` runs the two and keeps the one with the lower objective under the final
      order weights of the ``'init'`` run (restarts are compared the same way).
    - ``'full'``: an MM solve, then the solve with the fixed :math:`\\hat S^{+}`.

    The reported objective omits the data-only constant :math:`\\sum_k w_k\\|\\hat M^{(k)}\\|^2`
    (it does not depend on :math:`\\theta`) except for ``'full'``, whose value is the complete
    quadratic form :math:`g^\\top \\hat S^{+} g`.
    """
    shape, noise, L = init.factors.shape, init.noise_variance, max_order
    theta, ones = pack(init), np.ones(L)
    if weighting == "diagonal":
        loop_args = (weight_fn, shape, noise, max_iter, tol, n_steps)
        return _diagonal_fit(data, theta, ones, loop_args, first_step)
    res = _solve(data, theta, ones, shape, noise, max_iter, 0, "identity")
    theta, value, converged, total_iter = res.theta, res.value, res.success, res.n_iter
    if weighting == "full":
        res = lbfgs(
            lambda t: full_gmm_objective(t, full, L, shape, noise),
            theta,
            max_iter=max_iter,
            tol=_step_tol(0),
        )
        logger.info("full GMM step: objective %.6g, %d iterations", res.value, res.n_iter)
        theta, value, converged = res.theta, res.value, res.success
        total_iter += res.n_iter
    steps = 1 + (weighting == "full")
    return MomentFit(unpack(theta, shape, noise), ones, value, total_iter, steps, bool(converged))


def _diagonal_fit(data, theta, ones, loop_args, first_step: str) -> MomentFit:
    """DGMM from ``init`` (``'init'``), from the MM solve (``'identity'``) or both."""
    _, shape, noise, max_iter, _, _ = loop_args
    runs = {}
    if first_step in ("init", "both"):
        runs["init"] = _weighted_loop(data, theta, *loop_args)
    if first_step in ("identity", "both"):
        mm = _solve(data, theta, ones, shape, noise, max_iter, 0, "identity")
        loop = _weighted_loop(data, mm.theta, *loop_args)
        runs["identity"] = replace(loop, n_iter=loop.n_iter + mm.n_iter, n_steps=loop.n_steps + 1)
    best = _pick(runs, data, shape, noise)
    n_iter = sum(r.n_iter for r in runs.values())
    steps = sum(r.n_steps for r in runs.values())
    params = unpack(best.theta, shape, noise)
    return MomentFit(params, best.weights, best.value, n_iter, steps, best.converged)


def collapsed(params: MixtureParams) -> bool:
    """Whether a component's mixing weight fell below :data:`COLLAPSED_WEIGHT`.

    Such a fit has diverged: the moment objective can be lowered without bound along
    :math:`\\pi_j \\to 0`, :math:`\\|V_j\\| \\to \\infty` (a vanishing component with exploding
    variance adds higher-order moment mass at almost no lower-order cost), and the DGMM
    order weights re-estimated there shrink with it, so objectives under them no longer
    rank fits.
    """
    return bool(np.min(params.weights) < COLLAPSED_WEIGHT)


def _pick(runs: dict, data, shape, noise):
    """The run with the lowest objective under the ``'init'`` run's final order weights.

    Runs with a collapsed component (:func:`collapsed`) are kept only if every run has one.
    """
    if len(runs) == 1:
        return next(iter(runs.values()))
    intact = {k: r for k, r in runs.items() if not collapsed(unpack(r.theta, shape, noise))}
    if len(intact) == 1:
        choice = next(iter(intact))
        logger.info("first step %r kept: the other run has a collapsed component", choice)
        return runs[choice]
    w = runs["init"].weights
    values = {k: diagonal_objective(r.theta, data, w, shape, noise)[0] for k, r in runs.items()}
    choice = min(values, key=values.get)
    logger.info("first step %r kept: objectives %s under common weights", choice, values)
    return runs[choice]


def _solve(data, theta, w, shape, noise, max_iter, step, label) -> SolveResult:
    """One L-BFGS-B solve of the diagonal objective with order weights ``w``.

    When ``data`` carries the one-pass statistics every array of the solve is small (the
    parameters, the L-BFGS memory, tensors of :math:`r^L` entries): BLAS then runs on one
    thread, since a multi-threaded BLAS only adds synchronisation to products this small
    (``benchmarks/scale_kernels.py``: an L-BFGS-B iteration on 100 parameters took a median
    14 ms with OpenBLAS threads on the shared two-core machine, 0.05 ms on one thread).
    Per-sample data terms keep BLAS threads.
    """
    with threadpool_limits(limits=1 if data.statistics is not None else None, user_api="blas"):
        res = lbfgs(
            lambda t: diagonal_objective(t, data, w, shape, noise),
            theta,
            max_iter=max_iter,
            tol=_step_tol(step),
        )
    logger.info(
        "%s solve %d: objective %.6g, %d iterations, |dtheta| %.3g, weights %s",
        label,
        step + 1,
        res.value,
        res.n_iter,
        np.linalg.norm(res.theta - theta),
        np.array2string(w, precision=3),
    )
    return res


@dataclass(frozen=True)
class _LoopResult:
    theta: np.ndarray
    value: float
    weights: np.ndarray
    n_iter: int
    n_steps: int
    converged: bool


def _weighted_loop(data, theta, weight_fn, shape, noise, max_iter, tol, n_steps) -> _LoopResult:
    """Iterated DGMM: weights at the current estimate, solve, re-estimate, ..."""
    w = weight_fn(unpack(theta, shape, noise))
    total_iter, converged, value = 0, False, np.inf
    for step in range(n_steps):
        res = _solve(data, theta, w, shape, noise, max_iter, step, "diagonal")
        total_iter += res.n_iter
        change = np.linalg.norm(res.theta - theta)
        theta_before, theta, value = theta, res.theta, res.value
        w_new = weight_fn(unpack(theta, shape, noise))
        w_change = float(np.max(np.abs(w_new / w - 1)))
        logger.info("re-estimated weights change by %.3g (relative)", w_change)
        converged = change <= tol * (1 + np.linalg.norm(theta_before)) or w_change <= WEIGHT_RTOL
        if converged or step == n_steps - 1:
            break
        w = w_new
    return _LoopResult(theta, value, w, total_iter, step + 1, bool(converged))
