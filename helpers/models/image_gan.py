"""GANs on the series' two image sets, with 1-of-N pixels: digits (17 grey levels), Pokémon (167 colours).

The generator keeps the lecture's 1-of-N choice: for every pixel it outputs logits over the
palette (the 17 grey levels, or the 167 clustered colours). Picking a colour is not
differentiable, so training uses the straight-through Gumbel-softmax: the forward pass draws
one palette entry per pixel (a hard one-hot, so the discriminator only ever sees real palette
colours, as it does for real images), the backward pass uses the gradient of the soft
relaxation softmax((logits + Gumbel noise) / tau). The discriminator looks at the picked
colours in RGB (grey for digits): one-hot @ palette, 3 channels instead of 167.
At generation time a pixel takes its most probable colour (argmax), so G(z) is a deterministic
picture of z: sliders and interpolations move smoothly.

Losses and the training loop are those of helpers.models.adversarial (non-saturating G loss,
``train_adversarial``); the discriminator is spectrally normalised and judges pairs of images
(PacGAN, the remedy that notebook 08's toy shows), which keeps the generator from collapsing
onto a few sprites. During training, 8 fixed codes are rendered at 8 steps: the ``evolution``
buffer, saved with the weights, is the "evolution of generation" figure.
A GAN defines no likelihood: ``log_prob`` raises. Shipped models: ``python -m helpers.registry
train gan_digits gan_pokemon``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from helpers.models.adversarial import (NO_LIKELIHOOD, GANTrainConfig, discriminator_loss, generator_loss,
                          train_adversarial)
from helpers.core.checkpoints import Metric, declared
from helpers.core.contract import eval_mode, generator_device
from helpers.core.data import Split, check_images, dataset, load_digits
from helpers.core.train import History, model_device
from helpers.evaluate.digits import classes_covered, digit_classifier


@dataclass(frozen=True)
class ImageGANConfig:
    """data: "digits" or "pokemon"; the data set's descriptor (helpers.core.data.dataset) gives
    the image side, levels (palette size: grey levels or colours), channels of the palette (1
    grey, 3 RGB), the palette itself and the augmentation: leave side, levels and channels out
    (a value that disagrees with the descriptor is refused). latent: length of z; width:
    channels of the last generator layer (doubled per layer towards z); pack: images per
    discriminator input; tau: Gumbel-softmax temperature; frames x frame_samples: the
    evolution snapshots recorded during training."""

    data: str
    side: int | None = None
    levels: int | None = None
    channels: int | None = None
    latent: int = 16
    width: int = 32
    pack: int = 2
    tau: float = 1.0
    frames: int = 8
    frame_samples: int = 8

    def __post_init__(self) -> None:
        ds = dataset(self.data)
        for name, value in (("side", ds.side), ("levels", ds.levels), ("channels", ds.channels)):
            given = getattr(self, name)
            if given is None:
                object.__setattr__(self, name, value)
            elif given != value:
                raise ValueError(f"ImageGANConfig: {name}={given} disagrees with the {self.data} data set's "
                                 f"{value}; leave {name} out and it comes from helpers.core.data.dataset({self.data!r})")


@dataclass(frozen=True)
class DiffAugGANConfig(ImageGANConfig):
    """An ImageGAN trained with differentiable augmentation (DiffAugment; Zhao et al., NeurIPS
    2020): while training, every image the discriminator judges, real or fake, is first shifted
    by up to ``translate`` of the side (edges repeated) and has a square of ``cutout`` of the side
    painted in its corner colour (the background), each drawn afresh per image. Both kinds get
    the same treatment and the fakes' gradients flow through it, so D cannot memorise 640
    sprites and G is not taught to draw the augmentations."""

    translate: float = 0.125
    cutout: float = 0.5


def diff_augment(x: Tensor, translate: float, cutout: float) -> Tensor:
    """(N, C, H, W) -> the same shape: per image a random integer shift of up to translate * side
    pixels in each direction (replicated edges) and a cutout square of side cutout * side
    (painted in the image's top-left colour), from the global random stream on x's device;
    differentiable in x."""
    n, _, h, w = x.shape
    t = int(round(translate * h))
    if t:
        dy, dx = (torch.randint(-t, t + 1, (2, n, 1), device=x.device)).unbind(0)
        rows = torch.arange(h, device=x.device)[None] + t + dy  # (N, H)
        cols = torch.arange(w, device=x.device)[None] + t + dx  # (N, W)
        padded = nn.functional.pad(x, (t, t, t, t), mode="replicate")
        x = padded[torch.arange(n, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
        x = x.permute(0, 3, 1, 2)
    size = int(round(cutout * h))
    if size:
        cy, cx = (torch.randint(0, h, (2, n, 1, 1), device=x.device)).unbind(0)
        r = torch.arange(h, device=x.device)[None, :, None]
        c = torch.arange(w, device=x.device)[None, None, :]
        dr, dc = r - cy + size // 2, c - cx + size // 2  # a size x size square centred at (cy, cx), clipped
        hole = (dr >= 0) & (dr < size) & (dc >= 0) & (dc < size)  # (N, H, W)
        x = torch.where(hole[:, None], x[:, :, :1, :1], x)
    return x


def _uniform(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    """U(0, 1) noise shaped like logits, drawn on the generator's device (logits' without one)
    and moved to logits' device; clamped away from 0 and 1 for the Gumbel transform."""
    dev = generator_device(generator, logits.device)
    u = torch.rand(logits.shape, generator=generator, device=dev).to(logits.device)
    return u.clamp_(1e-10, 1.0 - 1e-7)


