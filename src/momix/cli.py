"""The ``momix`` command: demo, fit, predict, sample, bench.

Every user mistake (missing file, unknown column, bad option, NaN in the data, an untrusted
model file) prints one line ``momix: error: ...`` on stderr and exits with status 2.
Programming errors are not caught: they are bugs and keep their traceback.
"""

from __future__ import annotations

import argparse
import ast
import csv
import logging
import os
import sys
from pathlib import Path

import numpy as np

from .exceptions import DataError, SolverError
from .io import UntrustedFileError

__all__ = ["main", "read_table", "chunk_reader", "MODELS"]

#: model name on the command line -> public estimator class name
MODELS = {
    "lowrank": "LowRankGaussianMixture",
    "polymom": "Polymom",
    "regression": "MixtureOfLinearRegressions",
    "softmax": "SoftmaxMixture",
    "score": "ScoreMatchingMixture",
    "expansion": "GMMExpansion",
}

# NotImplementedError: a fitted model asked for what its family does not define (e.g.
# ``predict`` with a Polymom model that has no likelihood)
_USER_ERRORS = (DataError, ValueError, FileNotFoundError, UntrustedFileError, KeyError, SolverError,
                NotImplementedError)


class UsageError(Exception):
    """A mistake on the command line; reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse would add the usage block)
        raise UsageError(message)


# ---------------------------------------------------------------------------------------
# reading and writing tables
# ---------------------------------------------------------------------------------------


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    with path.open(newline="") as fh:
        rows = [row for row in csv.reader(fh) if row]
    if not rows:
        raise DataError(f"{path} is empty")
    header = not all(_is_number(v) for v in rows[0])
    names = [v.strip() for v in rows[0]] if header else [str(i) for i in range(len(rows[0]))]
    body = rows[1:] if header else rows
    if not body:
        raise DataError(f"{path} has a header but no data rows")
    try:
        data = np.array([[float(v) if v.strip() else np.nan for v in r] for r in body])
    except ValueError as exc:
        raise DataError(f"{path}: non-numeric value ({exc})") from None
    if data.ndim != 2:
        raise DataError(f"{path}: rows have different numbers of fields")
    return data, names


def _read_parquet(path: Path) -> tuple[np.ndarray, list[str]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError('reading Parquet needs pyarrow: pip install "momix[parquet]"') from None
    table = pq.read_table(path)
    return np.column_stack([table.column(c).to_numpy() for c in table.column_names]).astype(
        np.float64
    ), list(table.column_names)


def read_table(path: str | Path, columns: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Read a CSV, ``.npy`` or Parquet file into a float64 matrix and its column names.

    Parameters
    ----------
    path : str or Path
        File to read; the suffix picks the format.
    columns : str, optional
        Comma-separated column names or 0-based indices to keep.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data = np.load(path, mmap_mode="r", allow_pickle=False)
        data = data.reshape(-1, 1) if data.ndim == 1 else data
        names = [str(i) for i in range(data.shape[1])]
    elif suffix in (".parquet", ".pq"):
        data, names = _read_parquet(path)
    elif suffix in (".csv", ".txt"):
        data, names = _read_csv(path)
    else:
        raise DataError(f"unknown file type {suffix!r}; use .csv, .npy or .parquet")
    if columns:
        idx = [_column_index(c.strip(), names) for c in columns.split(",")]
        data, names = data[:, idx], [names[i] for i in idx]
    return np.asarray(data, dtype=np.float64), names


def _column_index(column: str, names: list[str]) -> int:
    if column in names:
        return names.index(column)
    if column.isdigit() and int(column) < len(names):
        return int(column)
    raise DataError(f"no column {column!r}; available: {', '.join(names)}")


def _write_table(path: Path | None, data: np.ndarray, header: list[str]) -> None:
    data = data.reshape(len(data), -1)
    if path is None:
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(data.tolist())
        return
    if path.suffix.lower() == ".npy":
        np.save(path, data)
    else:
        np.savetxt(path, data, delimiter=",", header=",".join(header), comments="", fmt="%.10g")


# ---------------------------------------------------------------------------------------
# subcommands
# ---------------------------------------------------------------------------------------


def _parse_params(items: list[str]) -> dict:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param expects key=value, got {item!r}")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
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
    return cls(**params)


def _selected(columns: str | None, names: list[str]) -> list[int] | None:
    return [_column_index(c.strip(), names) for c in columns.split(",")] if columns else None


def chunk_reader(path: str | Path, columns: str | None = None, show: bool = False):
    """A re-readable chunk source for a ``.npy`` or Parquet file, without loading it.

    ``.npy`` files are memory-mapped and read in row slices of about 32 MiB; Parquet files
    by :meth:`pyarrow.parquet.ParquetFile.iter_batches` (only the selected columns). Every
    call of the returned function starts a new pass with its own tqdm bar (shown when
    ``show``).

    Returns
    -------
    chunks : callable returning an iterator of float64 arrays (n_rows, n_selected)
    shape : (n_rows, n_selected)
    names : list of str
        Selected column names.
    """
    from tqdm.auto import tqdm

    from .moments import default_chunk_size

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".npy":
        data = np.load(path, mmap_mode="r", allow_pickle=False)
        data = data.reshape(-1, 1) if data.ndim == 1 else data
        if data.ndim != 2:
            raise DataError(f"{path}: expected a 2-D array, got shape {data.shape}")
        names = [str(i) for i in range(data.shape[1])]
        idx = _selected(columns, names)
        n, step = data.shape[0], default_chunk_size(data.shape[1])

        def batches():
            for start in range(0, n, step):
                rows = np.asarray(data[start : start + step], dtype=np.float64)
                yield rows if idx is None else rows[:, idx]

    else:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataError('reading Parquet needs pyarrow: pip install "momix[parquet]"') from None
        pf = pq.ParquetFile(path)
        names = list(pf.schema_arrow.names)
        idx = _selected(columns, names)
        n, step = pf.metadata.num_rows, default_chunk_size(len(idx or names))
        keep = None if idx is None else [names[i] for i in idx]

        def batches():
            for batch in pq.ParquetFile(path).iter_batches(batch_size=step, columns=keep):
                cols = [c.to_numpy(zero_copy_only=False) for c in batch.columns]
                yield np.column_stack(cols).astype(np.float64)

    width = len(idx) if idx is not None else len(names)

    def chunks():
        with tqdm(total=n, unit="rows", desc=f"reading {path.name}", disable=not show) as bar:
            for rows in batches():
                bar.update(rows.shape[0])
                yield rows

    return chunks, (n, width), names if idx is None else [names[i] for i in idx]


def _cmd_fit(args) -> None:
    from .io import save

    estimator = _make_estimator(args.model, _parse_params(args.param))
    streams = getattr(estimator, "_accepts_chunks", False) and not args.target
    if streams and Path(args.data).suffix.lower() in (".npy", ".parquet", ".pq"):
        show = bool(args.verbose) or sys.stderr.isatty()
        chunks, shape, _ = chunk_reader(args.data, args.columns, show=show)
        estimator.fit(chunks)
    elif args.target:
        X, names = read_table(args.data, args.columns)
        Xall, allnames = read_table(args.data)
        y = Xall[:, _column_index(args.target, allnames)]
        if args.columns is None:
            keep = [i for i, n in enumerate(allnames) if n != args.target and str(i) != args.target]
            X = Xall[:, keep]
        estimator.fit(X, y)
        shape = X.shape
    else:
        X, _ = read_table(args.data, args.columns)
        estimator.fit(X)
        shape = X.shape
    out = save(estimator, args.out)
    print(f"fitted {type(estimator).__name__} on {shape[0]} x {shape[1]}; saved to {out}")


def _cmd_predict(args) -> None:
    from .io import load

    estimator = load(args.model_file)
    X, _ = read_table(args.data, args.columns)
    if args.proba:
        proba = estimator.predict_proba(X)
        _write_table(args.out, proba, [f"p{k}" for k in range(proba.shape[1])])
    else:
        _write_table(args.out, np.asarray(estimator.predict(X)), ["prediction"])


def _cmd_sample(args) -> None:
    from .io import load

    estimator = load(args.model_file)
    drawn = estimator.sample(args.n_samples, random_state=args.seed)
    X = drawn[0] if isinstance(drawn, tuple) else drawn
    X = np.asarray(X).reshape(args.n_samples, -1)
    _write_table(args.out, X, [f"x{j}" for j in range(X.shape[1])])


def _cmd_demo(args) -> None:
    from ._demo import DEMO_PARTS, run_demo

    parts = None
    if args.parts:
        parts = [p.strip() for p in args.parts.split(",")]
        unknown = [p for p in parts if p not in DEMO_PARTS]
        if unknown:
            raise UsageError(
                f"unknown demo part {unknown[0]!r}; choose from {', '.join(DEMO_PARTS)}"
            )
    report = run_demo(Path(args.out), parts=parts, seed=args.seed)
    print(f"momix demo: report written to {report}")


def _cmd_bench(args) -> None:
    import runpy

    script = Path(args.benchmarks) / f"{args.name}.py"
    if not script.is_file():
        raise FileNotFoundError(
            f"no benchmark {script}; run from the momix source tree or pass --benchmarks"
        )
    sys.argv = [str(script), *args.rest]
    runpy.run_path(str(script), run_name="__main__")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="momix", description="Mixture models by the method of moments.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("demo", help="fit every estimator on built-in data and write a report")
    p.add_argument("--out", default="momix-demo", help="report folder (default: momix-demo)")
    p.add_argument("--parts", help="comma-separated parts to run (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("fit", help="fit a model to a CSV / .npy / Parquet file")
    p.add_argument("model", choices=sorted(MODELS), help="model family")
    p.add_argument("data", help="data file")
    p.add_argument("--columns", help="comma-separated feature columns (names or indices)")
    p.add_argument("--target", help="response column (regression mixtures)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="estimator hyper-parameter, repeatable (e.g. n_components=3)",
    )
    p.add_argument("--out", default="model.skops", help="model file to write")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("predict", help="predict components with a saved model")
    p.add_argument("model_file")
    p.add_argument("data")
    p.add_argument("--columns")
    p.add_argument("--proba", action="store_true", help="write posterior probabilities")
    p.add_argument("--out", type=Path, help="output file (.csv or .npy); stdout if omitted")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("sample", help="draw samples from a saved model")
    p.add_argument("model_file")
    p.add_argument("-n", "--n-samples", type=int, default=100)
    p.add_argument("--seed", type=int)
    p.add_argument("--out", type=Path)
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("bench", help="run a benchmark script from benchmarks/")
    p.add_argument("name", help="benchmark name, e.g. lowrank_gaussian")
    p.add_argument("--benchmarks", default="benchmarks", help="benchmark folder")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to the script")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``momix`` console script; returns the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
        )
        args.func(args)
    except UsageError as exc:
        print(f"momix: error: {exc}", file=sys.stderr)
        return 2
    except _USER_ERRORS as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"momix: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped (``| head``)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
