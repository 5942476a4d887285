"""ScoreMatchingMixture: a diffusion sampler for Gaussian mixtures with no separation."""

from __future__ import annotations

import logging
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._base import GaussianMixin, MixtureEstimator, warn_not_converged
from .._validation import (
    check_distinct_rows,
    check_n_components,
    check_rng,
    check_sample_weight,
    count_distinct_rows,
)
from ..exceptions import DataError, NumericalError
from ._cells import crude_estimates, weighted_moments
from ._features import n_polynomial_features
from ._process import noised_mixture
from ._regression import RegressionConfig, ScoreEvaluation, fit_level
from ._sampler import PiecewisePolynomialScore, evaluate_score, reverse_diffusion, time_grid

__all__ = ["ScoreMatchingMixture", "MAX_TERMS", "MIN_SCALE"]

logger = logging.getLogger(__name__)

#: largest number of polynomial terms per cell: its normal equations hold ``n_terms**2``
#: float64 numbers (128 MiB at this limit)
MAX_TERMS = 4096
#: smallest per-feature spread accepted with ``standardize=True``: the read-off covariances
#: in X's units are products of two spreads and must stay above float64's smallest normal
MIN_SCALE = 1e-150


def _frame(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and per-feature standard deviation of ``Y`` (1 where a feature is constant),
    computed on deviations divided by their largest, so they neither under- nor overflow."""
    center = Y.mean(axis=0)
    top = np.max(np.abs(Y - center), axis=0)
    top = np.where(top > 0, top, 1.0)
    spread = top * np.sqrt(np.mean(((Y - center) / top) ** 2, axis=0))
    return center, np.where(spread > 0, spread, 1.0)


class ScoreMatchingMixture(GaussianMixin, MixtureEstimator):
    """Gaussian mixture learned by score matching, sampled by reverse diffusion.

    The practical variant of Chen, Kontonis and Shah (2025): the score
    :math:`\\nabla\\log p_t` of the data noised by the variance-preserving process
    :math:`X_t = e^{-t}X_0 + \\sqrt{1-e^{-2t}}\\,Z` is learned at ``n_noise_levels`` times by
    denoising score matching, as a piecewise polynomial of degree ``degree`` on cells cut by
    crude (PCA + k-means) estimates; new samples come from the reverse diffusion driven by
    the learned score. No separation between components is assumed: the regression is
    convex (ridge least squares per cell), the clustering only places the cells.

    The model of the data is the sampler. Gaussian parameters (``weights_``, ``means_``,
    ``covariances_``) are *read off* it: EM (scikit-learn ``GaussianMixture``, full
    covariances) on ``n_readoff_samples`` generated samples, warm-started from k-means crude
    estimates with ``n_components`` clusters of the training data (noised to the sampler's
    last time). ``predict`` (the most probable read-off component), ``predict_proba``,
    ``score_samples``, ``score``, ``bic`` and ``aic`` use that read-off mixture, which
    always has exactly ``n_components`` components; ``sample`` uses the diffusion sampler.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components of the read-off mixture; with ``partition="auto"`` the
        crude partition uses ``2 * n_components`` k-means clusters.
    degree : int, default=3
        Total degree of the polynomial on each cell.
    n_noise_levels : int, default=24
        Number of noise levels (geometric between ``t_min`` and ``t_max_``) with a fitted score.
    partition : {"auto", "none"} or int, default="auto"
        ``"auto"``: ``2 * n_components`` crude clusters; an int: that many; ``"none"``: one
        cell (a single global polynomial, the ablation of the paper's partition). Crude
        components whose noised Mahalanobis separation falls below 0.5 share a cell, and
        cells with fewer than ``5 * n_terms`` training points are merged into a neighbour.
    n_steps : int, default=200
        Steps of the reverse-diffusion sampler.
    noise_reps : int, default=4
        Noise draws per training point and level (even; drawn as antithetic pairs).
    alpha : float, default=1e-6
        Ridge strength relative to the cell size.
    t_min : float, default=1e-3
        Smallest noise level relative to the smallest within-cluster variance :math:`\\lambda`
        (standardised data): ``times_[0] = t_min * min(1, max(lambda, 1e-3))``. The floor
        is the paper's early stopping for degenerate (low-rank) components (Remark 2.2):
        the sampler then stops at noise :math:`\\sqrt{2\\,\\mathrm{times\\_[0]}}` in units of
        the data's spread. The largest level is
        ``times_[-1] = 4 + max(0, log(sqrt(lambda_max(E[x x^T]))))`` (standardised data) so
        that :math:`p_T` is within :math:`e^{-4}` of :math:`N(0, I)` in scale.
    n_readoff_samples : int, default=10000
        Generated samples used by the parameter read-off.
    standardize : bool, default=True
        Run the diffusion on the standardised data :math:`(x - c)/\\sigma` (``center_`` the
        mean, ``scale_`` the per-coordinate standard deviation) and map samples and scores
        back. Without it, data far from the origin or on a large scale need a long, finely
        resolved reverse path (measured: data scaled by 10 and shifted by 100 came back
        with its mean at 95.9 and its spread 30% too small at the default settings).
        ``score_function`` is then the score of :math:`c + \\sigma\\odot X_t` where
        :math:`X_t` is the VP process of the standardised data; pass ``center=center_,
        scale=scale_`` to :func:`momix.diffusion.mixture_score` for its closed form. With
        ``standardize=False`` (``center_ = 0``, ``scale_ = 1``) it is the plain VP process.
    random_state : None, int or Generator, default=None
        Seeds crude estimates, noise draws, read-off and (when ``sample`` gets no
        ``random_state``) the sampler.
    verbose : int, default=0
        ``> 0`` shows progress bars for fitting and sampling.

    Attributes
    ----------
    score_model_ : PiecewisePolynomialScore
        The learned score at every level (crude partition, cells, coefficients, guard boxes).
    times_ : ndarray of shape (n_noise_levels,)
        Noise levels.
    extrapolation_rate_ : ndarray of shape (n_noise_levels,)
        Fraction of fresh noised training points at each level that fell outside their
        cell's guard box (where the linear guard of :mod:`momix.diffusion._regression`
        replaces the polynomial).
    n_cells_ : ndarray of shape (n_noise_levels,)
        Number of cells at each level.
    crude_ : CrudeMixture
        Crude estimates of the partition, in standardised coordinates.
    center_, scale_ : ndarray of shape (n_features,)
        Standardisation of the data (zeros and ones when ``standardize=False``).
    weights_, means_, covariances_ : ndarray
        Read-off mixture, shapes (K,), (K, d), (K, d, d).
    converged_, n_iter_, lower_bound_ :
        Status of the read-off EM; ``lower_bound_`` is its mean log-likelihood per
        generated sample, in X's units.
    n_features_in_ : int

    Notes
    -----
    Sample weights (``fit(X, sample_weight=w)``) weight every step: standardisation, crude
    estimates, the denoising score-matching loss and the read-off start; a row of weight 2
    counts as the row twice in law, and a common scale of the weights changes nothing.

    Memory: each level's noised training set (``noise_reps`` draws per row) is regenerated
    block by block and reduced to per-cell sums (:mod:`momix.diffusion._regression`), so a
    fit holds about twice the data (the standardised copy and the k-means projection) plus
    a constant: one block of design matrices (``BLOCK_ENTRIES`` = 2^20 entries each, about
    8 MiB), the read-off samples and the per-cell normal equations (``n_terms**2`` numbers,
    at most ``MAX_TERMS**2``). Measured on 2e5 x 10 (16 MB): peak traced memory 42.5 MB
    (``benchmarks/score_matching_memory.py``).

    Input that cannot be fitted is refused with a :class:`~momix.exceptions.DataError`:
    fewer than two rows of positive weight, fewer distinct rows than ``n_components``, or
    (``standardize=True``) a feature whose spread is below ``MIN_SCALE`` = 1e-150 (the
    read-off covariances would underflow). A constant feature is kept: its scale is the
    largest of the others and its read-off variance is the sampler's smallest noise.

    The extrapolation guard: raw polynomials overflow outside their training data, and a
    sampler that visits such a point returns NaN. Each cell therefore keeps a box in its
    whitened coordinates; outside it the score is the polynomial at the projection onto the
    box plus a negative-definite linear term (continuous, Gaussian-like growth). The rate at
    which it is used is ``extrapolation_rate_`` and, per point, ``score_evaluation(...)``.

    References
    ----------
    Chen, Kontonis, Shah, "Learning general Gaussian mixtures with efficient score
    matching", COLT 2025, arXiv:2404.18893.

    Examples
    --------
    >>> import numpy as np
    >>> from momix import ScoreMatchingMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-1, 0.6, (2000, 2)), rng.normal(1, 0.6, (2000, 2))])
    >>> model = ScoreMatchingMixture(2, random_state=0).fit(X)
    >>> Xs, labels = model.sample(1000)
    >>> Xs.shape
    (1000, 2)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "degree": [Interval(Integral, 0, 10, closed="both")],
        "n_noise_levels": [Interval(Integral, 2, None, closed="left")],
        "partition": [StrOptions({"auto", "none"}), Interval(Integral, 1, None, closed="left")],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "noise_reps": [Interval(Integral, 2, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "t_min": [Interval(Real, 0, 1, closed="neither")],
        "n_readoff_samples": [Interval(Integral, 2, None, closed="left")],
        "standardize": ["boolean"],
        "random_state": ["random_state", np.random.Generator],
        "verbose": ["verbose"],
    }

    #: fast settings for the shared scikit-learn estimator checks
    _check_params: dict = {"n_noise_levels": 3, "n_steps": 6, "degree": 1, "noise_reps": 2,
                           "n_readoff_samples": 200}
    _expected_failed_checks: dict = {}

    def __init__(self, n_components: int = 1, *, degree: int = 3, n_noise_levels: int = 24,
                 partition="auto", n_steps: int = 200, noise_reps: int = 4, alpha: float = 1e-6,
                 t_min: float = 1e-3, n_readoff_samples: int = 10000, standardize: bool = True,
                 random_state=None, verbose: int = 0):
        self.n_components = n_components
        self.degree = degree
        self.n_noise_levels = n_noise_levels
        self.partition = partition
        self.n_steps = n_steps
        self.noise_reps = noise_reps
        self.alpha = alpha
        self.t_min = t_min
        self.n_readoff_samples = n_readoff_samples
        self.standardize = standardize
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    @threadpool_limits.wrap(limits=1, user_api="blas")
    def fit(self, X, y=None, sample_weight=None):
        """Learn the score at every noise level, then read off Gaussian parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights. They weight the standardisation, the crude estimates
            (weighted k-means), the denoising score-matching loss (every noise draw of a row
            carries its weight) and the k-means start of the read-off, so a row of weight 2
            counts as the row twice (in law: its noise draws differ from a repeated row's);
            a common scale of all weights changes nothing. Rows of zero weight are dropped.

        Returns
        -------
        self : ScoreMatchingMixture

        Raises
        ------
        DataError
            Fewer than two rows (of positive weight), fewer distinct rows than
            ``n_components``, or feature spreads so small that the read-off covariances
            underflow float64 (below 1e-150: rescale the data).
        ValueError
            Odd ``noise_reps``, more than ``MAX_TERMS`` polynomial terms per cell, or
            ``n_readoff_samples`` below ``n_components * (n_features + 1)``.
        """
        self._validate_params()
        if self.noise_reps % 2:
            raise ValueError(f"noise_reps must be even (antithetic pairs), got {self.noise_reps}")
        X_user = self._check_X(X, reset=True)
        self._check_sizes(X_user.shape[1])
        w = check_sample_weight(sample_weight, X_user.shape[0])
        if not np.all(w > 0):
            X_user = X_user[w > 0]
            w = check_sample_weight(w[w > 0], X_user.shape[0])
        self._check_rows(X_user)
        self.center_, self.scale_ = self._standardisation(X_user, w)
        X = X_user - self.center_
        X /= self.scale_
        del X_user
        rng = check_rng(self.random_state)
        n_crude = {"auto": 2 * self.n_components, "none": self.n_components}.get(
            self.partition, self.partition)
        self.crude_ = crude_estimates(X, n_crude, rng, sample_weight=w)
        config = RegressionConfig(degree=self.degree, noise_reps=self.noise_reps,
                                  alpha=self.alpha,
                                  merge_distance=np.inf if self.partition == "none" else 0.5)
        self.times_ = time_grid(*self._time_range(X, w), self.n_noise_levels)
        levels = []
        with tqdm(total=len(self.times_), desc="score matching", disable=self.verbose <= 0) as bar:
            for t in self.times_:
                levels.append(fit_level(X, float(t), self.crude_, config, rng, w))
                logger.info("level t=%.3g: %d cells, %.2g%% extrapolated", t,
                            len(levels[-1].cells), 100 * levels[-1].train_extrapolated)
                bar.update()
        self.score_model_ = PiecewisePolynomialScore(self.crude_, self.times_, tuple(levels),
                                                     self.degree)
        self.extrapolation_rate_ = np.array([lv.train_extrapolated for lv in levels])
        self.n_cells_ = np.array([len(lv.cells) for lv in levels])
        self._read_off_parameters(X, w, rng)
        self._check_fitted_finite()
        return self

    def _check_sizes(self, n_features: int) -> None:
        """Refuse parameter values the data's dimension makes unusable, before any work."""
        n_terms = n_polynomial_features(n_features, self.degree)
        if n_terms > MAX_TERMS:
            raise ValueError(
                f"degree={self.degree} in {n_features} features gives {n_terms} polynomial "
                f"terms per cell, above MAX_TERMS={MAX_TERMS} (each cell's normal equations "
                "hold n_terms**2 numbers); lower degree")
        need = self.n_components * (n_features + 1)
        if self.n_readoff_samples < need:
            raise ValueError(
                f"n_readoff_samples={self.n_readoff_samples} is below n_components * "
                f"(n_features + 1) = {need}, the fewest generated samples that determine "
                f"{self.n_components} full covariances; increase n_readoff_samples")

    def _check_rows(self, X) -> None:
        """Enough rows, and enough distinct rows, for ``n_components`` components."""
        n = X.shape[0]
        if n < 2:
            raise DataError(
                "ScoreMatchingMixture needs at least 2 samples (of positive weight) to learn a "
                f"score, got n_samples={n}")
        check_n_components(self.n_components, n)
        if count_distinct_rows(X, 2) < 2:
            raise DataError("X has a single distinct row (every feature constant); "
                            "a score cannot be learned")
        check_distinct_rows(X, self.n_components)

    def _standardisation(self, X, w):
        """Weighted per-feature mean and standard deviation (``standardize=True``).

        A constant feature keeps its value as centre and takes the largest standard deviation
        of the others as scale (its standardised values are all 0). The standard deviation is
        computed on the data divided by their largest deviation, so neither tiny nor huge
        magnitudes under- or overflow.
        """
        d = X.shape[1]
        if not self.standardize:
            return np.zeros(d), np.ones(d)
        constant = np.ptp(X, axis=0) == 0
        center = np.where(constant, X[0], w @ X / w.sum())
        top = np.maximum(X.max(axis=0) - center, center - X.min(axis=0))
        top = np.where(top > 0, top, 1.0)
        rel = np.array([np.sqrt(w @ ((X[:, j] - center[j]) / top[j]) ** 2 / w.sum())
                        for j in range(d)])
        std = np.where(constant, 0.0, top * rel)
        scale = np.where(constant, std.max(), std)
        if np.any(scale < MIN_SCALE):
            small = np.flatnonzero(scale < MIN_SCALE)
            raise DataError(
                f"feature(s) {small.tolist()} of X spread over only {scale[small].min():.3g}; "
                f"below {MIN_SCALE:.0e} the read-off covariances underflow float64: rescale "
                "X (multiply by a unit)")
        return center, scale

    def _time_range(self, X, w):
        crude = self.crude_
        within = np.einsum("k,kij->ij", crude.weights, crude.covariances)
        lam = float(np.linalg.eigvalsh(within)[0])
        t_min = self.t_min * min(1.0, max(lam, 1e-3))
        mean, cov = weighted_moments(X, w)
        second = float(np.linalg.eigvalsh(cov + np.outer(mean, mean))[-1])
        t_max = 4.0 + max(0.0, 0.5 * np.log(max(second, 1e-300)))
        return t_min, t_max

    def _read_off_parameters(self, X, w, rng):
        """EM on generated samples, started from the weighted k-means crude estimates of the
        training data noised to the sampler's last time; the result is mapped to X's units.

        The EM runs in the frame of the generated samples (their mean and per-feature
        spread), so scikit-learn's absolute covariance floor ``reg_covar = 1e-6`` is relative
        to them whatever the data's scale (``standardize=False`` included).
        """
        K = self.n_components
        start = crude_estimates(X, K, rng, sample_weight=w)
        if len(start.weights) < K:
            raise DataError(
                f"X has fewer than n_components={K} rows that k-means can tell apart after "
                "standardisation; decrease n_components")
        generated = self._generate_standardised(self.n_readoff_samples, rng,
                                                "read-off sampling")
        g_center, g_scale = _frame(generated)
        means, covs = noised_mixture(start.means, start.covariances, float(self.times_[0]))
        covs = covs / np.outer(g_scale, g_scale)
        precisions = np.linalg.inv(covs)
        gm = GaussianMixture(K, covariance_type="full", max_iter=500, tol=1e-4,
                             weights_init=start.weights, means_init=(means - g_center) / g_scale,
                             precisions_init=0.5 * (precisions + precisions.transpose(0, 2, 1)),
                             random_state=int(rng.integers(2**31 - 1)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                gm.fit((generated - g_center) / g_scale)
            except ValueError as exc:
                raise NumericalError(
                    f"the parameter read-off EM on generated samples failed ({exc}); lower "
                    "`degree`, increase `n_steps` or decrease n_components") from None
        scale = self.scale_ * g_scale
        self.weights_ = gm.weights_
        self.means_ = self.center_ + self.scale_ * (g_center + g_scale * gm.means_)
        self.covariances_ = gm.covariances_ * np.outer(scale, scale)
        self.converged_, self.n_iter_ = gm.converged_, gm.n_iter_
        self.lower_bound_ = float(gm.lower_bound_ - np.sum(np.log(scale)))
        try:
            np.linalg.cholesky(self.covariances_)
        except np.linalg.LinAlgError:
            raise NumericalError(
                "a read-off covariance is not positive definite in X's units (feature "
                f"scales {scale.min():.3g} .. {scale.max():.3g}); rescale X") from None
        if not gm.converged_ or any("converge" in str(c.message) for c in caught):
            warn_not_converged("the parameter read-off EM on generated samples",
                               "increase n_readoff_samples or decrease n_components")

    # ------------------------------------------------------------------ the learned score
    def _check_time(self, t) -> float:
        t = float(t)
        if not np.isfinite(t) or t < 0:
            raise ValueError(f"t must be a finite non-negative diffusion time, got {t}")
        return t

    @threadpool_limits.wrap(limits=1, user_api="blas")
    def score_evaluation(self, X, t: float) -> ScoreEvaluation:
        """Learned score at time ``t`` with the cell of each point and the guard flag.

        ``t`` outside ``[times_[0], times_[-1]]`` uses the nearest level.
        """
        check_is_fitted(self, "score_model_")
        X = (self._check_X(X, reset=False) - self.center_) / self.scale_
        result = evaluate_score(self.score_model_, X, self._check_time(t))
        result = ScoreEvaluation(result.score / self.scale_, result.cell, result.extrapolated)
        if not np.all(np.isfinite(result.score)):
            raise NumericalError("the learned score is not finite at some points; "
                                 "scale the data or lower `degree`")
        return result

    def score_function(self, X, t: float) -> np.ndarray:
        """Learned :math:`\\nabla_x\\log p_t(x)` of the noised data law.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        t : float
            Diffusion time of the VP process :math:`e^{-t}X_0 + \\sqrt{1-e^{-2t}}Z` run on
            the standardised data and mapped back, i.e. the law of
            :math:`c + e^{-t}(X_0 - c) + \\sqrt{1-e^{-2t}}\\,\\sigma\\odot Z` with
            ``c = center_``, ``sigma = scale_`` (the plain VP process when
            ``standardize=False``); clamped to ``[times_[0], times_[-1]]``.

        Returns
        -------
        score : ndarray of shape (n_samples, n_features)
        """
        return self.score_evaluation(X, t).score

    # ------------------------------------------------------------------ sampling
    @threadpool_limits.wrap(limits=1, user_api="blas")
    def _generate_standardised(self, n_samples, rng, desc="sampling"):
        """Reverse-diffusion draws in the standardised coordinates of the fit."""
        model = self.score_model_
        grid = time_grid(model.times[0], model.times[-1], self.n_steps + 1)[::-1]
        x = rng.standard_normal((n_samples, self.n_features_in_))
        with tqdm(total=self.n_steps, desc=desc, disable=self.verbose <= 0) as bar:
            x = reverse_diffusion(lambda z, t: evaluate_score(model, z, t).score, x, grid, rng,
                                  bar.update)
        if not np.all(np.isfinite(x)):
            raise NumericalError("reverse diffusion produced non-finite samples; "
                                 "lower `degree` or increase `n_steps`")
        return x

    def sample(self, n_samples: int = 1, random_state=None):
        """Draw samples by reverse diffusion with the learned score.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : None, int or Generator, optional
            Defaults to the estimator's ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        labels : ndarray of shape (n_samples,)
            Most probable component of each draw under the read-off mixture.
        """
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        check_is_fitted(self, "score_model_")
        rng = check_rng(self.random_state if random_state is None else random_state)
        X = self.center_ + self.scale_ * self._generate_standardised(int(n_samples), rng)
        return X, self.predict(X)

    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        return int(k - 1 + k * d + k * d * (d + 1) // 2)
