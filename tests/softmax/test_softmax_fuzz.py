"""Property test of the bad-input contract (issue 15) for SoftmaxMixture.

Hypothesis draws a data layout (item set with choices or counts, choice situations, panels),
features (Gaussian, integer ties, constant or duplicated columns, offsets of 1e8, magnitudes
1e-305..1e105, NaN/inf), choices (valid, one item always, out of range, fractional), sample
weights (none, uniform at 1e-300/1/1e300, with zeros, a single positive one, negative, NaN,
varying within a group) and hyper-parameters (K from 1 to the number of units and beyond,
max_iter 0..200, tol 0, n_init 1/2/auto, gradient steps, no acceleration, split-and-merge),
and asserts the contract of :mod:`softmax_contract`: a deliberate momix error (innermost
traceback frame in momix's source) or a valid fit whose every method returns finite,
in-range values, in under 30 s. A fit with uniform weights must equal the unweighted fit
bit for bit.

The default run checks 25 cases; ``-m slow`` runs 300 more.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from softmax_contract import check_contract

from momix import SoftmaxMixture

#: every factor has valid options (first) and edge or bad ones; see :class:`_Picker`
_FEATURES = (["normal", "integers", "offset", "scaled"],
             ["constant_column", "duplicate_column", "nonfinite", "zeros", "tiny", "huge"])
_CHOICES = (["valid"], ["one_item", "out_of_range", "fraction"])
_WEIGHTS = ([None, "uniform", "random", "zeros"], ["single", "bad", "varying"])
_SIZES = ([12, 25, 8], [3, 2, 1])
_COMPONENTS = ([2, 1, 3], ["units", "units+1", 10**9])


class _Picker:
    """Draws each factor of a case from its valid options, or from all of them.

    Mode ``'valid'``: every factor valid; ``'one_edge'``: one factor (drawn) from all its
    options; ``'chaos'``: every factor from all options. Valid cases are about half, so
    the contract's branch (b) is exercised as much as (a).
    """

    FACTORS = ("features", "choices", "weights", "sizes", "components")

    def __init__(self, draw):
        self.draw = draw
        self.mode = draw(st.sampled_from(["valid", "one_edge", "valid", "chaos"]))
        self.edge = draw(st.sampled_from(self.FACTORS)) if self.mode == "one_edge" else None

    def __call__(self, factor, options):
        valid, edge = options
        wild = self.mode == "chaos" or factor == self.edge
        return self.draw(st.sampled_from(valid + edge if wild else valid))


def _features(draw, pick, rng, shape):
    kind = pick("features", _FEATURES)
    F = rng.standard_normal(shape)
    L = shape[-1]
    if kind == "integers":
        F = rng.integers(0, 3, shape).astype(float)
    elif kind == "offset":
        F = F + draw(st.sampled_from([1e8, -1e8]))
    elif kind == "scaled":
        F = F * 10.0 ** draw(st.integers(-299, 99))
    elif kind == "tiny":
        F = F * 10.0 ** draw(st.integers(-330, -300))
    elif kind == "huge":
        F = F * 10.0 ** draw(st.integers(100, 300))
    elif kind == "constant_column":
        F[..., draw(st.integers(0, L - 1))] = draw(st.sampled_from([0.0, 1.0, -7.5]))
    elif kind == "duplicate_column" and L > 1:
        F[..., 1] = draw(st.sampled_from([1.0, -2.0])) * F[..., 0]
    elif kind == "nonfinite":
        F.flat[draw(st.integers(0, F.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif kind == "zeros":
        F = np.zeros(shape)
    return F, kind


def _choices(draw, pick, rng, n, n_alternatives):
    kind = pick("choices", _CHOICES)
    y = rng.integers(0, n_alternatives, n)
    if kind == "one_item":
        y[:] = draw(st.integers(0, n_alternatives - 1))
    elif kind == "out_of_range":
        y[draw(st.integers(0, n - 1))] = draw(st.sampled_from([-1, n_alternatives]))
    elif kind == "fraction":
        y = y + 0.5
    return y, kind


def _weights(draw, pick, rng, n, groups=None):
    """Weights per observation; with ``groups`` constant within each group, except for the
    kind ``'varying'`` (which must be refused)."""
    kind = pick("weights", _WEIGHTS)
    if kind is None:
        return None, "none"
    if kind == "uniform":
        return np.full(n, draw(st.sampled_from([1e-300, 1.0, 1e300]))), kind
    codes = np.arange(n) if groups is None else np.unique(groups, return_inverse=True)[1]
    units = int(codes.max()) + 1
    if kind in ("random", "varying"):
        w = rng.integers(1, 4, units) * (rng.random(units) < 0.9).astype(float)
        w[draw(st.integers(0, units - 1))] = 1.0
    elif kind == "zeros":
        w = rng.random(units) * (rng.random(units) < 0.6)
        w[draw(st.integers(0, units - 1))] = 0.5
    elif kind == "single":
        w = np.zeros(units)
        w[draw(st.integers(0, units - 1))] = draw(st.sampled_from([1e-300, 1.0, 1e300]))
    else:  # bad
        w = rng.random(units)
        w[draw(st.integers(0, units - 1))] = draw(st.sampled_from([-1.0, np.nan, np.inf]))
    w = w[codes]
    if kind == "varying":
        w = w + rng.random(n)
    return w, kind


def _params(draw, pick, n_units):
    K = pick("components", _COMPONENTS)
    K = {"units": max(n_units, 1), "units+1": n_units + 1}.get(K, K)
    return dict(
        n_components=K,
        init=draw(st.sampled_from(["random", "random", "moments"])),
        n_init=draw(st.sampled_from([1, 2, "auto"])),
        max_iter=draw(st.sampled_from([30, 200, 0, 1, 5])),
        tol=draw(st.sampled_from([1e-8, 0.0])),
        step_size=draw(st.sampled_from(["auto", "auto", 1.0, 1e6])),
        accelerate=draw(st.booleans()),
        split_merge=draw(st.sampled_from(["auto", 0])),
        random_state=0,
    )


@st.composite
def cases(draw):
    """One fuzz case: (params, args, kwargs, description)."""
    pick = _Picker(draw)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layout = draw(st.sampled_from(["items", "counts", "situations", "panel"]))
    L = draw(st.sampled_from([2, 1, 3]))
    kwargs, notes = {}, [layout, pick.mode]
    if layout in ("items", "counts"):
        p = max(pick("sizes", _SIZES), 2 if pick.edge != "sizes" and pick.mode != "chaos" else 1)
        X, kind = _features(draw, pick, rng, (p, L))
        notes.append(kind)
        if layout == "items":
            n = 3 * pick("sizes", _SIZES)
            y, ykind = _choices(draw, pick, rng, n, p)
            args, n_units = (X, y), n
            kwargs["sample_weight"], wkind = _weights(draw, pick, rng, n)
        else:
            counts = rng.integers(0, 5, p).astype(float)
            counts[draw(st.integers(0, p - 1))] = 3.0
            counts *= 10.0 ** draw(st.sampled_from([0, 0, 0, -300, 99, 200]))
            args, n_units, ykind = (X,), p, "counts"
            kwargs["counts"] = counts
            kwargs["sample_weight"], wkind = _weights(draw, pick, rng, p)
    else:
        N = pick("sizes", _SIZES)
        J = draw(st.sampled_from([3, 4, 2, 1] if pick.mode != "valid" else [3, 4, 2]))
        X, kind = _features(draw, pick, rng, (N, J, L))
        notes.append(kind)
        y, ykind = _choices(draw, pick, rng, N, J)
        groups = None
        if layout == "panel":
            groups = rng.integers(0, draw(st.sampled_from([6, 4, 2, 1])), N)
            kwargs["groups"] = groups
        args, n_units = (X, y), N
        kwargs["sample_weight"], wkind = _weights(draw, pick, rng, N, groups)
    notes += [ykind, wkind]
    return _params(draw, pick, n_units), args, kwargs, "/".join(notes)


def _same_as_unweighted(params, args, kwargs) -> None:
    """A uniform weight vector must give exactly the unweighted fit."""
    w = kwargs.get("sample_weight")
    if w is None or not np.all(w == w[0]) or not np.isfinite(w[0]) or w[0] <= 0:
        return
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        a = SoftmaxMixture(**params).fit(*args, **kwargs)
        b = SoftmaxMixture(**params).fit(*args, **{**kwargs, "sample_weight": None})
    np.testing.assert_array_equal(a.coefs_, b.coefs_)
    np.testing.assert_array_equal(a.weights_, b.weights_)


def _run(case) -> str:
    params, args, kwargs, _ = case
    outcome = check_contract(params, *args, **kwargs)
    if outcome == "fit":
        _same_as_unweighted(params, args, kwargs)
    return outcome


_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))


@settings(max_examples=25, **_SETTINGS)
@given(case=cases())
def test_contract_fast(case):
    _run(case)


@pytest.mark.slow
@settings(max_examples=300, **_SETTINGS)
@given(case=cases())
def test_contract_many_cases(case):
    _run(case)


def test_the_strategy_mixes_fits_and_errors():
    """The generated cases are not all errors nor all fits (else the test checks little)."""
    outcomes, kinds = [], set()

    @settings(max_examples=40, **_SETTINGS)
    @given(case=cases())
    def collect(case):
        outcomes.append(_run(case))
        kinds.add(case[3].split("/")[0])

    collect()
    assert 0.25 < outcomes.count("fit") / len(outcomes) < 0.85, outcomes
    assert kinds == {"items", "counts", "situations", "panel"}
