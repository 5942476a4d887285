"""The estimator: validation, the fit pipeline in order, fitted attributes, prediction.

Map of this file (the class docstring, with the math and every parameter, is most of it):

* :meth:`LowRankGaussianMixture.fit` -- the pipeline, in order:
  :func:`._prepare.prepare_in_memory` or :func:`._prepare.prepare_stream` (paths, chunks,
  dask: :mod:`._stream`; the checks, standardisation :mod:`._scaling`, signal subspace and
  noise), :func:`._prepare.weighting_setup` (MM / DGMM / full weights, :mod:`._weights`,
  :mod:`._explicit`), :func:`._restarts.fit_restarts` (:func:`._restarts.n_restarts`
  restarts, each from :func:`._restarts.start_params`, whose kind :func:`._init.restart_init`
  gives; L-BFGS-B solves in :mod:`._solver`, which runs the ``first_step`` variants),
  :func:`._restarts.refine_fit` (PPCA EM, :mod:`._em` / :mod:`._em_stream`), ``_store``
  (back to the data's units), then the finiteness check of every fitted attribute.
* Prediction and sampling: ``_params``, ``_log_resp``, :meth:`sample`, ``_n_parameters``;
  the rest (``predict``, ``score_samples``, ``bic``, ...) comes from
  :class:`momix._base.GaussianMixin`.
"""

from __future__ import annotations

import logging
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._base import GaussianMixin, MixtureEstimator, normalize_log_joint, warn_not_converged
from .._validation import check_rng
from ..exceptions import MomixWarning, NumericalError
from ._em import ppca_log_prob, sample_ppca
from ._engine import MixtureParams
from ._prepare import count_free_parameters, prepare_in_memory, prepare_stream, weighting_setup
from ._restarts import fit_restarts, refine_fit
from ._scaling import Standardizer, check_magnitude_blocks
from ._solver import collapsed
from ._stream import is_streaming_source

__all__ = ["LowRankGaussianMixture"]

logger = logging.getLogger("momix.lowrank")

#: smallest isotropic variance of ``covariances_`` and of the densities, relative to the
#: data's mean variance (``reg_covar`` may ask for more, not less)
MIN_RELATIVE_VARIANCE = 1e-12

#: numerical failures of numpy/scipy that ``fit`` reports as a NumericalError with the cause
_NUMERICAL_FAILURES = (np.linalg.LinAlgError, FloatingPointError, OverflowError, ZeroDivisionError)


