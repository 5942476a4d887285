"""Warnings and errors raised by momix.

Every warning momix emits derives from :class:`MomixWarning`, so a user can silence or
escalate all of them at once (``warnings.simplefilter("error", momix.exceptions.MomixWarning)``).
"""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

__all__ = [
    "MomixWarning",
    "ConvergenceWarning",
    "DegenerateComponentWarning",
    "SolverError",
    "NumericalError",
    "DataError",
]


class MomixWarning(UserWarning):
    """Base class of every warning emitted by momix."""


class ConvergenceWarning(MomixWarning, _SklearnConvergenceWarning):
    """An iterative fit stopped at its iteration limit before meeting ``tol``.

    A subclass of :class:`sklearn.exceptions.ConvergenceWarning`, so filters written for
    scikit-learn catch it too. The message names the knob to turn (``max_iter``, ``tol``,
    ``n_init``).
    """


class DegenerateComponentWarning(MomixWarning):
    """A component collapsed (singular covariance, too few distinct points) during a fit.

    The message names the knobs: ``reg_covar`` (a larger floor) or ``n_components``.
    """


class SolverError(RuntimeError):
    """A numerical solver (an SDP, L-BFGS-B, ...) failed.

    Parameters
    ----------
    solver : str
        Name of the solver that failed last (after any fallback was tried).
    status : str
        The solver's own status string.
    message : str, optional
        Extra context.
    """

    def __init__(self, solver: str, status: str, message: str = "") -> None:
        self.solver = solver
        self.status = status
        text = f"solver {solver!r} failed with status {status!r}"
        super().__init__(f"{text}: {message}" if message else text)


class NumericalError(ValueError, ArithmeticError):
    """A computation produced non-finite values or hit a singular matrix.

    Also a ``ValueError``: it almost always traces back to the data (a degenerate column, too
    few samples for the requested model), and callers catching bad input catch it too.
    """


class DataError(ValueError):
    """Input data cannot be used (wrong shape, non-finite values, too few rows)."""
