"""The subcommands of ``momix``: fit, predict, sample, demo and bench.

Each ``_cmd_*`` function takes the parsed arguments, raises :class:`UsageError` (or a momix
exception) on a user mistake, and writes its result; :func:`momix.cli.main` turns the errors
into one-line messages and exit statuses.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np

from ._errors import UsageError
from ._models import (
    _features,
    _guard_components,
    _is_regression,
    _is_softmax,
    _make_estimator,
    _model_features,
    _parse_params,
    _refuse_softmax_options,
    _refuse_target,
    _set_feature_names,
    _takes_response,
)
from ._outputs import _check_output, _table_format, _write_output, _write_table
from ._softmax import _fit_softmax, _predict_softmax, _situations
from ._tables import _load_table, _split_columns, chunk_reader

#: largest table ``momix sample`` draws: n_samples x (n_columns + 1) float64 values (the draws
#: and their component labels) must fit in 1 GiB; larger draws are refused before sampling
MAX_SAMPLE_BYTES = 2**30


def _cmd_fit(args) -> None:
    from ..io import save

    estimator = _make_estimator(args.model, _parse_params(args.param))
    out = Path(args.out)
    _check_output(out, args.force)
    if args.model == "softmax":
        _refuse_target(args, "a softmax mixture (its response is --choice)")
        shape, names = _fit_softmax(estimator, args)
    else:
        _refuse_softmax_options(args, f"{args.model} models")
        if args.model == "regression" and args.target is None:
            raise UsageError("fit regression needs --target COLUMN (the response y)")
        if args.model != "regression":
            _refuse_target(args, f"a {args.model} model")
        suffix = Path(args.data).suffix.lower()
        if getattr(estimator, "_accepts_chunks", False) and suffix in (".npy", ".parquet", ".pq"):
            show = bool(args.verbose) or sys.stderr.isatty()
            chunks, (n, d), names = chunk_reader(args.data, args.columns, show=show)
            _guard_components(estimator, n)
            estimator.fit(chunks)
        else:
            table = _load_table(args.data)
            target = None if args.target is None else table.index(args.target, "--target")
            feat = _features(table, args.columns, [] if target is None else [target])
            X = table.data[:, feat]
            _guard_components(estimator, X.shape[0], X)
            if target is None:
                estimator.fit(X)
            else:
                estimator.fit(X, table.data[:, target])
            n, d, names = X.shape[0], X.shape[1], [table.names[j] for j in feat]
        shape = f"{n} x {d}"
    _set_feature_names(estimator, names)
    _write_output(out, lambda p: save(estimator, p))
    print(f"fitted {type(estimator).__name__} on {shape}; saved to {out}")


def _cmd_predict(args) -> None:
    from ..io import load

    estimator = load(args.model_file)
    _check_output(args.out, args.force)
    _table_format(args.out)
    name = type(estimator).__name__
    if _is_softmax(estimator):
        proba = _predict_softmax(estimator, args)
        result, header = (proba, [f"p{k}" for k in range(proba.shape[1])]) if args.proba else (
            np.argmax(proba, axis=1), ["component"])
        _write_table(args.out, result, header)
        return
    _refuse_softmax_options(args, f"{name} models")
    if not hasattr(estimator, "predict"):
        raise UsageError(f"{name} is a density estimate without components to predict; "
                         "use momix sample to draw from it")
    if args.proba and not hasattr(estimator, "predict_proba"):
        raise UsageError(f"{name} gives no posterior probabilities (--proba); predict without "
                         "it gives the most probable component")
    if args.target is not None and not _takes_response(estimator):
        _refuse_target(args, f"a {name} model")
    table = _load_table(args.data)
    target = None if args.target is None else table.index(args.target, "--target")
    X = table.data[:, _model_features(estimator, table, args.columns,
                                      [] if target is None else [target])]
    if _is_regression(estimator) and target is None:
        if args.proba:
            raise UsageError("the posterior of a mixture of regressions needs the response: "
                             "pass --target COLUMN (without it, predict gives E[y|x])")
        _write_table(args.out, estimator.predict(X), ["prediction"])
        return
    extra = () if target is None else (table.data[:, target],)
    if args.proba:
        proba = estimator.predict_proba(X, *extra)
        _write_table(args.out, proba, [f"p{k}" for k in range(proba.shape[1])])
    elif _is_regression(estimator):
        _write_table(args.out, np.argmax(estimator.predict_proba(X, *extra), axis=1),
                     ["component"])
    else:
        _write_table(args.out, np.asarray(estimator.predict(X, *extra)), ["component"])


def _check_sample_size(n: int, width: int) -> None:
    need = n * (width + 1) * 8
    if need > MAX_SAMPLE_BYTES:
        most = MAX_SAMPLE_BYTES // ((width + 1) * 8)
        raise UsageError(f"-n {n} draws of {width} column(s) need {need / 2**30:.3g} GiB; "
                         f"momix sample draws at most {MAX_SAMPLE_BYTES / 2**30:g} GiB "
                         f"({most} draws here): draw in several runs with different --seed")


def _sample_softmax(estimator, args) -> None:
    if args.data is None:
        if args.situation is not None or args.groups is not None:
            raise UsageError("--situation and --groups describe a --data table of choice "
                             "situations")
        if getattr(estimator, "item_features_", None) is None:
            raise UsageError("the model was fitted on choice situations: pass --data FILE "
                             "--situation COL to draw one choice per situation")
        n = 100 if args.n_samples is None else args.n_samples
        _check_sample_size(n, 1)
        choices, _ = estimator.sample(n, random_state=args.seed)
        _write_table(args.out, np.asarray(choices, dtype=np.int64), ["choice"])
        return
    if args.situation is None:
        raise UsageError("--data is a long table of choice situations: pass --situation COL")
    if args.n_samples is not None:
        raise UsageError("choice situations give one draw each: -n does not apply with --data")
    table = _load_table(args.data)
    s = _situations(table, args, estimator)
    choices, _ = estimator.sample(random_state=args.seed, X=s.features, groups=s.groups)
    N, J, _ = s.features.shape
    drawn = np.zeros((N, J))
    drawn[np.arange(N), choices] = 1.0
    chosen = np.empty(N * J)
    chosen[s.order] = drawn.ravel()
    name = args.choice or "choice"
    keep = [j for j, c in enumerate(table.names) if c != name]
    _write_table(args.out, np.column_stack([table.data[:, keep], chosen]),
                 [table.names[j] for j in keep] + [name])


def _cmd_sample(args) -> None:
    from ..io import load

    estimator = load(args.model_file)
    _check_output(args.out, args.force)
    _table_format(args.out)
    name = type(estimator).__name__
    if _is_softmax(estimator):
        _sample_softmax(estimator, args)
        return
    for option in ("data", "situation", "groups", "choice"):
        if getattr(args, option) is not None:
            raise UsageError(f"--{option} applies to softmax mixtures, not to {name} models")
    # a mixture of regressions draws y at given covariates (sample(n, X=X)), not the x that
    # ``momix sample`` writes
    if not hasattr(estimator, "sample") or _is_regression(estimator):
        raise UsageError(f"{name} models y given x, not the distribution of x: it has nothing "
                         "to sample")
    n = 100 if args.n_samples is None else args.n_samples
    width = int(getattr(estimator, "n_features_in_", 1))
    _check_sample_size(n, width)
    drawn = estimator.sample(n, random_state=args.seed)
    X = np.asarray(drawn[0] if isinstance(drawn, tuple) else drawn).reshape(n, -1)
    names = getattr(estimator, "feature_names_in_", None)
    header = [str(c) for c in names] if names is not None and len(names) == X.shape[1] else [
        f"x{j}" for j in range(X.shape[1])]
    _write_table(args.out, X, header)


def _cmd_demo(args) -> None:
    from .._demo import DEMO_PARTS, run_demo

    parts = None
    if args.parts is not None:
        parts = _split_columns(args.parts, "--parts")
        unknown = [p for p in parts if p not in DEMO_PARTS]
        if unknown:
            raise UsageError(
                f"unknown demo part {unknown[0]!r}; choose from {', '.join(DEMO_PARTS)}"
            )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise UsageError(f"{out} is not empty; pass --force to write the report into it "
                         "(files of the report's names are replaced)")
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"--out {out}: {ancestor} is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        report = run_demo(out, parts=parts, seed=args.seed)
    except OSError as exc:
        raise UsageError(f"cannot write the demo report into {out}: "
                         f"{exc.strerror or exc}") from None
    print(f"momix demo: report written to {report}")


def _default_bench_folder() -> Path:
    """``./benchmarks`` if it exists, else the source tree's (editable installs)."""
    here = Path("benchmarks")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "benchmarks"


