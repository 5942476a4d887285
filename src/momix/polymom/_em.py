"""EM refinement started from the moment estimate (an extension of the paper, which stops
at the moment solution).

* Gaussian components: scikit-learn's :class:`~sklearn.mixture.GaussianMixture` with
  ``weights_init``, ``means_init`` and ``precisions_init`` taken from Polymom, or, when the
  model declares what scikit-learn cannot fit (means on a hyperplane, one variance shared by
  all components) or the samples are weighted, :func:`gaussian_em`: an ECM (Meng & Rubin
  1993) whose mean step is the constrained maximiser
  :math:`\\xi_k = \\bar x_k - c_k\\,(\\mathbf 1^\\top\\bar x_k - s)/\\mathbf 1^\\top c_k` at the
  current variances :math:`c_k`, then the variances at the new means.
* Mixtures of linear regressions: the EM of De Veaux (1989) with per-component noise,

  .. math::

      r_{nk} \\propto \\pi_k\\, N(y_n; w_k^\\top x_n + b_k, \\sigma_k^2), \\qquad
      (w_k, b_k) = \\arg\\min \\sum_n s_n r_{nk} (y_n - w^\\top x_n - b)^2,

  :math:`\\sigma_k^2` the responsibility-weighted mean squared residual, :math:`s_n` sample weights.
* Poisson components: :math:`\\lambda_k = \\sum_n s_n r_{nk} x_n / \\sum_n s_n r_{nk}`.
* Three categorical (count) views: :math:`\\xi^{(v)}_k \\propto \\sum_n s_n r_{nk} x^{(v)}_n`
  (summed over the views when they share one mean).

Each EM step cannot decrease the (weighted) log-likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, logsumexp

__all__ = ["GaussianEMResult", "gaussian_em", "diag_gaussian_log_prob", "RegressionEMResult",
           "regression_em", "poisson_em", "regression_log_prob", "multiview_em",
           "multiview_log_prob", "categorical_view_start"]

_LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class RegressionEMResult:
    """Fitted mixture of linear regressions.

    Attributes
    ----------
    coef : ndarray of shape (K, n_features)
    intercept : ndarray of shape (K,)
    noise_variance : ndarray of shape (K,)
    weights : ndarray of shape (K,)
    log_likelihood : ndarray of shape (n_iter + 1,)
        Weighted mean log-likelihood before the first and after every step.
    n_iter : int
    converged : bool
    """

    coef: np.ndarray
    intercept: np.ndarray
    noise_variance: np.ndarray
    weights: np.ndarray
    log_likelihood: np.ndarray
    n_iter: int
    converged: bool


def _em_iterations(log_joint, m_step, state, sw, total, max_iter, tol):
    """The EM loop shared by the families: ``log_joint(state)`` gives
    :math:`\\log\\pi_k + \\log p(x_n \\mid \\theta_k)`, shape (n, K), and
    ``m_step(resp, state)`` the next state from the posteriors. Records the weighted mean
    log-likelihood ``sw @ norm / total`` before the first and after every step and stops
    when it rises by less than ``tol`` or after ``max_iter`` steps.

    Returns (state, log-likelihood history, n_iter, converged).
    """
    history, converged = [], False
    for _ in range(max_iter + 1):
        with np.errstate(divide="ignore"):
            logp = log_joint(state)
        norm = logsumexp(logp, axis=1)
        history.append(float(sw @ norm / total))
        if len(history) > 1 and history[-1] - history[-2] < tol:
            converged = True
            break
        if len(history) == max_iter + 1:
            break
        resp = np.exp(logp - norm[:, None])
        # rows sum to 1 even where log-densities near -1e17 absorb log K in the logsumexp
        state = m_step(resp / resp.sum(axis=1, keepdims=True), state)
    return state, np.array(history), len(history) - 1, converged


@dataclass(frozen=True)
class GaussianEMResult:
    """Fitted diagonal Gaussian mixture.

    Attributes
    ----------
    means, variances : ndarray of shape (K, d)
    weights : ndarray of shape (K,)
    log_likelihood : ndarray of shape (n_iter + 1,)
        Weighted mean log-likelihood before the first and after every step.
    n_iter : int
    converged : bool
    """

    means: np.ndarray
    variances: np.ndarray
    weights: np.ndarray
    log_likelihood: np.ndarray
    n_iter: int
    converged: bool


def diag_gaussian_log_prob(X, means, variances) -> np.ndarray:
    """:math:`\\log N(x_n; \\xi_k, \\mathrm{diag}(c_k))`, shape (n_samples, K)."""
    diff = X[:, None, :] - means[None]
    return -0.5 * np.sum(_LOG_2PI + np.log(variances)[None] + diff**2 / variances[None], axis=2)


def _gaussian_m_step(X, rw, variances, covariance, mean_sum, reg_covar):
    nk = np.maximum(rw.sum(axis=0), 1e-300)
    xbar = rw.T @ X / nk[:, None]
    means = xbar
    if mean_sum is not None:  # maximiser on the hyperplane at the current variances
        lam = (xbar.sum(axis=1) - mean_sum) / variances.sum(axis=1)
        means = xbar - variances * lam[:, None]
    # E_r[(x - xi)^2] = E_r[(x - xbar)^2] + (xbar - xi)^2
    spread = rw.T @ X**2 / nk[:, None] - xbar**2 + (xbar - means) ** 2
    spread = np.maximum(spread, 0.0)
    if covariance == "spherical":
        spread = np.repeat(spread.mean(axis=1, keepdims=True), X.shape[1], axis=1)
    elif covariance == "shared":
        spread = np.full_like(spread, nk @ spread.mean(axis=1) / nk.sum())
    return means, spread + reg_covar, nk / nk.sum()


def gaussian_em(X, means, variances, weights, *, sample_weight, covariance="diag",
                mean_sum=None, max_iter=100, tol=1e-6, reg_covar=1e-6) -> GaussianEMResult:
    """EM (ECM with ``mean_sum``) for a mixture of diagonal Gaussians from a given start.

    Parameters
    ----------
    X : ndarray of shape (n_samples, d)
    means, variances : ndarray of shape (K, d)
        Starting values (variances positive).
    weights : ndarray of shape (K,)
    sample_weight : ndarray of shape (n_samples,)
    covariance : {"diag", "spherical", "shared"}
        One variance per coordinate and component, one per component, or one for all.
    mean_sum : float, optional
        Constrain every mean to :math:`\\sum_d \\xi_{kd} = ` ``mean_sum``.
    max_iter : int
    tol : float
        Stop when the weighted mean log-likelihood rises by less than ``tol``.
    reg_covar : float
        Added to every variance after each step.

    Notes
    -----
    Each step maximises the expected complete-data log-likelihood over the weights, then the
    means at the current variances, then the variances at the new means: a conditional
    maximisation, so the log-likelihood cannot decrease (up to ``reg_covar``).
    """
    sw = np.asarray(sample_weight, float) / np.sum(sample_weight)
    start = tuple(np.array(a, float) for a in (means, variances, weights))
    (means, var, weights), history, n_iter, converged = _em_iterations(
        lambda st: diag_gaussian_log_prob(X, st[0], st[1]) + np.log(st[2])[None],
        lambda resp, st: _gaussian_m_step(X, resp * sw[:, None], st[1], covariance, mean_sum,
                                          reg_covar),
        start, sw, 1.0, max_iter, tol)
    return GaussianEMResult(means, var, weights, history, n_iter, converged)


def regression_log_prob(X, y, coef, intercept, noise_variance) -> np.ndarray:
    """:math:`\\log N(y_n; w_k^\\top x_n + b_k, \\sigma_k^2)`, shape (n_samples, K)."""
    resid = y[:, None] - X @ coef.T - intercept[None]
    return -0.5 * (_LOG_2PI + np.log(noise_variance)[None] + resid**2 / noise_variance[None])


def _regression_m_step(X, y, resp, sw, fit_intercept, floor):
    n, d = X.shape
    design = np.column_stack([X, np.ones(n)]) if fit_intercept else X
    k = resp.shape[1]
    coef, intercept, var = np.zeros((k, d)), np.zeros(k), np.zeros(k)
    rw = resp * sw[:, None]
    for j in range(k):
        # weighted least squares by the minimum-norm solution (SVD): defined for collinear
        # or constant columns and for more features than rows, and the same for a row of
        # weight 2 as for the row repeated, in any row order
        root = np.sqrt(rw[:, j])
        beta = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)[0]
        coef[j] = beta[:d]
        intercept[j] = beta[d] if fit_intercept else 0.0
        resid = y - design @ beta
        var[j] = max(rw[:, j] @ resid**2 / max(rw[:, j].sum(), 1e-300), floor)
    weights = rw.sum(axis=0) / sw.sum()
    return coef, intercept, var, weights


def regression_em(X, y, coef, intercept, noise_variance, weights, *, sample_weight,
                  fit_intercept=True, max_iter=100, tol=1e-6, reg_variance=1e-8):
    """EM for a mixture of linear regressions from a given start.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    coef, intercept, noise_variance, weights : ndarray
        Starting values, shapes (K, d), (K,), (K,), (K,).
    sample_weight : ndarray of shape (n_samples,)
    fit_intercept : bool
    max_iter : int
    tol : float
        Stop when the mean log-likelihood rises by less than ``tol``.
    reg_variance : float
        Floor of the noise variances, relative to the (weighted) variance of ``y`` with an
        intercept, to its mean square without (the scale the regressions work at: ``y``
        offset far from 0 has a variance that is a tiny fraction of its square).
    """
    sw = sample_weight
    w = sw / sw.sum()
    center = w @ y if fit_intercept else 0.0
    floor = reg_variance * max(float(w @ (y - center) ** 2), 1e-300)
    var = np.maximum(np.asarray(noise_variance, float), floor)
    start = (*(np.array(a, float) for a in (coef, intercept)), var,
             np.array(weights, float))
    (coef, intercept, var, weights), history, n_iter, converged = _em_iterations(
        lambda st: regression_log_prob(X, y, *st[:3]) + np.log(st[3])[None],
        lambda resp, st: _regression_m_step(X, y, resp, sw, fit_intercept, floor),
        start, sw, sw.sum(), max_iter, tol)
    return RegressionEMResult(coef, intercept, var, weights, history, n_iter, converged)


def poisson_em(X, rates, weights, *, sample_weight, max_iter=100, tol=1e-6):
    """EM for a mixture of products of Poissons; returns (rates, weights, n_iter, converged)."""
    sw = sample_weight
    rates = np.maximum(np.array(rates, float), 1e-10)
    weights = np.array(weights, float)
    prev, converged, it = -np.inf, False, 0
    for it in range(1, max_iter + 1):  # noqa: B007 - it is returned
        logp = (X @ np.log(rates).T - rates.sum(axis=1)[None] - gammaln(X + 1).sum(1)[:, None]
                + np.log(np.maximum(weights, 1e-300))[None])
        norm = logsumexp(logp, axis=1)
        ll = float(sw @ norm / sw.sum())
        if ll - prev < tol:
            converged = True
            break
        prev = ll
        rw = np.exp(logp - norm[:, None]) * sw[:, None]
        nk = np.maximum(rw.sum(axis=0), 1e-300)
        rates = np.maximum((rw.T @ X) / nk[:, None], 1e-10)
        weights = nk / nk.sum()
    return rates, weights, it, converged


def _simplex_projection(V: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``V`` onto the probability simplex."""
    u = -np.sort(-V, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    idx = np.arange(1, V.shape[1] + 1)
    rho = np.sum(u - css / idx > 0, axis=1)
    tau = css[np.arange(len(V)), rho - 1] / rho
    return np.maximum(V - tau[:, None], 0.0)


def categorical_view_start(means: np.ndarray, rng, mix: float = 0.01) -> np.ndarray:
    """EM start from moment estimates of categorical means, shape (K, n_means, d).

    Each mean is projected onto the simplex and mixed with a Dirichlet(1) draw,
    :math:`(1 - \\epsilon)\\,\\Pi(\\hat\\xi) + \\epsilon u`, :math:`\\epsilon` = ``mix``: every
    category keeps a positive probability (a zero would be absorbing under EM) and atoms
    that coincide (a rank-deficient moment matrix) are separated.
    """
    K, V, d = means.shape
    proj = _simplex_projection(means.reshape(-1, d)).reshape(K, V, d)
    return (1 - mix) * proj + mix * rng.dirichlet(np.ones(d), size=(K, V))


def multiview_log_prob(views: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Multinomial log-probability of count views, shape (n_samples, K).

    ``views`` has shape (3, n, d) (counts, one-hot for categorical views) and ``means``
    shape (K, 3, d) (one probability vector per view; repeated when views share a mean):
    :math:`\\sum_v [\\log n_v! - \\sum_d \\log x^{(v)}_d!
    + \\sum_d x^{(v)}_d \\log \\xi^{(v)}_{kd}]`.
    """
    logm = np.log(np.maximum(means, 1e-300))  # a zero probability with zero count adds 0
    out = np.einsum("vnd,kvd->nk", views, logm)
    const = np.sum(gammaln(views.sum(axis=2) + 1) - gammaln(views + 1).sum(axis=2), axis=0)
    return out + const[:, None]


def multiview_em(views, means, weights, *, sample_weight, symmetric, max_iter=100, tol=1e-8):
    """EM for a mixture of three conditionally independent categorical (count) views.

    Parameters
    ----------
    views : ndarray of shape (3, n_samples, d)
        Non-negative counts (one-hot rows for categorical views).
    means : ndarray of shape (K, 3, d)
        Starting probability vectors (positive), one per view.
    weights : ndarray of shape (K,)
    sample_weight : ndarray of shape (n_samples,)
    symmetric : bool
        Views share one mean: :math:`\\xi_k \\propto \\sum_n r_{nk}\\sum_v x^{(v)}_n`;
        otherwise :math:`\\xi^{(v)}_k \\propto \\sum_n r_{nk} x^{(v)}_n`.
    max_iter : int
    tol : float
        Stop when the weighted mean log-likelihood rises by less than ``tol``.

    Returns
    -------
    (means (K, 3, d), weights (K,), log_likelihood history, n_iter, converged)
    """
    sw = sample_weight / sample_weight.sum()
    def m_step(resp, _):
        rw = resp * sw[:, None]
        counts = np.einsum("nk,vnd->kvd", rw, views)
        if symmetric:
            counts = np.repeat(counts.sum(axis=1, keepdims=True), views.shape[0], axis=1)
        return counts / np.maximum(counts.sum(axis=2, keepdims=True), 1e-300), \
            rw.sum(axis=0) / rw.sum()

    (means, weights), history, n_iter, converged = _em_iterations(
        lambda st: multiview_log_prob(views, st[0]) + np.log(st[1])[None], m_step,
        (np.array(means, float), np.array(weights, float)), sw, 1.0, max_iter, tol)
    return means, weights, history, n_iter, converged
