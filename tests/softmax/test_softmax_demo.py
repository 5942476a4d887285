"""The ``momix demo`` part of the softmax mixtures runs and reports real numbers."""

import matplotlib
import numpy as np

from momix.softmax._demo import run

matplotlib.use("Agg")


def test_demo_writes_figure_and_table(tmp_path):
    section = run(tmp_path, np.random.default_rng(0))
    assert (tmp_path / "softmax_mixture.png").stat().st_size > 10_000
    assert section.figures == ("softmax_mixture.png",)
    assert "EM from the moment start" in section.text and "nan" not in section.text
