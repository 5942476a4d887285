"""Plain-data state of a :class:`ComponentModel`, for skops and pickle, with no ``eval``.

A model is stored as symbol names (``str``) and polynomials written as lists of
``[coefficient, exponents]`` over named symbols, where a coefficient is ``[p, q]`` (the
rational p/q, Python ints) or a ``float``. Loading rebuilds every sympy expression from
:class:`sympy.Symbol`, :class:`sympy.Rational`, :class:`sympy.Float` and ``Mul``/``Pow``/``Add``:
no string is ever parsed (sympy's ``sympify``/``parse_expr`` call ``eval``), and symbol names
are restricted to letters, digits, ``_``, ``[``, ``]``, ``*`` and spaces, so that nothing
downstream (e.g. code generation) could ever turn a name into code.

Parts that have no such form -- non-polynomial observation functions or auxiliary data
moments, irrational numeric coefficients, non-scalar extra attributes -- raise a
``ValueError`` naming the part when the model is saved.
"""

from __future__ import annotations

import re

import sympy as sp

__all__ = ["model_state", "restore_model"]

#: version of the stored layout
STATE_VERSION = 1

_BASE_FIELDS = ("params", "data_symbols", "observations", "auxiliary", "constants",
                "equalities", "inequalities", "degree_weights", "param_names", "uses_target",
                "name", "_compiled")
_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\[\]\* ]*\Z")
_SCALARS = (type(None), bool, int, float, str)


def _coefficient(c, part: str):
    if c.is_Rational:
        return [int(c.p), int(c.q)]
    if c.is_Float:
        return float(c)
    raise ValueError(f"cannot save the model: {part} has the coefficient {c}, which is neither "
                     "rational nor a float")


def _encode(expr, gens, part: str) -> list:
    """``[[coefficient, exponents], ...]`` of a polynomial in ``gens`` with numeric coefficients."""
    expr = sp.expand(expr)
    if not expr.is_polynomial(*gens) or not expr.free_symbols <= set(gens):
        raise ValueError(f"cannot save the model: {part} = {expr} is not a polynomial in "
                         f"{[str(g) for g in gens]}")
    if expr == 0:
        return []
    terms = sp.Poly(expr, *gens).as_dict(native=False)
    out = [[_coefficient(c, part), [int(e) for e in alpha]] for alpha, c in terms.items()]
    if _decode(out, gens, part) != expr:  # e.g. a float whose precision exceeds a double
        raise ValueError(f"cannot save the model: {part} = {expr} does not survive storage")
    return out


def _decode(terms, gens, part: str) -> sp.Expr:
    if not isinstance(terms, list):
        raise ValueError(f"corrupt model state: {part} is not a list of terms")
    out = []
    for term in terms:
        if not (isinstance(term, list) and len(term) == 2 and isinstance(term[1], list)
                and len(term[1]) == len(gens)):
            raise ValueError(f"corrupt model state: a term of {part} is malformed")
        coef, alpha = term
        if not all(type(e) is int and e >= 0 for e in alpha):
            raise ValueError(f"corrupt model state: {part} has invalid exponents")
        if type(coef) is float:
            c = sp.Float(coef)
        elif (isinstance(coef, list) and len(coef) == 2 and all(type(v) is int for v in coef)
              and coef[1] != 0):
            c = sp.Rational(coef[0], coef[1])
        else:
            raise ValueError(f"corrupt model state: {part} has an invalid coefficient")
        out.append(sp.Mul(c, *[g**e for g, e in zip(gens, alpha, strict=True)]))
    return sp.Add(*out)


def _names(symbols) -> list[str]:
    return [s.name for s in symbols]


def _symbols(names, part: str) -> tuple[sp.Symbol, ...]:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"corrupt model state: {part} must be a list of names")
    bad = [n for n in names if not _SAFE_NAME.match(n)]
    if bad:
        raise ValueError(f"corrupt model state: refused symbol names {bad} in {part}")
    return tuple(sp.Symbol(n) for n in names)


