"""The choices of a :class:`~momix.expansion.GMMExpansion` fit, from its hyper-parameters.

The estimator validates its input and stores the fitted attributes; the functions here
decide, from ``params`` (the mapping of ``get_params(deep=False)``):

* how the hyper-parameters resolve for the kernels: :func:`em_options`,
  :func:`auto_step_cap` (``max_iter="auto"``), :func:`dictionary_levels`
  (``n_levels``), :func:`use_binning`, :func:`use_per_axis`, :func:`fold_seed`,
  :func:`fallback_bandwidth` and the keyword arguments of the bandwidth search,
  :func:`search_options`;
* the coordinates of ``whiten="auto"``: :func:`choose_coordinates` (coarse bandwidth
  searches in both systems, :func:`momix.expansion._whiten.choose_whitening`);
* the relative bandwidth: :func:`search_bandwidth`
  (:func:`momix.expansion._bandwidth.select_bandwidth`);
* the number of one-step updates: :func:`step_count`
  (:func:`momix.expansion._steps.held_out_step_path` for ``max_iter="auto"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral

import numpy as np

from .._validation import check_rng
from ..exceptions import DataError
from ._bandwidth import BandwidthSearch, select_bandwidth, silverman_factor
from ._binning import AUTO_BIN_MIN_SAMPLES
from ._grid import robust_scale
from ._steps import MAX_AUTO_STEPS, held_out_step_path
from ._threads import one_blas_thread
from ._whiten import WhiteningChoice, choose_whitening

__all__ = [
    "em_options",
    "auto_step_cap",
    "dictionary_levels",
    "use_binning",
    "use_per_axis",
    "fold_seed",
    "fallback_bandwidth",
    "search_options",
    "weight_options",
    "choose_coordinates",
    "search_bandwidth",
    "step_count",
]


def em_options(params: Mapping) -> dict:
    """``max_iter`` (None = 5000) and ``tol`` of the weight EM."""
    return {
        "max_iter": 5000 if params["max_iter"] is None else params["max_iter"],
        "tol": params["tol"],
    }


def auto_step_cap(params: Mapping) -> int | None:
    """Cap of the early-stopped path (``max_iter="auto"``), else None.

    Raises
    ------
    ValueError
        ``max_iter="auto"`` with an update other than ``"one_step"``.
    """
    if params["max_iter"] != "auto":
        return None
    if params["update"] != "one_step":
        raise ValueError(
            f"max_iter='auto' chooses the number of one-step updates by held-out "
            f"likelihood and needs update='one_step', got update={params['update']!r}"
        )
    return MAX_AUTO_STEPS


def dictionary_levels(params: Mapping):
    """``n_levels``, except that ``"auto"`` means one grid for the closed-form updates."""
    if params["n_levels"] == "auto" and params["update"] != "em":
        return 1
    return params["n_levels"]


def use_binning(params: Mapping, n_samples: int) -> bool:
    """Whether EM runs on linear bins (``"auto"``: from ``AUTO_BIN_MIN_SAMPLES`` rows)."""
    if params["binning"] == "auto":
        return params["update"] == "em" and n_samples >= AUTO_BIN_MIN_SAMPLES
    return bool(params["binning"]) and params["update"] == "em"


def use_per_axis(params: Mapping) -> bool:
    """Whether the search refines per-axis factors (``"auto"``: with ``max_iter="auto"``)."""
    if params["per_axis_bandwidth"] == "auto":
        return params["max_iter"] == "auto"
    return bool(params["per_axis_bandwidth"])


def fold_seed(random_state) -> int:
    """One integer seeding the folds of every search of a fit (drawn from a Generator)."""
    if isinstance(random_state, Integral):
        return int(random_state)
    return int(check_rng(random_state).integers(2**31 - 1))


def fallback_bandwidth(bandwidth, n_samples: int, n_features: int) -> float:
    """The relative bandwidth without a search: the fixed one, or Silverman's over sqrt 2."""
    if bandwidth != "auto":
        return float(bandwidth)
    return silverman_factor(n_samples, n_features) / math.sqrt(2)


