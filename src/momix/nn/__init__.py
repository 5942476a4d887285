"""Neural-network layers built on Gaussian mixtures (torch is imported lazily).

``import momix.nn`` never needs torch; the first access to a layer imports it and raises
an ``ImportError`` naming the extra (``pip install "momix[torch]"``) when it is missing.

=====================================  ==================================================
``GaussianMixtureEmbedding``           input -> mixture weights over Gaussians in a latent
                                       space; NLL loss, exact and Gumbel-softmax sampling
=====================================  ==================================================
"""

from __future__ import annotations

import importlib

__all__ = ["GaussianMixtureEmbedding"]

_TORCH_HINT = 'momix.nn needs PyTorch; install it with: pip install "momix[torch]"'


def __getattr__(name: str):
    if name == "GaussianMixtureEmbedding":
        try:
            importlib.import_module("torch")
        except ImportError as exc:
            raise ImportError(_TORCH_HINT) from exc
        return importlib.import_module("momix.nn._embedding").GaussianMixtureEmbedding
    raise AttributeError(f"module 'momix.nn' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
