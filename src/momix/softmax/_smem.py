"""Split-and-merge EM (SMEM) for softmax mixtures: escaping a converged local optimum.

EM converges to a local maximum of the likelihood in which one class often covers two
true classes while two others share one (Ueda et al. 2000). A *split-and-merge move*
on a triple :math:`(i, j, k)` of distinct classes merges :math:`i` and :math:`j` into one
class and splits :math:`k` into two, so the number of classes stays K:

.. math::

    \\alpha_i' = \\alpha_i + \\alpha_j, \\quad
    \\theta_i' = \\frac{\\alpha_i\\theta_i + \\alpha_j\\theta_j}{\\alpha_i + \\alpha_j}, \\qquad
    \\alpha_j' = \\alpha_k' = \\alpha_k / 2, \\quad
    \\theta_{j,k}' = \\theta_k \\pm \\sqrt{\\lambda_k}\\, u_k .

*Partial EM* then updates only the three classes (their total weight and the other
classes fixed: a generalised EM step on a subset of the parameters, so the likelihood
does not decrease), *full EM* follows, and the move is kept only if the final
log-likelihood exceeds the one before the move by more than ``tol`` per unit. After a kept
move the search restarts from the new optimum; it stops when ``n_candidates`` triples in
a row are rejected.

**Merge candidates** (Ueda et al.'s criterion): pairs in decreasing order of the cosine of
their posterior vectors over the units,
:math:`J_{\\text{merge}}(i,j) = P_i^\\top P_j / (\\|P_i\\| \\|P_j\\|)` with
:math:`P_{i} = (r_{ui})_u` weighted by the unit counts (items chosen ``n_j`` times count
``n_j`` times). Two classes explaining the same units are the likeliest duplicates.

**Split candidates and direction** [ours]: Ueda et al. rank classes by the KL divergence
between the posterior-weighted empirical distribution and the class model. Over thousands
of items seen a few times each that divergence is dominated by sampling noise, so we use
the moment version of the same question, White's (1982) information-matrix comparison: a
class that is really two classes shows more spread of its score contributions
:math:`g_{uk}` (chosen features minus their expectation under :math:`\\pi(\\theta_k)`,
summed over a unit's situations) than the model's information predicts,

.. math::

    G_k = \\sum_u r_{uk}\\, g_{uk} g_{uk}^\\top, \\qquad
    I_k = -\\nabla^2 Q_k = \\sum_s C_{sk} \\operatorname{Cov}_{\\pi(\\theta_k; F_s)}(x),
    \\qquad G_k v = (1 + \\lambda_k) I_k v .

For an item set :math:`G_k / T_k` is the class's observed covariance of the chosen item
features and :math:`I_k / T_k` the model's. If class :math:`k` is an equal mixture of two
classes whose mean features differ by :math:`d`, the observed covariance exceeds the
model's by :math:`dd^\\top/4`; with the top generalised eigenpair
(:math:`v^\\top I_k v = 1`, :math:`u_k = \\sqrt{T_k}\\, v`) the coefficients of the two halves
differ by :math:`2\\sqrt{\\lambda_k} u_k` to first order (mean features change by
:math:`\\operatorname{Cov}\\,\\delta\\theta`), which gives the split above. Classes are ranked
by :math:`T_k \\max(\\lambda_k, 0)^2`, the leading term of the log-likelihood gain of a
two-point mixture with excess variance :math:`\\lambda_k` over :math:`T_k` units. A class
without excess spread (:math:`\\lambda_k \\le 0`) is split by :data:`MIN_EXCESS`.

Triples are tried merge pair first (decreasing :math:`J_{\\text{merge}}`), then split class
(decreasing score), as in Ueda et al.; their :math:`C_{\\max}` is ``n_candidates``
(:func:`auto_split_merge`).

References
----------
N. Ueda, R. Nakano, Z. Ghahramani, G. E. Hinton, "SMEM algorithm for mixture models",
Neural Computation 12(9):2109-2128 (2000).
H. White, "Maximum likelihood estimation of misspecified models", Econometrica 50(1):1-25
(1982).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh

from ._em import MAX_UTILITY_STEP, EMResult, class_gradients, fit_em, m_step_theta
from ._model import (
    ChoiceSetData,
    EStep,
    e_step,
    group_log_responsibilities,
    log_choice_probabilities,
    logsumexp,
)
from ._select import resume_em

__all__ = ["auto_split_merge", "SplitDirections", "SMEMResult", "merge_scores", "split_directions",
           "candidate_triples", "split_merge_start", "partial_em", "split_and_merge"]

logger = logging.getLogger("momix.softmax")

#: relative excess variance used to split a class that shows none
MIN_EXCESS = 1e-2
#: most partial-EM steps before full EM takes over
PARTIAL_STEPS = 20
#: most full-EM steps a candidate gets to overtake the current optimum (see split_and_merge)
CANDIDATE_STEPS = 600


def auto_split_merge(n_components: int) -> int:
    """``split_merge='auto'``: :math:`C_{\\max} = 10` candidate moves for K >= 3, none below
    (K = 2 has no triple of distinct classes).

    *Choice* [measured in ``benchmarks/softmax_mixture.py``]: on the 21 runs at p = 1000,
    K = 5, low separation where EM from the moment start ended below the best of 20 random
    starts, Ueda et al.'s :math:`C_{\\max} = 5` moved 9 to that best (or above) and
    :math:`C_{\\max} = 10` 6 of the remaining 12, at about twice the moves' cost (0.4-10 s
    of CPU at p = 1000 against 12-100 s for the random starts). K = 3 has only three
    triples, K = 4 twelve, K = 5 thirty, so the cap matters from K = 4 on.

    On the benchmark grid (same data and the same recorded 20 random starts, before/after):
    K = 5 at low separation 95/144 -> 123/144 runs reached the best of the random starts,
    K = 3 at low separation 158/166 -> 159/166, no run lost; the moves cost a median 2.3x
    the moment fit's CPU time there (1.4x at K = 3), and the CPU time stayed below the
    random starts' wall time in 133/144 K = 5 low-separation runs (all 11 exceptions at
    p = 10 000, where one EM step costs ten times more than at p = 1000).
    """
    return 10 if n_components >= 3 else 0


def _posteriors(data, weights, theta):
    """Unit posteriors ``R`` (U, K) and unit multiplicities ``n`` (U,)."""
    if isinstance(data, ChoiceSetData):
        return np.exp(group_log_responsibilities(data, weights, theta)[1]), data.weights_per_unit
    with np.errstate(divide="ignore"):
        joint = np.log(weights)[:, None] + log_choice_probabilities(data.situations, theta)[:, 0]
    return np.exp(joint - logsumexp(joint, axis=0)).T, data.counts


def merge_scores(data, weights: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """:math:`J_{\\text{merge}}(i, j)`, the cosine of the count-weighted posterior vectors.

    Parameters
    ----------
    data : ItemSetData or ChoiceSetData
    weights : ndarray of shape (K,)
    theta : ndarray of shape (K, L)

    Returns
    -------
    ndarray of shape (K, K)
        Symmetric, ones on the diagonal (zero rows for classes without posterior mass).
    """
    R, n = _posteriors(data, weights, theta)
    gram = R.T @ (R * n[:, None])
    norm = np.sqrt(np.maximum(np.diag(gram), 1e-300))
    return gram / np.outer(norm, norm)


def _unit_scores(data, theta, prob):
    """Score contributions :math:`g_{uk}`, shape (K, U, L), and unit weights (U, K)."""
    feats = data.situations
    means = np.matmul(prob.transpose(1, 0, 2), feats).transpose(1, 0, 2)  # (K, S, L)
    if isinstance(data, ChoiceSetData):
        chosen = feats[np.arange(len(data.choices)), data.choices]  # (N, L)
        out = np.zeros((theta.shape[0], data.n_groups, feats.shape[2]))
        for k in range(theta.shape[0]):
            np.add.at(out[k], data.groups, chosen - means[k])
        return out
    return data.features[None] - means  # (K, p, L): item j's score in class k


def _top_generalised_eigenpair(a, b):
    """Largest :math:`\\mu` of :math:`a v = \\mu b v` minus one and its :math:`v`
    (:math:`v^\\top b v = 1`); directions where :math:`b` is numerically singular (a class
    without mass) are dropped: ``(0, 0)`` if nothing is left."""
    d, V = eigh(b)
    keep = d > 1e-10 * max(d[-1], 0.0)
    if not keep.any() or d[-1] <= 0:
        return 0.0, np.zeros(len(d))
    W = V[:, keep] / np.sqrt(d[keep])
    vals, vecs = eigh(W.T @ a @ W)
    return float(vals[-1] - 1.0), W @ vecs[:, -1]


@dataclass(frozen=True)
class SplitDirections:
    """Per-class split statistics.

    Attributes
    ----------
    excess : ndarray of shape (K,)
        :math:`\\lambda_k`, top generalised eigenvalue of :math:`(G_k, I_k)` minus one.
    score : ndarray of shape (K,)
        :math:`T_k \\max(\\lambda_k, 0)^2`.
    shift : ndarray of shape (K, L)
        :math:`\\sqrt{\\max(\\lambda_k, \\text{MIN\\_EXCESS})}\\, u_k`, half the coefficient gap,
        shortened where it would move a centred utility by more than
        :data:`~momix.softmax._em.MAX_UTILITY_STEP` nats.
    """

    excess: np.ndarray
    score: np.ndarray
    shift: np.ndarray


def split_directions(data, weights: np.ndarray, theta: np.ndarray) -> SplitDirections:
    """Information-matrix split statistics of every class (see the module docstring).

    Parameters
    ----------
    data : ItemSetData or ChoiceSetData
    weights : ndarray of shape (K,)
    theta : ndarray of shape (K, L)

    Returns
    -------
    SplitDirections
    """
    R, n = _posteriors(data, weights, theta)
    est = e_step(data, weights, theta)
    _, info = class_gradients(data.situations, est.chosen_sums, est.situation_weights, theta,
                              hessian=True)
    prob = np.exp(log_choice_probabilities(data.situations, theta))
    g = _unit_scores(data, theta, prob)
    K, L = theta.shape
    excess, shift = np.zeros(K), np.zeros((K, L))
    for k in range(K):
        w = R[:, k] * n
        opg = g[k].T @ (g[k] * w[:, None])
        excess[k], v = _top_generalised_eigenpair(opg, info[k])
        u = np.sqrt(est.class_totals[k]) * v
        shift[k] = np.sqrt(max(excess[k], MIN_EXCESS)) * u
    # a class whose information matrix nearly vanishes (saturated choice probabilities)
    # gets a huge u; no split moves a centred utility by more than MAX_UTILITY_STEP nats
    reach = np.linalg.norm(shift, axis=1) * data.radius
    shift *= np.minimum(1.0, MAX_UTILITY_STEP / np.maximum(reach, 1e-300))[:, None]
    score = est.class_totals * np.maximum(excess, 0.0) ** 2
    return SplitDirections(excess, score, shift)


def candidate_triples(merge: np.ndarray, split_score: np.ndarray,
                      n_candidates: int) -> list[tuple[int, int, int]]:
    """The first ``n_candidates`` triples (i, j, k): merge pairs by decreasing
    :math:`J_{\\text{merge}}`, within a pair split classes by decreasing score (ties: index)."""
    K = merge.shape[0]
    iu = np.triu_indices(K, 1)
    pairs = [(int(iu[0][m]), int(iu[1][m])) for m in np.argsort(-merge[iu], kind="stable")]
    splits = np.argsort(-split_score, kind="stable")
    out = []
    for i, j in pairs:
        out += [(i, j, int(k)) for k in splits if k not in (i, j)]
    return out[:n_candidates]


def split_merge_start(weights: np.ndarray, theta: np.ndarray, triple: tuple[int, int, int],
                      shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parameters right after the move on ``triple`` = (i, j, k) (module docstring).

    ``shift`` (K, L) holds every class's half coefficient gap
    (:attr:`SplitDirections.shift`); returns new ``(weights, theta)``.
    """
    i, j, k = triple
    w, t = weights.copy(), theta.copy()
    w[i] = weights[i] + weights[j]
    t[i] = (weights[i] * theta[i] + weights[j] * theta[j]) / max(w[i], 1e-300)
    w[j] = w[k] = weights[k] / 2
    t[j], t[k] = theta[k] + shift[k], theta[k] - shift[k]
    return w, t


