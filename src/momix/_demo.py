"""Registry, runner and shared helpers of ``momix demo``.

Each part is a module with ``run(outdir, rng, log) -> DemoSection``: it fits one momix
estimator with its defaults (only model choices such as ``n_components`` or ``rank`` set) on
built-in data, fits a peer from scikit-learn or scipy on the same data, saves its figures into
``outdir`` and returns a markdown section with :class:`Comparison` rows. ``momix demo`` runs
every registered part and writes ``outdir/report.md``, which opens with one summary table of
the comparisons.

Numbers in the report go through :func:`fmt`: three significant digits, thousands separators
and the unit written next to them.
"""

from __future__ import annotations

import importlib
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Comparison",
    "DemoSection",
    "DEMO_PARTS",
    "FitResult",
    "best_gaussian_mixture",
    "fmt",
    "md_table",
    "run_demo",
    "save_figure",
    "timed_fit",
]

#: module of each demo part, in report order
DEMO_PARTS: dict[str, str] = {
    "lowrank": "momix.lowrank._demo",
    "polymom": "momix.polymom._demo",
    "regression": "momix.polymom._demo_regression",
    "softmax": "momix.softmax._demo",
    "diffusion": "momix.diffusion._demo",
    "expansion": "momix.expansion._demo",
}

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    """The default ``log`` of a part run on its own: print nothing."""


# ---------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------


def fmt(value: float, unit: str = "", digits: int = 3) -> str:
    """A number for reading: ``digits`` significant digits, thousands separators, a unit.

    Integers parts are never cut: 803 607.1 becomes ``"804,000"`` (three significant digits),
    -13.3052 becomes ``"-13.3"``, 0.01234 becomes ``"0.0123"``; magnitudes below 1e-3 use
    scientific notation (``"1.23e-05"``). Non-finite values are written ``"nan"``/``"inf"``.

    Parameters
    ----------
    value : float
    unit : str, default=""
        Appended after a space (``"s"``, ``"nats/sample"``).
    digits : int, default=3

    Returns
    -------
    str
    """
    x = float(value)
    if not math.isfinite(x):
        text = str(x)
    elif x == 0:
        text = "0"
    else:
        mag = math.floor(math.log10(abs(x)))
        if mag >= digits - 1:
            text = f"{round(x, -(mag - digits + 1)):,.0f}"
        elif mag < -3:
            text = f"{x:.{digits - 1}e}"
        else:
            text = f"{x:.{digits - 1 - mag}f}"
        if text.startswith("-") and float(text.replace(",", "")) == 0:
            text = text[1:]
    return f"{text} {unit}" if unit else text


def fmt_signed(value: float, unit: str = "") -> str:
    """:func:`fmt` with an explicit ``+`` on positive values (for differences)."""
    text = fmt(value, unit)
    return text if text.startswith("-") or float(value) == 0 else f"+{text}"


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; cells are written with ``str``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# sections and comparisons
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One momix-versus-peer number of a demo part, for the report's summary table.

    Attributes
    ----------
    estimator : str
        momix class name (``"Polymom"``).
    data : str
        Short description of the data.
    metric : str
        What is compared, higher or lower better said in words.
    unit : str
        Unit of ``momix`` and ``peer`` (``"nats/sample"``; ``""`` for a ratio).
    momix : float
    peer_name : str
    peer : float
    momix_seconds, peer_seconds : float
        Wall-clock times of the two fits.
    """

    estimator: str
    data: str
    metric: str
    unit: str
    momix: float
    peer_name: str
    peer: float
    momix_seconds: float
    peer_seconds: float

    def row(self) -> list[str]:
        """The summary-table row."""
        return [
            f"`{self.estimator}`",
            self.data,
            self.metric,
            fmt(self.momix, self.unit),
            self.peer_name,
            fmt(self.peer, self.unit),
            fmt_signed(self.momix - self.peer),
            fmt(self.momix_seconds, "s"),
            fmt(self.peer_seconds, "s"),
        ]


SUMMARY_HEADER = ("momix estimator (defaults)", "data", "metric", "momix", "peer", "peer value",
                  "momix - peer", "momix time", "peer time")


@dataclass(frozen=True)
class DemoSection:
    """One part of the demo report.

    Attributes
    ----------
    title : str
        Section heading: the method and its paper.
    text : str
        Markdown body (results, numbers, what the figure shows).
    figures : tuple of str
        File names of figures written into the output folder.
    comparisons : tuple of Comparison
        Rows for the summary table at the top of the report.
    """

    title: str
    text: str
    figures: tuple[str, ...] = field(default_factory=tuple)
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------------------
# fitting helpers
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    """What :func:`timed_fit` measured.

    Attributes
    ----------
    value : Any
        The return value of the fitted callable (usually the fitted estimator).
    seconds : float
        Wall-clock time.
    warnings : tuple of str
        Messages of the warnings raised during the call (recorded, not printed).
    """

    value: Any
    seconds: float
    warnings: tuple[str, ...]


def timed_fit(label: str, fn: Callable[[], Any], log: Log = _quiet) -> FitResult:
    """Call ``fn`` once, timing it and recording its warnings; log one progress line.

    Parameters
    ----------
    label : str
        Name of the fit in the progress line (``"DGMM (momix)"``).
    fn : callable
        No arguments; its return value is kept.
    log : callable, default=silent

    Returns
    -------
    FitResult
    """
    log(f"    {label} ...")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - start
    messages = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    log(f"    {label}: {fmt(seconds, 's')}")
    return FitResult(value, seconds, messages)


def warnings_note(fits: dict[str, FitResult]) -> str:
    """Markdown line listing the warnings each fit raised (empty when none did)."""
    parts = [f"{name}: {'; '.join(f.warnings)}" for name, f in fits.items() if f.warnings]
    return ("Warnings raised: " + " / ".join(parts) + ".") if parts else "No fit raised a warning."


def best_gaussian_mixture(X: np.ndarray, n_components: int, random_state: int,
                          n_init: int = 5, covariance_type: str = "full"):
    """scikit-learn's ``GaussianMixture``, best of ``n_init`` k-means starts (the peer)."""
    from sklearn.mixture import GaussianMixture  # a part imports it first (see run_part)

    return GaussianMixture(n_components, covariance_type=covariance_type, n_init=n_init,
                           random_state=random_state).fit(X)


