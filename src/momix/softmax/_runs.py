"""The EM runs a :class:`SoftmaxMixture` fit continues: screened moment candidates or random starts.

Functions of the estimator ``model``: they read its hyper-parameters and set ``init_used_``
and ``n_init_``.

* :func:`initial_runs` -- with ``init='moments'``, the candidates of
  :func:`._start.moment_starts` screened by :mod:`._select` (:func:`screened_runs`); where
  the moment start's assumptions fail (:func:`._start.moment_start_issue`) or it finds no
  candidate, a :class:`MomentStartWarning` and random starts (:func:`._start.random_starts`).
"""

from __future__ import annotations

import logging
import warnings

from ..exceptions import MomixWarning
from ._em import EMResult, fit_em
from ._select import auto_n_runs, n_screened, screen_in_two_stages, screening_order
from ._start import feature_scaling, moment_start_issue, moment_starts, random_starts

__all__ = ["MomentStartWarning", "initial_runs", "screened_runs"]

logger = logging.getLogger("momix.softmax")


class MomentStartWarning(MomixWarning):
    """``init='moments'`` was requested but its assumptions fail; random starts were used."""


def initial_runs(model, data, rng) -> list[EMResult]:
    """Runs to continue: screened moment candidates, or random starts (0 steps taken)."""
    K = model.n_components
    n = auto_n_runs(K) if model.n_init == "auto" else model.n_init
    model.init_used_, model.n_init_ = model.init, n
    if model.init == "moments":
        issue = moment_start_issue(data, K)
        if issue is None:
            try:
                ms = moment_starts(data, K, 10 * K, rng)
            except ValueError as exc:
                issue = str(exc)
        if issue is None:
            return screened_runs(model, data, ms, n, rng)
        warnings.warn(
            f"init='moments' skipped: {issue}; using {n} random start(s) "
            "(pass init='random' to silence; n_init >= 10 is advisable)",
            MomentStartWarning,
            stacklevel=3,
        )
        model.init_used_ = "random"
    w, t = random_starts(feature_scaling(data), K, n, rng)
    return [fit_em(data, wk, tk, max_iter=0, tol=model.tol) for wk, tk in zip(w, t, strict=True)]


def screened_runs(model, data, ms, n, rng) -> list[EMResult]:
    """The ``n`` best of the screened moment candidates.

    Fewer candidates than ``n``: with ``n_init='auto'`` all of them run (``n_init_``
    records how many); with an integer ``n_init`` random starts make up the number.
    """
    counts = {s: ms.sources.count(s) for s in dict.fromkeys(ms.sources)}
    logger.info(
        "moment start: %d candidates %s, %d draws failed", len(ms.weights), counts, ms.n_failed
    )
    top = screening_order(ms.log_likelihood, ms.sources)[: n_screened(n)]
    runs = screen_in_two_stages(
        data,
        ms.weights[top],
        ms.theta[top],
        n,
        tol=model.tol,
        step_size=model.step_size,
        accelerate=model.accelerate,
    )
    if model.n_init == "auto":
        model.n_init_ = len(runs)
    elif len(runs) < n:
        w, t = random_starts(feature_scaling(data), model.n_components, n - len(runs), rng)
        runs += [
            fit_em(data, wk, tk, max_iter=0, tol=model.tol) for wk, tk in zip(w, t, strict=True)
        ]
    return runs
