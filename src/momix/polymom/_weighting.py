"""Residual weights of the least-squares relaxation (moment weighting).

The relaxation minimises :math:`\\tfrac12\\|D(Ay - b)\\|^2`. Generalised-method-of-moments
theory (Hansen 1982) makes the weight matrix :math:`D^\\top D = S^{-1}`, the inverse
covariance of the sample moments, asymptotically efficient. Options:

* ``"none"``: :math:`D = I` (the paper's Problem 9).
* ``"variance"``: :math:`D = \\operatorname{diag}(1/s)`, the inverse standard errors of the
  sample moments (diagonal weighting, as seed 000).
* ``"covariance"``: :math:`D = L` with :math:`L^\\top L = \\hat S^{-1}`, :math:`\\hat S` the
  sample covariance of the observation functions over :math:`n_{\\rm eff}` (one-step
  efficient GMM; any model).
* ``"two_step"``: step 1 fits with ``"variance"``; step 2 polishes the step-1 atoms with
  :math:`L` from the *model-implied* covariance at the step-1 estimate,
  :math:`S(\\hat\\pi, \\hat\\theta) = \\big(\\sum_k \\hat\\pi_k E[\\phi\\phi^\\top \\mid
  \\hat\\theta_k] - m m^\\top\\big)/n_{\\rm eff}`, :math:`m = \\sum_k \\hat\\pi_k
  E[\\phi \\mid \\hat\\theta_k]` (models with ``observation_product_moments``: the
  Gaussians). The sample covariance needs moments of twice the observed order, whose noise
  and correlation with the sample moments bias small-sample GMM (Altonji & Segal 1996); the
  model-implied one has neither.

References
----------
.. [1] L. P. Hansen, "Large sample properties of generalized method of moments estimators",
   Econometrica 50, 1982.
.. [2] J. G. Altonji, L. M. Segal, "Small-sample bias in GMM estimation of covariance
   structures", J. Business & Economic Statistics 14, 1996.
"""

from __future__ import annotations

import numpy as np

from ._moments import MomentSystem
from ._polish import _monomial_values
from ._sdp import MomentProblem

__all__ = ["covariance_weights", "model_covariance_weights", "residual_weights", "whitening"]

#: eigenvalues of the moments' correlation matrix are floored at this fraction of the largest
#: before inversion (``moment_weighting="covariance"``): exactly dependent observation
#: functions (one-hot views summing to one) have a singular covariance
_CORRELATION_FLOOR = 1e-6


def _standard_errors(system: MomentSystem, name: str) -> np.ndarray:
    if system.std is None:
        raise ValueError(f"moment_weighting={name!r} needs data (fit), not fit_moments; "
                         "pass an array of weights instead")
    return _floored(system.std)


def _floored(std: np.ndarray) -> np.ndarray:
    """Standard errors floored at 1e-3 times their positive median (exact moments such as a
    constant observation would otherwise get infinite weight)."""
    positive = std[std > 0]
    floor = max(float(np.median(positive)) if positive.size else 1.0, 1e-12) * 1e-3
    return np.maximum(std, floor)


def whitening(cov: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Whitening factor :math:`L` with :math:`L^\\top L = S^{-1}`, shape (n, n).

    :math:`S = \\operatorname{diag}(s)\\,R\\,\\operatorname{diag}(s)` with ``s`` the (floored)
    standard errors; the correlation matrix :math:`R = Q\\Lambda Q^\\top` is inverted with its
    eigenvalues floored at ``1e-6`` times the largest, so
    :math:`L = \\Lambda^{-1/2}Q^\\top\\operatorname{diag}(1/s)`. A covariance that is
    zero (every observation constant) gives :math:`\\operatorname{diag}(1/s)`.
    """
    R = cov / np.outer(s, s)
    if not np.all(np.isfinite(R)) or not np.any(R):
        # no sampling covariance (every observation constant): the diagonal weighting
        return np.diag(1.0 / s)
    vals, vecs = np.linalg.eigh((R + R.T) / 2)
    vals = np.maximum(vals, _CORRELATION_FLOOR * max(float(vals[-1]), 1e-300))
    return (vecs / np.sqrt(vals)).T / s[None, :]


def covariance_weights(system: MomentSystem) -> np.ndarray:
    """:func:`whitening` of the sample covariance of the moments (``"covariance"``)."""
    return whitening(system.covariance, _standard_errors(system, "covariance"))


def model_covariance_weights(model, problem: MomentProblem, system: MomentSystem,
                             params: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`whitening` of the model-implied covariance of the moments at ``(weights, params)``
    (step 2 of ``"two_step"``, see the module docstring); ``params`` in the problem's units."""
    if not hasattr(model, "observation_product_moments"):
        raise ValueError(f"moment_weighting='two_step' needs the model's moments of products "
                         f"of observations, which the {model.name} model does not provide; use "
                         "'covariance' (sample covariance) or 'variance'")
    if system.n_eff is None:
        raise ValueError("moment_weighting='two_step' needs data (fit), not fit_moments")
    pi = np.clip(weights, 0.0, None)
    pi = pi / max(pi.sum(), 1e-300)
    mean = problem.A @ (pi @ _monomial_values(params, problem.structure.monomials))
    second = np.einsum("k,kij->ij", pi, model.observation_product_moments(params))
    cov = (second - np.outer(mean, mean)) / system.n_eff
    return whitening(cov, _floored(np.sqrt(np.maximum(np.diag(cov), 0.0))))


def residual_weights(system: MomentSystem, moment_weighting) -> np.ndarray:
    """Residual weights: a vector :math:`D` (diagonal) or a whitening matrix :math:`L`."""
    n = len(system.b)
    if isinstance(moment_weighting, str):
        if moment_weighting == "none":
            return np.ones(n)
        if moment_weighting == "covariance":
            return covariance_weights(system)
        # "variance"; also step 1 of "two_step"
        return 1.0 / _standard_errors(system, moment_weighting)
    w = np.asarray(moment_weighting, dtype=float)
    if w.shape != (n,) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"moment_weighting must be 'none', 'variance', 'covariance' or {n} "
                         "non-negative numbers")
    return w
