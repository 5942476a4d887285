r"""``momix.mixture.GaussianMixture``: scikit-learn's Gaussian mixture on momix's EM engine.

Same parameters (names, order, defaults and meaning), attributes (shapes and conventions) and
methods as :class:`sklearn.mixture.GaussianMixture`, fitted by :mod:`momix.em`, plus

* ``sample_weight`` in ``fit``, ``fit_predict``, ``score``, ``bic`` and ``aic`` (frequency
  weights: a weight of 2 is the row twice, and a uniform scale of the weights changes no
  fit);
* ``accelerate=True``: monotone SQUAREM (fewer passes to the same optimum);
* ``floor``: ``"add"`` (scikit-learn's absolute ``reg_covar``) or ``"clip"`` (eigenvalues
  raised to ``reg_covar`` times the data's mean variance: scale-equivariant and monotone);
* no "ill-defined empirical covariance" error: a singular covariance is repaired by the
  engine's numeric safety net and reported by a :class:`momix.em.DegenerateComponentWarning`
  naming ``reg_covar`` and ``n_components``.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import MixtureEstimator, warn_not_converged
from ._validation import (
    check_fit_data,
    check_rng,
    check_sample_weight,
    count_distinct_rows,
)
from .em import (
    DegenerateComponentWarning,
    EMData,
    EMResult,
    GaussianFamily,
    GaussianParams,
    complete_data_params,
    evaluate,
    fit_em,
)
from .em._pass import blas_one_thread, log_joint
from .exceptions import DataError

__all__ = ["GaussianMixture"]

#: initialisation routes (the moment start and the screened search are not part of this class
#: yet)
INIT_ROUTES = ("kmeans", "k-means++", "random", "random_from_data")

#: smallest data variance (or absolute floor) whose covariances and precisions float64 holds
_MIN_SCALE2 = 1e-280


def _nearest(Xs: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre of every row (squared Euclidean; ties to the first)."""
    labels = np.empty(Xs.shape[0], dtype=np.intp)
    c2 = np.sum(centers * centers, axis=1)
    for start in range(0, Xs.shape[0], 8192):
        B = Xs[start : start + 8192]
        labels[start : start + 8192] = np.argmin(c2 - 2.0 * B @ centers.T, axis=1)
    return labels


def _weighted_distinct_rows(Xs: np.ndarray, w: np.ndarray, k: int, rng) -> np.ndarray:
    """``k`` rows drawn by inverse CDF on the weights, without repeating a value.

    Every draw is one uniform mapped through the cumulative weights in row order; the rows
    equal to a drawn row then get weight zero. When fewer than ``k`` distinct rows of
    positive weight exist, later draws use the original weights again (repeats allowed).
    """
    left = w.copy()
    chosen = []
    for _ in range(k):
        if not left.sum() > 0:
            left = w.copy()
        cum = np.cumsum(left)
        i = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
        i = min(i, len(w) - 1)
        chosen.append(i)
        left[np.all(Xs == Xs[i], axis=1)] = 0.0
    return np.asarray(chosen)


