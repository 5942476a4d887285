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
    n_rows : int
        :math:`1 + r + \\binom{r+1}2` rows of the monomial matrix ``B``.
    head : int
        Rows ``[1, head)`` of ``B`` are :math:`H = [U, V, UU, VV]`, rows ``[r + 1, head)``
        the squares :math:`[UU, VV]`.
    cross : slice
        The rows :math:`UV`, ``slice(head, n_rows)``.
    gather : ndarray of shape (n_rows, n_rows)
        Flat positions in ``concatenate([p, S.ravel(), C.ravel()])`` of the Gram entries, in
        the column order of :func:`._stats._layout` (``1``, ``y``, colex degree-2 monomials).
    """

    r: int
    u: int
    n_rows: int
    head: int
    cross: slice
    gather: np.ndarray


def _row_monomials(r: int, u: int) -> list:
    """Monomials (sorted index tuples) of the rows :math:`[1, U, V, UU, VV, UV]`."""
    rows = [()] + [(j,) for j in range(r)]
    for lo, hi in ((0, u), (u, r)):
        rows += [(a, j) for j in range(lo, hi) for a in range(lo, j + 1)]
    return rows + [(a, b) for a in range(u) for b in range(u, r)]


@lru_cache(maxsize=16)
def split_plan(r: int) -> SplitPlan:
    """The plan for ``r`` variables, :math:`u = \\lceil r/2 \\rceil`; raises if a sum is missing."""
    u = (r + 1) // 2
    rows = _row_monomials(r, u)
    head = 1 + r + u * (u + 1) // 2 + (r - u) * (r - u + 1) // 2
    products = (
        (range(r + 1), range(1)),  # p
        (range(1, head), range(1, head)),  # S
        (range(head, len(rows)), range(r + 1, head)),  # C
    )
    position: dict = {}
    offset = 0
    for left, right in products:
        for i, a in enumerate(left):
            for j, b in enumerate(right):
                position.setdefault(tuple(sorted(rows[a] + rows[b])), offset + i * len(right) + j)
        offset += len(left) * len(right)
    colex = [()] + [(j,) for j in range(r)] + [(a, j) for j in range(r) for a in range(j + 1)]
    gather = np.array([[position[tuple(sorted(a + b))] for b in colex] for a in colex])
    return SplitPlan(r, u, len(rows), head, slice(head, len(rows)), gather)


def split_flops(r: int) -> int:
    """Multiply-adds per row of the products, :math:`(r+1) + h(h+1)/2 + uv(h - r)`, h = head - 1."""
    plan = split_plan(r)
    h, u = plan.head - 1, plan.u
    return (r + 1) + h * (h + 1) // 2 + u * (r - u) * (h - r)


def split_rows(Y, root, shift, plan: SplitPlan, dtype=np.float64) -> np.ndarray:
    r"""The monomial matrix ``B`` of shape (n_rows, n): :math:`\sqrt{\omega_n}\,m(y_n - c)`.

    Transposed (one contiguous row per monomial) and in ``dtype``. The degree-1 rows carry
    the factor :math:`\sqrt{\omega_n}` and every degree-2 row is one of them times an
    unweighted coordinate, so each row carries it exactly once. ``root=None``: unit
    weights, the degree-1 rows are the coordinates themselves (no weighted copy).
    """
    r, u = plan.r, plan.u
    B = np.empty((plan.n_rows, Y.shape[0]), dtype=dtype)
    Z = B[1 : r + 1] if root is None else np.empty((r, Y.shape[0]), dtype=dtype)
    np.subtract(Y.T, shift[:, None], out=Z, casting="same_kind")
    B[0] = 1.0 if root is None else root
    if root is not None:
        np.multiply(Z, B[0], out=B[1 : r + 1])
    at = r + 1
    for lo, hi in ((0, u), (u, r)):
        for j in range(lo, hi):  # colex within a half: (a, j) for lo <= a <= j
            np.multiply(B[1 + lo : 2 + j], Z[j], out=B[at : at + j - lo + 1])
            at += j - lo + 1
    np.multiply(B[1 : 1 + u, None], Z[None, u:], out=B[plan.cross].reshape(u, r - u, Y.shape[0]))
    return B


def split_gram(
    Y: np.ndarray, omega: np.ndarray, shift: np.ndarray, chunk_size: int = 4096, dtype=np.float64
) -> np.ndarray:
    r""":math:`G = A^\top A` of the monomials of degree at most 2 of :math:`y_n - c`.

    Parameters
    ----------
    Y : ndarray of shape (n_samples, r)
    omega : ndarray of shape (n_samples,)
        Non-negative weights (all ones: the unweighted rows of :func:`split_rows`).
    shift : ndarray of shape (r,)
    chunk_size : int
        Rows per block of ``B`` (kept in cache).
    dtype : {np.float64, np.float32}
        Precision of ``B`` and of the products of a block; the blocks are summed in double.

    Returns
    -------
    G : ndarray of shape (m, m), :math:`m = 1 + r + \binom{r+1}2`
        In the column order of :func:`._stats._layout` (``norms=False``, degree 2).
    """
    plan = split_plan(Y.shape[1])
    r, head = plan.r, plan.head
    p, S = np.zeros(r + 1), np.zeros((head - 1, head - 1))
    C = np.zeros((plan.n_rows - head, head - r - 1))
    root = None if np.all(omega == 1.0) else np.sqrt(omega)
    for start in range(0, Y.shape[0], chunk_size):
        stop = start + chunk_size
        B = split_rows(
            Y[start:stop], None if root is None else root[start:stop], shift, plan, dtype
        )
        H = B[1:head]
        p += B[: r + 1] @ B[0]
        S += H @ H.T
        C += B[plan.cross] @ B[r + 1 : head].T
    return np.concatenate([p, S.ravel(), C.ravel()])[plan.gather]
