"""Persistence through skops: round trips, and untrusted files refused."""

import os

import numpy as np
import pytest
import skops.io as sio
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import momix
from momix.io import UntrustedFileError


def test_round_trip_reproduces_predictions(tmp_path):
    X = np.random.default_rng(0).normal(size=(100, 2))
    est = GaussianMixture(2, random_state=0).fit(X)
    path = momix.save(est, tmp_path / "gm.skops")
    loaded = momix.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


def test_crafted_file_with_foreign_type_is_refused(tmp_path):
    evil = make_pipeline(FunctionTransformer(os.system))
    path = tmp_path / "evil.skops"
    sio.dump(evil, path)
    with pytest.raises(UntrustedFileError, match="system"):
        momix.load(path)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "junk.skops"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(UntrustedFileError, match="not a readable"):
        momix.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        momix.load(tmp_path / "none.skops")
