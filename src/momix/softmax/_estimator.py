"""The :class:`SoftmaxMixture` estimator: validation, EM restarts, fitted state, evaluation.

The starts of the EM runs (screened moment candidates or random starts, and the
:class:`MomentStartWarning` fallback) are in :mod:`._runs`.
"""

from __future__ import annotations

import logging
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from .._base import MixtureEstimator, warn_not_converged
from .._validation import check_rng
from ..exceptions import DataError
from ._data import centre_features, check_features, check_units, standardise, to_model_data
from ._em import EMResult
from ._model import (
    ChoiceSetData,
    ItemSetData,
    e_step,
    group_log_responsibilities,
    log_choice_probabilities,
    logsumexp,
    sample_items,
    sample_situations,
)
from ._runs import initial_runs
from ._select import resume_em
from ._smem import auto_split_merge, split_and_merge
from ._start import within_covariance

__all__ = ["SoftmaxMixture"]

logger = logging.getLogger("momix.softmax")

_ROW_WISE = "methods need the chosen alternatives y next to the features X; called with X only"


class SoftmaxMixture(MixtureEstimator):
    """Softmax mixture (latent-class multinomial logit): Hermite moment start, then EM.

    Observation :math:`i` belongs to a latent class :math:`k` with probability
    :math:`\\alpha_k` and picks alternative :math:`j` of its choice situation with features
    :math:`x_{i1..iJ}` with probability
    :math:`\\pi_{ij}(\\theta_k) = e^{x_{ij}^\\top\\theta_k} / \\sum_l e^{x_{il}^\\top\\theta_k}`.

    Two data layouts (see :meth:`fit`): one **item set** ``X`` (p, L) shared by all
    observations (Bing et al.'s softmax mixture; the counts are sufficient and an EM
    iteration costs :math:`O(pKL)` whatever N), or **choice situations** ``X`` (N, J, L)
    with optional panel ``groups`` whose observations share one class (latent-class logit).

    Parameters
    ----------
    n_components : int, default=1
        Number of latent classes K.
    init : {'moments', 'random'}, default='moments'
        ``'moments'``: Hermite method of moments along ``10 K`` random directions of the
        estimated top-K subspace plus a third-order tensor route
        (:mod:`momix.softmax._moments`, :func:`~momix.softmax._start.moment_starts`); with K
        > L or K >= 3, the multivariate moment matrix of the mixing measure with
        Henrion–Lasserre extraction and equal-weight atom sets with the first two latent
        moments (:mod:`momix.softmax._multivariate`) join the candidates. The candidates are
        ordered round robin over these routes, the first ``max(5, 4 n_init)`` take 6 EM
        steps each, the best ``2 n_init`` of them continue to 24 steps, and EM continues
        from the ``n_init`` best of those (:mod:`momix.softmax._select`; screening steps
        count in ``n_iter_``). It applies to an item set with p >= 200 Gaussian-looking
        items; elsewhere (always for choice situations) it is skipped with a
        :class:`MomentStartWarning` and random starts are used (recorded in ``init_used_``).
        ``'random'``: uniform weights, :math:`\\theta_k = \\hat\\Sigma^{-1/2}z_k`,
        :math:`z_k \\sim N(0, I)`, :math:`\\hat\\Sigma` the within-situation covariance.
    n_init : int or 'auto', default='auto'
        Number of EM runs to convergence; the highest log-likelihood wins. ``'auto'``:
        min(K, 10) runs (:func:`~momix.softmax._select.auto_n_runs`: the number of
        likelihood optima grows with K; runs from good starts converge in a few steps, so
        easy problems pay little). With the moment start, ``'auto'`` runs at most as many
        candidates as exist, whereas an integer ``n_init`` is made up with random starts if
        needed; ``n_init_`` records the number of runs.
    max_iter : int, default=500
        EM steps per run.
    tol : float, default=1e-8
        Stop when the log-likelihood gain per unit (observation, or group with ``groups``)
        falls below ``tol``.
    step_size : 'auto' or float, default='auto'
        Coefficient step of the generalised M-step: ``'auto'`` takes the Newton step of each
        class's weighted-logit objective, a float :math:`\\eta` the paper's gradient step
        :math:`\\eta \\nabla Q_k / (N\\alpha_k)`; both backtrack until the objective rises, so
        the log-likelihood never decreases (:mod:`momix.softmax._em`).
    accelerate : bool, default=True
        Monotone SQUAREM acceleration (Varadhan & Roland 2008): each iteration is a cycle of
        three EM steps with an extrapolation that is kept only if it does not lower the
        log-likelihood; ``n_iter_`` counts EM steps, ``log_likelihood_path_`` cycles.
    split_merge : int or 'auto', default='auto'
        Split-and-merge moves (SMEM, Ueda et al. 2000; :mod:`momix.softmax._smem`) from the
        winning run: merge two classes, split a third along its information-matrix excess,
        partial then full EM, kept only if the log-likelihood rises by more than ``tol`` per
        unit; stops after ``split_merge`` candidates in a row fail (0: off; needs K >= 3).
        ``'auto'``: :func:`~momix.softmax._smem.auto_split_merge` (10 for K >= 3).
    random_state : None, int, RandomState or Generator, default=None
    verbose : int, default=0
        Progress bar over EM iterations when positive.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    coefs_ : ndarray of shape (n_components, n_features)
        :math:`\\theta_k`, one row per class.
    log_likelihood_ : float
        Total log-likelihood of the training data at the fit (with ``sample_weight``: the
        weighted total, weights of mean 1 over the units as in :meth:`fit`).
    log_likelihood_path_ : ndarray of shape (n_iter_ + 1,)
        Log-likelihood before and after every EM iteration of the winning run.
    n_iter_ : int
    converged_ : bool
    init_used_ : {'moments', 'random'}
    n_init_ : int
        Number of EM runs made.
    n_split_merge_ : int
        Split-and-merge moves kept (each raised the log-likelihood; their EM steps count in
        ``n_iter_``, and ``log_likelihood_path_`` ends with the log-likelihood after each).
    item_features_ : ndarray of shape (p, n_features) or None
        The training item set (item-set layout only); used by :meth:`sample`.
    n_features_in_ : int
        L, the number of features per alternative.

    References
    ----------
    X. Bing, F. Bunea, J. Niles-Weed, M. Wegkamp, "Learning large softmax mixtures with
    warm start EM", arXiv:2409.09903 (2024).

    Examples
    --------
    >>> import numpy as np
    >>> from momix import SoftmaxMixture
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2000, 2))
    >>> theta = np.array([[1.5, 0.5], [-1.0, 1.0]])
    >>> model = SoftmaxMixture(2, random_state=0)
    >>> choices, _ = SoftmaxMixture(2).set_fitted(np.array([0.4, 0.6]), theta, X).sample(
    ...     20000, random_state=1)
    >>> model.fit(X, choices).coefs_.shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"moments", "random"})],
        "n_init": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "step_size": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "accelerate": ["boolean"],
        "split_merge": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "random_state": ["random_state", np.random.Generator],
        "verbose": ["verbose"],
    }
    _check_params: dict = {"n_components": 2, "init": "random", "max_iter": 30, "random_state": 0}
    _expected_failed_checks: dict = {
        name: _ROW_WISE for name in (
            "check_estimators_dtypes", "check_dtype_object", "check_estimators_pickle",
            "check_f_contiguous_array_estimator", "check_methods_sample_order_invariance",
            "check_methods_subset_invariance", "check_dict_unchanged", "check_fit_idempotent",
        )
    } | {
        name: "rows of an item set X are the alternatives, not observations: repeating rows "
              "of X changes the choice problem, so weights are checked against repeated "
              "choices y instead (tests/softmax/test_softmax_weights.py)"
        for name in ("check_sample_weight_equivalence_on_dense_data",
                     "check_sample_weight_equivalence_on_sparse_data")
    }

    def __init__(self, n_components=1, *, init="moments", n_init="auto", max_iter=500, tol=1e-8,
                 step_size="auto", accelerate=True, split_merge="auto", random_state=None,
                 verbose=0):
        self.n_components = n_components
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.step_size = step_size
        self.accelerate = accelerate
        self.split_merge = split_merge
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None, *, counts=None, groups=None, sample_weight=None):
        """Fit by EM from the moment start (or random starts).

        Parameters
        ----------
        X : array-like of shape (p, n_features) or (n_samples, n_alternatives, n_features)
            Item set (one row per item) or one choice situation per observation.
        y : array-like of shape (n_samples,), optional
            Index of the chosen item (row of ``X``) or chosen alternative. Required unless
            ``counts`` is given.
        counts : array-like of shape (p,), optional
            Item-set layout only: number of times each item was chosen. Same fit as the
            equivalent ``y`` (EM only sees the counts).
        groups : array-like of shape (n_samples,), optional
            Choice-situation layout only: panel labels; observations with one label share a
            latent class.
        sample_weight : array-like of shape (n_samples,) or (p,), optional
            Frequency weights (non-negative, not all zero), rescaled to mean 1 by
            :func:`momix._validation.check_sample_weight`: a weight of 2 fits like the unit
            given twice, a uniform scale of the weights changes nothing, weight-0 units drop
            out. With ``y``: one weight per observation (the counts become weighted counts
            summing to N). With ``counts``: one weight per item, multiplying its count (the
            weighted counts are rescaled to the total of ``counts``). With ``groups``: the
            group is the unit (its observations share a class and its likelihood does not
            factor over them), so the weight must be constant within each group
            (:class:`~momix.exceptions.DataError` otherwise) and multiplies the group's
            log-likelihood; group weights are rescaled to mean 1 over the groups. Not
            taken with ``y`` in chunks (pass weighted ``counts``).

        Returns
        -------
        self : SoftmaxMixture

        Raises
        ------
        DataError
            Unusable data: fewer chosen items, observations or groups of positive weight
            than ``n_components``, a feature constant within every situation, collinear
            features, a malformed ``y``, ``counts``, ``groups`` or ``sample_weight``.
        NumericalError
            If the fitted parameters are not finite.

        Notes
        -----
        EM runs on standardised features (:func:`momix.softmax._data.standardise`: centred
        in every situation, each column scaled to largest magnitude 1), an exact
        reparametrisation: ``coefs_`` are mapped back to the units of ``X``.
        """
        self._validate_params()
        X = check_features(self, X, reset=True)
        data = to_model_data(X, y, counts, groups, sample_weight)
        data, scale = standardise(data)
        check_units(data, self.n_components)
        self._check_identifiable(data)
        rng = check_rng(self.random_state)
        starts = initial_runs(self, data, rng)
        with tqdm(total=len(starts) * self.max_iter, disable=not self.verbose,
                  desc="SoftmaxMixture EM") as bar:
            runs = [resume_em(data, r, max_iter=self.max_iter, tol=self.tol,
                              step_size=self.step_size, accelerate=self.accelerate,
                              progress=bar.update) for r in starts]
        best = max(runs, key=lambda r: np.nan_to_num(r.log_likelihood, nan=-np.inf))
        best = self._split_merge(data, best)
        self._store(best, scale, X if X.ndim == 2 else None)
        if not best.converged and self.max_iter > 0:
            warn_not_converged("SoftmaxMixture EM", "increase max_iter or tol, or try n_init > 1")
        self._check_fitted_finite()
        return self

    def fit_predict(self, X, y=None, *, counts=None, groups=None, sample_weight=None):
        """Fit, then return the most probable class of each observation.

        Same as ``fit(X, y, groups=groups, sample_weight=sample_weight).predict(X, y,
        groups=groups)``.

        Raises
        ------
        DataError
            With ``counts`` (no observations to label; call :meth:`fit`, then
            ``predict(X, np.arange(len(X)))`` for the class of each item).
        """
        if counts is not None:
            raise DataError("fit_predict labels observations, and counts give none; call "
                            "fit(X, counts=counts) and then predict(X, np.arange(len(X))) for "
                            "the most probable class of each item")
        self.fit(X, y, groups=groups, sample_weight=sample_weight)
        return self.predict(X, y, groups=groups)

    def _split_merge(self, data, best: EMResult) -> EMResult:
        """SMEM moves from the winning run (none for K < 3 or ``split_merge=0``)."""
        c_max = (auto_split_merge(self.n_components) if self.split_merge == "auto"
                 else self.split_merge)
        self.n_split_merge_ = 0
        if c_max == 0 or self.n_components < 3 or not best.converged:
            return best
        res = split_and_merge(data, best, n_candidates=c_max, max_iter=self.max_iter,
                              tol=self.tol, step_size=self.step_size, accelerate=self.accelerate)
        self.n_split_merge_ = res.n_accepted
        logger.info("split-and-merge: %d of %d moves kept", res.n_accepted, res.n_tried)
        return res.run

    def _check_identifiable(self, data) -> None:
        if isinstance(data, ChoiceSetData) and data.unit_weights is not None:
            keep = data.unit_weights[data.groups] > 0
            data = ChoiceSetData(data.features[keep], data.choices[keep], data.groups[keep],
                                 data.n_groups)
        vals = np.linalg.eigvalsh(within_covariance(data))
        if vals[0] <= 1e-10 * max(vals[-1], 1e-300):
            raise DataError(
                "the features are collinear or constant within every choice situation, so "
                "their coefficients are not identified; drop the redundant columns"
            )

    def _store(self, best: EMResult, scale: np.ndarray, item_features) -> None:
        self.weights_ = best.weights
        self.coefs_ = best.theta / scale
        self.log_likelihood_ = best.log_likelihood
        self.log_likelihood_path_ = best.path
        self.n_iter_ = best.n_iter
        self.converged_ = best.converged
        self.item_features_ = item_features

    def set_fitted(self, weights, coefs, item_features=None) -> SoftmaxMixture:
        """Set the fitted state directly (to sample or score from known parameters).

        Parameters
        ----------
        weights : array-like of shape (n_components,)
        coefs : array-like of shape (n_components, n_features)
        item_features : array-like of shape (p, n_features), optional
        """
        try:
            w = np.asarray(weights, dtype=float)
            c = np.atleast_2d(np.asarray(coefs, dtype=float))
        except (TypeError, ValueError) as exc:
            raise DataError(f"weights and coefs must be numeric arrays: {exc}") from None
        if w.shape != (c.shape[0],) or np.any(w < 0) or not np.isclose(w.sum(), 1):
            raise DataError("weights must be non-negative, sum to 1 and have one entry per "
                            "row of coefs")
        if c.ndim != 2 or not np.all(np.isfinite(c)):
            raise DataError("coefs must be a finite array of shape (n_components, n_features)")
        self.weights_, self.coefs_, self.n_features_in_ = w / w.sum(), c, c.shape[1]
        self.item_features_ = None
        if item_features is not None:
            self.item_features_ = check_features(self, item_features, reset=False)
        return self

    # ------------------------------------------------------------------ evaluation
    def _data(self, X, y, counts=None, groups=None, sample_weight=None):
        """Validated model data with features centred in every situation (the probabilities
        are unchanged; offsets such as 1e8 then cost no precision in the utilities)."""
        check_is_fitted(self, ["weights_", "coefs_"])
        X = check_features(self, X, reset=False)
        return centre_features(to_model_data(X, y, counts, groups, sample_weight))

    def log_likelihood(self, X, y=None, *, counts=None, groups=None,
                       sample_weight=None) -> float:
        """Total log-likelihood :math:`\\ell(\\omega)` of data laid out as in :meth:`fit`.

        With ``sample_weight`` the weighted log-likelihood, weights rescaled as in
        :meth:`fit` (mean 1 over the units).
        """
        data = self._data(X, y, counts, groups, sample_weight)
        return e_step(data, self.weights_, self.coefs_).log_likelihood

    @staticmethod
    def _n_obs(data) -> float:
        if isinstance(data, ItemSetData):
            return data.n_units
        return float(data.weights_per_unit[data.groups].sum())

    def score(self, X, y=None, *, counts=None, groups=None, sample_weight=None) -> float:
        """Mean log-likelihood per observation (with ``groups``: panel likelihood / N).

        With ``sample_weight`` (as in :meth:`fit`): the weighted log-likelihood divided by
        the total weight of the observations, so a uniform scale of the weights changes
        nothing.
        """
        data = self._data(X, y, counts, groups, sample_weight)
        return e_step(data, self.weights_, self.coefs_).log_likelihood / self._n_obs(data)

    def score_samples(self, X, y=None) -> np.ndarray:
        """Log-probability of each observed choice under the mixture, shape (n_samples,)."""
        data = self._data(X, y)
        if isinstance(data, ItemSetData):
            y_idx = np.asarray(y, dtype=np.intp).ravel()
            log_pi = log_choice_probabilities(data.situations, self.coefs_)[:, 0, :]
            return logsumexp(np.log(self.weights_)[:, None] + log_pi, axis=0)[y_idx]
        log_p = log_choice_probabilities(data.features, self.coefs_)
        chosen = log_p[:, np.arange(len(data.choices)), data.choices]  # (K, N)
        return logsumexp(np.log(self.weights_)[:, None] + chosen, axis=0)

    def predict_proba(self, X, y=None, *, groups=None) -> np.ndarray:
        """Posterior class probabilities of each observation, shape (n_samples, n_components).

        With ``groups`` every observation carries the posterior of its whole group (all
        its choices), so rows of one group are identical.
        """
        data = self._data(X, y, groups=groups)
        if isinstance(data, ItemSetData):
            log_pi = log_choice_probabilities(data.situations, self.coefs_)[:, 0, :]
            joint = np.log(self.weights_)[:, None] + log_pi
            resp = np.exp(joint - logsumexp(joint, axis=0)).T  # (p, K)
            return resp[np.asarray(y, dtype=np.intp).ravel()]
        return np.exp(group_log_responsibilities(data, self.weights_, self.coefs_)[1])[data.groups]

    def predict(self, X, y=None, *, groups=None) -> np.ndarray:
        """Most probable class of each observation (of its group with ``groups``)."""
        return np.argmax(self.predict_proba(X, y, groups=groups), axis=1)

    def choice_probabilities(self, X) -> np.ndarray:
        """Mixture choice probabilities :math:`\\sum_k \\alpha_k \\pi_j(\\theta_k)`.

        Parameters
        ----------
        X : array-like of shape (p, n_features) or (n_samples, n_alternatives, n_features)

        Returns
        -------
        ndarray of shape (p,) or (n_samples, n_alternatives)
        """
        check_is_fitted(self, ["weights_", "coefs_"])
        X = check_features(self, X, reset=False)
        F = X[None] if X.ndim == 2 else X
        comp = np.exp(log_choice_probabilities(F - F.mean(axis=1, keepdims=True), self.coefs_))
        probs = np.einsum("k,ksj->sj", self.weights_, comp)
        return probs[0] if X.ndim == 2 else probs

    def _n_parameters(self) -> int:
        return int(self.coefs_.size + self.weights_.size - 1)

    def bic(self, X, y=None, *, counts=None, groups=None, sample_weight=None) -> float:
        """:math:`-2\\ell + (KL + K - 1)\\log n` with n observations (groups with ``groups``).

        With ``sample_weight`` (rescaled as in :meth:`fit`, mean 1 over the units),
        :math:`\\ell` is the weighted log-likelihood and n the total weight of the units,
        i.e. still the number of observations (groups).
        """
        data = self._data(X, y, counts, groups, sample_weight)
        loglik = e_step(data, self.weights_, self.coefs_).log_likelihood
        return -2 * loglik + self._n_parameters() * np.log(data.n_units)

    def aic(self, X, y=None, *, counts=None, groups=None, sample_weight=None) -> float:
        """:math:`-2\\ell + 2(KL + K - 1)`, :math:`\\ell` weighted as in :meth:`bic`."""
        loglik = self.log_likelihood(X, y, counts=counts, groups=groups,
                                     sample_weight=sample_weight)
        return -2 * loglik + 2 * self._n_parameters()

    def sample(self, n_samples=None, random_state=None, *, X=None, groups=None):
        """Draw choices and their latent classes.

        Parameters
        ----------
        n_samples : int, optional
            Item set: number of draws (default 1). Choice situations: one draw per
            situation, so ``n_samples`` must be None or N.
        random_state : None, int or Generator
        X : array-like of shape (p, n_features) or (N, J, n_features), optional
            Defaults to the training item set.
        groups : array-like of shape (N,), optional
            Choice situations: situations of one group share one class.

        Returns
        -------
        choices : ndarray of shape (n_samples,)
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, ["weights_", "coefs_"])
        rng = check_rng(self.random_state if random_state is None else random_state)
        if X is None:
            if getattr(self, "item_features_", None) is None:
                raise DataError("pass X: the model was not fitted on an item set")
            X = self.item_features_
        X = check_features(self, X, reset=False)
        if X.ndim == 2:
            n = 1 if n_samples is None else int(n_samples)
            if n < 1:
                raise ValueError(f"n_samples must be at least 1, got {n_samples}")
            return sample_items(n, X, self.weights_, self.coefs_, rng)
        if n_samples is not None and n_samples != X.shape[0]:
            raise ValueError("choice situations give one draw each: n_samples must be None "
                             f"or {X.shape[0]}")
        if groups is None:
            codes = np.arange(X.shape[0])
        else:
            codes = np.unique(groups, return_inverse=True)[1]
        return sample_situations(X, codes, int(codes.max()) + 1, self.weights_, self.coefs_, rng)
