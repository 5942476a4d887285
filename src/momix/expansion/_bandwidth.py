"""Data-driven bandwidth of a GMM expansion: K-fold held-out likelihood over a log grid.

The paper treats the shared standard deviation :math:`\\sigma` as a hyper-parameter and
gives no rule for it. momix chooses it the way a kernel density's bandwidth is chosen:
maximise the K-fold held-out mean log-likelihood. Bandwidths are relative,
:math:`\\sigma_j = h\\, s_j` with :math:`s_j` the robust spread of feature :math:`j`
(:func:`momix.expansion._grid.robust_scale`). The search is coarse to fine:

1. powers of two :math:`h = h_0 \\cdot 2^{3}, 2^{2}, \\dots, 2^{-4}` with
   :math:`h_0 = (4/((d+2)\\,n))^{1/(d+4)}` (Silverman's normal-reference factor), from
   the largest down (small bandwidths need the largest grids), stopped at the first
   candidate that scores below the best so far;
2. the best of these times and divided by :math:`\\sqrt 2`;
3. the vertex of the parabola in :math:`\\log h` through the best candidate and its two
   neighbours.

About eight candidates in all (the former 16-value grid with patience 3 took 13-14, and
its smallest candidates, whose grids are largest, dominated the time). The range reaches
:math:`8 h_0` because EM weights deconvolve (the fitted density is sharper than its
components): on 1000 draws of a Student t with 3 degrees of freedom the EM optimum was at
:math:`2.8 h_0`, outside the earlier range :math:`h_0 \\cdot \\{2^{-4}, \\dots, 2\\}`.

The held-out score of one candidate (and its cost per update rule: one pass of soft counts
for the closed-form updates, EM to ``CV_EM_TOL`` per fold for ``update="em"``) is in
:mod:`momix.expansion._holdout`; the walks over the candidates (stages 1-3 and the
per-axis refinement) are in :mod:`momix.expansion._ladder`; this module runs them in
order and records every candidate (:class:`BandwidthSearch`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..exceptions import DataError
from ._holdout import cv_score, search_config
from ._ladder import (
    CANDIDATE_FACTORS,
    REFINE,
    axis_refine,
    coarse_climb,
    coarse_descending,
    refine_vertex,
)
from ._levels import make_levels

__all__ = [
    "BandwidthSearch",
    "silverman_factor",
    "select_bandwidth",
    "CANDIDATE_FACTORS",
    "REFINE",
]

logger = logging.getLogger("momix.expansion")


@dataclass(frozen=True)
class BandwidthSearch:
    """Result of the held-out-likelihood bandwidth search.

    Attributes
    ----------
    bandwidths : tuple of float
        Relative bandwidths tried, in the order evaluated.
    scores : tuple of float
        Held-out mean log-likelihood of each (``-inf`` where the grid exceeded its budget).
    best : float
        The selected relative bandwidth.
    warm_start : ndarray or None
        ``update="em"`` only: the mean of the folds' EM weights at ``best`` (on the grid the
        final fit uses), a warm start for the final EM.
    steps : tuple of int or None
        ``max_iter="auto"`` only: the held-out-best number of EM steps from uniform at each
        candidate (:func:`momix.expansion._steps.held_out_step_path`).
    best_steps : int or None
        The step count at the selected bandwidths (after the per-axis refinement).
    axis_factors : tuple of float or None
        ``per_axis=True`` only: the selected per-axis multipliers of ``best``
        (:func:`momix.expansion._ladder.axis_refine`); the component standard deviations
        are ``best * axis_factors * scale``.
    axis_trials : tuple of (factors, score)
        The per-axis multipliers tried and their held-out scores.
    """

    bandwidths: tuple[float, ...]
    scores: tuple[float, ...]
    best: float
    warm_start: np.ndarray | None = None
    steps: tuple[int, ...] | None = None
    best_steps: int | None = None
    axis_factors: tuple[float, ...] | None = None
    axis_trials: tuple[tuple[tuple[float, ...], float], ...] = ()


def silverman_factor(n_samples: int, n_features: int) -> float:
    """Normal-reference bandwidth factor :math:`(4/((d+2)n))^{1/(d+4)}`."""
    return float((4.0 / ((n_features + 2) * n_samples)) ** (1.0 / (n_features + 4)))


def select_bandwidth(
    X: np.ndarray,
    sample_weight: np.ndarray,
    scale: np.ndarray,
    *,
    n_grid,
    update: str,
    n_folds: int,
    max_grid_size: int,
    rng: np.random.Generator,
    em_options: dict,
    n_levels=1,
    binned: bool = False,
    tail_weight=0.0,
    max_steps: int | None = None,
    per_axis: bool = False,
    verbose: int = 0,
    coarse_only: bool = False,
    resume: BandwidthSearch | None = None,
    start: float | None = None,
) -> BandwidthSearch:
    """Choose the relative bandwidth by K-fold held-out log-likelihood.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,)
    scale : ndarray of shape (n_features,)
        Per-feature spread; the component standard deviations are ``h * scale``.
    n_grid : int or "auto"
        Nodes per axis of the finest level.
    update : {"one_step", "kde_grid", "em"}
    n_folds : int
        Number of folds (samples are shuffled with ``rng`` first).
    max_grid_size : int
        Candidates whose grid would exceed this are scored ``-inf``.
    rng : numpy.random.Generator
    em_options : dict
        ``max_iter`` and ``tol`` for ``update="em"``. Inside the search EM stops at a
        certified gap of ``max(tol, CV_EM_TOL)`` nats; the final fit then uses ``tol``,
        starting from the folds' mean optimum at the chosen bandwidth.
    n_levels : int or "auto"
        Levels of the dictionary (:func:`momix.expansion._levels.make_levels`).
    binned : bool
        Run EM on the linear bins of the training folds (one lattice per candidate, at
        ``BIN_FRACTION`` of its bandwidth); the held-out points are scored exactly.
    tail_weight : float or "auto"
        Mass of the broad tail component mixed into every fold's density
        (:func:`momix.expansion._levels.add_tail`, built from the training fold).
    max_steps : int or None
        ``update="one_step"`` only: score each candidate by the best held-out
        log-likelihood along at most ``max_steps`` plain EM steps from uniform weights
        (early stopping, :func:`momix.expansion._steps.held_out_step_path`) and record the
        best step count. None scores the ``one_step`` weights themselves.
    per_axis : bool
        After the shared search, refine each axis's bandwidth separately
        (:func:`momix.expansion._ladder.axis_refine`; no effect in 1-D).
    verbose : int
        Show a tqdm progress bar over the candidates when positive.
    coarse_only : bool
        Stop after the coarse pass over the powers of two (stage 1): ``best`` is its best
        candidate. Used to compare coordinate systems
        (:func:`momix.expansion._whiten.choose_whitening`).
    resume : BandwidthSearch or None
        A ``coarse_only`` result on the same data, folds and options: its candidates are
        not scored again (their step counts are reused; an ``update="em"`` warm start is
        then recomputed only for candidates scored here). The climb restarts where the
        resumed search started.
    start : float or None
        Early-stopped path only: the relative bandwidth whose nearest ladder candidate
        starts the hill-climb (None = Silverman's factor).

    Returns
    -------
    BandwidthSearch
    """
    n, d = X.shape
    folds = np.array_split(rng.permutation(n), n_folds)
    config = search_config(
        scale,
        n_grid=n_grid,
        n_levels=n_levels,
        update=update,
        max_grid_size=max_grid_size,
        em_options=em_options,
        binned=binned,
        tail_weight=tail_weight,
        max_steps=max_steps,
    )
    cached = {} if resume is None else _cached(resume)
    candidates = _Candidates(X, sample_weight, folds, scale, config, cached)
    hs = silverman_factor(n, d) * CANDIDATE_FACTORS
    if config["max_steps"] is None:
        scores = coarse_descending(hs, candidates.score, verbose)
    else:
        if resume is not None:
            start = resume.bandwidths[0]
        scores = coarse_climb(hs, candidates.score, start)
    if not np.any(np.isfinite(scores)):
        make_levels(X, n_grid, hs[0] * scale, n_levels, max_grid_size)  # informative error
        raise DataError("no candidate bandwidth gave a finite held-out log-likelihood")
    best = float(hs[int(np.argmax(scores))])
    if coarse_only:
        return candidates.search(best)
    return _refined(candidates, hs, best, per_axis=per_axis and d > 1)


def _refined(
    candidates: _Candidates, hs: np.ndarray, best: float, *, per_axis: bool
) -> BandwidthSearch:
    """Stages 2 and 3 after the coarse pass over ``hs``, then the per-axis refinement."""
    for h in (best * REFINE, best / REFINE):
        if hs.min() <= h <= hs.max():
            candidates.score(float(h))
    refine_vertex(candidates.tried, candidates.score)
    tried, warm = candidates.tried, candidates.warm
    best_h = max(tried, key=tried.get)
    factors, best_steps, trials = None, candidates.steps.get(best_h), ()
    if per_axis:
        best = (tried[best_h], best_steps, warm.get(best_h))
        factors, best, trials = axis_refine(*candidates.data, best_h, *candidates.config, best)
        best_steps, warm[best_h] = best[1], best[2]
    return candidates.search(
        float(best_h),
        warm_start=warm.get(best_h),
        best_steps=best_steps,
        axis_factors=None if factors is None else tuple(float(f) for f in factors),
        axis_trials=trials,
    )


class _Candidates:
    """The candidates scored so far, in order: held-out scores, step counts, warm starts.

    ``score(h)`` is the callable the walks of :mod:`momix.expansion._ladder` take: it
    returns the cached score of a resumed search's candidate, else runs
    :func:`momix.expansion._holdout.cv_score` (``-inf`` when the grid exceeds its budget)
    and logs it.
    """

    def __init__(self, X, w, folds, scale, config, cached: dict[float, tuple[float, int]]):
        self.data, self.config = (X, w, folds), (scale, config)  # cv_score's arguments
        self._cached = cached
        self.tried: dict[float, float] = {}
        self.warm: dict[float, np.ndarray] = {}
        self.steps: dict[float, int] = {}

    def score(self, h: float) -> float:
        if h in self._cached:
            self.tried[h], extra = self._cached[h]
            if extra:
                self.steps[h] = extra
            return self.tried[h]
        try:
            self.tried[h], extra = cv_score(*self.data, h, *self.config)
            if isinstance(extra, np.ndarray):
                self.warm[h] = extra
            elif extra is not None:
                self.steps[h] = int(extra)
        except DataError:
            self.tried[h] = -np.inf
        logger.info("bandwidth %.4g: held-out log-likelihood %.5f", h, self.tried[h])
        return self.tried[h]

    def search(self, best: float, **fields) -> BandwidthSearch:
        """The candidates as a :class:`BandwidthSearch` selecting ``best``."""
        steps = tuple(self.steps.get(h, 0) for h in self.tried) if self.steps else None
        return BandwidthSearch(
            tuple(self.tried), tuple(self.tried.values()), best, steps=steps, **fields
        )


def _cached(search: BandwidthSearch) -> dict[float, tuple[float, int]]:
    """Candidate -> (score, step count or 0) of an earlier (coarse) search."""
    steps = search.steps or (0,) * len(search.bandwidths)
    return {h: (s, k) for h, s, k in zip(search.bandwidths, search.scores, steps, strict=True)}
