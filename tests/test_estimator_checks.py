"""scikit-learn's API-conformance suite on every public momix estimator.

A method registers nothing here: every class in ``momix.all_estimators()`` is checked, with
its ``_check_params`` (fast hyper-parameters) and its ``_expected_failed_checks`` (check name
-> reason, only where the API genuinely cannot fit a check).
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import momix


def _instances():
    return [cls(**getattr(cls, "_check_params", {})) for cls in momix.all_estimators()]


def _expected_failures(estimator) -> dict:
    return dict(getattr(estimator, "_expected_failed_checks", {}))


@parametrize_with_checks(_instances(), expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", momix.all_estimators(), ids=lambda c: c.__name__)
def test_every_estimator_documents_its_expected_failures(cls):
    for name, reason in getattr(cls, "_expected_failed_checks", {}).items():
        assert name.startswith("check_") and len(reason) > 10, (name, reason)
