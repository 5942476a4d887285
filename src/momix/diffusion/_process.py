"""Variance-preserving forward process and the closed-form score of a noised Gaussian mixture.

The forward (Ornstein-Uhlenbeck, variance-preserving) process is

.. math::

    dX_t = -X_t\\,dt + \\sqrt{2}\\,dB_t, \\qquad
    X_t = a_t X_0 + s_t Z, \\quad a_t = e^{-t},\\ s_t^2 = 1 - e^{-2t},\\ Z \\sim N(0, I).

If :math:`X_0 \\sim \\sum_i w_i N(\\mu_i, \\Sigma_i)` then :math:`X_t` is again a Gaussian
mixture with the same weights, means :math:`a_t\\mu_i` and covariances
:math:`a_t^2\\Sigma_i + s_t^2 I`, so its score is available in closed form:

.. math::

    \\nabla \\log p_t(x) = -\\sum_i r_i(x, t)\\, \\Sigma_i(t)^{-1} (x - \\mu_i(t)),
    \\qquad r_i(x, t) = \\frac{w_i N(x; \\mu_i(t), \\Sigma_i(t))}
                              {\\sum_j w_j N(x; \\mu_j(t), \\Sigma_j(t))}.

These functions are the exact oracle of every score test and benchmark, and they also give
the crude-mixture scores that serve as control variate and fallback of the learned model.

References
----------
Chen, Kontonis, Shah, "Learning general Gaussian mixtures with efficient score matching",
COLT 2025 (arXiv:2404.18893), Section 4.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .._base import covariance_cholesky

_LOG_2PI = float(np.log(2 * np.pi))

__all__ = [
    "vp_coefficients",
    "forward_noise",
    "noised_mixture",
    "mixture_score",
    "mixture_log_density",
]


def vp_coefficients(t) -> tuple[np.ndarray, np.ndarray]:
    """Return :math:`(a_t, s_t^2) = (e^{-t}, 1 - e^{-2t})` of the VP process.

    ``s_t^2`` is computed with ``expm1`` so that it is accurate for tiny ``t``.
    """
    t = np.asarray(t, dtype=np.float64)
    return np.exp(-t), -np.expm1(-2.0 * t)


def forward_noise(X0: np.ndarray, t: float, z: np.ndarray, *, center=None,
                  scale=None) -> np.ndarray:
    r"""Noised points :math:`x_t = c + a_t (x_0 - c) + s_t\, \sigma \odot z`.

    ``center`` :math:`c` and ``scale`` :math:`\sigma` (per coordinate) default to 0 and 1,
    the plain VP process. With the estimator's ``center_`` and ``scale_`` this is the VP
    process run on the standardised data :math:`(x - c)/\sigma`, mapped back.
    """
    a, s2 = vp_coefficients(t)
    c = 0.0 if center is None else np.asarray(center)
    sigma = 1.0 if scale is None else np.asarray(scale)
    return c + a * (X0 - c) + np.sqrt(s2) * sigma * z


def noised_mixture(means: np.ndarray, covariances: np.ndarray, t: float, *, center=None,
                   scale=None):
    r"""Means :math:`c + a_t(\mu_i - c)` and covariances
    :math:`a_t^2\Sigma_i + s_t^2\operatorname{diag}(\sigma^2)` of the components of
    :math:`p_t`, shapes (K, d) and (K, d, d) (see :func:`forward_noise` for ``center`` and
    ``scale``)."""
    a, s2 = vp_coefficients(t)
    d = means.shape[1]
    c = np.zeros(d) if center is None else np.asarray(center, dtype=np.float64)
    sigma = np.ones(d) if scale is None else np.asarray(scale, dtype=np.float64)
    return c + a * (means - c), a * a * covariances + s2 * np.diag(sigma ** 2)


def _score_and_log_density(X, weights, means, covariances):
    """Score and log-density through inverse Cholesky factors (tall-thin products only)."""
    chol = covariance_cholesky(covariances)
    inv_chol = np.linalg.inv(chol)
    d = X.shape[1]
    log_joint = np.empty((X.shape[0], len(weights)))
    whitened = []
    with np.errstate(divide="ignore"):
        for k in range(len(weights)):
            Z = X @ inv_chol[k].T - inv_chol[k] @ means[k]
            logdet = 2.0 * np.sum(np.log(np.diag(chol[k])))
            log_joint[:, k] = np.log(weights[k]) - 0.5 * (d * _LOG_2PI + logdet
                                                          + np.einsum("ij,ij->i", Z, Z))
            whitened.append(Z)
    log_p = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - log_p[:, None])
    score = np.zeros_like(X)
    for k, Z in enumerate(whitened):
        score -= resp[:, k:k + 1] * (Z @ inv_chol[k])
    return score, log_p


def mixture_score(X: np.ndarray, weights: np.ndarray, means: np.ndarray,
                  covariances: np.ndarray, t: float = 0.0, *, center=None,
                  scale=None) -> np.ndarray:
    """Closed-form score :math:`\\nabla\\log p_t(x)` of a VP-noised Gaussian mixture.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Points at which the score is evaluated.
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)
        Parameters of the clean mixture :math:`p_0`.
    t : float, default=0
        Diffusion time; ``t = 0`` gives the score of the mixture itself.
    center, scale : array-like of shape (n_features,), optional
        Run the process on the standardised variable (see :func:`forward_noise`); pass a
        fitted ``ScoreMatchingMixture``'s ``center_`` and ``scale_`` to get the exact score
        of the law its ``score_function`` estimates.

    Returns
    -------
    score : ndarray of shape (n_samples, n_features)
        Responsibilities are computed with log-sum-exp, so the result is finite at any
        finite ``x`` (far from all components it is the score of the nearest one in
        log-likelihood).
    """
    mu_t, cov_t = noised_mixture(means, covariances, t, center=center, scale=scale)
    return _score_and_log_density(X, weights, mu_t, cov_t)[0]


def mixture_log_density(X: np.ndarray, weights: np.ndarray, means: np.ndarray,
                        covariances: np.ndarray, t: float = 0.0, *, center=None,
                        scale=None) -> np.ndarray:
    """Log-density :math:`\\log p_t(x)` of a VP-noised Gaussian mixture, shape (n_samples,).

    ``center`` and ``scale`` as in :func:`mixture_score`.
    """
    mu_t, cov_t = noised_mixture(means, covariances, t, center=center, scale=scale)
    return _score_and_log_density(X, weights, mu_t, cov_t)[1]
