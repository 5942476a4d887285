"""Size and memory of a moment SDP, estimated before anything of that size is built.

The moment matrix :math:`M_r` of a model with P parameters has one row per monomial of
weighted degree at most r, a number that grows combinatorially with P, r and the number of
components K (which fixes the smallest usable r). The interior-point solver (Clarabel) keeps,
for every positive-semidefinite block of t rows, a dense scaling matrix over the block's
:math:`n = t(t+1)/2` free entries and its factorisation: about 53 bytes per :math:`n^2`,
measured with Clarabel 0.11 on blocks of n = 1275 to 3240 (87 to 531 MB above the solver's
baseline; :data:`SOLVER_BYTES_PER_ENTRY` rounds up to 64). The default diagonal Gaussian of
10 features (K = 2) has t = 396, n = 78606: 49 GB for the first allocation alone, which the
solver cannot survive (the process aborts; nothing can catch it). Its time grows faster
still: one solve took 0.3 s at n = 136, 8 s at n = 1540 and 34 s at n = 3240, and a fit
makes up to ``max_iter + 1`` solves.

:func:`sdp_size` counts everything from the parameters' degree weights alone (a counting
recursion, no enumeration): rows, moment variables, localizing blocks, equality rows, and
the peak memory of every step that grows combinatorially (the index structure of
:func:`momix.polymom._basis.moment_structure`, the dense constraint rows, the moments'
covariance, the solver). :func:`check_sdp_size` refuses, with a :class:`DataError` naming
the sizes, the estimate and what to change, a problem whose estimate exceeds
:func:`memory_budget`: the smaller of 192 MiB (:data:`MEMORY_CAP`) and half the memory
available (``MemAvailable`` of ``/proc/meminfo``, or ``os.sysconf``), unless the environment
variable ``MOMIX_POLYMOM_MEMORY_BUDGET`` (bytes, with an optional K/M/G suffix) sets
another budget. The cap is set by time as much as by memory: at 192 MiB one solve takes
about 10 s, and the solver's time grows like its memory to the power 3/2. The largest
default-model problem under it is 4 features with K = 2 (estimate 155 MiB, measured
157 MB above the baseline; a fit takes about 20 s); 5 features need 0.87 GiB (about a
minute per solve), 10 features 374 GiB.

Built-in component models are refused when they would derive more than
:data:`MAX_OBSERVATIONS` observation functions or :data:`MAX_TERMS` moment terms with
sympy, or moments of a degree no moment matrix of order :data:`MAX_ORDER` holds, before any
derivation starts (:func:`check_observation_count`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from math import comb

import numpy as np

from ..exceptions import DataError

__all__ = [
    "MEMORY_CAP",
    "MEMORY_FRACTION",
    "MEMORY_ENV",
    "MAX_OBSERVATIONS",
    "MAX_ORDER",
    "MAX_TERMS",
    "SOLVER_BYTES_PER_ENTRY",
    "SDPSize",
    "available_memory",
    "basis_count",
    "check_observation_count",
    "check_sdp_size",
    "counted_order",
    "gaussian_observations",
    "regression_derivation",
    "memory_budget",
    "model_sdp_size",
    "required_order",
    "sdp_size",
    "splits",
]

#: fixed cap of the estimated peak memory of one moment SDP (bytes; module docstring)
MEMORY_CAP = 192 * 2**20
#: at most this fraction of the memory available when the fit starts
MEMORY_FRACTION = 0.5
#: environment variable overriding the budget (bytes; suffixes K, M, G accepted)
MEMORY_ENV = "MOMIX_POLYMOM_MEMORY_BUDGET"
#: interior-point solver bytes per squared free-entry count of a semidefinite block
SOLVER_BYTES_PER_ENTRY = 64
#: most observation functions a built-in model derives with sympy
MAX_OBSERVATIONS = 5000
#: most moment terms a built-in model derives with sympy (linear regression: 4592 terms in
#: R^6 took 14 s to derive and compile, 29964 in R^10 over 300 s)
MAX_TERMS = 10000
#: highest order of a moment matrix that Polymom builds
MAX_ORDER = 12

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def basis_count(degree_weights, order: int) -> int:
    """Number of exponent vectors :math:`e \\ge 0` with :math:`\\sum_p w_p e_p \\le` ``order``
    (rows of the moment matrix of that order), by a counting recursion over the parameters."""
    if order < 0:
        return 0
    ways = [1] + [0] * order  # ways[v]: exponent vectors of weighted degree exactly v
    for weight in degree_weights:
        step = int(weight)
        for v in range(step, order + 1):  # any number of copies of this parameter
            ways[v] += ways[v - step]
    return sum(ways)


def splits(gamma, degree_weights, order: int) -> bool:
    """Whether the monomial ``gamma`` is an entry of :math:`M_r`: a sum of two exponent
    vectors of weighted degree at most ``order`` each."""
    total = int(np.dot(gamma, degree_weights))
    if total > 2 * order:
        return False
    reachable = {0}  # weighted degrees of the divisors beta <= gamma
    for g, w in zip(gamma, degree_weights, strict=True):
        reachable = {v + a * int(w) for v in reachable for a in range(int(g) + 1)
                     if v + a * int(w) <= order}
    return any(total - order <= v <= order for v in reachable)


def required_order(monomials, degree_weights, n_components: int,
                   max_order: int = MAX_ORDER) -> int:
    """Smallest order whose moment matrix holds every monomial and whose block of weighted
    degree ``r - max(weights)`` has at least ``n_components`` rows (counted, not built).

    Raises
    ------
    MonomialError
        If no order up to ``max_order`` qualifies.
    """
    w = [int(v) for v in degree_weights]
    monomials = list(monomials)
    need = max((int(np.dot(a, w)) for a in monomials), default=0)
    r = counted_order(w, need, n_components, max_order)
    while not all(splits(a, w, r) for a in monomials):
        r = counted_order(w, need, n_components, max_order, start=r + 1)
    return r


def counted_order(degree_weights, need: int, n_components: int, max_order: int = MAX_ORDER, *,
                  start: int = 1) -> int:
    """Smallest order ``r >= start`` with ``2r >= need`` whose block of weighted degree
    ``r - max(weights)`` has at least ``n_components`` rows (:func:`required_order` without
    the entry check; exact for the built-in models, whose monomials all split).

    Raises
    ------
    MonomialError
        If ``r`` would exceed ``max_order``.
    """
    from ._basis import MonomialError

    w = [int(v) for v in degree_weights]
    r = max(1, start, -(-int(need) // 2))
    while r <= max_order:
        if basis_count(w, r - max(w)) >= n_components:
            return r
        r += 1
    raise MonomialError(
        f"no moment matrix of order <= {max_order} holds moments of weighted degree {need} "
        f"with n_components={n_components}; use fewer components or a lower order"
    )


def _svec(t: int) -> int:
    return t * (t + 1) // 2


@dataclass(frozen=True)
class SDPSize:
    """Counted size of a moment SDP and its estimated peak memory.

    Attributes
    ----------
    n_params : int
    order : int
    rows : int
        Rows of the moment matrix :math:`M_r`.
    n_vars : int
        Moment variables (upper bound: monomials of weighted degree at most 2r).
    localizer_rows : tuple of int
        Rows of each localizing matrix (upper bounds).
    n_observations : int
    equality_rows : int
        Rows of the parameter equalities (upper bound).
    parts : dict
        Estimated bytes of each step: ``"structure"``, ``"constraints"``, ``"moments"``,
        ``"solver"``.
    """

    n_params: int
    order: int
    rows: int
    n_vars: int
    localizer_rows: tuple
    n_observations: int
    equality_rows: int
    parts: dict

    @property
    def bytes(self) -> int:
        """Estimated peak memory (bytes): the sum of :attr:`parts`."""
        return int(sum(self.parts.values()))


def sdp_size(degree_weights, order: int, *, n_observations: int,
             inequality_degrees=(), equality_degrees=()) -> SDPSize:
    """Sizes and memory estimate of the moment SDP of a given order.

    Parameters
    ----------
    degree_weights : sequence of int
        One per parameter.
    order : int
        Weighted order r of the moment matrix.
    n_observations : int
        Observation functions (rows of :math:`A`).
    inequality_degrees, equality_degrees : sequence of int
        Weighted degree of each constraint polynomial.
    """
    w = [int(v) for v in degree_weights]
    P = len(w)
    s = basis_count(w, order)
    n_y = basis_count(w, 2 * order)
    locs = tuple(basis_count(w, (2 * order - int(g)) // 2) for g in inequality_degrees)
    n_eq = sum(basis_count(w, 2 * order - int(g)) for g in equality_degrees)
    parts = {
        # exponent sums (s*s*P int64) sorted by np.unique with copies, index, inverse, lift
        "structure": s * s * (24 * P + 40) + sum(t * t * 24 for t in locs),
        # dense A (observations x variables), equality rows and their SVD
        "constraints": 8 * n_observations * n_y + 24 * n_eq * n_y,
        # covariance of the observed moments, its correlation, eigenvectors and whitening
        "moments": 32 * n_observations**2,
        "solver": SOLVER_BYTES_PER_ENTRY * (_svec(s) ** 2 + sum(_svec(t) ** 2 for t in locs)),
    }
    return SDPSize(P, order, s, n_y, locs, n_observations, n_eq, parts)


def _weighted_degree(poly: dict, w) -> int:
    return max((int(np.dot(a, w)) for a in poly), default=0)


def model_sdp_size(model, n_components: int, order: int | None = None) -> SDPSize:
    """:func:`sdp_size` of a (compiled) component model at the order Polymom would use:
    ``order``, or the smallest that holds every observed monomial (:func:`required_order`)."""
    c = model.compiled()
    w = model.degree_weights
    if order is None:
        monomials = {a for terms in c.obs_terms for a in terms}
        order = required_order(monomials, w, n_components)
    return sdp_size(w, order, n_observations=len(c.obs_keys),
                    inequality_degrees=[_weighted_degree(g, w) for g in c.inequalities],
                    equality_degrees=[_weighted_degree(g, w) for g in c.equalities])


def available_memory() -> int | None:
    """Bytes of memory available now: ``MemAvailable`` of ``/proc/meminfo``, else
    ``os.sysconf`` free pages; None when neither is readable."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget() -> tuple[int, str]:
    """``(bytes, how it was set)`` of the memory a moment SDP may take (module docstring).

    Raises
    ------
    ValueError
        If ``MOMIX_POLYMOM_MEMORY_BUDGET`` is set but is not a positive size.
    """
    env = os.environ.get(MEMORY_ENV, "").strip()
    if env:
        m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([KMGT]?)I?B?", env.upper())
        if not m or float(m.group(1)) <= 0:
            raise ValueError(f"{MEMORY_ENV}={env!r} is not a positive size in bytes (e.g. 8G)")
        return int(float(m.group(1)) * _UNITS[m.group(2)]), f"set by {MEMORY_ENV}"
    avail = available_memory()
    if avail is None:
        return MEMORY_CAP, f"the fixed cap of {_fmt(MEMORY_CAP)}"
    return (min(MEMORY_CAP, int(MEMORY_FRACTION * avail)),
            f"the smaller of {_fmt(MEMORY_CAP)} and half the {_fmt(avail)} available; "
            f"{MEMORY_ENV} sets another")


