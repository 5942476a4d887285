"""Generalised EM for softmax mixtures: closed-form weights, one ascent step per class.

Given an E-step (:func:`momix.softmax._model.e_step`) the expected complete-data
log-likelihood separates into the weights part, maximised in closed form by

.. math:: \\alpha_k^{+} = \\frac{1}{n_{\\text{units}}} \\sum_{\\text{units}} r_{\\cdot k},

and one concave weighted-logit objective per class,

.. math::

    Q_k(\\theta) = b_k^\\top \\theta - \\sum_s C_{sk} \\log \\sum_j e^{F_{sj}^\\top \\theta},
    \\qquad \\nabla Q_k = b_k - \\sum_s C_{sk} \\, \\mathbb E_{\\pi(\\theta; F_s)}[x],
    \\qquad \\nabla^2 Q_k = -\\sum_s C_{sk} \\operatorname{Cov}_{\\pi(\\theta; F_s)}(x).

Each iteration takes one step :math:`\\theta_k^{+} = \\theta_k + s_k d_k` and backtracks
(:math:`s_k \\leftarrow s_k/2`) until the Armijo condition
:math:`Q_k(\\theta_k^+) \\ge Q_k(\\theta_k) + 10^{-4} s_k \\nabla Q_k^\\top d_k` holds (or keeps
:math:`\\theta_k` when no step of length :math:`\\ge 2^{-40}` does). Because the weights
maximise their part and every :math:`Q_k` does not decrease, this is a generalised EM step:
the log-likelihood never decreases (Dempster, Laird & Rubin 1977, Thm 1).

Directions (``step_size``):

* ``"auto"``: the Newton direction :math:`d_k = (-\\nabla^2 Q_k + \\mu_k I)^{-1} \\nabla Q_k`
  with a Levenberg--Marquardt damping :math:`\\mu_k` of relative size :data:`DAMPING`
  (:func:`_directions`; an :math:`L \\times L` eigendecomposition, finite for singular
  Hessians; one step is nearly a full M-step, so EM runs at its own rate).
* a float :math:`\\eta`: the paper's first-order step on the objective normalised by the
  class total, :math:`d_k = \\eta \\nabla Q_k / \\sum_s C_{sk}` (Bing et al. use
  :math:`\\eta = 1`), with the same backtracking safeguard.

References
----------
X. Bing, F. Bunea, J. Niles-Weed, M. Wegkamp, "Learning large softmax mixtures with warm
start EM", arXiv:2409.09903 (2024).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._model import (
    ChoiceSetData,
    EStep,
    ItemSetData,
    e_step,
    log_choice_probabilities,
    logsumexp,
    situation_radius,
    situation_spread,
)

__all__ = ["EMResult", "class_objectives", "class_gradients", "m_step_theta", "fit_em"]

logger = logging.getLogger("momix.softmax")

_ARMIJO = 1e-4
#: up to this many elements of centred features (all classes) the Hessians are one batched
#: product (small data, where per-class calls cost more than the arithmetic); above, one
#: symmetric rank-k update per class
_BATCH_ELEMENTS = 1 << 13
_MAX_HALVINGS = 40
#: largest change of a centred utility in one M-step, in nats (see :func:`m_step_theta`)
MAX_UTILITY_STEP = 50.0
#: largest change of a centred utility by a SQUAREM extrapolation (see :func:`_squarem_cycle`)
SQUAREM_UTILITY_REACH = 4 * MAX_UTILITY_STEP


@dataclass(frozen=True)
class EMResult:
    """Outcome of one EM run.

    Attributes
    ----------
    weights : ndarray of shape (K,)
    theta : ndarray of shape (K, L)
    log_likelihood : float
        Final :math:`\\ell(\\omega)` (total, not per observation).
    path : ndarray of shape (n_iter + 1,)
        :math:`\\ell` at the start and after every iteration (non-decreasing).
    n_iter : int
    converged : bool
    """

    weights: np.ndarray
    theta: np.ndarray
    log_likelihood: float
    path: np.ndarray
    n_iter: int
    converged: bool


def class_objectives(features, chosen_sums, situation_weights, theta) -> np.ndarray:
    """:math:`Q_k(\\theta_k)` for every class, shape (K,)."""
    u = features @ theta.T  # (S, J, K)
    lse = logsumexp(u, axis=1).T  # (K, S)
    return np.einsum("kl,kl->k", chosen_sums, theta) - np.einsum("sk,ks->k", situation_weights, lse)


def class_gradients(features, chosen_sums, situation_weights, theta, *, hessian: bool):
    """Gradients :math:`\\nabla Q_k` (K, L) and, if asked, :math:`-\\nabla^2 Q_k` (K, L, L).

    Returns ``(grad, neg_hessian)`` with ``neg_hessian=None`` when ``hessian`` is False.
    The negative Hessian is formed from features centred at their class-``k`` mean in every
    situation, :math:`\\sum_s C_{sk} \\sum_j \\pi_{sj} (x_{sj} - m_{sk})(x_{sj} - m_{sk})^\\top`,
    the Gram matrix :math:`B_k^\\top B_k` of the centred features scaled by
    :math:`\\sqrt{C_{sk}\\pi_{sj}}`: symmetric and positive semi-definite in floating point
    too. (The raw-moment form :math:`\\mathbb E[xx^\\top] - mm^\\top` cancels
    catastrophically when a class's choice probabilities concentrate on one alternative and
    can come out indefinite.)
    """
    prob = np.exp(log_choice_probabilities(features, theta))  # (K, S, J)
    means = np.matmul(prob.transpose(1, 0, 2), features).transpose(1, 0, 2)  # (K, S, L)
    grad = chosen_sums - np.einsum("sk,ksl->kl", situation_weights, means)
    if not hessian:
        return grad, None
    K, L = theta.shape
    # features and weights laid out (L, J, S) and (K, J, S): the broadcasts below then run
    # along the long axis S (or J for one item set) instead of the short feature axis
    ft = np.ascontiguousarray(features.transpose(2, 1, 0))
    root = np.ascontiguousarray(prob.transpose(0, 2, 1))  # (K, J, S)
    root *= situation_weights.T[:, None, :]
    np.sqrt(root, out=root)
    centre = means.transpose(0, 2, 1)[:, :, None, :]  # (K, L, 1, S)
    if K * features.size <= _BATCH_ELEMENTS:  # small data: one batched product
        scaled = ((ft[None] - centre) * root[:, None]).reshape(K, L, -1)
        gram = np.matmul(scaled, scaled.transpose(0, 2, 1))
        return grad, 0.5 * (gram + gram.transpose(0, 2, 1))
    neg_h = np.empty((K, L, L))
    for k in range(K):
        scaled = ft - centre[k]
        scaled *= root[k]
        scaled = scaled.reshape(L, -1)
        neg_h[k] = scaled @ scaled.T  # numpy's symmetric rank-k update
    return grad, neg_h


def reference_curvature(spread, situation_weights) -> np.ndarray:
    """:math:`\\rho_k = \\sum_s C_{sk}\\, \\operatorname{tr}\\operatorname{Cov}_u(F_s) / L`, (K,).

    With ``spread`` from :func:`situation_spread`, :math:`\\rho_k` is the mean eigenvalue of
    :math:`-\\nabla^2 Q_k` at :math:`\\theta_k = 0`: a curvature on the scale of the data (it
    scales as the features squared and as the class total) that does not depend on the
    current coefficients.
    """
    return spread @ situation_weights


#: Levenberg--Marquardt damping of the Newton direction, relative to the larger of the largest
#: curvature of the class objective and its reference curvature (see :func:`_directions`)
DAMPING = 1e-8


def _directions(grad, neg_h, totals, step_size, reference=None) -> np.ndarray:
    """Ascent directions (K, L) of the class objectives.

    ``step_size="auto"``: the damped Newton (Levenberg--Marquardt) direction
    :math:`d_k = (H_k + \\mu_k I)^{-1} \\nabla Q_k` with :math:`H_k = -\\nabla^2 Q_k`
    (positive semi-definite) and :math:`\\mu_k = \\delta \\max(\\lambda_{\\max}(H_k), \\rho_k)`,
    :math:`\\delta` = :data:`DAMPING` and :math:`\\rho_k` the reference curvature
    (:func:`reference_curvature`). It is solved through the eigendecomposition
    :math:`H_k = V \\Lambda V^\\top` (eigenvalues clipped at 0 against rounding),
    :math:`d_k = V (\\Lambda + \\mu_k)^{-1} V^\\top \\nabla Q_k`, which exists for every
    :math:`\\mu_k > 0`: a Hessian that is singular (a class without weight, collinear or
    constant features, probabilities concentrated on one alternative) or singular on one
    LAPACK and barely regular on another gives a finite direction either way, and where
    :math:`H_k` is well conditioned the damping changes the Newton step by a relative
    :math:`O(\\delta\\,\\kappa(H_k))`. Along null directions of :math:`H_k` the step is
    :math:`\\nabla Q_k / \\mu_k`, which the Armijo backtracking shortens as needed. Since
    :math:`d_k = 0` exactly when :math:`\\nabla Q_k = 0`, the damping changes the path of EM,
    never its fixed points. A class with :math:`\\mu_k = 0` (no weight in any situation with
    spread), or with non-finite statistics, gets :math:`d_k = 0`.

    A float ``step_size`` :math:`\\eta`: :math:`d_k = \\eta \\nabla Q_k / \\sum_s C_{sk}`.
    """
    K = grad.shape[0]
    if step_size == "auto":
        finite = np.all(np.isfinite(neg_h), axis=(1, 2)) & np.all(np.isfinite(grad), axis=1)
        if not finite.all():  # no direction from non-finite statistics (eigh needs finite)
            neg_h, grad = neg_h.copy(), grad.copy()
            neg_h[~finite], grad[~finite] = 0.0, 0.0
        vals, vecs = np.linalg.eigh(neg_h)
        vals = np.maximum(vals, 0.0)
        ref = np.zeros(K) if reference is None else np.asarray(reference, dtype=float)
        mu = DAMPING * np.maximum(vals[:, -1], ref)
        live = mu > 0
        out = np.zeros_like(grad)
        if live.any():
            proj = np.einsum("klm,kl->km", vecs[live], grad[live])
            with np.errstate(over="ignore", invalid="ignore"):
                out[live] = np.einsum(
                    "klm,km->kl", vecs[live], proj / (vals[live] + mu[live, None])
                )
    else:
        scale = np.where(totals > 0, totals, np.inf)
        out = float(step_size) * grad / scale[:, None]
    out[~np.all(np.isfinite(out), axis=1)] = 0.0
    return out


def m_step_theta(
    estep: EStep,
    features: np.ndarray,
    theta: np.ndarray,
    step_size,
    *,
    spread: np.ndarray | None = None,
    radius: float | None = None,
) -> np.ndarray:
    """One safeguarded ascent step on every :math:`Q_k`; returns the new theta (K, L).

    The direction is shortened where needed so that the step moves no utility of any
    alternative, relative to its situation's mean, by more than :data:`MAX_UTILITY_STEP`
    nats (a trust region: along directions where a class's objective keeps rising as its
    choice probabilities saturate -- a class that always picks one alternative -- the
    damped Newton step is unbounded, and a longer step changes no probability that float64
    can tell from 0 or 1). Then the Armijo backtracking of the module docstring.

    Parameters
    ----------
    estep : EStep
        Statistics of the E-step at the current parameters.
    features : ndarray of shape (S, J, L)
    theta : ndarray of shape (K, L)
    step_size : "auto" or float
        See the module docstring.
    spread : ndarray of shape (S,), optional
        :func:`situation_spread` of ``features`` (computed when not given; the data
        classes cache it).
    radius : float, optional
        :func:`situation_radius` of ``features`` (computed when not given; cached likewise).
    """
    b, C = estep.chosen_sums, estep.situation_weights
    newton = step_size == "auto"
    grad, neg_h = class_gradients(features, b, C, theta, hessian=newton)
    ref = None
    if newton:
        ref = reference_curvature(situation_spread(features) if spread is None else spread, C)
    direction = _directions(grad, neg_h, C.sum(axis=0), step_size, ref)
    reach = np.linalg.norm(direction, axis=1) * (
        situation_radius(features) if radius is None else radius)
    direction *= np.minimum(1.0, MAX_UTILITY_STEP / np.maximum(reach, 1e-300))[:, None]
    slope = np.einsum("kl,kl->k", grad, direction)
    q0 = class_objectives(features, b, C, theta)
    new = theta.copy()
    step = np.ones(theta.shape[0])
    pending = slope > 0
    for _ in range(_MAX_HALVINGS):
        if not pending.any():
            break
        trial = theta + step[:, None] * direction
        ok = pending & (class_objectives(features, b, C, trial) >= q0 + _ARMIJO * step * slope)
        new[ok] = trial[ok]
        pending &= ~ok
        step[pending] *= 0.5
    return new


def _em_map(data, estep: EStep, theta: np.ndarray, step_size):
    """One generalised EM step from the E-step at ``theta``; returns (weights, theta, E-step)."""
    weights = estep.class_totals / estep.class_totals.sum()
    theta = m_step_theta(estep, data.situations, theta, step_size, spread=data.spread,
                         radius=data.radius)
    return weights, theta, e_step(data, weights, theta)


def _pack(weights, theta):
    return np.concatenate([np.log(np.maximum(weights, 1e-300)), theta.ravel()])


def _unpack(x, K):
    w = np.exp(x[:K] - x[:K].max())
    return w / w.sum(), x[K:].reshape(K, -1)


def _squarem_cycle(data, weights, theta, current: EStep, step_size):
    """One monotone SQUAREM cycle (Varadhan & Roland 2008, scheme S3): three EM steps.

    With :math:`x_1 = M(x_0)`, :math:`x_2 = M(x_1)`, :math:`r = x_1 - x_0`,
    :math:`v = x_2 - 2x_1 + x_0` and :math:`a = \\min(-\\|r\\|/\\|v\\|, -1)`, the extrapolated
    point :math:`x_0 - 2ar + a^2 v` (in log-weights and coefficients) is stabilised by one
    EM step and kept only if its log-likelihood is at least that of :math:`x_2`; otherwise
    :math:`x_2` is kept. Either way the cycle never lowers the log-likelihood.

    Trust region: :math:`a` is halved (down to :math:`a = -1`, where the extrapolation is
    :math:`x_2`) until the extrapolation moves no centred utility by more than
    :data:`SQUAREM_UTILITY_REACH` nats from :math:`x_0`. Where classes saturate (the
    likelihood still rising as coefficients grow), :math:`\\|r\\|/\\|v\\|` is unbounded
    and the plain scheme sent coefficients to 1e51 in one cycle.
    """
    K = theta.shape[0]
    w1, t1, e1 = _em_map(data, current, theta, step_size)
    w2, t2, e2 = _em_map(data, e1, t1, step_size)
    x0, x1, x2 = _pack(weights, theta), _pack(w1, t1), _pack(w2, t2)
    r, v = x1 - x0, x2 - 2 * x1 + x0
    nv = np.linalg.norm(v)
    a = min(-np.linalg.norm(r) / nv, -1.0) if nv > 0 else -1.0
    while a < -1.0:
        move = (-2 * a * r + a * a * v)[K:].reshape(K, -1)
        if np.linalg.norm(move, axis=1).max() * data.radius <= SQUAREM_UTILITY_REACH:
            break
        a = min(a / 2, -1.0)
    we, te = _unpack(x0 - 2 * a * r + a * a * v, K)
    ee = e_step(data, we, te)
    if np.isfinite(ee.log_likelihood):
        w3, t3, e3 = _em_map(data, ee, te, step_size)
        if e3.log_likelihood >= e2.log_likelihood:
            return w3, t3, e3
    return w2, t2, e2


def fit_em(
    data: ItemSetData | ChoiceSetData,
    weights,
    theta,
    *,
    max_iter: int,
    tol: float,
    step_size="auto",
    accelerate: bool = False,
    progress=None,
) -> EMResult:
    """Run generalised EM from ``(weights, theta)`` until the gain per unit is below ``tol``.

    Stops when the log-likelihood gain of one iteration divided by the number of units
    (observations for an item set, groups for choice situations) is below ``tol``, or when
    ``max_iter`` EM steps have been taken. With ``accelerate`` one iteration is a monotone
    SQUAREM cycle of three EM steps (:func:`_squarem_cycle`; ``n_iter`` still counts EM
    steps), which cuts the number of steps several-fold when EM is slow (overlapping
    classes, where most information is missing).

    Parameters
    ----------
    data : ItemSetData or ChoiceSetData
    weights : ndarray of shape (K,)
    theta : ndarray of shape (K, L)
    max_iter : int
        Most EM steps.
    tol : float
    step_size : "auto" or float
    accelerate : bool, default=False
    progress : callable, optional
        Called with the number of EM steps done after every iteration (progress bars).

    Returns
    -------
    EMResult
        ``path`` holds the log-likelihood at the start and after every iteration.
    """
    weights, theta = np.asarray(weights, float), np.asarray(theta, float)
    current = e_step(data, weights, theta)
    path = [current.log_likelihood]
    converged, n_steps = False, 0
    while n_steps < max_iter:
        if accelerate and n_steps + 3 <= max_iter:
            weights, theta, current = _squarem_cycle(data, weights, theta, current, step_size)
            done = 3
        else:
            weights, theta, current = _em_map(data, current, theta, step_size)
            done = 1
        n_steps += done
        path.append(current.log_likelihood)
        if progress is not None:
            progress(done)
        gain = (path[-1] - path[-2]) / data.n_units
        logger.debug("EM step %d: log-likelihood %.10g (gain %.3g)", n_steps, path[-1], gain)
        if gain < tol:
            converged = True
            break
    return EMResult(weights, theta, current.log_likelihood, np.asarray(path), n_steps, converged)
