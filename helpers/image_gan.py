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

Losses are those of helpers.adversarial (non-saturating G loss); the discriminator is
spectrally normalised and judges pairs of images (PacGAN, the remedy that notebook 08's toy
shows), which keeps the generator from collapsing onto a few sprites.
During training, 8 fixed codes are rendered at 8 steps: the ``evolution`` buffer, saved with
the weights, is the "evolution of generation" figure.

Training entry: ``python -m helpers.image_gan train [--only digits pokemon]`` writes
data/checkpoints/gan_{digits,pokemon}.pt.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from .adversarial import adversarial_step, discriminator_loss, generator_loss
from .autoregressive import hflip
from .data import DIGIT_LEVELS, N_COLOURS
from .train import CHECKPOINT_DIR, History, load_checkpoint, progress_enabled, save_checkpoint


@dataclass(frozen=True)
class ImageGANConfig:
    """data: "digits" or "pokemon"; side: image side; levels: palette size (grey levels or
    colours); latent: length of z; width: channels of the last generator layer (doubled per
    layer towards z); pack: images per discriminator input; tau: Gumbel-softmax temperature."""

    data: str
    side: int
    levels: int
    channels: int  # of the palette: 1 (grey) or 3 (RGB)
    latent: int = 16
    width: int = 32
    pack: int = 2
    steps: int = 4000
    batch: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    tau: float = 1.0
    frames: int = 8  # evolution snapshots
    frame_samples: int = 8
    seed: int = 0


def shipped() -> dict[str, ImageGANConfig]:
    """The configurations of the shipped checkpoints gan_digits.pt and gan_pokemon.pt."""
    return {
        "digits": ImageGANConfig("digits", side=8, levels=DIGIT_LEVELS, channels=1, latent=8, width=32,
                                 steps=4000),
        "pokemon": ImageGANConfig("pokemon", side=20, levels=N_COLOURS, channels=3, latent=16, width=32,
                                  steps=4000),
    }


def digit_palette() -> Tensor:
    """(17, 1) grey levels 0..1 (0 = no ink)."""
    return torch.linspace(0, 1, DIGIT_LEVELS)[:, None]


def pokemon_palette(colormap: np.ndarray) -> Tensor:
    """(167, 3) RGB in 0..1 from the course's colormap."""
    if colormap.shape != (N_COLOURS, 3):
        raise ValueError(f"colormap must be ({N_COLOURS}, 3), got {colormap.shape}")
    return torch.as_tensor(colormap, dtype=torch.float32) / 255.0


