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

Modules
    This module holds the parser, :func:`main` and its exit statuses. The commands are in
    ``_commands`` (fit, predict, sample, demo, bench), reading tables in ``_tables``, writing
    outputs in ``_outputs``, estimators and feature columns in ``_models``, the softmax
    layouts in ``_softmax``, and :class:`UsageError` in ``_errors``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from ..exceptions import DataError, SolverError
from ..io import UntrustedFileError
from ._commands import (
    MAX_SAMPLE_BYTES,
    _benchmark_help,
    _cmd_bench,
    _cmd_demo,
    _cmd_fit,
    _cmd_predict,
    _cmd_sample,
    _default_bench_folder,
)
from ._errors import UsageError
from ._models import MODELS
from ._tables import chunk_reader, read_table

__all__ = ["main", "read_table", "chunk_reader", "MODELS", "MAX_SAMPLE_BYTES"]

# NotImplementedError: a fitted model asked for what its family does not define (e.g.
# ``predict`` with a Polymom model that has no likelihood)
_USER_ERRORS = (DataError, ValueError, FileNotFoundError, UntrustedFileError, SolverError,
                NotImplementedError)


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