def _benchmark_list(folder: Path) -> dict[str, str]:
    """Benchmark scripts of ``folder`` (``*.py`` not starting with ``_``) and their summaries.

    The summary is the first sentence of the module docstring (read with :mod:`ast`, the
    script is not imported), cut at 100 characters.
    """
    found = {}
    for script in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        if script.name.startswith("_"):
            continue
        try:
            doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        except (SyntaxError, UnicodeDecodeError, OSError):
            doc = ""
        paragraph = " ".join(doc.split("\n\n")[0].split())
        cut = paragraph.find(". ")
        summary = paragraph if cut < 0 else paragraph[: cut + 1]
        found[script.stem] = summary if len(summary) <= 100 else summary[:97] + "..."
    return found


def _benchmark_help(folder: Path) -> str:
    found = _benchmark_list(folder)
    if not found:
        return (f"no benchmarks found in {folder}; run from the momix source tree or pass "
                "--benchmarks")
    width = max(len(n) for n in found)
    lines = [f"benchmarks in {folder}:"]
    lines += [f"  {name:<{width}}  {summary}" for name, summary in found.items()]
    return "\n".join(lines)


def _cmd_bench(args) -> None:
    import runpy

    folder = Path(args.benchmarks) if args.benchmarks is not None else _default_bench_folder()
    found = _benchmark_list(folder)
    listing = ", ".join(found) if found else "none (pass --benchmarks FOLDER)"
    if args.name is None:
        raise UsageError(f"name a benchmark; available in {folder}: {listing}")
    if args.name not in found:
        raise UsageError(f"no benchmark {args.name!r} in {folder}; available: {listing}")
    script = folder / f"{args.name}.py"
    argv = sys.argv
    sys.argv = [str(script), *args.rest]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv

