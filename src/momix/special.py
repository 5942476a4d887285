r"""Special functions behind momix's moment formulas.

Every function is a pure, vectorised kernel over leading axes, computed in float64 by a
three-term or convolution recursion (no factorial blow-up, no symbolic algebra).

Gaussian raw moments
    For :math:`X \sim \mathcal N(\mu, \sigma^2)` the raw moments :math:`m_k = E[X^k]`
    satisfy (Stein's identity :math:`E[X f(X)] = \mu E[f] + \sigma^2 E[f']` with
    :math:`f = x^{k-1}`)

    .. math::

        m_0 = 1, \quad m_1 = \mu, \quad m_k = \mu\, m_{k-1} + (k-1)\,\sigma^2 m_{k-2}.

    Equivalently :math:`m_k = \sum_j \binom{k}{2j} (2j-1)!!\, \mu^{k-2j} \sigma^{2j}`, the
    absolute values of the coefficients of :math:`He_k`. All terms of the recursion share
    the sign of :math:`\mu^k` when :math:`\sigma^2 \ge 0`, so it has no cancellation.

Probabilists' Hermite polynomials
    .. math::

        He_0 = 1, \quad He_1 = x, \quad He_{n+1}(x) = x\, He_n(x) - n\, He_{n-1}(x),

    orthogonal under the standard normal weight, with :math:`E[He_r(U)] = \mu^r` for
    :math:`U \sim \mathcal N(\mu, 1)` (the identity the softmax warm start uses).

Complete Bell polynomials
    .. math::

        B_0 = 1, \quad B_{n+1}(x_1, \dots, x_{n+1}) = \sum_{i=0}^{n} \binom{n}{i}
        B_{n-i}(x_1, \dots, x_{n-i})\, x_{i+1},

    with the partial derivatives :math:`\partial B_k / \partial x_l = \binom{k}{l} B_{k-l}`.

Moments and cumulants
    Raw moments are the complete Bell polynomials of the cumulants,
    :math:`m_n = B_n(\kappa_1, \dots, \kappa_n)`; inverting the Bell recursion gives

    .. math::

        \kappa_n = m_n - \sum_{i=1}^{n-1} \binom{n-1}{i-1} \kappa_i\, m_{n-i}.

Arrays of moments or cumulants are laid out with index 0 holding order 1 (``m[..., 0] =
E[X]``); outputs that include order 0 (``gaussian_raw_moments``, ``complete_bell``,
``hermite_e_all``) say so.

The recursions use only ``+``, ``*`` and stacking, so ``complete_bell``,
``complete_bell_jacobian``, ``cumulants_to_moments``, ``moments_to_cumulants``,
``gaussian_raw_moments``, ``hermite_e`` and ``hermite_e_all`` also accept
:class:`torch.Tensor` inputs (dispatch on the input type; torch is never imported here)
and return tensors that carry gradients. Any other input is converted to float64 numpy.

References
----------
.. [1] Comtet, L. (1974). *Advanced Combinatorics*, §3.3 (complete Bell polynomials).
.. [2] Abramowitz, M. and Stegun, I. (1964). *Handbook of Mathematical Functions*, 22.7
   (Hermite recurrences).
.. [3] Smith, P. J. (1995). A recursive formulation of the old problem of obtaining moments
   from cumulants and vice versa. *The American Statistician* 49(2), 217-218.
"""

from __future__ import annotations

from math import comb
from numbers import Integral

import numpy as np

__all__ = [
    "gaussian_raw_moments",
    "hermite_e",
    "hermite_e_all",
    "hermite_e_coefficients",
    "complete_bell",
    "complete_bell_jacobian",
    "moments_to_cumulants",
    "cumulants_to_moments",
]


# ---------------------------------------------------------------------------
# array dispatch (numpy by default, torch tensors passed through untouched)
# ---------------------------------------------------------------------------


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _as_array(x):
    """Return ``x`` unchanged if it is a torch tensor, else as a float64 numpy array."""
    if _is_torch(x):
        return x
    return np.asarray(x, dtype=np.float64)


def _stack(items: list, like, axis: int = -1):
    """Stack same-shaped arrays along a new axis, in the namespace of ``like``."""
    if _is_torch(like):
        import torch  # only reached when the caller already passed a torch tensor

        return torch.stack(items, dim=axis)
    return np.stack(items, axis=axis)


def _ones_like(x):
    return x * 0 + 1


