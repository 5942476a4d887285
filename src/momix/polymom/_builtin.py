"""Built-in component models, each derived symbolically (moment generating functions).

Gaussian moments come from :math:`M(t) = \\exp(\\xi t + c t^2/2)`, so
:math:`h_n(\\xi, c) = \\partial_t^n M|_{t=0}` satisfies :math:`h_{n+1} = \\xi h_n + n c h_{n-1}`
(the absolute coefficients of the probabilists' Hermite polynomial :math:`He_n`); Poisson moments
come from :math:`\\exp(\\lambda(e^t - 1))` (Touchard polynomials); regression moments from
expanding :math:`\\mathbb{E}[x^\\alpha (w\\cdot x + b + \\varepsilon)^m]` with Gaussian noise
moments.
"""

from __future__ import annotations

from functools import cache
from itertools import combinations_with_replacement, permutations
from math import factorial

import numpy as np
import sympy as sp
from scipy.special import gammaln, xlogy

from ..exceptions import DataError
from ._budget import check_observation_count, gaussian_observations, regression_derivation
from ._em import diag_gaussian_log_prob, multiview_log_prob
from ._model import ComponentModel, monomial_exponents

__all__ = [
    "Gaussian1D", "GaussianSpherical", "GaussianDiagonal", "Poisson", "LinearRegression",
    "MultiView",
]

_A, _B = sp.symbols("a b")
_LOG_2PI = float(np.log(2 * np.pi))


@cache
def _mgf_moment(kind: str, n: int) -> sp.Expr:
    """n-th raw moment in generic symbols (a, b): Gaussian N(a, b) or Poisson(a).

    The derivatives of the moment generating functions at 0, through their recurrences:
    :math:`h_{n+1} = a h_n + n b h_{n-1}` (Gaussian) and the Touchard polynomial
    :math:`\\sum_j S(n, j) a^j` (Poisson, :math:`S` the Stirling numbers of the second kind),
    linear in n instead of n symbolic differentiations (order 40 took 8.7 s that way).
    """
    if kind == "poisson":
        return sp.Add(*[sp.functions.combinatorial.numbers.stirling(n, j) * _A**j
                        for j in range(n + 1)])
    if n < 2:
        return sp.Integer(1) if n == 0 else _A
    for m in range(2, n - 1):  # fill the cache upwards: no recursion deeper than 2
        _mgf_moment(kind, m)
    return sp.expand(_A * _mgf_moment(kind, n - 1) + (n - 1) * _B * _mgf_moment(kind, n - 2))


def _moment(kind: str, n: int, a, b=None) -> sp.Expr:
    return _mgf_moment(kind, n).xreplace({_A: a, _B: b} if b is not None else {_A: a})


def _scaled_poisson_moment(n: int, theta, unit) -> sp.Expr:
    """:math:`E[(u x)^n]` for :math:`x \\sim \\mathrm{Poisson}(\\theta / u)`: the Touchard
    polynomial :math:`\\sum_j S(n, j) u^{n-j} \\theta^j`, polynomial in ``unit``."""
    return sp.expand(unit**n * _moment("poisson", n, theta / unit))


def _monomial(symbols, alpha) -> sp.Expr:
    return sp.Mul(*[s**e for s, e in zip(symbols, alpha, strict=True)])


def _diag_gaussian_log_prob(Z, means, variances):
    if np.any(variances <= 0):
        raise ValueError("a fitted variance is not positive; the component has no density")
    return diag_gaussian_log_prob(Z, means, variances)


