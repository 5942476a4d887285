"""``GaussianMixtureEmbedding``: a torch layer mapping inputs to Gaussian-mixture latents.

The layer holds :math:`K` Gaussian components in a latent space :math:`\\mathbb R^d` with
means :math:`\\mu_k` on a fixed tensor grid (the "GMM expansion" of Lu et al.; optionally
trainable) and one shared isotropic standard deviation :math:`\\sigma`. A linear map and a
softmax turn an input feature vector :math:`h(x)` into mixture weights,

.. math::

    \\pi(x) = \\operatorname{softmax}(A h(x) + b), \\qquad
    p(z \\mid x) = \\sum_{k=1}^K \\pi_k(x)\\, \\mathcal N(z;\\ \\mu_k,\\ \\sigma^2 I_d).

Training signals: the negative log-likelihood :math:`-\\log p(z \\mid x)` of observed
latents or targets (:meth:`GaussianMixtureEmbedding.nll`), or reconstruction through a
differentiable sample (:meth:`GaussianMixtureEmbedding.rsample`).

Sampling. The exact draw picks :math:`k \\sim \\pi(x)` and adds :math:`\\sigma\\varepsilon`;
the categorical pick is not reparameterisable. :meth:`rsample` uses the Gumbel-softmax
relaxation (Jang, Gu and Poole 2017; Maddison, Mnih and Teh 2017):

.. math::

    y = \\operatorname{softmax}\\big((\\log\\pi(x) + g)/\\tau\\big),\\quad g_k \\sim
    \\mathrm{Gumbel}(0, 1), \\qquad z = \\sum_k y_k \\mu_k + \\sigma \\varepsilon,

differentiable in :math:`\\pi` (and in the means) through :math:`y` and exact in law only
as :math:`\\tau \\to 0`. With ``hard=True`` the forward value uses the one-hot
:math:`\\arg\\max_k(\\log\\pi_k + g_k)`, which *is* an exact categorical draw (the
Gumbel-max trick), so the sample has exactly the mixture's law, while gradients flow
through the relaxed :math:`y` (the biased straight-through estimator).

Generation. :meth:`aggregate_weights` applies the paper's one-iteration rule to the layer:
the prior weights over the grid are the average of :math:`\\pi(x_n)` over a data set (the
soft histogram of the embeddings), and :meth:`sample_prior` draws latents from that
mixture.

References
----------
Lu, Wu, Ding and Yuan, arXiv:2308.09444 (2023); Bishop, "Mixture density networks" (1994).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["GaussianMixtureEmbedding"]


class GaussianMixtureEmbedding(nn.Module):
    """Map inputs to mixture weights over grid Gaussians in a latent space.

    Parameters
    ----------
    in_features : int
        Size of the input feature vector (the output of an encoder).
    latent_dim : int
        Dimension :math:`d` of the latent space.
    n_grid : int, default=16
        Grid nodes per latent axis; the layer has :math:`K = n_{grid}^d` components.
    grid_range : float, default=3.0
        The grid spans :math:`[-r, r]` on every axis.
    component_std : float or None, default=None
        Shared standard deviation :math:`\\sigma`; ``None`` uses the grid spacing (the
        paper's :math:`\\sigma = \\Delta`).
    learn_means : bool, default=False
        Make the component means trainable parameters (initialised on the grid).
    max_components : int, default=4096
        Largest :math:`K` accepted; the grid grows like ``n_grid ** latent_dim``.

    Attributes
    ----------
    means : torch.Tensor of shape (n_components, latent_dim)
    component_std : float
    logits : torch.nn.Linear
        ``in_features -> n_components``.

    Examples
    --------
    >>> import torch
    >>> from momix.nn import GaussianMixtureEmbedding
    >>> layer = GaussianMixtureEmbedding(in_features=8, latent_dim=2, n_grid=5)
    >>> h = torch.randn(4, 8)
    >>> layer.rsample(layer(h), generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 2])
    """

    def __init__(
        self,
        in_features: int,
        latent_dim: int,
        n_grid: int = 16,
        *,
        grid_range: float = 3.0,
        component_std: float | None = None,
        learn_means: bool = False,
        max_components: int = 4096,
    ) -> None:
        super().__init__()
        if in_features < 1 or latent_dim < 1 or n_grid < 2:
            raise ValueError(
                f"need in_features >= 1, latent_dim >= 1 and n_grid >= 2, got "
                f"{in_features}, {latent_dim}, {n_grid}"
            )
        if grid_range <= 0 or (component_std is not None and component_std <= 0):
            raise ValueError("grid_range and component_std must be positive")
        n_components = n_grid**latent_dim
        if n_components > max_components:
            raise ValueError(
                f"n_grid**latent_dim = {n_grid}**{latent_dim} = {n_components} components "
                f"exceeds max_components={max_components}; use a smaller n_grid or latent_dim"
            )
        axis = torch.linspace(-grid_range, grid_range, n_grid, dtype=torch.get_default_dtype())
        mesh = torch.meshgrid(*([axis] * latent_dim), indexing="ij")
        means = torch.stack([m.reshape(-1) for m in mesh], dim=1)
        if learn_means:
            self.means = nn.Parameter(means)
        else:
            self.register_buffer("means", means)
        spacing = 2 * grid_range / (n_grid - 1)
        self.component_std = float(spacing if component_std is None else component_std)
        self.latent_dim = latent_dim
        self.logits = nn.Linear(in_features, n_components)

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Log mixture weights :math:`\\log\\pi(x)`, shape (batch, n_components)."""
        return torch.log_softmax(self.logits(h), dim=-1)

    def component_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log-densities :math:`\\log\\mathcal N(z; \\mu_k, \\sigma^2 I)`, shape (batch, K)."""
        sq = ((z[:, None, :] - self.means[None]) ** 2).sum(-1)
        var = self.component_std**2
        return -0.5 * sq / var - 0.5 * self.latent_dim * math.log(2 * math.pi * var)

    def log_prob(self, z: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
        """:math:`\\log p(z \\mid x)` by a log-sum-exp over components, shape (batch,)."""
        return torch.logsumexp(log_weights + self.component_log_prob(z), dim=-1)

    def nll(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of targets ``z`` given inputs ``h`` (a scalar loss)."""
        return -self.log_prob(z, self(h)).mean()

    def mean(self, log_weights: torch.Tensor) -> torch.Tensor:
        """Mixture mean :math:`\\sum_k \\pi_k \\mu_k`, shape (batch, latent_dim)."""
        return log_weights.exp() @ self.means

    def rsample(
        self,
        log_weights: torch.Tensor,
        temperature: float = 0.5,
        *,
        hard: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Differentiable Gumbel-softmax sample, shape (batch, latent_dim); see module notes."""
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        u = torch.rand(
            log_weights.shape,
            generator=generator,
            dtype=log_weights.dtype,
            device=log_weights.device,
        )
        gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
        y = torch.softmax((log_weights + gumbel) / temperature, dim=-1)
        if hard:
            one_hot = torch.nn.functional.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)
            y = one_hot - y.detach() + y
        return y @ self.means + self.component_std * self._noise(y.shape[0], y, generator)

    @torch.no_grad()
    def sample(
        self, log_weights: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Exact (non-differentiable) draw from :math:`p(z \\mid x)`, shape (batch, latent_dim)."""
        k = torch.multinomial(log_weights.exp(), 1, generator=generator)[:, 0]
        return self.means[k] + self.component_std * self._noise(len(k), log_weights, generator)

    @torch.no_grad()
    def aggregate_weights(self, log_weights: torch.Tensor) -> torch.Tensor:
        """One-iteration prior :math:`\\bar\\pi = n^{-1}\\sum_n \\pi(x_n)`, shape (K,)."""
        return log_weights.exp().mean(dim=0)

    @torch.no_grad()
    def sample_prior(
        self, n_samples: int, weights: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw ``n_samples`` latents from the grid mixture with the given weights."""
        log_w = torch.log(weights.clamp_min(0))[None].expand(n_samples, -1)
        return self.sample(log_w, generator=generator)

    def _noise(self, n: int, like: torch.Tensor, generator) -> torch.Tensor:
        return torch.randn(
            (n, self.latent_dim), generator=generator, dtype=like.dtype, device=like.device
        )

    def extra_repr(self) -> str:
        return (
            f"latent_dim={self.latent_dim}, n_components={self.n_components}, "
            f"component_std={self.component_std:.4g}"
        )
