r"""Monotone SQUAREM (Varadhan & Roland 2008, scheme S3) on one-pass EM steps.

A pass at :math:`\theta` returns :math:`\bar\ell(\theta)` and the EM map :math:`F(\theta)`. The
state is :math:`\eta_0` with known :math:`\bar\ell_0` and :math:`\eta_1 = F(\eta_0)`, all in the
family's unconstrained vector (so every extrapolated point is a valid parameter). A cycle:

.. code-block:: text

    (l1, eta2) = pass(eta1)                         # a plain EM step
    r = eta1 - eta0;  v = eta2 - 2 eta1 + eta0
    a = clip(||r|| / ||v||, 1, step_max)            # a = 1 gives eta2 exactly: no extra pass
    eta' = project(eta0 + 2 a r + a^2 v)            # the family's floors
    (l', eta'') = pass(eta')
    accepted if l' >= l1:  state <- (eta', l', eta''); step_max *= 4 when a == step_max
    else:                  state <- (eta1, l1, eta2); step_max = max(1, step_max / 4)

``step_max`` starts at 1 and moves by a factor 4 (the SQUAREM package's ``step.max0 = 1``,
``mstep = 4``); acceptance is strict (the package's ``objfn.inc = 1`` tolerates a drop).
Every accepted value is at least the previous one: :math:`l' \ge l_1 \ge l_0`, and after a
rejection the next pass is at :math:`\eta_2`, whose value is at least :math:`l_1`. Rejected
trial points leave no trace except the pass they cost (``n_iter`` counts passes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..exceptions import NumericalError
from ._family import Family, Params

__all__ = ["squarem_iterations", "MSTEP"]

#: factor by which the largest step length grows or shrinks
MSTEP = 4.0


def squarem_iterations(
    step: Callable[[Params], tuple[float, Params]],
    family: Family,
    start: Params,
    *,
    max_iter: int,
    record: Callable[[float], bool],
) -> tuple[Params, int, int]:
    """Run SQUAREM cycles until ``record`` reports convergence or ``max_iter`` passes.

    Parameters
    ----------
    step : callable
        ``step(params) -> (mean_log_lik(params), F(params))``, one pass.
    family : Family
        For ``pack``, ``unpack``, ``project`` and the repair counter.
    start : Params
    max_iter : int
        Most passes.
    record : callable
        ``record(value) -> converged``: called with every accepted value, in order.

    Returns
    -------
    params : Params
        :math:`F` of the last accepted point (one M-step past the last recorded value).
    n_pass : int
        Passes made.
    n_accepted : int
        Extrapolations accepted.
    """
    K = start.n_components
    l0, p1 = step(start)
    n_pass, accepted = 1, 0
    if record(l0) or n_pass >= max_iter:
        return p1, n_pass, accepted
    p0 = start
    step_max = 1.0
    while n_pass < max_iter:
        l1, p2 = step(p1)
        n_pass += 1
        if record(l1) or n_pass >= max_iter:
            return p2, n_pass, accepted
        e0, e1, e2 = family.pack(p0), family.pack(p1), family.pack(p2)
        r = e1 - e0
        v = e2 - 2.0 * e1 + e0
        nr, nv = float(np.linalg.norm(r)), float(np.linalg.norm(v))
        a = min(max(nr / nv, 1.0), step_max) if nv > 0 and np.isfinite(nr / nv) else 1.0
        if a <= 1.0:
            if step_max <= 1.0:
                step_max *= MSTEP  # a == step_max: the next cycle may extrapolate further
            p0, l0, p1 = p1, l1, p2
            continue
        repairs = family.n_repairs
        trial_value, trial_next = -np.inf, None
        try:
            with np.errstate(all="ignore"):
                trial = family.project(family.unpack(e0 + 2.0 * a * r + a * a * v, K))
            trial_value, trial_next = step(trial)
        except NumericalError:
            pass
        n_pass += 1
        if np.isfinite(trial_value) and trial_value >= l1:
            accepted += 1
            if a >= step_max:
                step_max *= MSTEP
            p0, l0, p1 = trial, trial_value, trial_next
            if record(trial_value):
                return trial_next, n_pass, accepted
        else:
            family.n_repairs = repairs
            step_max = max(1.0, step_max / MSTEP)
            p0, l0, p1 = p1, l1, p2
    return p1, n_pass, accepted
