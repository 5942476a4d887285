"""Persistence through skops: the exact allowlist, and round trips of every estimator.

Every public estimator is fitted on small data in its main configurations and saved with
``momix.save``; its ``schema.json`` is walked here (independently of ``momix.io``) to check
that every node kind and every name it holds is in ``TRUSTED_NODES`` / ``TRUSTED_TYPES``
(so the allowlist stays complete), and ``momix.load`` must give back identical predictions.
Crafted, malformed and malicious files are in ``test_io_crafted.py``.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pytest
import skops.io as sio
import sympy as sp
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import momix
from momix.io import (
    MAX_DEPTH,
    MOMIX_TYPES,
    SKOPS_PROTOCOL,
    TRUSTED_NODES,
    TRUSTED_TYPES,
    UntrustedFileError,
)
from momix.lowrank import LowRankGaussianMixture
from momix.mixture import GaussianMixture as MomixGaussianMixture
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
from momix.softmax import SoftmaxMixture

# ---------------------------------------------------------------------------------------
# the configurations: every estimator, its main options, every Polymom model
# ---------------------------------------------------------------------------------------


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _clusters(d: int, n: int = 200, seed: int = 0) -> np.ndarray:
    rng = _rng(seed)
    return rng.normal(size=(n, d)) + 4.0 * rng.integers(0, 2, n)[:, None]


def _regression(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(seed)
    X = rng.normal(size=(200, 2))
    coef = np.where(np.arange(200)[:, None] < 100, [[1.0, -1.0]], [[-2.0, 0.5]])
    return X, np.sum(X * coef, axis=1) + 0.1 * rng.normal(size=200)


def _counts(d: int) -> np.ndarray:
    rng = _rng(1)
    rate = np.where(rng.integers(0, 2, 300)[:, None] == 0, 1.0, 6.0)
    return rng.poisson(rate, size=(300, d)).astype(float)


def _views(d: int) -> np.ndarray:
    return np.abs(np.repeat(_clusters(d), 3, axis=1) + 0.3 * _rng(2).normal(size=(200, 3 * d)))


def _uniform_model() -> ComponentModel:
    """A custom sympy model: mixture of uniforms on [a, b] with rational moments."""
    a, b, x = sp.symbols("a b x")
    obs = {x: (a + b) / 2, x**2: (a**2 + a * b + b**2) / 3,
           x**3: (a**3 + a**2 * b + a * b**2 + b**3) / 4,
           x**4: (a**4 + a**3 * b + a**2 * b**2 + a * b**3 + b**4) / 5}
    return ComponentModel([a, b], [x], obs, inequalities=[b - a], name="uniform")


def _uniform_data() -> np.ndarray:
    rng = _rng(3)
    return np.concatenate([rng.uniform(0, 1, 100), rng.uniform(2, 5, 100)])[:, None]


def _items() -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(4)
    return rng.normal(size=(12, 2)), rng.integers(0, 12, 300)


def _choice_sets() -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(5)
    return rng.normal(size=(150, 4, 2)), rng.integers(0, 4, 150)


@dataclass
class Config:
    """An estimator, how to fit it, and the data to evaluate it on."""

    make: Any  # () -> estimator
    data: Any  # () -> tuple of arrays: the evaluation data (X, or X and y)
    fit_with: Any = None  # (estimator, data, tmp_dir) -> fitted estimator; default fit(*data)
    kwargs: dict = field(default_factory=dict)  # passed to fit and to the scoring methods


def _stream_npy(est, data, tmp):
    path = tmp / "X.npy"
    np.save(path, data[0])
    return est.fit(str(path))


def _stream_chunks(est, data, tmp):
    X = data[0]
    return est.fit(lambda: iter([X[: len(X) // 2], X[len(X) // 2 :]]))


def _from_moments(est, data, tmp):
    moments = est.model.population_moments([0.5, 0.5], [[0.0, 1.0], [4.0, 1.0]])
    return est.fit_moments(moments)


_LR = dict(rank=1, max_iter=20, random_state=0)
_SMM = dict(n_noise_levels=3, n_steps=6, degree=1, noise_reps=2, n_readoff_samples=200)


def _polymom(model, rs=0, **kw):
    return lambda: Polymom(model, 2, max_iter=5, random_state=rs, **kw)


CONFIGS: dict[str, Config] = {
    # LowRankGaussianMixture
    "lowrank": Config(lambda: LowRankGaussianMixture(2, **_LR), lambda: (_clusters(3, 300),)),
    "lowrank-randomstate": Config(
        lambda: LowRankGaussianMixture(2, rank=1, max_iter=20,
                                       random_state=np.random.RandomState(0)),
        lambda: (_clusters(3, 300),)),
    "lowrank-identity": Config(lambda: LowRankGaussianMixture(2, weighting="identity", **_LR),
                               lambda: (_clusters(3, 300),)),
    "lowrank-full": Config(lambda: LowRankGaussianMixture(2, weighting="full", **_LR),
                           lambda: (_clusters(3, 300),)),
    "lowrank-em": Config(lambda: LowRankGaussianMixture(2, refine="em", **_LR),
                         lambda: (_clusters(3, 300),)),
    "lowrank-noise": Config(lambda: LowRankGaussianMixture(2, noise_variance="estimate", **_LR),
                            lambda: (_clusters(8, 400),)),
    "lowrank-float32-nystrom": Config(
        lambda: LowRankGaussianMixture(2, statistics_dtype="float32", nystrom=20, **_LR),
        lambda: (_clusters(3, 300),)),
    "lowrank-init-dict": Config(
        lambda: LowRankGaussianMixture(
            2, init={"means": np.zeros((2, 3)), "factors": np.ones((2, 3, 1))}, **_LR),
        lambda: (_clusters(3, 300),)),
    "lowrank-stream-npy": Config(lambda: LowRankGaussianMixture(2, **_LR),
                                 lambda: (_clusters(3, 300),), _stream_npy),
    "lowrank-stream-chunks": Config(lambda: LowRankGaussianMixture(2, **_LR),
                                    lambda: (_clusters(3, 300),), _stream_chunks),
    # Polymom, every built-in model, a custom sympy model, and its options
    "polymom-gaussian1d": Config(_polymom(Gaussian1D()), lambda: (_clusters(1),)),
    "polymom-gaussian1d-randomstate": Config(_polymom(Gaussian1D(), np.random.RandomState(0)),
                                             lambda: (_clusters(1),)),
    "polymom-diagonal": Config(_polymom(GaussianDiagonal(2)), lambda: (_clusters(2),)),
    "polymom-diagonal-mean-sum": Config(_polymom(GaussianDiagonal(2, mean_sum=1)),
                                        lambda: (_clusters(2),)),
    "polymom-spherical": Config(_polymom(GaussianSpherical(2)), lambda: (_clusters(2),)),
    "polymom-spherical-shared-profile": Config(
        _polymom(GaussianSpherical(2, shared_variance=True), profile={"variance": [0.5, 1.0]}),
        lambda: (_clusters(2),)),
    "polymom-poisson": Config(_polymom(Poisson(2, order=3)), lambda: (_counts(2),)),
    "polymom-linear-regression": Config(_polymom(LinearRegression(2, 0.01, y_order=2)),
                                        _regression),
    "polymom-multiview": Config(_polymom(MultiView(1)), lambda: (_views(1),)),
    "polymom-multiview-symmetric-simplex": Config(
        _polymom(MultiView(2, symmetric=True, simplex=True)), lambda: (_views(2),)),
    "polymom-custom-sympy": Config(_polymom(_uniform_model()), lambda: (_uniform_data(),)),
    "polymom-default-model": Config(_polymom(None), lambda: (_clusters(2),)),
    "polymom-refine-em": Config(_polymom(GaussianDiagonal(2), refine="em"),
                                lambda: (_clusters(2),)),
    "polymom-exact-trace": Config(
        _polymom(Gaussian1D(), relaxation="exact", rank_method="trace"), lambda: (_clusters(1),)),
    "polymom-weighting-array": Config(_polymom(Gaussian1D(), moment_weighting=np.ones(6)),
                                      lambda: (_clusters(1),)),
    "polymom-sample-weight": Config(_polymom(Gaussian1D()), lambda: (_clusters(1),),
                                    kwargs={"sample_weight": np.linspace(0.5, 1.5, 200)}),
    "polymom-stream-chunks": Config(_polymom(GaussianDiagonal(2)), lambda: (_clusters(2),),
                                    _stream_chunks),
    "polymom-fit-moments": Config(_polymom(Gaussian1D()), lambda: (_clusters(1),),
                                  _from_moments),
    # MixtureOfLinearRegressions
    "mlr": Config(lambda: MixtureOfLinearRegressions(2, random_state=0), _regression),
    "mlr-random-randomstate": Config(
        lambda: MixtureOfLinearRegressions(2, init="random", n_init=2,
                                           random_state=np.random.RandomState(0)),
        _regression),
    "mlr-no-intercept": Config(
        lambda: MixtureOfLinearRegressions(2, fit_intercept=False, noise_variance=0.01,
                                           init="random", random_state=0), _regression),
    # SoftmaxMixture
    "softmax-items": Config(lambda: SoftmaxMixture(2, max_iter=30, random_state=0), _items),
    "softmax-random-generator": Config(
        lambda: SoftmaxMixture(2, init="random", max_iter=30,
                               random_state=np.random.default_rng(0)), _items),
    "softmax-choice-sets": Config(
        lambda: SoftmaxMixture(2, init="random", max_iter=30, random_state=0, split_merge=0),
        _choice_sets),
    "softmax-panel": Config(
        lambda: SoftmaxMixture(2, init="random", max_iter=30, random_state=0), _choice_sets,
        kwargs={"groups": np.repeat(np.arange(50), 3)}),
    # ScoreMatchingMixture
    "score": Config(lambda: momix.ScoreMatchingMixture(2, random_state=0, **_SMM),
                    lambda: (_clusters(2),)),
    "score-no-partition": Config(
        lambda: momix.ScoreMatchingMixture(2, partition="none", random_state=0, **_SMM),
        lambda: (_clusters(2),)),
    "score-generator-raw": Config(
        lambda: momix.ScoreMatchingMixture(2, standardize=False, partition=3,
                                           random_state=np.random.default_rng(0),
                                           **dict(_SMM, degree=2)),
        lambda: (_clusters(2),)),
    # GMMExpansion
    "expansion": Config(lambda: momix.GMMExpansion(n_grid=5, bandwidth=0.5, random_state=0),
                        lambda: (_clusters(2),)),
    "expansion-kde-grid": Config(
        lambda: momix.GMMExpansion(n_grid=5, bandwidth=0.5, update="kde_grid", random_state=0),
        lambda: (_clusters(2),)),
    "expansion-em-levels": Config(
        lambda: momix.GMMExpansion(n_grid=5, bandwidth=0.5, update="em", n_levels="auto",
                                   random_state=0),
        lambda: (_clusters(2),), kwargs={"sample_weight": np.linspace(0.5, 1.5, 200)}),
    "expansion-auto": Config(
        lambda: momix.GMMExpansion(bandwidth="auto", max_iter="auto", n_folds=2,
                                   random_state=0),
        lambda: (_clusters(2),)),
    # GaussianMixture of the EM engine
    "gaussian-mixture": Config(
        lambda: MomixGaussianMixture(2, covariance_type="full", random_state=0),
        lambda: (_clusters(2),), kwargs={"sample_weight": np.linspace(0.5, 1.5, 200)}),
    "gaussian-mixture-diag-generator": Config(
        lambda: MomixGaussianMixture(2, covariance_type="diag",
                                     random_state=np.random.default_rng(0)),
        lambda: (_clusters(2),)),
    "expansion-whiten-binning-generator": Config(
        lambda: momix.GMMExpansion(n_grid=5, bandwidth=0.5, whiten=True, n_levels=2,
                                   binning=True, tail_weight=0.1,
                                   random_state=np.random.default_rng(0)),
        lambda: (_clusters(2),)),
}


@cache
def _fitted(name: str):
    """(fitted estimator, evaluation data, kwargs, saved archive bytes) of a configuration."""
    import tempfile
    from pathlib import Path

    config = CONFIGS[name]
    est, data = config.make(), config.data()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if config.fit_with is None:
            est.fit(*data, **config.kwargs)
        else:
            config.fit_with(est, data, Path(tmp))
        path = momix.save(est, Path(tmp) / "m.skops")
        blob = path.read_bytes()
    return est, data, config.kwargs, blob


# ---------------------------------------------------------------------------------------
# an independent walk of schema.json
# ---------------------------------------------------------------------------------------


def _schema(blob: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return json.loads(zf.read("schema.json"))


def _named(schema: dict) -> set[tuple[str, str]]:
    """Every (node kind, ``module.class``) in the file, plus Generator bit generator names."""
    out = set()
    stack = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if "__loader__" in value:
                out.add((value["__loader__"], f"{value['__module__']}.{value['__class__']}"))
                if value["__loader__"] == "RandomGeneratorNode":
                    state = value["content"]["bit_generator"]["content"]["bit_generator"]
                    out.add(("bit generator", f"numpy.random.{json.loads(state['content'])}"))
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return out


def _depth(schema: dict) -> int:
    deepest, stack = 0, [(schema, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        children = value.values() if isinstance(value, dict) else (
            value if isinstance(value, list) else ())
        stack.extend((child, depth + 1) for child in children)
    return deepest


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fitted_estimator_needs_only_trusted_types(name):
    _, _, _, blob = _fitted(name)
    named = _named(_schema(blob))
    outside = sorted((kind, n) for kind, n in named if n not in TRUSTED_TYPES or (
        kind != "bit generator" and n not in TRUSTED_NODES.get(kind, ())))
    assert not outside, f"add these to momix.io's allowlist (after review): {outside}"
    assert _depth(_schema(blob)) <= MAX_DEPTH // 2  # well inside the nesting limit
    # the types skops itself reports are covered too
    assert set(sio.get_untrusted_types(data=blob)) <= TRUSTED_TYPES


@pytest.mark.parametrize("name", list(CONFIGS))
def test_round_trip_gives_identical_predictions(name, tmp_path):
    est, data, kwargs, blob = _fitted(name)
    path = tmp_path / "m.skops"
    path.write_bytes(blob)
    loaded = momix.load(path)
    assert type(loaded) is type(est)
    for attr, value in vars(est).items():
        if attr.endswith("_") and isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(loaded, attr), value, err_msg=attr)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        if hasattr(est, method):
            args, kw = _call_args(getattr(est, method), data, kwargs)
            _assert_same(getattr(est, method), getattr(loaded, method), args, kw)
    if isinstance(est, SoftmaxMixture) and data[0].ndim == 3:  # one draw per situation
        _assert_same(est.sample, loaded.sample, (), {"random_state": 0, "X": data[0]})
    elif hasattr(est, "sample"):
        _assert_same(est.sample, loaded.sample, (7,), {"random_state": 0})


def _assert_same(original, loaded, args, kwargs):
    """Both calls give identical results, or both refuse with the same exception type."""
    try:
        expected = original(*args, **kwargs)
    except (NotImplementedError, ValueError) as exc:  # e.g. a model without likelihood
        with pytest.raises(type(exc)):
            loaded(*args, **kwargs)
        return
    got = loaded(*args, **kwargs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(b, a)


def _call_args(method, data, kwargs):
    params = inspect.signature(method).parameters
    positional = [p for p in params.values()
                  if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "sample_weight"]
    kw = {k: v for k, v in kwargs.items() if k in params and k != "sample_weight"}
    return data[: len(positional)], kw


def test_configurations_cover_every_estimator_and_polymom_model():
    made = [c.make() for c in CONFIGS.values()]
    assert {type(e) for e in made} >= set(momix.all_estimators())
    import momix.polymom as pm

    builtin = {getattr(pm, n) for n in pm.__all__
               if isinstance(getattr(pm, n), type) and issubclass(getattr(pm, n), ComponentModel)}
    models = {type(e.model) for e in made if isinstance(e, Polymom) and e.model is not None}
    assert models >= builtin
    assert ComponentModel in models  # a custom sympy model


def test_every_momix_type_occurs_in_a_fitted_estimator():
    seen = set()
    for name in CONFIGS:
        seen |= {n for _, n in _named(_schema(_fitted(name)[3]))}
    assert MOMIX_TYPES <= seen, f"never needed: {sorted(MOMIX_TYPES - seen)}"
    for kind, names in TRUSTED_NODES.items():
        assert names & seen, f"no fitted estimator has a {kind}"


def test_save_writes_the_reviewed_skops_protocol(tmp_path):
    est, _, _, blob = _fitted("polymom-gaussian1d")
    assert _schema(blob)["protocol"] == SKOPS_PROTOCOL


# ---------------------------------------------------------------------------------------
# the allowlist itself
# ---------------------------------------------------------------------------------------

#: names that run code, read files or reach arbitrary attributes when called or looked up
_DANGEROUS = {
    "builtins.exec", "builtins.eval", "builtins.compile", "builtins.open", "builtins.getattr",
    "builtins.setattr", "builtins.delattr", "builtins.__import__", "builtins.input",
    "builtins.breakpoint", "builtins.globals", "builtins.locals", "builtins.vars",
    "builtins.type", "builtins.object", "builtins.memoryview", "builtins.print",
    "os.system", "os.popen", "os.execv", "os.remove", "os.spawnl", "posix.system",
    "subprocess.Popen", "subprocess.run", "subprocess.call", "subprocess.check_output",
    "numpy.load", "numpy.fromfile", "numpy.loadtxt", "numpy.genfromtxt", "numpy.memmap",
    "numpy.save", "numpy.frompyfunc", "numpy.vectorize", "numpy.object_",
    "operator.attrgetter", "operator.methodcaller", "operator.itemgetter",
    "functools.partial", "functools.reduce", "importlib.import_module", "pickle.loads",
    "sympy.sympify", "sympy.lambdify", "runpy.run_path", "shutil.rmtree",
}


def _resolve(name: str):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def test_trusted_types_are_exact_names_of_classes():
    by_node = frozenset().union(*TRUSTED_NODES.values())
    assert by_node <= TRUSTED_TYPES
    for name in TRUSTED_TYPES - by_node:  # named inside a Generator's state
        assert name.startswith("numpy.random.") and name.count(".") == 2, name
        assert issubclass(_resolve(name), np.random.BitGenerator), name
    for name in TRUSTED_TYPES:
        module, _, cls = name.rpartition(".")
        assert module and cls.isidentifier(), name
        assert all(part.isidentifier() for part in module.split(".")), name
        obj = _resolve(name)
        assert isinstance(obj, type), f"{name} is not a class"
        assert not issubclass(obj, BaseException), name
    for name in TRUSTED_TYPES:  # no entry extends another (no prefix semantics hidden in it)
        assert not any(other.startswith(name + ".") for other in TRUSTED_TYPES), name


def test_trusted_types_hold_nothing_that_runs_code():
    assert not TRUSTED_TYPES & _DANGEROUS
    assert {name.split(".")[0] for name in TRUSTED_TYPES} == {"momix", "numpy", "builtins"}
    builtins_ = {n for n in TRUSTED_TYPES if n.startswith("builtins.")}
    assert builtins_ == {"builtins.dict", "builtins.list", "builtins.tuple", "builtins.str"}
    assert all(n.startswith("momix.") for n in MOMIX_TYPES)
    # node kinds that look up or call functions and attributes are not trusted at all
    assert not set(TRUSTED_NODES) & {"FunctionNode", "MethodNode", "PartialNode",
                                     "OperatorFuncNode", "TreeNode", "LossNode",
                                     "ConstructorFromReduceNode", "CachedNode",
                                     "DefaultDictNode", "BytesNode", "BytearrayNode",
                                     "SparseMatrixNode", "SetNode", "SliceNode"}
    # a type lookup (which imports its module) only ever names str, for dict keys
    assert TRUSTED_NODES["TypeNode"] == {"builtins.str"}


def test_trusted_prefixes_are_gone():
    import momix.io

    assert not hasattr(momix.io, "TRUSTED_PREFIXES")


# ---------------------------------------------------------------------------------------
# files made of types outside the allowlist
# ---------------------------------------------------------------------------------------


def test_scikit_learn_estimator_is_refused_although_skops_trusts_it(tmp_path):
    est = GaussianMixture(2, random_state=0).fit(_clusters(2))
    path = momix.save(est, tmp_path / "gm.skops")
    assert sio.get_untrusted_types(file=path) == []  # skops trusts it by default
    with pytest.raises(UntrustedFileError, match="sklearn.mixture._gaussian_mixture"):
        momix.load(path)


def test_crafted_file_with_foreign_type_is_refused(tmp_path):
    evil = make_pipeline(FunctionTransformer(os.system))
    path = tmp_path / "evil.skops"
    sio.dump(evil, path)
    with pytest.raises(UntrustedFileError, match="system"):
        momix.load(path)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "junk.skops"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(UntrustedFileError, match="not a readable"):
        momix.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        momix.load(tmp_path / "none.skops")
