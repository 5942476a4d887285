"""The Examples sections of momix.metrics run and print what they say."""

from __future__ import annotations

import doctest

import momix.metrics


def test_docstring_examples():
    result = doctest.testmod(momix.metrics)
    assert result.attempted >= 3 and result.failed == 0
