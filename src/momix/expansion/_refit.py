"""The final weight fit on all the data, once the grid (and bandwidth) are fixed.

:func:`fit_grid_weights` fits the weights of the dictionary by the chosen update;
:func:`with_tail` then mixes in the broad tail component
(:mod:`momix.expansion._levels`), :math:`(1-\\epsilon) p + \\epsilon q`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._em import em_weights, precompute_levels
from ._holdout import WARM_MIX, fit_data
from ._kernels import WeightFit, level_kernel_counts, level_soft_counts, mixture_log_density
from ._levels import tail_level, tail_mass

__all__ = ["ExpansionFit", "fit_grid_weights", "with_tail"]


@dataclass(frozen=True)
class ExpansionFit:
    """The fitted expansion: dictionary, weights and tail component.

    Attributes
    ----------
    levels : tuple of Level
        The grids, finest first; the tail component, when present, is the last
        (one-node) level.
    weights : ndarray of shape (n_components,)
        Flat weights of every component, tail included.
    tail_weight : float
        Mass :math:`\\epsilon` of the tail component (0 without one).
    log_likelihood : float
        Mean training log-likelihood of the whole density (tail included).
    grid : WeightFit
        The fit of the grid weights before the tail was mixed in (gap, iterations,
        convergence).
    """

    levels: tuple
    weights: np.ndarray
    tail_weight: float
    log_likelihood: float
    grid: WeightFit


def fit_grid_weights(
    X: np.ndarray,
    sample_weight: np.ndarray,
    levels,
    *,
    update: str,
    steps: int,
    em_options: dict,
    sigmas: np.ndarray,
    binned: bool,
    warm: np.ndarray | None,
) -> WeightFit:
    """Weights of the dictionary ``levels`` by the chosen update.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,)
    levels : sequence of Level
    update : {"one_step", "kde_grid", "em"}
    steps : int
        ``one_step``: EM weight steps from uniform weights (1 = the soft histogram).
    em_options : dict
        ``max_iter`` and ``tol`` of ``em``.
    sigmas : ndarray of shape (n_features,)
        Finest bandwidths (the lattice of the binned EM).
    binned : bool
        ``em`` on the linear bins of the data; the exact training log-likelihood and
        certificate are reported.
    warm : ndarray or None
        ``em``: the folds' mean optimum on this grid, mixed with the one-step weights
        (``WARM_MIX``) as the start.
    """
    if update == "em":
        return _em_fit(X, sample_weight, levels, em_options, sigmas, binned, warm)
    pre = precompute_levels(X, sample_weight, levels)
    if update == "kde_grid":
        counts = level_kernel_counts(X, sample_weight, levels)
        return em_weights(pre, counts / counts.sum(), max_iter=1, tol=np.inf)
    counts = level_soft_counts(X, sample_weight, levels)
    fit = em_weights(pre, counts / counts.sum(), max_iter=steps, tol=-np.inf, accelerate=False)
    return WeightFit(fit.weights, fit.log_likelihood, steps, True, fit.gap, fit.history)


def _em_fit(X, w, levels, em_options, sigmas, binned, warm) -> WeightFit:
    Xf, wf = fit_data(X, w, sigmas, binned)
    n_components = sum(lv.size for lv in levels)
    init = level_soft_counts(Xf, wf, levels)
    if warm is not None and warm.size == n_components:
        # the folds' mean optimum on this very grid, kept strictly positive
        init = (1 - WARM_MIX) * warm.ravel() + WARM_MIX * init / init.sum()
    fit = em_weights(precompute_levels(Xf, wf, levels), init, **em_options)
    if Xf is X:
        return fit
    # binned fit: report the exact training log-likelihood and certificate
    exact = em_weights(precompute_levels(X, w, levels), fit.weights, max_iter=1, tol=np.inf)
    return WeightFit(
        fit.weights, exact.log_likelihood, fit.n_iter, fit.converged, exact.gap, fit.history
    )


def with_tail(X, sample_weight, levels, fit: WeightFit, *, scale, tail_weight) -> ExpansionFit:
    """Mix the tail component of mass ``tail_mass(tail_weight, n_samples)`` into ``fit``.

    The tail is one Gaussian at the centre of the data's bounding box with standard
    deviation its range (``scale`` on constant axes, :func:`momix.expansion._levels.tail_level`);
    the grid weights are multiplied by :math:`1-\\epsilon`. Without a tail the fit's
    training log-likelihood is kept, else it is recomputed with the tail.
    """
    mass = tail_mass(tail_weight, X.shape[0])
    weights = fit.weights.ravel()
    if mass > 0:
        levels = (*levels, tail_level(X, scale))
        weights = np.append((1 - mass) * weights, mass)
    log_likelihood = fit.log_likelihood
    if mass > 0:
        log_p = mixture_log_density(X, weights, levels)
        log_likelihood = float(np.average(log_p, weights=sample_weight))
    return ExpansionFit(levels, weights, mass, log_likelihood, fit)
