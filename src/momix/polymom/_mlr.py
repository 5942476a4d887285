"""Mixture of linear regressions: Polymom start, then EM (the model of R's flexmix)."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._base import MixtureEstimator, warn_not_converged
from .._validation import (
    check_distinct_rows,
    check_fit_data,
    check_magnitude,
    check_n_components,
    check_rng,
    check_sample_weight,
)
from ..exceptions import DataError, MomixWarning, NumericalError, SolverError
from . import _sdp
from ._budget import MAX_TERMS, check_sdp_size, counted_order, regression_derivation, sdp_size
from ._builtin import LinearRegression
from ._em import regression_em, regression_log_prob
from ._fit import polymom
from ._moments import empirical_system
from ._scaling import regression_from_scaled, regression_scaling, weighted_spread

__all__ = ["MixtureOfLinearRegressions"]

#: noise levels tried by the Polymom start, as fractions of the least-squares residual variance
_NOISE_GRID = (0.0, 0.25, 0.5, 0.75)


def _standardize(X, y, sw):
    """Centre and scale ``X`` and ``y`` (:func:`._scaling.regression_scaling`, computed
    without underflow for tiny magnitudes)."""
    sc = regression_scaling(np.column_stack([X, y]), sw, fit_intercept=True)
    Zs = sc.transform(np.column_stack([X, y]))
    return (
        Zs[:, :-1],
        Zs[:, -1],
        (sc.location[:-1], sc.scale[:-1], float(sc.location[-1]), float(sc.scale[-1])),
    )


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
    budget = _sdp.FALLBACK_TIME_BUDGET  # the fallback solver's seconds, shared by the grid
    for s2 in grid:
        model = base.with_constants({"noise_variance": s2})
        system = empirical_system(model, Z, sw)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res = polymom(model, system, n_components, rng=rng,
                              moment_weighting=moment_weighting, relaxation="least_squares",
                              penalty=penalty, polish=polish, solver=solver,
                              fallback_budget=budget)
            except SolverError:
                if best is None:
                    raise
                continue  # this noise level is not solvable within what is left
        budget -= res.sdp.fallback_seconds
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
    SDP completion, extraction) or from random regressions (``init="random"``: standard
    normal coefficients and intercepts on the standardised scale, unit noise, equal weights;
    best of ``n_init`` runs). The start is drawn per component, never per row, so a sample
    weight of 2 fits exactly as the row repeated.

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

    def _check_Xy(self, X, y, reset, what="MixtureOfLinearRegressions"):
        X = check_fit_data(self, X, reset=reset)
        if y is None:
            raise DataError(
                f"{what} requires y to be passed, but the target y is None; pass (X, y)"
            )
        try:
            y = np.asarray(y, dtype=float).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise DataError(f"y must be numeric: {exc}") from None
        if y.shape[0] != X.shape[0]:
            raise DataError(f"y has {y.shape[0]} values for {X.shape[0]} rows of X")
        if not np.all(np.isfinite(y)):
            raise DataError("y contains NaN or infinite values")
        return X, check_magnitude(y, name="y")

    def _start(self, X, y, sw, rng):
        """Start in the standardised units of ``fit``: (coef, intercept, weights, noise)."""
        k = self.n_components
        if self.init == "polymom":
            check_start_size(X.shape[1], k, self.x_order, self.y_order)
            noise = None if self.noise_variance is None else self.noise_variance / self._sy2
            return polymom_regression_start(
                X,
                y,
                sw,
                k,
                noise_variance=noise,
                x_order=self.x_order,
                y_order=self.y_order,
                solver=self.solver,
                rng=rng,
            )
        # standard normal coefficients and intercepts on the standardised scale, unit noise,
        # equal weights: drawn per component, not per row, so a row of weight 2 and the row
        # repeated start (and end) alike
        coef = rng.standard_normal((k, X.shape[1]))
        icpt = rng.standard_normal(k) if self.fit_intercept else np.zeros(k)
        return coef, icpt, np.full(k, 1.0 / k), np.ones(k)

    def fit(self, X, y=None, sample_weight=None):
        """Fit the mixture of regressions.

        The data are standardised first (``x`` and ``y`` centred with an intercept, scaled
        by their weighted spread; only scaled without), the start and the EM run there and
        the parameters are mapped back exactly (:mod:`momix.polymom._scaling`): covariates
        offset by 1e8 or values near 1e-300 fit as well as unit-scale data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            Relative weights (rescaled to mean 1: a uniform scale changes nothing; a weight
            of 2 counts a row twice).

        Raises
        ------
        DataError
            Without ``y``; for fewer distinct rows of ``X`` of positive weight than
            ``n_components``; for a constant ``y`` (every component would fit it exactly: the
            likelihood is unbounded); for a Polymom start too large to derive or solve.
        NumericalError
            If a fitted parameter is not finite, or a noise variance underflows to 0 in the
            units of ``y``.
        """
        self._validate_params()
        X, y = self._check_Xy(X, y, reset=True)
        check_n_components(self.n_components, X.shape[0])
        if X.shape[0] < 2:
            raise DataError("MixtureOfLinearRegressions needs at least 2 samples, got "
                            "n_samples=1")
        sw = check_sample_weight(sample_weight, X.shape[0])
        Z = np.column_stack([X, y])
        # fewer distinct covariate rows than components: the regressions are not identified
        check_distinct_rows(X[sw > 0], self.n_components, name="X (rows of positive weight)")
        _, spread, magnitude = weighted_spread(y[:, None], sw)
        if spread[0] <= 1e-10 * magnitude[0]:
            raise DataError(
                "y is constant (among the rows of positive weight): every "
                "component fits it exactly and the likelihood is unbounded"
            )
        scaling = regression_scaling(Z, sw, fit_intercept=self.fit_intercept)
        sy = float(scaling.scale[-1])
        Zs = scaling.transform(Z)
        Xs, ys = Zs[:, :-1], Zs[:, -1]
        self._sy2 = sy**2
        rng = check_rng(self.random_state)
        best = None
        for _ in range(self.n_init if self.init == "random" else 1):
            coef, icpt, w, var = self._start(Xs, ys, sw, rng)
            if not self.fit_intercept:
                icpt = np.zeros_like(icpt)
            var = np.broadcast_to(np.asarray(var, float), (self.n_components,))
            res = regression_em(
                Xs,
                ys,
                coef,
                icpt,
                var,
                w,
                sample_weight=sw,
                fit_intercept=self.fit_intercept,
                max_iter=self.max_iter,
                tol=self.tol,
            )
            if best is None or res.log_likelihood[-1] > best[0].log_likelihood[-1]:
                best = (res, coef, icpt)
        res, coef0, icpt0 = best
        self.init_coef_, self.init_intercept_ = regression_from_scaled(coef0, icpt0, scaling)
        self.coef_, self.intercept_ = regression_from_scaled(res.coef, res.intercept, scaling)
        self.noise_variance_ = res.noise_variance * sy**2
        self.weights_ = res.weights
        self.lower_bound_ = float(res.log_likelihood[-1]) - np.log(sy)  # density of y, not y'
        self.n_iter_, self.converged_ = res.n_iter, res.converged
        if not np.all(self.noise_variance_ > 0):
            raise NumericalError(
                "a fitted noise variance underflows to 0 in the units of y (|y| near "
                f"{float(np.max(np.abs(y))):.1e}); rescale y"
            )
        self._check_fitted_finite()
        if not res.converged and self.max_iter > 0:
            warn_not_converged("MixtureOfLinearRegressions EM", "increase max_iter or tol")
        return self

    def _log_resp(self, X, y, what="MixtureOfLinearRegressions"):
        check_is_fitted(self, ["coef_"])
        X, y = self._check_Xy(X, y, reset=False, what=what)  # X first: n_features_in_
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            logp = (
                regression_log_prob(X, y, self.coef_, self.intercept_, self.noise_variance_)
                + np.log(self.weights_)[None]
            )
            norm = logsumexp(logp, axis=1)
        if not np.all(np.isfinite(norm)):
            bad = np.flatnonzero(~np.isfinite(norm))
            raise NumericalError(
                f"the conditional density of sample(s) {bad[:5].tolist()} "
                "is not finite under the fitted mixture (residuals beyond "
                "float range); rescale X and y"
            )
        return norm, logp - norm[:, None]

    def predict(self, X) -> np.ndarray:
        """Conditional mean :math:`\\mathbb{E}[y \\mid x] = \\sum_k \\pi_k (w_k^\\top x + b_k)`.

        Not component labels: those come from :meth:`fit_predict` or the posterior
        :meth:`predict_proba` given ``(X, y)``.
        """
        check_is_fitted(self, ["coef_"])
        X = check_fit_data(self, X, reset=False)
        return (X @ self.coef_.T + self.intercept_[None]) @ self.weights_

    def predict_components(self, X) -> np.ndarray:
        """Prediction of every component, shape (n_samples, n_components)."""
        check_is_fitted(self, ["coef_"])
        X = check_fit_data(self, X, reset=False)
        return X @ self.coef_.T + self.intercept_[None]

    def predict_proba(self, X, y=None) -> np.ndarray:
        """Component probabilities, shape (n_samples, n_components).

        **Pass y for the posterior.** Given ``(X, y)`` this is the posterior
        :math:`P(z = k \\mid x, y)`. Given ``X`` alone it is :math:`P(z = k \\mid x)`, which
        in this model is the prior :math:`\\pi_k` (``weights_``) for **every row**: the
        component does not depend on x. That call is kept for scikit-learn's API (its
        checks call ``predict_proba(X)``) and warns.

        Warns
        -----
        MomixWarning
            When ``y`` is None: the rows are the prior, not a posterior.
        """
        if y is None:
            check_is_fitted(self, ["coef_"])
            X = check_fit_data(self, X, reset=False)
            warnings.warn(
                "MixtureOfLinearRegressions.predict_proba(X) without y returns the "
                "prior weights_ for every row (the component does not depend on x); "
                "pass y for the posterior P(z = k | x, y)",
                MomixWarning,
                stacklevel=2,
            )
            return np.tile(self.weights_, (X.shape[0], 1))
        proba = np.exp(self._log_resp(X, y, "predict_proba")[1])
        return proba / proba.sum(axis=1, keepdims=True)  # rows sum to 1 to the last bit

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit, then the component of each sample: the argmax of the posterior
        :math:`P(z = k \\mid x, y)` (``predict`` is the regression :math:`E[y \\mid x]`)."""
        self.fit(X, y, sample_weight=sample_weight)
        return np.argmax(self._log_resp(X, y)[1], axis=1)

    def conditional_log_likelihood(self, X, y) -> np.ndarray:
        """:math:`\\log p(y_n \\mid x_n)` of each sample, shape (n_samples,)."""
        return self._log_resp(X, y)[0]

    def score(self, X, y=None, sample_weight=None) -> float:
        """Mean conditional log-likelihood :math:`\\log p(y \\mid x)` (higher is better),
        weighted by ``sample_weight`` if given."""
        ll = self.conditional_log_likelihood(X, y)
        if sample_weight is None:
            return float(np.mean(ll))
        return float(np.average(ll, weights=check_sample_weight(sample_weight, len(ll))))

    def _n_parameters(self) -> int:
        """Per component the coefficients, the intercept (if fitted) and the noise
        variance, plus the K - 1 free weights."""
        k, d = self.coef_.shape
        return k * (d + int(self.fit_intercept) + 1) + k - 1

    def bic(self, X, y=None) -> float:
        """Bayesian information criterion :math:`-2 \\sum_n \\log p(y_n \\mid x_n) + p
        \\log n` (lower is better), :math:`p` = :meth:`_n_parameters`."""
        ll = self._log_resp(X, y, "bic")[0]
        return float(-2 * np.sum(ll) + self._n_parameters() * np.log(len(ll)))

    def aic(self, X, y=None) -> float:
        """Akaike information criterion :math:`-2 \\sum_n \\log p(y_n \\mid x_n) + 2p`."""
        ll = self._log_resp(X, y, "aic")[0]
        return float(-2 * np.sum(ll) + 2 * self._n_parameters())

    def sample(self, n_samples: int = 1, X=None, random_state=None):
        """Draw responses (and components) at given covariates.

        The model describes :math:`y` given :math:`x` only, so the covariates are an input:
        row i of the output is drawn at ``X[i]`` (a single row of ``X`` is used for every
        draw): :math:`z_i \\sim \\pi`, :math:`y_i \\sim N(w_{z_i}^\\top x_i + b_{z_i},
        \\sigma_{z_i}^2)`.

        Parameters
        ----------
        n_samples : int, default=1
            Draws; ``X`` has this many rows, or one.
        X : array-like of shape (n_samples, n_features) or (1, n_features)
            Covariates (required).
        random_state : int, Generator or None
            Default: the estimator's ``random_state``.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        labels : ndarray of shape (n_samples,)
            Component of each draw.
        """
        check_is_fitted(self, ["coef_"])
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        if X is None:
            raise DataError(
                "MixtureOfLinearRegressions.sample draws y given x: pass the "
                "covariates, sample(n_samples, X=X)"
            )
        X = check_fit_data(self, X, reset=False)
        if X.shape[0] not in (1, n_samples):
            raise DataError(
                f"X has {X.shape[0]} rows; sample(n_samples={n_samples}) needs "
                f"{n_samples} rows (one per draw) or one"
            )
        X = np.broadcast_to(X, (n_samples, X.shape[1]))
        rng = check_rng(self.random_state if random_state is None else random_state)
        weights = self.weights_ / self.weights_.sum()
        labels = rng.choice(len(weights), size=n_samples, p=weights)
        mean = np.sum(X * self.coef_[labels], axis=1) + self.intercept_[labels]
        y = mean + np.sqrt(self.noise_variance_[labels]) * rng.standard_normal(n_samples)
        return y, labels
