"""Starting points for softmax-mixture EM: the Hermite moment start and random starts.

:func:`moment_starts` chains the kernels of :mod:`momix.softmax._moments` along random
directions and ranks the candidates by log-likelihood. :func:`moment_start_issue` says why
the moment start does not apply to a data set (the Hermite identities assume a large item
set drawn from a Gaussian design). :func:`random_starts` draws coefficients on the scale of
the features.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..exceptions import SolverError
from ._model import ChoiceSetData, ItemSetData, e_step
from ._moments import (
    denoise_moments,
    design_hermite_deviation,
    gauss_quadrature,
    hermite_moments,
    lift_atoms,
    moment_subspace,
    vector_hermite_moments,
    whiten_items,
)

__all__ = ["MomentStarts", "moment_start_issue", "moment_starts", "random_starts",
           "feature_scaling", "within_covariance"]

logger = logging.getLogger("momix.softmax")

#: fewest items for which the design averages of the Hermite identity are trusted
MIN_ITEMS = 200
#: largest standardised design Hermite moment accepted as "Gaussian enough"
MAX_DESIGN_DEVIATION = 0.2


@dataclass(frozen=True)
class MomentStarts:
    """Moment-based candidates, best log-likelihood first.

    Attributes
    ----------
    weights : ndarray of shape (n_candidates, K)
    theta : ndarray of shape (n_candidates, K, L)
    log_likelihood : ndarray of shape (n_candidates,)
    directions : ndarray of shape (n_candidates, L)
        Whitened projection direction of each candidate.
    n_failed : int
        Directions that gave no usable candidate (fewer than K distinct atoms).
    """

    weights: np.ndarray
    theta: np.ndarray
    log_likelihood: np.ndarray
    directions: np.ndarray
    n_failed: int


def moment_start_issue(data: ItemSetData | ChoiceSetData, n_components: int) -> str | None:
    """Why the Hermite moment start does not apply to ``data`` (None if it does).

    Checked: the fixed-item-set layout; at least :data:`MIN_ITEMS` items; non-singular
    feature covariance; a Gaussian-looking design -- every standardised Hermite moment of
    order 1..2K-1 of the whitened items along the coordinate axes and 2L random directions
    is at most :data:`MAX_DESIGN_DEVIATION` + 4/sqrt(p) in absolute value (a heuristic
    threshold: Bernoulli and skewed features fail it, standard Gaussian items pass).
    """
    if isinstance(data, ChoiceSetData):
        return ("the moment start needs one fixed item set shared by all observations; "
                "per-observation choice sets do not provide it")
    p, L = data.features.shape
    if p < MIN_ITEMS:
        return f"the item set has p={p} items; the Hermite identities need p >= {MIN_ITEMS}"
    try:
        scores = whiten_items(data.features).scores
    except ValueError as exc:
        return str(exc)
    rng = np.random.default_rng(0)
    dirs = np.vstack([np.eye(L), rng.standard_normal((2 * L, L))])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    dev = design_hermite_deviation(scores, dirs, max(2 * n_components - 1, 3))
    if dev > MAX_DESIGN_DEVIATION + 4 / np.sqrt(p):
        return (f"the item features do not look Gaussian (standardised design Hermite moment "
                f"{dev:.2f} > {MAX_DESIGN_DEVIATION + 4 / np.sqrt(p):.2f})")
    return None


def _one_direction(data, wh, freq, direction, K, radius, min_weight, basis):
    u = wh.scores @ direction
    raw = hermite_moments(u, freq, 2 * K - 1)
    quad = gauss_quadrature(denoise_moments(raw, radius))
    if quad is None or quad.weights.min() <= 0 or np.min(np.diff(quad.atoms)) < 1e-6:
        return None
    g = vector_hermite_moments(wh.scores, u, freq, direction, raw, K)
    eta = lift_atoms(g, quad) @ basis @ basis.T  # the atoms lie in the estimated span
    if np.max(np.linalg.norm(eta, axis=1)) > radius:
        return None
    weights = np.maximum(quad.weights, min_weight / K)
    weights /= weights.sum()
    theta = eta @ wh.transform
    if not np.all(np.isfinite(theta)):
        return None
    return weights, theta, e_step(data, weights, theta).log_likelihood


def moment_starts(data: ItemSetData, n_components: int, n_directions: int,
                  rng: np.random.Generator, *, min_weight: float = 0.05) -> MomentStarts:
    """Hermite method-of-moments candidates along ``n_directions`` random directions.

    Directions are uniform on the unit sphere of the estimated top-K subspace
    (:func:`~momix.softmax._moments.moment_subspace`) when K <= L, of :math:`\\mathbb R^L`
    otherwise. The atom radius of the denoising step is :math:`R = \\max(\\sqrt{2\\log p}, 1)`,
    the typical largest :math:`|u_j|` of p Gaussian items (a tilt beyond it is not
    identifiable from the design). Weights are clipped at ``min_weight / K`` and
    renormalised (spec §3).

    Raises
    ------
    ValueError
        If no direction yields K distinct atoms with positive weights.
    """
    K = n_components
    wh = whiten_items(data.features)
    freq = data.counts / data.counts.sum()
    p, L = data.features.shape
    radius = max(np.sqrt(2 * np.log(p)), 1.0)
    basis = moment_subspace(wh.scores, freq, K) if K <= L else np.eye(L)
    found, dirs, failed = [], [], 0
    for _ in range(n_directions):
        v = basis @ rng.standard_normal(basis.shape[1])
        v /= np.linalg.norm(v)
        try:
            cand = _one_direction(data, wh, freq, v, K, radius, min_weight, basis)
        except (SolverError, np.linalg.LinAlgError) as exc:
            logger.debug("moment direction failed: %s", exc)
            cand = None
        if cand is None:
            failed += 1
            continue
        found.append(cand)
        dirs.append(v)
    if not found:
        raise ValueError(f"none of {n_directions} projection directions gave {K} distinct atoms")
    order = np.argsort([-c[2] for c in found])
    return MomentStarts(
        weights=np.array([found[i][0] for i in order]),
        theta=np.array([found[i][1] for i in order]),
        log_likelihood=np.array([found[i][2] for i in order]),
        directions=np.array([dirs[i] for i in order]),
        n_failed=failed,
    )


def within_covariance(data: ItemSetData | ChoiceSetData) -> np.ndarray:
    """Covariance of the features around their situation means, pooled over situations, (L, L).

    Softmax probabilities only see within-situation differences, so a direction with zero
    within-situation variance carries a coefficient that the data cannot identify.
    """
    F = data.situations
    centred = (F - F.mean(axis=1, keepdims=True)).reshape(-1, F.shape[-1])
    return centred.T @ centred / max(centred.shape[0], 1)


def feature_scaling(data: ItemSetData | ChoiceSetData) -> np.ndarray:
    """:math:`\\hat\\Sigma^{-1/2}` (pseudo-inverse root) of :func:`within_covariance`, (L, L)."""
    vals, vecs = np.linalg.eigh(within_covariance(data))
    keep = vals > 1e-10 * max(vals[-1], 1e-300)
    inv_sqrt = np.zeros_like(vals)
    inv_sqrt[keep] = 1 / np.sqrt(vals[keep])
    return (vecs * inv_sqrt) @ vecs.T


def random_starts(scaling: np.ndarray, n_components: int, n_starts: int, rng, *,
                  scale: float = 1.0):
    """Random starts: uniform weights, :math:`\\theta_k = \\hat\\Sigma^{-1/2} z_k`.

    :math:`z_k \\sim N(0, c^2 I)` with :math:`c` = ``scale``.

    Returns ``(weights (n_starts, K), theta (n_starts, K, L))``; a unit-scale utility
    spread per class whatever the units of the features.
    """
    L = scaling.shape[0]
    z = scale * rng.standard_normal((n_starts, n_components, L))
    weights = np.full((n_starts, n_components), 1.0 / n_components)
    return weights, z @ scaling
