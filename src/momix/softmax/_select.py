"""Which moment candidates EM runs to convergence: ordering, screening, resumption.

The method of moments (:func:`~momix.softmax._start.moment_starts`) returns tens of
candidates from up to five routes. EM is run to convergence from only a few of them:

1. **Order** (:func:`screening_order`): round robin over the routes, each route's
   candidates by decreasing log-likelihood. The raw log-likelihood favours one route's
   near-duplicates; the round robin gives every route a seat.
2. **Screen** (:func:`screen_in_two_stages`): the first :func:`n_screened` candidates of
   that order take 6 EM steps each, the best ``2 n_keep`` of them continue to
   :data:`SCREEN_STEPS` = 24 steps (a run stops earlier if it converges), and the
   ``n_keep`` with the highest log-likelihood are kept. The raw log-likelihood of a
   candidate is a poor guide to where EM takes it: a candidate with a spurious atom can
   rank first and then drift to a degenerate optimum (one class spiking on the single most
   chosen item, seen at p = 1000); a few EM steps separate such starts.
3. **Resume** (:func:`resume_em`): every kept run continues to convergence; screening steps
   count in its ``n_iter`` and its path, so a screened-and-resumed run is the same
   computation as one uninterrupted :func:`~momix.softmax._em.fit_em` run.

``n_keep`` is the estimator's ``n_init``; ``n_init='auto'`` keeps
:func:`auto_n_runs` = min(K, 10) runs (see there for why).
"""

from __future__ import annotations

import numpy as np

from ._em import EMResult, fit_em

__all__ = ["SCREEN_STEPS", "MAX_AUTO_RUNS", "auto_n_runs", "n_screened", "screening_order",
           "screen_starts", "screen_in_two_stages", "resume_em"]

#: EM steps every screened candidate takes before the best ``n_keep`` are chosen
SCREEN_STEPS = 24
#: fewest candidates screened, and how many are screened per kept run
MIN_SCREENED, SCREENED_PER_RUN = 5, 4


#: most EM runs ``n_init='auto'`` makes
MAX_AUTO_RUNS = 10


def auto_n_runs(n_components: int) -> int:
    """``n_init='auto'``: :math:`\\min(K, 10)` runs to convergence.

    *Choice* [ours, measured in ``benchmarks/softmax_mixture.py``]: with K <= 3 one run
    from the screened best candidate reached the best of 20 random starts in about 97 % of
    the synthetic runs, but with K = 5 at low separation in fewer than half, where the
    likelihood has many optima and the best of them is found by only a few of 20 random
    starts. The number of optima grows with K, so the number of candidates followed grows
    with it. It costs little where the problem is easy: screening stops at convergence, and
    runs from good candidates converge in a few steps.

    *Choice* [ours]: at most :data:`MAX_AUTO_RUNS` = 10 runs. The cost of K runs grows as
    :math:`K^2` (an EM step costs O(K)), and large K relative to the data is where EM runs
    to ``max_iter`` without converging (classes spiking on single observations, whose
    coefficients drift off to infinity): 20 classes on 50 choice situations took 45 s with
    20 runs, 28 s with 10. Beyond K = 10 the split-and-merge moves carry the global search.
    The benchmark's K <= 5 are unaffected.
    """
    return int(min(n_components, MAX_AUTO_RUNS))


def n_screened(n_runs: int) -> int:
    """Candidates advanced by the screening steps: ``max(5, 4 n_runs)``."""
    return max(MIN_SCREENED, SCREENED_PER_RUN * n_runs)


