"""GaussianMixtureEmbedding: gradients, loss, sampling law, lazy import."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

torch = pytest.importorskip("torch")

from momix.nn import GaussianMixtureEmbedding  # noqa: E402

torch.set_num_threads(1)  # tiny tensors: threads only add contention on a shared machine


def _layer(latent_dim=2, n_grid=4, **kw):
    torch.manual_seed(0)
    return GaussianMixtureEmbedding(3, latent_dim, n_grid, **kw).double()


def test_loss_matches_a_direct_computation():
    layer = _layer(learn_means=True)
    h = torch.randn(6, 3, dtype=torch.float64)
    z = torch.randn(6, 2, dtype=torch.float64)
    logits = (h @ layer.logits.weight.T + layer.logits.bias).detach().numpy()
    log_w = logits - logsumexp(logits, axis=1, keepdims=True)
    mu = layer.means.detach().numpy()
    cov = layer.component_std**2 * np.eye(2)
    comp = np.column_stack([stats.multivariate_normal(m, cov).logpdf(z.numpy()) for m in mu])
    expected = -np.mean(logsumexp(log_w + comp, axis=1))
    np.testing.assert_allclose(layer.nll(h, z).item(), expected, rtol=1e-12)


def test_log_prob_gradients_pass_gradcheck():
    layer = _layer(learn_means=True)
    h = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    z = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h, z: layer.log_prob(z, layer(h)), (h, z))
    assert torch.autograd.gradcheck(lambda m: _with_means(layer, m).nll(h, z), (layer.means,))


def _with_means(layer, means):
    layer.means = torch.nn.Parameter(means) if not isinstance(means, torch.nn.Parameter) else means
    return layer


def test_rsample_gradients_pass_gradcheck():
    layer = _layer()
    h = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)

    def draw(h):
        gen = torch.Generator().manual_seed(7)
        return layer.rsample(layer(h), temperature=0.7, generator=gen)

    assert torch.autograd.gradcheck(draw, (h,))
    out = draw(h)
    out.sum().backward()
    assert torch.all(torch.isfinite(h.grad)) and h.grad.abs().sum() > 0


def test_hard_rsample_is_differentiable_and_lands_on_components():
    layer = _layer(component_std=1e-9)
    h = torch.randn(50, 3, dtype=torch.float64, requires_grad=True)
    z = layer.rsample(layer(h), hard=True, generator=torch.Generator().manual_seed(1))
    dist = torch.cdist(z.detach(), layer.means).min(dim=1).values
    assert torch.all(dist < 1e-6)
    z.sum().backward()
    assert h.grad.abs().sum() > 0


def test_sample_shapes():
    layer = _layer(latent_dim=3, n_grid=3)
    log_w = layer(torch.randn(7, 3, dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)
    assert layer.sample(log_w, generator=gen).shape == (7, 3)
    assert layer.rsample(log_w, generator=gen).shape == (7, 3)
    assert layer.sample_prior(11, layer.aggregate_weights(log_w), generator=gen).shape == (11, 3)
    assert layer.mean(log_w).shape == (7, 3)


def _mixture_cdf(layer, weights):
    mu = layer.means[:, 0].numpy()
    return lambda x: stats.norm.cdf((np.asarray(x)[:, None] - mu) / layer.component_std) @ weights


@pytest.mark.parametrize("method", ["sample", "hard_rsample"])
def test_exact_samplers_follow_the_mixture_law(method):
    layer = _layer(latent_dim=1, n_grid=6)
    weights = np.array([0.05, 0.3, 0.1, 0.05, 0.4, 0.1])
    log_w = torch.log(torch.tensor(weights))[None].expand(20_000, -1)
    gen = torch.Generator().manual_seed(3)
    if method == "sample":
        z = layer.sample(log_w, generator=gen)
    else:
        z = layer.rsample(log_w, temperature=1.0, hard=True, generator=gen).detach()
    assert stats.kstest(z[:, 0].numpy(), _mixture_cdf(layer, weights)).pvalue > 1e-3


def test_soft_rsample_approaches_the_law_as_temperature_falls():
    layer = _layer(latent_dim=1, n_grid=6)
    weights = np.array([0.05, 0.3, 0.1, 0.05, 0.4, 0.1])
    log_w = torch.log(torch.tensor(weights))[None].expand(20_000, -1)
    cdf = _mixture_cdf(layer, weights)
    ks = []
    for tau in [5.0, 0.5, 0.02]:
        z = layer.rsample(log_w, temperature=tau, generator=torch.Generator().manual_seed(4))
        ks.append(stats.kstest(z[:, 0].detach().numpy(), cdf).statistic)
    assert ks[0] > ks[1] > ks[2] and ks[2] < 0.02


def test_aggregate_weights_is_the_mean_embedding():
    layer = _layer()
    log_w = layer(torch.randn(9, 3, dtype=torch.float64))
    np.testing.assert_allclose(
        layer.aggregate_weights(log_w).numpy(), log_w.exp().mean(0).detach().numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(layer.aggregate_weights(log_w).sum().item(), 1.0, rtol=1e-12)


def test_mixture_head_keeps_both_branches_of_an_inverse_problem():
    """Spec B test 9: y = +-sqrt(x); a mixture head keeps both branches, a mean head averages."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1000, 1, generator=gen) * 0.9 + 0.1
    sign = torch.where(torch.rand(1000, 1, generator=gen) < 0.5, -1.0, 1.0)
    y = sign * x.sqrt() + 0.03 * torch.randn(1000, 1, generator=gen)
    head = GaussianMixtureEmbedding(16, 1, 31, grid_range=1.5)
    net = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh())
    mean_net = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam([*net.parameters(), *head.parameters(), *mean_net.parameters()], 0.03)
    for _ in range(300):
        opt.zero_grad()
        loss = head.nll(net(x), y) + ((mean_net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        w = head(net(torch.tensor([[0.5]]))).exp()[0]
        mu = head.means[:, 0]
        upper = w[(mu - 0.5**0.5).abs() < 0.25].sum().item()
        lower = w[(mu + 0.5**0.5).abs() < 0.25].sum().item()
        assert upper > 0.3 and lower > 0.3
        assert abs(mean_net(torch.tensor([[0.5]])).item()) < 0.2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_grid": 1},
        {"latent_dim": 0},
        {"grid_range": -1.0},
        {"component_std": 0.0},
        {"n_grid": 100, "latent_dim": 3},
    ],
)
def test_bad_configuration_raises(kwargs):
    args = {"in_features": 3, "latent_dim": 2, "n_grid": 4} | kwargs
    with pytest.raises(ValueError):
        GaussianMixtureEmbedding(**args)


def test_bad_temperature_raises():
    layer = _layer()
    with pytest.raises(ValueError, match="temperature"):
        layer.rsample(layer(torch.randn(2, 3, dtype=torch.float64)), temperature=0.0)


def test_import_without_torch_names_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import momix.nn\n"
        "try:\n"
        "    momix.nn.GaussianMixtureEmbedding\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "momix[torch]"' in out.stdout
