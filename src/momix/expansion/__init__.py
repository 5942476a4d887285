"""GMM expansion (seed 004): Gaussians on a fixed grid with one shared bandwidth, learned weights.

``GMMExpansion`` is the estimator; the pure kernels (grid, closed-form updates, weight-only
EM with its optimality certificate, bandwidth search) are re-exported for direct use.
"""

from ._bandwidth import BandwidthSearch, select_bandwidth, silverman_factor
from ._em import em_map, em_weights, precompute
from ._estimator import GMMExpansion
from ._grid import grid_means, local_kernels, make_grid, robust_scale
from ._kernels import (
    WeightFit,
    kde_grid_weights,
    kernel_counts,
    log_density,
    one_step_weights,
    soft_counts,
)

__all__ = [
    "GMMExpansion",
    "BandwidthSearch",
    "WeightFit",
    "em_map",
    "em_weights",
    "grid_means",
    "kde_grid_weights",
    "kernel_counts",
    "local_kernels",
    "log_density",
    "make_grid",
    "one_step_weights",
    "precompute",
    "robust_scale",
    "select_bandwidth",
    "silverman_factor",
    "soft_counts",
]
