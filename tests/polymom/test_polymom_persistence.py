"""Persistence of Polymom and its component models: plain-data state, nothing evaluated."""

import pickle
import warnings

import numpy as np
import pytest
import sympy as sp

import momix
from momix.polymom import (
    ComponentModel,
    Gaussian1D,
    GaussianDiagonal,
    GaussianSpherical,
    LinearRegression,
    MixtureOfLinearRegressions,
    MultiView,
    Poisson,
    Polymom,
)
from momix.polymom._state import model_state


def _fit(est, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args)


def _round_trip(obj, tmp_path):
    return momix.load(momix.save(obj, tmp_path / "m.skops"))


def _fitted(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


def _assert_same_fit(est, loaded):
    for name, value in _fitted(est).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(loaded, name), value, err_msg=name)
        elif not isinstance(value, ComponentModel):
            assert getattr(loaded, name) == value, name
    assert _tables(loaded.model_) == _tables(est.model_)


def _tables(model):
    c = model.compiled()
    return c.obs_keys, c.aux_keys, c.obs_terms, c.data_polys, c.equalities, c.inequalities


def _data(kind, rng):
    z = rng.integers(0, 2, size=300)
    if kind == "poisson":
        return (rng.poisson(np.where(z[:, None] == 0, 1.0, 6.0), size=(300, 2)).astype(float),)
    if kind == "regression":
        X = rng.normal(size=(300, 2))
        coef = np.where(z[:, None] == 0, [[1.0, -1.0]], [[-2.0, 0.5]])
        return X, np.sum(X * coef, axis=1) + 0.1 * rng.normal(size=300)
    d = 1 if kind == "1d" else 2
    return (rng.normal(size=(300, d)) + 4.0 * z[:, None],)


MODELS = [
    (Gaussian1D(), "1d"), (GaussianDiagonal(2), "2d"), (GaussianSpherical(2), "2d"),
    (GaussianSpherical(2, shared_variance=True), "2d"), (Poisson(2, order=3), "poisson"),
    (LinearRegression(2, 0.01, y_order=2), "regression"),
]


@pytest.mark.parametrize("model,kind", MODELS, ids=lambda m: getattr(m, "name", None))
def test_builtin_model_polymom_round_trip(model, kind, tmp_path):
    args = _data(kind, np.random.default_rng(0))
    est = _fit(Polymom(model, 2, max_iter=10, random_state=0), *args)
    loaded = _round_trip(est, tmp_path)
    assert type(loaded.model_) is type(model) and loaded.model is not None
    _assert_same_fit(est, loaded)
    np.testing.assert_array_equal(loaded.predict(*args), est.predict(*args))
    np.testing.assert_allclose(loaded.score(*args), est.score(*args), rtol=1e-12)
    # the loaded model is a working model: refitting gives the same parameters
    refit = _fit(Polymom(loaded.model_, 2, max_iter=10, random_state=0), *args)
    np.testing.assert_allclose(refit.params_, est.params_, rtol=1e-9, atol=1e-9)


def test_every_builtin_model_state_rebuilds_the_same_expressions():
    for model in [m for m, _ in MODELS] + [MultiView(2), MultiView(2, symmetric=True,
                                                                   simplex=True),
                                           GaussianDiagonal(2, mean_sum=1)]:
        back = pickle.loads(pickle.dumps(model))
        assert back.observations == model.observations
        assert back.auxiliary == model.auxiliary and back.constants == model.constants
        assert back.equalities == model.equalities
        assert back.inequalities == model.inequalities
        assert {k: v for k, v in vars(back).items() if k != "_compiled"} == {
            k: v for k, v in vars(model).items() if k != "_compiled"}


def _custom_model():
    """Mixture of uniforms on [a, b], written by hand with rational coefficients."""
    a, b, x = sp.symbols("a b x")
    obs = {x: (a + b) / 2, x**2: (a**2 + a * b + b**2) / 3,
           x**3: (a**3 + a**2 * b + a * b**2 + b**3) / 4,
           x**4: (a**4 + a**3 * b + a**2 * b**2 + a * b**3 + b**4) / 5}
    return ComponentModel([a, b], [x], obs, inequalities=[b - a], name="uniform")


