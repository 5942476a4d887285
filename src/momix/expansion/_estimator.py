"""``GMMExpansion``: a density estimator with Gaussians on a fixed grid and learned weights.

The class docstring holds the math and every parameter. :meth:`GMMExpansion.fit` chooses
the coordinates, bandwidth, grid and step count through :mod:`._selection` and fits the
weights and the tail component through :mod:`._refit`; ``score_samples`` and ``sample``
map between the fitted and the data's coordinates (whitening and its log-Jacobian).
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._base import MixtureEstimator, warn_not_converged
from .._validation import check_rng, check_sample_weight
from ..exceptions import DataError, NumericalError
from ._grid import power_of_two_unit, robust_scale
from ._kernels import mixture_log_density, most_probable_component
from ._levels import level_means, level_variances, make_levels, scale_levels
from ._refit import ExpansionFit, fit_grid_weights, with_tail
from ._selection import (
    auto_step_cap,
    choose_coordinates,
    dictionary_levels,
    fallback_bandwidth,
    fold_seed,
    search_bandwidth,
    search_options,
    step_count,
    weight_options,
)
from ._threads import one_blas_thread
from ._whiten import Whitening, WhiteningChoice, zca_whitening

__all__ = ["GMMExpansion", "MIN_SCALE"]

#: smallest robust spread of a feature accepted by ``fit``: the component variances, about
#: the squared spread, must stay above float64's smallest normal number
MIN_SCALE = 1e-150


def _data_unit(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Check that the rows of positive weight can be fitted and return their unit.

    Raises :class:`DataError` for fewer than two rows, constant features and spreads below
    ``MIN_SCALE``; returns :func:`momix.expansion._grid.power_of_two_unit` of the robust
    spreads.
    """
    n = X.shape[0]
    if n < 2:
        raise DataError(
            "GMMExpansion needs at least 2 samples of positive weight to place a grid and "
            f"choose a bandwidth, got n_samples={n}"
        )
    constant = np.flatnonzero(np.ptp(X, axis=0) == 0)
    if constant.size:
        raise DataError(
            f"feature(s) {constant.tolist()} of X are constant (value(s) "
            f"{X[0, constant].tolist()}) over the samples of positive weight: the density of "
            "a constant feature is a point mass, which Gaussians on a grid cannot estimate; "
            "drop the feature(s)"
        )
    scale = robust_scale(X, w)
    small = np.flatnonzero(scale < MIN_SCALE)
    if small.size:
        raise DataError(
            f"feature(s) {small.tolist()} of X spread over only {scale[small].min():.3g}; below "
            f"{MIN_SCALE:.0e} the component variances underflow float64: rescale X (multiply "
            "by a unit)"
        )
    return power_of_two_unit(scale)


def _check_variances(variances: np.ndarray, bandwidth: float) -> None:
    """Raise :class:`NumericalError` unless every component variance is a normal float64."""
    ok = (variances >= np.finfo(np.float64).tiny) & (variances < np.inf)
    if not np.all(ok):
        raise NumericalError(
            f"bandwidth={bandwidth:.3g} gives component variances "
            f"{np.min(variances):.3g} .. {np.max(variances):.3g} in X's units, outside "
            "float64's range; use a moderate bandwidth or rescale X"
        )


def _whitening_in_units(white: Whitening, unit: np.ndarray) -> Whitening:
    """The whitening of ``u = x / unit`` as a map of ``x``."""
    return Whitening(
        white.mean * unit,
        white.matrix / unit[:, None],
        white.inverse * unit[None, :],
        white.log_det - float(np.sum(np.log(unit))),
    )


def _search_shifted(search, shift: float):
    """A bandwidth search's held-out scores moved by ``shift`` (a change of units)."""
    if search is None:
        return None
    return replace(
        search,
        scores=tuple(score + shift for score in search.scores),
        axis_trials=tuple((f, score + shift) for f, score in search.axis_trials),
    )


def _choice_in_units(choice: WhiteningChoice, unit: np.ndarray) -> WhiteningChoice:
    """A ``whiten="auto"`` decision taken on ``x / unit``, reported in the units of ``x``."""
    if np.all(unit == 1.0):
        return choice
    shift = -float(np.sum(np.log(unit)))
    return replace(
        choice,
        whitening=None if choice.whitening is None else _whitening_in_units(choice.whitening, unit),
        raw_score=None if choice.raw_score is None else choice.raw_score + shift,
        white_score=None if choice.white_score is None else choice.white_score + shift,
        search=_search_shifted(choice.search, shift) if choice.whitening is None else choice.search,
    )


