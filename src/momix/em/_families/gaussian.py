r"""Gaussian components: full, tied, diagonal and spherical covariances.

Statistics are anchored at the current means :math:`\mu_k` (centred, so no
:math:`\sum\rho x^2 - N\bar x^2` cancellation), and for full and tied covariances taken in
the whitened coordinates of the current covariance,

.. math::

    z_{nk} = L_k^{-1}(x_n - \mu_k), \quad \Sigma_k = L_kL_k^\top, \qquad
    \tilde s_k = \sum_n \rho_{nk} z_{nk}, \quad
    \tilde C_k = \sum_n \rho_{nk} z_{nk} z_{nk}^\top .

The same :math:`z` gives the E-step (:math:`\log p_k = -\tfrac12(d\log 2\pi + \log\det\Sigma_k
+ \|z_{nk}\|^2)`), so a block costs one GEMM :math:`[X - c, 1]\,[L_1^{-1} \cdots
L_K^{-1};\ -o]^\top` with :math:`o_k = L_k^{-1}(\mu_k - c)`, the squared norms, and one
batched GEMM :math:`G_kG_k^\top`, :math:`G_k = \sqrt{\rho_k}\odot Z_k`. The M-step un-whitens
once per pass: :math:`\delta_k = L_k\tilde s_k/N_k`, :math:`\mu_k' = \mu_k + \delta_k`,
:math:`S_k = L_k(\tilde C_k/N_k - \tilde\delta_k\tilde\delta_k^\top)L_k^\top`
(:math:`\tilde\delta_k = \tilde s_k/N_k`), the weighted MLE scatter about the new mean; tied
pools :math:`\sum_k N_k(\cdot)` over components. Diagonal and spherical covariances use one GEMM
of :math:`[(X-c)^{\circ 2}, X-c]` against :math:`[\sigma_k^{-2}; -2(\mu_k-c)\sigma_k^{-2}]` and
the statistics :math:`s_k = \sum\rho(x-\mu_k)`, :math:`c_k = \sum\rho(x-\mu_k)^{\circ 2}`.

The offset forms lose about :math:`\epsilon_{\rm mach}\|o_k\|` (full) or
:math:`\epsilon_{\rm mach}\max_j(\mu_{kj}-c_j)^2/\sigma_{kj}^2` (diagonal) relative precision;
components beyond :math:`\|o_k\|_\infty > 10^4` (full) or :math:`|\mu_{kj}-c_j|/\sigma_{kj} >
10^2` (diagonal) are centred explicitly instead.

Floors (``floor``): ``"add"`` is scikit-learn's :math:`\Sigma_k = S_k + \text{reg\_covar}\,I`
(absolute); ``"clip"`` raises every eigenvalue (variance) of :math:`S_k` to
:math:`\varepsilon = \text{reg\_covar}\cdot\bar s^2`, the exact maximiser of the M-step
objective over :math:`\{\Sigma \succeq \varepsilon I\}` (monotone and scale-equivariant).
Components with :math:`N_k/W < 10^{-8}` keep their mean and covariance (no 0/0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...exceptions import NumericalError
from .._family import Family, Params, PassTotals, Stats, Summary
from .._numeric import (
    clip_eigenvalues,
    factor_covariances,
    repair_variances,
)

__all__ = ["GaussianFamily", "GaussianParams", "COVARIANCE_TYPES"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
FLOORS = ("add", "clip")
_LOG_2PI = float(np.log(2.0 * np.pi))
#: relative weight below which a component is frozen
EMPTY = 1e-8
#: whitened offset beyond which a full/tied component is centred explicitly
_FAR_FULL = 1e4
#: standardised offset beyond which a diagonal/spherical component is centred explicitly
_FAR_DIAG = 1e2
#: smallest weight carried by the log-ratio coordinates
_TINY_WEIGHT = 1e-300


@dataclass(frozen=True, eq=False)
class GaussianParams(Params):
    """A Gaussian mixture with its factorisations.

    Attributes
    ----------
    weights : ndarray of shape (K,)
    means : ndarray of shape (K, d)
    covariances : ndarray
        scikit-learn's shapes: (K, d, d) full, (d, d) tied, (K, d) diag, (K,) spherical.
    covariance_type : str
    chol : ndarray
        Lower Cholesky factors (full (K, d, d), tied (d, d)) or standard deviations (diag
        (K, d), spherical (K,)).
    inv_chol : ndarray
        Their inverses (:math:`L^{-1}`, or reciprocal standard deviations).
    log_det : ndarray of shape (K,)
        :math:`\\log\\det\\Sigma_k`.
    repaired : ndarray of bool, shape (K,)
        Components whose covariance was repaired by the numeric safety net when built.
    """

    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str
    chol: np.ndarray
    inv_chol: np.ndarray
    log_det: np.ndarray
    repaired: np.ndarray

    def shared_fields(self) -> tuple[str, ...]:
        if self.covariance_type == "tied":
            return ("covariances", "chol", "inv_chol")
        return ()

    def precisions_cholesky(self) -> np.ndarray:
        """scikit-learn's ``precisions_cholesky_``: upper :math:`P = L^{-\\top}` or
        :math:`1/\\sigma`."""
        if self.covariance_type == "full":
            return np.ascontiguousarray(np.swapaxes(self.inv_chol, -1, -2))
        if self.covariance_type == "tied":
            return np.ascontiguousarray(self.inv_chol.T)
        return self.inv_chol.copy()

    def precisions(self) -> np.ndarray:
        """scikit-learn's ``precisions_`` (:math:`\\Sigma^{-1}`, or :math:`1/\\sigma^2`)."""
        if self.covariance_type == "full":
            return np.einsum("kji,kjl->kil", self.inv_chol, self.inv_chol)
        if self.covariance_type == "tied":
            return self.inv_chol.T @ self.inv_chol
        return self.inv_chol**2

    def full_covariances(self) -> np.ndarray:
        """Covariances as a (K, d, d) stack, whatever the type."""
        K, d = self.means.shape
        if self.covariance_type == "full":
            return self.covariances
        if self.covariance_type == "tied":
            return np.broadcast_to(self.covariances, (K, d, d)).copy()
        var = (
            self.covariances
            if self.covariance_type == "diag"
            else np.outer(self.covariances, np.ones(d))
        )
        return np.stack([np.diag(v) for v in var])


