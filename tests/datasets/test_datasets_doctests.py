"""The Examples sections of momix.datasets run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["_lowrank", "_gaussian", "_polymom", "_softmax", "_real", "_loaders"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"momix.datasets.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