class GaussianMixture(MixtureEstimator):
    r"""Gaussian mixture fitted by momix's EM engine: a drop-in for scikit-learn's.

    The model is :math:`p(x) = \sum_k \pi_k N(x;\mu_k,\Sigma_k)`. Each EM iteration is one pass
    over the data in blocks of rows (no :math:`N\times K` array is kept): the E-step in log
    space, then the weighted MLE of :math:`(\pi, \mu, \Sigma)` from statistics anchored at the
    current means and, for full and tied covariances, whitened by them (one GEMM per block
    for all components). See :mod:`momix.em` and ``docs/em.md``.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        As scikit-learn: one full covariance per component, one shared full covariance,
        one diagonal per component, or one variance per component.
    tol : float, default=1e-3
        Stop when the change of the mean log-likelihood between iterations is below.
    reg_covar : float, default=1e-6
        Covariance floor (see ``floor``).
    max_iter : int, default=100
        Most EM iterations (passes over the data) per initialisation. ``0`` returns the
        start; its ``lower_bound_`` is then the start's mean log-likelihood (scikit-learn
        leaves ``-inf``).
    n_init : int, default=1
        Initialisations; the fit with the largest ``lower_bound_`` is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        Start route. ``'kmeans'``: labels of scikit-learn's ``KMeans`` (``n_init=1``,
        weighted). ``'k-means++'``: weighted :math:`D^2` seeding, then every row assigned to
        its nearest seed. ``'random_from_data'``: K distinct rows drawn with probability
        proportional to their weight, then the same assignment. ``'random'``: uniform random
        responsibilities (all components start near the data's mean). The start is the
        weighted MLE given these labels or responsibilities (scikit-learn's k-means++ and
        random_from_data starts instead put one row in each component, so their first
        covariances are ``reg_covar * I``). The data are standardised (centred, divided by
        their mean standard deviation) for the routes, which does not change them in exact
        arithmetic.
    weights_init : array-like of shape (n_components,), default=None
        Initial weights (non-negative, summing to one; renormalised exactly).
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        Initial precisions, scikit-learn's shapes by ``covariance_type``. With all three
        ``*_init`` given the start is that single point; otherwise the route's start with the
        given parts replaced (scikit-learn's semantics).
    random_state : int, RandomState, Generator or None, default=None
        Seeds the routes (one generator per fit; each initialisation draws its own seed).
    warm_start : bool, default=False
        Continue from the previous fit (one initialisation, the first change measured from
        the previous ``lower_bound_``).
    verbose : int, default=0
        1: one line per initialisation; 2: also every ``verbose_interval`` iterations.
    verbose_interval : int, default=10
    accelerate : bool, default=True
        Monotone SQUAREM (Varadhan & Roland 2008): an extrapolation in the unconstrained
        parameters kept only when it raises the likelihood. Same optimum in fewer passes;
        ``n_iter_`` counts passes and ``lower_bounds_`` holds the accepted values only.
        ``False`` reproduces scikit-learn's iterations.
    floor : {'add', 'clip'}, default='add'
        ``'add'``: :math:`\Sigma_k = S_k + \text{reg\_covar}\,I` (scikit-learn's absolute
        floor; not monotone, not scale-equivariant). ``'clip'``: every eigenvalue (variance)
        of :math:`S_k` raised to :math:`\varepsilon = \text{reg\_covar}\cdot\bar s^2`,
        :math:`\bar s^2` the data's mean variance: the exact constrained MLE, so the
        likelihood never decreases and :math:`X \to aX + b` maps the fit exactly.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (K, d, d) full, (d, d) tied, (K, d) diag, (K,) spherical.
    precisions_ : ndarray
        Inverses of ``covariances_`` (same shapes).
    precisions_cholesky_ : ndarray
        scikit-learn's upper factor :math:`P` with :math:`PP^\top = \Sigma^{-1}`
        (:math:`P = L^{-\top}`, :math:`\Sigma = LL^\top`); :math:`1/\sigma` for diag and
        spherical.
    converged_ : bool
    n_iter_ : int
        Passes of the best initialisation.
    lower_bound_ : float
        Mean log-likelihood (weighted) at the last evaluation of the best initialisation;
        the returned parameters are one M-step past it, as in scikit-learn.
    lower_bounds_ : ndarray of shape (n_values,)
        Every accepted value of that run, non-decreasing with ``floor='clip'``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        When ``X`` has string feature names.
    init_used_ : str
        Start of the returned fit: the route, ``'user'`` (all three ``*_init`` given) or
        ``'warm_start'``.
    n_passes_ : int
        Passes over the data in the whole fit (all initialisations, pass 0 included).
    n_numeric_repairs_ : int
        Covariances the numeric safety net repaired during the fit.

    Notes
    -----
    Differences from scikit-learn: computations are float64 also for float32 input; with
    ``max_iter=0``, ``lower_bound_`` is the start's log-likelihood; ``lower_bounds_`` is an
    array; a singular covariance is repaired instead of raising ``ValueError``; fewer
    distinct rows than components gives a warning, not an error. The moment start and the
    screened global search with split-and-merge moves are planned as further
    ``init_params`` / ``n_init`` values.

    Examples
    --------
    >>> import numpy as np
    >>> from momix.mixture import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(gm.means_[np.argsort(gm.means_[:, 0])], 6)
    array([[ 1.,  2.],
           [10.,  2.]])
    >>> gm.predict([[0, 0], [12, 3]]) == gm.predict([[1, 2], [10, 2]])
    array([ True,  True])
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INIT_ROUTES))],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state", np.random.Generator],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "accelerate": ["boolean"],
        "floor": [StrOptions({"add", "clip"})],
    }

    #: fast settings for the scikit-learn estimator checks (the defaults are fast)
    _check_params: dict = {}

    #: fewer distinct rows than components: a fit with coinciding or empty components and a
    #: DegenerateComponentWarning naming n_components (scikit-learn fits such data too), not
    #: an error
    _fewer_distinct_rows = "warn"

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        accelerate=True,
        floor="add",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.accelerate = accelerate
        self.floor = floor

    # ------------------------------------------------------------------ checks

    def _check_inits(self, d: int):
        K, ct = self.n_components, self.covariance_type
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = np.asarray(self.weights_init, dtype=np.float64)
            if weights.shape != (K,):
                raise ValueError(
                    f"The parameter 'weights' should have the shape of ({K},), "
                    f"but got {weights.shape}"
                )
            if not np.all(np.isfinite(weights)) or np.any(weights < 0) or np.any(weights > 1):
                raise ValueError(
                    "The parameter 'weights' should be in the range [0, 1], but got max value "
                    f"{np.max(weights):.5f}, min value {np.min(weights):.5f}"
                )
            if not abs(1.0 - weights.sum()) <= 1e-8:
                raise ValueError(
                    "The parameter 'weights' should be normalized, but got sum(weights) = "
                    f"{weights.sum():.5f}"
                )
            weights = weights / weights.sum()
        if self.means_init is not None:
            means = np.asarray(self.means_init, dtype=np.float64)
            if means.shape != (K, d):
                raise ValueError(
                    f"The parameter 'means' should have the shape of {(K, d)}, "
                    f"but got {means.shape}"
                )
            if not np.all(np.isfinite(means)):
                raise ValueError("The parameter 'means' contains NaN or infinite values")
        if self.precisions_init is not None:
            precisions = np.asarray(self.precisions_init, dtype=np.float64)
            shape = {"full": (K, d, d), "tied": (d, d), "diag": (K, d), "spherical": (K,)}[ct]
            if precisions.shape != shape:
                raise ValueError(
                    f"The parameter '{ct} precision' should have the shape of {shape}, "
                    f"but got {precisions.shape}"
                )
            if not np.all(np.isfinite(precisions)):
                raise ValueError(f"'{ct} precision' contains NaN or infinite values")
            if ct in ("full", "tied"):
                for P in precisions.reshape(-1, d, d):
                    sym = np.allclose(P, P.T, rtol=1e-5, atol=1e-8)
                    if not (sym and np.linalg.eigvalsh(0.5 * (P + P.T)).min() > 0):
                        raise ValueError(f"'{ct} precision' should be symmetric, positive-definite")
            elif np.any(precisions <= 0):
                raise ValueError(f"'{ct} precision' should be positive")
        return weights, means, precisions

    def _check_scale(self, scale2: float) -> None:
        floor_abs = self.reg_covar * (scale2 if self.floor == "clip" else 1.0)
        if 0 < scale2 < _MIN_SCALE2 and floor_abs < _MIN_SCALE2:
            raise DataError(
                f"the data's mean variance {scale2:.3g} is too small for float64 covariances "
                "and precisions; multiply the data by a unit (or use floor='add' with a "
                "positive reg_covar)"
            )

    # ------------------------------------------------------------------ starts

    def _route_resp(self, Xs: np.ndarray, w: np.ndarray, seed: int) -> np.ndarray:
        """Labels (n,) or responsibilities (n, K) of the start route, on standardised data."""
        K, route = self.n_components, self.init_params
        if route == "kmeans":
            from sklearn.cluster import KMeans

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return (
                    KMeans(n_clusters=K, n_init=1, random_state=seed)
                    .fit(Xs, sample_weight=w)
                    .labels_
                )
        if route == "k-means++":
            from sklearn.cluster import kmeans_plusplus

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                centers, _ = kmeans_plusplus(Xs, K, sample_weight=w, random_state=seed)
            return _nearest(Xs, centers)
        rng = np.random.default_rng(seed)
        if route == "random_from_data":
            return _nearest(Xs, Xs[_weighted_distinct_rows(Xs, w, K, rng)])
        resp = rng.uniform(size=(Xs.shape[0], K))
        return resp / resp.sum(axis=1, keepdims=True)

    def _start(self, X, Xs, w, family: GaussianFamily, inits, seed: int):
        weights, means, precisions = inits
        K = self.n_components
        if weights is not None and means is not None and precisions is not None:
            return family.from_precisions(weights, means, precisions), "user"
        params = complete_data_params(family, X, w, self._route_resp(Xs, w, seed), K)
        if weights is None and means is None and precisions is None:
            return params, self.init_params
        if precisions is not None:
            params = family.from_precisions(params.weights, params.means, precisions)
        return family.make_params(
            params.weights if weights is None else weights,
            params.means if means is None else means,
            params.covariances,
        ), self.init_params

    # ------------------------------------------------------------------ fit

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters by EM, keeping the best of ``n_init`` initialisations.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weights (rescaled to mean one: only relative weights
            matter).

        Returns
        -------
        self : GaussianMixture

        Raises
        ------
        ValueError
            Fewer than 2 samples, fewer samples than components, or malformed ``*_init``.
        DataError
            Non-finite values, magnitudes above 1e100, bad ``sample_weight``, or data whose
            variance float64 covariances cannot hold.
        """
        self._validate_params()
        X = check_fit_data(self, X, reset=True, min_samples=2)
        n, d = X.shape
        K = self.n_components
        if n < K:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {K}, n_samples = {n}"
            )
        w = check_sample_weight(sample_weight, n)
        inits = self._check_inits(d)
        data = EMData(X, w)
        summary = data.summary()
        n_passes = 1
        self._check_scale(summary.scale2)
        family = GaussianFamily(self.covariance_type, floor=self.floor, reg_covar=self.reg_covar)
        family.prepare(summary)
        positive = X[w > 0]
        distinct = count_distinct_rows(positive, K)
        if distinct < K:
            warnings.warn(
                f"GaussianMixture: X has only {distinct} distinct row(s) of positive weight for "
                f"n_components={K}; some components will coincide or be empty; decrease "
                "n_components",
                DegenerateComponentWarning,
                stacklevel=2,
            )
        Xs = (X - family.center) / family.scale
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        rng = check_rng(self.random_state)
        best: EMResult | None = None
        best_route = ""
        for init in range(n_init):
            seed = int(rng.integers(0, np.iinfo(np.int32).max))
            if self.verbose:
                print(f"Initialization {init}")
            if do_init:
                start, route = self._start(X, Xs, w, family, inits, seed)
                previous = -np.inf
            else:
                start = family.make_params(self.weights_, self.means_, self.covariances_)
                route, previous = "warm_start", float(self.lower_bound_)
            if self.max_iter == 0:
                value = evaluate(data, family, start)
                result = EMResult(start, value, np.empty(0), 0, False, 0, 0)
                n_passes += 1
            else:
                result = fit_em(
                    data,
                    family,
                    start,
                    max_iter=self.max_iter,
                    tol=self.tol,
                    accelerate=self.accelerate,
                    previous_lower_bound=previous,
                    callback=self._progress if self.verbose >= 2 else None,
                )
                n_passes += result.n_iter
            if self.verbose:
                state = "converged" if result.converged else "did not converge"
                print(f"Initialization {state}. lower bound {result.lower_bound:.5f}.")
            if best is None or result.lower_bound > best.lower_bound:
                best, best_route = result, route
        self._store(best.params)
        self.converged_ = bool(best.converged)
        self.n_iter_ = int(best.n_iter)
        self.lower_bound_ = float(best.lower_bound)
        self.lower_bounds_ = best.lower_bounds
        self.init_used_ = best_route
        self.n_passes_ = int(n_passes)
        self.n_numeric_repairs_ = int(family.n_repairs)
        if not self.converged_ and self.max_iter > 0:
            warn_not_converged("GaussianMixture EM", "increase max_iter or tol")
        if best.params.repaired.any():
            warnings.warn(
                f"GaussianMixture: {int(best.params.repaired.sum())} component(s) collapsed "
                "(singular covariance) and were repaired by a diagonal jitter; increase "
                "reg_covar or decrease n_components",
                DegenerateComponentWarning,
                stacklevel=2,
            )
        self._check_fitted_finite()
        return self

    def _progress(self, n_pass: int, value: float, change: float) -> None:
        if n_pass % self.verbose_interval == 0:
            print(f"  Iteration {n_pass}\t change {change:.5g}")

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit, then return the component of each row (equal to ``fit(X).predict(X)``)."""
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    def _store(self, params: GaussianParams) -> None:
        self.weights_ = params.weights.copy()
        self.means_ = params.means.copy()
        self.covariances_ = params.covariances.copy()
        self.precisions_cholesky_ = params.precisions_cholesky()
        self.precisions_ = params.precisions()

    # ------------------------------------------------------------------ prediction

    def _evaluator(self):
        check_is_fitted(self, ["weights_", "means_", "covariances_"])
        family = GaussianFamily.for_evaluation(self.covariance_type, self.weights_, self.means_)
        return family, family.make_params(self.weights_, self.means_, self.covariances_)

    def _blocks(self, X, fn) -> list:
        family, params = self._evaluator()
        X = check_fit_data(self, X, reset=False)
        with blas_one_thread():
            return log_joint(family, params, X, fn)

    def score_samples(self, X) -> np.ndarray:
        """Log-density of each sample under the fitted mixture, shape (n_samples,)."""
        return np.concatenate(self._blocks(X, lambda A, ell: ell))

    def score(self, X, y=None, sample_weight=None) -> float:
        """Mean log-likelihood per sample (weighted by ``sample_weight``)."""
        ell = self.score_samples(X)
        if sample_weight is None:
            return float(np.mean(ell))
        w = check_sample_weight(sample_weight, ell.shape[0])
        return float(np.average(ell, weights=w))

    def predict_proba(self, X) -> np.ndarray:
        """Posterior probability of each component, shape (n_samples, n_components)."""
        return np.vstack(self._blocks(X, lambda A, ell: np.exp(A - ell[:, None])))

    def predict(self, X) -> np.ndarray:
        """Most probable component of each sample."""
        return np.concatenate(self._blocks(X, lambda A, ell: np.argmax(A, axis=1)))

    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, Generator or None, default=None
            Defaults to the estimator's ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
            Component of each draw (draws grouped by component, as scikit-learn).
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples!r}. The sampling requires at least "
                "one sample."
            )
        family, params = self._evaluator()
        seed = self.random_state if random_state is None else random_state
        return family.sample(params, int(n_samples), check_rng(seed))

    def _n_parameters(self) -> int:
        check_is_fitted(self, ["means_"])
        family = GaussianFamily(self.covariance_type)
        return family.n_free(self.n_components, self.means_.shape[1])

    def _criterion(self, X, sample_weight, penalty) -> float:
        ell = self.score_samples(X)
        if sample_weight is None:
            n, total = ell.shape[0], float(np.sum(ell))
        else:
            w = check_sample_weight(sample_weight, ell.shape[0])
            raw = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            n = float(np.sum(raw))
            if not (np.isfinite(n) and n > 0):
                raise DataError("sample_weight must have a finite positive sum for bic/aic")
            total = float(np.average(ell, weights=w)) * n
        return -2.0 * total + penalty(n)

    def bic(self, X, sample_weight=None) -> float:
        """Bayesian information criterion :math:`-2\\log L + p\\log n` (lower is better).

        With ``sample_weight`` (frequency weights) :math:`\\log L = \\sum_n w_n\\ell_n` and
        :math:`n = \\sum_n w_n`.
        """
        p = self._n_parameters()
        return self._criterion(X, sample_weight, lambda n: p * np.log(n))

    def aic(self, X, sample_weight=None) -> float:
        """Akaike information criterion :math:`-2\\log L + 2p` (lower is better)."""
        p = self._n_parameters()
        return self._criterion(X, sample_weight, lambda n: 2.0 * p)
