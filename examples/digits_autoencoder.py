"""Generate 8x8 digits from a Gaussian-mixture latent and from a plain Gaussian latent.

Two autoencoders with the same encoder and decoder are trained on scikit-learn's bundled
digits (1797 images, 8x8, no download):

* **mixture latent** -- the encoder's features go through
  :class:`momix.nn.GaussianMixtureEmbedding` (a 12 x 12 grid of Gaussians in a 2-D latent
  space, sigma = grid spacing); the decoder sees a Gumbel-softmax sample (temperature 0.5)
  during training. To generate, the prior weights are the paper's one-iteration rule
  applied to the embeddings (the average of pi(x) over the training images) and latents
  are drawn exactly from that mixture.
* **Gaussian latent** -- a variational autoencoder with a 2-D latent: the encoder outputs a
  mean and a log-variance, the loss adds KL(q || N(0, I)), and generation draws z ~ N(0, I).

A fixed classifier (logistic regression on the real training digits) then scores 2000
generated images of each model: its mean top-class probability (confidence), and how the
predicted classes spread over the 10 digits (entropy in bits, 3.32 = uniform), so that a
model cannot look good by producing one confident digit. Trains on CPU in well under two
minutes per seed.

Each seed draws its own train/test split, classifier, initialisation and noise; the
script prints every seed and the mean +- sd over seeds, with the training wall and CPU
time of each model (one torch thread).

Run: ``.venv/bin/python examples/digits_autoencoder.py [--epochs 30] [--seeds 0 1 2]
[--out digits.png] [--json scores.json]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from torch import nn

from momix.nn import GaussianMixtureEmbedding

LATENT = 2


def encoder() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())


def decoder() -> nn.Module:
    return nn.Sequential(
        nn.Linear(LATENT, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64)
    )


class MixtureAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.dec = encoder(), decoder()
        self.embed = GaussianMixtureEmbedding(64, LATENT, n_grid=12, grid_range=3.0)

    def loss(self, x, gen):
        log_w = self.embed(self.enc(x))
        # soft relaxation: hard=True (straight-through) collapsed every image onto one
        # component in our runs (1 predicted class among the generated digits)
        z = self.embed.rsample(log_w, temperature=0.5, generator=gen)
        return bce(self.dec(z), x)

    @torch.no_grad()
    def generate(self, x_train, n, gen):
        prior = self.embed.aggregate_weights(self.embed(self.enc(x_train)))
        return torch.sigmoid(self.dec(self.embed.sample_prior(n, prior, generator=gen)))

    @torch.no_grad()
    def reconstruct(self, x):
        return torch.sigmoid(self.dec(self.embed.mean(self.embed(self.enc(x)))))


class GaussianVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.dec = encoder(), decoder()
        self.head = nn.Linear(64, 2 * LATENT)

    def loss(self, x, gen):
        mu, logvar = self.head(self.enc(x)).chunk(2, dim=-1)
        eps = torch.randn(mu.shape, generator=gen)
        z = mu + (0.5 * logvar).exp() * eps
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1).mean()
        return bce(self.dec(z), x) + kl

    @torch.no_grad()
    def generate(self, x_train, n, gen):
        return torch.sigmoid(self.dec(torch.randn((n, LATENT), generator=gen)))

    @torch.no_grad()
    def reconstruct(self, x):
        return torch.sigmoid(self.dec(self.head(self.enc(x)).chunk(2, dim=-1)[0]))


def bce(logits, x):
    """Bernoulli negative log-likelihood per image (pixels in [0, 1])."""
    return nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)


def train(model, x, epochs, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            model.loss(x[idx], gen).backward()
            opt.step()
    return model


def evaluate(model, clf, x_train, x_test, y_test, seed):
    gen = torch.Generator().manual_seed(seed + 1)
    fake = model.generate(x_train, 2000, gen).numpy()
    proba = clf.predict_proba(fake * 16)
    counts = np.bincount(proba.argmax(1), minlength=10) / len(proba)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(counts * np.log2(counts))
    recon = model.reconstruct(x_test).numpy()
    return {
        "confidence": float(proba.max(1).mean()),
        "class_entropy_bits": float(entropy),
        "classes_over_5pct": int((counts > 0.05).sum()),
        "test_recon_accuracy": float((clf.predict(recon * 16) == y_test).mean()),
        "test_recon_bce": float(
            bce(torch.logit(torch.as_tensor(recon).clamp(1e-6, 1 - 1e-6)), x_test).item()
        ),
    }, fake


def run_seed(seed, epochs, digits):
    """Train both models on one train/test split and score their generated digits."""
    X_tr, X_te, y_tr, y_te = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=seed, stratify=digits.target
    )
    clf = LogisticRegression(max_iter=2000).fit(X_tr, y_tr)
    real = {
        "accuracy": float(clf.score(X_te, y_te)),
        "confidence": float(clf.predict_proba(X_te).max(1).mean()),
    }
    x_tr = torch.tensor(X_tr / 16, dtype=torch.float32)
    x_te = torch.tensor(X_te / 16, dtype=torch.float32)
    rows, samples = {}, {}
    for name, build in [("mixture latent", MixtureAE), ("Gaussian latent (VAE)", GaussianVAE)]:
        torch.manual_seed(seed)  # the initial weights too: runs are reproducible
        model = build()
        wall, cpu = time.perf_counter(), time.process_time()
        train(model, x_tr, epochs, seed)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        scores, samples[name] = evaluate(model, clf, x_tr, x_te, y_te, seed)
        rows[name] = {"train_wall_s": wall, "train_cpu_s": cpu, **scores}
    return real, rows, samples


def main():
    parser = argparse.ArgumentParser(description="mixture vs Gaussian latent on 8x8 digits")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=None, help="save a PNG grid of generated digits")
    parser.add_argument("--json", default=None, help="save the per-seed scores as JSON")
    args = parser.parse_args()
    # the networks are tiny: one thread is faster than two and immune to a busy machine
    torch.set_num_threads(1)
    digits = load_digits()
    results = []
    for seed in args.seeds:
        real, rows, samples = run_seed(seed, args.epochs, digits)
        results.append({"seed": seed, "real": real, "models": rows})
        print(
            f"seed {seed}: fixed classifier test accuracy {real['accuracy']:.3f}, "
            f"confidence on real test digits {real['confidence']:.3f}"
        )
        for name, r in rows.items():
            print(
                f"  {name:>22}: "
                + ", ".join(
                    f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()
                )
            )
        if args.out and seed == args.seeds[0]:
            save_grid(samples, args.out)
    print(summary(results))
    if args.json:
        import json

        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


def summary(results) -> str:
    """Mean +- standard deviation over seeds of every score, as a markdown table."""
    names = list(results[0]["models"])
    keys = list(results[0]["models"][names[0]])
    lines = [
        f"over {len(results)} seeds (mean +- sd)",
        "| model | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for name in names:
        cells = []
        for k in keys:
            v = np.array([r["models"][name][k] for r in results], dtype=float)
            cells.append(f"{v.mean():.3f} +- {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_grid(samples, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(samples), 1, figsize=(8, 2.3 * len(samples)))
    for ax, (name, fake) in zip(np.atleast_1d(axes), samples.items(), strict=True):
        tiles = fake[:48].reshape(3, 16, 8, 8).transpose(0, 2, 1, 3).reshape(24, 128)
        ax.imshow(tiles, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"generated: {name}")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
