r"""One EM engine for mixture models: a family contract and one loop.

A *family* (:class:`Family`) knows its component densities, weighted sufficient statistics
that add across blocks and chunks, the M-step from those statistics, its free-parameter count
and a map to an unconstrained vector; the engine (:func:`fit_em`) owns everything else: the
log-space E-step over blocks of rows (never an :math:`N \times K` array), frequency
``sample_weight``, in-memory arrays and chunk sources through the same code path,
scikit-learn's convergence bookkeeping, monotone SQUAREM acceleration and the numeric safety
net (no ``LinAlgError`` leaves the engine).

Families: :class:`GaussianFamily` (full, tied, diag, spherical covariances).

Examples
--------
>>> import numpy as np
>>> from momix.em import EMData, GaussianFamily, complete_data_params, fit_em
>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(6, 1, (200, 2))])
>>> data = EMData(X)
>>> family = GaussianFamily("full", floor="clip")
>>> family.prepare(data.summary())
>>> start = complete_data_params(family, X, np.ones(len(X)), (X[:, 0] > 3).astype(int), 2)
>>> result = fit_em(data, family, start, tol=1e-8, accelerate=True)
>>> bool(result.converged), np.round(np.sort(result.params.means[:, 0]))
(True, array([-0.,  6.]))
"""

from ._families.gaussian import COVARIANCE_TYPES, GaussianFamily, GaussianParams
from ._family import Family, Params, PassTotals, Stats, Summary
from ._loop import EMResult, evaluate, fit_em
from ._numeric import DegenerateComponentWarning
from ._pass import EMData, PassRunner, complete_data_params, e_pass

__all__ = [
    "COVARIANCE_TYPES",
    "DegenerateComponentWarning",
    "EMData",
    "EMResult",
    "Family",
    "GaussianFamily",
    "GaussianParams",
    "Params",
    "PassRunner",
    "PassTotals",
    "Stats",
    "Summary",
    "complete_data_params",
    "e_pass",
    "evaluate",
    "fit_em",
]
