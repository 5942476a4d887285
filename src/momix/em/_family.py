r"""The family contract of the EM engine.

A *family* is a parametric component density :math:`p_k(x;\theta_k)` together with everything
the engine needs to run EM on a mixture of it, and nothing about the loop itself:

``prepare(summary)``
    receives the pass-0 :class:`Summary` (total weight :math:`W`, weighted mean :math:`c`,
    covariance, scale :math:`\bar s^2 = \operatorname{tr}\operatorname{Cov}_w(X)/d`) and fixes
    what depends on the data: the shift :math:`c` of every block, the floors.
``log_prob(params, block, cache)``
    :math:`\log p_k(x_n)` for a block of raw rows, shape ``(b, K)``. It may leave per-block
    intermediates (for the Gaussian: whitened rows) in ``cache`` for ``block_stats``.
``block_stats(params, block, rho, cache, out=None)``
    the weighted sufficient statistics of the block under weights :math:`\rho_{nk} = w_n
    r_{nk}`; float64 and additive (:class:`Stats`), so chunks and blocks can be summed in any
    grouping.
``m_step(totals, params)``
    the maximiser of :math:`Q(\cdot\mid\theta)` from the statistics of one pass (``"exact"``),
    or a step that does not lower it (``"ecm"``, ``"gem"``); returns ``(params, kind)``.
``n_free()``
    number of free parameters (for BIC/AIC).
``pack(params) -> eta`` / ``unpack(eta)``
    the unconstrained parameter vector (additive log-ratio weights, then the family's blocks);
    every vector maps to a valid parameter, so SQUAREM can extrapolate in it.
``sample(params, n, rng)``
    draws ``(X, labels)``.

The engine owns the responsibilities, the log-likelihood and the per-component weights
:math:`N_k = \sum_n \rho_{nk}`; a family sees them through :class:`PassTotals`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

__all__ = ["Params", "Stats", "Summary", "PassTotals", "Family"]


@dataclass(frozen=True, eq=False)
class Params:
    """Parameters of a mixture: ``weights`` (K,) and per-component arrays stacked on axis 0.

    Subclasses add their fields; :meth:`shared_fields` names those that are not per
    component (a tied covariance). Instances are immutable: build new ones with
    :meth:`replace` or through the family, which also computes derived quantities
    (factorisations).
    """

    weights: np.ndarray

    def shared_fields(self) -> tuple[str, ...]:
        """Fields not stacked by component (kept whole by :meth:`take`)."""
        return ()

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    def replace(self, **changes: Any) -> Params:
        """A copy with some fields replaced (no derived quantity is recomputed)."""
        return dataclasses.replace(self, **changes)

    def _stacked(self, name: str, value: Any) -> bool:
        return (
            isinstance(value, np.ndarray)
            and value.ndim >= 1
            and value.shape[0] == self.n_components
            and name not in self.shared_fields()
        )

    def take(self, idx) -> Params:
        """The components ``idx`` (weights as they are, not renormalised)."""
        idx = np.asarray(idx)
        changes = {
            f.name: getattr(self, f.name)[idx]
            for f in fields(self)
            if self._stacked(f.name, getattr(self, f.name))
        }
        return dataclasses.replace(self, **changes)


@dataclass
class Stats:
    """Additive sufficient statistics: every field is a float64 array, summed field-wise.

    ``a + b`` returns new statistics, ``a.add_(b)`` adds in place; ``pack`` flattens to one
    vector in field order and ``unpack`` restores the shapes of a template.
    """

    def __add__(self, other: Stats) -> Stats:
        return type(self)(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def add_(self, other: Stats) -> Stats:
        for f in fields(self):
            getattr(self, f.name)[...] += getattr(other, f.name)
        return self

    def copy(self) -> Stats:
        return type(self)(**{f.name: np.array(getattr(self, f.name)) for f in fields(self)})

    def pack(self) -> np.ndarray:
        return np.concatenate([np.ravel(getattr(self, f.name)) for f in fields(self)])

    def unpack(self, vector: np.ndarray) -> Stats:
        """Statistics with this object's field shapes, read from ``vector``."""
        shapes = [np.shape(getattr(self, f.name)) for f in fields(self)]
        need = sum(int(np.prod(shape)) for shape in shapes)
        if len(vector) != need:
            raise ValueError(f"vector has {len(vector)} entries, statistics need {need}")
        out, start = {}, 0
        for f, shape in zip(fields(self), shapes, strict=True):
            size = int(np.prod(shape))
            out[f.name] = np.asarray(vector[start : start + size], dtype=np.float64).reshape(shape)
            start += size
        return type(self)(**out)