def _extras(model) -> dict:
    extra = {k: v for k, v in vars(model).items() if k not in _BASE_FIELDS}
    for k, v in extra.items():
        if not isinstance(v, _SCALARS):
            raise ValueError(f"cannot save the model: attribute {k!r} is a {type(v).__name__}, "
                             "not None, bool, int, float or str")
    return extra


def model_state(model) -> dict:
    """The plain-data state of a component model (see the module docstring)."""
    params, data = model.params, model.data_symbols
    aux = tuple(s for s, _ in model.auxiliary)
    consts = tuple(s for s, _ in model.constants)
    moment_gens = params + aux + consts
    return {
        "version": STATE_VERSION,
        "params": _names(params),
        "data_symbols": _names(data),
        "auxiliary_symbols": _names(aux),
        "constant_symbols": _names(consts),
        "constant_values": [float(v) for _, v in model.constants],
        "observations": [[_encode(p, data, f"observation function {p}"),
                          _encode(f, moment_gens, f"moment of {p}")]
                         for p, f in model.observations],
        "auxiliary": [_encode(e, data, f"auxiliary moment {s}") for s, e in model.auxiliary],
        "equalities": [_encode(g, params, f"equality {g}") for g in model.equalities],
        "inequalities": [_encode(g, params, f"inequality {g}") for g in model.inequalities],
        "degree_weights": [int(w) for w in model.degree_weights],
        "param_names": [str(n) for n in model.param_names],
        "uses_target": bool(model.uses_target),
        "name": str(model.name),
        "extra": _extras(model),
    }


def _get(state: dict, key: str, kind):
    value = state.get(key)
    if not isinstance(value, kind):
        raise ValueError(f"corrupt model state: {key!r} is missing or of the wrong type")
    return value


def restore_model(model, state) -> None:
    """Rebuild ``model``'s attributes from :func:`model_state` output (in place)."""
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise ValueError("corrupt model state: unknown layout version")
    params = _symbols(_get(state, "params", list), "params")
    data = _symbols(_get(state, "data_symbols", list), "data_symbols")
    aux = _symbols(_get(state, "auxiliary_symbols", list), "auxiliary_symbols")
    consts = _symbols(_get(state, "constant_symbols", list), "constant_symbols")
    values = _get(state, "constant_values", list)
    if len(values) != len(consts) or not all(type(v) is float for v in values):
        raise ValueError("corrupt model state: constant_values")
    gens = params + aux + consts
    obs = []
    for pair in _get(state, "observations", list):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ValueError("corrupt model state: observations")
        obs.append((_decode(pair[0], data, "an observation function"),
                    _decode(pair[1], gens, "a moment")))
    aux_exprs = _get(state, "auxiliary", list)
    if len(aux_exprs) != len(aux):
        raise ValueError("corrupt model state: auxiliary")
    extra = _get(state, "extra", dict)
    if not all(isinstance(k, str) and k not in _BASE_FIELDS and isinstance(v, _SCALARS)
               for k, v in extra.items()):
        raise ValueError("corrupt model state: extra attributes")
    vars(model).update(extra)
    from ._model import ComponentModel

    ComponentModel.__init__(
        model, params, data, obs,
        auxiliary={s: _decode(e, data, "an auxiliary moment")
                   for s, e in zip(aux, aux_exprs, strict=True)},
        constants=dict(zip(consts, values, strict=True)),
        equalities=[_decode(g, params, "an equality") for g in _get(state, "equalities", list)],
        inequalities=[_decode(g, params, "an inequality")
                      for g in _get(state, "inequalities", list)],
        degree_weights=_get(state, "degree_weights", list),
        param_names=[str(n) for n in _get(state, "param_names", list)],
        uses_target=_get(state, "uses_target", bool), name=str(_get(state, "name", str)))
