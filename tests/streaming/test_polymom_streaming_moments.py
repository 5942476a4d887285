"""Polymom's empirical moment system accumulated in one pass over chunks."""

from __future__ import annotations

import numpy as np
import pytest

from momix.moments import iter_chunks
from momix.polymom import default_model, empirical_system
from momix.polymom._moments import streaming_system

da = pytest.importorskip("dask.array")


@pytest.mark.parametrize("d", [1, 3])
def test_streaming_system_equals_in_memory(d):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(3001, d)) * 2 + 1
    w = rng.uniform(0, 2, size=3001)
    model = default_model(d, 2)
    ref = empirical_system(model, Z, w)
    for source in (Z, da.from_array(Z, chunks=(500, d))):
        got = streaming_system(model, iter_chunks(source, 700, w))
        np.testing.assert_allclose(got.b, ref.b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got.std, ref.std, rtol=1e-9)
        assert got.terms == ref.terms


def test_streaming_system_refuses_zero_weight():
    model = default_model(2, 2)
    with pytest.raises(ValueError, match="positive weight"):
        streaming_system(model, [(np.ones((3, 2)), np.zeros(3))])
