"""Shared synthetic data for the softmax-mixture tests."""

import numpy as np
import pytest
from softmax_testdata import make_item_data, make_panel_data

from momix.softmax._model import ChoiceSetData, ItemSetData


@pytest.fixture
def item_problem():
    X, y, w, t = make_item_data(3000, 2, 2, 20000, seed=0)
    return X, y, w, t, ItemSetData(X, np.bincount(y, minlength=len(X)).astype(float))


@pytest.fixture
def panel_problem():
    F, y, g, w, t = make_panel_data(60, 8, 4, 3, 2, seed=1)
    codes = np.unique(g, return_inverse=True)[1]
    return F, y, g, w, t, ChoiceSetData(F, y, codes, int(codes.max()) + 1)