def straight_through_colours(logits: Tensor, palette: Tensor, tau: float = 1.0,
                             generator: torch.Generator | None = None) -> Tensor:
    """Draw one palette entry per pixel with the Gumbel-max trick and return its colour
    (N, channels, H, W); gradients flow as if the colour were the soft mix
    softmax((logits + g) / tau) @ palette (straight-through Gumbel-softmax).
    Same as torch.nn.functional.gumbel_softmax(hard=True) @ palette, without its slow sampler."""
    y = (logits - torch.log(-torch.log(_uniform(logits, generator)))) / tau
    soft = torch.einsum("nkhw,kc->nchw", y.softmax(1), palette)
    hard = palette[y.argmax(1)].permute(0, 3, 1, 2)
    return hard + (soft - soft.detach())


class Generator(nn.Module):
    """z (N, latent) -> logits (N, levels, side, side): a linear layer to a 4w x side/4 x side/4
    map, two x2 transposed convolutions, a 1x1 convolution to the palette logits."""

    def __init__(self, cfg: ImageGANConfig):
        super().__init__()
        if cfg.side % 4:
            raise ValueError(f"side must be a multiple of 4, got {cfg.side}")
        w, self.base = cfg.width, cfg.side // 4
        self.cfg = cfg
        self.fc = nn.Sequential(nn.Linear(cfg.latent, 4 * w * self.base ** 2), nn.BatchNorm1d(4 * w * self.base ** 2),
                                nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, cfg.levels, 1),  # per-pixel palette logits
        )

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.cfg.latent:
            raise ValueError(f"z must be (N, {self.cfg.latent}), got {tuple(z.shape)}")
        h = self.fc(z).view(len(z), 4 * self.cfg.width, self.base, self.base)
        return self.up(h)


