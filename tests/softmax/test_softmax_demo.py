"""The ``momix demo`` part of the softmax mixtures runs and reports real numbers."""

import math
import re

import matplotlib
import pytest

from momix._demo import run_part

matplotlib.use("Agg")


@pytest.mark.slow
def test_demo_writes_figure_and_table(tmp_path):
    section = run_part("softmax", tmp_path, seed=0)
    assert section.figures == ("softmax_mixture.png",)
    assert (tmp_path / "softmax_mixture.png").stat().st_size > 20_000
    for name in ("SoftmaxMixture (momix)", "PoissonRegressor per true class", "single logit"):
        assert name in section.text
    assert not re.search(r"\b(nan|inf)\b", section.text)
    single = next(c for c in section.comparisons if "single logit" in c.peer_name)
    oracle = next(c for c in section.comparisons if "oracle" in c.peer_name)
    assert all(math.isfinite(v) for c in section.comparisons for v in (c.momix, c.peer))
    # a mixture beats one logit on held-out choices; the oracle knows every choice's class
    assert single.momix > single.peer + 0.01
    assert oracle.peer < 0.1 and oracle.momix < 0.5