def _fmt(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def check_sdp_size(size: SDPSize, *, what: str, n_components: int, advice: str = "") -> None:
    """Raise :class:`DataError` when ``size`` is over :func:`memory_budget`.

    Parameters
    ----------
    size : SDPSize
    what : str
        The model, for the message (e.g. ``"the diagonal Gaussian in R^10 model"``).
    n_components : int
    advice : str, optional
        What else to change, after "fewer features, fewer components or a lower order"
        (default: "or a model with fewer parameters").
    """
    budget, how = memory_budget()
    if size.bytes <= budget:
        return
    largest = max(size.parts, key=size.parts.get)
    raise DataError(
        f"the Polymom moment SDP of {what} with n_components={n_components} is too large: "
        f"P={size.n_params} parameters, order {size.order}, a moment matrix of {size.rows} "
        f"rows and about {size.n_vars} moment variables need an estimated "
        f"{_fmt(size.bytes)} (mostly the {largest}), above the memory budget of "
        f"{_fmt(budget)} ({how}). Use fewer features (reduce the dimension first), fewer "
        f"components or a lower order, {advice or 'or a model with fewer parameters'}"
    )


def check_observation_count(n_observations: int, n_terms: int, what: str,
                            degree: int) -> None:
    """Raise ``ValueError`` before a built-in model starts a sympy derivation that is too
    large: more than :data:`MAX_OBSERVATIONS` observation functions, more than
    :data:`MAX_TERMS` moment terms in all (``n_terms``, counted by the model), or moments of
    a degree above ``2 * MAX_ORDER`` (they need a moment matrix of order above
    :data:`MAX_ORDER`, which Polymom does not build, and their derivation alone takes tens of
    seconds: 44 s for a Gaussian moment of degree 300)."""
    if degree > 2 * MAX_ORDER:
        raise ValueError(f"{what} with moments of degree {degree} needs a moment matrix of "
                         f"order above {MAX_ORDER}, which Polymom does not build; use an order "
                         f"of at most {2 * MAX_ORDER}")
    if n_observations > MAX_OBSERVATIONS or n_terms > MAX_TERMS:
        raise ValueError(
            f"{what} would derive {n_observations} observation functions with {n_terms} moment"
            " terms (sympy expansions), more than the {MAX_OBSERVATIONS} observations "
            f"or {MAX_TERMS} terms momix derives (about 30 s); lower the order or the number of "
            "features"
        )


def gaussian_observations(n_features: int, order: int) -> int:
    """Observation functions of the built-in Gaussian and Poisson models: the monomials of
    degree 1..order in ``n_features`` variables."""
    return comb(int(n_features) + int(order), int(order)) - 1


def regression_derivation(n_features: int, x_order: int, y_order: int,
                          fit_intercept: bool) -> tuple[int, int]:
    """``(observations, moment terms)`` of :class:`~momix.polymom.LinearRegression`: one
    observation :math:`x^\\alpha y^m` per :math:`|\\alpha| \\le` ``x_order``,
    :math:`1 \\le m \\le` ``y_order``, each with the
    :math:`\\binom{m + P}{m}` terms of :math:`(w \\cdot x + b + \\varepsilon)^m`."""
    n_x = comb(int(n_features) + int(x_order), int(x_order))
    n_params = int(n_features) + int(fit_intercept)
    return (n_x * int(y_order),
            n_x * sum(comb(m + n_params, m) for m in range(1, int(y_order) + 1)))