class LowRankGaussianMixture(GaussianMixin, MixtureEstimator):
    r"""Low-rank Gaussian mixture by the (diagonally weighted) generalized method of moments.

    Fits :math:`y \sim \sum_{j=1}^K \pi_j\, N(\mu_j, V_jV_j^\top + \sigma^2 I)` with
    :math:`V_j \in \mathbb R^{d\times R}` by minimising

    .. math:: Q_w(\theta) = \sum_{k=1}^{L} w_k \,\big\|M^{(k)}(\theta) - \hat M^{(k)}\big\|_F^2,

    the distance between model and sample moment tensors of orders 1..L, computed without
    forming any tensor: :math:`\|M^{(k)}\|^2` from cumulants of :math:`x_i^\top x_j` and
    complete Bell polynomials, :math:`\langle M^{(k)}, y^{\otimes k}\rangle` from scalar
    Gaussian moments of projections [1]_.

    Parameters
    ----------
    n_components : int, default=1
        K.
    rank : int, default=1
        R, columns of every factor :math:`V_j` (a lower true rank shows as redundant columns).
    weighting : {'diagonal', 'identity', 'full'}, default='diagonal'
        ``'identity'``: method of moments (:math:`w \equiv 1`). ``'diagonal'``: DGMM, one
        weight per order, :math:`w_k = \operatorname{tr}S_{kk}/\sum_{k'}\|S_{kk'}\|_F^2`,
        re-estimated between L-BFGS-B solves. ``'full'``: two-step GMM with the
        pseudo-inverse of the centered covariance of the explicit monomial moments (only
        for small :math:`d^L`; raises ``ValueError`` otherwise).
    max_order : int, default=4
        L, the highest moment order used. There are :math:`q = \binom{d+L}{L} - 1`
        distinct moment equations of orders 1..L in d dimensions and
        :math:`p = (K-1) + Kd + K(dR - R(R-1)/2)` free parameters (one more when the noise
        is estimated); ``fit`` refuses :math:`q < p` with a ``ValueError`` naming both and
        the ``max_order`` that suffices (e.g. d = 2, K = 3, R = 2: 14 equations at L = 4
        for 17 parameters, 20 at L = 5).
    noise_variance : 'estimate', None or float, default='estimate'
        :math:`\sigma^2`. ``'estimate'``: estimated from the data where it is identifiable,
        the mean of the trailing :math:`d - K(R+1) + 1` eigenvalues of the data covariance
        (its signal part has rank at most :math:`K(R+1)-1`), floored at ``reg_covar``. Where
        :math:`R < d \le K(R+1) - 1` the data covariance has no noise-only directions: then
        a :class:`~momix.exceptions.MomixWarning` naming ``noise_variance`` says so and the
        mean trailing :math:`d - R` eigenvalue of the k-means clusters' covariances is used
        instead (biased upward where components overlap). With :math:`R = d` the factors
        represent any covariance and :math:`\sigma^2 = 0` (not identifiable, not needed).
        None: noiseless Model 1.1 (:math:`\sigma^2 = 0`; the covariances
        :math:`V_jV_j^\top` are singular and ``covariances_`` carries the ``reg_covar``
        floor). A number: known isotropic noise. How :math:`\sigma^2` was obtained is in
        ``noise_method_``.
    nystrom : 'auto', 'exact', 'model' or int, default='auto'
        How the DGMM weights estimate S. ``'exact'``: exact sample kernel sums
        :math:`\sum_{n'}\langle y_n, y_{n'}\rangle^k`, :math:`O(N^2 d)`. An int: Nystrom
        approximation of those sums with that many landmarks, :math:`O(Ndm)`. ``'model'``:
        the kernel sums replaced by their values under the current fit (no :math:`N^2`
        term and no :math:`n = n'` bias). ``'auto'``: exact up to 3000 samples; above, the
        Nystrom method (default landmark count) for noiseless data and ``'model'`` for
        noisy data, where the kernel matrices are full rank and Nystrom is inaccurate.
    init : {'kmeans++', 'random', 'mixed'} or dict, default='kmeans++'
        ``'kmeans++'``: k-means (k-means++ seeding) on at most 5 000 rows; cluster fractions,
        centroids and top-R principal axes of each cluster (scaled by
        :math:`\sqrt{\lambda-\sigma^2}`). ``'random'``: uniform weights, means and orthogonal
        factors of the data scale around the mean. ``'mixed'``: the first restart from the
        k-means++ start, restarts 2..``n_init`` from random starts, the kept fit chosen as
        for any restarts (lowest objective under the first restart's order weights), so it
        is never worse in that objective than the k-means++ start alone (with ``n_init=1``
        it *is* the k-means++ start). Why: where components overlap, k-means centroids are
        biased outward (40-50 % too long at d = 100, K = 2, R = 1, sigma = 1) and send MM
        and DGMM to the same wrong optimum; random starts reach the right one. Measured on
        the benchmark grid's 48 noisy settings (``docs/lowrank.md``, "Same initialisations,
        better ones"), with ``n_init='auto'`` (5): DGMM's median covariance error at or
        below MM's in 45 (ties within 0.1 % in the other 3; 38 with the k-means++ start),
        2-20x lower than from the k-means++ start where single starts end in wrong optima
        and never more than 0.15 % higher, at 2.9-6.3x the CPU. Recommended for
        overlapping components and N >= 1e3. Not the default: at small N the moment
        objective that ranks the restarts is noisy and can prefer a wrong optimum the
        k-means start avoids (200 rows, two isotropic clusters 7 apart in d = 5: adjusted
        Rand index 0.86 against 1.00 in 2 of 3 seeds). A dict ``{'means': (K, d),
        'factors': (K, d, R)[, 'weights': (K,)]}`` gives the initial values.
    subspace : 'auto', None or int, default='auto'
        Fit in the span of the top eigenvectors of the covariance of the (standardised,
        hence centred; Notes) data: every centred mean :math:`\mu_j - \bar\mu` and column
        of :math:`V_j` lies in the top-:math:`(K(R+1)-1)` eigenspace of its population
        version, and for parameters in a subspace the objective, its gradient and the
        likelihood are computed *exactly* from the projected data (and the ambient norms), at
        a cost proportional to the subspace dimension instead of d. ``'auto'``: dimension
        :math:`K(R+1) - 1` when :math:`d > 2K(R+1)` and ``weighting != 'full'``, else no
        reduction. An int: that dimension. None: never. The only approximation is the
        sampling error of the estimated subspace.
    refine : None or 'em', default=None
        ``'em'``: EM for the mixture of probabilistic PCA started at the moment estimate
        (the noise variance is re-estimated unless given as a number).
    statistics_dtype : {'float64', 'float32'}, default='float64'
        Precision of the products behind the one-pass moment statistics :math:`T_{a,l}`
        (the per-row cost of a streaming fit). ``'float32'``: the monomials of the rows
        minus the first row and their products in blocks of 4 096 rows in single precision,
        the blocks summed in double: half the CPU time per row, statistics within about
        1e-7 (relative, measured) of the double ones -- far below their sampling error
        for N up to about 1e10. Used in memory and streamed alike.
    n_init : int or 'auto', default='auto'
        Restarts; the one with the lowest moment objective is kept (compared with the
        order weights of the first restart, so the values are comparable). Each restart
        draws its start as ``init`` says (``'mixed'``: k-means++ first, then random).
        ``'auto'``: 5 for ``init='mixed'`` (the measured setting above), 1 otherwise (a
        dict start would repeat the same fit). After a streamed pass, restarts reuse the
        pass's statistics: their cost does not grow with N.
    max_iter : int, default=200
        L-BFGS-B iterations per solve, and EM iterations.
    tol : float, default=1e-4
        Outer DGMM loop: stop when :math:`\|\Delta\theta\| \le \mathrm{tol}(1+\|\theta\|)`;
        EM: stop when the mean log-likelihood gains less than ``tol``.
    n_steps : int, default=3
        Maximum number of weighted solves of the DGMM outer loop.
    first_step : {'both', 'identity', 'init'}, default='both'
        Where ``weighting='diagonal'`` first estimates its order weights. ``'init'``: at the
        initialisation (the DGMM reference code's default). ``'identity'``: two-step GMM --
        an MM solve (:math:`w \equiv 1`) from the initialisation, then the weights at the MM
        estimate. ``'both'``: runs the two and keeps the fit with the lower objective under
        the ``'init'`` fit's final order weights (about twice the cost). Why: at weak
        separation either first step can end in a wrong local optimum -- weights estimated at
        a poor k-means start, or an MM solve that diverges (a component with huge variance
        matching the 4th-order tails). Where the two ended apart (16 of 60 seeds at d = 10,
        weakly separated, sigma in {0.5, 1}), the objective under common weights kept the
        fit with the lower covariance error in 14; the other two were near-ties
        (``docs/lowrank.md``). Ignored by the other weightings (``'full'`` always starts
        with an MM solve).
    reg_covar : float, default=1e-6
        Floor on :math:`\sigma^2`, relative to the data's mean variance :math:`s^2`
        (below): an estimated noise variance is at least ``reg_covar`` :math:`s^2`, and
        ``covariances_`` and the densities use
        :math:`\max(\sigma^2, \texttt{reg\_covar}\, s^2, 10^{-12} s^2)`, so they are
        positive definite even for a noiseless fit.
    random_state : None, int, Generator or RandomState, default=None
    verbose : int, default=0
        > 0: progress bars over restarts and EM iterations, INFO logs of every solve.

    Notes
    -----
    **Standardisation.** ``fit`` works on :math:`z = (y - c)/s`, with c the weighted mean
    and :math:`s^2 = \operatorname{tr}\widehat{\operatorname{Cov}}(y)/d` the mean variance,
    and maps the estimate back (:math:`\mu = c + s\mu'`, :math:`V = sV'`,
    :math:`\sigma^2 = s^2\sigma'^2`). The moment objective mixes orders whose raw moments
    scale by different powers of s (and translation mixes the orders), so this fixes their
    relative weight in a scale- and offset-free way: data at an offset of :math:`10^8`, or
    at any magnitude down to a spread of about :math:`10^{-140}` (below, the covariances
    are not representable and the fit refuses the data), give the fit of the same data at
    unit scale. The data are not copied (float32 stays float32): every pass over the samples
    standardises and reads them in row blocks, so the memory of an in-memory fit beyond the
    data is a few vectors of length N and, in a subspace, the N x (K(R+1)-1) fitting
    coordinates.

    **Refused input** (``DataError``): all rows the same point, fewer distinct rows of
    positive weight than ``n_components``, a spread below :math:`10^{-140}`, and the door
    checks (NaN/inf, magnitudes above :math:`10^{100}`). Constant columns are fitted with
    a :class:`~momix.exceptions.MomixWarning` naming them (the isotropic noise estimate is
    then 0, floored at ``reg_covar``). A numerical failure inside the fit (a singular
    system, an eigensolver that does not converge) is a
    :class:`~momix.exceptions.NumericalError` whose cause is the original error.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    factors_ : ndarray of shape (n_components, n_features, rank)
    covariances_ : ndarray of shape (n_components, n_features, n_features)
        :math:`V_jV_j^\top + \max(\sigma^2, \texttt{reg\_covar}\,s^2)\,I` (``reg_covar``).
    noise_variance_ : float
        :math:`\sigma^2` of the fit (0 for a noiseless fit).
    noise_method_ : str
        How :math:`\sigma^2` was obtained: ``'given'``, ``'none'`` (noiseless),
        ``'spectrum'`` (estimated from the data covariance), ``'clusters'`` (estimated from
        within-cluster spectra, with a warning) or ``'absorbed'`` (``rank == n_features``);
        ``'em'`` when ``refine='em'`` re-estimated it.
    moment_weights_ : ndarray of shape (max_order,)
        Final order weights :math:`w_k` (ones for ``'identity'`` and ``'full'``), for the
        standardised data.
    objective_ : float
        Final moment objective of the standardised data (without the data-only constant
        :math:`\sum_k w_k\|\hat M^{(k)}\|^2`, except for ``'full'``).
    n_iter_ : int
        L-BFGS-B iterations of the kept restart.
    em_n_iter_ : int
        EM iterations (0 without refinement).
    em_log_likelihood_ : ndarray
        Mean log-likelihood before each EM iteration and after the last (empty without EM).
    nystrom_mode_ : str, int or None
        How the DGMM weights got their kernel sums (``'exact'``, ``'model'`` or the landmark
        count); None for the other weightings.
    converged_ : bool
    n_features_in_ : int

    References
    ----------
    .. [1] L. Zhang, O. Mickelin, S. Xu, A. Singer, "Diagonally-weighted generalized method
       of moments estimation for Gaussian mixture modeling", arXiv:2507.20459 (2025).
    .. [2] M. E. Tipping, C. M. Bishop, "Mixtures of probabilistic principal component
       analyzers", Neural Computation 11(2), 1999.

    Examples
    --------
    >>> from momix.datasets import make_lowrank_gaussian_mixture
    >>> data = make_lowrank_gaussian_mixture(5000, 5, 2, rank=1, random_state=0)
    >>> model = LowRankGaussianMixture(2, rank=1, random_state=0).fit(data.X)
    >>> model.factors_.shape
    (2, 5, 1)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "rank": [Interval(Integral, 1, None, closed="left")],
        "weighting": [StrOptions({"identity", "diagonal", "full"})],
        "max_order": [Interval(Integral, 2, 8, closed="both")],
        "noise_variance": [None, Interval(Real, 0, None, closed="left"), StrOptions({"estimate"})],
        "nystrom": [
            StrOptions({"auto", "exact", "model"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "init": [StrOptions({"kmeans++", "random", "mixed"}), dict],
        "subspace": [None, StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "refine": [None, StrOptions({"em"})],
        "statistics_dtype": [StrOptions({"float64", "float32"})],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "first_step": [StrOptions({"both", "identity", "init"})],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    #: ``fit`` takes paths, memory maps, dask arrays and chunk sources (``momix fit`` streams)
    _accepts_chunks = True

    #: fast settings for the scikit-learn estimator checks
    _check_params: dict = {"n_components": 1, "rank": 1, "max_iter": 20, "n_steps": 1}

    def __init__(
        self,
        n_components=1,
        rank=1,
        *,
        weighting="diagonal",
        max_order=4,
        noise_variance="estimate",
        nystrom="auto",
        init="kmeans++",
        subspace="auto",
        refine=None,
        statistics_dtype="float64",
        n_init="auto",
        max_iter=200,
        tol=1e-4,
        n_steps=3,
        first_step="both",
        reg_covar=1e-6,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.rank = rank
        self.weighting = weighting
        self.max_order = max_order
        self.noise_variance = noise_variance
        self.nystrom = nystrom
        self.init = init
        self.subspace = subspace
        self.refine = refine
        self.statistics_dtype = statistics_dtype
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_steps = n_steps
        self.first_step = first_step
        self.reg_covar = reg_covar
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------------------- fit

    def fit(self, X, y=None, sample_weight=None):
        """Estimate the mixture from data, in memory or streamed in chunks.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, memmap, dask array or chunks
            An in-memory array, or a streaming source (:mod:`momix.lowrank._stream`): a
            path to a ``.npy`` file or a :class:`numpy.memmap`, a dask array, a list of
            2-D chunks or ``(X, w)`` tuples, or a callable returning a fresh iterator of
            them (the data are read twice, plus once per EM iteration, so a one-shot
            generator is refused). Streaming sources are fitted from two passes: the
            second moment with a bounded uniform subsample, then the projected moment
            statistics; the fit itself then no longer depends on N. Arrays are not copied
            (float32 stays float32; see Notes).
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; every moment becomes a weighted average. A uniform scale
            of the weights (``1e-300`` or ``1e300`` alike) changes nothing.

        Returns
        -------
        self

        Raises
        ------
        DataError
            Unusable data (Notes).
        ValueError
            Fewer moment equations than free parameters (``max_order``), ``rank`` above
            ``n_features``, and other inconsistent parameters.
        NumericalError
            A numerical step failed (Notes); the message gives the cause.
        """
        self._validate_params()
        rngs = check_rng(self.random_state).spawn(4)
        try:
            self._fit(X, sample_weight, *rngs)
        except _NUMERICAL_FAILURES as exc:
            raise NumericalError(
                f"LowRankGaussianMixture: a numerical step of the fit failed "
                f"({type(exc).__name__}: {exc}); the data are probably degenerate for this "
                "model (collinear columns, components without spread): decrease "
                "n_components or rank, or give noise_variance as a number"
            ) from exc
        self._check_fitted_finite()
        return self

    def _fit(self, X, sample_weight, init_rng, aux_rng, key_rng, noise_rng) -> None:
        if is_streaming_source(X):
            inputs = prepare_stream(self, X, sample_weight, key_rng, noise_rng)
        else:
            X = self._check_X(X, reset=True, min_samples=2)
            inputs = prepare_in_memory(self, X, sample_weight, noise_rng)
        data, fit_data, basis = inputs.data, inputs.fit_data, inputs.basis
        noise = inputs.noise.value
        # independent streams: initialisations do not depend on the weighting (same
        # random_state gives MM, DGMM and full GMM the same starting points)
        weight_fn, full = weighting_setup(self, data, fit_data, noise, aux_rng)
        best = fit_restarts(
            self, fit_data, basis, noise, weight_fn, full, init_rng, inputs.standardizer
        )
        params, em_trace, em_iter, converged = best.params, np.empty(0), 0, best.converged
        if not best.converged:
            warn_not_converged("the moment fit", "increase max_iter or n_steps, or loosen tol")
        if collapsed(params):
            warnings.warn(
                f"the moment fit diverged: a component's weight collapsed to "
                f"{params.weights.min():.2g} (a vanishing component with exploding variance "
                "fitting the higher-order moments); try init='mixed', n_init > 1 or "
                "refine='em'",
                MomixWarning,
                stacklevel=3,
            )
        if self.refine == "em":
            params, em_trace, em_iter, em_ok = refine_fit(self, fit_data, params, inputs.stream)
            converged = converged and em_ok
        if basis is not None:
            params = MixtureParams(
                params.weights,
                params.means @ basis.T,
                np.einsum("de,ker->kdr", basis, params.factors),
                params.noise_variance,
            )
        self._store(inputs, params, best, em_trace, em_iter, converged)

    def _store(self, inputs, params: MixtureParams, best, em_trace, em_iter, converged) -> None:
        """Fitted attributes in the data's units from ``params`` in standardised ones."""
        std = inputs.standardizer
        raw = std.to_data(params)
        self._center, self._scale = std.center, float(std.scale)
        self.weights_ = params.weights
        self.means_ = raw.means
        self.factors_ = raw.factors
        self.noise_variance_ = float(raw.noise_variance)
        d = raw.means.shape[1]
        floor = max(params.noise_variance, self._density_floor())
        cov = np.einsum("kdr,ker->kde", params.factors, params.factors) + floor * np.eye(d)
        self.covariances_ = std.scale**2 * cov
        estimated_by_em = self.refine == "em" and not isinstance(self.noise_variance, Real)
        self.noise_method_ = "em" if estimated_by_em else inputs.noise.method
        self.moment_weights_ = best.order_weights
        self.objective_ = float(best.objective)
        self.n_iter_ = int(best.n_iter)
        self.em_n_iter_ = int(em_iter)
        # log p(y) = log p(z) - d log s: the trace of the standardised fit in the data's units
        self.em_log_likelihood_ = em_trace - d * np.log(std.scale) if em_trace.size else em_trace
        self.converged_ = bool(converged)

    def _density_floor(self) -> float:
        """Floor on the isotropic variance of densities, relative to the data's variance."""
        return max(float(self.reg_covar), MIN_RELATIVE_VARIANCE)

    # ------------------------------------------------------------------ prediction

    def _check_X(self, X, *, reset: bool, min_samples: int = 1) -> np.ndarray:
        """The door checks of :func:`momix._validation.check_fit_data`, keeping float32.

        float32 data stay float32 (the fit reads them block by block), other numeric data
        become float64; magnitudes above ``1e100`` are refused (checked block by block: no
        copy of the data).
        """
        X = validate_data(
            self, X, reset=reset, dtype=[np.float64, np.float32], ensure_min_samples=min_samples
        )
        return check_magnitude_blocks(X)

    def _params(self) -> MixtureParams:
        check_is_fitted(self, ["weights_", "means_", "factors_"])
        return MixtureParams(self.weights_, self.means_, self.factors_, self.noise_variance_)

    def _log_resp(self, X):
        """Low-rank (Woodbury) densities, evaluated on the standardised rows.

        With the fit's standardisation :math:`z = (y - c)/s`,
        :math:`\\log p(y) = \\log p_z(z) - d\\log s`; the isotropic variance is floored as
        in ``covariances_`` (``reg_covar``).
        """
        params = self._params()  # NotFittedError before fit
        X = self._check_X(X, reset=False)
        std = Standardizer(self._center, self._scale)
        params = std.to_fit(params)
        with np.errstate(divide="ignore"):
            log_prob = ppca_log_prob(X, params, self._density_floor(), std)
            log_prob -= X.shape[1] * np.log(self._scale)
            return normalize_log_joint(log_prob + np.log(self.weights_))

    def sample(self, n_samples: int = 1, random_state=None):
        """Draw ``(X, labels)``: :math:`y = \\mu_j + V_j g + \\sigma\\varepsilon`.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
        """
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        rng = check_rng(self.random_state if random_state is None else random_state)
        return sample_ppca(self._params(), n_samples, rng)

    def _n_parameters(self) -> int:
        """Free parameters (:func:`._prepare.count_free_parameters`), the noise if estimated."""
        K, d, R = self.factors_.shape
        noise = self.noise_method_ in ("spectrum", "clusters", "em")
        return count_free_parameters(K, d, R, noise)