class GMMExpansion(MixtureEstimator):
    """Gaussian mixture expansion: fixed grid means, one shared bandwidth, learned weights.

    The density is

    .. math::

        p(x) = \\sum_{i} \\pi_i\\, \\mathcal N\\big(x;\\ \\mu_i,\\ \\operatorname{diag}(\\sigma_1^2,
        \\dots, \\sigma_d^2)\\big), \\qquad \\sigma_j = h\\, s_j,

    with the means :math:`\\mu_i` on an evenly spaced tensor grid covering the data range
    padded by :math:`3\\sigma_j` per axis, :math:`s_j = \\min(\\mathrm{sd}_j,
    \\mathrm{IQR}_j/1.349)` the robust spread of feature :math:`j` and :math:`h` the
    relative ``bandwidth``. Only the weights :math:`\\pi` are learned (see
    :mod:`momix.expansion._kernels` for the updates and the optimality certificate).
    With ``n_levels > 1`` the dictionary also holds coarser grids at bandwidths
    :math:`2^l \\sigma_j` (:mod:`momix.expansion._levels`), all weights on one simplex.

    ``predict`` returns the most probable component :math:`\\arg\\max_i \\pi_i \\phi_i(x)`, a
    flat index into ``weights_`` (the labels ``sample`` draws): the components are grid
    nodes, not clusters, so the label locates a sample on the grid, and there is no
    ``predict_proba``. A feature constant over the samples of positive weight is refused
    with a :class:`~momix.exceptions.DataError` naming it (its density is a point mass),
    as are fewer than two such samples and spreads below ``MIN_SCALE`` = 1e-150.

    Parameters
    ----------
    n_grid : int or "auto", default="auto"
        Nodes per axis. ``"auto"`` spaces the nodes :math:`\\Delta_j = \\sigma_j` apart (the
        paper's default :math:`\\sigma = \\Delta`), so the number of components is about
        :math:`\\prod_j (\\mathrm{range}_j/\\sigma_j + 7)`. A finer spacing
        (:math:`\\sigma/2`) changed the held-out log-likelihood by less than 1e-4 nats in
        the benchmark and costs :math:`2^d` times more.
    bandwidth : float or "auto", default="auto"
        Relative bandwidth :math:`h`. ``"auto"`` maximises the ``n_folds``-fold held-out
        log-likelihood over 16 log-spaced multiples of Silverman's factor plus one parabolic
        refinement (:func:`momix.expansion._bandwidth.select_bandwidth`); with fewer than
        ``2 * n_folds`` samples Silverman's factor divided by :math:`\\sqrt2` is used (the soft
        assignment roughly doubles the kernel variance).
    update : {"one_step", "kde_grid", "em"}, default="one_step"
        ``"one_step"``: ``max_iter`` EM weight steps from uniform weights (one step = the
        paper's one-iteration soft histogram). ``"kde_grid"``: weights proportional to the
        kernel mass at each node (the other reading of the paper). ``"em"``: EM on the
        weights, SQUAREM-accelerated, until the optimality gap is below ``tol``: the
        maximum-likelihood weights, unique in the density values whatever the start.
    max_iter : int, "auto" or None, default=None
        ``"one_step"``: number of EM weight steps from uniform weights (None = 1, the
        paper's update); ``"auto"`` chooses it, at most ``MAX_AUTO_STEPS`` = 300, by the
        held-out log-likelihood along the EM path jointly with the bandwidth (early
        stopping as regularisation, :mod:`momix.expansion._steps`; the selected count is
        ``n_iter_``, and the final fit runs that many steps on all the data). ``"em"``:
        largest number of map evaluations (None = 5000; ``"auto"`` is an error).
        Ignored by ``"kde_grid"``.
    tol : float, default=1e-3
        ``"em"`` stops when the certified gap to the maximal mean log-likelihood is below
        ``tol`` nats.
    n_levels : int or "auto", default=1
        Grids in the dictionary. 1 is the paper's single grid; ``k > 1`` adds grids at
        bandwidths :math:`2\\sigma, \\dots, 2^{k-1}\\sigma` (:mod:`momix.expansion._levels`).
        ``"auto"``: with ``update="em"`` as many levels as needed for the coarsest bandwidth
        to reach a quarter of the data range (EM then chooses the scale locally); with the
        closed-form updates a single grid, because their uniform-start responsibilities
        would hand the coarse levels a fixed share of the mass. Without the tail
        component the extra levels improved heavy-tailed fits (Student t3, 1-D: -2.05 to
        -1.80 nats); with it they changed no benchmark case by more than 1e-3 nats and
        cost twice the time, hence the default of 1.
    tail_weight : float in [0, 1) or "auto", default="auto"
        Mass of one broad Gaussian (centre and standard deviation = centre and range of
        the data per axis) mixed into the fitted density, :math:`(1-\\epsilon) p +
        \\epsilon q`. ``"auto"``: :math:`\\epsilon = 1/(n+1)`, with :math:`n` the number of
        rows of positive weight. 0 gives the paper's plain expansion. It keeps held-out
        points beyond the training range from Gaussian-tail log-densities (see
        :mod:`momix.expansion._levels`).
    binning : bool or "auto", default="auto"
        Run the EM passes on the linear bins of the data at 1/8 of the finest bandwidth per
        axis (:mod:`momix.expansion._binning`): each EM pass then costs O(occupied bins)
        instead of O(n_samples). ``"auto"`` bins samples of at least 20 000 rows. The
        closed-form updates always use the exact points (they take one pass anyway).
    per_axis_bandwidth : bool or "auto", default="auto"
        With ``bandwidth="auto"`` and two or more features, refine the relative bandwidth
        of each axis separately after the shared search (a coordinate search by held-out
        likelihood within a factor :math:`\\sqrt2` of the shared choice,
        :func:`momix.expansion._ladder.axis_refine`): :math:`\\sigma_j = h\\, r_j
        s_j` with the multipliers :math:`r_j` in ``axis_factors_``. ``"auto"``: only with
        ``max_iter="auto"``, whose candidates are cheap to score (for ``update="em"`` each
        candidate costs a cross-validated EM fit).
    whiten : bool or "auto", default=False
        Fit in ZCA-whitened coordinates :math:`z = (x - \\mu)\\Sigma^{-1/2}` (weighted
        mean and covariance) and add :math:`\\log\\det\\Sigma^{-1/2}` to every
        log-density (:mod:`momix.expansion._whiten`): correlated data no longer need many
        narrow axis-aligned components along a ridge. ``"auto"`` keeps the raw coordinates
        when the Gaussian total correlation :math:`-\\tfrac12\\log\\det R` is below 0.005
        nats (whitening is then nearly a per-axis scaling, to which the fit is
        equivariant), else compares the coarse passes of the bandwidth search (powers of
        two) in both coordinate systems on the same folds and continues the search in the
        whitened ones only if their held-out score (Jacobian included) is higher by more
        than :math:`(d + d(d+1)/2)/n`, the optimism of the whitening map fitted on all rows
        (:func:`momix.expansion._selection.choose_coordinates`; decision in
        ``whitening_choice_``). With a fixed bandwidth, too few samples for folds or in
        1-D it keeps the raw coordinates. Needs a non-singular covariance (``True``
        raises a ``DataError`` otherwise; ``"auto"`` then keeps the raw coordinates).
    n_folds : int, default=5
        Folds of the bandwidth search.
    max_grid_size : int, default=200_000
        Largest number of grid components; a bigger grid raises a ``DataError`` (the
        grid grows like ``n_grid ** n_features``).
    random_state : int, Generator or None, default=None
        Shuffles the folds of the bandwidth search; seeds ``sample``.
    verbose : int, default=0
        At ``verbose > 0`` the bandwidth search shows a progress bar (each candidate's
        held-out score is always logged at INFO level on the ``momix.expansion`` logger).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
        Grid nodes, level by level, each level in C order of its grid shape.
    covariances_ : ndarray of shape (n_components, n_features)
        Diagonal variances of every component (equal within a level).
    covariance_ : ndarray of shape (n_features, n_features)
        The diagonal covariance of the finest level :math:`\\operatorname{diag}(\\sigma_j^2)`.
    levels_ : tuple of Level
        The grids of the dictionary (finest first) with their standard deviations; the
        tail component, when present, is the last (one-node) level.
    tail_weight_ : float
        Mass :math:`\\epsilon` of the tail component (0 without one).
    grid_ : list of ndarray
        Nodes of each axis of the finest level.
    grid_shape_ : tuple of int
    bandwidth_ : float
        Relative bandwidth :math:`h` used.
    sigmas_ : ndarray of shape (n_features,)
        Standard deviations :math:`\\sigma_j` of the finest level.
    whitening_ : Whitening or None
        The affine map of the fitted coordinates (``mean``, ``matrix``, ``inverse``,
        ``log_det``), or None in the raw coordinates. When set, ``means_``,
        ``covariances_``, ``covariance_``, ``grid_``, ``levels_`` and ``sigmas_`` describe
        the density of :math:`z`; ``score_samples`` and ``sample`` map to and from
        :math:`x`. For data fitted in a power-of-two unit (spreads beyond
        :math:`2^{\\pm 20}`, see ``fit``) it is the ZCA map of ``x / unit`` composed with
        that exact rescaling (``matrix`` is then symmetric only up to the unit).
    whitening_choice_ : WhiteningChoice
        ``whiten="auto"`` only: total correlation and reference scores of the decision.
    axis_factors_ : ndarray of shape (n_features,)
        Per-axis multipliers :math:`r_j` of the relative bandwidth (ones unless
        ``per_axis_bandwidth`` refined them).
    bandwidth_search_ : BandwidthSearch or None
        Candidates and held-out scores when ``bandwidth="auto"``.
    lower_bound_ : float
        Mean training log-likelihood of the fitted density (tail component included).
    optimality_gap_ : float
        Certified upper bound on (maximal - achieved) mean training log-likelihood of the
        grid weights, before the tail component is mixed in.
    n_iter_ : int
    converged_ : bool
    n_features_in_ : int

    References
    ----------
    Lu, Wu, Ding and Yuan, arXiv:2308.09444 (2023); Silverman, *Density Estimation for
    Statistics and Data Analysis* (1986), section 3.4.

    Examples
    --------
    >>> import numpy as np
    >>> from momix import GMMExpansion
    >>> X = np.random.default_rng(0).gamma(2.0, size=(500, 1))
    >>> est = GMMExpansion(random_state=0).fit(X)
    >>> bool(np.isfinite(est.score(X)))
    True
    """

    _parameter_constraints: dict = {
        "n_grid": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "bandwidth": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "update": [StrOptions({"one_step", "kde_grid", "em"})],
        "max_iter": [None, StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_levels": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "tail_weight": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="left")],
        "binning": ["boolean", StrOptions({"auto"})],
        "per_axis_bandwidth": ["boolean", StrOptions({"auto"})],
        "whiten": ["boolean", StrOptions({"auto"})],
        "n_folds": [Interval(Integral, 2, None, closed="left")],
        "max_grid_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state", np.random.Generator],
        "verbose": ["verbose"],
    }

    _check_params: dict = {"n_grid": 3, "bandwidth": 0.5}
    _expected_failed_checks: dict = {
        "check_sample_weight_equivalence_on_dense_data": (
            "the check uses 30 features and a tensor grid needs n_grid**30 components; "
            "weight/repetition equivalence is tested in tests/expansion in 1-D and 2-D"
        ),
    }

    def __init__(
        self,
        n_grid="auto",
        bandwidth="auto",
        update="one_step",
        max_iter=None,
        tol=1e-3,
        n_levels=1,
        tail_weight="auto",
        binning="auto",
        per_axis_bandwidth="auto",
        whiten=False,
        n_folds=5,
        max_grid_size=200_000,
        random_state=None,
        verbose=0,
    ):
        self.n_grid = n_grid
        self.bandwidth = bandwidth
        self.update = update
        self.max_iter = max_iter
        self.tol = tol
        self.n_levels = n_levels
        self.tail_weight = tail_weight
        self.binning = binning
        self.per_axis_bandwidth = per_axis_bandwidth
        self.whiten = whiten
        self.n_folds = n_folds
        self.max_grid_size = max_grid_size
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None, sample_weight=None):
        """Place the grid, choose the bandwidth and learn the weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the samples. Integer weights are equivalent to repeated
            rows for a fixed bandwidth (the feature spreads are weighted, rows of zero
            weight do not extend the grid); the folds of the bandwidth search split rows,
            not weight units. A common scale of all weights changes nothing.

        Returns
        -------
        self : GMMExpansion

        Raises
        ------
        DataError
            Fewer than two samples of positive weight; a feature that is constant over
            them (its density is a point mass, which Gaussians on a grid cannot estimate:
            drop the feature); a feature whose robust spread is below ``MIN_SCALE`` = 1e-150
            (its variances would underflow: rescale ``X``); grid nodes closer than float64
            can resolve at the data's magnitude (subtract the feature's mean); a grid
            beyond ``max_grid_size``.
        NumericalError
            Kernels that vanish at every sample, or fitted variances outside float64's
            range (an extreme ``bandwidth``).

        Notes
        -----
        Features whose spread lies beyond :math:`2^{\\pm 20}` are fitted in a power-of-two
        unit (:func:`momix.expansion._grid.power_of_two_unit`; an exact rescaling, to which
        the expansion is equivariant) so that kernel values stay representable; every
        fitted attribute is reported in the units of ``X``.
        """
        self._validate_params()
        params = self.get_params(deep=False)
        auto_step_cap(params)  # rejects max_iter="auto" with another update before any work
        X = self._check_X(X, reset=True)
        w = check_sample_weight(sample_weight, X.shape[0])
        unit = _data_unit(X[w > 0], w[w > 0])
        U = X / unit
        if self.whiten == "auto":
            seed = fold_seed(self.random_state)  # one set of folds for both coordinate systems
            choice = choose_coordinates(U[w > 0], w[w > 0], params, seed)
            self._fit_in(U, w, params, choice.whitening, unit, resume=choice.search, seed=seed)
            self.whitening_choice_ = _choice_in_units(choice, unit)
        else:
            whitening = zca_whitening(U[w > 0], w[w > 0]) if self.whiten else None
            self._fit_in(U, w, params, whitening, unit)
        self._to_data_units(unit)
        _check_variances(self.covariances_, self.bandwidth_)
        self._check_fitted_finite()
        return self

    def _fit_in(self, X, w, params, whitening, unit, resume=None, seed=None):
        """Fit in the coordinates of ``whitening`` (None = raw) of ``X`` (in units ``unit``);
        ``resume``: coarse search; ``params``: the hyper-parameters
        (``get_params(deep=False)``)."""
        self.whitening_ = whitening
        if whitening is not None:
            X = whitening.apply(X)
        scale = robust_scale(X, w)
        X, w = X[w > 0], w[w > 0]
        with one_blas_thread():
            search = search_bandwidth(X, w, scale, params, resume, seed)
            self.bandwidth_search_ = search
            factors = None if search is None else search.axis_factors
            self.bandwidth_ = (
                search.best if search is not None else fallback_bandwidth(self.bandwidth, *X.shape)
            )
            self.axis_factors_ = np.ones(X.shape[1]) if factors is None else np.array(factors)
            self.sigmas_ = self.bandwidth_ * self.axis_factors_ * scale
            _check_variances(
                (self.sigmas_ * (unit if whitening is None else 1.0)) ** 2, self.bandwidth_
            )
            levels = make_levels(
                X, self.n_grid, self.sigmas_, dictionary_levels(params), self.max_grid_size
            )
            steps = step_count(X, w, scale, levels, search, params)
            options = weight_options(params, X.shape[0], search)
            fit = fit_grid_weights(X, w, levels, steps=steps, sigmas=self.sigmas_, **options)
            self._store(with_tail(X, w, levels, fit, scale=scale, tail_weight=self.tail_weight))
        return self

    def _to_data_units(self, unit: np.ndarray) -> None:
        """Report a fit of ``X / unit`` in the units of ``X`` (exact: powers of two)."""
        if np.all(unit == 1.0):
            return
        shift = -float(np.sum(np.log(unit)))  # log p_x(x) = log p_u(x / unit) + shift
        self.lower_bound_ += shift
        if self.whitening_ is not None:
            self.whitening_ = _whitening_in_units(self.whitening_, unit)
            return
        self.levels_ = scale_levels(self.levels_, unit)
        self.grid_ = list(self.levels_[0].grid)
        self.means_ = level_means(self.levels_)
        self.covariances_ = level_variances(self.levels_)
        self.sigmas_ = self.sigmas_ * unit
        self.covariance_ = np.diag(self.sigmas_**2)
        if self.bandwidth_search_ is not None:
            self.bandwidth_search_ = _search_shifted(self.bandwidth_search_, shift)

    def _store(self, fit: ExpansionFit) -> None:
        """Fitted attributes of the dictionary, weights and convergence."""
        self.levels_, self.weights_, self.tail_weight_ = fit.levels, fit.weights, fit.tail_weight
        self.grid_, self.grid_shape_ = list(self.levels_[0].grid), self.levels_[0].shape
        self.means_ = level_means(self.levels_)
        self.covariances_ = level_variances(self.levels_)
        self.covariance_ = np.diag(self.sigmas_**2)
        self.lower_bound_ = fit.log_likelihood + self._log_jacobian()
        self.optimality_gap_, self.n_iter_ = fit.grid.gap, fit.grid.n_iter
        self.converged_ = fit.grid.converged
        if not fit.grid.converged:
            warn_not_converged("GMMExpansion weight EM", "increase max_iter or tol")

    def _search_options(self, n_samples: int, seed=None) -> dict:
        """Keyword arguments of the bandwidth search (:func:`._selection.search_options`)."""
        return search_options(self.get_params(deep=False), n_samples, seed)

    def _log_jacobian(self) -> float:
        return 0.0 if self.whitening_ is None else self.whitening_.log_det

    def _held_out_score(self) -> float:
        """Best held-out mean log-likelihood of the search, in x units (-inf without one)."""
        search = self.bandwidth_search_
        if search is None:
            return -np.inf
        best = max((*search.scores, *(score for _, score in search.axis_trials)))
        return best + self._log_jacobian()

    # -----------------------------------------------------------------------------------
    # Density, sampling, information criteria
    # -----------------------------------------------------------------------------------

    def _evaluation_frame(self, X):
        """``(Z, levels, log_jacobian)``: validated ``X`` in the coordinates the density is
        evaluated in -- whitened, or divided by the power-of-two unit of ``sigmas_`` (exact;
        keeps kernel values representable) -- with the levels in those coordinates."""
        check_is_fitted(self, "weights_")
        X = self._check_X(X, reset=False)
        if self.whitening_ is not None:
            return self.whitening_.apply(X), self.levels_, self.whitening_.log_det
        unit = power_of_two_unit(self.sigmas_)
        return X / unit, scale_levels(self.levels_, 1.0 / unit), -float(np.sum(np.log(unit)))

    def score_samples(self, X) -> np.ndarray:
        """Log-density of each sample, shape (n_samples,); finite also far outside the grid."""
        Z, levels, log_jacobian = self._evaluation_frame(X)
        with one_blas_thread():
            return mixture_log_density(Z, self.weights_, levels) + log_jacobian

    def predict(self, X) -> np.ndarray:
        """Most probable component of each sample, :math:`\\arg\\max_i \\pi_i \\phi_i(x)`.

        The label is the flat component index of ``weights_`` (levels in order, the tail
        component last), the same labels ``sample`` returns: it locates a sample on the
        grid. The expansion is a density estimator whose components are grid nodes, not
        clusters, so there is no ``predict_proba`` (a posterior over up to
        ``max_grid_size`` components per sample); ``fit_predict`` is ``fit`` then
        ``predict``.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype intp
        """
        Z, levels, _ = self._evaluation_frame(X)
        with one_blas_thread():
            return most_probable_component(Z, self.weights_, levels)

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per sample (higher is better)."""
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples: int = 1, random_state=None):
        """Draw from the fitted expansion: a grid node by its weight, then Gaussian noise.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
            Flat index of the grid component of each draw.
        """
        check_is_fitted(self, "weights_")
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        rng = check_rng(self.random_state if random_state is None else random_state)
        labels = rng.choice(self.weights_.size, size=n_samples, p=self.weights_)
        noise = rng.standard_normal((n_samples, self.n_features_in_))
        noise *= np.sqrt(self.covariances_[labels])
        Z = self.means_[labels] + noise
        return (Z if self.whitening_ is None else self.whitening_.invert(Z)), labels

    def _n_parameters(self) -> int:
        """Free grid weights (minus one) plus the bandwidth when it was selected, plus the
        mean and covariance of the whitening map when there is one.

        The tail component's weight is fixed by ``tail_weight``, not fitted.
        """
        free = self.weights_.size - (self.tail_weight_ > 0)
        d = self.n_features_in_
        white = 0 if self.whitening_ is None else d + d * (d + 1) // 2
        return free - 1 + (self.bandwidth_search_ is not None) + white

    def bic(self, X) -> float:
        """Bayesian information criterion :math:`-2\\log L + p\\log n` (lower is better)."""
        X = self._check_X(X, reset=False)
        return -2 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def aic(self, X) -> float:
        """Akaike information criterion :math:`-2\\log L + 2p` (lower is better)."""
        X = self._check_X(X, reset=False)
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()