def partial_em(data, weights: np.ndarray, theta: np.ndarray, free, *, n_steps: int,
               tol: float, step_size="auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EM steps on the classes ``free`` only; the others and the free classes' total weight
    stay fixed.

    The weights of the free classes maximise :math:`\\sum_{k} T_k \\log\\alpha_k` under
    :math:`\\sum_{k \\in \\text{free}} \\alpha_k = c`, i.e. :math:`\\alpha_k = c\\,T_k /
    \\sum_{\\text{free}} T`, and each free :math:`\\theta_k` takes one safeguarded ascent step
    (:func:`~momix.softmax._em.m_step_theta`): a generalised EM step in the free parameters,
    so the log-likelihood does not decrease. Stops after ``n_steps`` steps or when the gain
    per unit is below ``tol``.

    Returns
    -------
    weights : ndarray of shape (K,)
    theta : ndarray of shape (K, L)
    path : ndarray
        Log-likelihood before and after every step (non-decreasing).
    """
    free = np.asarray(free)
    w, t = weights.copy(), theta.copy()
    est = e_step(data, w, t)
    path = [est.log_likelihood]
    for _ in range(n_steps):
        sub = EStep(est.log_likelihood, est.class_totals[free], est.chosen_sums[free],
                    est.situation_weights[:, free])
        t[free] = m_step_theta(sub, data.situations, t[free], step_size, spread=data.spread,
                               radius=data.radius)
        tot = est.class_totals[free]
        w[free] = w[free].sum() * tot / max(tot.sum(), 1e-300)
        est = e_step(data, w, t)
        path.append(est.log_likelihood)
        if (path[-1] - path[-2]) / data.n_units < tol:
            break
    return w, t, np.asarray(path)


@dataclass(frozen=True)
class SMEMResult:
    """Outcome of :func:`split_and_merge`.

    Attributes
    ----------
    run : EMResult
        The final state; ``path`` is the input run's path followed by the log-likelihood
        after every kept move, ``n_iter`` counts the EM steps of the input run and of the
        kept moves (partial and full EM).
    n_accepted, n_tried : int
        Moves kept, and candidate triples evaluated in all.
    n_iter_tried : int
        EM steps spent on all evaluated candidates (kept or not).
    """

    run: EMResult
    n_accepted: int
    n_tried: int
    n_iter_tried: int


def _try_move(data, run, triple, shift, *, max_iter, tol, step_size, accelerate):
    w, t = split_merge_start(run.weights, run.theta, triple, shift)
    w, t, partial = partial_em(data, w, t, list(triple), n_steps=PARTIAL_STEPS, tol=tol,
                               step_size=step_size)
    full = fit_em(data, w, t, max_iter=min(max_iter, CANDIDATE_STEPS), tol=tol,
                  step_size=step_size, accelerate=accelerate)
    if full.log_likelihood > run.log_likelihood + tol * data.n_units:  # kept: converge it
        full = resume_em(data, full, max_iter=max_iter, tol=tol, step_size=step_size,
                         accelerate=accelerate)
    return full, len(partial) - 1 + full.n_iter


def split_and_merge(data, run: EMResult, *, n_candidates: int, max_iter: int, tol: float,
                    step_size="auto", accelerate: bool = True, max_moves: int = 10) -> SMEMResult:
    """SMEM from the converged ``run``: try candidate moves until ``n_candidates`` fail.

    Parameters
    ----------
    data : ItemSetData or ChoiceSetData
    run : EMResult
        A converged EM run (K >= 3 for a move to exist).
    n_candidates : int
        :math:`C_{\\max}`, triples tried from one optimum before stopping.
    max_iter, tol, step_size, accelerate
        Full EM after each move, as in :func:`~momix.softmax._em.fit_em`; a move is kept
        when it raises the log-likelihood by more than ``tol`` per unit within
        :data:`CANDIDATE_STEPS` full-EM steps, and then continues to convergence (or
        ``max_iter`` steps in all). *Choice* [ours, measured]: without the cap, candidates
        that drift towards a degenerate optimum ran to ``max_iter`` (2000 steps in the
        benchmark) and were rejected; on 14 runs at p = 1000, K = 5, low separation they
        took 45 % of the moves' EM steps. With a cap of 600 steps 28 of the 34 kept moves
        are still found at 60 % of the cost, so the moves cost less than the 20 random
        starts they compete with also where one EM step is dear (p = 10 000).
    max_moves : int
        Most moves kept.

    Returns
    -------
    SMEMResult
    """
    K = run.theta.shape[0]
    path, n_iter = list(run.path), run.n_iter
    accepted = tried = spent = 0
    while accepted < max_moves and K >= 3 and n_candidates > 0:
        sd = split_directions(data, run.weights, run.theta)
        triples = candidate_triples(merge_scores(data, run.weights, run.theta), sd.score,
                                    n_candidates)
        for triple in triples:
            new, steps = _try_move(data, run, triple, sd.shift, max_iter=max_iter, tol=tol,
                                   step_size=step_size, accelerate=accelerate)
            tried, spent = tried + 1, spent + steps
            logger.debug("SMEM move %s: %.10g -> %.10g", triple, run.log_likelihood,
                         new.log_likelihood)
            if new.log_likelihood > run.log_likelihood + tol * data.n_units:
                path.append(new.log_likelihood)
                n_iter += steps
                run = EMResult(new.weights, new.theta, new.log_likelihood, np.asarray(path),
                               n_iter, new.converged)
                accepted += 1
                break
        else:
            break
    return SMEMResult(run, accepted, tried, spent)
