r"""The EM loop: passes, M-steps, SQUAREM and scikit-learn's convergence bookkeeping.

Iteration :math:`t = 1, 2, \dots` is one pass at :math:`\theta_{t-1}`, which gives
:math:`\bar\ell(\theta_{t-1})` and :math:`\theta_t = M(\theta_{t-1})`. The loop stops when
:math:`|\bar\ell(\theta_{t-1}) - \bar\ell(\theta_{t-2})| <` ``tol`` (with
:math:`\bar\ell(\theta_{-1}) = -\infty`, or the previous fit's value on a warm start) or after
``max_iter`` passes. As in scikit-learn, the returned parameters are :math:`\theta_t` (one
M-step past the last evaluation), ``lower_bound`` is :math:`\bar\ell(\theta_{t-1})` and
``lower_bounds`` the evaluated values in order. With ``accelerate=True`` iterations are
monotone SQUAREM cycles (:mod:`._squarem`): ``n_iter`` counts passes and ``lower_bounds``
holds the accepted values only, so it may be shorter than ``n_iter``.

Each M-step maximises :math:`Q(\cdot\mid\theta)` (or does not lower it), so
:math:`\bar\ell` never decreases (Dempster, Laird & Rubin 1977) — for the ``"clip"`` floor
and with ``reg_covar = 0``; scikit-learn's additive floor (``"add"``, ``reg_covar > 0``)
maximises a different objective and may dip by about ``reg_covar`` times the precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..exceptions import NumericalError
from ._family import Family, Params
from ._pass import EMData, PassRunner, e_pass
from ._squarem import squarem_iterations

__all__ = ["EMResult", "fit_em", "evaluate"]


@dataclass
class EMResult:
    """Outcome of one EM run.

    Attributes
    ----------
    params : Params
        :math:`\\theta_t`, one M-step past the last evaluation.
    lower_bound : float
        :math:`\\bar\\ell` at the last accepted evaluation.
    lower_bounds : ndarray of shape (n_values,)
        Every accepted :math:`\\bar\\ell`, in order (non-decreasing for monotone steps).
    n_iter : int
        Passes over the data.
    converged : bool
    n_repairs : int
        Numeric repairs made by the family during the run (rejected SQUAREM trials
        excluded).
    n_accepted : int
        SQUAREM extrapolations accepted (0 without acceleration).
    """

    params: Params
    lower_bound: float
    lower_bounds: np.ndarray
    n_iter: int
    converged: bool
    n_repairs: int
    n_accepted: int


def _check_value(value: float, family: Family) -> float:
    if np.isnan(value) or value == np.inf:
        raise NumericalError(
            f"the {family.name} mixture's log-likelihood is not finite ({value}); rescale "
            "the data or increase reg_covar"
        )
    return value


def evaluate(data: EMData, family: Family, params: Params, *, threads: int | None = None) -> float:
    """:math:`\\bar\\ell(\\theta)` of ``params`` (one pass)."""
    with PassRunner(threads) as runner:
        return e_pass(data, family, params, runner).mean_log_lik


def fit_em(
    data: EMData,
    family: Family,
    start: Params,
    *,
    max_iter: int = 100,
    tol: float = 1e-3,
    accelerate: bool = False,
    previous_lower_bound: float = -np.inf,
    callback: Callable[[int, float, float], None] | None = None,
    threads: int | None = None,
) -> EMResult:
    """Run EM from ``start`` on ``data``.

    Parameters
    ----------
    data : EMData
    family : Family
        Prepared (``family.prepare(data.summary())``) before ``start`` was built.
    start : Params
    max_iter : int, default=100
        Most passes (at least 1).
    tol : float, default=1e-3
        Stop when the change of :math:`\\bar\\ell` between consecutive values is below.
    accelerate : bool, default=False
        Monotone SQUAREM cycles instead of plain EM steps.
    previous_lower_bound : float, default=-inf
        The value the first change is measured from (a warm start passes the previous fit's).
    callback : callable, optional
        ``callback(n_pass, value, change)`` after every accepted value.
    threads : int, optional
        Threads over chunks (default ``MOMIX_NUM_THREADS`` or the usable CPUs).

    Returns
    -------
    EMResult

    Raises
    ------
    NumericalError
        If the log-likelihood of an accepted iterate is NaN or :math:`+\\infty`.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    repairs_before = family.n_repairs
    values: list[float] = []
    state = {"prev": float(previous_lower_bound), "converged": False}

    def record(value: float) -> bool:
        value = _check_value(value, family)
        change = value - state["prev"]
        values.append(value)
        if callback is not None:
            callback(len(values), value, change)
        state["prev"] = value
        if abs(change) < tol:
            state["converged"] = True
        return state["converged"]

    with PassRunner(threads) as runner:

        def step(params: Params) -> tuple[float, Params]:
            totals = e_pass(data, family, params, runner)
            new, _ = family.m_step(totals, params)
            return totals.mean_log_lik, new

        if accelerate:
            params, n_pass, n_accepted = squarem_iterations(
                step, family, start, max_iter=max_iter, record=record
            )
        else:
            params, n_pass, n_accepted = start, 0, 0
            while n_pass < max_iter:
                value, params = step(params)
                n_pass += 1
                if record(value):
                    break
    return EMResult(
        params=params,
        lower_bound=values[-1],
        lower_bounds=np.asarray(values, dtype=np.float64),
        n_iter=n_pass,
        converged=state["converged"],
        n_repairs=family.n_repairs - repairs_before,
        n_accepted=n_accepted,
    )
