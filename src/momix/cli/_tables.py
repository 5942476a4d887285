"""Reading tables for the ``momix`` command: CSV, ``.npy`` and Parquet, and their columns.

:func:`read_table` loads a whole file and checks that every value is a finite number;
:func:`chunk_reader` streams a ``.npy`` or Parquet file in row chunks for the estimators that
fit from chunks. Columns are chosen by name or 0-based index, each at most once; the names are
the header or Parquet names, or the column positions ``"0"``, ``"1"``, ... without them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import DataError
from ._errors import UsageError


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

