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
:math:`2.8 h_0`, outside the earlier range :math:`h_0 \\cdot \\{2^{-4}, \\dots, 2\\}`. For
the closed-form updates the soft counts of all folds come from one pass per candidate
(fold counts add up), so the search costs about two passes over the data per candidate.
For ``update="em"`` each fold runs EM to a certified gap of ``CV_EM_TOL`` = 0.03 nats,
starting from the previous fold's optimum mixed half-and-half with its own one-step
weights (the folds share most of their data; 15% fewer passes on the banana density).
At a fixed bandwidth, stopping at 0.03 instead of 1e-3 changed held-out scores by -0.002
to +0.002 nats (banana, three normals, lognormal) with 6-23 times fewer passes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..exceptions import DataError
from ._binning import lattice, linear_bin, merge_bins
from ._em import em_weights, precompute_levels
from ._kernels import level_kernel_counts, level_soft_counts, mixture_log_density
from ._levels import add_tail, make_levels, tail_level, tail_mass
from ._steps import held_out_step_path

__all__ = [
    "BandwidthSearch",
    "silverman_factor",
    "select_bandwidth",
    "fit_data",
    "CANDIDATE_FACTORS",
]

logger = logging.getLogger("momix.expansion")

#: coarse candidate bandwidths relative to Silverman's factor, largest first
CANDIDATE_FACTORS = 2.0 ** np.arange(3, -5, -1)
#: the coarse pass stops after this many consecutive candidates below the best so far
PATIENCE = 1
#: the refinement scores the best coarse candidate times and divided by this factor
REFINE = math.sqrt(2.0)
#: share of the uniform-start (one-step) weights mixed into a warm start
WARM_MIX = 0.5
#: optimality gap at which EM stops inside the bandwidth search
CV_EM_TOL = 3e-2
#: multiplier of one step of the per-axis refinement
AXIS_STEP = 2.0**0.25
#: largest number of steps per axis and direction of the per-axis refinement
AXIS_MAX_STEPS = 2


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
        (:func:`_axis_refine`); the component standard deviations are
        ``best * axis_factors * scale``.
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


def _fold_weights(counts: list[np.ndarray], fold: int) -> np.ndarray:
    total = sum(counts) - counts[fold]
    return total / total.sum()


def fit_data(X, w, sigmas, binned: bool):
    """The points EM iterates over: ``(X, w)`` itself or its linear bins at ``sigmas / 8``."""
    if not binned:
        return X, w
    bins = linear_bin(X, w, *lattice(X, sigmas))
    return bins.centres, bins.weights


def _cv_em(X, w, folds, levels, sigmas, config) -> float:
    """Held-out score of EM weights; folds binned once on a shared lattice when ``binned``."""
    binned, em_options = config["binned"], config["em_options"]
    if binned:
        origin, width, dims = lattice(X, sigmas)
        fold_bins = [linear_bin(X[f], w[f], origin, width, dims) for f in folds]
    total, num, weights, fold_weights = 0.0, 0.0, None, []
    for k, test in enumerate(folds):
        train = np.concatenate([f for i, f in enumerate(folds) if i != k])
        if binned:
            merged = merge_bins([b for i, b in enumerate(fold_bins) if i != k], origin, width)
            Xtr, wtr = merged.centres, merged.weights
        else:
            Xtr, wtr = X[train], w[train]
        # folds share most of their data: start from the previous fold's optimum (the
        # objective is concave, so the start changes the number of passes, not the optimum)
        init = level_soft_counts(Xtr, wtr, levels)
        init = init / init.sum()
        if weights is not None:  # keep every weight positive: zeros are EM fixed points
            init = (1 - WARM_MIX) * weights + WARM_MIX * init
        pre = precompute_levels(Xtr, wtr, levels)
        weights = em_weights(pre, init / init.sum(), **em_options).weights
        fold_weights.append(weights)
        total += _held_out(X, w, train, test, weights, levels, config)
        num += float(w[test].sum())
    return total / num, np.mean(fold_weights, axis=0)


def _held_out(X, w, train, test, weights, levels, config) -> float:
    """Weighted held-out log-likelihood sum of one fold, tail component included."""
    log_p = mixture_log_density(X[test], weights, levels)
    tail = tail_level(X[train], config["scale"])
    log_p = add_tail(log_p, X[test], tail, tail_mass(config["tail_weight"], len(train)))
    return float(np.dot(w[test], log_p))


