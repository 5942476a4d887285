"""The ``momix`` command: demo, fit, predict, sample, bench.

Errors
    Every user mistake (missing or unreadable file, unknown column, bad option or
    hyper-parameter, NaN in the data, an output that cannot be written, an untrusted model
    file) prints one line ``momix: error: ...`` on stderr and exits with status 2; warnings
    raised before such an error are dropped. Programming errors are not caught: they are bugs
    and keep their traceback. Warnings of a successful command (e.g. an EM that did not
    converge) are printed afterwards, one line ``momix: warning: ...`` each.

Tables
    ``.csv`` / ``.txt`` (a header row is recognised by a non-numeric field), ``.npy`` and
    Parquet. Every value must be a finite number: a missing field, ``nan`` or ``inf`` is
    refused with its line and column. Columns are chosen by name or 0-based index
    (``--columns b,a`` or ``--columns 1,0``); a column may be chosen once only.

Column names
    ``fit`` stores the names of the feature columns in the model's ``feature_names_in_`` (the
    scikit-learn attribute; header or Parquet names, or the column positions ``"0"``,
    ``"1"``, ... for ``.npy`` files and CSV files without a header). ``sample`` writes them
    as its header. ``predict`` takes the fitted columns **by name** when both the model and
    the file have named columns (so the file may hold more columns, in any order); a
    ``--columns`` list must then name the fitted columns in the fitted order, and anything
    else is refused. When either side has positional names only, columns are taken by
    position (``--columns``, or every column but ``--target``) and only their number is
    checked.

Overwriting
    ``fit``, ``predict --out`` and ``sample --out`` refuse to replace an existing file unless
    ``--force`` is given; the output is written to a temporary file in the same folder and
    moved into place, so a failed write leaves no partial file. Devices and pipes (e.g.
    ``/dev/null``) are written directly. ``demo --out`` refuses an existing non-empty folder
    unless ``--force`` (then files of the report's names are replaced, others are kept).

Responses
    Mixtures of regressions take their response with ``--target``: ``fit`` needs it;
    ``predict`` without it gives the conditional mean :math:`E[y \\mid x]` (one column
    ``prediction``), with it the most probable component given (x, y), or with ``--proba``
    the posteriors :math:`p(k \\mid x, y)` (``--proba`` without the response is refused: the
    posterior of a regression mixture needs y). ``--target`` is refused for every other model.

Softmax mixtures
    ``fit softmax`` reads one of three layouts (:meth:`momix.SoftmaxMixture.fit`):

    * item set with counts: ``DATA`` has one row per item (its features) and a ``--counts``
      column (times the item was chosen);
    * item set with choices: ``DATA`` has one row per observation and a ``--choice`` column
      holding the chosen item (0-based row of the item table), the items are in ``--items
      FILE`` (one row per item);
    * choice situations (long table): ``DATA`` has one row per alternative of each choice
      situation, a ``--situation`` column (situation id), a ``--choice`` column (1 for the
      chosen alternative, 0 for the others; one 1 per situation) and optionally a
      ``--groups`` column (panel id, constant within a situation: situations of one panel
      share a latent class). Every situation has the same number of alternatives, in file
      order; situations are ordered by id.

    The features are ``--columns`` or every other column. ``predict`` takes the same layouts
    but the counts (``--choice`` is required: the posterior needs the choice; an item-set
    model uses its own items unless ``--items`` is given) and writes one row per observation
    or situation. ``sample`` draws ``-n`` choices from an item-set model (column
    ``choice``), or one choice per situation of ``--data FILE --situation COL`` and writes
    that table back with the drawn 0/1 ``--choice`` column (default name ``choice``).
"""

from __future__ import annotations

import argparse
import ast
import csv
import errno
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import DataError, NumericalError, SolverError
from ..io import UntrustedFileError

__all__ = ["main", "read_table", "chunk_reader", "MODELS", "MAX_SAMPLE_BYTES"]

