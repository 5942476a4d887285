"""Writing the outputs of the ``momix`` command: model files and result tables.

An output is checked before any work (:func:`_check_output`: not a folder, its folder exists,
an existing file only with ``--force``), then written to a temporary file in the same folder
and moved into place (:func:`_write_output`), so a failed write (a full disk, ``/dev/full``)
leaves no partial file; devices and pipes such as ``/dev/null`` are written directly. Tables
are CSV (stdout when no file is given; floats in their shortest exact text) or ``.npy``.
"""

from __future__ import annotations

import csv
import errno
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..exceptions import NumericalError
from ._errors import UsageError


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