def straight_through_colours(logits: Tensor, palette: Tensor, tau: float = 1.0,
                             generator: torch.Generator | None = None) -> Tensor:
    """Draw one palette entry per pixel with the Gumbel-max trick and return its colour
    (N, channels, H, W); gradients flow as if the colour were the soft mix
    softmax((logits + g) / tau) @ palette (straight-through Gumbel-softmax).
    Same as torch.nn.functional.gumbel_softmax(hard=True) @ palette, without its slow sampler."""
    u = torch.rand(logits.shape, generator=generator).clamp_(1e-10, 1.0 - 1e-7)
    y = (logits - torch.log(-torch.log(u))) / tau
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
    """Generator, discriminator, palette and the evolution frames, in one state_dict."""

    def __init__(self, cfg: ImageGANConfig, palette: Tensor):
        super().__init__()
        if cfg.batch % cfg.pack:
            raise ValueError(f"pack={cfg.pack} must divide batch={cfg.batch}")
        if palette.shape != (cfg.levels, cfg.channels):
            raise ValueError(f"palette must be ({cfg.levels}, {cfg.channels}), got {tuple(palette.shape)}")
        self.cfg = cfg
        self.G, self.D = Generator(cfg), Discriminator(cfg)
        self.register_buffer("palette", palette.float().clone())
        self.register_buffer("evolution", torch.zeros(cfg.frames, cfg.frame_samples, cfg.side, cfg.side,
                                                      dtype=torch.uint8))
        self.register_buffer("evolution_steps", torch.zeros(cfg.frames, dtype=torch.long))

    # --- pictures
    def to_colours(self, onehot: Tensor) -> Tensor:
        """(N, levels, H, W) one-hot (or soft) -> (N, channels, H, W) palette colours."""
        return torch.einsum("nkhw,kc->nchw", onehot, self.palette)

    def indices_to_colours(self, idx: Tensor) -> Tensor:
        """(N, H, W) palette indices -> (N, channels, H, W) colours (= to_colours of their one-hot)."""
        return self.palette[idx].permute(0, 3, 1, 2)

    @torch.no_grad()
    def generate(self, z: Tensor, draw: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """Palette indices (N, side, side) of G(z): each pixel's most probable colour, or with
        draw=True a colour drawn from its softmax (as during training, so the mix of colours
        matches the training images'; the picture then also depends on ``generator``)."""
        was = self.training
        self.eval()
        logits = self.G(z)
        self.train(was)
        if not draw:
            return logits.argmax(1)
        u = torch.rand(logits.shape, generator=generator).clamp_(1e-10, 1.0 - 1e-7)
        return (logits - torch.log(-torch.log(u))).argmax(1)  # Gumbel-max: a draw from softmax(logits)

    def sample(self, n: int, generator: torch.Generator | None = None, draw: bool = False) -> Tensor:
        """n new images (palette indices) from z ~ N(0, I); draw: see generate."""
        return self.generate(torch.randn(n, self.cfg.latent, generator=generator), draw, generator)

    def fake(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Differentiable fakes for training, in palette colours: straight-through Gumbel-softmax."""
        return straight_through_colours(self.G(z), self.palette, self.cfg.tau, generator)

    # --- losses (those of helpers.adversarial, on packs of images)
    def critic(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        return self.D(x.reshape(n // self.cfg.pack, self.cfg.pack * c, h, w))

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return discriminator_loss(self.critic(real), self.critic(fake))

    def g_loss(self, fake: Tensor) -> Tensor:
        return generator_loss(self.critic(fake))


def check_images(x: Tensor, cfg: ImageGANConfig) -> Tensor:
    if not isinstance(x, Tensor) or x.dtype != torch.long or x.shape[1:] != (cfg.side, cfg.side):
        raise ValueError(f"{cfg.data} images must be a long tensor (N, {cfg.side}, {cfg.side}) of palette "
                         f"indices, got {getattr(x, 'dtype', type(x))} {tuple(getattr(x, 'shape', ()))}")
    if x.numel() and (x.min() < 0 or x.max() >= cfg.levels):
        raise ValueError(f"palette indices must lie in 0..{cfg.levels - 1}, got {int(x.min())}..{int(x.max())}")
    return x


def train_gan(cfg: ImageGANConfig, train: Tensor, palette: Tensor, progress: bool | None = None,
              steps: int | None = None) -> tuple[ImageGAN, History]:
    """Alternate one D step and one G step on ``train`` (palette indices, left-right flips for
    Pokémon). History: G and D losses averaged per 100 steps (train = G, valid = D)."""
    from tqdm.auto import tqdm

    check_images(train, cfg)
    steps = cfg.steps if steps is None else steps
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = ImageGAN(cfg, palette)
    opt_g = torch.optim.Adam(model.G.parameters(), cfg.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(model.D.parameters(), cfg.lr_d, betas=(0.5, 0.999))
    fixed_z = torch.randn(cfg.frame_samples, cfg.latent, generator=torch.Generator().manual_seed(1234))
    frame_at = torch.linspace(0, steps, cfg.frames).round().long().tolist()  # step 0 = untrained
    hist, g_acc, d_acc, t0 = History(), 0.0, 0.0, time.perf_counter()
    show = progress_enabled() if progress is None else progress
    for step in tqdm(range(steps + 1), desc=f"GAN on {cfg.data}", disable=not show, leave=False):
        if step in frame_at:
            k = frame_at.index(step)
            model.evolution[k] = model.generate(fixed_z).to(torch.uint8)
            model.evolution_steps[k] = step
        if step == steps:
            break
        x = train[torch.randint(0, len(train), (cfg.batch,), generator=gen)]
        if cfg.data == "pokemon":
            x = hflip(x, gen)  # a Pokémon facing the other way
        real = model.indices_to_colours(x)
        fake = model.fake(torch.randn(cfg.batch, cfg.latent, generator=gen), gen)
        g, d = adversarial_step(model, opt_d, opt_g, real, fake)
        g_acc, d_acc = g_acc + float(g), d_acc + float(d)
        if (step + 1) % 100 == 0:
            hist.train.append(g_acc / 100)
            hist.valid.append(d_acc / 100)
            g_acc = d_acc = 0.0
    hist.best_epoch, hist.seconds = len(hist.train) - 1, time.perf_counter() - t0
    return model.eval(), hist


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
        flat = (cell * bins ** torch.arange(palette.shape[1])).sum(1)
        h = torch.bincount(flat, minlength=bins ** palette.shape[1]).double()
        return h / h.sum()

    return float(0.5 * (hist(samples) - hist(reference)).abs().sum())


def digit_classifier(train: Tensor, labels: Tensor):
    """A logistic-regression digit classifier on the 64 grey levels (scikit-learn): the judge
    that says which digit a generated image looks like."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000)
    clf.fit(train.flatten(1).numpy() / 16.0, labels.numpy())
    return clf


def classes_covered(clf, samples: Tensor, min_frac: float = 0.02) -> tuple[int, np.ndarray]:
    """(digit classes with >= min_frac of the samples, the class histogram as fractions)."""
    pred = clf.predict(samples.flatten(1).numpy() / 16.0)
    hist = np.bincount(pred, minlength=10) / len(pred)
    return int((hist >= min_frac).sum()), hist


# ----------------------------------------------------------------------------- shipped checkpoints
def checkpoint_path(name: str):
    return CHECKPOINT_DIR / f"gan_{name}.pt"


def palette_for(name: str, colormap: np.ndarray | None = None) -> Tensor:
    if name == "digits":
        return digit_palette()
    if colormap is None:
        raise ValueError("the Pokémon GAN needs the course colormap: load_gan('pokemon', colormap=...)")
    return pokemon_palette(colormap)


def load_gan(name: str, colormap: np.ndarray | None = None) -> tuple[ImageGAN, dict]:
    """A shipped GAN ("digits" or "pokemon") in eval mode, and its {"history", "metrics"}."""
    configs = shipped()
    if name not in configs:
        raise KeyError(f"no shipped GAN {name!r}; choose one of {sorted(configs)}")
    model = ImageGAN(configs[name], palette_for(name, colormap))
    info = load_checkpoint(checkpoint_path(name), model, configs[name])
    return model.eval(), info


def measure(model: ImageGAN, train: Tensor, n: int = 500, seed: int = 0, clf=None) -> dict[str, float]:
    """The numbers recorded with a checkpoint (and recomputed by the tests): colour-histogram
    distance to the training set (colour_tv), median fraction of pixels whose colour differs from
    the nearest training image (0 = a copy), and for digits the classes covered by n samples."""
    x = model.sample(n, torch.Generator().manual_seed(seed))
    _, frac = nearest(x[:200], train, model.palette)
    out = {"colour_tv": colour_tv(x, train, model.palette), "nearest_train_diff": float(frac.median())}
    if clf is not None:
        out["classes_covered"] = float(classes_covered(clf, x)[0])
    return out


def main(argv: list[str] | None = None) -> None:
    from .data import load_digits, load_pokemon

    p = argparse.ArgumentParser(prog="python -m helpers.image_gan", description="train the shipped image GANs")
    p.add_argument("command", choices=["train"])
    p.add_argument("--only", nargs="*", choices=sorted(shipped()), help="which to train; default both")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # reproducible, and leaves the other core free
    for name in args.only or sorted(shipped()):
        cfg = shipped()[name]
        if name == "digits":
            d = load_digits()
            train, labels = d.split()[0], d.split_labels()[0]
            palette, clf = digit_palette(), digit_classifier(train, labels)
        else:
            pk = load_pokemon()
            train, palette, clf = pk.split()[0], pokemon_palette(pk.colormap), None
        model, hist = train_gan(cfg, train, palette)
        metrics = measure(model, train, clf=clf)
        path = save_checkpoint(checkpoint_path(name), model, cfg, history=hist, metrics=metrics)
        print(f"{path.name}: {hist.seconds:.0f}s, {metrics}")


if __name__ == "__main__":
    main()
