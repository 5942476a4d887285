"""Sizes and memory of the moment SDP, estimated and refused before anything is built."""

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from momix.exceptions import DataError
from momix.polymom import (
    Gaussian1D,
    GaussianDiagonal,
    GaussianSpherical,
    LinearRegression,
    MixtureOfLinearRegressions,
    MonomialError,
    MultiView,
    Poisson,
    Polymom,
    default_model,
)
from momix.polymom._basis import localizing_map, minimal_order, moment_structure
from momix.polymom._budget import (
    MEMORY_CAP,
    MEMORY_ENV,
    basis_count,
    memory_budget,
    model_sdp_size,
    regression_derivation,
    required_order,
    splits,
)


@pytest.mark.parametrize("weights", [(1,), (1, 1), (1, 2), (2, 2), (1, 1, 2, 2), (1, 2, 3)])
@pytest.mark.parametrize("order", [0, 1, 2, 3, 5])
def test_counted_rows_and_entries_match_the_built_structure(weights, order):
    st = moment_structure(len(weights), order, weights)
    assert basis_count(weights, order) == st.size
    # entries of M_r: exactly the monomials that split into two rows
    for gamma in moment_structure(len(weights), 2 * order + 1, weights).basis:
        assert splits(gamma, weights, order) == (tuple(gamma) in st.lookup)
    assert st.n_vars <= basis_count(weights, 2 * order)


def _order_by_building(polys, weights, k):
    """The order by building every structure (the former minimal_order)."""
    w = np.asarray(weights)
    r = 1
    while True:
        st = moment_structure(len(w), r, w)
        if (all(tuple(a) in st.lookup for p in polys for a in p)
                and len(st.rows_below(r - int(w.max()))) >= k):
            return r
        r += 1


@pytest.mark.parametrize("model", [Gaussian1D(6), GaussianDiagonal(2), GaussianSpherical(2),
                                   Poisson(2), LinearRegression(2, 0.5), MultiView(2)],
                         ids=lambda m: m.name)
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_counted_order_and_sizes_match_the_built_problem(model, k):
    c = model.compiled()
    polys = list(c.obs_terms)
    r = minimal_order(polys, model.n_params, k, model.degree_weights)
    assert r == _order_by_building(polys, model.degree_weights, k)
    size = model_sdp_size(model, k)
    st = moment_structure(model.n_params, r, model.degree_weights)
    assert size.order == r and size.rows == st.size and size.n_vars >= st.n_vars
    actual = [localizing_map(st, g)[1] for g in c.inequalities]
    assert all(t <= bound for t, bound in zip(actual, size.localizer_rows, strict=True))


def test_required_order_raises_beyond_the_largest_order():
    assert required_order([(6, 0), (0, 3)], (1, 2), 2) == 4
    with pytest.raises(MonomialError):
        required_order([(30,)], (1,), 1)


def test_default_model_on_ten_features_fails_fast_and_clearly():
    X = np.random.default_rng(0).standard_normal((500, 10))
    start = time.perf_counter()
    with pytest.raises(DataError) as err:
        Polymom().fit(X)
    assert time.perf_counter() - start < 1.0
    msg = str(err.value)
    for part in ("10 feature", "396 rows", "GiB", "memory budget", "fewer features",
                 "GaussianSpherical", MEMORY_ENV):
        assert part in msg, part


def test_explicit_models_and_orders_are_sized_before_their_moments(monkeypatch):
    X = np.random.default_rng(1).standard_normal((50, 8))
    model = GaussianSpherical(8, order=4)
    start = time.perf_counter()
    with pytest.raises(DataError, match="spherical Gaussian in R\\^8 model .* too large"):
        Polymom(model, n_components=4).fit(X)  # 174 rows, 13.9 GiB
    with pytest.raises(DataError, match="too large"):
        Polymom(model, n_components=4).fit_moments(model.population_moments(
            [0.5, 0.5], np.ones((2, 9))))
    monkeypatch.setenv(MEMORY_ENV, "100M")
    with pytest.raises(DataError, match="order 11, a moment matrix of 78 rows"):
        Polymom(Gaussian1D(order=6), n_components=2, order=11).fit(X[:, :1])  # 580 MiB
    assert time.perf_counter() - start < 5.0


