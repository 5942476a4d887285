"""One-pass moment statistics of (projected) data: the data term without per-sample work.

For isotropic noise :math:`x = \\tilde x + \\varepsilon`, :math:`\\varepsilon \\sim N(0, sI)` in the
ambient space, :math:`\\varepsilon^\\top y \\sim N(0, s\\|y\\|^2)`, so

.. math::
    b_k = \\sum_n \\omega_n E[(x^\\top y_n)^k]
        = \\sum_j \\pi_j \\sum_{l \\le k/2} \\binom{k}{2l} (2l-1)!!\\, s^l\\,
          \\big\\langle E_j[\\tilde x^{\\otimes (k-2l)}],\\, T_{k-2l,\\,l} \\big\\rangle,
    \\qquad T_{a,l} = \\sum_n \\omega_n \\|y_n\\|^{2l}\\, \\tilde y_n^{\\otimes a},

with :math:`\\tilde y_n` the data in the fitting coordinates (the whole space, or an
orthonormal basis of a subspace holding the parameters) and :math:`\\|y_n\\|` the ambient
norm. The tensors :math:`T_{a,l}` are computed once in one pass; afterwards each objective
and gradient costs :math:`O(K L r^L)` whatever N is. Gradients follow from Stein's
identities :math:`\\nabla_\\mu E[T(x^a)] = a\\,E[T(x^{a-1},\\cdot)]` and
:math:`\\nabla_\\Sigma E[T(x^a)] = \\binom a2 E[T(x^{a-2},\\cdot,\\cdot)]`
(:mod:`._stein`: the data term and :math:`\\alpha_k` from these tensors).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations, combinations_with_replacement
from math import comb

import numpy as np

from ._gram import split_gram

__all__ = [
    "MomentStatistics",
    "moment_statistics",
    "statistics_gram",
    "statistics_from_gram",
    "moment_gram",
    "statistics_from_moment_gram",
    "unshift_statistics",
    "shifted_statistics",
    "statistics_size",
]


def statistics_size(dim: int, max_order: int) -> int:
    """Number of stored entries, :math:`\\sum_{a \\le L} r^a (\\lfloor (L-a)/2 \\rfloor + 1)`."""
    return sum(dim**a * ((max_order - a) // 2 + 1) for a in range(max_order + 1))


@dataclass(frozen=True)
class MomentStatistics:
    """:math:`T_{a,l}` for :math:`a + 2l \\le L`, keyed ``(a, l)``, each of shape ``(r,) * a``."""

    tensors: dict
    max_order: int


@dataclass(frozen=True)
class _Layout:
    r"""Columns of the monomial matrix :math:`A` behind :func:`moment_statistics`.

    ``blocks[(p, l)]`` is the column slice of :math:`q^l m_p(y)`, with :math:`m_p` the
    distinct monomials of degree p in colexicographic order (sorted by the last, largest
    variable), so that the monomials ending in variable j are :math:`y_j` times a *prefix*
    of :math:`m_{p-1}` (those ending in a variable :math:`\le j`): built by slices, no
    gathers. ``index[p]`` maps ``(r,)*p`` to a column of :math:`m_p`; ``split[(a, l)]``
    names the two blocks whose cross product holds :math:`T_{a,l}`.
    """

    r: int
    degree: int
    blocks: dict
    index: dict
    split: dict
    n_columns: int


def _colex(r: int, p: int) -> list:
    return sorted(combinations_with_replacement(range(r), p), key=lambda c: c[::-1])


@lru_cache(maxsize=16)
def _layout(r: int, max_order: int, norms: bool = True) -> _Layout:
    """Column layout; ``norms=False``: only the monomial blocks :math:`(p, 0)`, :math:`p \\le h`."""
    h = (max_order + 1) // 2
    index = {0: np.zeros((), dtype=np.intp)}
    for p in range(1, h + 1):
        at = {c: i for i, c in enumerate(_colex(r, p))}
        index[p] = np.array(
            [at[tuple(sorted(m))] for m in np.ndindex(*((r,) * p))], dtype=np.intp
        ).reshape((r,) * p)
    keys = [(p, 0) for p in range(h + 1)]
    if norms:
        keys += [(p, l) for l in range(1, h // 2 + 1) for p in range(h - 2 * l + 1)]
        if (0, (h + 1) // 2) not in keys:
            keys.append((0, (h + 1) // 2))  # q^l for even l of odd h (e.g. L = 6)
    blocks, start = {}, 0
    for p, l in keys:
        blocks[(p, l)] = slice(start, start + comb(r + p - 1, p))
        start += comb(r + p - 1, p)
    split = {}
    for a in range(max_order + 1):
        for l in range((max_order - a) // 2 + 1 if norms else 1):
            split[(a, l)] = next(
                (b1, b2) for b1 in keys for b2 in keys
                if b1[0] + b2[0] == a and b1[1] + b2[1] == l
            )  # fmt: skip
    return _Layout(r, h, blocks, index, split, start)


def _monomial_matrix(
    Y, sqnorm, root_w, layout: _Layout, shift=None, dtype=np.float64, unit: float = 1.0
):
    r""":math:`A^\top` of shape (n_columns, n): rows :math:`\sqrt{\omega_n}\,q_n^l m_p(y_n)`.

    Built transposed, in ``dtype``, so that every product runs over contiguous rows of
    length n; with ``shift`` the monomials are those of :math:`(y_n - c)/u` (``sqnorm`` is
    unused without norm columns; ``unit`` u a power of two).
    """
    r, Yt = layout.r, np.empty((Y.shape[1], Y.shape[0]), dtype=dtype)
    if shift is None:
        Yt[...] = Y.T
    else:
        np.subtract(Y.T, shift[:, None], out=Yt, casting="same_kind")
    if unit != 1.0:
        np.multiply(Yt, 1.0 / unit, out=Yt, casting="same_kind")
    At = np.empty((layout.n_columns, Y.shape[0]), dtype=dtype)
    At[0] = root_w
    for p in range(1, layout.degree + 1):
        prev, cur = layout.blocks[(p - 1, 0)].start, layout.blocks[(p, 0)].start
        for j in range(r):
            width = comb(j + p - 1, p - 1)  # monomials of degree p - 1 in y_0..y_j
            np.multiply(At[prev : prev + width], Yt[j], out=At[cur : cur + width])
            cur += width
    for (p, l), rows in layout.blocks.items():
        if l:
            np.multiply(At[layout.blocks[(p, 0)]], sqnorm**l, out=At[rows])
    return At


def statistics_gram(
    Y: np.ndarray,
    sqnorm: np.ndarray,
    omega: np.ndarray,
    max_order: int,
    chunk_size: int = 8192,
    dtype=np.float64,
) -> np.ndarray:
    r""":math:`G = A^\top A`, the sums behind :func:`moment_statistics` (additive over rows).

    Row blocks of ``chunk_size`` keep :math:`A` in cache; the sum of the Grams of two sets of
    rows is the Gram of their union, so chunks and dask blocks are reduced by addition. For
    :math:`L \in \{3, 4\}` (columns :math:`[1, y, m_2(y), q]`) the Gram comes from the three
    smaller products of :func:`._gram.split_gram` with the norm row (the same matrix to
    rounding; 1 161 instead of 1 596 multiply-adds per row at r = 9).
    With ``dtype=np.float32`` the products of a block are single precision and the blocks
    are summed in double (see :func:`moment_gram`).
    """
    layout = _layout(Y.shape[1], max_order)
    if layout.degree == 2:
        return split_gram(Y, omega, None, chunk_size, dtype, sqnorm)
    G = np.zeros((layout.n_columns, layout.n_columns))
    root = np.sqrt(omega)
    for start in range(0, Y.shape[0], chunk_size):
        stop = start + chunk_size
        rows = (Y[start:stop], sqnorm[start:stop], root[start:stop])
        At = _monomial_matrix(*rows, layout, dtype=dtype)
        G += At @ At.T
    return G


def moment_statistics(
    Y: np.ndarray, sqnorm: np.ndarray, omega: np.ndarray, max_order: int, chunk_size: int = 8192
) -> MomentStatistics:
    r"""One pass over the rows, in chunks:
    :math:`T_{a,l} = \sum_n \omega_n \|y_n\|^{2l}\tilde y_n^{\otimes a}`.

    With :math:`q_n = \|y_n\|^2` and :math:`m_p(y)` the distinct monomials of degree p,
    the columns of :math:`A` are :math:`\sqrt{\omega_n}q_n^lm_p(y_n)` for
    :math:`p + 2l \le h = \lceil L/2\rceil`; every :math:`T_{a,l}` is a block of the one
    symmetric product :math:`G = A^\top A` (a BLAS ``syrk``, half the products of a general
    matrix product), expanded to the full symmetric tensor at the end. For L = 4 and
    r fitting coordinates :math:`A` has :math:`m = 2 + r + \binom{r+1}{2}` columns; its
    syrk costs :math:`m(m + 1)` flops per row (4 556 at r = 10, against 7 899 for separate
    products per :math:`(a, l)`), the split products of :func:`._gram.split_gram` that
    :func:`statistics_gram` uses at L = 3, 4 3 296. Weights must be non-negative.
    """
    G = statistics_gram(Y, sqnorm, omega, max_order, chunk_size)
    return statistics_from_gram(G, Y.shape[1], max_order)


def statistics_from_gram(G: np.ndarray, dim: int, max_order: int) -> MomentStatistics:
    r"""Expand the blocks of :math:`G = A^\top A` into the tensors :math:`T_{a,l}`."""
    layout = _layout(dim, max_order)
    tensors = {}
    for (a, l), (b1, b2) in layout.split.items():
        block = G[layout.blocks[b1], layout.blocks[b2]]
        full = block[layout.index[b1[0]]][..., layout.index[b2[0]]]
        tensors[(a, l)] = float(full) if a == 0 else full.reshape((dim,) * a)
    return MomentStatistics(tensors=tensors, max_order=max_order)


def moment_gram(
    Y: np.ndarray,
    omega: np.ndarray,
    max_order: int,
    shift: np.ndarray,
    chunk_size: int = 4096,
    dtype=np.float64,
    unit: float = 1.0,
) -> np.ndarray:
    r"""Whole-space Gram :math:`G = A^\top A` of the monomials of the shifted rows.

    When the fitting coordinates are the whole space, :math:`\|y\|^2` is itself a sum of
    monomials and :math:`T_{a,l}` is a trace of the raw moment tensor of order
    :math:`a + 2l` (:func:`statistics_from_moment_gram`), so :math:`A` needs no norm columns:
    its columns are :math:`\sqrt{\omega_n}\,m_p(y_n - c)`, :math:`p \le \lceil L/2\rceil`
    (:math:`m = 1 + r + \binom{r+1}{2}` at L = 4, 66 at r = 10). The shift :math:`c` (any
    point near the data, the same for every chunk) keeps the products well scaled; the sums
    of chunks add. Blocks of ``chunk_size`` rows keep :math:`A` in the L2 cache. For
    :math:`L \in \{3, 4\}` (monomials of degree at most 2) the Gram comes from the three
    smaller products of :func:`._gram.split_gram` (1 581 instead of :math:`m(m+1)/2 = 2\,211`
    multiply-adds per row at r = 10; the same matrix to rounding; 0.126 against 0.159 us of
    CPU per row, one thread, in memory), otherwise from one syrk.

    ``dtype=np.float32``: :math:`A` and the product of each block in single precision (0.079
    against 0.126 us per row at r = 10; 0.090 with the full syrk), the blocks summed in
    double. The rounding of a block is relative :math:`\approx 2^{-24}` per
    product and averages over blocks: measured 4e-8 of the largest entry and 4e-9 median
    relative error per entry at N = 2e6, far below the sampling error of moments of
    order 4 (:math:`\gtrsim 10^{-4}` for :math:`N \le 10^8`).

    ``unit`` (a power of two) divides the shifted rows: the Gram of :math:`(y - c)/u`, whose
    products neither under- nor overflow for data of any accepted magnitude when u is
    near the spread of the data (:func:`._stream.first_pass`).
    """
    layout = _layout(Y.shape[1], max_order, norms=False)
    if layout.degree == 2:
        return split_gram(Y, omega, shift, chunk_size, dtype, unit=unit)
    G = np.zeros((layout.n_columns, layout.n_columns))
    root = np.sqrt(omega)
    for start in range(0, Y.shape[0], chunk_size):
        stop = start + chunk_size
        At = _monomial_matrix(Y[start:stop], None, root[start:stop], layout, shift, dtype, unit)
        G += At @ At.T
    return G


def statistics_from_moment_gram(
    G: np.ndarray, shift: np.ndarray, max_order: int, scale: float = 1.0
) -> MomentStatistics:
    r""":math:`T_{a,l}` of :math:`y = c + z/a` from the :func:`moment_gram` of :math:`z`.

    With :math:`M_k(z) = \sum_n\omega_n z_n^{\otimes k}` read off the blocks of ``G``
    (divided by :math:`a^k` for ``scale`` a, so that they are the moments of :math:`z/a`),

    .. math:: M_k(y)_{i_1\dots i_k} = \sum_{S \subseteq \{1..k\}}
              M_{|S|}(z)_{i_S}\prod_{t \notin S} c_{i_t},\qquad
              T_{a,l} = \operatorname{tr}^{\,l} M_{a+2l}(y),

    the trace taken over l pairs of axes (:math:`\|y\|^{2l} = (\sum_i y_i^2)^l`).
    """
    r = shift.shape[0]
    layout = _layout(r, max_order, norms=False)
    Mz = []
    for k in range(max_order + 1):
        b1, b2 = layout.split[(k, 0)]
        block = G[layout.blocks[b1], layout.blocks[b2]]
        M = block[layout.index[b1[0]]][..., layout.index[b2[0]]].reshape((r,) * k)
        Mz.append(M / scale**k if scale != 1.0 else M)
    tensors = {}
    for k in range(max_order + 1):
        My = np.zeros((r,) * k)
        for size in range(k + 1):
            for S in combinations(range(k), size):
                My = My + _place(Mz[size], S, shift, k)
        for l in range(k // 2 + 1):
            T = My
            for _ in range(l):
                T = np.trace(T, axis1=T.ndim - 2, axis2=T.ndim - 1)
            tensors[(k - 2 * l, l)] = float(T) if k == 2 * l else T
    return MomentStatistics(tensors=tensors, max_order=max_order)


def _place(base: np.ndarray, subset: tuple, shift: np.ndarray, order: int) -> np.ndarray:
    """``base`` on the axes ``subset`` of an order-``order`` tensor, ``shift`` on the others."""
    operands = [base, list(subset)]
    for t in range(order):
        if t not in subset:
            operands += [shift, [t]]
    return np.einsum(*operands, list(range(order)))


def unshift_statistics(shifted: MomentStatistics, shift: np.ndarray) -> MomentStatistics:
    r""":math:`T_{a,l}` of :math:`\tilde y = c + z` from the statistics of :math:`z`.

    ``shifted`` holds :math:`T'_{j,i} = \sum_n\omega_n q_n'^{\,i} z_n^{\otimes j}` with
    :math:`q' = \|x - Bc\|^2` (the ambient point :math:`Bc` lies in the fitting subspace,
    so :math:`q = q' + 2c^\top z + \|c\|^2`). Expanding
    :math:`(q' + 2c^\top z + \|c\|^2)^l (c + z)^{\otimes a}`,

    .. math:: T_{a,l} = \sum_{i \le l}\sum_{t \le l-i}\binom li\binom{l-i}t 2^t
              \|c\|^{2(l-i-t)} \sum_{S\subseteq\{1..a\}}
              T'_{|S|+t,\,i}[c^{\otimes t}]_{S} \otimes c^{\otimes(a-|S|)},

    every :math:`T'` needed has :math:`|S| + t + 2i \le a + 2l`.
    """
    L, c2, T = shifted.max_order, float(shift @ shift), shifted.tensors
    tensors = {}
    for a, l in T:
        total = np.zeros((shift.size,) * a)
        for i in range(l + 1):
            for t in range(l - i + 1):
                coef = comb(l, i) * comb(l - i, t) * 2**t * c2 ** (l - i - t)
                for size in range(a + 1):
                    base = np.asarray(T[(size + t, i)])
                    for _ in range(t):
                        base = base @ shift
                    for subset in combinations(range(a), size):
                        total = total + coef * _place(base, subset, shift, a)
        tensors[(a, l)] = float(total) if a == 0 else total
    return MomentStatistics(tensors=tensors, max_order=L)


def shifted_statistics(
    Y: np.ndarray,
    sqnorm: np.ndarray,
    omega: np.ndarray,
    max_order: int,
    shift: np.ndarray,
    dtype=np.float64,
) -> MomentStatistics:
    r""":math:`T_{a,l}` (:func:`moment_statistics`) from the monomials of :math:`\tilde y - c`.

    The norms become :math:`q' = q - 2c^\top\tilde y + \|c\|^2 = \|x - Bc\|^2`; the
    products (in ``dtype``) are then well scaled whatever the offset of the data, and
    :func:`unshift_statistics` restores :math:`T_{a,l}`. Unnormalised: sums over the rows.
    """
    Z = Y - shift
    qp = sqnorm - 2 * (Y @ shift) + float(shift @ shift)
    G = statistics_gram(Z, qp, omega, max_order, chunk_size=4096, dtype=dtype)
    return unshift_statistics(statistics_from_gram(G, Y.shape[1], max_order), shift)
