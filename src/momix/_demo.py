"""Registry and runner of ``momix demo``.

Each method folder has a ``_demo.py`` with ``run(outdir, rng) -> DemoSection``: it fits its
estimator on built-in data, saves its figures into ``outdir`` and returns a markdown
section. ``momix demo`` runs every registered part and writes ``outdir/report.md``.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["DemoSection", "DEMO_PARTS", "run_demo"]

#: module of each demo part, in report order
DEMO_PARTS: dict[str, str] = {
    "lowrank": "momix.lowrank._demo",
    "polymom": "momix.polymom._demo",
    "softmax": "momix.softmax._demo",
    "diffusion": "momix.diffusion._demo",
    "expansion": "momix.expansion._demo",
}


@dataclass(frozen=True)
class DemoSection:
    """One part of the demo report.

    Attributes
    ----------
    title : str
        Section heading.
    text : str
        Markdown body (results, numbers, what the figure shows).
    figures : tuple of str
        File names of figures written into the output folder.
    """

    title: str
    text: str
    figures: tuple[str, ...] = field(default_factory=tuple)


def run_demo(outdir: Path, parts: list[str] | None = None, seed: int = 0, log=print) -> Path:
    """Run the demo parts and write ``outdir/report.md``; return the report's path."""
    import matplotlib

    matplotlib.use("Agg")
    outdir.mkdir(parents=True, exist_ok=True)
    names = list(DEMO_PARTS) if parts is None else parts
    lines = ["# momix demo report", "", "Every estimator of momix fitted on built-in data.", ""]
    for name in names:
        start = time.perf_counter()
        log(f"momix demo: {name} ...")
        section = importlib.import_module(DEMO_PARTS[name]).run(outdir, np.random.default_rng(seed))
        elapsed = time.perf_counter() - start
        lines += [f"## {section.title}", "", section.text.strip(), ""]
        lines += [f"![{fig}]({fig})" for fig in section.figures]
        lines += ["", f"*({elapsed:.1f} s)*", ""]
    report = outdir / "report.md"
    report.write_text("\n".join(lines))
    return report