def test_regression_start_is_sized_before_sympy():
    rng = np.random.default_rng(2)
    start = time.perf_counter()
    for d, match in [(8, "moment terms"), (20, "moment terms"), (40, "moment terms")]:
        X = rng.standard_normal((60, d))
        with pytest.raises(DataError, match=match):
            MixtureOfLinearRegressions(2).fit(X, X[:, 0] + rng.standard_normal(60))
    assert time.perf_counter() - start < 2.0
    assert regression_derivation(7, 2, 3, True)[1] < 10000 < regression_derivation(8, 2, 3, True)[1]


def test_sympy_derivations_are_refused_before_they_start():
    start = time.perf_counter()
    for make in (lambda: GaussianDiagonal(30), lambda: Poisson(40), lambda: MultiView(20),
                 lambda: LinearRegression(10), lambda: Gaussian1D(order=40)):
        with pytest.raises(ValueError, match="sympy|order above 12"):
            make()
    assert time.perf_counter() - start < 1.0


def test_one_feature_with_many_components_needs_too_high_an_order(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "100G")
    with pytest.raises(MonomialError, match="n_components=9"):
        default_model(1, 9)  # moments up to x^27: order 14 > 12
    monkeypatch.delenv(MEMORY_ENV)
    assert default_model(1, 5).order == 15  # order 8, 45 rows: 89 MiB
    with pytest.raises(DataError, match="too large"):
        default_model(1, 6)  # order 9, 55 rows: 210 MiB


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.setenv(MEMORY_ENV, "64M")
    assert memory_budget()[0] == 64 * 2**20
    monkeypatch.setenv(MEMORY_ENV, "1.5GiB")
    assert memory_budget()[0] == int(1.5 * 2**30)
    monkeypatch.setenv(MEMORY_ENV, "-3")
    with pytest.raises(ValueError, match=MEMORY_ENV):
        memory_budget()
    monkeypatch.delenv(MEMORY_ENV)
    budget, how = memory_budget()
    assert 0 < budget <= MEMORY_CAP and "half" in how


def test_default_budget_allows_four_features_not_five(monkeypatch):
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    if memory_budget()[0] < MEMORY_CAP:
        pytest.skip("less than twice the cap available: the budget is below its cap")
    assert model_sdp_size(default_model(4, 2), 2).bytes < MEMORY_CAP
    with pytest.raises(DataError, match="5 feature"):
        default_model(5, 2)


_PEAK_SCRIPT = textwrap.dedent("""
    import json, resource, sys, warnings
    import numpy as np
    import cvxpy  # noqa: F401  (loaded before the baseline)
    from momix.polymom import Polymom, default_model
    from momix.polymom._budget import model_sdp_size
    warnings.simplefilter("ignore")
    d, max_iter = int(sys.argv[1]), int(sys.argv[2])
    rng = np.random.default_rng(0)
    def data(d):
        return np.vstack([rng.normal(size=(100, d)), rng.normal(size=(100, d)) + 3])
    Polymom(max_iter=1, random_state=0).fit(data(1))  # solver libraries loaded
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    Polymom(max_iter=max_iter, random_state=0).fit(data(d))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"before": before, "peak": peak,
                      "estimate": model_sdp_size(default_model(d, 2), 2).bytes}))
""")


def _peak(d: int, max_iter: int, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(d), str(max_iter)],
                         capture_output=True, text=True, timeout=900, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _assert_fits(run: dict) -> None:
    # the estimate bounds the memory the fit adds (10% and 8 MiB of Python objects spare)
    assert run["peak"] - run["before"] <= 1.1 * run["estimate"] + 8 * 2**20, run


@pytest.mark.parametrize("d, budget", [
    (2, "8M"),  # estimates: 2 features 1.3 MiB, 3 features 19 MiB
    pytest.param(3, "64M", marks=pytest.mark.slow),  # 3 features 19 MiB, 4 features 155 MiB
])
def test_largest_allowed_case_really_fits_under_a_small_budget(monkeypatch, d, budget):
    monkeypatch.setenv(MEMORY_ENV, budget)
    with pytest.raises(DataError, match=f"{d + 1} feature"):
        default_model(d + 1, 2)
    assert model_sdp_size(default_model(d, 2), 2).bytes < memory_budget()[0]
    _assert_fits(_peak(d, 1, {**os.environ, MEMORY_ENV: budget}))


@pytest.mark.slow
def test_largest_default_case_really_fits_under_the_default_budget():
    env = {k: v for k, v in os.environ.items() if k != MEMORY_ENV}
    run = _peak(4, 5, env)  # 4 features, K = 2: estimate 155 MiB, solves of ~8 s
    _assert_fits(run)
    assert run["estimate"] > 0.5 * MEMORY_CAP