def test_custom_sympy_model_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.uniform(0, 1, 400), rng.uniform(2, 5, 600)])[:, None]
    est = _fit(Polymom(_custom_model(), 2, max_iter=10, random_state=0), X)
    loaded = _round_trip(est, tmp_path)
    _assert_same_fit(est, loaded)
    assert loaded.model_.moment_keys() == est.model_.moment_keys()
    refit = _fit(Polymom(loaded.model_, 2, max_iter=10, random_state=0), X)
    np.testing.assert_allclose(refit.params_, est.params_, rtol=1e-9, atol=1e-9)


def test_mixture_of_linear_regressions_round_trip(tmp_path):
    X, y = _data("regression", np.random.default_rng(2))
    est = _fit(MixtureOfLinearRegressions(2, random_state=0), X, y)
    loaded = _round_trip(est, tmp_path)
    for name in ("coef_", "intercept_", "noise_variance_", "weights_", "init_coef_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(est, name))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_allclose(loaded.score(X, y), est.score(X, y), rtol=1e-12)


def test_non_polynomial_part_is_refused_at_save_time(tmp_path):
    a, x = sp.symbols("a x")
    model = ComponentModel([a], [x], {x: a, sp.Abs(x): a**2})
    with pytest.raises(ValueError, match="observation function Abs"):
        momix.save(Polymom(model), tmp_path / "m.skops")
    irrational = ComponentModel([a], [x], {x: sp.sqrt(2) * a})
    with pytest.raises(ValueError, match="moment of x.*neither rational nor a float"):
        model_state(irrational)


_PAYLOAD = "__import__('os').system('touch {}')"


def _no_parsing(monkeypatch):
    import sympy.parsing.sympy_parser as parser

    def refuse(*args, **kwargs):
        raise AssertionError("a string was parsed while loading a model")

    monkeypatch.setattr(parser, "parse_expr", refuse)
    monkeypatch.setattr(sp, "sympify", refuse)


def test_loading_parses_no_string(tmp_path, monkeypatch):
    X = _data("2d", np.random.default_rng(3))[0]
    est = _fit(Polymom(GaussianDiagonal(2), 2, max_iter=5, random_state=0), X)
    path = momix.save(est, tmp_path / "m.skops")
    _no_parsing(monkeypatch)
    loaded = momix.load(path)
    np.testing.assert_allclose(loaded.score(X), est.score(X), rtol=1e-12)


def test_crafted_state_is_never_evaluated(tmp_path, monkeypatch):
    canary = tmp_path / "pwned"
    payload = _PAYLOAD.format(canary)
    state = model_state(Gaussian1D(order=4))
    _no_parsing(monkeypatch)
    # as a symbol name: refused before any sympy object is built from it
    bad = dict(state, params=[payload, "variance"])
    with pytest.raises(ValueError, match="refused symbol names"):
        Gaussian1D.__new__(Gaussian1D).__setstate__(bad)
    # as the display name and an extra attribute: kept as inert strings
    inert = dict(state, name=payload, extra=dict(state["extra"], order=payload))
    model = Gaussian1D.__new__(Gaussian1D)
    model.__setstate__(inert)
    assert model.name == payload and model.order == payload
    model.compiled()
    # as a coefficient or an exponent: refused
    for field in ([payload, [1, 0]], [[1, 1], [payload, 0]]):
        obs = [[[field], pair[1]] for pair in state["observations"]]
        with pytest.raises(ValueError, match="corrupt model state"):
            Gaussian1D.__new__(Gaussian1D).__setstate__(dict(state, observations=obs))
    assert not canary.exists()


def test_copies_share_immutable_parts():
    import copy

    from sklearn.base import clone

    model = _custom_model()
    est = clone(Polymom(model, 2))
    assert est.model.observations is model.observations
    assert copy.copy(model).params is model.params
