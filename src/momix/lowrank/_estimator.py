"""The estimator: validation, restarts, optional EM refinement, fitted attributes.

Map of this file (the class docstring, with the math and every parameter, is its first
half):

* :meth:`LowRankGaussianMixture.fit` -- the pipeline, in order: ``_prepare`` (in memory) or
  ``_prepare_stream`` (paths, chunks, dask: :mod:`._stream`), ``_basis`` (signal subspace),
  ``_noise``, ``_weighting_setup`` (MM / DGMM / full weights, :mod:`._weights`,
  :mod:`._explicit`), ``_restarts`` (``_n_init`` restarts, each from ``_initial``, whose kind
  :func:`._init.restart_init` gives; L-BFGS-B solves in :mod:`._solver`, which runs the
  ``first_step`` variants), ``_refine`` (PPCA EM, :mod:`._em` / :mod:`._em_stream`), ``_store``.
* Prediction and sampling: ``_params``, ``_log_resp``, :meth:`sample`, ``_n_parameters``;
  the rest (``predict``, ``score_samples``, ``bic``, ...) comes from
  :class:`momix._base.GaussianMixin`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from .._base import (
    GaussianMixin,
    MixtureEstimator,
    best_of_restarts,
    normalize_log_joint,
    warn_not_converged,
)
from .._validation import check_n_components, check_rng, check_sample_weight
from ._em import ppca_log_prob, refine, sample_ppca
from ._em_stream import fit_em_stream
from ._engine import MixtureParams
from ._explicit import MAX_MONOMIALS, full_weighting, monomial_count
from ._init import (
    KMEANS_MAX_SAMPLES,
    estimate_noise_variance,
    initial_params,
    noise_from_covariance,
    restart_init,
    user_params,
)
from ._solver import (
    MomentData,
    diagonal_objective,
    fit_moments,
    pack,
    reduce_to_subspace,
    signal_basis,
)
from ._stats import statistics_size
from ._stream import (
    ChunkSource,
    StreamContext,
    first_pass,
    is_streaming_source,
    stream_fit_data,
)
from ._weights import weight_function

__all__ = ["LowRankGaussianMixture"]

logger = logging.getLogger("momix.lowrank")

#: one-pass moment statistics are used when they have at most this many entries
STATISTICS_MAX_ENTRIES = 200_000


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
        L, the highest moment order used.
    noise_variance : None, float or 'estimate', default=None
        :math:`\sigma^2`. None: noiseless Model 1.1 (:math:`\sigma^2 = 0`). A number: known
        isotropic noise. ``'estimate'``: the mean of the trailing
        :math:`d - K(R+1) + 1` eigenvalues of the data covariance (the signal part has rank
        at most :math:`K(R+1)-1`).
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
        Fit in the span of the top eigenvectors of the sample second moment
        :math:`\sum_n\omega_n y_ny_n^\top`: every :math:`\mu_j` and column of :math:`V_j`
        lies in the top-:math:`K(R+1)` eigenspace of its population version, and for
        parameters in a subspace the objective, its gradient and the likelihood are computed
        *exactly* from the projected data (and the ambient norms), at a cost proportional to
        the subspace dimension instead of d. ``'auto'``: dimension :math:`K(R+1)` when
        :math:`d > 2K(R+1)` and ``weighting != 'full'``, else no reduction. An int: that
        dimension. None: never. The only approximation is the sampling error of the
        estimated subspace.
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
        Floor on :math:`\sigma^2` when evaluating densities of a noiseless fit (its
        covariances are singular).
    random_state : None, int, Generator or RandomState, default=None
    verbose : int, default=0
        > 0: progress bars over restarts and EM iterations, INFO logs of every solve.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    factors_ : ndarray of shape (n_components, n_features, rank)
    covariances_ : ndarray of shape (n_components, n_features, n_features)
        :math:`V_jV_j^\top + \sigma^2 I`.
    noise_variance_ : float
    moment_weights_ : ndarray of shape (max_order,)
        Final order weights :math:`w_k` (ones for ``'identity'`` and ``'full'``).
    objective_ : float
        Final moment objective (without the data-only constant
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
        noise_variance=None,
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
            statistics; the fit itself then no longer depends on N.
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; every moment becomes a weighted average.

        Returns
        -------
        self
        """
        self._validate_params()
        init_rng, aux_rng, key_rng = check_rng(self.random_state).spawn(3)
        if is_streaming_source(X):
            data, fit_data, basis, noise, stream = self._prepare_stream(X, sample_weight, key_rng)
        else:
            (data, fit_data, basis, noise), stream = self._prepare(X, sample_weight), None
        # independent streams: initialisations do not depend on the weighting (same
        # random_state gives MM, DGMM and full GMM the same starting points)
        weight_fn, full = self._weighting_setup(data, fit_data, noise, aux_rng)
        best = self._restarts(fit_data, basis, noise, weight_fn, full, init_rng)
        params, em_trace, em_iter, converged = best.params, np.empty(0), 0, best.converged
        if not best.converged:
            warn_not_converged("the moment fit", "increase max_iter or n_steps, or loosen tol")
        if self.refine == "em":
            params, em_trace, em_iter, em_ok = self._refine(fit_data, params, stream)
            converged = converged and em_ok
        if basis is not None:
            params = MixtureParams(
                params.weights,
                params.means @ basis.T,
                np.einsum("de,ker->kdr", basis, params.factors),
                params.noise_variance,
            )
        self._store(params, best, em_trace, em_iter, converged)
        return self

    def _check_shape(self, n: int, d: int) -> None:
        check_n_components(self.n_components, n)
        if self.rank > d:
            raise ValueError(f"rank={self.rank} exceeds n_features={d}")
        if (
            self.refine == "em"
            and isinstance(self.noise_variance, Real)
            and self.noise_variance == 0
        ):
            raise ValueError(
                "refine='em' needs a positive noise variance: the likelihood of a "
                "noiseless low-rank mixture is degenerate; use noise_variance=None "
                "(estimated by EM) or a positive value"
            )

    def _prepare(self, X, sample_weight):
        X = self._check_X(X, reset=True, min_samples=2)
        n, d = X.shape
        self._check_shape(n, d)
        data = MomentData.build(X, check_sample_weight(sample_weight, n))
        noise = self._noise(
            lambda: estimate_noise_variance(data.X, data.omega, self.n_components, self.rank)
        )
        basis = self._basis(data)
        fit_data = data if basis is None else reduce_to_subspace(data, basis)
        if statistics_size(fit_data.X.shape[1], self.max_order) <= STATISTICS_MAX_ENTRIES:
            single = self.statistics_dtype == "float32"
            fit_data = fit_data.with_statistics(self.max_order, np.float32 if single else None)
        return data, fit_data, basis, noise

    def _prepare_stream(self, X, sample_weight, rng):
        """Two passes: moments and subsample, then the projected statistics."""
        if self.weighting == "full":  # refused before any pass over the data
            raise ValueError(
                "weighting='full' needs per-sample monomial moments; streaming input supports "
                "weighting='diagonal' or 'identity'"
            )
        source = ChunkSource.wrap(X, sample_weight)
        first = first_pass(  # whole-space fits get their statistics in this same pass
            source, KMEANS_MAX_SAMPLES, rng,
            lambda d: self.max_order if self._basis_dim(d) is None else None,
            STATISTICS_MAX_ENTRIES, np.dtype(self.statistics_dtype).type,
        )  # fmt: skip
        n, d = first.n_samples, first.mean.size
        self.n_features_in_ = d
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._check_shape(n, d)
        noise = self._noise(
            lambda: noise_from_covariance(first.covariance, self.n_components, self.rank)
        )
        dim = self._basis_dim(d)
        basis = None if dim is None else np.linalg.eigh(first.second)[1][:, ::-1][:, :dim]
        data, fit_data = stream_fit_data(
            source, first, basis, self.max_order, STATISTICS_MAX_ENTRIES,
            np.dtype(self.statistics_dtype).type,
        )  # fmt: skip
        stream = StreamContext(source, basis, first.second, first.covariance)
        return data, fit_data, basis, noise, stream

    def _basis_dim(self, d: int) -> int | None:
        """Dimension of the fitting subspace, or None for the whole space."""
        r = self.n_components * (self.rank + 1)
        if self.subspace is None or self.weighting == "full":
            return None
        dim = r if self.subspace == "auto" else int(self.subspace)
        if (self.subspace == "auto" and d <= 2 * r) or dim >= d:
            return None
        if dim < self.rank:
            raise ValueError(f"subspace={dim} is smaller than rank={self.rank}")
        return dim

    def _basis(self, data: MomentData):
        dim = self._basis_dim(data.X.shape[1])
        return None if dim is None else signal_basis(data, dim)

    def _noise(self, estimate) -> float:
        """The noise variance: none, given, or ``estimate()`` for ``"estimate"``."""
        if self.noise_variance is None:
            return 0.0
        if self.noise_variance == "estimate":
            return estimate()
        return float(self.noise_variance)

    def _weighting_setup(self, data: MomentData, fit_data: MomentData, noise: float, rng):
        """Full-GMM weighting or DGMM weight function; kernel sums use the full data."""
        d, L = data.X.shape[1], self.max_order
        self.nystrom_mode_ = None
        if self.weighting == "full":
            q = monomial_count(d, L)
            if q > MAX_MONOMIALS:
                raise ValueError(
                    f"weighting='full' needs the {q} x {q} covariance of all {q} distinct moments "
                    f"of orders 1..{L} in d={d} (limit {MAX_MONOMIALS}); this is the cost the "
                    "diagonal weighting avoids -- use weighting='diagonal' (DGMM) "
                    "or lower max_order"
                )
            return None, full_weighting(data.X, data.omega, L)
        if self.weighting == "identity":
            return None, None
        weight_fn, self.nystrom_mode_ = weight_function(
            self.nystrom, data, fit_data, noise, self.n_components, self.rank, L, rng
        )
        return weight_fn, None

    def _initial(self, data: MomentData, basis, noise: float, rng, index=0) -> MixtureParams:
        """Start of restart ``index``: the user's values, or :func:`restart_init`'s kind."""
        if isinstance(self.init, dict):
            p = user_params(self.init, self.n_components, self.n_features_in_, self.rank, noise)
            if basis is None:
                return p
            return MixtureParams(
                p.weights, p.means @ basis, np.einsum("de,kdr->ker", basis, p.factors), noise
            )
        method = restart_init(self.init, index)
        return initial_params(data.X, data.omega, self.n_components, self.rank, noise, method, rng)

    def _n_init(self) -> int:
        """Number of restarts: ``n_init``, with ``'auto'`` = 5 for ``init='mixed'``, else 1."""
        if self.n_init != "auto":
            return self.n_init
        return 5 if self.init == "mixed" else 1

    def _restarts(self, data, basis, noise, weight_fn, full, rng):
        n_init = self._n_init()
        bar = tqdm(total=n_init, desc="LowRankGaussianMixture", disable=self.verbose <= 0)
        reference, index = {}, iter(range(n_init))

        def fit_once(r):
            result = fit_moments(
                data,
                self._initial(data, basis, noise, r, next(index)),
                weighting=self.weighting,
                max_order=self.max_order,
                weight_fn=weight_fn,
                full=full,
                max_iter=self.max_iter,
                tol=self.tol,
                n_steps=self.n_steps,
                first_step=self.first_step,
            )
            bar.update(1)
            return result

        def objective(result):
            if self.weighting != "diagonal" or n_init == 1:
                return result.objective
            w = reference.setdefault("w", result.order_weights)
            theta = pack(result.params)
            return diagonal_objective(theta, data, w, result.params.factors.shape, noise)[0]

        try:
            return best_of_restarts(fit_once, n_init, rng, objective=objective)
        finally:
            bar.close()

    def _refine(self, data: MomentData, params: MixtureParams, stream=None):
        bar = tqdm(total=self.max_iter, desc="EM refinement", disable=self.verbose <= 0)
        estimate = not isinstance(self.noise_variance, Real)
        common = dict(max_iter=self.max_iter, tol=self.tol, callback=lambda it, ll: bar.update(1))
        try:
            if stream is None:
                res = refine(
                    data.X, data.omega, data.sqnorm, data.ambient_dim, params,
                    estimate_noise=estimate, **common,
                )  # fmt: skip
            else:
                K, _, R = params.factors.shape
                if params.noise_variance <= 0:
                    params = replace(params, noise_variance=stream.start_noise(K, R))
                res = fit_em_stream(
                    stream.source, stream.basis, data.ambient_dim, params,
                    estimate_noise=estimate, **common,
                )  # fmt: skip
        finally:
            bar.close()
        if not res.converged:
            warn_not_converged("EM refinement", "increase max_iter or loosen tol")
        return res.params, res.log_likelihood, res.n_iter, res.converged

    def _store(self, params: MixtureParams, best, em_trace, em_iter, converged) -> None:
        self.weights_ = params.weights
        self.means_ = params.means
        self.factors_ = params.factors
        self.noise_variance_ = float(params.noise_variance)
        self.covariances_ = params.covariances()
        self.moment_weights_ = best.order_weights
        self.objective_ = float(best.objective)
        self.n_iter_ = int(best.n_iter)
        self.em_n_iter_ = int(em_iter)
        self.em_log_likelihood_ = em_trace
        self.converged_ = bool(converged)

    # ------------------------------------------------------------------ prediction

    def _params(self) -> MixtureParams:
        check_is_fitted(self, ["weights_", "means_", "factors_"])
        return MixtureParams(self.weights_, self.means_, self.factors_, self.noise_variance_)

    def _log_resp(self, X):
        """Low-rank (Woodbury) densities with :math:`\\sigma^2 \\ge` ``reg_covar``."""
        X = self._check_X(X, reset=False)
        with np.errstate(divide="ignore"):
            log_prob = ppca_log_prob(X, self._params(), self.reg_covar)
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
        """Free parameters: weights, means, factors modulo rotations, and the noise if estimated."""
        K, d, R = self.factors_.shape
        fixed = isinstance(self.noise_variance, Real)
        noise = int(self.noise_variance == "estimate" or (self.refine == "em" and not fixed))
        return int((K - 1) + K * d + K * (d * R - R * (R - 1) // 2) + noise)