@dataclass
class FullStats(Stats):
    """Whitened first and second moments about the current means (full and tied)."""

    s: np.ndarray  # (K, d)
    C: np.ndarray  # (K, d, d)


@dataclass
class DiagStats(Stats):
    """First and squared deviations about the current means (diag and spherical)."""

    s: np.ndarray  # (K, d)
    c: np.ndarray  # (K, d)


class _Constants:
    """Per-parameter constants of the kernel (computed once per pass)."""

    __slots__ = ("log_norm", "weights", "offset_sq", "far", "rows")

    def __init__(self, log_norm, weights, offset_sq, far, rows):
        self.log_norm = log_norm
        self.weights = weights
        self.offset_sq = offset_sq
        self.far = far
        self.rows = rows


def _buffer(cache: dict, key: str, shape: tuple[int, ...]) -> np.ndarray:
    buf = cache.get(key)
    if buf is None or buf.shape != shape:
        buf = np.empty(shape)
        cache[key] = buf
    return buf


class GaussianFamily(Family):
    """Gaussian components for the EM engine.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    floor : {"add", "clip"}, default="add"
        ``"add"``: :math:`\\Sigma = S + \\text{reg\\_covar}\\,I` (scikit-learn, absolute);
        ``"clip"``: eigenvalues of :math:`S` raised to :math:`\\text{reg\\_covar}\\cdot\\bar s^2`
        (scale-aware, the constrained MLE, monotone).
    reg_covar : float, default=1e-6
    """

    name = "Gaussian"

    def __init__(
        self, covariance_type: str = "full", *, floor: str = "add", reg_covar: float = 1e-6
    ) -> None:
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}"
            )
        if floor not in FLOORS:
            raise ValueError(f"floor must be one of {FLOORS}, got {floor!r}")
        if not (np.isfinite(reg_covar) and reg_covar >= 0):
            raise ValueError(f"reg_covar must be finite and non-negative, got {reg_covar!r}")
        self.covariance_type = covariance_type
        self.floor = floor
        self.reg_covar = float(reg_covar)
        self.n_repairs = 0
        self._memo: list = []
        self.center: np.ndarray | None = None

    # ------------------------------------------------------------------ data-dependent setup

    def prepare(self, summary: Summary) -> None:
        """Shift :math:`c`, scale :math:`\\bar s^2` (1 for constant data) and the floor."""
        self.center = np.array(summary.mean, dtype=np.float64)
        self.covariance = np.array(summary.covariance, dtype=np.float64)
        scale2 = float(summary.scale2)
        self.scale2 = scale2 if scale2 > 0 and np.isfinite(scale2) else 1.0
        self.scale = float(np.sqrt(self.scale2))
        self.floor_value = self.reg_covar * (self.scale2 if self.floor == "clip" else 1.0)
        self._memo = []

    @classmethod
    def for_evaluation(cls, covariance_type: str, weights, means) -> GaussianFamily:
        """A family prepared to evaluate a fitted mixture (shift at the mixture's mean)."""
        fam = cls(covariance_type)
        with np.errstate(all="ignore"):
            center = np.asarray(weights, dtype=np.float64) @ np.asarray(means, dtype=np.float64)
        if not np.all(np.isfinite(center)):
            center = np.zeros(np.shape(means)[1])
        d = center.shape[0]
        fam.prepare(Summary(1.0, 0, center, np.eye(d), 1.0))
        return fam

    def _check_prepared(self) -> None:
        if self.center is None:
            raise RuntimeError("GaussianFamily.prepare(summary) must be called first")

    # ------------------------------------------------------------------ building parameters

    def _var_shape(self, K: int, d: int) -> tuple[int, ...]:
        return {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}[
            self.covariance_type
        ]

    def make_params(self, weights, means, covariances) -> GaussianParams:
        """Parameters from weights, means and covariances (scikit-learn's shapes by type).

        Each covariance is factorised with the numeric safety net of
        :mod:`momix.em._numeric`; a covariance it had to repair is replaced by the repaired
        one (``repaired`` flags it; ``n_repairs`` counts it).

        Raises
        ------
        NumericalError
            If a covariance holds NaN or inf.
        """
        self._check_prepared()
        weights = np.asarray(weights, dtype=np.float64)
        means = np.asarray(means, dtype=np.float64)
        cov = np.asarray(covariances, dtype=np.float64)
        K, d = means.shape
        if cov.shape != self._var_shape(K, d):
            raise ValueError(
                f"{self.covariance_type} covariances must have shape {self._var_shape(K, d)}, "
                f"got {cov.shape}"
            )
        ct = self.covariance_type
        if ct in ("full", "tied"):
            stack = cov[None] if ct == "tied" else cov
            fac = factor_covariances(stack, floor=self.floor_value, scale2=self.scale2)
            if fac.nonfinite.any():
                raise NumericalError(
                    "a Gaussian covariance holds NaN or inf values; rescale the data or "
                    "increase reg_covar"
                )
            repaired = fac.repaired
            if ct == "tied":
                cov, chol, inv = fac.covariances[0], fac.cholesky[0], fac.inverse[0]
                log_det = np.full(K, fac.log_det[0])
                repaired = np.full(K, bool(repaired[0]))
            else:
                cov, chol, inv, log_det = fac.covariances, fac.cholesky, fac.inverse, fac.log_det
        else:
            var2d = cov[:, None] if ct == "spherical" else cov
            var2d, repaired, nonfinite = repair_variances(
                var2d, floor=self.floor_value, scale2=self.scale2
            )
            if nonfinite.any():
                raise NumericalError(
                    "a Gaussian variance is NaN or infinite; rescale the data or increase reg_covar"
                )
            cov = var2d[:, 0] if ct == "spherical" else var2d
            chol = np.sqrt(cov)
            inv = 1.0 / chol
            log_det = np.sum(np.log(var2d), axis=1) if ct == "diag" else d * np.log(cov)
        self.n_repairs += int(repaired[0]) if ct == "tied" else int(np.count_nonzero(repaired))
        return GaussianParams(
            weights=weights,
            means=means,
            covariances=cov,
            covariance_type=ct,
            chol=chol,
            inv_chol=inv,
            log_det=np.asarray(log_det, dtype=np.float64),
            repaired=np.asarray(repaired, dtype=bool),
        )

    def from_precisions(self, weights, means, precisions) -> GaussianParams:
        """Parameters from precisions (scikit-learn's ``precisions_init`` shapes)."""
        prec = np.asarray(precisions, dtype=np.float64)
        if self.covariance_type in ("full", "tied"):
            stack = prec[None] if prec.ndim == 2 else prec
            fac = factor_covariances(stack, floor=0.0, scale2=1.0)
            cov = np.einsum("kji,kjl->kil", fac.inverse, fac.inverse)
            cov = cov[0] if self.covariance_type == "tied" else cov
        else:
            cov = 1.0 / prec
        return self.make_params(weights, means, cov)

    def global_params(self, n_components: int) -> GaussianParams:
        """Every component at the data's mean and (floored) covariance, equal weights."""
        self._check_prepared()
        K, d = n_components, self.center.shape[0]
        S = self.covariance
        ct = self.covariance_type
        if ct in ("full", "tied"):
            S = self._floor_matrices(S[None])[0]
            cov = S if ct == "tied" else np.broadcast_to(S, (K, d, d)).copy()
        elif ct == "diag":
            cov = np.broadcast_to(self._floor_vars(np.diag(S)[None]), (K, d)).copy()
        else:
            cov = np.full(K, self._floor_vars(np.array([[np.trace(S) / d]]))[0, 0])
        return self.make_params(
            np.full(K, 1.0 / K), np.broadcast_to(self.center, (K, d)).copy(), cov
        )

    def _floor_matrices(self, S: np.ndarray) -> np.ndarray:
        if self.floor == "add":
            return S + self.floor_value * np.eye(S.shape[-1])
        return clip_eigenvalues(S, self.floor_value)[0]

    def _floor_vars(self, var: np.ndarray) -> np.ndarray:
        if self.floor == "add":
            return var + self.floor_value
        return np.maximum(var, self.floor_value)

    # ------------------------------------------------------------------ E-step kernel

    def _constants(self, params: GaussianParams) -> _Constants:
        for p, const in self._memo:
            if p is params:
                return const
        K, d = params.means.shape
        m = params.means - self.center
        log_norm = -0.5 * (d * _LOG_2PI + params.log_det)
        if self.covariance_type in ("full", "tied"):
            inv = (
                params.inv_chol
                if self.covariance_type == "full"
                else np.broadcast_to(params.inv_chol, (K, d, d))
            )
            offsets = np.einsum("kij,kj->ki", inv, m)
            weights = np.empty((d + 1, K, d))  # [L_k^{-T}; -o_k^T] side by side
            weights[:d] = np.swapaxes(inv, 1, 2).transpose(1, 0, 2)
            weights[d] = -offsets
            far = np.flatnonzero(np.max(np.abs(offsets), axis=1) > _FAR_FULL)
            const = _Constants(log_norm, weights.reshape(d + 1, K * d), None, far, inv)
        else:
            prec = params.inv_chol**2
            prec = prec if self.covariance_type == "diag" else np.outer(prec, np.ones(d))
            weights = np.concatenate([prec, -2.0 * m * prec], axis=1).T  # (2d, K)
            offset_sq = np.sum(m * m * prec, axis=1)
            far = np.flatnonzero(np.max(np.abs(m) * np.sqrt(prec), axis=1) > _FAR_DIAG)
            const = _Constants(log_norm, np.ascontiguousarray(weights), offset_sq, far, prec)
        self._memo = [(params, const), *self._memo[:3]]
        return const

    def log_prob(self, params: GaussianParams, block: np.ndarray, cache: dict) -> np.ndarray:
        """Component log-densities (b, K) of raw rows, from the whitened rows (kept in cache)."""
        self._check_prepared()
        const = self._constants(params)
        n, d = block.shape
        K = params.means.shape[0]
        A = _buffer(cache, "A", (n, K))
        if self.covariance_type in ("full", "tied"):
            aug = _buffer(cache, "aug", (n, d + 1))
            np.subtract(block, self.center, out=aug[:, :d])
            aug[:, d] = 1.0
            Z = _buffer(cache, "Z", (n, K * d))
            np.matmul(aug, const.weights, out=Z)  # z_nk = L_k^{-1}(x_n - mu_k), all k
            Z3 = Z.reshape(n, K, d)
            for k in const.far:
                Z3[:, k, :] = (block - params.means[k]) @ const.rows[k].T
            np.einsum("nkd,nkd->nk", Z3, Z3, out=A)
            cache["Z3"] = Z3
        else:
            aug = _buffer(cache, "aug", (n, 2 * d))
            B = aug[:, d:]
            np.subtract(block, self.center, out=B)
            np.multiply(B, B, out=aug[:, :d])
            np.matmul(aug, const.weights, out=A)
            A += const.offset_sq
            for k in const.far:
                D = block - params.means[k]
                A[:, k] = (D * D) @ const.rows[k]
            cache["aug"] = aug
        A *= -0.5
        A += const.log_norm
        return A

    def block_stats(self, params, block, rho, cache, out=None) -> Stats:
        """Anchored statistics of the block (see the module docstring)."""
        const = self._constants(params)
        if self.covariance_type in ("full", "tied"):
            Z3 = cache["Z3"]  # (b, K, d)
            s = np.matmul(rho.T[:, None, :], Z3.transpose(1, 0, 2))[:, 0, :]
            np.multiply(Z3, np.sqrt(rho)[:, :, None], out=Z3)  # Z3 becomes G
            C = np.matmul(Z3.transpose(1, 2, 0), Z3.transpose(1, 0, 2))
            if out is None:
                return FullStats(s, C)
            out.s += s
            out.C += C
            return out
        d = block.shape[1]
        aug = cache["aug"]
        R = rho.T @ aug  # (K, 2d): [sum rho b^2, sum rho b]
        nb = rho.sum(axis=0)
        m = params.means - self.center
        U2, U1 = R[:, :d], R[:, d:]
        s = U1 - nb[:, None] * m
        c = U2 - 2.0 * m * U1 + nb[:, None] * m * m
        for k in const.far:
            D = block - params.means[k]
            s[k] = rho[:, k] @ D
            c[k] = rho[:, k] @ (D * D)
        if out is None:
            return DiagStats(s, c)
        out.s += s
        out.c += c
        return out

    # ------------------------------------------------------------------ M-step

    def m_step(self, totals: PassTotals, params: GaussianParams) -> tuple[GaussianParams, str]:
        """The weighted MLE given the responsibilities of the pass (``"exact"``)."""
        N = totals.resp_weight
        total = float(N.sum())
        if not (total > 0 and np.isfinite(total)):
            raise NumericalError(
                "every sample has zero likelihood under the current Gaussian mixture; "
                "rescale the data or increase reg_covar"
            )
        weights = N / total
        live = N > EMPTY * totals.total_weight
        K, d = params.means.shape
        st = totals.stats
        safe_N = np.where(live, N, 1.0)
        ct = self.covariance_type
        if ct in ("full", "tied"):
            L = params.chol if ct == "full" else np.broadcast_to(params.chol, (K, d, d))
            dt = st.s / safe_N[:, None]
            delta = np.einsum("kij,kj->ki", L, dt)
            means = np.where(live[:, None], params.means + delta, params.means)
            if ct == "full":
                Sw = st.C / safe_N[:, None, None] - dt[:, :, None] * dt[:, None, :]
                S = np.einsum("kij,kjl,kml->kim", L, Sw, L)
                S = self._floor_matrices(S)
                cov = np.where(live[:, None, None], S, params.covariances)
            else:
                Sw = (
                    np.sum(
                        np.where(
                            live[:, None, None],
                            st.C - N[:, None, None] * dt[:, :, None] * dt[:, None, :],
                            st.C,
                        ),
                        axis=0,
                    )
                    / total
                )
                S = params.chol @ Sw @ params.chol.T
                cov = self._floor_matrices(S[None])[0]
        else:
            delta = st.s / safe_N[:, None]
            means = np.where(live[:, None], params.means + delta, params.means)
            var = st.c / safe_N[:, None] - delta * delta
            if ct == "spherical":
                var = np.mean(var, axis=1)
            var = self._floor_vars(var)
            cov = (
                np.where(live, var, params.covariances)
                if ct == "spherical"
                else np.where(live[:, None], var, params.covariances)
            )
        return self.make_params(weights, means, cov), "exact"

    # ------------------------------------------------------------------ parameter maps

    def n_free(self, n_components: int, n_features: int) -> int:
        """scikit-learn's ``_n_parameters``: covariances + means + weights - 1."""
        K, d = n_components, n_features
        cov = {
            "full": K * d * (d + 1) // 2,
            "tied": d * (d + 1) // 2,
            "diag": K * d,
            "spherical": K,
        }[self.covariance_type]
        return int(cov + K * d + K - 1)

    def pack(self, params: GaussianParams) -> np.ndarray:
        """Unconstrained vector in standardised units :math:`(x - c)/\\bar s`.

        Blocks: additive log-ratio weights :math:`\\log(\\pi_k/\\pi_K)` (weights below
        1e-300 count as 1e-300), means :math:`(\\mu_k - c)/\\bar s`, then log-Cholesky factors
        of :math:`\\Sigma_k/\\bar s^2` (strict lower triangle, row by row, then the log
        diagonal) for full and tied, or :math:`\\log(\\sigma^2/\\bar s^2)` for diag and
        spherical. The fixed standardisation makes the vector (and SQUAREM's steps in it)
        invariant to affine changes of the data's units.
        """
        self._check_prepared()
        logw = np.log(np.maximum(params.weights, _TINY_WEIGHT))
        parts = [logw[:-1] - logw[-1], ((params.means - self.center) / self.scale).ravel()]
        ct = self.covariance_type
        if ct in ("full", "tied"):
            chol = params.chol if ct == "full" else params.chol[None]
            d = chol.shape[-1]
            rows, cols = np.tril_indices(d, -1)
            Ls = chol / self.scale
            parts.append(
                np.concatenate(
                    [Ls[:, rows, cols], np.log(np.diagonal(Ls, axis1=1, axis2=2))], axis=1
                ).ravel()
            )
        else:
            parts.append(np.log(params.covariances / self.scale2).ravel())
        return np.concatenate(parts)

    def unpack(self, eta: np.ndarray, n_components: int) -> GaussianParams:
        """Parameters of an unconstrained vector (inverse of :meth:`pack`)."""
        self._check_prepared()
        K, d = n_components, self.center.shape[0]
        eta = np.asarray(eta, dtype=np.float64)
        a = np.append(eta[: K - 1], 0.0)
        w = np.exp(a - a.max())
        weights = w / w.sum()
        pos = K - 1
        means = self.center + self.scale * eta[pos : pos + K * d].reshape(K, d)
        pos += K * d
        ct = self.covariance_type
        if ct in ("full", "tied"):
            n_mats = K if ct == "full" else 1
            m = d * (d - 1) // 2
            block = eta[pos:].reshape(n_mats, m + d)
            rows, cols = np.tril_indices(d, -1)
            L = np.zeros((n_mats, d, d))
            L[:, rows, cols] = block[:, :m]
            idx = np.arange(d)
            with np.errstate(over="ignore"):
                L[:, idx, idx] = np.exp(block[:, m:])
            L *= self.scale
            cov = L @ np.swapaxes(L, 1, 2)
            cov = cov[0] if ct == "tied" else cov
        else:
            with np.errstate(over="ignore"):
                cov = self.scale2 * np.exp(eta[pos:])
            cov = cov.reshape(K, d) if ct == "diag" else cov
        return self.make_params(weights, means, cov)

    def project(self, params: GaussianParams) -> GaussianParams:
        """With ``floor="clip"``: raise covariance eigenvalues (variances) to the floor."""
        if self.floor != "clip":
            return params
        ct = self.covariance_type
        if ct == "full":
            cov = self._floor_matrices(params.covariances)
        elif ct == "tied":
            cov = self._floor_matrices(params.covariances[None])[0]
        else:
            cov = self._floor_vars(params.covariances)
        return self.make_params(params.weights, params.means, cov)

    def sample(self, params: GaussianParams, n: int, rng: np.random.Generator):
        """``(X, labels)``: multinomial counts, then :math:`\\mu_k + L_k g`, by component."""
        counts = rng.multinomial(n, params.weights / params.weights.sum())
        K, d = params.means.shape
        out = []
        for k, c in enumerate(counts):
            g = rng.standard_normal((int(c), d))
            ct = self.covariance_type
            if ct == "full":
                out.append(params.means[k] + g @ params.chol[k].T)
            elif ct == "tied":
                out.append(params.means[k] + g @ params.chol.T)
            else:
                out.append(params.means[k] + g * params.chol[k])
        return np.vstack(out), np.repeat(np.arange(K), counts)