def _check_order(value, name: str) -> int:
    if not isinstance(value, (Integral, np.integer)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _check_sequence(x, name: str):
    x = _as_array(x)
    if x.ndim < 1:
        raise ValueError(f"{name} must have at least one axis (..., n); got a scalar")
    return x


# ---------------------------------------------------------------------------
# Gaussian raw moments
# ---------------------------------------------------------------------------


def gaussian_raw_moments(mean, var, max_order: int):
    r"""Raw moments :math:`E[X^k]`, k = 0..``max_order``, of :math:`X \sim N(\mu, \sigma^2)`.

    Parameters
    ----------
    mean : array-like
        Means :math:`\mu`; broadcast against ``var``.
    var : array-like
        Variances :math:`\sigma^2`. The recursion is the polynomial
        :math:`h_k(\mu, \sigma^2)`; it equals :math:`E[X^k]` for ``var >= 0`` and is returned
        as that polynomial for negative ``var`` (useful as a formal moment map).
    max_order : int
        Highest order, ``>= 0``.

    Returns
    -------
    moments : ndarray of shape (*broadcast(mean, var).shape, max_order + 1)
        ``moments[..., k]`` is :math:`m_k`; ``moments[..., 0] == 1``.

    Notes
    -----
    .. math:: m_k = \mu\, m_{k-1} + (k-1)\,\sigma^2 m_{k-2}, \quad m_0 = 1,\ m_1 = \mu.

    Examples
    --------
    >>> gaussian_raw_moments(1.0, 2.0, 4)
    array([ 1.,  1.,  3.,  7., 25.])
    """
    max_order = _check_order(max_order, "max_order")
    mean, var = _as_array(mean), _as_array(var)
    if not _is_torch(mean) and not _is_torch(var):
        mean, var = np.broadcast_arrays(mean, var)
    else:
        mean, var = mean + 0 * var, var + 0 * mean
    out = [_ones_like(mean)]
    if max_order >= 1:
        out.append(mean * 1)
    for k in range(2, max_order + 1):
        out.append(mean * out[k - 1] + (k - 1) * var * out[k - 2])
    return _stack(out, mean)


# ---------------------------------------------------------------------------
# Probabilists' Hermite polynomials
# ---------------------------------------------------------------------------


def hermite_e_all(max_n: int, x):
    r"""Values :math:`He_0(x), \dots, He_{n}(x)` of the probabilists' Hermite polynomials.

    Parameters
    ----------
    max_n : int
        Highest degree :math:`n \ge 0`.
    x : array-like
        Points, any shape.

    Returns
    -------
    values : ndarray of shape (*x.shape, max_n + 1)

    Notes
    -----
    .. math:: He_{n+1}(x) = x\, He_n(x) - n\, He_{n-1}(x),\quad He_0 = 1,\ He_1 = x.

    Examples
    --------
    >>> hermite_e_all(3, 2.0)
    array([1., 2., 3., 2.])
    """
    max_n = _check_order(max_n, "max_n")
    x = _as_array(x)
    out = [_ones_like(x)]
    if max_n >= 1:
        out.append(x * 1)
    for n in range(1, max_n):
        out.append(x * out[n] - n * out[n - 1])
    return _stack(out, x)


def hermite_e(n: int, x):
    r"""Value of the probabilists' Hermite polynomial :math:`He_n(x)`.

    Parameters
    ----------
    n : int
        Degree, ``>= 0``.
    x : array-like
        Points, any shape.

    Returns
    -------
    values : ndarray of the shape of ``x``

    See Also
    --------
    hermite_e_all : all degrees up to ``n`` at once.

    Examples
    --------
    >>> float(hermite_e(4, 1.0))  # x^4 - 6 x^2 + 3
    -2.0
    """
    n = _check_order(n, "n")
    x = _as_array(x)
    prev, cur = _ones_like(x), x * 1
    if n == 0:
        return prev
    for k in range(1, n):
        prev, cur = cur, x * cur - k * prev
    return cur


def hermite_e_coefficients(n: int) -> np.ndarray:
    r"""Coefficients of :math:`He_n` in increasing powers of :math:`x`.

    Computed exactly in Python integers by :math:`c^{(n+1)}_j = c^{(n)}_{j-1} - n\,
    c^{(n-1)}_j`, then converted to float64 (exact while the coefficients stay below
    :math:`2^{53}`, i.e. up to about :math:`n = 36`).

    Parameters
    ----------
    n : int
        Degree, ``>= 0``.

    Returns
    -------
    coef : ndarray of shape (n + 1,)
        ``coef[j]`` multiplies :math:`x^j` (the layout of ``numpy.polynomial``).
        ``abs(coef)`` are the coefficients of the Gaussian moment polynomial
        :math:`E[X^n] = \sum_j |c_j| \mu^j (\sigma^2)^{(n-j)/2}`.

    Examples
    --------
    >>> hermite_e_coefficients(4)
    array([ 3.,  0., -6.,  0.,  1.])
    """
    n = _check_order(n, "n")
    prev, cur = [1], [0, 1]
    if n == 0:
        return np.array(prev, dtype=np.float64)
    for k in range(1, n):
        nxt = [0] + cur
        for j, c in enumerate(prev):
            nxt[j] -= k * c
        prev, cur = cur, nxt
    return np.array(cur, dtype=np.float64)


# ---------------------------------------------------------------------------
# Complete Bell polynomials and the moment <-> cumulant maps
# ---------------------------------------------------------------------------


def _bell_list(x) -> list:
    """B_0..B_n as a list of arrays of shape ``x.shape[:-1]``."""
    n = x.shape[-1]
    cols = [x[..., i] for i in range(n)]
    out = [_ones_like(x.sum(-1))]
    for m in range(n):
        acc = out[m] * cols[0]
        for i in range(1, m + 1):
            acc = acc + float(comb(m, i)) * out[m - i] * cols[i]
        out.append(acc)
    return out


def complete_bell(x):
    r"""Complete Bell polynomials :math:`B_0, \dots, B_n` of :math:`(x_1, \dots, x_n)`.

    Parameters
    ----------
    x : array-like of shape (..., n)
        ``x[..., i]`` is :math:`x_{i+1}`. Leading axes are batch axes.

    Returns
    -------
    bell : ndarray of shape (..., n + 1)
        ``bell[..., k]`` is :math:`B_k(x_1, \dots, x_k)`; ``bell[..., 0] == 1``.

    Notes
    -----
    .. math::

        B_{m+1} = \sum_{i=0}^{m} \binom{m}{i} B_{m-i}\, x_{i+1}.

    :math:`B_n` of the cumulants is the n-th raw moment, so this is also the
    cumulant-to-moment map (with order 0 included).

    Examples
    --------
    >>> complete_bell([1.0, 1.0, 1.0, 1.0])  # Bell numbers
    array([ 1.,  1.,  2.,  5., 15.])
    """
    x = _check_sequence(x, "x")
    return _stack(_bell_list(x), x)


def complete_bell_jacobian(x):
    r"""Partial derivatives :math:`\partial B_k / \partial x_l` of the complete Bell polynomials.

    Parameters
    ----------
    x : array-like of shape (..., n)

    Returns
    -------
    jac : ndarray of shape (..., n + 1, n)
        ``jac[..., k, l - 1]`` is :math:`\partial B_k / \partial x_l`.

    Notes
    -----
    .. math:: \frac{\partial B_k}{\partial x_l} = \binom{k}{l} B_{k-l}
        \quad (l \le k), \qquad 0 \quad (l > k).
    """
    x = _check_sequence(x, "x")
    n = x.shape[-1]
    bell = _bell_list(x)
    zero = bell[0] * 0
    if n == 0:
        return (x.sum(-1) * 0)[..., None, None][..., :0]
    rows = [
        _stack([float(comb(k, l)) * bell[k - l] if l <= k else zero for l in range(1, n + 1)], x)
        for k in range(n + 1)
    ]
    return _stack(rows, x, axis=-2)


def cumulants_to_moments(kappa):
    r"""Raw moments :math:`m_1, \dots, m_n` from cumulants :math:`\kappa_1, \dots, \kappa_n`.

    Parameters
    ----------
    kappa : array-like of shape (..., n)
        ``kappa[..., i]`` is :math:`\kappa_{i+1}`.

    Returns
    -------
    moments : ndarray of shape (..., n)
        ``moments[..., i]`` is :math:`m_{i+1} = B_{i+1}(\kappa_1, \dots, \kappa_{i+1})`.

    Examples
    --------
    >>> cumulants_to_moments([1.0, 2.0, 0.0, 0.0])  # N(1, 2)
    array([ 1.,  3.,  7., 25.])
    """
    return complete_bell(kappa)[..., 1:]


def moments_to_cumulants(moments):
    r"""Cumulants :math:`\kappa_1, \dots, \kappa_n` from raw moments :math:`m_1, \dots, m_n`.

    Parameters
    ----------
    moments : array-like of shape (..., n)
        ``moments[..., i]`` is :math:`m_{i+1} = E[X^{i+1}]`.

    Returns
    -------
    cumulants : ndarray of shape (..., n)

    Notes
    -----
    Inverts the Bell recursion :math:`m_n = \sum_{i=1}^{n} \binom{n-1}{i-1} \kappa_i m_{n-i}`:

    .. math:: \kappa_n = m_n - \sum_{i=1}^{n-1} \binom{n-1}{i-1} \kappa_i\, m_{n-i},
        \quad m_0 = 1.

    Raw moments of data far from the origin lose the low cumulants to cancellation (as
    :math:`E[X^2] - E[X]^2` does); pass moments about a centre close to the mean when the
    mean is large compared with the spread: cumulants of order :math:`\ge 2` are
    shift-invariant, and :math:`\kappa_1` shifts by the centre.

    Examples
    --------
    >>> moments_to_cumulants([1.0, 3.0, 7.0, 25.0])
    array([1., 2., 0., 0.])
    """
    m = _check_sequence(moments, "moments")
    n = m.shape[-1]
    cols = [m[..., i] for i in range(n)]
    kappa: list = []
    for j in range(n):  # kappa_{j+1}
        acc = cols[j] * 1
        for i in range(j):  # kappa_{i+1} * m_{j-i}
            acc = acc - float(comb(j, i)) * kappa[i] * cols[j - i - 1]
        kappa.append(acc)
    if n == 0:
        return m * 1
    return _stack(kappa, m)