@dataclass(frozen=True)
class Summary:
    """Pass-0 summary of the data.

    Attributes
    ----------
    total_weight : float
        :math:`W = \\sum_n w_n`.
    n_rows : int
        Rows read, zero-weight rows included.
    mean : ndarray of shape (d,)
        Weighted mean :math:`c` (the shift of every block).
    covariance : ndarray of shape (d, d)
        Weighted covariance (normalised by :math:`W`).
    scale2 : float
        :math:`\\bar s^2 = \\operatorname{tr}\\operatorname{Cov}_w(X)/d`.
    """

    total_weight: float
    n_rows: int
    mean: np.ndarray
    covariance: np.ndarray
    scale2: float

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])


@dataclass
class PassTotals:
    """What one pass over the data returns to the M-step.

    Attributes
    ----------
    total_weight : float
        :math:`W`.
    sum_log_lik : float
        :math:`\\sum_n w_n \\ell_n` at the parameters of the pass.
    resp_weight : ndarray of shape (K,)
        :math:`N_k = \\sum_n w_n r_{nk}`.
    stats : Stats
        The family's statistics.
    """

    total_weight: float
    sum_log_lik: float
    resp_weight: np.ndarray
    stats: Stats

    @property
    def mean_log_lik(self) -> float:
        """:math:`\\bar\\ell = \\sum_n w_n\\ell_n / W`."""
        return self.sum_log_lik / self.total_weight

    def add_(self, other: PassTotals) -> PassTotals:
        self.total_weight += other.total_weight
        self.sum_log_lik += other.sum_log_lik
        self.resp_weight += other.resp_weight
        self.stats.add_(other.stats)
        return self


class Family(ABC):
    """A component family: densities, statistics, M-step and parameter maps (see module)."""

    #: name used in messages
    name: str = "family"

    #: numeric repairs (singular or non-finite factorisations) made so far
    n_repairs: int = 0

    @abstractmethod
    def prepare(self, summary: Summary) -> None:
        """Fix the data-dependent constants (shift, floors) from the pass-0 summary."""

    @abstractmethod
    def log_prob(self, params: Params, block: np.ndarray, cache: dict) -> np.ndarray:
        """Component log-densities of the raw rows ``block``, shape ``(b, K)``.

        ``cache`` is a scratch dict owned by one thread for one chunk: buffers may be kept
        there across blocks, and intermediates of this block left for :meth:`block_stats`.
        The engine overwrites the returned array in place (it becomes the responsibilities).
        """

    @abstractmethod
    def block_stats(
        self,
        params: Params,
        block: np.ndarray,
        rho: np.ndarray,
        cache: dict,
        out: Stats | None = None,
    ) -> Stats:
        """Statistics of ``block`` under weights ``rho`` (b, K); added into ``out`` if given."""

    @abstractmethod
    def m_step(self, totals: PassTotals, params: Params) -> tuple[Params, str]:
        """``(new_params, kind)`` with kind ``"exact"``, ``"ecm"`` or ``"gem"``."""

    @abstractmethod
    def n_free(self, n_components: int, n_features: int) -> int:
        """Number of free parameters."""

    @abstractmethod
    def pack(self, params: Params) -> np.ndarray:
        """Unconstrained vector of ``params``."""

    @abstractmethod
    def unpack(self, eta: np.ndarray, n_components: int) -> Params:
        """Parameters of an unconstrained vector (valid for every finite vector)."""

    def project(self, params: Params) -> Params:
        """Map parameters onto the family's constraint set (floors); identity by default."""
        return params

    @abstractmethod
    def sample(self, params: Params, n: int, rng: np.random.Generator):
        """Draw ``(X, labels)``; components in order, like scikit-learn."""
