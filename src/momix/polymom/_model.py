"""Component models: parameters, observation functions and their polynomial moments.

A component model declares parameters :math:`\\theta \\in \\mathbb{R}^P` and observation
functions :math:`\\phi_n(x)` whose conditional means are polynomials in :math:`\\theta`,

.. math::

    f_n(\\theta) = \\mathbb{E}_{x \\sim p(x;\\theta)}[\\phi_n(x)]
                 = \\sum_\\alpha a_{n,\\alpha}\\, \\theta^\\alpha .

The coefficients :math:`a_{n,\\alpha}` may contain *auxiliary* symbols standing for data
moments that do not depend on the component (the covariate moments :math:`\\mathbb{E}[x^\\gamma]`
of a mixture of regressions, paper App. B); they are replaced by empirical means at fit time.
Everything is derived symbolically with sympy and compiled once into numeric tables.

References
----------
.. [1] S. I. Wang, A. T. Chaganty, P. Liang, "Estimating Mixture Models via Mixtures of
   Polynomials", NIPS 2015.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

__all__ = ["ComponentModel", "CompiledModel"]

#: compiled tables by symbolic content (oldest dropped first beyond _COMPILED_MAX models)
_COMPILED: dict = {}
_COMPILED_MAX = 64


def _symbols(seq, what: str) -> tuple[sp.Symbol, ...]:
    out = tuple(seq)
    if not out:
        raise ValueError(f"a component model needs at least one {what} symbol")
    for s in out:
        if not isinstance(s, sp.Symbol):
            raise ValueError(f"{what} must be sympy Symbols, got {s!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{what} symbols must be distinct")
    return out


def _expr(x) -> sp.Expr:
    """A sympy object as is; anything else (user input only) through ``sympify``."""
    return x if isinstance(x, sp.Basic) else sp.sympify(x)


def _poly_dict(expr, gens) -> dict[tuple[int, ...], sp.Expr]:
    """Exponent tuple -> coefficient (an expression free of ``gens``); raises if not polynomial.

    Reads the terms of the expanded expression one by one (linear in its size); a
    ``sympy.Poly`` over many generators builds a dense recursive representation instead
    (the 4-D regression model with its ~100 auxiliary moments took 30 s that way).
    """
    expr = sp.expand(_expr(expr))
    if not expr.is_polynomial(*gens):
        raise ValueError(f"{expr} is not a polynomial in {gens}")
    position = {g: i for i, g in enumerate(gens)}
    parts: dict[tuple[int, ...], list] = {}
    for term in sp.Add.make_args(expr):
        powers, rest = [0] * len(gens), []
        for factor in sp.Mul.make_args(term):
            base, exp = factor.as_base_exp()
            if base in position:
                powers[position[base]] += int(exp)
            else:
                rest.append(factor)
        parts.setdefault(tuple(powers), []).append(sp.Mul(*rest))
    out = {k: sp.Add(*v) for k, v in parts.items()}
    return {k: v for k, v in out.items() if v != 0}


class ComponentModel:
    """A component distribution whose observation moments are polynomials in its parameters.

    Parameters
    ----------
    params : sequence of sympy.Symbol
        Component parameters :math:`\\theta` (length P).
    data_symbols : sequence of sympy.Symbol
        One symbol per column of the data matrix; for conditional models whose ``fit`` takes a
        target ``y``, the last symbol stands for ``y``.
    observations : mapping or sequence of pairs
        ``{phi(x): E[phi(x) | theta]}``: each observation function as a sympy expression in
        ``data_symbols`` with its conditional mean, a polynomial in ``params`` (coefficients may
        contain ``auxiliary`` symbols).
    constants : mapping, optional
        ``{symbol: value}``: known constants in the moments (e.g. a known noise variance),
        kept symbolic in the compiled tables so :meth:`with_constants` changes them without
        re-deriving anything.
    auxiliary : mapping, optional
        ``{symbol: data expression}``: component-independent data moments used as
        coefficients, replaced by the empirical mean of the data expression.
    equalities : sequence of sympy.Expr, optional
        Polynomials :math:`g(\\theta)` with :math:`g = 0` on every component; imposed as the
        linear constraints :math:`L_y(g\\,\\theta^\\beta) = 0` for every multiplier that fits.
    inequalities : sequence of sympy.Expr, optional
        Polynomials :math:`g(\\theta) \\ge 0`, imposed by localizing matrices
        :math:`M(g\\,y) \\succeq 0`.
    degree_weights : sequence of int, optional
        Weight of each parameter in the weighted degree of monomials (default all 1).
    param_names : sequence of str, optional
        Column names of the fitted ``params_`` (default: the symbol names).
    uses_target : bool, default=False
        Whether the last data symbol is the target ``y`` passed to ``fit(X, y)``.
    name : str, default="custom"
        Shown in ``repr``.
    """

    family = "custom"

    def __init__(self, params, data_symbols, observations, *, auxiliary=None, constants=None,
                 equalities=(),
                 inequalities=(), degree_weights=None, param_names=None,
                 uses_target=False, name="custom"):
        self.params = _symbols(params, "parameter")
        self.data_symbols = _symbols(data_symbols, "data")
        pairs = observations.items() if isinstance(observations, Mapping) else observations
        self.observations = tuple((sp.expand(_expr(p)), sp.expand(_expr(f))) for p, f in pairs)
        if not self.observations:
            raise ValueError("a component model needs at least one observation function")
        self.auxiliary = tuple((s, _expr(e)) for s, e in dict(auxiliary or {}).items())
        self.constants = tuple((s, float(v)) for s, v in dict(constants or {}).items())
        self.equalities = tuple(sp.expand(_expr(g)) for g in equalities)
        self.inequalities = tuple(sp.expand(_expr(g)) for g in inequalities)
        weights = (1,) * len(self.params) if degree_weights is None else tuple(degree_weights)
        if len(weights) != len(self.params) or any(int(w) < 1 for w in weights):
            raise ValueError("degree_weights needs one positive integer per parameter")
        self.degree_weights = tuple(int(w) for w in weights)
        names = [s.name for s in self.params] if param_names is None else list(param_names)
        if len(names) != len(self.params):
            raise ValueError("param_names needs one name per parameter")
        self.param_names = tuple(names)
        self.uses_target = bool(uses_target)
        self.name = name
        self._compiled: CompiledModel | None = None
        self._check_symbols()

    def _check_symbols(self) -> None:
        data = set(self.data_symbols)
        aux = {s for s, _ in self.auxiliary} | {s for s, _ in self.constants}
        for phi, f in self.observations:
            if not phi.free_symbols <= data:
                raise ValueError(f"observation {phi} uses symbols outside data_symbols")
            extra = f.free_symbols - set(self.params) - aux
            if extra:
                raise ValueError(f"moment of {phi} uses unknown symbols {sorted(map(str, extra))}")
            _poly_dict(f, self.params)
        for _, e in self.auxiliary:
            if not e.free_symbols <= data:
                raise ValueError(f"auxiliary moment {e} uses symbols outside data_symbols")
        for g in self.equalities + self.inequalities:
            if not g.free_symbols <= set(self.params):
                raise ValueError(f"constraint {g} uses symbols other than the parameters")

    # -- alternative constructors --------------------------------------------------------

    @classmethod
    def from_distribution(cls, params, variables, phis, **kwargs) -> ComponentModel:
        """Derive the moments of ``phis`` with :func:`sympy.stats.E` from a sympy distribution.

        Parameters
        ----------
        params : sequence of sympy.Symbol
        variables : sequence of sympy.stats random symbols
            The observed variables (one per data column), e.g.
            ``sympy.stats.Uniform("x", a, b)``.
        phis : sequence of sympy.Expr
            Observation functions written in the random symbols.
        **kwargs
            Passed to :class:`ComponentModel`.
        """
        from sympy import stats

        data = [sp.Symbol(str(v)) for v in variables]
        swap = dict(zip(variables, data, strict=True))
        obs = []
        for phi in phis:
            moment = sp.cancel(sp.simplify(stats.E(phi)))
            obs.append((sp.sympify(phi).xreplace(swap), sp.expand(moment)))
        return cls(params, data, obs, **kwargs)

    @classmethod
    def from_mgf(cls, params, data_symbols, mgf, t_symbols, order: int, **kwargs):
        """Derive the moments of all monomials :math:`x^\\alpha`, ``1 <= |alpha| <= order``,
        by differentiating a moment generating function
        :math:`\\mathbb{E}[x^\\alpha] = \\partial_t^\\alpha M(t)|_{t=0}`.
        """
        t = tuple(t_symbols)
        obs = []
        for alpha in monomial_exponents(len(t), order):
            d = mgf
            for tj, a in zip(t, alpha, strict=True):
                d = sp.diff(d, tj, a) if a else d
            moment = sp.expand(d.subs({tj: 0 for tj in t}))
            obs.append((sp.Mul(*[x**a for x, a in zip(data_symbols, alpha, strict=True)]), moment))
        return cls(params, data_symbols, obs, **kwargs)

    # -- derived quantities ----------------------------------------------------------------

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def n_features(self) -> int:
        """Columns of ``X`` (the target, if any, is not counted)."""
        return len(self.data_symbols) - int(self.uses_target)

    @property
    def observation_functions(self) -> tuple[sp.Expr, ...]:
        return tuple(p for p, _ in self.observations)

    def compiled(self) -> CompiledModel:
        """Numeric tables of the model, cached on the instance and, across instances, by the
        model's symbolic content (a fresh ``GaussianDiagonal(2)`` reuses the tables of an
        earlier one instead of re-deriving them with sympy)."""
        if self._compiled is None:
            key = (self.params, self.data_symbols, self.observations, self.auxiliary,
                   tuple(s for s, _ in self.constants), self.equalities, self.inequalities)
            cached = _COMPILED.get(key)
            if cached is None:
                cached = compile_model(self)
                if len(_COMPILED) >= _COMPILED_MAX:
                    _COMPILED.pop(next(iter(_COMPILED)))
                _COMPILED[key] = cached
            self._compiled = cached
        return self._compiled

    def with_constants(self, values: Mapping) -> ComponentModel:
        """A copy with new values of the constants (keys: symbols or their names)."""
        names = {str(k): float(v) for k, v in values.items()}
        unknown = set(names) - {s.name for s, _ in self.constants}
        if unknown:
            raise ValueError(f"the model has no constants {sorted(unknown)}")
        out = copy.copy(self)
        out.constants = tuple((s, names.get(s.name, v)) for s, v in self.constants)
        return out

    @property
    def constant_values(self) -> np.ndarray:
        return np.array([v for _, v in self.constants], dtype=float)

    def moment_keys(self) -> tuple[str, ...]:
        """Keys expected by ``Polymom.fit_moments``: observation functions then auxiliaries."""
        c = self.compiled()
        return c.obs_keys + c.aux_keys

    def population_moments(self, weights, params, auxiliary=None) -> dict[str, float]:
        """Exact mixture moments :math:`\\sum_k \\pi_k f_n(\\theta_k)` as a ``fit_moments`` mapping.

        ``auxiliary`` gives the values of the auxiliary data moments (keys as in
        :meth:`moment_keys`), needed only by models that have some.
        """
        c = self.compiled()
        aux = np.concatenate([_aux_vector(c, auxiliary or {}), self.constant_values])
        params = np.atleast_2d(np.asarray(params, dtype=float))
        weights = np.asarray(weights, dtype=float)
        out = {}
        for key, terms in zip(c.obs_keys, c.obs_terms, strict=True):
            total = 0.0
            for alpha, coef in terms.items():
                mono = np.prod(params ** np.asarray(alpha), axis=1)
                total += float(np.sum(weights * mono)) * _eval_aux_poly(coef, aux)
            out[key] = total
        out.update({k: float(v) for k, v in zip(c.aux_keys, aux, strict=False)})
        return out

    @property
    def has_likelihood(self) -> bool:
        """Whether :meth:`log_prob` is defined (a subclass overrides it)."""
        return type(self).log_prob is not ComponentModel.log_prob

    def log_prob(self, Z: np.ndarray, params: np.ndarray) -> np.ndarray:
        """Log-density of each row of the data matrix under each component, (n_samples, K).

        Raises
        ------
        ValueError
            For a model without a likelihood (moments only, as custom models).
        """
        raise ValueError(
            f"the {self.name} model has no likelihood (it defines moments only): predict, "
            "predict_proba, score, score_samples, bic and aic need a model with log_prob "
            "(the built-in Gaussian, Poisson, linear regression or MultiView(simplex=True))"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, P={self.n_params}, N={len(self.observations)})"

    # -- persistence: plain data only (skops, pickle); see ._state -------------------------

    def __getstate__(self) -> dict:
        """Symbol names and polynomials as ``[coefficient, exponents]`` lists (no sympy)."""
        from ._state import model_state

        return model_state(self)

    def __setstate__(self, state: dict) -> None:
        """Rebuild the sympy expressions from :meth:`__getstate__` data, parsing no string."""
        from ._state import restore_model

        restore_model(self, state)

    def __copy__(self):
        # every attribute is immutable (sympy objects, tuples, scalars; the compiled tables
        # are never mutated), so copies share them instead of going through __getstate__
        out = type(self).__new__(type(self))
        out.__dict__.update(self.__dict__)
        return out

    def __deepcopy__(self, memo):
        return self.__copy__()


# ---------------------------------------------------------------------------------------
# compilation to numeric tables
# ---------------------------------------------------------------------------------------


def monomial_exponents(n_vars: int, order: int) -> list[tuple[int, ...]]:
    """All exponent tuples with ``1 <= |alpha| <= order``, by degree."""
    from itertools import combinations_with_replacement

    out = []
    for deg in range(1, order + 1):
        for combo in combinations_with_replacement(range(n_vars), deg):
            out.append(tuple(combo.count(j) for j in range(n_vars)))
    return out


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """Numeric tables of a :class:`ComponentModel`.

    Attributes
    ----------
    obs_keys, aux_keys : tuple of str
        String forms of the observation functions and auxiliary data expressions.
    obs_terms : tuple of dict
        Per observation, ``{param exponent: {aux exponent: float}}``.
    data_polys : tuple of (dict or callable)
        Per observation then auxiliary: ``{data exponent: float}`` for polynomial data
        functions, else a vectorised callable of the data columns.
    equalities, inequalities : tuple of dict
        ``{param exponent: float}`` of each constraint polynomial.
    """

    obs_keys: tuple[str, ...]
    aux_keys: tuple[str, ...]
    obs_terms: tuple[dict, ...]
    data_polys: tuple
    equalities: tuple[dict, ...]
    inequalities: tuple[dict, ...]


def _float_dict(d) -> dict:
    return {k: float(v) for k, v in d.items() if float(v) != 0.0}


def _data_function(expr, data_symbols):
    if expr.is_polynomial(*data_symbols):
        return _float_dict(_poly_dict(expr, data_symbols))
    return sp.lambdify(data_symbols, expr, modules="numpy")


def compile_model(model: ComponentModel) -> CompiledModel:
    """Turn a model's sympy expressions into numeric coefficient tables."""
    aux_syms = tuple(s for s, _ in model.auxiliary) + tuple(s for s, _ in model.constants)
    terms = []
    for _, f in model.observations:
        entry = {}
        for alpha, coef in _poly_dict(f, model.params).items():
            inner = _float_dict(_poly_dict(coef, aux_syms)) if aux_syms else {(): float(coef)}
            if inner:
                entry[alpha] = inner
        terms.append(entry)
    data_exprs = [p for p, _ in model.observations] + [e for _, e in model.auxiliary]
    return CompiledModel(
        obs_keys=tuple(str(p) for p, _ in model.observations),
        aux_keys=tuple(str(e) for _, e in model.auxiliary),
        obs_terms=tuple(terms),
        data_polys=tuple(_data_function(e, model.data_symbols) for e in data_exprs),
        equalities=tuple(_float_dict(_poly_dict(g, model.params)) for g in model.equalities),
        inequalities=tuple(_float_dict(_poly_dict(g, model.params)) for g in model.inequalities),
    )


def _eval_aux_poly(coef: dict, aux: np.ndarray) -> float:
    return float(sum(c * np.prod(aux ** np.asarray(e)) for e, c in coef.items()))


def _aux_vector(c: CompiledModel, values: Mapping) -> np.ndarray:
    missing = [k for k in c.aux_keys if k not in values]
    if missing:
        raise ValueError(f"auxiliary moments {missing} are needed to evaluate this model")
    return np.array([float(values[k]) for k in c.aux_keys])
