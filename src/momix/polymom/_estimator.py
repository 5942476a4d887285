"""The Polymom estimator: a thin scikit-learn wrapper around :func:`._fit.polymom`.

``fit`` prepares the rows (:mod:`._inputs`: model, target, standardisation of
:mod:`._scaling`, or two passes over streamed data), fits every grid point of the
profiled constants (:mod:`._profile`), maps the parameters back to the data's units and
optionally refines them by EM (:mod:`._refine`); ``fit_moments`` fits given moments.
"""

from __future__ import annotations

import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._base import MixtureEstimator, sample_gaussian_mixture, warn_not_converged
from .._validation import check_fit_data, check_n_components, check_rng, check_sample_weight
from ..exceptions import NumericalError
from ..moments import is_streaming_source
from ._inputs import (
    check_model_data,
    check_model_size,
    given_moments,
    resolve_model,
    streamed_data,
    streamed_system,
    with_target,
)
from ._model import ComponentModel
from ._moments import empirical_system
from ._profile import ProfiledFit, fit_once, fit_profile
from ._refine import refine_em
from ._scaling import constant_factors, data_scaling, standardizable, unscale_params

__all__ = ["Polymom"]


class Polymom(MixtureEstimator):
    """Mixture of any polynomial-moment component model by SDP moment completion.

    The observed moments :math:`\\hat\\phi_n` are linear in the moments :math:`y` of the
    mixing measure :math:`\\mu = \\sum_k \\pi_k \\delta_{\\theta_k}` on parameter space,

    .. math::

        \\sum_\\alpha a_{n\\alpha} y_\\alpha = \\hat\\phi_n, \\qquad M_r(y) \\succeq 0,

    an SDP completes :math:`y` with a rank-K moment matrix (convex iteration), and the atoms
    :math:`\\theta_k` and weights :math:`\\pi_k` are read off it (Henrion-Lasserre).

    Parameters
    ----------
    model : ComponentModel, default=None
        Component model. ``None``: a diagonal Gaussian of the data's dimension (see
        :func:`momix.polymom.default_model`).
    n_components : int, default=2
    order : int, default=None
        Weighted order r of the moment matrix; ``None`` picks the smallest that holds every
        observed monomial. Too small an explicit order raises ``MonomialError``.
    relaxation : {"least_squares", "exact"}, default="least_squares"
        Moment matching in least squares (paper Problem 9, for sample moments) or as equalities
        (Problem 8, with optional ``slack``; may be infeasible for sample moments).
    penalty : float, default=0.1
        Weight :math:`\\lambda` of the trace (and rank) term in the least-squares relaxation.
        With the default variance weighting the residual is on the chi-square scale, so a fixed
        :math:`\\lambda` shrinks less and less as the sample grows (the paper used 1e-5 on
        unweighted residuals, whose bias does not vanish with T). The trace scales with the
        data: built-in Gaussian and regression models are standardised (``standardize``);
        standardise the data of other models yourself when its scale is far from one.
    slack : float, default=0.0
        Relative slack of the exact relaxation.
    moment_weighting : {"auto", "none", "variance", "covariance", "two_step"} or array-like, \
default="auto"
        Residual weights of the least-squares relaxation (:mod:`momix.polymom._weighting`):
        unweighted, inverse standard errors of the sample moments (diagonal GMM weighting,
        as seed 000), the whitening of their sample covariance (efficient GMM weighting),
        two steps (``"variance"``, then the polish re-weighted by the model-implied
        covariance at its estimate; Gaussian models, ``polish=True``), or one weight per
        observation. ``"auto"`` is ``"none"`` in ``fit_moments`` (no sampling error is known
        there) and in ``fit`` ``"covariance"`` for :class:`LinearRegression`, ``"variance"``
        otherwise, chosen on the paper's table settings (the measured errors are in
        :func:`momix.polymom._profile.resolve_weighting` and ``docs/polymom.md``).
    rank_method : {"convex_iteration", "trace"}, default="convex_iteration"
        How rank K is sought: iterated reweighting (Dattorro) or one trace minimisation.
    solver : str, default="CLARABEL"
        cvxpy solver; on failure ``fallback`` is tried, then ``SolverError`` is raised.
    fallback : str or None, default="SCS"
    max_iter : int, default=50
        Most convex-iteration solves.
    tol : float, default=1e-7
        Rank-gap tolerance (trailing eigenvalues over the trace).
    profile : dict, optional
        ``{constant name: candidate values}``: model constants that are unknown and shared by
        all components (e.g. the ``"variance"`` of ``GaussianSpherical(shared_variance=True)``,
        the ``"noise_variance"`` of ``LinearRegression``) are profiled: Polymom is fitted for
        every combination and the one with the smallest moment residual at rank K is kept
        (``constants_``). The resolution is that of the grid.
    standardize : bool, default=True
        Fit the built-in Gaussian models (without ``mean_sum`` or a shared variance) on
        standardised data :math:`x' = (x - m)/s` (in ``fit_moments``: the moments of
        :math:`x'`, :func:`momix.polymom._scaling.standardize_moments`) and map the
        parameters back exactly,
        :math:`\\xi = m + s\\xi'`, :math:`c = s^2 c'`; likewise linear regressions
        (x and y standardised, scaled only without an intercept; the known noise variance
        divided by :math:`s_y^2`; see :mod:`momix.polymom._scaling`) and Poisson counts
        (divided by their mean where it exceeds 1, through the model's ``unit_d``
        constants, rates mapped back): raw moments of badly scaled data make the SDP
        ill-conditioned and slow. Other models (categorical views, custom models) are
        fitted in the data's units.
    polish : bool, default=True
        Polish the extracted atoms and weights by Gauss-Newton on the weighted moment
        residual, from the SDP's rank-K solution (:mod:`momix.polymom._polish`; our
        extension): the generalised-method-of-moments estimate the relaxation approximates.
        The polish is kept only if it lowers the residual (``polished_``).
    refine : {"em"} or None, default=None
        Warm-started EM after the moment fit (Gaussian, Poisson, regression and categorical
        3-view ``MultiView(simplex=True)`` models, :mod:`momix.polymom._refine`),
        run until the mean log-likelihood rises by less than 1e-6 (scikit-learn's default
        1e-3 stops Gaussian EM after a couple of steps from a moment start). EM fits the
        same model as the moments: means stay on the ``mean_sum`` hyperplane, a shared
        variance stays shared (its refined value goes to ``constants_``) and sample weights
        are used. The start's Gaussian variances are floored at 1/100 of the data's and
        repeated atoms moved apart (a variance at 0 or identical components would trap EM).
    refine_max_iter : int, default=100
    reg_covar : float, default=1e-6
        Added to the variances in ``covariances_`` (Gaussian models).
    random_state : int, Generator or None, default=None
        Seeds the random combination of the extraction.
    verbose : int, default=0

    Attributes
    ----------
    model_ : ComponentModel
    params_ : ndarray of shape (n_components, n_params)
        Columns follow ``model_.param_names`` (Gaussian1D: mean, variance).
    weights_ : ndarray of shape (n_components,)
    flat_extension_ : bool
        Curto-Fialkow certificate: rank M_{r-w} = rank M_r = K.
    ranks_ : tuple of int
    singular_values_ : ndarray
    moment_matrix_ : ndarray of shape (s, s)
        Of the standardised problem when the data were standardised.
    moment_basis_ : ndarray of shape (s, n_params)
    order_ : int
    n_iter_ : int
        SDP solves (plus EM steps when refined).
    converged_ : bool
    polished_ : bool
        Whether the moment polish moved the extracted atoms.
    moment_weighting_ : str
        The weighting used (``"auto"`` resolved; ``"custom"`` for an array).
    data_location_, data_scale_ : ndarray of shape (n_features,)
        The standardisation :math:`x' = (x - m)/s` used by ``fit`` or ``fit_moments``
        (0 and 1 if none).
    means_, covariances_ : ndarray
        Gaussian models only: (K, d) and (K, d, d).

    References
    ----------
    .. [1] S. I. Wang, A. T. Chaganty, P. Liang, "Estimating Mixture Models via Mixtures of
       Polynomials", NIPS 2015.
    """

    _parameter_constraints: dict = {
        "model": [ComponentModel, None],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "order": [Interval(Integral, 1, None, closed="left"), None],
        "relaxation": [StrOptions({"exact", "least_squares"})],
        "penalty": [Interval(Real, 0, None, closed="left")],
        "slack": [Interval(Real, 0, None, closed="left")],
        "moment_weighting": [
            StrOptions({"auto", "none", "variance", "covariance", "two_step"}),
            "array-like",
        ],
        "rank_method": [StrOptions({"convex_iteration", "trace"})],
        "solver": [str],
        "fallback": [str, None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "profile": [dict, None],
        "standardize": ["boolean"],
        "polish": ["boolean"],
        "refine": [StrOptions({"em"}), None],
        "refine_max_iter": [Interval(Integral, 1, None, closed="left")],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    _check_params: dict = {"n_components": 1, "max_iter": 5}
    _expected_failed_checks: dict = {
        "check_sample_weight_equivalence_on_dense_data": (
            "the check fits 30 features; model=None's moment SDP there (P = 60 parameters, "
            "6386 rows) needs an estimated 2.4e4 TiB, over the memory budget, so fit raises "
            "DataError before building it"
        ),
    }

    def __init__(
        self,
        model=None,
        n_components=2,
        *,
        order=None,
        relaxation="least_squares",
        penalty=0.1,
        slack=0.0,
        moment_weighting="auto",
        rank_method="convex_iteration",
        solver="CLARABEL",
        fallback="SCS",
        max_iter=50,
        tol=1e-7,
        profile=None,
        standardize=True,
        polish=True,
        refine=None,
        refine_max_iter=100,
        reg_covar=1e-6,
        random_state=None,
        verbose=0,
    ):
        self.model = model
        self.n_components = n_components
        self.order = order
        self.relaxation = relaxation
        self.penalty = penalty
        self.slack = slack
        self.moment_weighting = moment_weighting
        self.rank_method = rank_method
        self.solver = solver
        self.fallback = fallback
        self.max_iter = max_iter
        self.tol = tol
        self.profile = profile
        self.standardize = standardize
        self.polish = polish
        self.refine = refine
        self.refine_max_iter = refine_max_iter
        self.reg_covar = reg_covar
        self.random_state = random_state
        self.verbose = verbose

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None):
        """Fit from data: empirical moments, SDP, extraction (and EM if ``refine="em"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
            Target, for conditional models (linear regression); ignored otherwise.
        sample_weight : array-like of shape (n_samples,), optional
        """
        self._validate_params()
        if is_streaming_source(X):
            return self._fit_stream(X, y, sample_weight)
        X = check_fit_data(self, X, reset=True)
        check_n_components(self.n_components, X.shape[0])
        sw = check_sample_weight(sample_weight, X.shape[0])
        model = resolve_model(self.model, X.shape[1], self.n_components, self.order)
        Z = with_target(X, y, model)
        check_model_data(Z, sw, model, self.n_components)
        self.model_ = model
        scaling = data_scaling(Z, sw, model) if self.standardize and standardizable(model) else None
        Zs = Z if scaling is None else scaling.transform(Z)
        factors = constant_factors(model, scaling)
        self._fit_profiled(lambda m: empirical_system(m, Zs, sw), from_data=True, factors=factors)
        self._store_scaling(scaling, Z.shape[1])
        if self.refine == "em":
            self._refine(Z, sw)
        self._check_fit()
        return self

    @property
    def _accepts_chunks(self) -> bool:
        """``momix fit`` streams files into :meth:`fit` when no EM refinement is asked."""
        return self.refine is None

    def _fit_stream(self, X, y, sample_weight):
        """Fit from a ``.npy`` path, memory map, dask array or re-readable chunks.

        Two passes (:func:`._inputs.streamed_data`, :func:`._inputs.streamed_system`): the
        standardisation as in memory, then the empirical moment system; memory is one
        chunk. Conditional models (with a target ``y``) and ``refine="em"`` need the data
        in memory and are refused; for other models ``y`` is ignored, as in memory.
        """
        if self.refine is not None:
            raise ValueError("streaming input supports refine=None; load the data for refine='em'")
        data = streamed_data(X, sample_weight, self.model, self.n_components, self.standardize,
                             self.order)
        self.n_features_in_, self.model_ = data.n_features, data.model
        self._fit_profiled(partial(streamed_system, data.source, data.scaling), from_data=True,
                           factors=constant_factors(data.model, data.scaling))
        self._store_scaling(data.scaling, data.n_features)
        self._check_fit()
        return self

    def _store_scaling(self, scaling, n_columns: int) -> None:
        """Record the standardisation and map the parameters back to the data's units."""
        self.data_location_ = np.zeros(n_columns) if scaling is None else scaling.location
        self.data_scale_ = np.ones(n_columns) if scaling is None else scaling.scale
        if scaling is not None:
            self.params_ = unscale_params(self.params_, scaling, self.model_)
            self._set_gaussian_view(self.model_)

    def fit_moments(self, moments):
        """Fit from moments instead of data.

        Parameters
        ----------
        moments : mapping
            ``{observation function: expected value}`` for every observation of the model
            (keys are sympy expressions or their strings, see ``model.moment_keys()``), plus
            the model's auxiliary moments if it has any.
        """
        self._validate_params()
        if self.model is None:
            raise ValueError("fit_moments needs an explicit model")
        if self.refine is not None:
            raise ValueError("refine='em' needs data; use fit(X)")
        check_model_size(self.model, self.n_components, self.order)
        self.model_ = self.model
        make_system, scaling = given_moments(self.model, moments, self.standardize)
        self._fit_profiled(make_system, from_data=False)
        self._store_scaling(scaling, self.model.n_features)
        self._check_fit()
        return self

    def _check_fit(self) -> None:
        """Last step of every fit: Gaussian covariances positive definite and every fitted
        float attribute finite (else :class:`~momix.exceptions.NumericalError`)."""
        if hasattr(self, "covariances_"):
            diag = np.diagonal(self.covariances_, axis1=1, axis2=2)
            if not np.all(diag > 0):
                raise NumericalError(
                    "Polymom fitted a Gaussian component with variance 0 (it sits on a point, "
                    "or its variance underflows in the data's units); set reg_covar > 0 or "
                    "rescale the data"
                )
        self._check_fitted_finite()

    def _fit_profiled(self, make_system, from_data: bool, factors=None) -> None:
        """Fit once, or once per grid point of the profiled constants (keep the best).

        ``factors`` (``{constant name: factor}``) maps constants given in the data's units
        to the standardised units of the fit (a regression's noise variance, see
        :func:`._scaling.constant_factors`); ``model_`` keeps the data's units.
        """
        solve = partial(fit_once, params=self.get_params(deep=False), from_data=from_data)
        best = fit_profile(self.model_, make_system, solve, profile=self.profile, factors=factors)
        self._store_fit(best)
        self._estimated_constants = tuple(sorted(self.profile or {}))  # a tuple: skops-safe
        for w in best.warnings:  # warnings of the kept fit only
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self.constants_ = {s.name: v for s, v in self.model_.constants}

    def _store_fit(self, fit: ProfiledFit) -> None:
        """Fitted attributes of the kept fit (parameters in the units of the fit)."""
        res, self.model_ = fit.result, fit.model
        self.params_, self.weights_ = res.params, res.weights
        self.flat_extension_, self.ranks_ = res.flat_extension, res.ranks
        self.singular_values_, self.moment_matrix_ = res.singular_values, res.moment_matrix
        self.moment_basis_, self.order_ = res.basis, res.order
        self.n_iter_, self.converged_ = res.sdp.n_iter, res.sdp.converged
        self.solver_, self.polished_ = res.sdp.solver, res.polished
        self.moment_weighting_ = fit.weighting if isinstance(fit.weighting, str) else "custom"
        self._residual_ = fit.score  # profile score: moment residual plus the rank gap
        self._set_gaussian_view(fit.fit_model)

    def _set_gaussian_view(self, model) -> None:
        if not hasattr(model, "gaussian_parameters"):
            return
        self.means_, var = model.gaussian_parameters(self.params_)
        self.covariances_ = np.stack([np.diag(v) for v in np.maximum(var, 0) + self.reg_covar])

    def _refine(self, Z, sw) -> None:
        res = refine_em(
            self.model_,
            Z,
            sw,
            self.params_,
            self.weights_,
            max_iter=self.refine_max_iter,
            reg_covar=self.reg_covar,
            rng=check_rng(self.random_state),
        )
        self.params_, self.weights_ = res.params, res.weights
        self.n_iter_, self.converged_ = self.n_iter_ + res.n_iter, res.converged
        if not res.converged:
            warn_not_converged("Polymom EM refinement", "increase refine_max_iter")
        if res.constants:  # a shared parameter re-estimated by EM
            self._estimated_constants = tuple(sorted({*self._estimated_constants, *res.constants}))
            self.model_ = self.model_.with_constants(res.constants)
            self.constants_ = {s.name: v for s, v in self.model_.constants}
        self._set_gaussian_view(self.model_)

    # -- prediction ------------------------------------------------------------------------

    def _log_resp(self, X, y=None):
        check_is_fitted(self, ["params_", "weights_"])
        Z = with_target(check_fit_data(self, X, reset=False), y, self.model_)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            logp = self._component_log_prob(Z) + np.log(self.weights_)[None]
            norm = logsumexp(logp, axis=1)
        if not np.all(np.isfinite(norm)):
            bad = np.flatnonzero(~np.isfinite(norm))
            raise NumericalError(
                f"sample(s) {bad[:5].tolist()} have log-density {norm[bad[0]]} under the fitted "
                f"{self.model_.name} mixture (zero probability under every component, e.g. a "
                "positive count where every fitted Poisson rate is 0)"
            )
        return norm, logp - norm[:, None]

    def _component_log_prob(self, Z):
        if hasattr(self, "covariances_"):
            var = np.stack([np.diag(c) for c in self.covariances_])
            diff = Z[:, None, :] - self.means_[None]
            return -0.5 * np.sum(np.log(2 * np.pi * var)[None] + diff**2 / var[None], axis=2)
        return self.model_.log_prob(Z, self.params_)

    def score_samples(self, X, y=None) -> np.ndarray:
        """Log-density of each sample under the fitted mixture, shape (n_samples,).

        Models that use a target (:class:`LinearRegression`) need ``y``: the conditional
        density :math:`\\log p(y \\mid x)`. Models without a likelihood raise
        ``ValueError``; a sample of probability 0 under every component raises
        :class:`~momix.exceptions.NumericalError`.
        """
        return self._log_resp(X, y)[0]

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per sample (higher is better)."""
        return float(np.mean(self.score_samples(X, y)))

    def predict_proba(self, X, y=None) -> np.ndarray:
        """Posterior probability of each component, shape (n_samples, n_components)."""
        proba = np.exp(self._log_resp(X, y)[1])
        return proba / proba.sum(axis=1, keepdims=True)  # rows sum to 1 to the last bit

    def predict(self, X, y=None) -> np.ndarray:
        """Most probable component of each sample."""
        return np.argmax(self._log_resp(X, y)[1], axis=1)

    def fit_predict(self, X, y=None, **fit_params) -> np.ndarray:
        """Fit, then the most probable component of each sample (``y`` is passed to both,
        as regression models need it)."""
        return self.fit(X, y, **fit_params).predict(X, y)

    def _n_parameters(self) -> int:
        """Free parameters: per component the model's parameters less its equalities
        (``mean_sum``, the simplex of categorical views), the K - 1 free weights, and the
        shared constants estimated from the data (profiled, or refined by EM)."""
        k = len(self.weights_)
        free = self.model_.n_params - len(self.model_.equalities)
        return k * free + k - 1 + len(getattr(self, "_estimated_constants", ()))

    def bic(self, X, y=None) -> float:
        """Bayesian information criterion :math:`-2 \\log L + p \\log n` on ``X`` (and
        ``y`` for regression models); lower is better.

        :math:`p` is :meth:`_n_parameters`. Needs a model with a likelihood (Gaussian,
        Poisson, linear regression, ``MultiView(simplex=True)``); other models raise
        ``ValueError`` naming why.
        """
        ll = self.score_samples(X, y)
        return float(-2 * np.sum(ll) + self._n_parameters() * np.log(len(ll)))

    def aic(self, X, y=None) -> float:
        """Akaike information criterion :math:`-2 \\log L + 2p` (as :meth:`bic`)."""
        ll = self.score_samples(X, y)
        return float(-2 * np.sum(ll) + 2 * self._n_parameters())

    def sample(self, n_samples: int = 1, random_state=None):
        """Draw ``(X, labels)`` from a fitted Gaussian mixture (Gaussian models only)."""
        check_is_fitted(self, ["params_", "weights_"])
        if not hasattr(self, "covariances_"):
            raise ValueError(
                f"sample draws from Gaussian models; the {self.model_.name} model has no sampler"
            )
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        rng = check_rng(self.random_state if random_state is None else random_state)
        return sample_gaussian_mixture(
            n_samples, self.weights_, self.means_, self.covariances_, rng
        )
