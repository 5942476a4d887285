"""Bad and odd input never crashes, hangs or returns NaN: a clear error or a finite fit."""

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from momix import SoftmaxMixture


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 3)),
             elements=st.floats(-1e3, 1e3, allow_nan=False)),
    y=st.lists(st.integers(-1, 12), min_size=1, max_size=30),
    K=st.integers(1, 3),
)
def test_item_set_fit_is_finite_or_raises_value_error(X, y, K):
    model = SoftmaxMixture(K, init="random", max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(X, y)
        except ValueError:
            return
    assert np.all(np.isfinite(model.coefs_)) and np.all(np.isfinite(model.weights_))
    assert np.isfinite(model.log_likelihood_)
    np.testing.assert_allclose(model.weights_.sum(), 1.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    F=arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(1, 4), st.integers(1, 2)),
             elements=st.floats(-50, 50, allow_nan=False)),
    data=st.data(),
    K=st.integers(1, 2),
)
def test_choice_set_fit_is_finite_or_raises_value_error(F, data, K):
    n, J = F.shape[:2]
    y = data.draw(st.lists(st.integers(0, J - 1), min_size=n, max_size=n))
    groups = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    model = SoftmaxMixture(K, init="random", max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(F, y, groups=groups)
        except ValueError:
            return
    assert np.all(np.isfinite(model.coefs_)) and np.isfinite(model.log_likelihood_)
    post = model.predict_proba(F, y, groups=groups)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
