"""Moment completion by semidefinite programming, with rank-K convex iteration.

``relaxation="exact"`` is paper Problem 8,

.. math::

    \\min_y \\ \\langle C, M_r(y)\\rangle \\quad \\text{s.t.}\\quad A y = b,\\ y_0 = 1,
    \\ M_r(y) \\succeq 0,\\ M(g\\,y) \\succeq 0,

(with ``slack`` > 0 the equalities become :math:`|A y - b| \\le \\text{slack}\\max(1, |b|)`), and
``relaxation="least_squares"`` is the GMM-style Problem 9 of the paper,

.. math::

    \\min_y \\ \\tfrac12 \\| D (A y - b) \\|^2 + \\lambda \\langle C, M_r(y)\\rangle,

with :math:`D` diagonal (all ones, or the inverse standard errors of the observed moments) or
a full whitening matrix of the moments' covariance (efficient GMM weighting).
``rank_method="trace"`` solves once with :math:`C = I` (nuclear-norm surrogate).
``rank_method="convex_iteration"`` (Dattorro; paper App. C) starts from :math:`C = I` and
repeats :math:`C \\leftarrow U_\\perp U_\\perp^\\top`, the projector on the eigenvectors of
:math:`M_r(y)` outside the top K, until the trailing eigenvalues vanish
(:math:`\\langle C, M\\rangle / \\operatorname{tr} M <` ``tol``): a rank-K moment matrix.
The cost is the parameter ``c`` of a linear objective :math:`c^\\top y`
(:math:`c_\\gamma = \\sum_{\\beta_i+\\beta_j=\\gamma} C_{ij}`), so the cvxpy problem is compiled
once.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from ..exceptions import SolverError
from ._basis import MomentStructure

__all__ = ["MomentProblem", "SDPResult", "check_solvers", "solve_moment_sdp"]

logger = logging.getLogger("momix.polymom")

_OK = ("optimal", "optimal_inaccurate")

#: per-solver settings. Clarabel: a static regularisation of 1e-7 (default 1e-8); near rank K
#: the moment matrix has s - K vanishing eigenvalues and the default stalls ("insufficient
#: progress") on the convex-iteration steps of sample-moment problems (measured: 8 of 8
#: diagonal / spherical D = 2 problems failed by step 4 with the default, none with 1e-7).
#: SCS: a wall-time cap per solve, so the first-order fallback cannot run for minutes, and
#: an iteration cap (5000, SCS's default is 100000) that binds first on small problems, so
#: their result does not depend on the machine's speed (a time limit alone made a refit of
#: the same data differ when the first call was slower).
SOLVER_OPTIONS = {
    "CLARABEL": {"static_regularization_constant": 1e-7},
    "SCS": {"time_limit_secs": 10.0, "max_iters": 5000},
}

#: seconds the fallback solver may take in all, per :func:`solve_moment_sdp` call. When the
#: primary solver fails on every step (an exact relaxation of sample moments, infeasible;
#: raw moments of unstandardised data), each step used to cost the fallback's full time
#: limit: a K = 5 exact fit took 254 s (21 solves of 2 s Clarabel + 10 s SCS). The fallback
#: now gets the remaining budget as its time limit, and once the budget is spent the convex
#: iteration stops with the best solve so far (``converged`` is False; Polymom warns).
FALLBACK_TIME_BUDGET = 10.0

#: time-limit option of each fallback solver that has one
_TIME_LIMIT_OPTION = {"SCS": "time_limit_secs"}


@dataclass(frozen=True, eq=False)
class MomentProblem:
    """Numeric data of one moment-completion SDP.

    Attributes
    ----------
    structure : MomentStructure
    A : ndarray of shape (n_observations, n_y)
    b : ndarray of shape (n_observations,)
    residual_weights : ndarray of shape (n_observations,) or (n_observations, n_observations)
        :math:`D` of the least-squares residual :math:`\\|D(Ay - b)\\|`: a vector (diagonal
        weights) or a matrix (a whitening factor of the moments' covariance).
    E : ndarray of shape (n_equalities, n_y)
        Parameter equalities, :math:`E y = 0`.
    localizers : tuple of (sparse matrix, int)
        ``(G, t)`` with the t x t localizing matrix ``reshape(G y)``.
    """

    structure: MomentStructure
    A: np.ndarray
    b: np.ndarray
    residual_weights: np.ndarray
    E: np.ndarray
    localizers: tuple


@dataclass(frozen=True)
class SDPResult:
    """Outcome of :func:`solve_moment_sdp`.

    Attributes
    ----------
    y : ndarray of shape (n_y,)
        Completed parameter moments.
    moment_matrix : ndarray of shape (s, s)
    eigenvalues : ndarray of shape (s,)
        Eigenvalues of the moment matrix, descending.
    rank_gap : float
        Sum of the eigenvalues beyond the K-th over the trace.
    n_iter : int
        SDP solves performed.
    converged : bool
        Whether ``rank_gap < tol`` (always True for ``rank_method="trace"``).
    solver : str
        Solver that produced the result.
    residual : float
        :math:`\\|A y - b\\|_2`.
    fallback_seconds : float
        Time spent in the fallback solver (bounded by the ``fallback_budget``).
    """

    y: np.ndarray
    moment_matrix: np.ndarray
    eigenvalues: np.ndarray
    rank_gap: float
    n_iter: int
    converged: bool
    solver: str
    residual: float
    fallback_seconds: float = 0.0


def _independent_rows(E: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the row space of ``E`` (redundant equalities removed)."""
    if E.shape[0] == 0:
        return E
    _, s, vt = np.linalg.svd(E, full_matrices=False)
    return vt[s > 1e-10 * max(s[0], 1.0)]


def _build(problem: MomentProblem, relaxation: str, penalty: float, slack: float):
    import cvxpy as cp

    st = problem.structure
    y = cp.Variable(st.n_vars)
    c = cp.Parameter(st.n_vars)
    s = st.size
    cons = [y[0] == 1, cp.reshape(st.lift_matrix() @ y, (s, s), order="C") >> 0]
    E = _independent_rows(problem.E)
    if E.shape[0]:
        cons.append(E @ y == 0)
    for G, t in problem.localizers:
        if t:
            cons.append(cp.reshape(G @ y, (t, t), order="C") >> 0)
    A, b = problem.A, problem.b
    if relaxation == "exact":
        if slack > 0:
            cons.append(cp.abs(A @ y - b) <= slack * np.maximum(1.0, np.abs(b)))
        else:
            cons.append(A @ y == b)
        objective = c @ y
    else:
        D = problem.residual_weights
        r = A @ y - b
        objective = 0.5 * cp.sum_squares(D @ r if D.ndim == 2 else cp.multiply(D, r)) + c @ y
    return cp.Problem(cp.Minimize(objective), cons), y, c


def check_solvers(solver: str, fallback: str | None) -> list[str]:
    """The solvers to try, upper-cased as ``SOLVER_OPTIONS`` keys them (cvxpy accepts
    "clarabel", but without Clarabel's options the moment SDPs fail).

    Raises
    ------
    ValueError
        Naming a requested solver that cvxpy does not have installed (a typo or a missing
        package would otherwise fall through to the fallback unnoticed).
    """
    import cvxpy as cp

    installed = cp.installed_solvers()
    names = [n.upper() for n in (solver, fallback) if n]
    for name in names:
        if name not in installed:
            raise ValueError(f"solver {name!r} is not installed; cvxpy has {installed}")
    return list(dict.fromkeys(names))


class _FallbackClock:
    """Seconds left for the fallback solver in one :func:`solve_moment_sdp` call, and the
    primary solver's failures (after two, the steps go to the fallback directly: the
    problem differs from step to step only by its cost vector, and each failed attempt
    cost 2 s on the degenerate problems where this happens)."""

    def __init__(self, budget: float):
        self.budget, self.used, self.primary_failures = float(budget), 0.0, 0

    @property
    def left(self) -> float:
        return self.budget - self.used


class _BudgetSpent(SolverError):
    """The primary solver failed and the fallback's time budget is spent."""


def _solve_once(prob, y, solvers: list[str], clock: _FallbackClock) -> str:
    import time

    import cvxpy as cp

    status, name = "not run", solvers[0]
    skip = 1 if clock.primary_failures >= 2 and len(solvers) > 1 else 0
    for i, name in enumerate(solvers):
        if i < skip:
            continue
        options = dict(SOLVER_OPTIONS.get(name, {}))
        if i > 0:  # the fallback: within what is left of its time budget
            if clock.left < 0.5:
                raise _BudgetSpent(name, status, f"{solvers[0]} failed and the fallback's "
                                   f"time budget of {clock.budget:g} s is spent")
            if name in _TIME_LIMIT_OPTION:
                options[_TIME_LIMIT_OPTION[name]] = min(
                    options.get(_TIME_LIMIT_OPTION[name], np.inf), clock.left)
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():  # inaccuracy is judged from the status below
                warnings.simplefilter("ignore", UserWarning)
                prob.solve(solver=name, **options)
        except BaseException as exc:
            # a Rust solver's panic surfaces as pyo3's PanicException, a BaseException
            panic = type(exc).__name__ == "PanicException"
            if not (panic or isinstance(exc, (cp.error.SolverError, ValueError,
                                              ArithmeticError))):
                raise
            status = f"error ({exc})"
            logger.info("polymom SDP: solver %s raised %s", name, exc)
        else:
            status = str(prob.status)
            if status in _OK and y.value is not None and np.all(np.isfinite(y.value)):
                return name
            logger.info("polymom SDP: solver %s returned status %s", name, status)
        finally:
            if i > 0:
                clock.used += time.perf_counter() - start
        if i == 0:
            clock.primary_failures += 1
    raise SolverError(name, status, f"moment SDP failed after trying {solvers}")


def _rank_gap(M: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    vals, vecs = np.linalg.eigh(M)
    total = max(float(np.sum(np.abs(vals))), np.finfo(float).tiny)
    return vals[::-1], vecs[:, ::-1], float(np.sum(np.abs(vals[:-k]))) / total


def _stalled(history: list[float], window: int = 4) -> bool:
    """No halving of the rank gap over the last ``window`` solves."""
    return len(history) > window and history[-1] > 0.5 * history[-1 - window]


def solve_moment_sdp(problem: MomentProblem, n_components: int, *, relaxation="exact",
                     rank_method="convex_iteration", penalty=1e-5, slack=0.0,
                     solver="CLARABEL", fallback="SCS", max_iter=50, tol=1e-7, growth=10.0,
                     n_restarts=3, rng=None, progress=None,
                     fallback_budget=None) -> SDPResult:
    """Complete the parameter moments and drive the moment matrix to rank ``n_components``.

    Parameters
    ----------
    problem : MomentProblem
    n_components : int
    relaxation : {"exact", "least_squares"}
    rank_method : {"convex_iteration", "trace"}
    penalty : float
        :math:`\\lambda` of the least-squares relaxation.
    slack : float
        Relative slack of the exact relaxation's equalities (0 = equalities).
    solver, fallback : str
        cvxpy solver names; the fallback is tried whenever the first fails.
    max_iter : int
        Most convex-iteration steps.
    tol : float
        Rank-gap tolerance of the convex iteration (``converged`` means gap < tol). The exact
        relaxation goes on polishing until the gap is below ``1e-3 * tol`` (population
        moments deserve solver precision); both stop when the gap has not halved over four
        solves, and keep the solve with the smallest gap.
    growth : float
        Least-squares relaxation only: the weight of :math:`\\langle C, M\\rangle` is
        ``penalty * growth**t`` at convex-iteration step t, a continuation that trades moment
        residual for rank until the moment matrix has rank K (the minimiser of the residual
        under the rank constraint, locally).
    n_restarts : int
        When a convex-iteration chain stalls above ``tol``, up to this many new chains start
        from random projectors :math:`C = QQ^\\top` (Q a random orthonormal s x (s-K) frame),
        sharing the ``max_iter`` budget; the result with the smallest rank gap is kept.
    rng : numpy.random.Generator, optional
        Draws the restart directions (default: seed 0).
    progress : callable, optional
        Called with the rank gap after every solve.
    fallback_budget : float, optional
        Seconds the fallback solver may take in all (default :data:`FALLBACK_TIME_BUDGET`);
        once spent, a step the primary solver fails ends the convex iteration with the best
        solve so far.

    Raises
    ------
    ValueError
        If ``solver`` or ``fallback`` is not an installed cvxpy solver.
    momix.exceptions.SolverError
        If every solver fails on some solve; names the last solver and its status.
    """
    solvers = check_solvers(solver, fallback)
    st = problem.structure
    prob, y, c = _build(problem, relaxation, penalty, slack)
    rng = np.random.default_rng(0) if rng is None else rng
    clock = _FallbackClock(FALLBACK_TIME_BUDGET if fallback_budget is None else fallback_budget)
    chain = dict(prob=prob, y=y, c=c, st=st, k=n_components, solvers=solvers,
                 relaxation=relaxation, penalty=penalty, growth=growth, tol=tol,
                 progress=progress, clock=clock)
    iters = 1 if rank_method == "trace" else max_iter + 1
    best, n_iter = _chain(np.eye(st.size), iters, **chain)
    for _ in range(n_restarts if rank_method == "convex_iteration" else 0):
        if best[2] < tol or n_iter >= iters or clock.left < 0.5:
            break
        Q, _ = np.linalg.qr(rng.standard_normal((st.size, st.size - n_components)))
        try:
            cand, used_iter = _chain(Q @ Q.T, iters - n_iter, **chain)
        except _BudgetSpent:  # a restart whose first step cannot be solved any more
            break
        n_iter += used_iter
        best = cand if cand[2] < best[2] else best
    yv, M, gap, vals, used = best
    converged = (rank_method == "trace" or gap < tol)
    return SDPResult(yv, M, vals, gap, n_iter, converged, used,
                     float(np.linalg.norm(problem.A @ yv - problem.b)), clock.used)


def _chain(W0, iters, *, prob, y, c, st, k, solvers, relaxation, penalty, growth, tol,
           progress, clock):
    """One convex-iteration run from the direction ``W0``; returns (best, solves). A step
    that fails after the fallback's time budget is spent ends the run (raised when it is
    the first step)."""
    trace = st.trace_vector()
    polish = 1e-3 if relaxation == "exact" else 1.0  # sample moments: no need to polish
    first = st.inner_vector(W0)
    c.value = first if relaxation == "exact" else penalty * first
    best, history, n_iter = None, [], 0
    for _ in range(iters):
        try:
            used = _solve_once(prob, y, solvers, clock)
        except _BudgetSpent:
            if best is None:
                raise
            logger.info("polymom SDP: fallback time budget spent; convex iteration stopped")
            break
        n_iter += 1
        M = st.matrix(np.asarray(y.value))
        vals, vecs, gap = _rank_gap(M, k)
        if progress is not None:
            progress(gap)
        if best is None or gap < best[2]:
            best = (np.array(y.value), M, gap, vals, used)
        if gap < polish * tol or _stalled(history := [*history, gap]):
            break
        U = vecs[:, k:]
        if relaxation == "exact":
            c.value = st.inner_vector(U @ U.T)
        else:
            c.value = penalty * (trace + growth**n_iter * st.inner_vector(U @ U.T))
    return best, n_iter