def search_options(params: Mapping, n_samples: int, seed=None) -> dict:
    """Keyword arguments of :func:`~momix.expansion._bandwidth.select_bandwidth`.

    The folds' generator is a fresh ``check_rng(seed)``, or ``check_rng(random_state)``
    when ``seed`` is None.
    """
    return {
        "n_grid": params["n_grid"],
        "update": params["update"],
        "n_folds": params["n_folds"],
        "max_grid_size": params["max_grid_size"],
        "rng": check_rng(params["random_state"] if seed is None else seed),
        "em_options": em_options(params),
        "n_levels": dictionary_levels(params),
        "binned": use_binning(params, n_samples),
        "tail_weight": params["tail_weight"],
        "max_steps": auto_step_cap(params),
        "per_axis": use_per_axis(params),
        "verbose": params["verbose"],
    }


def weight_options(params: Mapping, n_samples: int, search: BandwidthSearch | None) -> dict:
    """Keyword arguments of :func:`~momix.expansion._refit.fit_grid_weights` other than
    ``steps`` (:func:`step_count`) and ``sigmas``; ``warm`` is the search's EM warm start."""
    return {
        "update": params["update"],
        "em_options": em_options(params),
        "binned": use_binning(params, n_samples),
        "warm": None if search is None else search.warm_start,
    }


def choose_coordinates(X, w, params: Mapping, seed: int) -> WhiteningChoice:
    """``whiten="auto"``: raw or whitened coordinates, decided by coarse searches.

    Both coarse searches use the folds of ``seed`` (with ``random_state=None`` or a
    Generator, one integer drawn from it, :func:`fold_seed`); the whitened climb starts at
    the raw optimum (relative bandwidths are in units of each axis's spread in both
    systems). The comparison itself is :func:`momix.expansion._whiten.choose_whitening`.
    Without a bandwidth search (a fixed bandwidth, or fewer than
    ``2 * n_folds`` rows) there is nothing held out to compare on and the raw
    coordinates are kept.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows of positive weight.
    w : ndarray of shape (n_samples,)
    params : mapping
        The estimator's hyper-parameters.
    seed : int
        Seed of the folds (:func:`fold_seed`).
    """
    if params["bandwidth"] != "auto" or X.shape[0] < 2 * params["n_folds"]:
        return WhiteningChoice(None, np.nan)  # nothing held out to compare on
    raw = []  # the raw coordinates' coarse search (scored first)

    def coarse(Z):
        options = search_options(params, Z.shape[0], seed)
        start = raw[0].best if raw else None  # the whitened climb starts there
        try:
            with one_blas_thread():
                found = select_bandwidth(
                    Z, w, robust_scale(Z, w), coarse_only=True, start=start, **options
                )
        except DataError:  # no finite candidate in these coordinates
            return -np.inf, None
        raw.append(found)
        return max(found.scores), found

    return choose_whitening(X, w, coarse)


def search_bandwidth(
    X, w, scale, params: Mapping, resume=None, seed=None
) -> BandwidthSearch | None:
    """The held-out bandwidth search, or None (fixed bandwidth, fewer than ``2 * n_folds`` rows).

    ``resume``: a coarse search to continue (:func:`choose_coordinates`); ``seed``: the
    folds' seed (None: ``random_state``).
    """
    if params["bandwidth"] != "auto" or X.shape[0] < 2 * params["n_folds"]:
        return None
    return select_bandwidth(X, w, scale, resume=resume, **search_options(params, len(X), seed))


def step_count(X, w, scale, levels, search: BandwidthSearch | None, params: Mapping) -> int:
    """Number of one-step updates: ``max_iter``, or the held-out-best count for ``"auto"``.

    With ``max_iter="auto"`` the count is the search's (chosen jointly with the
    bandwidth), else, at a fixed bandwidth, the best of the early-stopped path on
    ``n_folds`` folds of ``random_state``; 1 (the paper's single step) with too few rows to
    hold any out. Other updates: 1.
    """
    max_iter = params["max_iter"]
    if max_iter is None or params["update"] != "one_step":
        return 1
    if max_iter != "auto":
        return int(max_iter)
    if search is not None:
        return int(search.best_steps)
    n_folds = params["n_folds"]
    if X.shape[0] < 2 * n_folds:
        return 1  # too few samples to hold any out: the paper's single step
    folds = np.array_split(check_rng(params["random_state"]).permutation(X.shape[0]), n_folds)
    path = held_out_step_path(
        X,
        w,
        folds,
        levels,
        scale=scale,
        tail_weight=params["tail_weight"],
        max_steps=MAX_AUTO_STEPS,
    )
    return path.best_steps
