"""How the bandwidth search walks its candidates (:func:`._bandwidth.select_bandwidth`).

Each walk takes a ``score(h) -> float`` callable (the held-out score of a relative
bandwidth, cached by the caller) and decides which candidates to score:

* :func:`coarse_descending` -- the ladder ``h0 * CANDIDATE_FACTORS`` from the largest
  bandwidth down, stopped once ``PATIENCE`` candidates fall below the best so far
  (closed-form updates and EM);
* :func:`coarse_climb` -- a hill-climb on the same ladder from Silverman's factor (the
  early-stopped path, whose broad candidates are the expensive ones);
* ``REFINE`` (:math:`\\sqrt 2`) steps around the best coarse candidate, then
  :func:`refine_vertex`, the vertex of the parabola in :math:`\\log h` through the best
  candidate and its two neighbours (:func:`parabola_vertex`);
* :func:`axis_refine` -- the per-axis multipliers of ``per_axis=True``.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from tqdm.auto import tqdm

from ..exceptions import DataError
from ._holdout import cv_score

__all__ = [
    "CANDIDATE_FACTORS",
    "PATIENCE",
    "REFINE",
    "AXIS_STEP",
    "AXIS_MAX_STEPS",
    "coarse_descending",
    "coarse_climb",
    "refine_vertex",
    "parabola_vertex",
    "axis_refine",
]

logger = logging.getLogger("momix.expansion")

#: coarse candidate bandwidths relative to Silverman's factor, largest first
CANDIDATE_FACTORS = 2.0 ** np.arange(3, -5, -1)
#: the coarse pass stops after this many consecutive candidates below the best so far
PATIENCE = 1
#: the refinement scores the best coarse candidate times and divided by this factor
REFINE = math.sqrt(2.0)
#: multiplier of one step of the per-axis refinement
AXIS_STEP = 2.0**0.25
#: largest number of steps per axis and direction of the per-axis refinement
AXIS_MAX_STEPS = 2


def coarse_descending(hs: np.ndarray, score, verbose: int) -> np.ndarray:
    """Score ``hs`` (largest first) until ``PATIENCE`` candidates fall below the best."""
    scores = np.full(len(hs), -np.inf)
    for k in tqdm(range(len(hs)), desc="bandwidth search", disable=verbose <= 0):
        scores[k] = score(float(hs[k]))
        if k >= PATIENCE and np.all(
            scores[k - PATIENCE + 1 : k + 1] < scores[: k - PATIENCE + 1].max()
        ):
            break
    return scores


def coarse_climb(hs: np.ndarray, score, start: float | None = None) -> np.ndarray:
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


def refine_vertex(tried: dict[float, float], score) -> None:
    """Score the vertex of the parabola (in log h) through the best candidate and its neighbours."""
    hs = np.array(sorted(tried))
    values = np.array([tried[h] for h in hs])
    k = int(np.argmax(values))
    if 0 < k < len(hs) - 1 and np.all(np.isfinite(values[k - 1 : k + 2])):
        vertex = float(np.exp(parabola_vertex(np.log(hs[k - 1 : k + 2]), values[k - 1 : k + 2])))
        if vertex not in tried:
            score(vertex)


def parabola_vertex(x: np.ndarray, y: np.ndarray) -> float:
    """Abscissa of the maximum of the parabola through three points (middle one highest).

    With the points sorted by abscissa, slopes :math:`s_1, s_2` of the two chords and
    curvature :math:`c = (s_2 - s_1)/(x_2 - x_0)`, the vertex is
    :math:`(x_0 + x_1)/2 - s_1/(2c)`, clipped to :math:`[x_0, x_2]`; :math:`x_1` when the
    parabola is not concave (:math:`c \\ge 0`).
    """
    order = np.argsort(x)
    x, y = x[order], y[order]
    d1, d2 = x[1] - x[0], x[2] - x[1]
    s1, s2 = (y[1] - y[0]) / d1, (y[2] - y[1]) / d2
    curvature = (s2 - s1) / (x[2] - x[0])
    if curvature >= 0:
        return float(x[1])
    return float(np.clip((x[0] + x[1]) / 2 - s1 / (2 * curvature), x[0], x[2]))


def axis_refine(X, w, folds, h, scale, config, best):
    """Per-axis bandwidths: a coordinate search around the shared choice.

    For each axis in turn its bandwidth is multiplied by ``AXIS_STEP`` = :math:`2^{1/4}`
    (or, if that does not improve the held-out score, divided by it) while the score
    improves, at most ``AXIS_MAX_STEPS`` times, so every axis stays within a factor
    :math:`\\sqrt 2` of the shared relative bandwidth. The relative bandwidth already
    scales each axis by its robust spread; this corrects the spread-proportional
    choice where the structure of the density differs between axes (a diagonal
    bandwidth matrix selected by likelihood cross-validation).

    Parameters
    ----------
    X, w, folds, h, scale, config
        As in :func:`momix.expansion._holdout.cv_score`.
    best : tuple (score, steps, warm start)
        The shared choice's held-out score, step count and EM warm start.

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
                    score, extra = cv_score(X, w, folds, h, scale * trial, config)
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
