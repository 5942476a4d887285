"""ScoreMatchingMixture meets the bad-input contract (:mod:`momix.testing`) on generated inputs.

Every generated case -- data at magnitudes 1e-300..1e100, offsets up to 1e8, constant,
duplicated or integer-valued columns, one or a few (distinct) rows, more components than
distinct rows, sample weights at extreme uniform scales, with zeros or a single positive one,
and hyper-parameters at their extremes -- must end in (a) a deliberate momix error or (b) a
valid fit: finite fitted attributes, weights on the simplex, positive definite covariances,
``predict_proba`` rows on the simplex, finite ``score``/``score_samples``, and here also
exactly ``n_components`` components, component labels from ``predict`` and ``fit_predict``,
finite ``bic``/``aic`` and finite draws from ``sample``. The default run draws a fast
subset; ``-m slow`` draws 300 cases.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contract_cases import datasets
from momix import ScoreMatchingMixture
from momix.testing import ContractViolation, check_error, check_outcome

params = st.fixed_dictionaries(
    {
        "n_components": st.integers(1, 4),
        "degree": st.integers(0, 4),
        "n_noise_levels": st.integers(2, 4),
        "partition": st.sampled_from(["auto", "none", 1, 5]),
        "n_steps": st.sampled_from([1, 4, 10]),
        "noise_reps": st.sampled_from([2, 4]),
        "alpha": st.sampled_from([0.0, 1e-6, 10.0]),
        "t_min": st.sampled_from([1e-9, 1e-3, 0.5]),
        "n_readoff_samples": st.sampled_from([2, 60, 300, 300, 300]),
        "standardize": st.booleans(),
    }
)


def _contract(X, w, kwargs) -> None:
    fit_kwargs = {} if w is None else {"sample_weight": w}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ScoreMatchingMixture(random_state=0, **kwargs)
        refused = check_outcome(lambda: model, X, **fit_kwargs)
        if refused is not None:
            return
        assert model.weights_.shape == (kwargs["n_components"],)
        labels = model.predict(X)
        assert labels.shape == (len(X),) and labels.dtype.kind == "i"
        assert np.all((labels >= 0) & (labels < kwargs["n_components"]))
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


#: found by the slow run: raw (standardize=False) data at 1e-301, whose covariance
#: underflowed in the crude estimates' principal directions (a LinAlgError from eigh)
_TINY_RAW = (
    (np.array([[1.25730221e-301, -1.32104863e-301, 6.40422650e-301],
               [1.04900117e-301, -5.35669373e-301, 3.61595055e-301]]), None),
    {"n_components": 1, "degree": 0, "n_noise_levels": 2, "partition": "auto", "n_steps": 1,
     "noise_reps": 2, "alpha": 0.0, "t_min": 1e-9, "n_readoff_samples": 60,
     "standardize": False},
)


@settings(max_examples=25, **_SETTINGS)
@given(data=datasets(), kwargs=params)
@example(data=_TINY_RAW[0], kwargs=_TINY_RAW[1])
def test_generated_inputs_meet_the_contract(data, kwargs):
    _contract(*data, kwargs)


@pytest.mark.slow
@settings(max_examples=300, **_SETTINGS)
@given(data=datasets(), kwargs=params)
def test_generated_inputs_meet_the_contract_many(data, kwargs):
    _contract(*data, kwargs)
