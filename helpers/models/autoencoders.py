"""Autoencoders (lecture slides 15-18), on digits and Pokémon; the VAE builds on them (``helpers.models.vae``).

Encoder -> code -> decoder. Decoders return **per-pixel logits** over the image's categories,
(B, H, W, K): K = 17 grey levels for digits, K = 167 colours for Pokémon (``NetConfig.levels``,
from the data set's descriptor ``helpers.core.data.DIGITS`` / ``POKEMON``). The likelihood P(x | z) is
categorical per pixel, so the reconstruction error

    rec(x, z) = -log P(x | z) = sum over pixels of cross-entropy     (nats per image)

is a proper negative log-likelihood, comparable with the other models of the series.
Two decoders: ``Decoder`` (pixels independent given z) and ``MADEDecoder`` (a "better decoder",
P(x | z) = prod_i P(x_i | x_<i, z) in raster order).

Reductions: per-image functions return (B,) in nats; losses are the batch mean of those.
Shipped models and their training command: ``helpers.registry``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.core.checkpoints import Metric, declared
from helpers.core.contract import draw_categorical, eval_mode, generator_device
from helpers.core.data import DIGITS, POKEMON, Split, check_images
from helpers.core.train import History, TrainConfig, evaluate, fit
from helpers.models.autoregressive import fill_raster
from helpers.models.pixel_cnn import ConditionalPixelCNN, PixelCNNConfig


# ----------------------------------------------------------------------------- config
@dataclass(frozen=True)
class NetConfig:
    """Shape of encoder and decoder.

    side: image side (8 digits, 20 Pokémon); levels: categories per pixel (17 / 167);
    latent: code length; hidden: MLP width, or conv channels; depth: hidden layers (MLP);
    arch: "mlp" (digits) or "conv" (Pokémon: colour embedding + strided convolutions).
    """

    side: int = DIGITS.side
    levels: int = DIGITS.levels
    latent: int = 2
    hidden: int = 256
    depth: int = 2
    arch: str = "mlp"
    embed: int = 16  # colour-embedding size of the conv encoder
    dropout: float = 0.0  # after every hidden layer of the MLPs (regularises on 1000 digits)
    autoregressive: bool = False  # P(x|z) = prod_i P(x_i | x_<i, z): MADE (mlp), PixelCNN (conv; depth = layers)


def digits_net(latent: int = 2, hidden: int = 256, depth: int = 2, dropout: float = 0.0) -> NetConfig:
    """An MLP encoder/decoder for 8x8 digits with 17 grey levels."""
    return NetConfig(side=DIGITS.side, levels=DIGITS.levels, latent=latent, hidden=hidden, depth=depth,
                     arch="mlp", dropout=dropout)


def pokemon_net(latent: int = 10, hidden: int = 32) -> NetConfig:
    """A convolutional encoder/decoder for 20x20 Pokémon sprites with 167 colours."""
    return NetConfig(side=POKEMON.side, levels=POKEMON.levels, latent=latent, hidden=hidden, arch="conv")


# ----------------------------------------------------------------------------- networks
def _mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ELU()] + ([nn.Dropout(dropout)] if dropout else [])
    return nn.Sequential(*layers[: -2 if dropout else -1])  # nothing after the last layer


def check_codes(z: Tensor, latent: int) -> None:
    if z.ndim != 2 or z.shape[1] != latent:
        raise ValueError(f"expected codes of shape (B, {latent}), got {tuple(z.shape)}; "
                         f"this decoder has a {latent}-dimensional code (use z[None] for one code)")


class Encoder(nn.Module):
    """(B, H, W) long categories -> (B, out) features.

    mlp: pixels scaled to [0, 1] (grey levels are ordered); conv: a learned colour
    embedding per pixel (Pokémon colours are unordered categories), then two stride-2 convs."""

    def __init__(self, cfg: NetConfig, out: int):
        super().__init__()
        self.cfg = cfg
        if cfg.arch == "mlp":
            self.body = _mlp([cfg.side**2] + [cfg.hidden] * cfg.depth + [out], cfg.dropout)
        elif cfg.arch == "conv":
            c, s = cfg.hidden, cfg.side // 4
            self.embed = nn.Embedding(cfg.levels, cfg.embed)
            self.body = nn.Sequential(
                nn.Conv2d(cfg.embed, c, 3, padding=1), nn.ELU(),
                nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ELU(),
                nn.Conv2d(2 * c, 2 * c, 4, 2, 1), nn.ELU(),
                nn.Flatten(), nn.Linear(2 * c * s * s, out),
            )
        else:
            raise ValueError(f"arch must be 'mlp' or 'conv', got {cfg.arch!r}")

    def forward(self, x: Tensor) -> Tensor:
        x = check_images(x, self.cfg.levels, self.cfg.side)
        if self.cfg.arch == "mlp":
            return self.body(x.flatten(1).float() / (self.cfg.levels - 1))
        return self.body(self.embed(x).permute(0, 3, 1, 2))


class Decoder(nn.Module):
    """(B, latent) code -> (B, H, W, K) logits of P(x_pixel = k | z): pixels independent given z."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.arch == "mlp":
            self.body = _mlp([cfg.latent] + [cfg.hidden] * cfg.depth + [cfg.side**2 * cfg.levels], cfg.dropout)
        else:
            c, s = cfg.hidden, cfg.side // 4
            self.body = nn.Sequential(
                nn.Linear(cfg.latent, 2 * c * s * s), nn.ELU(), nn.Unflatten(1, (2 * c, s, s)),
                nn.ConvTranspose2d(2 * c, 2 * c, 4, 2, 1), nn.ELU(),
                nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ELU(),
                nn.Conv2d(c, cfg.levels, 1),
            )

    def forward(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        """x is ignored (pixels are independent given z); it is there for MADEDecoder's sake."""
        check_codes(z, self.cfg.latent)
        h = self.body(z)
        b, s, k = len(z), self.cfg.side, self.cfg.levels
        return h.view(b, s, s, k) if self.cfg.arch == "mlp" else h.permute(0, 2, 3, 1)

    def sample(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x ~ P(x | z): every pixel drawn from its own categorical, (B, H, W) long."""
        return draw_categorical(self.forward(z), generator)


class MaskedLinear(nn.Linear):
    """nn.Linear whose weight is multiplied by a fixed 0/1 mask (out, in)."""

    def __init__(self, mask: Tensor):
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.float(), persistent=False)  # rebuilt from cfg, not saved

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADEDecoder(nn.Module):
    """A "better decoder": P(x | z) = prod_i P(x_i | x_<i, z) in raster order (MADE masks,
    Germain et al. 2015), so pixels need not be independent given z. Earlier pixels enter as
    x / (K-1). With x given (training, likelihoods) one pass gives every conditional, (B, H, W, K).
    Without x, ``forward`` builds a deterministic picture for z: pixels one at a time, each set to
    its expected grey level, rounded (``decode_images``); ``sample`` draws each pixel instead."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        if cfg.arch != "mlp":
            raise ValueError("autoregressive=True needs arch='mlp'")
        self.cfg = cfg
        d, h, k = cfg.side**2, cfg.hidden, cfg.levels
        deg_in = torch.arange(1, d + 1, device="cpu")  # pixel i has degree i + 1
        deg_h = torch.arange(h, device="cpu") % (d - 1) + 1  # hidden degrees 1 .. d-1
        deg_out = deg_in.repeat_interleave(k)
        self.inp = MaskedLinear(deg_h[:, None] >= deg_in[None, :])
        self.hidden = nn.ModuleList(MaskedLinear(deg_h[:, None] >= deg_h[None, :]) for _ in range(cfg.depth - 1))
        self.out = MaskedLinear(deg_out[:, None] > deg_h[None, :])
        self.z_in = nn.Linear(cfg.latent, h)
        self.z_out = nn.Linear(cfg.latent, d * k)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        check_codes(z, self.cfg.latent)
        if x is None:
            return self._generate(z)
        s, k = self.cfg.side, self.cfg.levels
        h = self.drop(F.elu(self.inp(x.flatten(1).float() / (k - 1)) + self.z_in(z)))
        for layer in self.hidden:
            h = self.drop(F.elu(layer(h)))
        return (self.out(h) + self.z_out(z)).view(len(z), s, s, k)

    def _generate(self, z: Tensor) -> Tensor:
        """The logits (B, H, W, K) given the rounded-mean picture of z (deterministic)."""
        s, k = self.cfg.side, self.cfg.levels
        x = torch.zeros(len(z), s, s, dtype=torch.long, device=z.device)
        levels = torch.arange(k, dtype=z.dtype, device=z.device)
        for i in range(s * s):
            logits = self.forward(z, x)
            r, c = divmod(i, s)
            x[:, r, c] = (logits[:, r, c].softmax(-1) @ levels).round().long()
        return self.forward(z, x)

    def sample(self, z: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x ~ P(x | z), pixel by pixel in raster order, x_i ~ P(x_i | x_<i, z): (B, H, W) long."""
        s = self.cfg.side
        x = torch.zeros(len(z), s, s, dtype=torch.long, device=z.device)
        fill_raster(x, lambda img, r: self.forward(z, img), lambda logits: draw_categorical(logits, generator))
        return x


class PixelCNNDecoder(nn.Module):
    """The PixelVAE decoder for colour sprites: P(x | z) = prod_i P(x_i | x_<i, z) by a gated
    PixelCNN (``hidden`` channels, ``depth`` layers) that sees z in every gate
    (``helpers.models.pixel_cnn.ConditionalPixelCNN``). With x given, one pass gives every
    conditional, (B, H, W, K). Without x, ``forward`` builds a deterministic picture for z (each
    pixel its most probable colour given the ones before, what ``decode_images(how="mode")``
    shows); ``sample`` draws each pixel instead."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        if cfg.arch != "conv":
            raise ValueError("the PixelCNN decoder is the conv decoder's autoregressive form: use arch='conv'")
        self.cfg = cfg
        self.net = ConditionalPixelCNN(PixelCNNConfig(colours=cfg.levels, side=cfg.side, channels=cfg.hidden,
                                                      layers=cfg.depth, dropout=cfg.dropout), cfg.latent)

    def forward(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        check_codes(z, self.cfg.latent)
        if x is None:
            x = self._draw(z, lambda logits: logits.argmax(-1))
        return self.net.logits(x, z)

    def _draw(self, z: Tensor, draw) -> Tensor:
        s = self.cfg.side
        x = torch.zeros(len(z), s, s, dtype=torch.long, device=z.device)
        with torch.no_grad():
            self.net.fill(x, z, draw)
        return x

    def sample(self, z: Tensor, generator: torch.Generator | None = None, shared_noise: bool = False) -> Tensor:
        """x ~ P(x | z), pixel by pixel in raster order: (B, H, W) long. shared_noise: every code
        draws with the same random numbers (Gumbel-max with one noise vector per pixel for the whole
        batch), so two codes give different pictures only where z makes the decoder differ: what a
        latent slider shows. Each picture is still an exact draw from its P(x | z)."""
        check_codes(z, self.cfg.latent)
        if not shared_noise:
            return self._draw(z, lambda logits: draw_categorical(logits, generator))

        def common(logits: Tensor) -> Tensor:
            u = torch.rand(logits.shape[-1], generator=generator, device=generator_device(generator, logits.device))
            return (logits - torch.log(-torch.log(u.to(logits.device).clamp(1e-10, 1 - 1e-7)))).argmax(-1)

        return self._draw(z, common)


def make_decoder(cfg: NetConfig) -> nn.Module:
    if not cfg.autoregressive:
        return Decoder(cfg)
    return MADEDecoder(cfg) if cfg.arch == "mlp" else PixelCNNDecoder(cfg)


def reconstruction_nll(logits: Tensor, x: Tensor) -> Tensor:
    """-log P(x | z) per image in nats: logits (B, H, W, K), x (B, H, W) long -> (B,)."""
    ce = F.cross_entropy(logits.flatten(0, 2), x.flatten(), reduction="none")
    return ce.view(len(x), -1).sum(1)


# ----------------------------------------------------------------------------- model
class Autoencoder(nn.Module):
    """Slide 16: x -> encoder -> code c -> decoder -> logits; trained so that the
    reconstruction is "as close as possible": loss = mean over the batch of -log P(x | c).
    Not a generative model by itself: there is no distribution over codes (notebook 05)."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = Encoder(cfg, cfg.latent), make_decoder(cfg)

    def encode(self, x: Tensor) -> Tensor:
        """(B, H, W) -> code (B, latent)."""
        return self.encoder(x)

    def code(self, x: Tensor) -> Tensor:
        """The code of each image, (B, latent) (the same as ``encode``)."""
        return self.encode(x)

    def decode(self, z: Tensor) -> Tensor:
        """(B, latent) -> logits (B, H, W, K)."""
        return self.decoder(z)

    def loss(self, x: Tensor) -> Tensor:
        """Batch mean of -log P(x | c), nats per image."""
        return reconstruction_nll(self.decoder(self.encode(x), x), x).mean()

    def log_prob(self, x: Tensor) -> Tensor:
        raise NotImplementedError("a plain autoencoder defines no likelihood P(x): it has no distribution over "
                                  "codes; use a VAE (helpers.models.vae.VAE.log_prob_estimate, notebook 05)")

    def sample(self, n: int, *, generator: torch.Generator | None = None, prefix: Tensor | None = None) -> Tensor:
        raise NotImplementedError("a plain autoencoder cannot sample: it has no prior over codes (random "
                                  "codes fall in holes, notebook 04); use a VAE (helpers.models.vae.VAE.sample)")


def ae_loss(model: nn.Module, x: Tensor) -> Tensor:
    """loss_fn for helpers.core.train.fit: ``model.loss(x)``, nats per image."""
    return model.loss(x)


# ----------------------------------------------------------------------------- pictures
@torch.no_grad()
def decode_images(model: nn.Module, z: Tensor, how: str = "mean") -> Tensor:
    """Codes (B, latent) -> pictures, for any model with ``decode(z) -> (B, H, W, K)`` logits.
    how="mean": expected grey level E[x] (B, H, W) float (digits); how="mode": most probable
    category per pixel (B, H, W) long (Pokémon). On the device of z."""
    logits = model.decode(z)
    if how == "mode":
        return logits.argmax(-1)
    if how == "mean":
        levels = torch.arange(logits.shape[-1], dtype=logits.dtype, device=logits.device)
        return logits.softmax(-1) @ levels
    raise ValueError(f"how must be 'mean' or 'mode', got {how!r}")


@torch.no_grad()
def encode_means(model: nn.Module, x: Tensor) -> Tensor:
    """``model.code(x)`` in eval mode: the AE's code, or the VAE's posterior mean m. (B, latent)."""
    with eval_mode(model):
        return model.code(x)


# ----------------------------------------------------------------------------- training
METRICS = (Metric("test_rec_nats", "test reconstruction error -log P(x|c), nats per image", headline=True),)


def fit_autoencoder(
    model: Autoencoder,
    cfg: TrainConfig,
    data: Split,
    *,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    on_epoch: Callable[[int, History], None] | None = None,
    resume: Path | None = None,
) -> tuple[History, dict[str, float]]:
    """Train ``model`` in place on data = Split(train, valid, test) (early stopping on valid),
    on ``device`` (None = where it is). Returns the History and {"test_rec_nats": mean -log P(x|c)
    over the test images}. The caller's random state is left as it was. ``on_epoch``, ``resume``:
    see helpers.core.train.fit."""
    train, valid, test = data
    hist = fit(model, ae_loss, train, valid, cfg, device=device, progress=progress, on_epoch=on_epoch,
               resume=resume)
    return hist, declared({"test_rec_nats": evaluate(model, ae_loss, test)}, METRICS, "fit_autoencoder")


# ----------------------------------------------------------------------------- prior samples, judged
@torch.no_grad()
def image_quality(x: Tensor, train: Tensor, clf) -> dict[str, float]:
    """How digit-like are pictures x (B, 8, 8) of grey levels 0..16 (floats allowed)? "confidence":
    mean over x of the classifier's top class probability (``clf.predict_proba``, e.g.
    ``helpers.evaluate.digits.digit_classifier``); "nearest_train": mean over x of the Euclidean distance,
    pixels scaled to [0, 1], to the nearest training digit (0 = a copy)."""
    flat = x.flatten(1).float().cpu() / 16.0
    conf = clf.predict_proba(flat.numpy()).max(1).mean()
    dist = torch.cdist(flat, train.flatten(1).float().cpu() / 16.0).min(1).values.mean()
    return {"confidence": float(conf), "nearest_train": float(dist)}


@torch.no_grad()
def prior_codes(model: nn.Module, train: Tensor, n: int = 500, seed: int = 0, prior: str | None = None) -> Tensor:
    """n random codes for ``model``, drawn with torch.Generator().manual_seed(seed), on the model's device.
    prior="standard": N(0, I) (a VAE's prior); "fitted": N(mean, covariance) of the training codes
    ``encode_means(model, train)`` (an AE has no prior; this is the fairest Gaussian guess). None:
    "standard" for models with ``sample_prior``, else "fitted"."""
    prior = prior or ("standard" if hasattr(model, "sample_prior") else "fitted")
    if prior not in ("standard", "fitted"):
        raise ValueError(f"prior must be 'standard', 'fitted' or None, got {prior!r}")
    gen = torch.Generator().manual_seed(seed)
    dev = next(model.parameters()).device
    e = torch.randn(n, model.cfg.latent, generator=gen)
    if prior == "fitted":
        c = encode_means(model, train.to(dev)).cpu().double()
        chol = torch.linalg.cholesky(torch.cov(c.T).reshape(len(e[0]), -1))
        e = (c.mean(0) + e.double() @ chol.T).float()
    return e.to(dev)


def prior_sample_quality(model: nn.Module, train: Tensor, labels: Tensor, n: int = 500, seed: int = 0,
                         prior: str | None = None, clf=None) -> dict[str, float]:
    """Slide 16's question, measured on digits: decode the n random codes ``prior_codes(model, train, n,
    seed, prior)`` and judge the pictures (``image_quality``; each is the decoder's expected grey level
    E[x | z], so no pixel noise). clf: a digit classifier (default ``digit_classifier(train, labels)``)."""
    from helpers.evaluate.digits import digit_classifier

    e = prior_codes(model, train, n, seed, prior)
    with eval_mode(model):
        x = decode_images(model, e)
    return image_quality(x, train, clf if clf is not None else digit_classifier(train, labels))
