"""The fits behind :meth:`Polymom.fit`: one per grid point of the profiled constants.

Model constants that are unknown and shared by all components (the ``"variance"`` of
``GaussianSpherical(shared_variance=True)``, the ``"noise_variance"`` of
``LinearRegression``) are *profiled*: Polymom is fitted at every combination of their
candidate values (:func:`constant_grid`) and the fit with the smallest score

.. math::

    s = \\|A y - b\\|_2 + g_K \\, \\|b\\|_2

is kept (:func:`fit_profile`), with :math:`\\|Ay - b\\|_2` the SDP's moment residual and
:math:`g_K` its rank gap, the trailing eigenvalues of the moment matrix beyond K over its
trace (:func:`profile_score`): the exact relaxation matches the moments at every feasible
value, so only the rank tells the values apart there. A value at which the solver fails
(an exact relaxation infeasible there, say) is skipped unless it is the only one. Only the
kept fit's warnings are re-emitted. The resolution of the constants is that of the grid.

Also here: one fit with the estimator's hyper-parameters (:func:`fit_once`), the moment
weighting of ``moment_weighting="auto"`` (:func:`resolve_weighting`) and the progress
report of the convex iteration (:func:`convex_iteration_progress`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .._base import warn_not_converged
from .._validation import check_rng
from ..exceptions import SolverError
from ._builtin import LinearRegression
from ._fit import PolymomResult, polymom
from ._model import ComponentModel
from ._moments import MomentSystem

__all__ = [
    "POLYMOM_OPTIONS",
    "ProfiledFit",
    "constant_grid",
    "fit_once",
    "fit_profile",
    "profile_score",
    "resolve_weighting",
    "convex_iteration_progress",
]

logger = logging.getLogger("momix.polymom")

#: hyper-parameters of :class:`~momix.polymom.Polymom` passed to :func:`._fit.polymom` as they are
POLYMOM_OPTIONS = (
    "order",
    "relaxation",
    "rank_method",
    "penalty",
    "slack",
    "solver",
    "fallback",
    "max_iter",
    "tol",
    "polish",
)


@dataclass(frozen=True)
class ProfiledFit:
    """The kept fit of a profile (or the only fit).

    Attributes
    ----------
    model : ComponentModel
        The model with the kept constants in the data's units.
    fit_model : ComponentModel
        The model as fitted: constants in the units of the (standardised) fit.
    result : PolymomResult
    weighting : str or ndarray
        The moment weighting used (``"auto"`` resolved).
    score : float
        :func:`profile_score` of the fit.
    warnings : tuple of warnings.WarningMessage
        Warnings raised by this fit.
    """

    model: ComponentModel
    fit_model: ComponentModel
    result: PolymomResult
    weighting: object
    score: float
    warnings: tuple


def constant_grid(profile: Mapping | None) -> list[dict[str, float]]:
    """Every combination of the candidate values, ``[{}]`` without a profile.

    Raises
    ------
    ValueError
        If a constant has no candidate value or a value that is not a finite number.
    """
    grid = [{}]
    for name, candidates in (profile or {}).items():
        values = np.atleast_1d(np.asarray(candidates, dtype=float))
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError(f"profile[{name!r}] must hold at least one finite value, got "
                             f"{values.tolist()}")
        grid = [{**g, name: float(v)} for g in grid for v in values]
    return grid


def profile_score(result: PolymomResult, system: MomentSystem) -> float:
    """Moment residual plus the rank gap in moment units, :math:`g_K \\|b\\|`."""
    return result.sdp.residual + result.sdp.rank_gap * float(np.linalg.norm(system.b))


def fit_profile(
    model: ComponentModel,
    make_system: Callable[[ComponentModel], MomentSystem],
    fit: Callable[[ComponentModel, MomentSystem], tuple[PolymomResult, object]],
    *,
    profile: Mapping | None,
    factors: Mapping[str, float] | None = None,
) -> ProfiledFit:
    """Fit ``model`` at every grid point of ``profile`` and keep the smallest score.

    Parameters
    ----------
    model : ComponentModel
    make_system : callable
        ``model -> MomentSystem`` (empirical, streamed or given moments).
    fit : callable
        ``(model, system) -> (PolymomResult, weighting used)``.
    profile : mapping or None
        ``{constant name: candidate values}``.
    factors : mapping, optional
        ``{constant name: factor}`` mapping constants given in the data's units to the
        units of the fit (a regression's noise variance,
        :func:`momix.polymom._scaling.constant_factors`).

    Raises
    ------
    SolverError
        The solver's error when it fails at every grid point.
    """
    grid = constant_grid(profile)
    best, failure = None, None
    for values in grid:
        raw = model.with_constants(values) if values else model
        scaled = {
            s.name: v * factors[s.name] for s, v in raw.constants if s.name in (factors or {})
        }
        fit_model = raw.with_constants(scaled) if scaled else raw
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                system = make_system(fit_model)
                result, weighting = fit(fit_model, system)
            except SolverError as exc:  # e.g. an exact relaxation infeasible at this value
                if len(grid) == 1:
                    raise
                failure = exc
                continue
        score = profile_score(result, system)
        if best is None or score < best.score:
            best = ProfiledFit(raw, fit_model, result, weighting, score, tuple(caught))
    if best is None:
        raise failure
    return best


def fit_once(
    model: ComponentModel, system: MomentSystem, params: Mapping, *, from_data: bool
) -> tuple[PolymomResult, object]:
    """One Polymom fit with the estimator's hyper-parameters ``params``.

    ``POLYMOM_OPTIONS`` are passed to :func:`momix.polymom._fit.polymom` unchanged, with a
    fresh ``check_rng(random_state)``, the weighting of :func:`resolve_weighting` and the
    progress report of :func:`convex_iteration_progress`. Warns (``ConvergenceWarning``)
    when the convex iteration stopped above the rank-gap tolerance.

    Returns
    -------
    result : PolymomResult
    weighting : str or array-like
        The moment weighting used.
    """
    rng = check_rng(params["random_state"])
    weighting = resolve_weighting(params["moment_weighting"], model, from_data)
    options = {name: params[name] for name in POLYMOM_OPTIONS}
    with convex_iteration_progress(params["verbose"], params["max_iter"]) as progress:
        res = polymom(
            model,
            system,
            params["n_components"],
            rng=rng,
            moment_weighting=weighting,
            progress=progress,
            **options,
        )
    if not res.sdp.converged:
        warn_not_converged(
            f"Polymom convex iteration (rank gap {res.sdp.rank_gap:.1e})",
            "increase max_iter or tol, or change order/relaxation",
        )
    return res, weighting


def resolve_weighting(moment_weighting, model: ComponentModel, from_data: bool):
    """``"auto"``: ``"covariance"`` for :class:`LinearRegression` data, ``"variance"`` for
    other data, ``"none"`` for given moments (no sampling error is known); else unchanged.

    Chosen on the paper's table settings, seeds 100-111: for regressions the full
    weighting lowered the mean error at every T (0.06 -> 0.01 at T = 1e4, 10 of 12
    models); for Gaussians it lowered it at T = 1e5 (spherical 0.14 -> 0.11) but raised
    it at T = 1e3 (0.58 -> 0.63), and on the table's seeds the reverse, differences
    within one or two standard errors, so the diagonal weighting stays their default
    (``docs/polymom.md``).
    """
    if isinstance(moment_weighting, str) and moment_weighting == "auto":
        if not from_data:
            return "none"
        return "covariance" if isinstance(model, LinearRegression) else "variance"
    return moment_weighting


@contextmanager
def convex_iteration_progress(verbose: int, total: int):
    """The SDP's ``progress(gap)`` callback: logs each rank gap at INFO level on the
    ``momix.polymom`` logger and, when ``verbose > 0``, ticks a tqdm bar of ``total`` solves."""
    bar = None
    if verbose > 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="polymom convex iteration", leave=False)

    def progress(gap):
        logger.info("polymom: rank gap %.3e", gap)
        if bar is not None:
            bar.update(1)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()
