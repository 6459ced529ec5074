"""Generative adversarial networks on a 2-D toy: 8 Gaussians on a ring, mode collapse and a remedy.

Data: 8 modes at radius 2, standard deviation 0.05 each, equally likely.
Generator G: noise z ~ N(0, I_256) -> R^2. Discriminator D: R^2 -> a logit "real".
    D's loss:  -E_x[log sigmoid D(x)] - E_z[log(1 - sigmoid D(G(z)))]
    G's loss (non-saturating): -E_z[log sigmoid D(G(z))]
(the minimax form +E_z[log(1 - sigmoid D(G(z)))] has vanishing gradients when D wins early.)
Remedy (PacGAN, Lin et al. 2018): D judges ``pack`` samples at once, concatenated, so a
generator that puts every sample on one mode is easy to tell from real packs.
A mode is covered when >= 1% of 10,000 samples fall within 3 standard deviations of it.
Training entry: ``python -m helpers.adversarial train`` writes data/checkpoints/toy_gan_*.pt.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .train import CHECKPOINT_DIR, History, load_checkpoint, progress_enabled, save_checkpoint

MODES, RADIUS, STD = 8, 2.0, 0.05


def ring_centres(modes: int = MODES, radius: float = RADIUS) -> Tensor:
    """(modes, 2) centres evenly spaced on a circle."""
    a = torch.arange(modes) * 2 * math.pi / modes
    return radius * torch.stack([a.cos(), a.sin()], 1)


def sample_ring(n: int, generator: torch.Generator | None = None, std: float = STD) -> Tensor:
    """n points (n, 2): a uniformly chosen centre plus N(0, std^2 I) noise."""
    c = ring_centres()
    return c[torch.randint(0, len(c), (n,), generator=generator)] + std * torch.randn(n, 2, generator=generator)


def count_modes(x: Tensor, min_frac: float = 0.01, std: float = STD) -> tuple[int, float]:
    """(modes covered, fraction of samples within 3 std of some mode)."""
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"want samples of shape (N, 2), got {tuple(x.shape)}")
    d = torch.cdist(x.float(), ring_centres())
    near, which = d.min(1)
    hits = torch.bincount(which[near < 3 * std], minlength=MODES).float() / len(x)
    return int((hits >= min_frac).sum()), float((near < 3 * std).float().mean())


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-E[log sigmoid D(x)] - E[log(1 - sigmoid D(G(z)))], with log sigmoid(d) = -softplus(-d)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: Tensor) -> Tensor:
    """The non-saturating generator loss -E[log sigmoid D(G(z))]."""
    return F.softplus(-fake_logits).mean()


def adversarial_step(model, opt_d: torch.optim.Optimizer, opt_g: torch.optim.Optimizer, real: Tensor,
                     fake: Tensor) -> tuple[Tensor, Tensor]:
    """One discriminator step on (real, fake) with the generator held fixed, then one generator
    step on the same fakes. ``model`` has d_loss(real, fake) and g_loss(fake). Returns (G, D) losses."""
    d = model.d_loss(real, fake.detach())
    opt_d.zero_grad()
    d.backward()
    opt_d.step()
    g = model.g_loss(fake)
    opt_g.zero_grad()
    g.backward()
    opt_g.step()
    return g.detach(), d.detach()


@dataclass(frozen=True)
class ToyGANConfig:
    """pack = 1: the plain GAN; pack >= 2: PacGAN's discriminator sees pack samples at once."""

    pack: int = 1
    noise: int = 256
    hidden: int = 128
    steps: int = 4000
    batch: int = 256
    lr_g: float = 1e-3
    lr_d: float = 1e-4
    seed: int = 0


def _mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


class ToyGAN(nn.Module):
    def __init__(self, cfg: ToyGANConfig):
        super().__init__()
        if cfg.pack < 1 or cfg.batch % cfg.pack:
            raise ValueError(f"pack must be >= 1 and divide batch={cfg.batch}, got {cfg.pack}")
        self.cfg = cfg
        self.G = _mlp(cfg.noise, 2, cfg.hidden)
        self.D = _mlp(2 * cfg.pack, 1, cfg.hidden)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n generated points (n, 2)."""
        return self.G(torch.randn(n, self.cfg.noise, generator=generator))

    def critic(self, x: Tensor) -> Tensor:
        """D's logits for packs of ``pack`` consecutive samples: (N, 2) -> (N // pack,)."""
        return self.D(x.reshape(-1, 2 * self.cfg.pack))[:, 0]

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return discriminator_loss(self.critic(real), self.critic(fake))

    def g_loss(self, fake: Tensor) -> Tensor:
        return generator_loss(self.critic(fake))


