r"""The Gram of the monomials of degree at most 2 from three small products instead of one syrk.

:func:`._stats.moment_gram` needs, for the whole-space fit at :math:`L \le 4`, the sums
:math:`\sum_n \omega_n m(z_n)` of every monomial :math:`m` of degree at most 4 in the
shifted rows :math:`z_n = y_n - c \in \mathbb R^r`. They are the entries of the Gram
:math:`G = A^\top A` of the :math:`1 + r + \binom{r+1}2` monomials of degree at most 2
(:math:`\sqrt{\omega_n}` times each), but a full symmetric product computes each degree-4 sum
several times: :math:`y_ay_by_cy_d` is the product of three pairs of degree-2 columns.

Split the variables into :math:`U = (y_0, \dots, y_{u-1})` and :math:`V` (the other
:math:`v = r - u`) and order the columns as :math:`[1, U, V, UU, VV, UV]` (:math:`UU` the
products within U, :math:`UV` the :math:`uv` cross products). Every monomial of degree at
most 4 has a factorisation into two columns of one of

.. math::
    p = [1, U, V]^\top \mathbf 1, \qquad
    S = H^\top H,\quad H = [U, V, UU, VV], \qquad
    C = [UV]^\top [UU, VV]:

:math:`p` holds the monomials of degree at most 1, :math:`C` those with three variables in
one half and one in the other (:math:`u_au_bu_cv_d` and :math:`u_av_bv_cv_d`), and every
other one (two in each half, or all four in one, and all of degree 2 or 3) is a product of
two columns of :math:`H`. The block :math:`[UV]^\top[UV]` of the full Gram -- only monomials
:math:`u_au_bv_cv_d`, already in :math:`[UU]^\top[VV]` -- and the products of
:math:`[1, U, V]` with :math:`UV` are not computed. At :math:`r = 10`, :math:`u = v = 5`:
:math:`S` is a syrk of 40 columns (:math:`40 \cdot 41/2 = 820` multiply-adds per row) and
:math:`C` a product of :math:`25 \times 30` (750), with :math:`p` 1 581 against
:math:`66 \cdot 67/2 = 2\,211` for the syrk of all 66 columns. The shapes matter as much as
the counts for OpenBLAS's small-matrix kernels (one thread, 4096 rows: syrk of 40 columns
51 ns per row against 58 for 41; the cross product 40 ns as :math:`[UV][UU, VV]^\top`
against 55 ns transposed). :func:`split_gram` returns the same matrix :math:`G` in the column
order of :func:`._stats._layout` (each entry read off the product that holds its monomial),
so its users do not change; entries equal those of the full syrk to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["SplitPlan", "split_plan", "split_rows", "split_gram", "split_flops"]


@dataclass(frozen=True)
class SplitPlan:
    """Layout of :func:`split_gram` for ``r`` variables, the first ``u`` of them in U.

    Attributes
    ----------
    r, u : int
    norm : bool
        Whether ``B`` has the row :math:`q = \\|x\\|^2` (the subspace pass, :math:`T_{a,l}`
        with :math:`l \\ge 1`), placed after the coordinates.
    n_rows : int
        :math:`1 + r + \\binom{r+1}2` (+ 1 with ``norm``) rows of the monomial matrix ``B``.
    head : int
        Rows ``[1, head)`` of ``B`` are :math:`H = [U, V, (q,) UU, VV]`, rows
        ``[r + 1, head)`` the right factor :math:`[(q,) UU, VV]` of :math:`C`.
    cross : slice
        The rows :math:`UV`, ``slice(head, n_rows)``.
    gather : ndarray of shape (m, m)
        Flat positions in ``concatenate([p, S.ravel(), C.ravel()])`` of the Gram entries, in
        the column order of :func:`._stats._layout` (``1``, ``y``, colex degree-2 monomials,
        then ``q``), m = n_rows.
    """

    r: int
    u: int
    norm: bool
    n_rows: int
    head: int
    cross: slice
    gather: np.ndarray


def _row_monomials(r: int, u: int, norm: bool) -> list:
    """Rows :math:`[1, U, V, (q,) UU, VV, UV]` as (sorted variable tuple, power of q)."""
    rows = [((), 0)] + [((j,), 0) for j in range(r)] + ([((), 1)] if norm else [])
    for lo, hi in ((0, u), (u, r)):
        rows += [((a, j), 0) for j in range(lo, hi) for a in range(lo, j + 1)]
    return rows + [((a, b), 0) for a in range(u) for b in range(u, r)]


def _key(a: tuple, b: tuple) -> tuple:
    return tuple(sorted(a[0] + b[0])), a[1] + b[1]


@lru_cache(maxsize=16)
def split_plan(r: int, norm: bool = False) -> SplitPlan:
    """The plan for ``r`` variables, :math:`u = \\lceil r/2 \\rceil`; raises if a sum is missing."""
    u = (r + 1) // 2
    rows = _row_monomials(r, u, norm)
    head = 1 + r + norm + u * (u + 1) // 2 + (r - u) * (r - u + 1) // 2
    products = (
        (range(r + 1 + norm), range(1)),  # p
        (range(1, head), range(1, head)),  # S
        (range(head, len(rows)), range(r + 1, head)),  # C
    )
    position: dict = {}
    offset = 0
    for left, right in products:
        for i, a in enumerate(left):
            for j, b in enumerate(right):
                position.setdefault(_key(rows[a], rows[b]), offset + i * len(right) + j)
        offset += len(left) * len(right)
    target = [((), 0)] + [((j,), 0) for j in range(r)]
    target += [((a, j), 0) for j in range(r) for a in range(j + 1)] + ([((), 1)] if norm else [])
    gather = np.array([[position[_key(a, b)] for b in target] for a in target])
    return SplitPlan(r, u, norm, len(rows), head, slice(head, len(rows)), gather)


def split_flops(r: int, norm: bool = False) -> int:
    """Multiply-adds per row: :math:`(r + 1 + \\nu) + h(h+1)/2 + uv(h - r)`, h = head - 1."""
    plan = split_plan(r, norm)
    h, u = plan.head - 1, plan.u
    return (r + 1 + norm) + h * (h + 1) // 2 + u * (r - u) * (h - r)


def split_rows(
    Y, root, shift, plan: SplitPlan, dtype=np.float64, sqnorm=None, unit: float = 1.0
) -> np.ndarray:
    r"""The monomial matrix ``B`` of shape (n_rows, n): :math:`\sqrt{\omega_n}\,m((y_n - c)/u)`.

    Transposed (one contiguous row per monomial) and in ``dtype``. The degree-1 rows carry
    the factor :math:`\sqrt{\omega_n}` and every degree-2 row is one of them times an
    unweighted coordinate, so each row carries it exactly once. ``root=None``: unit
    weights, the degree-1 rows are the coordinates themselves (no weighted copy).
    ``shift=None``: no shift; ``sqnorm`` (with ``plan.norm``): the values of the row q.
    ``unit`` divides the shifted rows (a power of two: exact, so the products are those of
    the unscaled rows times a power of two whenever nothing under- or overflows).
    """
    r, u, q = plan.r, plan.u, int(plan.norm)
    B = np.empty((plan.n_rows, Y.shape[0]), dtype=dtype)
    Z = B[1 : r + 1] if root is None else np.empty((r, Y.shape[0]), dtype=dtype)
    if shift is None:
        np.copyto(Z, Y.T, casting="same_kind")
    else:
        np.subtract(Y.T, shift[:, None], out=Z, casting="same_kind")
    if unit != 1.0:
        np.multiply(Z, 1.0 / unit, out=Z, casting="same_kind")
    B[0] = 1.0 if root is None else root
    if root is not None:
        np.multiply(Z, B[0], out=B[1 : r + 1])
    if q:
        B[r + 1] = sqnorm if root is None else sqnorm * root
    at = r + 1 + q
    for lo, hi in ((0, u), (u, r)):
        for j in range(lo, hi):  # colex within a half: (a, j) for lo <= a <= j
            np.multiply(B[1 + lo : 2 + j], Z[j], out=B[at : at + j - lo + 1])
            at += j - lo + 1
    np.multiply(B[1 : 1 + u, None], Z[None, u:], out=B[plan.cross].reshape(u, r - u, Y.shape[0]))
    return B


def split_gram(
    Y: np.ndarray,
    omega: np.ndarray,
    shift: np.ndarray | None,
    chunk_size: int = 4096,
    dtype=np.float64,
    sqnorm: np.ndarray | None = None,
    unit: float = 1.0,
) -> np.ndarray:
    r""":math:`G = A^\top A` of the monomials of degree at most 2 of :math:`(y_n - c)/u`.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, r)
    omega : ndarray of shape (n_samples,)
        Non-negative weights (all ones: the unweighted rows of :func:`split_rows`).
    shift : ndarray of shape (r,) or None
        :math:`c` (None: 0).
    chunk_size : int
        Rows per block of ``B`` (kept in cache).
    dtype : {np.float64, np.float32}
        Precision of ``B`` and of the products of a block; the blocks are summed in double.
    sqnorm : ndarray of shape (n_samples,), optional
        Norms :math:`q_n`: one more column :math:`\sqrt{\omega_n}q_n` (the layout with
        norms of :func:`._stats.statistics_gram`, degree 2).
    unit : float
        :math:`u`, a power of two (see :func:`split_rows`).

    Returns
    -------
    G : ndarray of shape (m, m), :math:`m = 1 + r + \binom{r+1}2` (+ 1 with ``sqnorm``)
        In the column order of :func:`._stats._layout` (degree 2).
    """
    plan = split_plan(Y.shape[1], sqnorm is not None)
    r, head, q = plan.r, plan.head, int(plan.norm)
    p, S = np.zeros(r + 1 + q), np.zeros((head - 1, head - 1))
    C = np.zeros((plan.n_rows - head, head - r - 1))
    root = None if np.all(omega == 1.0) else np.sqrt(omega)
    for start in range(0, Y.shape[0], chunk_size):
        stop = start + chunk_size
        rows = (Y[start:stop], None if root is None else root[start:stop], shift, plan, dtype)
        B = split_rows(*rows, None if sqnorm is None else sqnorm[start:stop], unit)
        H = B[1:head]
        p += B[: r + 1 + q] @ B[0]
        S += H @ H.T
        C += B[plan.cross] @ B[r + 1 : head].T
    return np.concatenate([p, S.ravel(), C.ravel()])[plan.gather]
