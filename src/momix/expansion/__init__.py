"""GMM expansion: Gaussians on fixed grids with shared bandwidths, learned weights.

The density estimator of Lu, Wu, Ding and Yuan, "An efficient 1 iteration learning algorithm
for Gaussian mixture model and Gaussian mixture embedding for neural network"
(arXiv:2308.09444).

``GMMExpansion`` is the estimator; the pure kernels (grids and multi-level dictionaries,
closed-form updates, weight-only EM with its optimality certificate, linear binning,
bandwidth search, the early-stopped EM path) are re-exported for direct use.
"""

from ._bandwidth import BandwidthSearch, select_bandwidth, silverman_factor
from ._binning import Bins, linear_bin, merge_bins
from ._em import em_map, em_weights, precompute, precompute_levels
from ._estimator import GMMExpansion
from ._grid import grid_means, local_kernels, make_grid, robust_scale
from ._kernels import (
    WeightFit,
    kde_grid_weights,
    kernel_counts,
    level_kernel_counts,
    level_soft_counts,
    log_density,
    mixture_log_density,
    one_step_weights,
    soft_counts,
)
from ._levels import Level, add_tail, auto_levels, make_levels, tail_level, tail_mass
from ._steps import StepPath, batch_adjoint, batch_density, held_out_step_path
from ._whiten import Whitening, zca_whitening

__all__ = [
    "GMMExpansion",
    "BandwidthSearch",
    "Bins",
    "Level",
    "StepPath",
    "Whitening",
    "WeightFit",
    "add_tail",
    "auto_levels",
    "batch_adjoint",
    "batch_density",
    "em_map",
    "em_weights",
    "grid_means",
    "held_out_step_path",
    "kde_grid_weights",
    "kernel_counts",
    "level_kernel_counts",
    "level_soft_counts",
    "linear_bin",
    "local_kernels",
    "log_density",
    "make_grid",
    "make_levels",
    "merge_bins",
    "mixture_log_density",
    "one_step_weights",
    "precompute",
    "precompute_levels",
    "robust_scale",
    "select_bandwidth",
    "silverman_factor",
    "soft_counts",
    "tail_level",
    "tail_mass",
    "zca_whitening",
]
