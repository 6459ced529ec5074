"""Generative adversarial networks: the one training loop, and a 2-D toy (8 Gaussians on a ring)
that shows mode collapse and a remedy.

Data: 8 modes at radius 2, standard deviation 0.05 each, equally likely.
Generator G: noise z ~ N(0, I_256) -> R^2. Discriminator D: R^2 -> a logit "real".
    D's loss:  -E_x[log sigmoid D(x)] - E_z[log(1 - sigmoid D(G(z)))]
    G's loss (non-saturating): -E_z[log sigmoid D(G(z))]
(the minimax form +E_z[log(1 - sigmoid D(G(z)))] has vanishing gradients when D wins early.)
Remedy (PacGAN, Lin et al. 2018): D judges ``pack`` samples at once, concatenated, so a
generator that puts every sample on one mode is easy to tell from real packs.
A mode is covered when >= 1% of 10,000 samples fall within 3 standard deviations of it.

A GAN defines no likelihood: ``log_prob`` raises. ``train_adversarial`` is the loop that every
GAN of the series (this toy, helpers.models.image_gan) trains with; shipped models are trained by
``python -m helpers.registry train toy_gan_plain toy_gan_pack2``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.core.checkpoints import Metric, declared
from helpers.core.contract import generator_device
from helpers.core.train import (RESUME_VERSION, History, model_device, progress_enabled, random_state, read_resume,
                                restore_random_state, save_atomic, seeded)

MODES, RADIUS, STD = 8, 2.0, 0.05
NO_LIKELIHOOD = ("a GAN defines no likelihood: it is trained by a discriminator, not by maximising P(x); "
                 "see notebook 08")


def ring_centres(modes: int = MODES, radius: float = RADIUS, device: torch.device | str = "cpu") -> Tensor:
    """(modes, 2) centres evenly spaced on a circle."""
    a = torch.arange(modes, device=device) * 2 * math.pi / modes
    return radius * torch.stack([a.cos(), a.sin()], 1)


def sample_ring(n: int, generator: torch.Generator | None = None, std: float = STD) -> Tensor:
    """n points (n, 2): a uniformly chosen centre plus N(0, std^2 I) noise, drawn on the
    generator's device (the CPU without one)."""
    dev = generator_device(generator, "cpu")
    c = ring_centres(device=dev)
    idx = torch.randint(0, len(c), (n,), generator=generator, device=dev)
    return c[idx] + std * torch.randn(n, 2, generator=generator, device=dev)


def count_modes(x: Tensor, min_frac: float = 0.01, std: float = STD) -> tuple[int, float]:
    """(modes covered, fraction of samples within 3 std of some mode)."""
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"want samples of shape (N, 2), got {tuple(x.shape)}")
    d = torch.cdist(x.float(), ring_centres(device=x.device))
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


# ----------------------------------------------------------------------------- the one GAN loop
ADAM_BETAS = (0.5, 0.999)  # both networks' Adam decay rates in train_adversarial (beta1 0.5, as DCGAN)


SAVE_EVERY = 100  # steps between saves of a resumable run (the losses are averaged over the same 100)


@dataclass(frozen=True)
class GANTrainConfig:
    """steps: D+G updates; batch: real and fake samples per step (a multiple of the model's pack);
    lr_g, lr_d: Adam learning rates (betas ADAM_BETAS); seed: the data / noise generator's seed."""

    steps: int = 4000
    batch: int = 256
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    seed: int = 0


