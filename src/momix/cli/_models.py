"""Estimators on the command line: model families, ``--param``, loaded models, feature columns.

:data:`MODELS` maps the model names of ``momix fit`` to the estimator classes; an estimator is
built from the ``--param key=value`` pairs and validated before any data is read. A loaded model
is recognised (regression mixture, softmax mixture) without importing the modules of the
families it is not.
Feature columns are matched by name when both the model (``feature_names_in_``) and the table
have real names, else by position; see the ``Column names`` section of :mod:`momix.cli`.
"""

from __future__ import annotations

import ast
import sys

import numpy as np

from ..exceptions import DataError
from ._errors import UsageError
from ._tables import _Table

#: model name on the command line -> public estimator class name
MODELS = {
    "lowrank": "LowRankGaussianMixture",
    "polymom": "Polymom",
    "regression": "MixtureOfLinearRegressions",
    "softmax": "SoftmaxMixture",
    "score": "ScoreMatchingMixture",
    "expansion": "GMMExpansion",
}

_SOFTMAX_OPTIONS = ("choice", "counts", "situation", "groups", "items")


def _parse_params(items: list[str]) -> dict:
    params: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param expects key=value, got {item!r}")
        if key in params:
            raise UsageError(f"--param {key} is given twice")
        try:
            params[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            params[key] = value.strip()
    return params


def _make_estimator(model: str, params: dict):
    import momix

    cls = getattr(momix, MODELS[model])
    valid = cls().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise UsageError(
            f"{cls.__name__} has no parameter {unknown[0]!r}; valid: {', '.join(valid)}"
        )
    estimator = cls(**params)
    estimator._validate_params()  # a bad value is one line now, not after reading the data
    return estimator


def _positional(names) -> bool:
    """Whether column names are positions (``.npy`` or CSV without header), not real names."""
    return all(str(n).isdigit() for n in names)


def _features(table: _Table, columns: str | None, exclude: list[int]) -> list[int]:
    """Feature columns for ``fit``: ``--columns`` (none of ``exclude``), or all the others."""
    if columns is None:
        idx = [j for j in range(len(table.names)) if j not in exclude]
        if not idx:
            raise DataError(f"{table.path} has no feature column left")
        return idx
    idx = table.indices(columns)
    for j in idx:
        if j in exclude:
            raise UsageError(f"column {table.names[j]!r} is both a feature (--columns) and "
                             "the response or a softmax data column")
    return idx


def _model_features(estimator, table: _Table, columns: str | None, exclude: list[int]) -> list[int]:
    """Columns of ``table`` holding the model's features, matched by name where possible."""
    fitted = getattr(estimator, "feature_names_in_", None)
    fitted = None if fitted is None else [str(n) for n in fitted]
    by_name = fitted is not None and table.named and not _positional(fitted)
    if columns is not None:
        idx = _features(table, columns, exclude)
        got = [table.names[j] for j in idx]
        if by_name and got != fitted:
            raise UsageError(f"--columns {','.join(got)} differ from the model's columns "
                             f"{','.join(fitted)} (names and order must match)")
    elif by_name:
        missing = [n for n in fitted if n not in table.names]
        if missing:
            raise DataError(f"{table.path} has no column {missing[0]!r}; the model was fitted "
                            f"on columns {', '.join(fitted)}")
        idx = [table.names.index(n) for n in fitted]
        clash = [table.names[j] for j in idx if j in exclude]
        if clash:
            raise UsageError(f"column {clash[0]!r} is a feature of the model, not a response")
    else:
        idx = _features(table, None, exclude)
    expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and len(idx) != expected:
        about = f" ({', '.join(fitted)})" if fitted is not None else ""
        raise DataError(f"the model was fitted on {expected} feature column(s){about}; "
                        f"{table.path} gives {len(idx)}: {', '.join(table.names[j] for j in idx)}")
    return idx


def _set_feature_names(estimator, names: list[str]) -> None:
    # scikit-learn's attribute; a str array, not the object array fit(DataFrame) sets:
    # momix.load refuses object arrays (they would need pickle)
    estimator.feature_names_in_ = np.asarray([str(n) for n in names], dtype=str)


def _guard_components(estimator, n_obs: int, X: np.ndarray | None = None) -> None:
    """More components than observations (or distinct rows) is refused before fitting."""
    from .._validation import check_distinct_rows, check_n_components

    k = getattr(estimator, "n_components", None)
    if k is None:
        return
    check_n_components(k, n_obs)
    if X is not None:
        check_distinct_rows(X, k)


def _instance_of(estimator, module: str, name: str) -> bool:
    # a loaded model has imported its module; an unloaded module (cvxpy behind polymom) is
    # not imported just to answer "no"
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(estimator, getattr(loaded, name))


def _is_regression(estimator) -> bool:
    return _instance_of(estimator, "momix.polymom", "MixtureOfLinearRegressions")


def _is_softmax(estimator) -> bool:
    return _instance_of(estimator, "momix.softmax", "SoftmaxMixture")


def _takes_response(estimator) -> bool:
    """A model of y given x: a regression mixture, or Polymom with a conditional model."""
    model = getattr(estimator, "model_", None)
    return _is_regression(estimator) or bool(getattr(model, "uses_target", False))


def _refuse_softmax_options(args, what: str) -> None:
    for name in _SOFTMAX_OPTIONS:
        if getattr(args, name, None) is not None:
            raise UsageError(f"--{name} applies to softmax mixtures, not to {what}")


def _refuse_target(args, what: str) -> None:
    if args.target is not None:
        raise UsageError(f"--target names the response of a mixture of regressions; {what} "
                         "takes no response")

