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
from math import comb

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
    tensor_atoms,
    vector_hermite_moments,
    whiten_items,
    whitened_hermite_tensor,
)
from ._multivariate import (
    MAX_BASIS_SIZE,
    latent_gaussian_draws,
    latent_moment_matrix,
    matched_atom_draws,
    moment_matrix_atoms,
    moment_matrix_order,
)

__all__ = ["MomentStarts", "moment_start_issue", "moment_starts",
           "random_starts", "feature_scaling", "within_covariance"]

logger = logging.getLogger("momix.softmax")

#: fewest items for which the design averages of the Hermite identity are trusted
MIN_ITEMS = 200
#: largest standardised design Hermite moment accepted as "Gaussian enough"
MAX_DESIGN_DEVIATION = 0.2
#: K from which the low-order routes ('hermite-nd', 'gaussian', 'matched') join when K <= L
LOW_ORDER_MIN_COMPONENTS = 3


@dataclass(frozen=True)
class MomentStarts:
    """Moment-based candidates, best log-likelihood first.

    Attributes
    ----------
    weights : ndarray of shape (n_candidates, K)
    theta : ndarray of shape (n_candidates, K, L)
    log_likelihood : ndarray of shape (n_candidates,)
    sources : tuple of str
        ``'hermite-1d'``, ``'tensor'``, ``'hermite-nd'`` or ``'gaussian'`` per candidate
        (see :func:`moment_starts`).
    n_failed : int
        Draws that gave no usable candidate.
    """

    weights: np.ndarray
    theta: np.ndarray
    log_likelihood: np.ndarray
    sources: tuple
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


def _candidate(data, wh, eta, weights, radius, min_weight):
    """Clip weights, map back to theta, score; None if an atom is beyond the radius."""
    if not np.all(np.isfinite(eta)) or np.max(np.linalg.norm(eta, axis=1)) > radius:
        return None
    weights = np.maximum(weights, min_weight / len(weights))
    weights = weights / weights.sum()
    theta = eta @ wh.transform
    return weights, theta, e_step(data, weights, theta).log_likelihood


def _hermite_1d(wh, freq, direction, K, radius, basis):
    u = wh.scores @ direction
    raw = hermite_moments(u, freq, 2 * K - 1)
    quad = gauss_quadrature(denoise_moments(raw, radius))
    if quad is None or quad.weights.min() <= 0 or (
            K > 1 and np.min(np.diff(quad.atoms)) < 1e-6):  # K atoms must be distinct
        return None
    g = vector_hermite_moments(wh.scores, u, freq, direction, raw, K)
    return lift_atoms(g, quad) @ basis @ basis.T, quad.weights  # atoms lie in the span


