"""Observed moments as linear equations on the moments of the mixing measure.

For data, each observation function and auxiliary data moment is averaged with sample
weights (powers of the columns are built once by repeated products); for user-given moments
the mapping is checked against the model's keys. Auxiliary moments and known constants are
then substituted into the coefficients :math:`a_{n\\alpha}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ._model import CompiledModel, ComponentModel, _aux_vector, _eval_aux_poly

__all__ = ["MomentSystem", "empirical_system", "streaming_system", "mapping_system"]



@dataclass(frozen=True)
class MomentSystem:
    """The linear moment equations :math:`\\sum_\\alpha a_{n\\alpha} y_\\alpha = b_n`.

    Attributes
    ----------
    terms : tuple of dict
        Per equation, ``{param exponent: a_{n,alpha}}`` (auxiliary moments substituted).
    b : ndarray of shape (n_observations,)
        Observed moments.
    std : ndarray of shape (n_observations,) or None
        Standard error of each observed moment (from data), used by moment weighting.
    covariance : ndarray of shape (n_observations, n_observations) or None
        Estimated covariance of the observed moments (sample covariance of the observation
        functions over the effective sample size; ``std`` is the root of its diagonal),
        used by ``moment_weighting="covariance"``.
    n_eff : float or None
        Effective sample size :math:`(\\sum w)^2/\\sum w^2` of the data (``None`` for given
        moments); a model-implied covariance of one observation is divided by it.
    """

    terms: tuple[dict, ...]
    b: np.ndarray
    std: np.ndarray | None
    covariance: np.ndarray | None = None
    n_eff: float | None = None


def _power_table(Z: np.ndarray, polys) -> list[list[np.ndarray]]:
    """``table[j][a] = Z[:, j] ** a`` by repeated products, up to the largest exponent used."""
    top = np.zeros(Z.shape[1], int)
    for poly in polys:
        if not callable(poly):
            for e in poly:
                top = np.maximum(top, e)
    table = []
    for j in range(Z.shape[1]):
        col = [np.ones(Z.shape[0])]
        for _ in range(int(top[j])):
            col.append(col[-1] * Z[:, j])
        table.append(col)
    return table


def _data_values(poly, Z: np.ndarray, table) -> np.ndarray:
    if callable(poly):
        return np.broadcast_to(np.asarray(poly(*Z.T), dtype=float), (Z.shape[0],))
    out = np.zeros(Z.shape[0])
    for e, c in poly.items():
        term = np.full(Z.shape[0], c)
        for j, a in enumerate(e):
            if a:
                term *= table[j][a]
        out += term
    return out


#: entries of the (rows x observations) value matrix built at once; larger data are averaged
#: in row chunks of this many entries (128 MiB), so memory stays near the data's size
_CHUNK_ENTRIES = 2**24


def empirical_system(model: ComponentModel, Z: np.ndarray,
                     sample_weight: np.ndarray) -> MomentSystem:
    """Weighted empirical moments of a data matrix ``Z`` (columns = data symbols).

    The observation functions are evaluated on all rows at once while the value matrix has
    at most ``2**24`` entries, else in row chunks merged exactly by :func:`streaming_system`
    (a million rows of 125 observations would otherwise take 1 GB).
    """
    c = model.compiled()
    n_values = len(c.data_polys)
    if Z.shape[0] * n_values > _CHUNK_ENTRIES:
        step = max(1, _CHUNK_ENTRIES // n_values)
        return streaming_system(model, ((Z[i:i + step], sample_weight[i:i + step])
                                        for i in range(0, Z.shape[0], step)))
    w = sample_weight / sample_weight.sum()
    n_eff = sample_weight.sum() ** 2 / np.sum(sample_weight**2)
    table = _power_table(Z, c.data_polys)
    V = np.column_stack([_data_values(poly, Z, table) for poly in c.data_polys])
    means = np.sum(V * w[:, None], axis=0)  # elementwise: no multi-threaded BLAS for a mean
    n_obs = len(c.obs_keys)
    centred = V[:, :n_obs] - means[:n_obs]
    cov = (centred * w[:, None]).T @ centred
    aux = np.concatenate([means[n_obs:], model.constant_values])
    return _with_covariance(_substitute(c, np.array(means[:n_obs]), aux), cov, n_eff)


def _with_covariance(system: MomentSystem, cov: np.ndarray, n_eff: float) -> MomentSystem:
    """``system`` with the covariance ``cov / n_eff`` of its observed moments (and their
    standard errors); ``cov`` is the weighted covariance of one observation."""
    cov = (cov + cov.T) / (2 * n_eff)
    std = np.sqrt(np.maximum(np.diag(cov), 0.0))
    return MomentSystem(system.terms, system.b, std, cov, float(n_eff))


def streaming_system(model: ComponentModel, chunks: Iterable) -> MomentSystem:
    r""":func:`empirical_system` accumulated in one pass over ``(Z_chunk, w_chunk)`` pairs.

    The observation functions are evaluated per chunk and their weighted means and central
    cross-product matrices merged exactly (Chan et al.),
    :math:`\bar v \leftarrow \bar v + \delta\,W_c/(W + W_c)`,
    :math:`M_2 \leftarrow M_2 + M_{2,c} + \delta\delta^\top W W_c/(W + W_c)`, so memory is one chunk
    and the result equals :func:`empirical_system` on the stacked data to rounding. Chunks
    come e.g. from :func:`momix.moments.iter_chunks` (arrays, memory maps, dask arrays,
    chunk iterables).
    """
    c = model.compiled()
    total = total_sq = 0.0
    mean = m2 = None
    unit = 0.0  # weights are divided by the largest seen so far (1e-300 or 1e300 are fine)
    for Zc, wc_ in chunks:
        Z, w = np.asarray(Zc, dtype=np.float64), np.asarray(wc_, dtype=np.float64)
        top = float(np.max(w)) if w.size else 0.0
        if top <= 0:
            continue
        if top > unit:
            if m2 is not None:  # rescale what is accumulated to the new unit
                factor = unit / top
                total, total_sq, m2 = total * factor, total_sq * factor**2, m2 * factor
            unit = top
        w = w / unit
        wc = float(w.sum())
        table = _power_table(Z, c.data_polys)
        V = np.column_stack([_data_values(poly, Z, table) for poly in c.data_polys])
        mc = np.sum(V * w[:, None], axis=0) / wc
        n_obs = len(c.obs_keys)
        centred = V[:, :n_obs] - mc[:n_obs]
        m2c = (centred * w[:, None]).T @ centred
        if mean is None:
            mean, m2 = mc, m2c
        else:
            delta = mc - mean
            mean = mean + delta * (wc / (total + wc))
            m2 = m2 + m2c + np.outer(delta[:n_obs], delta[:n_obs]) * (total * wc / (total + wc))
        total += wc
        total_sq += float(np.sum(w**2))
    if mean is None:
        raise ValueError("no rows with positive weight in the chunks")
    n_obs = len(c.obs_keys)
    aux = np.concatenate([mean[n_obs:], model.constant_values])
    return _with_covariance(_substitute(c, np.array(mean[:n_obs]), aux), m2 / total,
                            total**2 / total_sq)


def mapping_system(model: ComponentModel, moments: Mapping) -> MomentSystem:
    """Moment equations from a user mapping ``{observation: value}`` (keys: sympy or str)."""
    c = model.compiled()
    values = {k if isinstance(k, str) else str(sp.expand(sp.sympify(k))): v
              for k, v in moments.items()}
    missing = [k for k in c.obs_keys if k not in values]
    if missing:
        raise ValueError(f"moments are missing for observation functions {missing}")
    unknown = sorted(set(values) - set(c.obs_keys) - set(c.aux_keys))
    if unknown:
        raise ValueError(f"moments given for unknown observation functions {unknown}")
    b = np.array([float(values[k]) for k in c.obs_keys])
    if not np.all(np.isfinite(b)):
        raise ValueError("moments must be finite")
    return _substitute(c, b, np.concatenate([_aux_vector(c, values), model.constant_values]))


def _substitute(c: CompiledModel, b: np.ndarray, aux: np.ndarray) -> MomentSystem:
    terms = []
    for entry in c.obs_terms:
        terms.append({alpha: _eval_aux_poly(coef, aux) for alpha, coef in entry.items()})
    return MomentSystem(tuple(terms), b, None)

