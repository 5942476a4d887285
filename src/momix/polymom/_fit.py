"""The Polymom pipeline as one function: moment equations -> SDP -> extraction.

Steps (paper Alg. 1 with convex iteration):

1. write the observed moments as linear equations :math:`A y = b` on the parameter moments
   :math:`y_\\alpha = \\int \\theta^\\alpha d\\mu`,
   :math:`\\mu = \\sum_k \\pi_k \\delta_{\\theta_k}`;
2. complete :math:`y` by the SDP of :mod:`._sdp`, driven to rank K;
3. certify: flat extension :math:`\\operatorname{rank} M_{r-w}(y) = \\operatorname{rank} M_r(y) = K`
   (:math:`w` the largest degree weight, 1 for the plain total degree);
4. extract atoms and weights (:mod:`._extract`);
5. optionally polish them on the moment equations (:mod:`._polish`, our extension).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from ..exceptions import MomixWarning
from ._basis import (
    equality_rows,
    linear_rows,
    localizing_map,
    minimal_order,
    moment_structure,
)
from ._budget import check_sdp_size, model_sdp_size
from ._extract import extract_atoms, numerical_rank
from ._model import ComponentModel
from ._moments import MomentSystem
from ._polish import polish_atoms
from ._sdp import MomentProblem, SDPResult, solve_moment_sdp
from ._weighting import model_covariance_weights, residual_weights

__all__ = ["PolymomResult", "build_problem", "polymom"]


@dataclass(frozen=True)
class PolymomResult:
    """Outcome of :func:`polymom`.

    Attributes
    ----------
    params : ndarray of shape (K, P)
    weights : ndarray of shape (K,)
    flat_extension : bool
        Whether :math:`\\operatorname{rank} M_{r-w} = \\operatorname{rank} M_r = K`.
    ranks : tuple of int
        Numerical ranks of :math:`M_{r-w}` and :math:`M_r`.
    singular_values : ndarray of shape (s,)
        Of the moment matrix, descending.
    moment_matrix : ndarray of shape (s, s)
    basis : ndarray of shape (s, P)
        Exponents of the rows of the moment matrix.
    order : int
    sdp : SDPResult
    polished : bool
        Whether the polish moved the extracted atoms (it lowered the moment residual).
    """

    params: np.ndarray
    weights: np.ndarray
    flat_extension: bool
    ranks: tuple[int, int]
    singular_values: np.ndarray
    moment_matrix: np.ndarray
    basis: np.ndarray
    order: int
    sdp: SDPResult
    polished: bool = False


def build_problem(model: ComponentModel, system: MomentSystem, n_components: int,
                  order: int | None = None, moment_weighting="none") -> MomentProblem:
    """Numeric SDP data for a model and its moment equations.

    ``order=None`` picks the smallest order that holds every observed monomial (the basis is
    enlarged, never truncated); an explicit ``order`` that is too small raises
    :class:`~momix.polymom.MonomialError`.

    Raises
    ------
    DataError
        Before anything is built, when the estimated memory of the problem exceeds the
        budget (:func:`momix.polymom._budget.check_sdp_size`).
    """
    c = model.compiled()
    polys = list(system.terms)
    w = model.degree_weights
    if order is None:
        order = minimal_order(polys, model.n_params, n_components, w)
    check_sdp_size(model_sdp_size(model, n_components, order), what=f"the {model.name} model",
                   n_components=n_components)
    st = moment_structure(model.n_params, order, w)
    A = linear_rows(st, polys)
    eq = [equality_rows(st, g) for g in c.equalities]
    E = np.vstack(eq) if eq else np.zeros((0, st.n_vars))
    locs = tuple(localizing_map(st, g) for g in c.inequalities)
    return MomentProblem(st, A, system.b, residual_weights(system, moment_weighting), E, locs)


def _extract(st, M, k: int, rank: int, rng):
    """Extract K atoms; a moment matrix of numerical rank r < K means the measure has only
    r distinct atoms: those are extracted and the heaviest are repeated with their weight
    split evenly (with a warning), so the K components coincide in pairs."""
    k_eff = max(1, min(k, rank))
    ext = extract_atoms(st, M, k_eff, rng)
    if k_eff == k:
        return ext.params, ext.weights
    warnings.warn(f"the moment matrix has numerical rank {rank} < n_components={k}: the data "
                  f"support only {k_eff} distinct components, which are repeated", MomixWarning,
                  stacklevel=3)
    params, weights = list(ext.params), list(ext.weights)
    while len(params) < k:
        j = int(np.argmax(weights))
        weights[j] /= 2
        params.append(params[j].copy())
        weights.append(weights[j])
    return np.array(params), np.array(weights)


def polymom(model: ComponentModel, system: MomentSystem, n_components: int, *, rng,
            order=None, moment_weighting="none", rank_rtol=None, polish=False,
            **sdp_options) -> PolymomResult:
    """Fit a K-component mixture of ``model`` to moment equations.

    Parameters
    ----------
    model : ComponentModel
    system : MomentSystem
        Observed moments (from :func:`empirical_system` or :func:`mapping_system`).
    n_components : int
    rng : numpy.random.Generator
    order : int, optional
        Weighted order r of the moment matrix (default: smallest that fits).
    moment_weighting : {"none", "variance", "covariance", "two_step"} or array-like
        Residual weights of the least-squares relaxation (:mod:`._weighting`): none, inverse
        standard errors (diagonal), the whitening factor of the moments' sample covariance,
        or two steps (``"variance"``, then a polish of its atoms weighted by the
        model-implied covariance at them; needs ``polish=True``); an array gives one weight
        per observation.
    rank_rtol : float, optional
        Relative singular-value threshold of the numerical ranks (default 1e-6, or 1e-3 when
        the SCS solver produced the moments).
    polish : bool, default=False
        Refine the extracted atoms and weights by Gauss-Newton on the relaxation's objective
        restricted to K atoms: the weighted moment residual, plus the trace term
        :math:`\\lambda \\operatorname{tr} M_r` in the least-squares relaxation
        (:func:`._polish.polish_atoms`); kept only if the objective drops.
    **sdp_options
        Passed to :func:`solve_moment_sdp`.
    """
    problem = build_problem(model, system, n_components, order, moment_weighting)
    st = problem.structure
    sdp = solve_moment_sdp(problem, n_components, rng=rng, **sdp_options)
    tol = rank_rtol if rank_rtol is not None else (1e-3 if sdp.solver == "SCS" else 1e-6)
    low = st.rows_below(st.order - int(st.degree_weights.max()))
    sub = sdp.moment_matrix[np.ix_(low, low)]
    ranks = (numerical_rank(np.linalg.eigvalsh(sub), tol), numerical_rank(sdp.eigenvalues, tol))
    params, weights = _extract(st, sdp.moment_matrix, n_components, ranks[1], rng)
    flat = ranks[0] == ranks[1] == n_components
    polished = False
    if polish:
        least_squares = sdp_options.get("relaxation", "exact") == "least_squares"
        lam = float(sdp_options.get("penalty", 1e-5)) if least_squares else 0.0
        pol = polish_atoms(problem, params, weights, penalty=lam)
        polished = pol.objective < pol.start_objective
        params, weights = pol.params, pol.weights
        if isinstance(moment_weighting, str) and moment_weighting == "two_step":
            L = model_covariance_weights(model, problem, system, params, weights)
            pol = polish_atoms(replace(problem, residual_weights=L), params, weights, penalty=lam)
            polished = polished or pol.objective < pol.start_objective
            params, weights = pol.params, pol.weights
    elif isinstance(moment_weighting, str) and moment_weighting == "two_step":
        raise ValueError("moment_weighting='two_step' re-weights the polish: set polish=True")
    return PolymomResult(params, weights, flat, ranks, np.abs(sdp.eigenvalues),
                         sdp.moment_matrix, st.basis, st.order, sdp, polished)
