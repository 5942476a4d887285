"""Component families of the EM engine."""

from .gaussian import COVARIANCE_TYPES, GaussianFamily, GaussianParams

__all__ = ["GaussianFamily", "GaussianParams", "COVARIANCE_TYPES"]