#: model name on the command line -> public estimator class name
MODELS = {
    "lowrank": "LowRankGaussianMixture",
    "polymom": "Polymom",
    "regression": "MixtureOfLinearRegressions",
    "softmax": "SoftmaxMixture",
    "score": "ScoreMatchingMixture",
    "expansion": "GMMExpansion",
}

#: largest table ``momix sample`` draws: n_samples x (n_columns + 1) float64 values (the draws
#: and their component labels) must fit in 1 GiB; larger draws are refused before sampling
MAX_SAMPLE_BYTES = 2**30

# NotImplementedError: a fitted model asked for what its family does not define (e.g.
# ``predict`` with a Polymom model that has no likelihood)
_USER_ERRORS = (DataError, ValueError, FileNotFoundError, UntrustedFileError, SolverError,
                NotImplementedError)

_SOFTMAX_OPTIONS = ("choice", "counts", "situation", "groups", "items")


class UsageError(Exception):
    """A mistake on the command line; reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    #: called when the help is shown, to fill the epilog (the bench listing reads files)
    lazy_epilog: Callable[[], str] | None = None

    def error(self, message: str):  # one line, exit 2 (argparse would add the usage block)
        raise UsageError(message)

    def format_help(self) -> str:
        if self.lazy_epilog is not None:
            self.epilog = self.lazy_epilog()
        return super().format_help()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, 2**32), got {text!r}")
    return value


# ---------------------------------------------------------------------------------------
# reading tables
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """A numeric table: float64 ``data`` (n, m), column ``names``, and whether they are real.

    ``named`` is False when the names are column positions (``.npy``, CSV without header).
    """

    path: Path
    data: np.ndarray
    names: list[str]
    named: bool

    def index(self, column: str, option: str = "--columns") -> int:
        return _column_index(column, self.names, self.path, option)

    def indices(self, spec: str, option: str = "--columns") -> list[int]:
        idx = [self.index(c, option) for c in _split_columns(spec, option)]
        seen = set()
        for i in idx:
            if i in seen:
                raise UsageError(f"{option} selects column {self.names[i]!r} twice")
            seen.add(i)
        return idx


def _split_columns(spec: str, option: str) -> list[str]:
    items = [c.strip() for c in spec.split(",")]
    if any(not c for c in items):
        raise UsageError(f"{option} {spec!r} has an empty column name")
    return items


def _column_index(column: str, names: list[str], path: Path | str = "the data",
                  option: str = "--columns") -> int:
    if column in names:
        return names.index(column)
    if column.isdigit() and int(column) < len(names):
        return int(column)
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    raise DataError(f"{path} has no column {column!r} ({option}); columns: {shown}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(path: Path) -> _Table:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [(line, row) for line, row in enumerate(csv.reader(fh), 1) if row]
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 text file") from None
    except csv.Error as exc:
        raise DataError(f"{path} is not a readable CSV file ({exc})") from None
    if not rows:
        raise DataError(f"{path} is empty")
    first = [v.strip() for v in rows[0][1]]
    named = not all(_is_number(v) for v in first)
    if named:
        for j, name in enumerate(first):
            if not name:
                raise DataError(f"{path}: column {j} has no name in the header")
            if name in first[:j]:
                raise DataError(f"{path}: the header names column {name!r} twice")
        names, body = first, rows[1:]
    else:
        names, body = [str(j) for j in range(len(first))], rows
    if not body:
        raise DataError(f"{path} has a header but no data rows")
    for line, row in body:
        if len(row) != len(names):
            raise DataError(f"{path} line {line} has {len(row)} field(s); expected {len(names)}")
    try:
        data = np.array([row for _, row in body], dtype=np.float64)
    except ValueError:
        data = None
    if data is None:  # numpy's parser refused a field: Python's finds it (or reads it)
        values = []
        for line, row in body:
            values.append([])
            for name, value in zip(names, row, strict=True):
                if not value.strip():
                    raise DataError(f"{path} line {line}, column {name!r}: missing value")
                try:
                    values[-1].append(float(value))
                except ValueError:
                    raise DataError(f"{path} line {line}, column {name!r}: "
                                    f"{value.strip()!r} is not a number") from None
        data = np.array(values, dtype=np.float64)
    return _Table(path, data, names, named)


def _read_npy(path: Path) -> _Table:
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npy file ({exc})") from None
    if data.dtype.kind not in "biuf":
        raise DataError(f"{path} holds {data.dtype} values; momix reads real numbers")
    data = data.reshape(-1, 1) if data.ndim == 1 else data
    if data.ndim != 2:
        raise DataError(f"{path}: expected a 1-D or 2-D array, got shape {data.shape}")
    return _Table(path, np.asarray(data, dtype=np.float64), [str(j) for j in range(data.shape[1])],
                  False)


def _parquet_module():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError('reading Parquet needs pyarrow: pip install "momix[parquet]"') from None
    return pq


def _check_parquet_schema(path: Path, schema) -> None:
    import pyarrow as pa

    for field in schema:
        t = field.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
            raise DataError(f"{path}: column {field.name!r} holds {t} values; momix reads numbers")


def _read_parquet(path: Path) -> _Table:
    pq = _parquet_module()
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable Parquet file ({exc})") from None
    _check_parquet_schema(path, table.schema)
    names = [str(c) for c in table.column_names]
    if len(set(names)) != len(names):
        raise DataError(f"{path} has two columns of one name")
    cols = [table.column(j).to_numpy(zero_copy_only=False).astype(np.float64)
            for j in range(table.num_columns)]
    data = np.column_stack(cols) if cols else np.empty((table.num_rows, 0))
    return _Table(path, data, names, True)


def _load_table(path: str | Path) -> _Table:
    """Read a table and check that it holds at least one row and column of finite numbers."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            table = _read_npy(path)
        elif suffix in (".parquet", ".pq"):
            table = _read_parquet(path)
        elif suffix in (".csv", ".txt"):
            table = _read_csv(path)
        else:
            raise DataError(f"unknown file type {suffix!r} of {path}; use .csv, .npy or .parquet")
    except PermissionError:
        raise DataError(f"{path} cannot be read (permission denied)") from None
    if table.data.shape[0] == 0 or table.data.shape[1] == 0:
        raise DataError(f"{path} has no data (shape {table.data.shape})")
    bad = ~np.isfinite(table.data)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        where = f"line {row + 1 + table.named}" if suffix in (".csv", ".txt") else f"row {row}"
        raise DataError(f"{path} {where}, column {table.names[col]!r}: missing or non-finite "
                        f"value ({table.data[row, col]}); momix needs complete numeric data")
    return table


