"""SoftmaxMixture on a fixed item set from chunks of choices: counts accumulate in one pass."""

from __future__ import annotations

import numpy as np
import pytest

from momix import SoftmaxMixture
from momix.datasets import make_softmax_mixture
from momix.exceptions import DataError
from momix.softmax._data import accumulate_counts

da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def data():
    return make_softmax_mixture(3000, 12, 2, 2, random_state=0)


def test_counts_from_every_chunk_source(data):
    y, p = data.choices, data.features.shape[0]
    ref = np.bincount(y, minlength=p).astype(float)
    sources = [
        [y[:1000], y[1000:]],
        lambda: iter([y[:500], y[500:]]),
        (c for c in np.array_split(y, 7)),
        da.from_array(y, chunks=400),
    ]
    for src in sources:
        np.testing.assert_array_equal(accumulate_counts(src, p), ref)


def test_fit_from_chunks_equals_fit_from_choices(data):
    X, y = data.features, data.choices
    kw = dict(n_components=2, init="random", random_state=0)
    ref = SoftmaxMixture(**kw).fit(X, y)
    for src in ([y[:1000], y[1000:]], da.from_array(y, chunks=700)):
        model = SoftmaxMixture(**kw).fit(X, src)
        np.testing.assert_allclose(model.weights_, ref.weights_, atol=1e-10)
        np.testing.assert_allclose(model.coefs_, ref.coefs_, atol=1e-10)


def test_bad_chunk_is_reported(data):
    p = data.features.shape[0]
    with pytest.raises(DataError, match="outside"):
        accumulate_counts([np.array([0, 1]), np.array([p])], p)
    with pytest.raises(DataError, match="empty"):
        accumulate_counts(iter([]), p)


def test_weighted_choices_in_chunks_go_through_weighted_counts(data):
    X, y = data.features, data.choices
    w = np.random.default_rng(4).integers(0, 3, len(y)).astype(float)
    kw = dict(n_components=2, init="random", random_state=0)
    with pytest.raises(DataError, match="chunks"):
        SoftmaxMixture(**kw).fit(X, [y[:1000], y[1000:]], sample_weight=w)
    # the weighted counts, accumulated chunk by chunk, give the weighted fit
    counts = sum(np.bincount(c, weights=wc, minlength=len(X))
                 for c, wc in zip(np.array_split(y, 3), np.array_split(w, 3), strict=True))
    ref = SoftmaxMixture(**kw).fit(X, y, sample_weight=w)
    model = SoftmaxMixture(**kw).fit(X, counts=counts)
    np.testing.assert_allclose(model.coefs_, ref.coefs_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.weights_, ref.weights_, rtol=1e-8)
