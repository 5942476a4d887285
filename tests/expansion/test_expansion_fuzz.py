"""GMMExpansion meets the bad-input contract (:mod:`momix.testing`) on generated inputs.

Every generated case -- data at magnitudes 1e-300..1e100, offsets up to 1e8, constant,
duplicated or integer-valued columns, one or a few (distinct) rows, sample weights at extreme
uniform scales, with zeros or a single positive one, and hyper-parameters at their extremes --
must end in (a) a deliberate momix error or (b) a valid fit: finite fitted attributes, weights
on the simplex, finite ``score``/``score_samples``, and here also component labels from
``predict`` and ``fit_predict``, finite ``bic``/``aic`` and finite draws from ``sample``.
The default run draws a fast subset; ``-m slow`` draws 300 cases.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract_cases import datasets
from momix import GMMExpansion
from momix.testing import ContractViolation, check_error, check_outcome

params = st.fixed_dictionaries(
    {
        "update": st.sampled_from(["one_step", "kde_grid", "em"]),
        "max_iter": st.sampled_from([None, 1, 3, "auto"]),
        "tol": st.sampled_from([0.0, 1e-3]),
        "n_levels": st.sampled_from([1, 2, "auto"]),
        "tail_weight": st.sampled_from(["auto", 0.0, 0.5]),
        "whiten": st.sampled_from([False, True, "auto"]),
        "bandwidth": st.sampled_from(["auto", "auto", "auto", 0.05, 3.0, 1e-200, 1e200]),
        "n_grid": st.sampled_from(["auto", "auto", 1, 4]),
        "binning": st.sampled_from(["auto", True]),
        "n_folds": st.sampled_from([2, 5]),
        "max_grid_size": st.sampled_from([200_000, 50]),
    }
)


def _contract(X, w, kwargs) -> None:
    if kwargs["max_iter"] == "auto" and kwargs["update"] != "one_step":
        kwargs = {**kwargs, "max_iter": None}
    if kwargs["update"] == "em" and kwargs["max_iter"] is not None:
        kwargs = {**kwargs, "max_iter": max(kwargs["max_iter"], 1)}
    fit_kwargs = {} if w is None else {"sample_weight": w}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GMMExpansion(random_state=0, **kwargs)
        refused = check_outcome(lambda: model, X, **fit_kwargs)
        if refused is not None:
            return
        np.testing.assert_allclose(model.weights_.sum(), 1.0, atol=1e-8)
        labels = model.predict(X)
        assert labels.shape == (len(X),) and labels.dtype.kind == "i"
        assert np.all((labels >= 0) & (labels < model.weights_.size))
        np.testing.assert_array_equal(labels, model.fit_predict(X, **fit_kwargs))
        for criterion in (model.bic(X), model.aic(X)):
            if not np.isfinite(criterion):
                raise ContractViolation(f"non-finite information criterion {criterion}")
        try:
            draws, drawn = model.sample(5)
        except Exception as exc:  # a deliberate refusal is allowed, nothing else
            check_error(exc)
        else:
            assert np.all(np.isfinite(draws)) and drawn.shape == (5,)


_SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck),
             "derandomize": True}


@settings(max_examples=25, **_SETTINGS)
@given(data=datasets(), kwargs=params)
def test_generated_inputs_meet_the_contract(data, kwargs):
    _contract(*data, kwargs)


@pytest.mark.slow
@settings(max_examples=300, **_SETTINGS)
@given(data=datasets(), kwargs=params)
def test_generated_inputs_meet_the_contract_many(data, kwargs):
    _contract(*data, kwargs)
