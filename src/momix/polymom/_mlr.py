"""Mixture of linear regressions: Polymom start, then EM (the model of R's flexmix)."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._base import MixtureEstimator, warn_not_converged
from .._validation import check_fit_data, check_n_components, check_rng, check_sample_weight
from ..exceptions import DataError
from ._budget import MAX_TERMS, check_sdp_size, counted_order, regression_derivation, sdp_size
from ._builtin import LinearRegression
from ._em import regression_em, regression_log_prob
from ._fit import polymom
from ._moments import empirical_system

__all__ = ["MixtureOfLinearRegressions"]

#: noise levels tried by the Polymom start, as fractions of the least-squares residual variance
_NOISE_GRID = (0.0, 0.25, 0.5, 0.75)


def _standardize(X, y, sw):
    w = sw / sw.sum()
    mx, my = w @ X, float(w @ y)
    sx = np.sqrt(w @ (X - mx) ** 2)
    sx = np.where(sx > 0, sx, 1.0)
    sy = float(np.sqrt(w @ (y - my) ** 2)) or 1.0
    return (X - mx) / sx, (y - my) / sy, (mx, sx, my, sy)


def _ols_residual_variance(X, y, sw) -> float:
    design = np.column_stack([X, np.ones(len(y))]) * np.sqrt(sw)[:, None]
    beta, *_ = np.linalg.lstsq(design, y * np.sqrt(sw), rcond=None)
    resid = y - np.column_stack([X, np.ones(len(y))]) @ beta
    return float(sw @ resid**2 / sw.sum())


def check_start_size(n_features: int, n_components: int, x_order: int, y_order: int) -> None:
    """Refuse a Polymom start whose derivation or moment SDP is too large, before the
    regression model is derived: more than ``MAX_TERMS`` sympy terms
    (:func:`momix.polymom._budget.regression_derivation`; 7 features pass, 8 do not with
    the default orders) or an SDP over the memory budget
    (:func:`momix.polymom._budget.check_sdp_size`): the coefficients and intercept
    (P = d + 1, unit degree weights), moments of degree ``y_order`` in them,
    ``C(d + x_order, x_order) * y_order`` observations."""
    n_obs, n_terms = regression_derivation(n_features, x_order, y_order, True)
    if n_terms > MAX_TERMS:
        raise DataError(
            f"the Polymom start of a regression on {n_features} features would derive "
            f"{n_terms} moment terms with sympy, more than the {MAX_TERMS} momix derives "
            "(about 30 s); use init='random', fewer features or lower x_order/y_order")
    weights = (1,) * (n_features + 1)
    size = sdp_size(weights, counted_order(weights, y_order, n_components),
                    n_observations=n_obs)
    check_sdp_size(size, what=f"the Polymom start (a linear regression in R^{n_features})",
                   n_components=n_components, advice="or use init='random'")


def polymom_regression_start(X, y, sw, n_components, *, noise_variance, x_order, y_order,
                             solver, rng, moment_weighting="covariance", penalty=0.1,
                             polish=True):
    """Polymom estimate (coef (K, d), intercept (K,), weights (K,), noise variance) on
    standardized data, mapped back to the original units.

    With ``noise_variance=None`` the (shared, known-in-the-model) noise variance is profiled
    over fractions ``_NOISE_GRID`` of the least-squares residual variance, keeping the fit with
    the smallest moment residual; only the kept fit's warnings are re-emitted.

    The default settings are Polymom's for regressions: covariance weighting,
    :math:`\\lambda = 0.1` and the moment polish. Chosen on 12 models (seeds 100-111,
    T = 1e4, K = D = 2, noise variance 0.1 and 1; ``benchmarks/polymom_studies.py
    --mlr-start``) against the previous start (diagonal weighting,
    :math:`\\lambda = 10^{-3}`, no polish), whose coefficient errors reached 141 to 4935 on
    2 or 3 of the 12 models and spoiled the EM that followed (see ``docs/polymom.md``).
    """
    Xs, ys, (mx, sx, my, sy) = _standardize(X, y, sw)
    if noise_variance is None:
        resid = _ols_residual_variance(Xs, ys, sw)
        grid = [f * resid for f in _NOISE_GRID]
    else:
        grid = [noise_variance / sy**2]
    Z = np.column_stack([Xs, ys])
    best = None
    base = LinearRegression(X.shape[1], 0.0, x_order=x_order, y_order=y_order, fit_intercept=True)
    for s2 in grid:
        model = base.with_constants({"noise_variance": s2})
        system = empirical_system(model, Z, sw)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = polymom(model, system, n_components, rng=rng,
                          moment_weighting=moment_weighting, relaxation="least_squares",
                          penalty=penalty, polish=polish, solver=solver)
        if best is None or res.sdp.residual < best[0].sdp.residual:
            best = (res, s2, caught)
    res, s2, caught = best
    for w in caught:  # warnings of the kept fit only, not one per noise level
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    d = X.shape[1]
    coef = res.params[:, :d] * sy / sx[None]
    intercept = my + sy * res.params[:, d] - coef @ mx
    return coef, intercept, res.weights, max(s2, 1e-3) * sy**2


class MixtureOfLinearRegressions(MixtureEstimator):
    """Mixture of linear regressions, :math:`y | x, z=k \\sim N(w_k^\\top x + b_k, \\sigma_k^2)`.

    Fitted by EM with per-component noise (De Veaux 1989), started from Polymom
    (``init="polymom"``: the moments :math:`\\mathbb{E}[x^\\alpha y^m]` of standardized data,
    SDP completion, extraction) or from random responsibilities (``init="random"``, best of
    ``n_init`` runs).

    Parameters
    ----------
    n_components : int, default=2
    init : {"polymom", "random"}, default="polymom"
    fit_intercept : bool, default=True
    noise_variance : float, optional
        Noise variance assumed by the Polymom start (the moment model needs it known).
        ``None`` profiles it over a grid of fractions of the least-squares residual variance.
    x_order, y_order : int, default=2, 3
        Observation functions :math:`x^\\alpha y^m`, :math:`|\\alpha| \\le` x_order,
        :math:`1 \\le m \\le` y_order.
    max_iter : int, default=200
    tol : float, default=1e-6
        EM stops when the mean log-likelihood rises by less.
    n_init : int, default=1
        Random starts (``init="random"`` only).
    solver : str, default="CLARABEL"
    random_state : int, Generator or None
    verbose : int, default=0

    Attributes
    ----------
    coef_ : ndarray of shape (n_components, n_features)
    intercept_ : ndarray of shape (n_components,)
    noise_variance_ : ndarray of shape (n_components,)
    weights_ : ndarray of shape (n_components,)
    init_coef_, init_intercept_ : ndarray
        The starting point (Polymom or random).
    lower_bound_ : float
        Final mean log-likelihood.
    n_iter_ : int
    converged_ : bool

    References
    ----------
    .. [1] R. D. De Veaux, "Mixtures of linear regressions", Comput. Stat. Data Anal. 8 (1989).
    .. [2] S. I. Wang, A. T. Chaganty, P. Liang, "Estimating Mixture Models via Mixtures of
       Polynomials", NIPS 2015.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"polymom", "random"})],
        "fit_intercept": ["boolean"],
        "noise_variance": [Interval(Real, 0, None, closed="left"), None],
        "x_order": [Interval(Integral, 1, None, closed="left")],
        "y_order": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "solver": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    # the API checks use random starts: the Polymom start is covered by tests/polymom, and
    # several checks fit 10-30 features, where its SDP takes minutes
    _check_params: dict = {"n_components": 2, "init": "random", "max_iter": 20}
    _expected_failed_checks: dict = {
        "check_sample_weight_equivalence_on_dense_data":
            "with init='random' the starting responsibilities are drawn per row, so a row of "
            "weight 3 and three repeated rows start differently",
    }

    def __init__(self, n_components=2, *, init="polymom", fit_intercept=True,
                 noise_variance=None, x_order=2, y_order=3, max_iter=200, tol=1e-6, n_init=1,
                 solver="CLARABEL", random_state=None, verbose=0):
        self.n_components = n_components
        self.init = init
        self.fit_intercept = fit_intercept
        self.noise_variance = noise_variance
        self.x_order = x_order
        self.y_order = y_order
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.solver = solver
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _check_Xy(self, X, y, reset):
        X = check_fit_data(self, X, reset=reset)
        if y is None:
            raise DataError("MixtureOfLinearRegressions requires y to be passed, but the target y "
                            "is None; pass (X, y)")
        y = np.asarray(y, dtype=float).reshape(-1)
        if y.shape[0] != X.shape[0]:
            raise DataError(f"y has {y.shape[0]} values for {X.shape[0]} rows of X")
        if not np.all(np.isfinite(y)):
            raise DataError("y contains NaN or infinite values")
        return X, y

    def _start(self, X, y, sw, rng):
        k = self.n_components
        if self.init == "polymom":
            check_start_size(X.shape[1], k, self.x_order, self.y_order)
            return polymom_regression_start(
                X, y, sw, k, noise_variance=self.noise_variance, x_order=self.x_order,
                y_order=self.y_order, solver=self.solver, rng=rng)
        resp = rng.dirichlet(np.ones(k), size=X.shape[0])
        from ._em import _regression_m_step

        coef, icpt, var, w = _regression_m_step(X, y, resp, sw, self.fit_intercept,
                                                1e-8 * max(float(np.var(y)), 1e-300))
        return coef, icpt, w, var

    def fit(self, X, y=None, sample_weight=None):
        """Fit the mixture of regressions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        """
        self._validate_params()
        X, y = self._check_Xy(X, y, reset=True)
        check_n_components(self.n_components, X.shape[0])
        if X.shape[0] < 2:
            raise DataError("MixtureOfLinearRegressions needs at least 2 samples, got "
                            "n_samples=1")
        sw = check_sample_weight(sample_weight, X.shape[0])
        rng = check_rng(self.random_state)
        best = None
        for _ in range(self.n_init if self.init == "random" else 1):
            coef, icpt, w, var = self._start(X, y, sw, rng)
            if not self.fit_intercept:
                icpt = np.zeros_like(icpt)
            var = np.broadcast_to(np.asarray(var, float), (self.n_components,))
            res = regression_em(X, y, coef, icpt, var, w, sample_weight=sw,
                                fit_intercept=self.fit_intercept, max_iter=self.max_iter,
                                tol=self.tol)
            if best is None or res.log_likelihood[-1] > best[0].log_likelihood[-1]:
                best = (res, coef, icpt)
        res, self.init_coef_, self.init_intercept_ = best
        self.coef_, self.intercept_ = res.coef, res.intercept
        self.noise_variance_, self.weights_ = res.noise_variance, res.weights
        self.lower_bound_ = float(res.log_likelihood[-1])
        self.n_iter_, self.converged_ = res.n_iter, res.converged
        if not res.converged and self.max_iter > 0:
            warn_not_converged("MixtureOfLinearRegressions EM", "increase max_iter or tol")
        return self

    def _log_resp(self, X, y):
        check_is_fitted(self, ["coef_"])
        X, y = self._check_Xy(X, y, reset=False)  # X first: n_features_in_ is checked
        with np.errstate(divide="ignore"):
            logp = (regression_log_prob(X, y, self.coef_, self.intercept_, self.noise_variance_)
                    + np.log(self.weights_)[None])
        norm = logsumexp(logp, axis=1)
        return norm, logp - norm[:, None]

    def predict(self, X) -> np.ndarray:
        """Conditional mean :math:`\\mathbb{E}[y \\mid x] = \\sum_k \\pi_k (w_k^\\top x + b_k)`."""
        check_is_fitted(self, ["coef_"])
        X = check_fit_data(self, X, reset=False)
        return (X @ self.coef_.T + self.intercept_[None]) @ self.weights_

    def predict_components(self, X) -> np.ndarray:
        """Prediction of every component, shape (n_samples, n_components)."""
        check_is_fitted(self, ["coef_"])
        X = check_fit_data(self, X, reset=False)
        return X @ self.coef_.T + self.intercept_[None]

    def predict_proba(self, X, y=None) -> np.ndarray:
        """Posterior component probabilities, shape (n_samples, n_components).

        Given (x, y) this is :math:`P(z = k \\mid x, y)`; given x alone it is
        :math:`P(z = k \\mid x) = \\pi_k`, since the component does not depend on x.
        """
        if y is None:
            check_is_fitted(self, ["coef_"])
            X = check_fit_data(self, X, reset=False)
            return np.tile(self.weights_, (X.shape[0], 1))
        return np.exp(self._log_resp(X, y)[1])

    def conditional_log_likelihood(self, X, y) -> np.ndarray:
        """:math:`\\log p(y_n \\mid x_n)` of each sample, shape (n_samples,)."""
        return self._log_resp(X, y)[0]

    def score(self, X, y=None, sample_weight=None) -> float:
        """Mean conditional log-likelihood :math:`\\log p(y \\mid x)` (higher is better)."""
        ll = self.conditional_log_likelihood(X, y)
        return float(np.average(ll, weights=sample_weight))