def screening_order(log_likelihood: np.ndarray, sources) -> np.ndarray:
    """Candidate indices, round robin over the routes, each route by decreasing log-likelihood.

    Routes take turns in the order of their best candidate; ties keep the input order.

    Parameters
    ----------
    log_likelihood : ndarray of shape (n_candidates,)
    sources : sequence of str, length n_candidates

    Returns
    -------
    ndarray of shape (n_candidates,)
        A permutation of ``range(n_candidates)``.
    """
    ll = np.nan_to_num(np.asarray(log_likelihood, dtype=float), nan=-np.inf)
    if len(ll) != len(sources):
        raise ValueError(f"{len(ll)} log-likelihoods but {len(sources)} sources")
    ranked = np.argsort(-ll, kind="stable")
    queues: dict[str, list[int]] = {}
    for i in ranked:  # dict order = order of each route's best candidate
        queues.setdefault(sources[i], []).append(int(i))
    order = []
    for depth in range(max((len(q) for q in queues.values()), default=0)):
        order += [q[depth] for q in queues.values() if depth < len(q)]
    return np.array(order, dtype=np.intp)


def screen_starts(data, weights: np.ndarray, theta: np.ndarray, n_keep: int, *,
                  n_steps: int = SCREEN_STEPS, tol: float = 0.0, step_size="auto",
                  accelerate: bool = True) -> list[EMResult]:
    """Advance every start by at most ``n_steps`` EM steps; keep the ``n_keep`` best runs.

    Parameters
    ----------
    data : ItemSetData or ChoiceSetData
    weights : ndarray of shape (n_starts, K)
    theta : ndarray of shape (n_starts, K, L)
    n_keep : int
    n_steps : int
        Screening steps (a run that meets ``tol`` earlier stops there, converged).
    tol, step_size, accelerate
        As in :func:`~momix.softmax._em.fit_em`.

    Returns
    -------
    list of EMResult
        At most ``n_keep`` runs, highest log-likelihood first (ties: input order).
    """
    if n_keep < 1:
        raise ValueError(f"n_keep must be at least 1, got {n_keep}")
    runs = [fit_em(data, w, t, max_iter=n_steps, tol=tol, step_size=step_size,
                   accelerate=accelerate) for w, t in zip(weights, theta, strict=True)]
    lls = np.array([np.nan_to_num(r.log_likelihood, nan=-np.inf) for r in runs])
    return [runs[i] for i in np.argsort(-lls, kind="stable")[:n_keep]]


def screen_in_two_stages(data, weights: np.ndarray, theta: np.ndarray, n_keep: int, *,
                         tol: float = 0.0, step_size="auto",
                         accelerate: bool = True) -> list[EMResult]:
    """Successive halving: every start takes :data:`SCREEN_STEPS` / 4 steps, the best
    ``2 n_keep`` continue to :data:`SCREEN_STEPS` steps, and the best ``n_keep`` are returned.

    Same arguments and result as :func:`screen_starts`; the survivors' states are those of
    a direct ``SCREEN_STEPS``-step screening (:func:`resume_em`), at about half its cost
    when most candidates are dropped early.
    """
    first = screen_starts(data, weights, theta, 2 * n_keep, n_steps=SCREEN_STEPS // 4, tol=tol,
                          step_size=step_size, accelerate=accelerate)
    runs = [resume_em(data, r, max_iter=SCREEN_STEPS, tol=tol, step_size=step_size,
                      accelerate=accelerate) for r in first]
    lls = np.array([np.nan_to_num(r.log_likelihood, nan=-np.inf) for r in runs])
    return [runs[i] for i in np.argsort(-lls, kind="stable")[:n_keep]]


def resume_em(data, run: EMResult, *, max_iter: int, tol: float, step_size="auto",
              accelerate: bool = True, progress=None) -> EMResult:
    """Continue ``run`` until it converges or has taken ``max_iter`` EM steps in all.

    The result's ``n_iter`` and ``path`` include the steps already in ``run``; a converged
    run, or one that used up ``max_iter``, is returned unchanged.
    """
    if run.converged or run.n_iter >= max_iter:
        return run
    more = fit_em(data, run.weights, run.theta, max_iter=max_iter - run.n_iter, tol=tol,
                  step_size=step_size, accelerate=accelerate, progress=progress)
    return EMResult(more.weights, more.theta, more.log_likelihood,
                    np.concatenate([run.path, more.path[1:]]), run.n_iter + more.n_iter,
                    more.converged)
