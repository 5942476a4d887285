"""Shared checks and random draws for the synthetic-data samplers."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

__all__ = [
    "check_count",
    "check_range",
    "check_simplex",
    "draw_labels",
    "draw_uniform",
    "random_orthogonal",
    "random_unit_vectors",
]


def check_count(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_range(spec, name: str, *, positive: bool = True) -> tuple[float, float]:
    """Turn a number ``a`` or a pair ``(lo, hi)`` into the interval ``(lo, hi)``.

    A single number means the degenerate interval ``(a, a)``.
    """
    if isinstance(spec, Real) and not isinstance(spec, bool):
        lo = hi = float(spec)
    else:
        try:
            lo, hi = (float(v) for v in spec)
        except (TypeError, ValueError):
            msg = f"{name} must be a number or a pair (low, high), got {spec!r}"
            raise ValueError(msg) from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must be finite with low <= high, got {spec!r}")
    if positive and lo <= 0:
        raise ValueError(f"{name} must be positive, got {spec!r}")
    return lo, hi


def check_simplex(weights, n_components: int, name: str = "weights") -> np.ndarray:
    """Validate user mixing weights: shape (K,), positive, summing to one (to 1e-8)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_components,):
        raise ValueError(f"{name} must have shape ({n_components},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"{name} must be finite and positive, got {w}")
    if abs(w.sum() - 1.0) > 1e-8:
        raise ValueError(f"{name} must sum to 1, got sum {w.sum():.10g}")
    return w / w.sum()


def draw_uniform(rng: np.random.Generator, interval: tuple[float, float], size) -> np.ndarray:
    """Draws from U(lo, hi); a degenerate interval returns the constant without using ``rng``."""
    lo, hi = interval
    if lo == hi:
        return np.full(size, lo)
    return rng.uniform(lo, hi, size=size)


def draw_labels(rng: np.random.Generator, weights: np.ndarray, n_samples: int) -> np.ndarray:
    """Latent component labels z_i ~ Categorical(weights), i.i.d."""
    return rng.choice(len(weights), size=n_samples, p=weights).astype(np.intp)


def random_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random orthogonal ``n x n`` matrix ``U V^T`` from the SVD of a Gaussian matrix.

    This is the construction of the DGMM reference code (dgmm.md §1); its law is the Haar
    measure on O(n) because the Gaussian matrix is orthogonally invariant on both sides.
    """
    u, _, vt = np.linalg.svd(rng.standard_normal((n, n)))
    return u @ vt


def random_unit_vectors(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    """``count`` i.i.d. vectors uniform on the unit sphere of R^dim, shape (count, dim)."""
    g = rng.standard_normal((count, dim))
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    while np.any(norms == 0):  # probability zero, kept for exactness
        bad = norms[:, 0] == 0
        g[bad] = rng.standard_normal((int(bad.sum()), dim))
        norms = np.linalg.norm(g, axis=1, keepdims=True)
    return g / norms