def train_adversarial(
    model: nn.Module,
    cfg: GANTrainConfig,
    real: Callable[[torch.Generator], Tensor],
    fake: Callable[[torch.Generator], Tensor],
    *,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    on_step: Callable[[int, nn.Module], None] | None = None,
    resume: Path | None = None,
) -> History:
    """Alternate one D step and one G step (``adversarial_step``) for cfg.steps steps.

    model: has G, D, d_loss(real, fake), g_loss(fake) and cfg.pack (samples per D input).
    real(gen) / fake(gen): a batch of real samples / differentiable fakes on the model's device,
    drawn from ``gen`` = torch.Generator().manual_seed(cfg.seed) (on the CPU), real first.
    on_step(k, model) is called after k updates, k = 0 (untrained) .. cfg.steps.
    Returns History: G's (train) and D's (valid) losses, each the mean over 100 steps.
    Seeds nothing: model initialisation is the caller's (helpers.core.train.seeded).
    resume: a file where the whole training state (both networks and their buffers, both optimisers,
    the data generator, the global random state, the history) is saved every SAVE_EVERY steps;
    when it holds a state, training continues from it and ends exactly as an uninterrupted run
    (`python -m helpers.registry train NAME --resume`)."""
    from tqdm.auto import tqdm

    pack = model.cfg.pack
    if pack < 1 or cfg.batch % pack:
        raise ValueError(f"the model's pack={pack} must be >= 1 and divide batch={cfg.batch}; "
                         f"pick a batch that is a multiple of {pack}")
    if device is not None:
        model.to(device)
    model.train()
    gen = torch.Generator().manual_seed(cfg.seed)
    opt_g = torch.optim.Adam(model.G.parameters(), cfg.lr_g, betas=ADAM_BETAS)
    opt_d = torch.optim.Adam(model.D.parameters(), cfg.lr_d, betas=ADAM_BETAS)
    hist, g_acc, d_acc, t0 = History(), 0.0, 0.0, time.perf_counter()
    first, earlier = 1, 0.0
    dev = model_device(model)
    if resume is not None and (state := read_resume(resume)) is not None:
        if state.get("kind") != "adversarial" or state["cfg"] != dataclasses.asdict(cfg):
            raise ValueError(f"{resume} holds another run ({state.get('kind', 'fit')}, {state['cfg']}); "
                             f"delete it, or resume with the same configuration")
        model.load_state_dict(state["model"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        restore_random_state(state, gen, dev)
        hist = History.from_dict(state["hist"])
        first, earlier = state["step"] + 1, hist.seconds
    elif on_step is not None:
        on_step(0, model)
    show = progress_enabled() if progress is None else progress
    for step in tqdm(range(first, cfg.steps + 1), desc="GAN steps", disable=not show, leave=False,
                     initial=first - 1, total=cfg.steps):
        x = real(gen)
        g, d = adversarial_step(model, opt_d, opt_g, x, fake(gen))
        g_acc, d_acc = g_acc + float(g), d_acc + float(d)
        if step % 100 == 0:
            hist.train.append(g_acc / 100)
            hist.valid.append(d_acc / 100)
            g_acc = d_acc = 0.0
        if on_step is not None:
            on_step(step, model)
        if resume is not None and step % SAVE_EVERY == 0 and step < cfg.steps:  # on a 100-step boundary: no partial sums
            hist.seconds = earlier + time.perf_counter() - t0
            save_atomic(resume, {
                "version": RESUME_VERSION, "kind": "adversarial", "cfg": dataclasses.asdict(cfg), "step": step,
                "model": model.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                **random_state(gen, dev), "hist": hist.to_dict()})
    hist.best_epoch, hist.seconds = len(hist.train) - 1, earlier + time.perf_counter() - t0
    return hist


# ----------------------------------------------------------------------------- the toy
@dataclass(frozen=True)
class ToyGANConfig:
    """pack = 1: the plain GAN; pack >= 2: PacGAN's discriminator sees pack samples at once.
    noise: length of z; hidden: width of both MLPs (two hidden layers each)."""

    pack: int = 1
    noise: int = 256
    hidden: int = 128


def _mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


class ToyGAN(nn.Module):
    """G: z (N, noise) -> points (N, 2); D: packs (N // pack, 2 * pack) -> logits."""

    def __init__(self, cfg: ToyGANConfig):
        super().__init__()
        if cfg.pack < 1:
            raise ValueError(f"pack must be >= 1, got {cfg.pack}")
        self.cfg = cfg
        self.G = _mlp(cfg.noise, 2, cfg.hidden)
        self.D = _mlp(2 * cfg.pack, 1, cfg.hidden)

    def log_prob(self, x: Tensor) -> Tensor:
        raise NotImplementedError(NO_LIKELIHOOD)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, prefix: Tensor | None = None) -> Tensor:
        """n generated points (n, 2), on the model's device; z is drawn on the generator's device."""
        if prefix is not None:
            raise ValueError("a GAN draws whole samples from z: it cannot continue a prefix; pass prefix=None")
        dev = model_device(self)
        z = torch.randn(n, self.cfg.noise, generator=generator, device=generator_device(generator, dev))
        return self.G(z.to(dev))

    def critic(self, x: Tensor) -> Tensor:
        """D's logits for packs of ``pack`` consecutive samples: (N, 2) -> (N // pack,)."""
        return self.D(x.reshape(-1, 2 * self.cfg.pack))[:, 0]

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return discriminator_loss(self.critic(real), self.critic(fake))

    def g_loss(self, fake: Tensor) -> Tensor:
        return generator_loss(self.critic(fake))


def _toy_data(model: ToyGAN, cfg: GANTrainConfig, dev: torch.device):
    """real(gen): cfg.batch ring points; fake(gen): G of cfg.batch noise vectors. Both drawn on the
    CPU generator (randint, randn for real; randn for fake) and moved to ``dev``."""
    def real(gen: torch.Generator) -> Tensor:
        return sample_ring(cfg.batch, gen).to(dev)

    def fake(gen: torch.Generator) -> Tensor:
        return model.G(torch.randn(cfg.batch, model.cfg.noise, generator=gen, device=gen.device).to(dev))

    return real, fake


METRICS = (
    Metric("modes_covered", "ring modes (of 8) that hold samples, of 10,000 drawn", headline=True),
    Metric("frac_near_mode", "fraction of the samples near a mode"),
)


def fit_toy_gan(model: ToyGAN, cfg: GANTrainConfig, data: None = None, *, device: torch.device | str | None = None,
                progress: bool | None = None, on_step: Callable[[int, nn.Module], None] | None = None,
                resume: Path | None = None) -> tuple[History, dict[str, float]]:
    """Train ``model`` in place on the ring (made here: data must be None) with train_adversarial
    (``on_step``, ``resume``: see there). Metrics: modes_covered and frac_near_mode of 10,000
    samples (``modes_of``)."""
    if data is not None:
        raise ValueError("the toy GAN draws its own ring data from cfg.seed; pass data=None")
    dev = torch.device(device) if device is not None else model_device(model)
    model.to(dev)
    hist = train_adversarial(model, cfg, *_toy_data(model, cfg, dev), progress=progress, on_step=on_step,
                             resume=resume)
    covered, near = modes_of(model)
    return hist, declared({"modes_covered": float(covered), "frac_near_mode": near}, METRICS, "fit_toy_gan")


def train_toy_gan(model_cfg: ToyGANConfig, train_cfg: GANTrainConfig = GANTrainConfig(),
                  snapshots: tuple[int, ...] = (), on_snapshot: Callable[[int, ToyGAN], None] | None = None,
                  progress: bool | None = None, *, device: torch.device | str | None = None
                  ) -> tuple[ToyGAN, History, dict[int, Tensor]]:
    """For notebooks: build a ToyGAN inside seeded(train_cfg.seed) (the caller's random state is
    given back) and train it like fit_toy_gan (train_cfg defaults to the shipped toys': the same
    weights as the registry's). Returns the model, the History and, at each step in ``snapshots``
    (0 = untrained), G of 2,000 fixed codes (Generator(1234)); ``on_snapshot(step, model)`` is
    also called there (e.g. to record D's decision surface)."""
    with seeded(train_cfg.seed, device):
        model = ToyGAN(model_cfg)
        dev = torch.device(device) if device is not None else model_device(model)
        model.to(dev)
        fixed = torch.Generator().manual_seed(1234)
        fixed_z = torch.randn(2000, model_cfg.noise, generator=fixed, device=fixed.device).to(dev)
        shots: dict[int, Tensor] = {}

        def snap(step: int, m: ToyGAN) -> None:
            if step in snapshots:
                with torch.no_grad():
                    shots[step] = m.G(fixed_z)
                if on_snapshot is not None:
                    on_snapshot(step, m)

        hist = train_adversarial(model, train_cfg, *_toy_data(model, train_cfg, dev), progress=progress,
                                 on_step=snap)
    return model, hist, shots


@torch.no_grad()
def decision_surface(model: ToyGAN, lim: float = 3.0, n: int = 121) -> tuple[Tensor, Tensor]:
    """D's probability "real" on an n x n grid over [-lim, lim]^2: (xs, probs (n, n)), rows = y,
    on the model's device. For a packed discriminator, each grid point is judged as a pack of
    copies of itself."""
    xs = torch.linspace(-lim, lim, n, device=model_device(model))
    yy, xx = torch.meshgrid(xs, xs, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1).repeat_interleave(model.cfg.pack, 0)
    return xs, torch.sigmoid(model.critic(pts)).reshape(n, n)


@torch.no_grad()
def modes_of(model: ToyGAN, n: int = 10_000, seed: int = 0) -> tuple[int, float]:
    """count_modes of n samples drawn with torch.Generator().manual_seed(seed) (on the CPU)."""
    return count_modes(model.sample(n, generator=torch.Generator().manual_seed(seed)))


# PacGAN's Table 1 (Lin, Khetan, Fanti, Oh; NeurIPS 2018), 10 trials of 400,000 steps:
# {data set: {variant: ((modes, s.e.), (high-quality share in %, s.e.), (reverse KL, s.e.))}}
PAPER_TABLE1 = {
    "ring": {"GAN": ((6.3, 0.5), (98.2, 0.2), (0.45, 0.09)), "PacGAN2": ((7.9, 0.1), (95.6, 2.0), (0.07, 0.03)),
             "PacGAN3": ((7.8, 0.1), (97.7, 0.3), (0.10, 0.02)), "PacGAN4": ((7.8, 0.1), (95.9, 1.4), (0.07, 0.02))},
    "grid": {"GAN": ((17.3, 0.8), (94.8, 0.7), (0.70, 0.07)), "PacGAN2": ((23.8, 0.7), (91.3, 0.8), (0.13, 0.04)),
             "PacGAN3": ((24.6, 0.4), (94.2, 0.4), (0.06, 0.02)), "PacGAN4": ((24.8, 0.2), (93.6, 0.6), (0.04, 0.01))},
}
