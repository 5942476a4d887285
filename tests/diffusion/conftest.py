"""Fixtures of the diffusion tests."""

import pytest
from diffusion_helpers import overlapping_mixture


@pytest.fixture
def mixture3():
    return overlapping_mixture(3, 2, seed=3)