def seed_from(rng: np.random.Generator) -> int:
    """An integer seed drawn from ``rng`` (for ``random_state`` arguments)."""
    return int(rng.integers(2**31 - 1))


# ---------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------


def save_figure(fig, path: Path) -> None:
    """Write ``fig`` as a PNG (110 dpi) and close it."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def ellipse(ax, mean: np.ndarray, cov: np.ndarray, n_sd: float = 2.0, **style) -> None:
    """Draw the ``n_sd``-standard-deviation ellipse of a 2-D Gaussian on ``ax``."""
    evals, evecs = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([np.cos(t), np.sin(t)])
    pts = mean[:, None] + n_sd * evecs @ (np.sqrt(np.clip(evals, 0, None))[:, None] * circle)
    ax.plot(pts[0], pts[1], **style)


# ---------------------------------------------------------------------------------------
# runner
# ---------------------------------------------------------------------------------------


def run_part(name: str, outdir: Path, seed: int = 0, log: Log = _quiet) -> DemoSection:
    """Run one registered part (a key of :data:`DEMO_PARTS`) into ``outdir``.

    BLAS and OpenMP run on one thread (``threadpoolctl``) for momix and the peers alike: the
    demo's problems are small, and on a busy machine idle-spinning BLAS/OpenMP threads made
    scikit-learn's ``GaussianMixture`` 40x slower in CPU time (0.18 s against 7.8 s for one
    start in d = 20). momix's own chunk threads (:mod:`momix.moments`) are not affected.
    """
    import matplotlib
    from threadpoolctl import threadpool_limits

    matplotlib.use("Agg")
    outdir.mkdir(parents=True, exist_ok=True)
    # parts import their estimator and peers at module level: the libraries are loaded (and
    # their one-time import cost paid) before the limits, which apply only to loaded libraries
    module = importlib.import_module(DEMO_PARTS[name])
    with threadpool_limits(limits=1):
        return module.run(outdir, np.random.default_rng(seed), log=log)


def run_demo(outdir: Path, parts: list[str] | None = None, seed: int = 0, log: Log = print) -> Path:
    """Run the demo parts and write ``outdir/report.md``; return the report's path.

    Parameters
    ----------
    outdir : Path
        Created if missing; figures and ``report.md`` go there.
    parts : list of str, optional
        Keys of :data:`DEMO_PARTS` (default: all, in registry order).
    seed : int, default=0
        Every part draws its data and seeds from ``numpy.random.default_rng(seed)``.
    log : callable, default=print
        Receives one progress line per part and per fit.
    """
    names = list(DEMO_PARTS) if parts is None else parts
    sections, times = [], []
    start_all = time.perf_counter()
    for i, name in enumerate(names, 1):
        log(f"momix demo [{i}/{len(names)}] {name} ...")
        start = time.perf_counter()
        sections.append(run_part(name, outdir, seed, log))
        times.append(time.perf_counter() - start)
        log(f"momix demo [{i}/{len(names)}] {name}: done in {fmt(times[-1], 's')}")
    total = time.perf_counter() - start_all
    report = outdir / "report.md"
    report.write_text(_report(sections, times, total, seed))
    return report


def _report(sections: list[DemoSection], times: list[float], total: float, seed: int) -> str:
    rows = [c.row() for s in sections for c in s.comparisons]
    lines = [
        "# momix demo report",
        "",
        "Every momix estimator fitted with its default settings (only model choices such as "
        "the number of components set) on built-in data, next to a peer from scikit-learn or "
        "scipy fitted on the same data and, for synthetic data, the truth. Log-likelihoods are "
        "on held-out data (nats per sample, higher is better); parameter errors are matched "
        "to the truth with `momix.metrics` (lower is better); times are wall-clock seconds "
        "with BLAS and OpenMP on one thread for every method. "
        f"Random seed {seed} (`momix demo --seed`); the whole run took {fmt(total, 's')}.",
        "",
        md_table(SUMMARY_HEADER, rows),
        "",
    ]
    for section, seconds in zip(sections, times, strict=True):
        lines += [f"## {section.title}", "", section.text.strip(), ""]
        lines += [f"![{fig}]({fig})" for fig in section.figures]
        lines += ["", f"*Part run time: {fmt(seconds, 's')}.*", ""]
    return "\n".join(lines)
