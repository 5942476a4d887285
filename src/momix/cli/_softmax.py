"""The three table layouts of softmax mixtures for ``fit``, ``predict`` and ``sample``.

* item set with counts: one row per item (its features) and a ``--counts`` column;
* item set with choices: one row per observation with a ``--choice`` column (0-based row of
  the ``--items`` table);
* choice situations (long table): one row per alternative of each situation, a
  ``--situation`` id column, a 0/1 ``--choice`` column (one 1 per situation) and optionally a
  ``--groups`` panel column constant within a situation. Every situation has the same number
  of alternatives, in file order; situations are ordered by id.

The ``Softmax mixtures`` section of :mod:`momix.cli` describes what each command does with
them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import DataError
from ._errors import UsageError
from ._models import _features, _guard_components, _model_features
from ._tables import _load_table, _Table


@dataclass(frozen=True)
class _Situations:
    features: np.ndarray  # (N, J, L)
    choices: np.ndarray | None  # (N,) chosen alternative
    groups: np.ndarray | None  # (N,)
    order: np.ndarray  # file rows in situation order, (N * J,)
    ids: np.ndarray  # (N,) situation ids
    names: list[str]


def _situations(table: _Table, args, estimator=None) -> _Situations:
    """The long table of choice situations (see the module docstring)."""
    sit = table.index(args.situation, "--situation")
    special = [sit]
    ch = None if args.choice is None else table.index(args.choice, "--choice")
    grp = None if args.groups is None else table.index(args.groups, "--groups")
    for j in (ch, grp):
        if j is not None:
            if j in special:
                raise UsageError(f"column {table.names[j]!r} is given two roles")
            special.append(j)
    if estimator is None:
        feat = _features(table, args.columns, special)
    else:
        feat = _model_features(estimator, table, args.columns, special)
    ids, inverse = np.unique(table.data[:, sit], return_inverse=True)
    sizes = np.bincount(inverse)
    if np.any(sizes != sizes[0]):
        odd = int(np.flatnonzero(sizes != sizes[0])[0])
        raise DataError(f"choice situation {ids[odd]:g} has {sizes[odd]} alternatives and "
                        f"situation {ids[0]:g} has {sizes[0]}; every situation needs the same "
                        "number of alternatives")
    n, J = len(ids), int(sizes[0])
    if J < 2:
        raise DataError("every choice situation needs at least 2 alternatives (rows); "
                        f"{table.path} has 1 row per --situation id")
    order = np.argsort(inverse, kind="stable")
    rows = table.data[order]
    F = rows[:, feat].reshape(n, J, len(feat))
    choices = None
    if ch is not None:
        c = rows[:, ch].reshape(n, J)
        if not np.all((c == 0) | (c == 1)):
            raise DataError(f"--choice column {table.names[ch]!r} must hold 1 for the chosen "
                            "alternative and 0 for the others")
        picked = c.sum(axis=1)
        if np.any(picked != 1):
            s = int(np.flatnonzero(picked != 1)[0])
            raise DataError(f"choice situation {ids[s]:g} has {int(picked[s])} chosen "
                            "alternatives; exactly one is needed")
        choices = np.argmax(c, axis=1)
    groups = None
    if grp is not None:
        g = rows[:, grp].reshape(n, J)
        varies = np.any(g != g[:, :1], axis=1)
        if varies.any():
            s = int(np.flatnonzero(varies)[0])
            raise DataError(f"--groups column {table.names[grp]!r} varies within choice "
                            f"situation {ids[s]:g}; a panel label is one per situation")
        groups = g[:, 0]
    return _Situations(F, choices, groups, order, ids, [table.names[j] for j in feat])


def _item_choices(table: _Table, args) -> np.ndarray:
    """The chosen items of a choice table: the ``--choice`` column (0-based item rows)."""
    if args.choice is None:
        if len(table.names) != 1:
            raise UsageError("--choice names the column of chosen items (0-based rows of the "
                             "item table)")
        return table.data[:, 0]
    return table.data[:, table.index(args.choice, "--choice")]


def _fit_softmax(estimator, args):
    """Fit a softmax mixture from one of its three layouts; return (shape text, names)."""
    if args.situation is not None:
        for name in ("counts", "items"):
            if getattr(args, name) is not None:
                raise UsageError(f"--{name} applies to an item set, not to choice situations "
                                 "(--situation)")
        if args.choice is None:
            raise UsageError("choice situations need --choice (1 for the chosen alternative)")
        s = _situations(_load_table(args.data), args)
        _guard_components(estimator, len(s.ids))
        estimator.fit(s.features, s.choices, groups=s.groups)
        N, J, L = s.features.shape
        return f"{N} choice situations x {J} alternatives x {L} features", s.names
    if args.groups is not None:
        raise UsageError("--groups (panels) apply to choice situations: pass --situation too")
    if args.counts is not None:
        for name in ("choice", "items"):
            if getattr(args, name) is not None:
                raise UsageError(f"--{name} and --counts are two ways to give the choices of "
                                 "an item set; pass one")
        table = _load_table(args.data)
        cnt = table.index(args.counts, "--counts")
        feat = _features(table, args.columns, [cnt])
        counts = table.data[:, cnt]
        _guard_components(estimator, int(np.ceil(np.sum(np.clip(counts, 0, None)))))
        estimator.fit(table.data[:, feat], counts=counts)
        return f"{len(counts)} items x {len(feat)} features", [table.names[j] for j in feat]
    if args.items is None:
        raise UsageError("fit softmax needs one layout: --counts COL (item table), --items FILE "
                         "with --choice COL (chosen items), or --situation COL with --choice COL "
                         "(long table of choice situations); see momix fit --help")
    items = _load_table(args.items)
    feat = _features(items, args.columns, [])
    y = _item_choices(_load_table(args.data), args)
    _guard_components(estimator, len(y))
    estimator.fit(items.data[:, feat], y)
    return (f"{len(y)} choices among {items.data.shape[0]} items x {len(feat)} features",
            [items.names[j] for j in feat])


def _predict_softmax(estimator, args) -> np.ndarray:
    if args.counts is not None:
        raise UsageError("--counts are for fitting; predict needs each observation's --choice")
    if args.target is not None:
        raise UsageError("a softmax mixture's response is the choice: use --choice, not --target")
    if args.situation is not None:
        if args.items is not None:
            raise UsageError("--items applies to an item set, not to choice situations")
        if args.choice is None:
            raise UsageError("the posterior of a softmax mixture needs the observed choices: "
                             "pass --choice")
        s = _situations(_load_table(args.data), args, estimator)
        return estimator.predict_proba(s.features, s.choices, groups=s.groups)
    if args.groups is not None:
        raise UsageError("--groups (panels) apply to choice situations: pass --situation too")
    if args.items is not None:
        items = _load_table(args.items)
        X = items.data[:, _model_features(estimator, items, args.columns, [])]
    else:
        if args.columns is not None:
            raise UsageError("--columns selects item features of --items FILE")
        X = getattr(estimator, "item_features_", None)
        if X is None:
            raise UsageError("the model was fitted on choice situations: pass the long table "
                             "with --situation and --choice")
    if args.choice is None:
        raise UsageError("the posterior of a softmax mixture needs the observed choices: pass "
                         "--choice (the chosen item of each observation)")
    y = _item_choices(_load_table(args.data), args)
    from ..softmax._data import check_choices

    return estimator.predict_proba(X, check_choices(y, X.shape[0], name="--choice"))

