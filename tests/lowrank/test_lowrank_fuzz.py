"""Property-based bad-input contract of LowRankGaussianMixture (:mod:`momix.testing`).

Every generated case -- valid mixture data, edge cases (offsets, extreme magnitudes,
constant or duplicated columns, integer ties, few distinct rows, one or two rows,
degenerate sample weights, extreme hyper-parameters) and bad input (NaN, inf, magnitudes
above 1e100, wrong shapes) -- fitted in memory or streamed as a list of chunks, must end in
outcome (a) (a deliberate momix error) or (b) (a valid finite fit, with finite
``sample``, ``bic`` and ``aic``); bad input must end in (a); a uniform scale of the sample
weights (1e-300, 1e300) must give the fit of unit weights; no case may take 30 s.

The default run draws a fast subset; the slow run draws 300 cases.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_cases import make_weights
from momix import LowRankGaussianMixture
from momix.testing import ContractViolation, check_error, check_fitted

TRANSFORMS = (
    "none",
    "offset_1e8",
    "scale_1e-120",
    "scale_1e-300",
    "scale_1e90",
    "constant_column",
    "duplicated_column",
    "integers",
    "few_distinct",
    "all_constant",
)
BAD = ("nan", "inf", "beyond_1e100", "one_dimensional", "empty")
WEIGHTS = ("none", "random", "uniform_1e-300", "uniform_1e300", "some_zero", "single_positive")


def _data(rng: np.random.Generator, n: int, d: int, transform: str) -> np.ndarray:
    centres = rng.normal(scale=3.0, size=(2, d))
    X = centres[rng.integers(0, 2, n)] + rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    if transform == "offset_1e8":
        return X + 1e8
    if transform.startswith("scale_"):
        return X * float(transform.split("_")[1])
    if transform == "constant_column":
        X[:, rng.integers(0, d)] = 3.0
    elif transform == "duplicated_column" and d > 1:
        X[:, -1] = X[:, 0]
    elif transform == "integers":
        X = np.round(X)
    elif transform == "few_distinct":
        X = X[rng.integers(0, min(3, n), n)]
    elif transform == "all_constant":
        X = np.full_like(X, 2.5)
    return X


def _bad(X: np.ndarray, bad: str, rng: np.random.Generator):
    X = X.copy()
    if bad == "nan":
        X[rng.integers(0, X.shape[0]), rng.integers(0, X.shape[1])] = np.nan
    elif bad == "inf":
        X[rng.integers(0, X.shape[0]), rng.integers(0, X.shape[1])] = -np.inf
    elif bad == "beyond_1e100":
        X = X * 1e150 + 1e150
    elif bad == "one_dimensional":
        return X[:, 0]
    elif bad == "empty":
        return X[:0]
    return X


@st.composite
def cases(draw):
    """One case: data, weights, hyper-parameters, in memory or streamed, and its kind."""
    kind = draw(st.sampled_from(["valid", "valid", "edge", "edge", "bad"]))
    n = draw(st.integers(1, 60) if kind != "valid" else st.integers(20, 80))
    d = draw(st.integers(1 if kind != "valid" else 2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    transform = draw(st.sampled_from(TRANSFORMS)) if kind == "edge" else "none"
    X = _data(rng, n, d, transform)
    bad = draw(st.sampled_from(BAD)) if kind == "bad" else None
    if bad is not None:
        X = _bad(X, bad, rng)
    weights = draw(st.sampled_from(WEIGHTS)) if kind != "bad" else "none"
    rank = draw(st.integers(1, 3))
    if draw(st.integers(0, 9)) > 0:  # mostly a rank the data can have; sometimes too large
        rank = min(rank, d)
    params = dict(
        n_components=draw(st.integers(1, 4 if kind != "valid" else 3)),
        rank=rank,
        weighting=draw(st.sampled_from(["diagonal", "diagonal", "identity", "full"])),
        max_order=draw(st.sampled_from([2, 3, 4, 4, 4, 5])),
        noise_variance=draw(st.sampled_from(["estimate", "estimate", None, 0.0, 0.5])),
        nystrom=draw(st.sampled_from(["auto", "exact", "model", 5])),
        init=draw(st.sampled_from(["kmeans++", "random", "mixed"])),
        subspace=draw(st.sampled_from(["auto", None])),
        refine=draw(st.sampled_from([None, None, "em"])),
        n_init=draw(st.integers(1, 2)),
        max_iter=draw(st.sampled_from([1, 5, 30])),
        tol=draw(st.sampled_from([0.0, 1e-4])),
        n_steps=draw(st.integers(1, 3)),
        reg_covar=draw(st.sampled_from([0.0, 1e-6])),
        random_state=0,
    )
    stream = draw(st.booleans()) and np.ndim(X) == 2 and len(X) > 0
    if params["weighting"] == "full" and draw(st.integers(0, 9)) > 0:
        stream = False  # streamed input refuses the full weighting: a few such cases suffice
    return dict(kind=kind, transform=transform, bad=bad, X=X, weights=weights, d=d,
                params=params, stream=stream, rng=rng)  # fmt: skip


def _chunks(X, w):
    cut = max(1, len(X) // 2)
    if w is None:
        return [X[:cut], X[cut:]]
    return [(X[:cut], w[:cut]), (X[cut:], w[cut:])]


def _fit(params: dict, X, w, stream: bool):
    """Fit and return the estimator, or the deliberate exception (checked)."""
    model = LowRankGaussianMixture(**params)
    try:
        if stream:
            model.fit(_chunks(X, w))
        else:
            model.fit(X, sample_weight=w)
    except Exception as exc:  # outcome (a): must be deliberate
        check_error(exc)
        return exc
    return model


def _check_valid(model, X) -> None:
    """Outcome (b) (momix.testing.check_fitted) plus finite sample, bic and aic."""
    check_fitted(model, X)
    draws, labels = model.sample(5, random_state=0)
    if not (np.all(np.isfinite(draws)) and labels.shape == (5,)):
        raise ContractViolation("sample() returned non-finite draws")
    if not (np.isfinite(model.bic(X)) and np.isfinite(model.aic(X))):
        raise ContractViolation("bic/aic not finite")
    if model.weights_.shape != (model.n_components,):
        raise ContractViolation("weights_ does not have n_components entries")


def _run(case: dict) -> None:
    X, params, stream = case["X"], case["params"], case["stream"]
    w = make_weights(case["weights"], len(X) if np.ndim(X) >= 1 else 0, case["rng"])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = _fit(params, X, w, stream)
        if case["kind"] == "bad" and not isinstance(outcome, Exception):
            raise ContractViolation(f"bad input ({case['bad']}) was fitted")
        if not isinstance(outcome, Exception):
            _check_valid(outcome, np.asarray(X))
        if case["weights"] in ("uniform_1e-300", "uniform_1e300"):
            unit = _fit(params, X, None if not stream else np.ones(len(X)), stream)
            _same_fit(outcome, unit, case["weights"])
    elapsed = time.perf_counter() - start
    assert elapsed < 30, f"case took {elapsed:.1f} s"


def _same_fit(scaled, unit, kind: str) -> None:
    """A uniform weight scale changes nothing: the same refusal or the same fit."""
    if isinstance(unit, Exception) or isinstance(scaled, Exception):
        assert type(unit) is type(scaled), (kind, unit, scaled)
        return
    for name, value in vars(unit).items():
        if name.endswith("_") and not name.startswith("_") and isinstance(value, np.ndarray):
            np.testing.assert_allclose(getattr(scaled, name), value, rtol=1e-9, err_msg=name)


_FAST = settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_SLOW = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@_FAST
@given(case=cases())
def test_contract_fast_subset(case):
    _run(case)


@pytest.mark.slow
@_SLOW
@given(case=cases())
def test_contract_300_cases(case):
    _run(case)