def _cv_score(X, w, folds, h, scale, config) -> tuple[float, np.ndarray | None]:
    """Held-out mean log-likelihood of relative bandwidth ``h`` (and EM's mean fold weights)."""
    sigmas = h * scale
    levels = make_levels(X, config["n_grid"], sigmas, config["n_levels"], config["max_grid_size"])
    if config["update"] == "em":
        return _cv_em(X, w, folds, levels, sigmas, config)
    if config["max_steps"] is not None:
        path = held_out_step_path(
            X,
            w,
            folds,
            levels,
            scale=scale,
            tail_weight=config["tail_weight"],
            max_steps=config["max_steps"],
        )
        return path.best_score, path.best_steps
    counter = level_soft_counts if config["update"] == "one_step" else level_kernel_counts
    counts = [counter(X[f], w[f], levels) for f in folds]
    total, num = 0.0, 0.0
    for k, test in enumerate(folds):
        train = np.concatenate([f for i, f in enumerate(folds) if i != k])
        total += _held_out(X, w, train, test, _fold_weights(counts, k), levels, config)
        num += float(w[test].sum())
    return total / num, None


def _search_config(scale, *, update, em_options, max_steps, **options) -> dict:
    """Options of one candidate's held-out score (shared by the search and the reference)."""
    em_options = {**em_options, "tol": max(em_options.get("tol", 0.0), CV_EM_TOL)}
    max_steps = max_steps if update == "one_step" else None
    return {
        **options,
        "update": update,
        "em_options": em_options,
        "max_steps": max_steps,
        "scale": scale,
    }


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
        (:func:`_axis_refine`; no effect in 1-D).
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
    h0 = silverman_factor(n, d)
    tried: dict[float, float] = {}
    config = _search_config(
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

    warm: dict[float, np.ndarray] = {}
    steps: dict[float, int] = {}

    cached = {} if resume is None else _cached(resume)

    def score(h: float) -> float:
        if h in cached:
            tried[h], extra = cached[h]
            if extra:
                steps[h] = extra
            return tried[h]
        try:
            tried[h], extra = _cv_score(X, sample_weight, folds, h, scale, config)
            if isinstance(extra, np.ndarray):
                warm[h] = extra
            elif extra is not None:
                steps[h] = int(extra)
        except DataError:
            tried[h] = -np.inf
        logger.info("bandwidth %.4g: held-out log-likelihood %.5f", h, tried[h])
        return tried[h]

    hs = h0 * CANDIDATE_FACTORS
    if config["max_steps"] is None:
        scores = _coarse_descending(hs, score, verbose)
    else:
        if resume is not None:
            start = resume.bandwidths[0]
        scores = _coarse_climb(hs, score, start)
    if not np.any(np.isfinite(scores)):
        make_levels(X, n_grid, hs[0] * scale, n_levels, max_grid_size)  # informative error
        raise DataError("no candidate bandwidth gave a finite held-out log-likelihood")
    best = float(hs[int(np.argmax(scores))])
    if coarse_only:
        found = tuple(steps.get(h, 0) for h in tried) if steps else None
        return BandwidthSearch(tuple(tried), tuple(tried.values()), best, None, found)
    for h in (best * REFINE, best / REFINE):
        if hs.min() <= h <= hs.max():
            score(float(h))
    _refine(tried, score)
    best_h = max(tried, key=tried.get)
    factors, best_steps, trials = None, steps.get(best_h), ()
    if per_axis and d > 1:
        best = (tried[best_h], best_steps, warm.get(best_h))
        factors, best, trials = _axis_refine(X, sample_weight, folds, best_h, scale, config, best)
        best_steps, warm[best_h] = best[1], best[2]
    return BandwidthSearch(
        tuple(tried),
        tuple(tried.values()),
        float(best_h),
        warm.get(best_h),
        tuple(steps.get(h, 0) for h in tried) if steps else None,
        best_steps,
        None if factors is None else tuple(float(f) for f in factors),
        trials,
    )


def _cached(search: BandwidthSearch) -> dict[float, tuple[float, int]]:
    """Candidate -> (score, step count or 0) of an earlier (coarse) search."""
    steps = search.steps or (0,) * len(search.bandwidths)
    return {h: (s, k) for h, s, k in zip(search.bandwidths, search.scores, steps, strict=True)}


def _axis_refine(X, w, folds, h, scale, config, best):
    """Per-axis bandwidths: a coordinate search around the shared choice.

    For each axis in turn its bandwidth is multiplied by ``AXIS_STEP`` = :math:`2^{1/4}`
    (or, if that does not improve the held-out score, divided by it) while the score
    improves, at most ``AXIS_MAX_STEPS`` times, so every axis stays within a factor
    :math:`\\sqrt 2` of the shared relative bandwidth. The relative bandwidth already
    scales each axis by its robust spread; this corrects the spread-proportional
    choice where the structure of the density differs between axes (a diagonal
    bandwidth matrix selected by likelihood cross-validation).

    Returns
    -------
    factors : ndarray of shape (n_features,)
    best : tuple (score, steps, warm start)
    trials : tuple of (factors, score)
    """
    factors = np.ones(X.shape[1])
    trials = []
    for j in range(X.shape[1]):
        for step in (AXIS_STEP, 1 / AXIS_STEP):
            moved = False
            for _ in range(AXIS_MAX_STEPS):
                trial = factors.copy()
                trial[j] *= step
                try:
                    score, extra = _cv_score(X, w, folds, h, scale * trial, config)
                except DataError:
                    score, extra = -np.inf, None
                trials.append((tuple(float(f) for f in trial), score))
                logger.info("axis factors %s: held-out log-likelihood %.5f", trial, score)
                if not score > best[0]:
                    break
                factors, moved = trial, True
                warm = isinstance(extra, np.ndarray)
                best = (score, best[1] if warm else extra, extra if warm else best[2])
            if moved:
                break
    return factors, best, tuple(trials)


def _coarse_descending(hs: np.ndarray, score, verbose: int) -> np.ndarray:
    """Score ``hs`` (largest first) until ``PATIENCE`` candidates fall below the best."""
    scores = np.full(len(hs), -np.inf)
    for k in tqdm(range(len(hs)), desc="bandwidth search", disable=verbose <= 0):
        scores[k] = score(float(hs[k]))
        if k >= PATIENCE and np.all(
            scores[k - PATIENCE + 1 : k + 1] < scores[: k - PATIENCE + 1].max()
        ):
            break
    return scores


def _coarse_climb(hs: np.ndarray, score, start: float | None = None) -> np.ndarray:
    """Hill-climb the ladder ``hs`` from Silverman's factor (or the candidate nearest ``start``).

    Used for the early-stopped path, whose cost per candidate grows with the bandwidth
    (broad components need many EM steps to sharpen): both neighbours of the start are
    scored, then the better direction is followed while the score improves.
    """
    scores = np.full(len(hs), -np.inf)
    k = int(np.argmin(np.abs(np.log(CANDIDATE_FACTORS if start is None else hs / start))))
    scores[k] = score(float(hs[k]))
    for j in (k - 1, k + 1):
        if 0 <= j < len(hs):
            scores[j] = score(float(hs[j]))
    step = 1 if k + 1 < len(hs) and scores[k + 1] > scores[k - 1] else -1
    j = k + step
    while scores[j] > scores[j - step] and 0 <= j + step < len(hs):
        j += step
        scores[j] = score(float(hs[j]))
    return scores


def _refine(tried: dict[float, float], score) -> None:
    """Score the vertex of the parabola (in log h) through the best candidate and its neighbours."""
    hs = np.array(sorted(tried))
    values = np.array([tried[h] for h in hs])
    k = int(np.argmax(values))
    if 0 < k < len(hs) - 1 and np.all(np.isfinite(values[k - 1 : k + 2])):
        vertex = float(np.exp(_parabola_vertex(np.log(hs[k - 1 : k + 2]), values[k - 1 : k + 2])))
        if vertex not in tried:
            score(vertex)


def _parabola_vertex(x: np.ndarray, y: np.ndarray) -> float:
    """Abscissa of the maximum of the parabola through three points (middle one highest)."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    d1, d2 = x[1] - x[0], x[2] - x[1]
    s1, s2 = (y[1] - y[0]) / d1, (y[2] - y[1]) / d2
    curvature = (s2 - s1) / (x[2] - x[0])
    if curvature >= 0:
        return float(x[1])
    return float(np.clip((x[0] + x[1]) / 2 - s1 / (2 * curvature), x[0], x[2]))