def _unit(rng, dim):
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def moment_starts(data: ItemSetData, n_components: int, n_directions: int,
                  rng: np.random.Generator, *, min_weight: float = 0.05) -> MomentStarts:
    """Hermite method-of-moments candidates, ranked by log-likelihood.

    Two routes with ``n_directions`` random draws each:

    * ``'hermite-1d'`` (the paper's): a direction uniform on the unit sphere of the
      estimated top-K subspace (:func:`~momix.softmax._moments.moment_subspace`) when
      K <= L, of :math:`\\mathbb R^L` otherwise; latent moments up to order 2K-1, denoising
      with atom radius :math:`R = \\max(\\sqrt{2\\log p}, 1)` (the typical largest
      :math:`|u_j|` of p Gaussian items), Gauss quadrature, lifting projected on the subspace.
      When K > L its order 2K - 1 makes it rarely usable (no candidate at L = 2, K = 5 in
      the benchmark) and every direction costs a small SDP, so it gets ``min(n_directions,
      2K)`` directions there.
    * ``'tensor'`` (ours, K <= L, K >= 2): one random contraction of the whitened
      third-order Hermite tensor (:func:`~momix.softmax._moments.tensor_atoms`). It uses
      moments of order <= 3 only, whose design noise grows far less with K.

    With K > L, or K >= :data:`LOW_ORDER_MIN_COMPONENTS`, three low-order routes join; they
    work in the coordinates of the estimated atom span (all of :math:`\\mathbb R^L` when
    K > L, the top-K subspace otherwise; :func:`_low_order_routes`):

    * ``'hermite-nd'`` (ours, moment-matrix side <= :data:`MAX_BASIS_SIZE`): the
      multivariate moment matrix of the mixing measure and Henrion–Lasserre extraction
      (:mod:`momix.softmax._multivariate`), three random combinations; moments of order
      2r only (6 for L = 2, K = 5, where the 1-D route needs 9; 4 in the top-K subspace).
    * ``'gaussian'`` (ours): ``2K`` draws of K atoms from the Gaussian with the mixing
      measure's first two moments, equal weights.
    * ``'matched'`` (ours): ``2K`` equal-weight K-atom sets whose first two moments equal
      the estimated first two latent moments exactly, in random orientations
      (:func:`~momix.softmax._multivariate.matched_atom_draws`).

    The last two use moments of orders 1 and 2 only, which stay reliable at any K; they are
    a moment-informed spread of starts for when every higher-order route is too noisy (at
    p = 1000, K = 5 the 1-D and tensor routes often give no candidate inside the radius).

    Candidates with an atom of norm above R (in whitened units) are dropped; weights are
    clipped at ``min_weight / K`` and renormalised (spec §3).

    Raises
    ------
    ValueError
        If no draw yields a usable candidate.
    """
    K = n_components
    wh = whiten_items(data.features)
    freq = data.counts / data.counts.sum()
    p, L = data.features.shape
    radius = max(np.sqrt(2 * np.log(p)), 1.0)
    basis = moment_subspace(wh.scores, freq, K) if K <= L else np.eye(L)
    found, failed = [], 0
    for _ in range(n_directions if K <= L else min(n_directions, 2 * K)):
        v = basis @ _unit(rng, basis.shape[1])
        try:
            atoms = _hermite_1d(wh, freq, v, K, radius, basis)
        except (SolverError, np.linalg.LinAlgError) as exc:
            logger.debug("moment direction failed: %s", exc)
            atoms = None
        cand = None if atoms is None else _candidate(data, wh, *atoms, radius, min_weight)
        failed += cand is None
        if cand is not None:
            found.append((*cand, "hermite-1d"))
    dec = whitened_hermite_tensor(wh.scores, freq, K) if 2 <= K <= L else None
    for _ in range(n_directions if dec is not None else 0):
        atoms = tensor_atoms(dec, _unit(rng, K))
        cand = None if atoms is None else _candidate(data, wh, *atoms, radius, min_weight)
        failed += cand is None
        if cand is not None:
            found.append((*cand, "tensor"))
    if K > L or K >= LOW_ORDER_MIN_COMPONENTS:
        more, more_failed = _low_order_routes(data, wh, freq, K, basis, rng, radius,
                                              min_weight)
        found += more
        failed += more_failed
    if not found:
        raise ValueError(f"none of the {failed} moment candidates had {K} distinct atoms "
                         "of plausible size")
    found.sort(key=lambda c: -c[2])
    return MomentStarts(
        weights=np.array([c[0] for c in found]),
        theta=np.array([c[1] for c in found]),
        log_likelihood=np.array([c[2] for c in found]),
        sources=tuple(c[3] for c in found),
        n_failed=failed,
    )


def _low_order_routes(data, wh, freq, K, basis, rng, radius, min_weight):
    """The ``'hermite-nd'`` and ``'gaussian'`` candidates of :func:`moment_starts`.

    Both work in the coordinates :math:`Y_j = B^\\top Z_j` of the estimated span ``basis``
    :math:`B` (L, d) of the atoms (d = K when K <= L, the identity when K > L): the items
    stay standard Gaussian there and the tilt of class k is :math:`N(B^\\top\\eta_k, I_d)`,
    so atoms found in d dimensions are lifted back by :math:`\\eta_k = B y_k`.
    """
    found, failed = [], 0
    scores = wh.scores @ basis
    d = scores.shape[1]
    order = moment_matrix_order(d, K)
    if comb(d + order, d) <= MAX_BASIS_SIZE:
        moments = latent_moment_matrix(scores, freq, order)
        for _ in range(3):
            atoms = moment_matrix_atoms(moments, K, rng)
            cand = None if atoms is None else _candidate(
                data, wh, atoms[0] @ basis.T, atoms[1], radius, min_weight)
            failed += cand is None
            if cand is not None:
                found.append((*cand, "hermite-nd"))
    equal = np.full(K, 1.0 / K)
    for y in latent_gaussian_draws(scores, freq, K, 2 * K, rng):
        cand = _candidate(data, wh, y @ basis.T, equal, radius, min_weight)
        failed += cand is None
        if cand is not None:
            found.append((*cand, "gaussian"))
    for y in matched_atom_draws(scores, freq, K, 2 * K, rng):
        cand = _candidate(data, wh, y @ basis.T, equal, radius, min_weight)
        failed += cand is None
        if cand is not None:
            found.append((*cand, "matched"))
    return found, failed


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