def read_table(path: str | Path, columns: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Read a CSV, ``.npy`` or Parquet file into a float64 matrix and its column names.

    Parameters
    ----------
    path : str or Path
        File to read; the suffix picks the format.
    columns : str, optional
        Comma-separated column names or 0-based indices to keep, each at most once.

    Returns
    -------
    data : ndarray of shape (n_rows, n_columns)
    names : list of str
        Header or Parquet names; column positions ``"0"``, ``"1"``, ... without them.

    Raises
    ------
    DataError
        Unreadable file, no rows, a missing or non-finite value, an unknown column.
    """
    table = _load_table(path)
    if columns is None:
        return table.data, list(table.names)
    idx = table.indices(columns)
    return table.data[:, idx], [table.names[i] for i in idx]


def _selected(columns: str | None, names: list[str], path: Path) -> list[int] | None:
    if columns is None:
        return None
    idx = [_column_index(c, names, path) for c in _split_columns(columns, "--columns")]
    if len(set(idx)) != len(idx):
        raise UsageError("--columns selects a column twice")
    return idx


def chunk_reader(path: str | Path, columns: str | None = None, show: bool = False):
    """A re-readable chunk source for a ``.npy`` or Parquet file, without loading it.

    ``.npy`` files are memory-mapped and read in row slices of about 32 MiB; Parquet files
    by :meth:`pyarrow.parquet.ParquetFile.iter_batches` (only the selected columns). Every
    call of the returned function starts a new pass with its own tqdm bar (shown when
    ``show``). Values are not checked here: the estimator checks each chunk.

    Returns
    -------
    chunks : callable returning an iterator of float64 arrays (n_rows, n_selected)
    shape : (n_rows, n_selected)
    names : list of str
        Selected column names.
    """
    from tqdm.auto import tqdm

    from ..moments import default_chunk_size

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".npy":
        try:
            data = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path} is not a readable .npy file ({exc})") from None
        if data.dtype.kind not in "biuf":
            raise DataError(f"{path} holds {data.dtype} values; momix reads real numbers")
        data = data.reshape(-1, 1) if data.ndim == 1 else data
        if data.ndim != 2:
            raise DataError(f"{path}: expected a 2-D array, got shape {data.shape}")
        names = [str(i) for i in range(data.shape[1])]
        idx = _selected(columns, names, path)
        n, step = data.shape[0], default_chunk_size(max(data.shape[1], 1))

        def batches():
            for start in range(0, n, step):
                rows = np.asarray(data[start : start + step], dtype=np.float64)
                yield rows if idx is None else rows[:, idx]

    else:
        pq = _parquet_module()
        try:
            pf = pq.ParquetFile(path)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path} is not a readable Parquet file ({exc})") from None
        _check_parquet_schema(path, pf.schema_arrow)
        names = list(pf.schema_arrow.names)
        idx = _selected(columns, names, path)
        n, step = pf.metadata.num_rows, default_chunk_size(max(len(idx or names), 1))
        keep = None if idx is None else [names[i] for i in idx]

        def batches():
            for batch in pq.ParquetFile(path).iter_batches(batch_size=step, columns=keep):
                cols = [c.to_numpy(zero_copy_only=False) for c in batch.columns]
                yield np.column_stack(cols).astype(np.float64)

    width = len(idx) if idx is not None else len(names)
    if n == 0 or width == 0:
        raise DataError(f"{path} has no data (shape {(n, width)})")

    def chunks():
        with tqdm(total=n, unit="rows", desc=f"reading {path.name}", disable=not show) as bar:
            for rows in batches():
                bar.update(rows.shape[0])
                yield rows

    return chunks, (n, width), names if idx is None else [names[i] for i in idx]


# ---------------------------------------------------------------------------------------
# writing outputs
# ---------------------------------------------------------------------------------------


def _check_output(path: Path | None, force: bool, option: str = "--out") -> None:
    """Refuse, before any work, an output that cannot or must not be written."""
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name")
    if not path.parent.is_dir():
        what = "is not a folder" if path.parent.exists() else "does not exist"
        raise UsageError(f"{option} {path}: {path.parent} {what}")
    if path.is_file() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")


def _write_output(path: Path, write: Callable[[Path], None]) -> None:
    """Write through ``write(p)`` to a temporary file moved onto ``path`` (devices directly)."""
    try:
        if path.exists() and not path.is_file():  # a device or a pipe: no temporary file
            write(path)
            return
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
        os.close(fd)
        try:
            write(Path(tmp))
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        reason = exc.strerror or str(exc) or errno.errorcode.get(exc.errno or 0, "error")
        raise UsageError(f"cannot write {path}: {reason}") from None


def _table_format(path: Path | None) -> str:
    if path is None:
        return "csv"
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return "npy"
    if suffix in (".csv", ".txt", ""):
        return "csv"
    raise UsageError(f"unknown output type {suffix!r} of {path}; use .csv or .npy")


def _csv_rows(fh, data: np.ndarray, header: list[str]) -> None:
    # Python's float repr: the shortest text that reads back to the same float64
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(data.tolist())


def _save_table(fh_or_path, data: np.ndarray, header: list[str], fmt: str) -> None:
    if fmt == "npy":
        np.save(fh_or_path, data)
    elif isinstance(fh_or_path, Path):
        with fh_or_path.open("w", newline="") as fh:
            _csv_rows(fh, data, header)
    else:
        _csv_rows(fh_or_path, data, header)


def _write_table(path: Path | None, data: np.ndarray, header: list[str]) -> None:
    """Write a finite table as CSV (stdout when ``path`` is None) or ``.npy``."""
    data = np.asarray(data).reshape(len(data), -1)
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise NumericalError("the model produced non-finite values; nothing was written")
    fmt = _table_format(path)
    if path is None:
        _save_table(sys.stdout, data, header, fmt)
    else:
        _write_output(path, lambda p: _save_table(p, data, header, fmt))


# ---------------------------------------------------------------------------------------
# estimators and columns
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# softmax mixtures: the three layouts
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# subcommands
# ---------------------------------------------------------------------------------------


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
    if not hasattr(estimator, "sample"):
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


_FIT_EPILOG = """\
tables: .csv/.txt (header recognised by a non-numeric field), .npy, .parquet; every value a
finite number. Features are --columns, or every column but --target and the softmax columns.
The feature names are stored in the model (feature_names_in_) for predict and sample.

regression: --target COLUMN is required (the response y).

softmax, one of three layouts:
  item set with counts     DATA: one row per item; --counts COL = times chosen
  item set with choices    DATA: one row per observation; --choice COL = chosen item
                           (0-based row of --items FILE, one row per item)
  choice situations        DATA: one row per alternative of each situation (long table);
                           --situation COL = situation id, --choice COL = 1 if chosen else 0
                           (one 1 per situation), optional --groups COL = panel id (its
                           situations share a latent class); all situations have the same
                           number of alternatives

examples:
  momix fit lowrank data.csv --param n_components=3 --param rank=2 --out model.skops
  momix fit regression data.csv --target y --param n_components=2
  momix fit softmax long.csv --situation sid --choice chosen --groups person
"""

_PREDICT_EPILOG = """\
The model's feature columns are taken from DATA by name when both have named columns
(--columns, if given, must list them in the fitted order), else by position.

Output: the most probable component of each row (column 'component'), or with --proba the
posterior probabilities p0, p1, ...
regression models: without --target, the conditional mean E[y|x] (column 'prediction');
  with --target COLUMN, the component given (x, y), or with --proba p(k | x, y).
softmax models: --choice is required (the posterior needs each observation's choice); DATA is
  a table of chosen items (the model's item set, or --items FILE) or, with --situation, the
  long table of choice situations (one output row per situation).
"""

_SAMPLE_EPILOG = f"""\
The columns are named as the model's features. At most {MAX_SAMPLE_BYTES // 2**30} GiB of draws
(n x (columns + 1) x 8 bytes) per run.
softmax models: -n choices from the fitted item set (column 'choice'), or with --data FILE
--situation COL one choice per situation, written as the table with a drawn 0/1 --choice
column (default 'choice').
"""


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="momix", description="Mixture models by the method of moments.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    raw = argparse.RawDescriptionHelpFormatter
    force_help = "replace an existing output file"

    p = sub.add_parser("demo", help="fit every estimator on built-in data and write a report")
    p.add_argument("--out", default="momix-demo", help="report folder (default: momix-demo); "
                   "an existing non-empty folder needs --force")
    p.add_argument("--parts", help="comma-separated parts to run (default: all)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty folder (replacing the report's files)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("fit", help="fit a model to a CSV / .npy / Parquet file",
                       epilog=_FIT_EPILOG, formatter_class=raw)
    p.add_argument("model", choices=sorted(MODELS), help="model family")
    p.add_argument("data", help="data file")
    p.add_argument("--columns", metavar="COLS",
                   help="comma-separated feature columns (names or indices)")
    p.add_argument("--target", metavar="COL", help="response column (regression only)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="estimator hyper-parameter, repeatable (e.g. n_components=3)",
    )
    _softmax_arguments(p, items=True, counts=True)
    p.add_argument("--out", default="model.skops", metavar="FILE",
                   help="model file to write (default: model.skops)")
    p.add_argument("--force", "--overwrite", action="store_true", help=force_help)
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser("predict", help="predict components with a saved model",
                       epilog=_PREDICT_EPILOG, formatter_class=raw)
    p.add_argument("model_file")
    p.add_argument("data")
    p.add_argument("--columns", metavar="COLS", help="feature columns (names or indices)")
    p.add_argument("--target", metavar="COL", help="response column (regression models)")
    p.add_argument("--proba", action="store_true", help="write posterior probabilities")
    _softmax_arguments(p, items=True, counts=True)
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="output file (.csv or .npy); stdout if omitted")
    p.add_argument("--force", "--overwrite", action="store_true", help=force_help)
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("sample", help="draw samples from a saved model", epilog=_SAMPLE_EPILOG,
                       formatter_class=raw)
    p.add_argument("model_file")
    p.add_argument("-n", "--n-samples", type=_positive_int, default=None, metavar="N",
                   help="number of draws (default: 100)")
    p.add_argument("--seed", type=_seed)
    p.add_argument("--data", metavar="FILE",
                   help="softmax: long table of choice situations to draw for")
    p.add_argument("--columns", metavar="COLS",
                   help="softmax --data: feature columns (names or indices)")
    _softmax_arguments(p, items=False, counts=False)
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="output file (.csv or .npy); stdout if omitted")
    p.add_argument("--force", "--overwrite", action="store_true", help=force_help)
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("bench", help="run a benchmark script from benchmarks/ (--help lists "
                       "them)", formatter_class=raw)
    p.lazy_epilog = lambda: _benchmark_help(_default_bench_folder())
    p.add_argument("name", nargs="?", help="benchmark name (listed below)")
    p.add_argument("--benchmarks", help="benchmark folder (default: ./benchmarks, else the "
                   "source tree's)")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to the script")
    p.set_defaults(func=_cmd_bench)
    return parser


def _softmax_arguments(p: argparse.ArgumentParser, *, items: bool, counts: bool) -> None:
    g = p.add_argument_group("softmax mixtures")
    g.add_argument("--choice", metavar="COL",
                   help="chosen item (item set) or 1/0 chosen flag (situations)")
    if counts:
        g.add_argument("--counts", metavar="COL", help="item set: times each item was chosen")
    else:
        p.set_defaults(counts=None)
    if items:
        g.add_argument("--items", metavar="FILE",
                       help="item set: file of item features, one row per item")
    else:
        p.set_defaults(items=None)
    g.add_argument("--situation", metavar="COL", help="long table: choice situation id")
    g.add_argument("--groups", metavar="COL",
                   help="long table: panel id (situations sharing a class)")
    if not items:
        p.set_defaults(data=None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _report_warnings(caught) -> None:
    seen = set()
    for w in caught:
        line = f"momix: warning: {_first_line(w.message)}"
        if line not in seen:
            seen.add(line)
            print(line, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``momix`` console script; returns the exit status.

    0 on success, 2 on a user mistake (one line ``momix: error: ...`` on stderr), 1 when
    the output pipe was closed by its reader, 130 on Ctrl-C.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
        )
        with warnings.catch_warnings(record=True) as caught:
            # the CLI matches columns to the model's feature_names_in_ itself and hands the
            # estimators arrays, of which scikit-learn would say they carry no names
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            args.func(args)
    except UsageError as exc:
        print(f"momix: error: {_first_line(exc)}", file=sys.stderr)
        return 2
    except _USER_ERRORS as exc:
        print(f"momix: error: {_first_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped (``| head``)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 1
    except KeyboardInterrupt:
        print("momix: interrupted", file=sys.stderr)
        return 130
    _report_warnings(caught)
    return 0