class _GaussianModel(ComponentModel):
    family = "gaussian"

    def gaussian_parameters(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(means (K, d), variances (K, d)) of the components."""
        raise NotImplementedError

    def log_prob(self, Z, params):
        return _diag_gaussian_log_prob(Z, *self.gaussian_parameters(params))

    def observation_product_moments(self, params: np.ndarray) -> np.ndarray:
        """:math:`E[\\phi_i(x)\\phi_j(x) \\mid \\theta_k]`, shape (K, n_obs, n_obs).

        The product of two observation monomials is a monomial :math:`x^{\\alpha+\\beta}`,
        whose Gaussian moment factorises over coordinates,
        :math:`\\prod_d h_{\\alpha_d+\\beta_d}(\\xi_d, c_d)`
        (:func:`momix.special.gaussian_raw_moments`; variances clipped at 0). Used by
        ``moment_weighting="two_step"`` (the model-implied covariance of the moments).
        """
        from ..special import gaussian_raw_moments

        c = self.compiled()
        polys = c.data_polys[:len(c.obs_keys)]
        means, var = self.gaussian_parameters(np.asarray(params, dtype=float))
        top = 2 * max(max(e) for poly in polys for e in poly)
        raw = gaussian_raw_moments(means, np.maximum(var, 0.0), top)  # (K, d, top + 1)
        cols = np.arange(means.shape[1])
        out = np.zeros((means.shape[0], len(polys), len(polys)))
        for i, pi in enumerate(polys):
            for j in range(i, len(polys)):
                for ea, ca in pi.items():
                    for eb, cb in polys[j].items():
                        e = np.add(ea, eb)
                        out[:, i, j] += ca * cb * np.prod(raw[:, cols, e], axis=1)
                out[:, j, i] = out[:, i, j]
        return out


class GaussianDiagonal(_GaussianModel):
    """Gaussian with diagonal covariance, :math:`\\theta = (\\xi_1..\\xi_D, c_1..c_D)`.

    Moments :math:`f_\\alpha(\\theta) = \\prod_d h_{\\alpha_d}(\\xi_d, c_d)` of all monomials
    :math:`x^\\alpha`, :math:`1 \\le |\\alpha| \\le` ``order``.

    Parameters
    ----------
    n_features : int
    order : int, default=4
        Highest total degree of the observed moments (R_obs).
    mean_sum : float, optional
        If given, every component mean satisfies :math:`\\sum_d \\xi_d = ` ``mean_sum``
        (the paper's "constrained" Gaussians use 1).
    nonnegative_variance : bool, default=True
        Add the localizing constraints :math:`c_d \\ge 0`.
    weighted : bool, default=True
        Give the variances weight 2 in the degree of monomials (paper's weighted basis).
    """

    def __init__(self, n_features: int = 2, order: int = 4, *, mean_sum=None,
                 nonnegative_variance=True, weighted=True):
        d = int(n_features)
        xi = sp.symbols(f"mean_0:{d}")
        c = sp.symbols(f"variance_0:{d}")
        data = sp.symbols(f"x_0:{d}")
        eqs = [] if mean_sum is None else [sp.Add(*xi) - sp.nsimplify(mean_sum)]
        self.mean_sum = mean_sum
        self._init_gaussian(xi, c, c, order, data, eqs, nonnegative_variance, weighted,
                            f"diagonal Gaussian in R^{d}")

    def _init_gaussian(self, xi, var_syms, c_per_dim, order, data, eqs, nonneg, weighted, name,
                       constants=None):
        n_obs = gaussian_observations(len(data), order)  # a few terms each: counted as one
        check_observation_count(n_obs, n_obs, f"the {name} model", order)
        obs = []
        for alpha in monomial_exponents(len(data), order):
            f = sp.Mul(*[_moment("gaussian", a, xi[j], c_per_dim[j]) for j, a in enumerate(alpha)])
            obs.append((_monomial(data, alpha), sp.expand(f)))
        params = tuple(xi) + tuple(var_syms)
        ComponentModel.__init__(
            self, params, data, obs, equalities=eqs, constants=constants,
            inequalities=list(var_syms) if nonneg else [],
            degree_weights=(1,) * len(xi) + (2 if weighted else 1,) * len(var_syms), name=name)
        self.order = order
        self.nonnegative_variance = nonneg
        self.weighted = weighted

    def gaussian_parameters(self, params):
        d = self.n_features
        return params[:, :d], params[:, d:]


class GaussianSpherical(GaussianDiagonal):
    """Gaussian with one variance per component, :math:`\\theta = (\\xi_1..\\xi_D, c)`.

    Same observations as :class:`GaussianDiagonal`; the moments use :math:`c_d = c`.

    With ``shared_variance=True`` one variance is *shared by all components* (parameter
    sharing, as in EM): it becomes a model constant named ``"variance"`` (so
    :math:`\\theta = \\xi`, P = D) whose value is profiled by ``Polymom(profile=...)`` or set
    with :meth:`with_constants`.
    """

    def __init__(self, n_features: int = 2, order: int = 4, *, mean_sum=None,
                 nonnegative_variance=True, weighted=True, shared_variance=False,
                 variance=1.0):
        d = int(n_features)
        xi = sp.symbols(f"mean_0:{d}")
        c = sp.Symbol("variance")
        data = sp.symbols(f"x_0:{d}")
        eqs = [] if mean_sum is None else [sp.Add(*xi) - sp.nsimplify(mean_sum)]
        self.mean_sum = mean_sum
        self.shared_variance = shared_variance
        if shared_variance:
            self._init_gaussian(xi, (), (c,) * d, order, data, eqs, False, weighted,
                                f"spherical Gaussian in R^{d}, shared variance",
                                constants={c: variance})
        else:
            self._init_gaussian(xi, (c,), (c,) * d, order, data, eqs, nonnegative_variance,
                                weighted, f"spherical Gaussian in R^{d}")

    def gaussian_parameters(self, params):
        d = self.n_features
        if self.shared_variance:
            return params[:, :d], np.full((params.shape[0], d), self.constants[0][1])
        return params[:, :d], np.repeat(params[:, d:d + 1], d, axis=1)


class Gaussian1D(GaussianDiagonal):
    """Pearson's univariate Gaussian, :math:`\\theta = (\\xi, c)` = (mean, variance).

    Observations :math:`x, x^2, \\dots, x^{order}` with moments :math:`h_n(\\xi, c)`.
    The default basis uses plain total degree (``weighted=False``): with the weighted basis
    the convex iteration on Pearson's problem was found to stall (spec §1.7), with total degree
    it recovers exact moments to solver precision.
    """

    def __init__(self, order: int = 6, *, nonnegative_variance=True, weighted=False):
        xi, c = sp.symbols("mean variance")
        self.mean_sum = None
        self._init_gaussian((xi,), (c,), (c,), order, (sp.Symbol("x"),), [],
                            nonnegative_variance, weighted, "1-D Gaussian")


def check_counts(Z: np.ndarray) -> None:
    """Raise ``DataError`` unless every entry of ``Z`` is a non-negative integer (counts)."""
    if np.any(Z < 0) or np.any(Z != np.round(Z)):
        raise DataError("the Poisson model needs counts: every value of X must be a "
                        "non-negative integer")


class Poisson(ComponentModel):
    """Product of independent Poissons with rates :math:`\\lambda_1..\\lambda_D`.

    Observations: all monomials of total degree ``1..order``; moments are products of
    Touchard polynomials; :math:`\\lambda_d \\ge 0` as localizing constraints.

    Counts far above 1 make the moments span many orders of magnitude (the trace term of
    the relaxation then outweighs the moment residual: rates near 30 came out as one
    component), and counts are not closed under scaling. The model therefore carries one
    constant per feature, ``unit_d`` (:math:`u_d`, default 1): the observations are moments
    of :math:`x' = u x` and the parameters are :math:`\\theta = u \\lambda`,

    .. math::

        E[(u x)^a] = u^a T_a(\\theta / u) = \\sum_{j \\le a} S(a, j)\\, u^{a-j}
        \\theta^j ,

    a polynomial in :math:`u` (:math:`S` the Stirling numbers of the second kind, :math:`T_a`
    the Touchard polynomial). ``Polymom.fit`` sets :math:`u_d = 1/s_d`, :math:`s_d` the mean
    count of feature d when it exceeds 1 (:mod:`momix.polymom._scaling`), and maps
    :math:`\\lambda = s\\theta` back; the fitted ``model_`` keeps :math:`u = 1`.
    """

    family = "poisson"

    def __init__(self, n_features: int = 1, order: int = 4):
        d = int(n_features)
        n_obs = gaussian_observations(d, order)
        check_observation_count(n_obs, n_obs, f"the Poisson model in N^{d}", order)
        lam = sp.symbols(f"rate_0:{d}")
        unit = sp.symbols(f"unit_0:{d}")
        data = sp.symbols(f"x_0:{d}")
        obs = [(_monomial(data, a), sp.expand(sp.Mul(*[_scaled_poisson_moment(k, lam[j], unit[j])
                                                       for j, k in enumerate(a)])))
               for a in monomial_exponents(d, order)]
        super().__init__(lam, data, obs, inequalities=list(lam), name=f"Poisson in N^{d}",
                         constants={u: 1.0 for u in unit})
        self.order = order

    def log_prob(self, Z, params):
        """:math:`\\sum_d [x_d \\log\\lambda_d - \\lambda_d - \\log x_d!]`, shape (n, K); a
        rate of 0 is the point mass at 0 (:math:`0 \\log 0 = 0`)."""
        if np.any(params < 0):
            raise ValueError("a fitted Poisson rate is negative; the component has no pmf")
        check_counts(Z)
        rates = params[None, :, :]
        x = Z[:, None, :]
        with np.errstate(divide="ignore"):
            return np.sum(xlogy(x, rates) - rates - gammaln(x + 1), axis=2)


class LinearRegression(ComponentModel):
    """Linear regression component :math:`y = w\\cdot x + b + \\varepsilon`,
    :math:`\\varepsilon \\sim N(0, \\sigma^2)` with **known** :math:`\\sigma^2`.

    Observations :math:`x^\\alpha y^m` for :math:`0 \\le |\\alpha| \\le` ``x_order`` and
    :math:`1 \\le m \\le` ``y_order``, with moments

    .. math::

        f_{\\alpha,m}(w) = \\sum_{j} \\binom{m}{j} \\mathbb{E}[\\varepsilon^{m-j}]
            \\,\\mathbb{E}[x^\\alpha (w\\cdot x + b)^j],

    where the covariate moments :math:`\\mathbb{E}[x^\\gamma]` are auxiliary (empirical) moments,
    so x may follow any distribution (paper Table 2, App. B).
    """

    family = "linear_regression"

    def __init__(self, n_features: int = 2, noise_variance: float = 0.0, *, x_order: int = 2,
                 y_order: int = 3, fit_intercept: bool = False):
        d = int(n_features)
        if noise_variance < 0:
            raise ValueError("noise_variance must be non-negative")
        check_observation_count(*regression_derivation(d, x_order, y_order, fit_intercept),
                                f"the linear regression model in R^{d}", y_order)
        w = list(sp.symbols(f"coef_0:{d}"))
        x = sp.symbols(f"x_0:{d}")
        v = sp.Symbol("y")
        params = w + ([sp.Symbol("intercept")] if fit_intercept else [])
        s2 = sp.Symbol("noise_variance")
        noise = {m: _moment("gaussian", m, 0, s2) for m in range(y_order + 1)}
        aux, obs = {}, []
        slots = len(params) + 1  # coefficients (times x_i), intercept, noise
        for alpha in [(0,) * d] + monomial_exponents(d, x_order):
            for m in range(1, y_order + 1):
                # multinomial expansion of x^alpha (w.x + b + eps)^m, term by term
                terms = []
                for combo in combinations_with_replacement(range(slots), m):
                    counts = [combo.count(j) for j in range(slots)]
                    coef = factorial(m)
                    for c_j in counts:
                        coef //= factorial(c_j)
                    if noise[counts[-1]] == 0:  # odd moments of the noise
                        continue
                    gamma = tuple(a + g for a, g in zip(alpha, counts[:d], strict=True))
                    sym = 1
                    if any(gamma):
                        mono = _monomial(x, gamma)
                        if mono not in aux:
                            aux[mono] = sp.Symbol(f"E[{mono}]")
                        sym = aux[mono]
                    # every factor is a monomial: the sum is expanded as built
                    terms.append(sp.Mul(coef, noise[counts[-1]], sym,
                                        *[p**c_p for p, c_p in zip(params, counts[:-1],
                                                                   strict=True) if c_p]))
                obs.append((_monomial(x, alpha) * v**m, sp.Add(*terms)))
        super().__init__(params, (*x, v), obs, auxiliary={s: e for e, s in aux.items()},
                         constants={s2: noise_variance}, uses_target=True,
                         name=f"linear regression in R^{d}")
        self.fit_intercept = fit_intercept
        self.x_order, self.y_order = x_order, y_order

    @property
    def noise_variance(self) -> float:
        """The known noise variance (change it with ``with_constants``)."""
        return self.constants[0][1]

    def predict_mean(self, X, params):
        """Mean of y under each component, (n_samples, K)."""
        d = self.n_features
        out = X @ params[:, :d].T
        return out + params[:, d][None] if self.fit_intercept else out

    def log_prob(self, Z, params):
        if self.noise_variance <= 0:
            raise ValueError("log-likelihoods need noise_variance > 0")
        resid = Z[:, -1:] - self.predict_mean(Z[:, :-1], params)
        return -0.5 * (_LOG_2PI + np.log(self.noise_variance) + resid**2 / self.noise_variance)


class MultiView(ComponentModel):
    """Three conditionally independent views with means :math:`\\xi^{(1)}, \\xi^{(2)}, \\xi^{(3)}`.

    Data columns are the three views side by side (3 x ``n_features``). Observations are all
    products of coordinates from distinct views, of one, two and three views, with moments
    :math:`\\mathbb{E}[x^{(1)}_i x^{(2)}_j x^{(3)}_k] = \\xi^{(1)}_i\\xi^{(2)}_j\\xi^{(3)}_k`.

    Parameters
    ----------
    n_features : int
        Dimension of each view.
    symmetric : bool, default=False
        All views share one mean (P = ``n_features``). The observation for
        :math:`\\xi^\\alpha`, :math:`|\\alpha| \\le 3`, is the average over every assignment of its
        factors to distinct views.
    simplex : bool, default=False
        Means are probability vectors (one-hot / categorical views): adds
        :math:`\\sum_d \\xi_d = 1` and :math:`\\xi_d \\ge 0`.
    """

    family = "multiview"

    def __init__(self, n_features: int = 3, *, symmetric: bool = False, simplex: bool = False):
        d = int(n_features)
        count = gaussian_observations(d, 3) if symmetric else 3 * d + 3 * d**2 + d**3
        check_observation_count(count, count, f"the 3-view model in R^{d}", 3)
        views = [sp.symbols(f"x{v}_0:{d}") for v in range(3)]
        n_means = 1 if symmetric else 3
        means = [sp.symbols(f"mean{v}_0:{d}") for v in range(n_means)]
        obs = self._symmetric(views, means[0]) if symmetric else self._general(views, means)
        params = [p for m in means for p in m]
        eqs = [sp.Add(*m) - 1 for m in means] if simplex else []
        super().__init__(params, [x for v in views for x in v], obs, equalities=eqs,
                         inequalities=params if simplex else [],
                         name=f"{'symmetric ' if symmetric else ''}3-view in R^{d}")
        self.symmetric, self.simplex = symmetric, simplex

    @property
    def has_likelihood(self) -> bool:
        """Categorical views (``simplex=True``) have a likelihood; other views do not."""
        return self.simplex

    def log_prob(self, Z, params):
        """Categorical (count) log-probability of the three views, shape (n_samples, K).

        ``simplex=True`` models only (:func:`._em.multiview_log_prob`, the likelihood that
        ``refine="em"`` maximises); each mean is clipped at 0 and renormalised to sum to 1
        (solver round-off). Without ``simplex`` the views have no likelihood.
        """
        if not self.simplex:
            return super().log_prob(Z, params)
        d = self.n_features // 3
        views = Z.reshape(len(Z), 3, d).transpose(1, 0, 2)
        if np.any(views < 0):
            raise DataError("categorical views are counts: every value of X must be >= 0")
        means = (np.repeat(params[:, None, :], 3, axis=1) if self.symmetric
                 else params.reshape(-1, 3, d))
        means = np.clip(means, 0.0, None)
        return multiview_log_prob(views, means / means.sum(axis=2, keepdims=True))

    @staticmethod
    def _general(views, means):
        d = len(means[0])
        obs = []
        for n_views in (1, 2, 3):
            for chosen in [c for c in permutations(range(3), n_views) if list(c) == sorted(c)]:
                for idx in np.ndindex(*(d,) * n_views):
                    phi = sp.Mul(*[views[v][i] for v, i in zip(chosen, idx, strict=True)])
                    f = sp.Mul(*[means[v][i] for v, i in zip(chosen, idx, strict=True)])
                    obs.append((phi, f))
        return obs

    @staticmethod
    def _symmetric(views, xi):
        obs = []
        for alpha in monomial_exponents(len(xi), 3):
            coords = [j for j, a in enumerate(alpha) for _ in range(a)]
            terms = {sp.Mul(*[views[v][c] for v, c in zip(assign, coords, strict=True)])
                     for assign in permutations(range(3), len(coords))}
            obs.append((sp.Add(*sorted(terms, key=str)) / len(terms), _monomial(xi, alpha)))
        return obs
