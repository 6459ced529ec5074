"""Component-by-component generation (lecture slides 6-13): an image is a sequence of pixels.

Chain rule, pixels in raster order t = 0..T-1 (T = side², e.g. 400 for a 20x20 sprite),
K levels per pixel (167 Pokémon colours, 17 digit grey levels):

    log p(x) = sum_t log p(x_t | x_<t)          (nats per image; / (T ln 2) = bits per pixel)

``PixelMixture`` averages the probabilities of several such models: itself one of them.
``PixelEnsemble`` averages their predictions pixel by pixel: also one of them.
``PixelModel`` is the contract every autoregressive image model of the series keeps:
``forward(x (B, H, W) long) -> logits (B, H, W, K)`` where the logit at pixel t depends only
on the pixels before t; ``log_prob(x) -> (B,)`` nats from those logits; ``sample(n, *,
generator, prefix=None, known=0)`` draws pixels one at a time (the first ``known`` raster
pixels of ``prefix`` are kept: completion). The base class samples by re-running the model
on the rows so far for every pixel; the pixel LSTM (helpers.models.pixel_lstm) and the PixelCNN
(helpers.models.pixel_cnn) override ``_fill`` with their cached samplers. Baselines here:
``Unigram`` (colour frequencies) and ``Bigram`` (raster-neighbour counts).

Training: ``fit_autoregressive`` (mean nats per pixel, early stopping on validation), called
by ``python -m helpers.registry train NAME``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.core.checkpoints import Metric, declared
from helpers.core.contract import draw_categorical, eval_mode
from helpers.core.data import Split, check_images
from helpers.core.train import History, TrainConfig, fit, model_device

LN2 = math.log(2.0)
Draw = Callable[[Tensor], Tensor]


# ----------------------------------------------------------------------------- checks
def check_temperature(temperature: float) -> float:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a number > 0 (1 = the model's own distribution, "
                         f"smaller = sharper, towards the most likely colour), got {temperature!r}; "
                         "for argmax use greedy=True")
    return float(temperature)


def check_cover(cover: float) -> float:
    if not (isinstance(cover, (int, float)) and 0.0 <= cover <= 1.0):
        raise ValueError(f"cover fraction must lie in [0, 1] (0.5 = hide the bottom half), got {cover!r}")
    return float(cover)


def known_pixels(cover: float, side: int) -> int:
    """How many raster-order pixels stay visible when ``cover`` of the image is hidden."""
    return int(round((1.0 - check_cover(cover)) * side * side))


def cover_mask(cover: float, side: int) -> Tensor:
    """(side, side) bool, True where hidden: the last ``cover`` of the pixels in raster order."""
    return torch.arange(side * side, device="cpu").reshape(side, side) >= known_pixels(cover, side)


def draw_pixels(logits: Tensor, temperature: float = 1.0, greedy: bool = False,
                generator: torch.Generator | None = None) -> Tensor:
    """One level per row of logits (B, K) -> (B,) long on the logits' device: the argmax
    (greedy), or a draw from softmax(logits / temperature) with ``generator`` on its own device
    (``helpers.core.contract.draw_categorical``), so a seed gives the same pixels on every device."""
    return logits.argmax(-1) if greedy else draw_categorical(logits, generator, temperature)


# ----------------------------------------------------------------------------- the contract
class PixelModel(nn.Module):
    """Base of the autoregressive image models: ``side`` and ``levels`` set by the subclass."""

    side: int
    levels: int

    def log_prob(self, x: Tensor) -> Tensor:
        """Per-image log-likelihood in nats, (B,): sum over pixels of log p(x_t | x_<t)."""
        x = check_images(x, self.levels, self.side)
        lp = F.log_softmax(self(x).float(), dim=-1).gather(-1, x.unsqueeze(-1)).squeeze(-1)
        return lp.flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int | None = None, *, generator: torch.Generator | None = None,
               prefix: Tensor | None = None, known: int = 0, temperature: float = 1.0,
               greedy: bool = False, stop: int | None = None) -> Tensor:
        """Draw images pixel by pixel: (n, side, side) long on the model's device. With
        ``prefix`` (B, side, side), its first ``known`` raster pixels are kept and the rest
        generated (completion). temperature divides the logits; greedy takes the argmax;
        ``stop``: generate raster pixels up to stop-1 only, the rest stay 0 (for timing)."""
        temperature = check_temperature(temperature)
        dev, s = model_device(self), self.side
        if prefix is None:
            if n is None or n < 1:
                raise ValueError(f"n must be a positive number of images, got {n!r}")
            img, known = torch.zeros(n, s, s, dtype=torch.long, device=dev), 0
        else:
            img = check_images(prefix, self.levels, s, name="prefix").to(dev).clone()
            if not 0 <= known <= s * s:
                raise ValueError(f"known must lie in 0..{s * s}, got {known}")
        with eval_mode(self):
            stop = s * s if stop is None else min(stop, s * s)
            self._fill(img, known, stop, lambda logits: draw_pixels(logits, temperature, greedy, generator))
        return img

    def _fill(self, img: Tensor, known: int, stop: int, draw: Draw) -> None:
        """Generate raster pixels known..stop-1 of img (B, side, side) in place. Here: re-run
        the model on the rows down to the current one for every pixel (rows below cannot matter)."""
        fill_raster(img, lambda x, r: self(x[:, : r + 1]), draw, known, stop)


def fill_raster(img: Tensor, logits: Callable[[Tensor, int], Tensor], draw: Draw, known: int = 0,
                stop: int | None = None) -> None:
    """The plain raster sampler: for t = known..stop-1 (pixel (r, c) = divmod(t, side)),
    ``img[:, r, c] = draw(logits(img, r)[:, r, c])``, in place on img (B, side, side);
    ``logits(img, r)`` -> (B, >r, side, K) may read only the pixels before t. stop=None: every pixel."""
    s = img.shape[-1]
    for t in range(known, s * s if stop is None else stop):
        r, c = divmod(t, s)
        img[:, r, c] = draw(logits(img, r)[:, r, c])


def nats_per_pixel_loss(model: nn.Module, x: Tensor) -> Tensor:
    """Training loss: mean over the batch and the pixels of -log p(x_t | x_<t), in nats."""
    logits = model(x)
    return F.cross_entropy(logits.flatten(0, -2), x.flatten())


@torch.no_grad()
def bits_per_pixel(model: PixelModel, x: Tensor, batch_size: int = 80) -> float:
    """Held-out bits per pixel: -sum log2 p(x) over images / (images * pixels)."""
    x = check_images(x, model.levels, model.side)
    dev = model_device(model)
    with eval_mode(model):
        total = sum(float(-model.log_prob(x[i : i + batch_size].to(dev)).sum()) for i in range(0, len(x), batch_size))
    return total / (x.numel() * LN2)


def complete(model: PixelModel, images: Tensor, cover: float, samples: int = 1, *,
             generator: torch.Generator | None = None, temperature: float = 1.0,
             greedy: bool = False) -> Tensor:
    """Hide the last ``cover`` of each image (raster order) and let the model fill it in.
    images (B, H, W) -> (B, samples, H, W); the visible part is copied unchanged."""
    images = check_images(images, model.levels, model.side, name="images")
    known = known_pixels(cover, model.side)
    rep = images.repeat_interleave(samples, 0)
    out = model.sample(prefix=rep, known=known, generator=generator, temperature=temperature, greedy=greedy)
    return out.reshape(len(images), samples, *images.shape[1:])


# ----------------------------------------------------------------------------- baselines
class Unigram(PixelModel):
    """p(x_t) = colour frequency in the training set (add-alpha smoothed); ignores context."""

    def __init__(self, train: Tensor, levels: int, alpha: float = 0.5):
        super().__init__()
        train = check_images(train, levels)
        self.side, self.levels = train.shape[-1], levels
        counts = torch.bincount(train.flatten(), minlength=levels).double()
        self.register_buffer("logp", ((counts + alpha) / (counts + alpha).sum()).log().float())

    def forward(self, x: Tensor) -> Tensor:
        return self.logp.expand(*x.shape, -1)


class Bigram(PixelModel):
    """Raster bigram p(x_t | x_{t-1}) from counts (add-alpha); pixel 0 is conditioned on START."""

    def __init__(self, train: Tensor, levels: int, alpha: float = 0.05):
        super().__init__()
        train = check_images(train, levels)
        self.side, self.levels = train.shape[-1], levels
        seq = train.flatten(1)
        prev = torch.cat([torch.full_like(seq[:, :1], levels), seq[:, :-1]], 1)
        counts = torch.zeros(levels + 1, levels, dtype=torch.float64, device=train.device)
        counts.index_put_((prev.flatten(), seq.flatten()),
                          torch.ones(seq.numel(), dtype=torch.float64, device=train.device), accumulate=True)
        self.register_buffer("logp", ((counts + alpha) / (counts + alpha).sum(1, keepdim=True)).log().float())

    def forward(self, x: Tensor) -> Tensor:
        seq = x.flatten(1)
        prev = torch.cat([torch.full_like(seq[:, :1], self.levels), seq[:, :-1]], 1)
        return self.logp[prev].reshape(*x.shape, -1)


def heldout_table(test: Tensor, train: Tensor, models: dict[str, PixelModel], levels: int) -> dict[str, float]:
    """Held-out bits per pixel of the unigram and bigram baselines and the given models."""
    out = {"unigram (colour frequency)": bits_per_pixel(Unigram(train, levels), test),
           "raster bigram": bits_per_pixel(Bigram(train, levels), test)}
    out.update({name: bits_per_pixel(m, test) for name, m in models.items()})
    return out


# ----------------------------------------------------------------------------- mixtures
def _shared_shape(components: list[PixelModel], what: str) -> tuple[int, int]:
    """(side, levels) that every component shares, or ValueError."""
    if not components:
        raise ValueError(f"{what} needs at least one component")
    shapes = {(c.side, c.levels) for c in components}
    if len(shapes) != 1:
        raise ValueError(f"components must share side and levels, got {sorted(shapes)}")
    return shapes.pop()


class PixelMixture(PixelModel):
    """p(x) = (1/K) sum_k p_k(x): the average of K models' probabilities is itself a model
    (a Gaussian mixture's components are Gaussians, here they are whole autoregressive models).

    It is autoregressive too: p(x_t | x_<t) = sum_k w_k(x_<t) p_k(x_t | x_<t) with weights
    w_k ∝ p_k(x_<t), each component's posterior given the pixels so far; ``forward`` returns
    the log of that conditional, so the chain rule gives log_prob exactly. ``sample`` picks a
    component (uniformly, or by its posterior given ``prefix[:known]``), then lets it draw
    with its own fast sampler: the same distribution at temperature 1; at another temperature
    the chosen component is tempered."""

    def __init__(self, components: list[PixelModel]):
        super().__init__()
        self.side, self.levels = _shared_shape(components, "a mixture")
        self.parts = nn.ModuleList(components)

    def _log_cond(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(K, B, H, W, levels) log p_k(x_t = . | x_<t), and (K, B, H*W) log p_k(x_t | x_<t) of
        the pixels x holds."""
        logp = torch.stack([F.log_softmax(c(x).float(), -1) for c in self.parts])
        seen = logp.gather(-1, x.expand(len(self.parts), *x.shape).unsqueeze(-1)).squeeze(-1).flatten(2)
        return logp, seen

    def forward(self, x: Tensor) -> Tensor:
        logp, seen = self._log_cond(x)
        before = (seen.cumsum(-1) - seen).reshape(seen.shape[0], *x.shape)  # log p_k(x_<t)
        weights = F.log_softmax(before, dim=0).unsqueeze(-1)  # posterior over components at t
        return torch.logsumexp(weights + logp, dim=0)

    def log_prob(self, x: Tensor) -> Tensor:
        x = check_images(x, self.levels, self.side)
        return torch.logsumexp(torch.stack([c.log_prob(x) for c in self.parts]), 0) - math.log(len(self.parts))

    @torch.no_grad()
    def sample(self, n: int | None = None, *, generator: torch.Generator | None = None,
               prefix: Tensor | None = None, known: int = 0, temperature: float = 1.0,
               greedy: bool = False, stop: int | None = None) -> Tensor:
        k = len(self.parts)
        if prefix is None:
            if n is None or n < 1:
                raise ValueError(f"n must be a positive number of images, got {n!r}")
            logw = torch.zeros(n, k)
        else:
            prefix = check_images(prefix, self.levels, self.side, name="prefix")
            _, seen = self._log_cond(prefix.to(model_device(self)))
            logw = seen[:, :, :known].sum(-1).T.cpu()  # (B, K): log p_k(prefix's known pixels)
        pick = logw.argmax(1) if greedy else draw_categorical(logw, generator)
        out = None
        for j, part in enumerate(self.parts):
            rows = (pick == j).nonzero()[:, 0]
            if len(rows) == 0:
                continue
            kw = {"prefix": prefix[rows], "known": known} if prefix is not None else {"n": len(rows)}
            drawn = part.sample(generator=generator, temperature=temperature, greedy=greedy, stop=stop, **kw)
            if out is None:
                out = torch.zeros(len(pick), self.side, self.side, dtype=torch.long, device=drawn.device)
            out[rows.to(drawn.device)] = drawn
        return out



class PixelEnsemble(PixelModel):
    """p(x) = prod_t (1/K) sum_k p_k(x_t | x_<t): at every pixel, the average of K models'
    predictions for that pixel. Each factor is a mixture (slide 24) of the components'
    conditionals with fixed weights 1/K, so it sums to 1 over the levels, and by the chain rule the
    product is a normalised model with an exact likelihood. Unlike ``PixelMixture`` (one
    component per image, weights following the evidence) it mixes afresh at every pixel, so it
    can be better than every component on every image. Sampling draws each pixel from the
    averaged conditional, which at temperature 1 is the same as picking a component uniformly at
    that pixel and drawing from its conditional; a temperature divides the averaged log-probabilities.
    When every component is a PixelCNN of kernel 3, sampling keeps one ``RasterCache`` per component;
    otherwise it re-runs the components on the rows so far for every pixel (the base class's loop)."""

    def __init__(self, components: list[PixelModel]):
        super().__init__()
        self.side, self.levels = _shared_shape(components, "an ensemble")
        self.parts = nn.ModuleList(components)

    @staticmethod
    def _average(logits: list[Tensor]) -> Tensor:
        """log of the mean of the components' softmaxes (a normalised log-distribution)."""
        logp = torch.stack([F.log_softmax(x.float(), -1) for x in logits])
        return torch.logsumexp(logp, 0) - math.log(len(logits))

    def forward(self, x: Tensor) -> Tensor:
        return self._average([c(x) for c in self.parts])

    def _fill(self, img: Tensor, known: int, stop: int, draw: Draw) -> None:
        if not all(getattr(c, "cached_sampling", False) for c in self.parts):
            return super()._fill(img, known, stop, draw)
        s, caches = self.side, [part.raster_cache(img) for part in self.parts]
        for t in range(known, stop):
            img[:, t // s, t % s] = draw(self._average([cache.logits(t) for cache in caches]))


# ----------------------------------------------------------------------------- training
METRICS = (
    Metric("test_bpp", "held-out (test) bits per pixel", headline=True),
    Metric("test_nats", "held-out (test) nats per image", headline=True),
    Metric("valid_bpp", "validation bits per pixel"),
    Metric("valid_nats", "validation nats per image"),
    Metric("epochs", "epochs trained"),
    Metric("best_epoch", "the epoch whose weights were kept (1 = first)"),
    Metric("seconds", "training time (checkpoints made before it moved to meta)"),
)


def fit_autoregressive(model: PixelModel, cfg: TrainConfig, data: Split, *, device=None, progress=None,
                       augment=None, on_epoch=None, resume=None) -> tuple[History, dict[str, float]]:
    """Train on data = (train, valid, test) by the mean nats per pixel, early-stopped on valid
    (``augment``: e.g. helpers.core.data.hflip; ``resume``: see helpers.core.train.fit). Metrics:
    held-out bits/pixel and nats/image."""
    train, valid, test = data
    hist = fit(model, nats_per_pixel_loss, train, valid, cfg, augment=augment, device=device,
               progress=progress, on_epoch=on_epoch, resume=resume)
    metrics = {"epochs": len(hist.train), "best_epoch": hist.best_epoch + 1}
    for split, x in (("valid", valid), ("test", test)):
        bpp = bits_per_pixel(model, x)
        metrics[f"{split}_bpp"] = bpp
        metrics[f"{split}_nats"] = bpp * LN2 * x[0].numel()
    return hist, declared(metrics, METRICS, "fit_autoregressive")