class Discriminator(nn.Module):
    """Packs of ``pack`` images in palette colours (N, pack * channels, side, side) -> logits (N,)."""

    def __init__(self, cfg: ImageGANConfig):
        super().__init__()
        w, c = cfg.width, cfg.channels * cfg.pack
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(c, 2 * w, 3, 1, 1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(2 * w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), nn.LeakyReLU(0.2),
            nn.Flatten(), spectral_norm(nn.Linear(4 * w * (cfg.side // 4) ** 2, 1)),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[:, 0]


class ImageGAN(nn.Module):
    """Generator, discriminator, palette (levels, channels) and the evolution frames, in one
    state_dict. palette=None: zeros, filled by loading a checkpoint or by fit_image_gan."""

    def __init__(self, cfg: ImageGANConfig, palette: Tensor | None = None):
        super().__init__()
        if palette is None:
            palette = torch.zeros(cfg.levels, cfg.channels, device="cpu")
        if palette.shape != (cfg.levels, cfg.channels):
            raise ValueError(f"palette must be ({cfg.levels}, {cfg.channels}), got {tuple(palette.shape)}")
        self.cfg = cfg
        self.G, self.D = Generator(cfg), Discriminator(cfg)
        self.register_buffer("palette", palette.float().clone())
        self.register_buffer("evolution", torch.zeros(cfg.frames, cfg.frame_samples, cfg.side, cfg.side,
                                                      dtype=torch.uint8, device="cpu"))
        self.register_buffer("evolution_steps", torch.zeros(cfg.frames, dtype=torch.long, device="cpu"))

    def log_prob(self, x: Tensor) -> Tensor:
        raise NotImplementedError(NO_LIKELIHOOD)

    # --- pictures
    def to_colours(self, onehot: Tensor) -> Tensor:
        """(N, levels, H, W) one-hot (or soft) -> (N, channels, H, W) palette colours."""
        return torch.einsum("nkhw,kc->nchw", onehot, self.palette)

    def indices_to_colours(self, idx: Tensor) -> Tensor:
        """(N, H, W) palette indices -> (N, channels, H, W) colours (= to_colours of their one-hot)."""
        return self.palette[idx].permute(0, 3, 1, 2)

    @torch.no_grad()
    def generate(self, z: Tensor, draw: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """Palette indices (N, side, side) of G(z), on z's device: each pixel's most probable
        colour, or with draw=True a colour drawn from its softmax (as during training, so the mix
        of colours matches the training images'; the picture then also depends on ``generator``)."""
        with eval_mode(self):
            logits = self.G(z)
        if not draw:
            return logits.argmax(1)
        return (logits - torch.log(-torch.log(_uniform(logits, generator)))).argmax(1)  # Gumbel-max

    def sample(self, n: int, *, generator: torch.Generator | None = None, prefix: Tensor | None = None,
               draw: bool = False) -> Tensor:
        """n new images (n, side, side) of palette indices from z ~ N(0, I), on the model's
        device; z (and draw's noise) come from the generator's device. draw: see generate."""
        if prefix is not None:
            raise ValueError("a GAN draws whole images from z: it cannot complete a prefix; pass prefix=None")
        dev = model_device(self)
        z = torch.randn(n, self.cfg.latent, generator=generator, device=generator_device(generator, dev)).to(dev)
        return self.generate(z, draw, generator)

    def fake(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Differentiable fakes for training, in palette colours: straight-through Gumbel-softmax."""
        return straight_through_colours(self.G(z), self.palette, self.cfg.tau, generator)

    # --- losses (those of helpers.models.adversarial, on packs of images)
    def critic(self, x: Tensor) -> Tensor:
        if self.training and isinstance(self.cfg, DiffAugGANConfig):
            x = diff_augment(x, self.cfg.translate, self.cfg.cutout)
        n, c, h, w = x.shape
        return self.D(x.reshape(n // self.cfg.pack, self.cfg.pack * c, h, w))

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return discriminator_loss(self.critic(real), self.critic(fake))

    def g_loss(self, fake: Tensor) -> Tensor:
        return generator_loss(self.critic(fake))


METRICS = (
    Metric("colour_tv", "colour-histogram distance of 500 samples to the training set", headline=True),
    Metric("classes_covered", "digit classes holding >= 2% of 500 samples (digits only)", headline=True),
    Metric("nearest_train_diff", "median fraction of pixels that differ from the nearest training image"),
)


def fit_image_gan(model: ImageGAN, cfg: GANTrainConfig, data: Split, *, device: torch.device | str | None = None,
                  progress: bool | None = None, resume: Path | None = None,
                  on_step: Callable[[int, ImageGAN], None] | None = None) -> tuple[History, dict[str, float]]:
    """Train ``model`` in place on data.train with train_adversarial; the palette and the
    augmentation (left-right flips for Pokémon) come from helpers.core.data.dataset(model.cfg.data).

    Per step, from the CPU generator seeded by cfg.seed: cfg.batch training indices (randint),
    the flips, cfg.batch codes z (randn), the Gumbel noise (rand). The ``evolution`` buffer gets
    G of 8 fixed codes (Generator(1234)) after 0 .. cfg.steps steps, ``frames`` times evenly.
    History: G (train) and D (valid) losses per 100 steps. Metrics: ``measure`` of 500 samples.
    resume: train_adversarial's state file (saved every 100 steps; a stopped run continues from it).
    on_step(k, model) is called after step k, after the evolution frame."""
    mc, ds = model.cfg, dataset(model.cfg.data)
    train = check_images(data.train, mc.levels, mc.side, name="data.train")
    dev = torch.device(device) if device is not None else model_device(model)
    model.to(dev)
    model.palette.copy_(ds.palette().to(dev))
    augment = ds.augmentation
    fixed = torch.Generator().manual_seed(1234)
    fixed_z = torch.randn(mc.frame_samples, mc.latent, generator=fixed, device=fixed.device).to(dev)
    frame_at = torch.linspace(0, cfg.steps, mc.frames, device="cpu").round().long().tolist()  # 0 = untrained

    def real(gen: torch.Generator) -> Tensor:
        x = train[torch.randint(0, len(train), (cfg.batch,), generator=gen, device=gen.device)]
        if augment is not None:
            x = augment(x, gen)
        return model.indices_to_colours(x.to(dev))

    def fake(gen: torch.Generator) -> Tensor:
        return model.fake(torch.randn(cfg.batch, mc.latent, generator=gen, device=gen.device).to(dev), gen)

    def frame(step: int, m: ImageGAN) -> None:
        if step in frame_at:
            k = frame_at.index(step)
            m.evolution[k] = m.generate(fixed_z).to(torch.uint8)
            m.evolution_steps[k] = step
        if on_step is not None:
            on_step(step, m)

    hist = train_adversarial(model, cfg, real, fake, progress=progress, on_step=frame, resume=resume)
    model.eval()
    clf = None
    if mc.data == "digits":
        d = load_digits()
        clf = digit_classifier(d.split().train, d.split_labels().train)
    return hist, declared(measure(model, train, clf=clf), METRICS, "fit_image_gan")


# ----------------------------------------------------------------------------- measuring samples
def _colours(x: Tensor, palette: Tensor) -> Tensor:
    return palette[x.flatten(1)]  # (N, pixels, channels)


def nearest(samples: Tensor, reference: Tensor, palette: Tensor, tol: float = 0.05) -> tuple[Tensor, Tensor]:
    """For every sample, (index of the nearest reference image, fraction of its pixels whose colour
    differs from it). Images are palette indices; two pixels differ when their palette colours are
    more than ``tol`` apart (Euclidean, colours in 0..1): the course palette has near-duplicates
    (e.g. white 255 and 254) that no one can tell apart; digit levels are 1/16 > tol apart."""
    a, r = _colours(samples, palette), _colours(reference, palette)
    diff = torch.stack([((a - ref).norm(dim=-1) > tol).float().mean(1) for ref in r], 1)
    frac, idx = diff.min(1)
    return idx, frac


def colour_tv(samples: Tensor, reference: Tensor, palette: Tensor, bins: int = 8) -> float:
    """Total-variation distance between the colour histograms of two image sets (0 = same,
    1 = disjoint): every pixel's palette colour falls into one of bins^channels RGB (or grey) cells."""
    def hist(x: Tensor) -> Tensor:
        cell = (_colours(x, palette) * bins).long().clamp_(max=bins - 1).reshape(-1, palette.shape[1])
        flat = (cell * bins ** torch.arange(palette.shape[1], device=cell.device)).sum(1)
        h = torch.bincount(flat, minlength=bins ** palette.shape[1]).double()
        return h / h.sum()

    return float(0.5 * (hist(samples) - hist(reference)).abs().sum())


def measure(model: ImageGAN, train: Tensor, n: int = 500, seed: int = 0, clf=None) -> dict[str, float]:
    """The numbers recorded with a checkpoint (and recomputed by the tests), from n samples drawn
    with torch.Generator().manual_seed(seed): colour-histogram distance to the training set
    (colour_tv), median fraction of pixels whose colour differs from the nearest training image
    (0 = a copy; first 200 samples), and with a digit classifier the classes covered."""
    x = model.sample(n, generator=torch.Generator().manual_seed(seed)).cpu()
    palette = model.palette.cpu()
    _, frac = nearest(x[:200], train, palette)
    out = {"colour_tv": colour_tv(x, train, palette), "nearest_train_diff": float(frac.median())}
    if clf is not None:
        out["classes_covered"] = float(classes_covered(clf, x)[0])
    return out
