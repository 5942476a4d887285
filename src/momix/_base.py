"""The one shallow base of momix estimators.

:class:`MixtureEstimator` carries the scikit-learn contract (``BaseEstimator`` parameter
handling, validation at entry, the non-convergence warning, restarts). :class:`GaussianMixin`
adds ``predict``, ``predict_proba``, ``score_samples``, ``score``, ``sample``, ``bic`` and
``aic`` for any estimator whose fitted state is a Gaussian mixture: ``weights_`` (K,),
``means_`` (K, d) and ``covariances_`` (K, d, d).

The log-density of the mixture is

.. math::

    \\log p(x) = \\operatorname{logsumexp}_k \\Big[\\log \\pi_k
        - \\tfrac12 \\big(d \\log 2\\pi + \\log\\det\\Sigma_k
        + (x-\\mu_k)^\\top \\Sigma_k^{-1} (x-\\mu_k)\\big)\\Big],

computed through the Cholesky factors of the covariances, never their inverses.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import check_is_fitted

from ._validation import check_finite_params, check_fit_data, check_rng
from .exceptions import ConvergenceWarning, NumericalError

__all__ = ["MixtureEstimator", "GaussianMixin", "best_of_restarts", "warn_not_converged"]

_LOG_2PI = float(np.log(2 * np.pi))


class MixtureEstimator(DensityMixin, BaseEstimator):
    """Base of every momix estimator: scikit-learn conventions, nothing more.

    Subclasses declare ``_parameter_constraints`` (scikit-learn's declarative format) and
    call ``self._validate_params()`` first thing in ``fit``.
    """

    _parameter_constraints: dict = {}

    #: fitted attributes allowed to hold non-finite values (e.g. a history that starts at -inf)
    _nonfinite_attributes: tuple[str, ...] = ()

    def _check_X(self, X, *, reset: bool, min_samples: int = 1) -> np.ndarray:
        return check_fit_data(self, X, reset=reset, min_samples=min_samples)

    def _check_fitted_finite(self) -> None:
        """Raise :class:`NumericalError` if a fitted attribute holds NaN or inf.

        Every public fitted attribute (a name ending in ``_``) that is a float array or number
        is checked, except those in ``_nonfinite_attributes``; ``fit`` calls this last, so a
        fit either returns finite parameters or raises.
        """
        params = {
            name: value
            for name, value in vars(self).items()
            if name.endswith("_")
            and not name.startswith("_")
            and name not in self._nonfinite_attributes
            and isinstance(value, (np.ndarray, float, np.floating))
        }
        check_finite_params(type(self).__name__, **params)

    def fit_predict(self, X, y=None, **fit_params) -> np.ndarray:
        """Fit the model to ``X`` and return the component label of each sample.

        Equivalent to ``fit(X, y, **fit_params).predict(X)``.
        """
        return self.fit(X, y, **fit_params).predict(X)


def warn_not_converged(what: str, knobs: str) -> None:
    """Emit momix's :class:`ConvergenceWarning` naming the knobs to turn."""
    warnings.warn(f"{what} did not converge; {knobs}.", ConvergenceWarning, stacklevel=3)


@dataclass(frozen=True)
class _Scored:
    objective: float
    result: Any


def best_of_restarts(
    fit_once: Callable[[np.random.Generator], Any],
    n_init: int,
    random_state,
    *,
    objective: Callable[[Any], float],
) -> Any:
    """Run ``fit_once`` ``n_init`` times from one generator and keep the lowest objective.

    Parameters
    ----------
    fit_once : callable
        ``fit_once(rng) -> result``; one complete fit from one initialisation.
    n_init : int
        Number of restarts.
    random_state : None, int or Generator
        Seeds the single generator that every restart draws from.
    objective : callable
        ``objective(result) -> float``, minimised (use the negative log-likelihood for
        likelihood fits). Non-finite objectives lose to every finite one.
    """
    rng = check_rng(random_state)
    best: _Scored | None = None
    for _ in range(n_init):
        result = fit_once(rng)
        value = float(objective(result))
        value = value if np.isfinite(value) else np.inf
        if best is None or value < best.objective:
            best = _Scored(value, result)
    return best.result


# ---------------------------------------------------------------------------------------
# Gaussian mixture kernels (pure functions on validated arrays)
# ---------------------------------------------------------------------------------------


def covariance_cholesky(covariances: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of covariances, with a clear error if one is singular."""
    try:
        return np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        raise NumericalError(
            "a fitted covariance is not positive definite; increase the noise floor "
            "(reg_covar / noise_variance) or decrease n_components"
        ) from None


def gaussian_log_prob(X: np.ndarray, means: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """Log-density of each row of ``X`` under each Gaussian, shape (n_samples, K)."""
    n, d = X.shape
    out = np.empty((n, means.shape[0]))
    for k, (mu, L) in enumerate(zip(means, chol, strict=True)):
        z = solve_triangular(L, (X - mu).T, lower=True)
        logdet = 2.0 * np.sum(np.log(np.diag(L)))
        out[:, k] = -0.5 * (d * _LOG_2PI + logdet + np.sum(z * z, axis=0))
    return out


def mixture_log_resp(X: np.ndarray, weights: np.ndarray, means: np.ndarray, chol: np.ndarray):
    """Return (log p(x_n), log responsibilities) for a Gaussian mixture."""
    with np.errstate(divide="ignore"):
        return normalize_log_joint(gaussian_log_prob(X, means, chol) + np.log(weights))


def normalize_log_joint(weighted: np.ndarray):
    r"""(log p(x_n), log responsibilities) from the log joint :math:`\log \pi_k p_k(x_n)`."""
    log_norm = logsumexp(weighted, axis=1)
    return log_norm, weighted - log_norm[:, None]


def sample_gaussian_mixture(n_samples: int, weights, means, covariances, rng):
    """Draw ``(X, labels)`` from a Gaussian mixture, grouped by component like scikit-learn."""
    counts = rng.multinomial(n_samples, weights / weights.sum())
    chol = covariance_cholesky(covariances)
    X = np.vstack(
        [
            means[k] + rng.standard_normal((c, means.shape[1])) @ chol[k].T
            for k, c in enumerate(counts)
        ]
    )
    labels = np.repeat(np.arange(len(weights)), counts)
    return X, labels


class GaussianMixin:
    """Prediction, scoring and sampling for estimators whose fit is a Gaussian mixture.

    Requires ``weights_``, ``means_``, ``covariances_`` and ``_n_parameters()``.
    """

    def _gaussian_state(self):
        check_is_fitted(self, ["weights_", "means_", "covariances_"])
        return self.weights_, self.means_, covariance_cholesky(self.covariances_)

    def _log_resp(self, X):
        X = check_fit_data(self, X, reset=False)
        return mixture_log_resp(X, *self._gaussian_state())

    def score_samples(self, X) -> np.ndarray:
        """Log-density of each sample under the fitted mixture, shape (n_samples,)."""
        return self._log_resp(X)[0]

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per sample (higher is better)."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X) -> np.ndarray:
        """Posterior probability of each component, shape (n_samples, n_components)."""
        return np.exp(self._log_resp(X)[1])

    def predict(self, X) -> np.ndarray:
        """Most probable component of each sample."""
        return np.argmax(self._log_resp(X)[1], axis=1)

    def sample(self, n_samples: int = 1, random_state=None):
        """Draw samples from the fitted mixture.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
            Component of each draw.
        """
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        check_is_fitted(self, ["weights_", "means_", "covariances_"])
        seed = self.random_state if random_state is None else random_state
        return sample_gaussian_mixture(
            n_samples, self.weights_, self.means_, self.covariances_, check_rng(seed)
        )

    def bic(self, X) -> float:
        """Bayesian information criterion, :math:`-2 \\log L + p \\log n` (lower is better)."""
        X = check_fit_data(self, X, reset=False)
        return -2 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def aic(self, X) -> float:
        """Akaike information criterion, :math:`-2 \\log L + 2p` (lower is better)."""
        X = check_fit_data(self, X, reset=False)
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()
