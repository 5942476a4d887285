"""scikit-learn's estimator checks on GMMExpansion with its fast check parameters."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from momix import GMMExpansion


@parametrize_with_checks(
    [GMMExpansion(**GMMExpansion._check_params)],
    expected_failed_checks=lambda est: est._expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