def train_toy_gan(cfg: ToyGANConfig, snapshots: tuple[int, ...] = (), progress: bool | None = None,
                  on_snapshot: Callable[[int, ToyGAN], None] | None = None,
                  ) -> tuple[ToyGAN, History, dict[int, Tensor]]:
    """Alternate one D step and one G step; returns the model, losses per 100 steps
    (History.train = G, History.valid = D) and 2,000 samples at each step in ``snapshots``.
    ``on_snapshot(step, model)`` is also called there (e.g. to record D's decision surface)."""
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = ToyGAN(cfg)
    opt_g = torch.optim.Adam(model.G.parameters(), cfg.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(model.D.parameters(), cfg.lr_d, betas=(0.5, 0.999))
    hist, shots, fixed = History(), {}, torch.Generator().manual_seed(1234)
    fixed_z = torch.randn(2000, cfg.noise, generator=fixed)
    show = progress_enabled() if progress is None else progress
    for step in tqdm(range(1, cfg.steps + 1), desc="GAN steps", disable=not show, leave=False):
        real = sample_ring(cfg.batch, gen)
        fake = model.G(torch.randn(cfg.batch, cfg.noise, generator=gen))
        g, d = adversarial_step(model, opt_d, opt_g, real, fake)
        if step % 100 == 0:
            hist.train.append(float(g))
            hist.valid.append(float(d))
        if step in snapshots:
            with torch.no_grad():
                shots[step] = model.G(fixed_z)
                if on_snapshot is not None:
                    on_snapshot(step, model)
    hist.best_epoch = len(hist.train) - 1
    return model, hist, shots


def checkpoint_path(pack: int):
    return CHECKPOINT_DIR / ("toy_gan_plain.pt" if pack == 1 else f"toy_gan_pack{pack}.pt")


def load_toy_gan(pack: int) -> tuple[ToyGAN, dict]:
    """The shipped toy GAN (pack 1: plain, 2: PacGAN) and its metrics."""
    cfg = ToyGANConfig(pack=pack)
    model = ToyGAN(cfg)
    info = load_checkpoint(checkpoint_path(pack), model, cfg)
    return model.eval(), info


@torch.no_grad()
def decision_surface(model: ToyGAN, lim: float = 3.0, n: int = 121) -> tuple[Tensor, Tensor]:
    """D's probability "real" on an n x n grid over [-lim, lim]^2: (xs, probs (n, n)), rows = y.
    For a packed discriminator, each grid point is judged as a pack of copies of itself."""
    xs = torch.linspace(-lim, lim, n)
    yy, xx = torch.meshgrid(xs, xs, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1).repeat_interleave(model.cfg.pack, 0)
    return xs, torch.sigmoid(model.critic(pts)).reshape(n, n)


@torch.no_grad()
def modes_of(model: ToyGAN, n: int = 10_000, seed: int = 0) -> tuple[int, float]:
    """count_modes of n samples drawn with a seeded generator."""
    return count_modes(model.sample(n, torch.Generator().manual_seed(seed)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.adversarial", description="train the toy GANs")
    parser.add_argument("command", choices=["train"])
    parser.parse_args(argv)
    torch.set_num_threads(1)  # small MLPs: one thread is fastest and reproducible
    for pack in (1, 2):
        cfg = ToyGANConfig(pack=pack)
        model, hist, _ = train_toy_gan(cfg)
        covered, quality = modes_of(model)
        path = save_checkpoint(checkpoint_path(pack), model, cfg, history=hist,
                               metrics={"modes_covered": covered, "frac_near_mode": quality})
        print(f"{path.name}: {covered}/8 modes covered, {quality:.1%} of samples within 3 std of a mode")


if __name__ == "__main__":
    main()
