"""Component-by-component generation (lecture slides 8-13): a sprite is a sequence of colours.

Chain rule, pixels in raster order t = 0..T-1 (T = 400 for a 20x20 sprite), K = 167 colours:

    log p(x) = sum_t log p(x_t | x_<t)          (nats per sprite; / (T ln 2) = bits per pixel)

Models (all: ``forward(x (B, H, W) long) -> logits (B, H, W, K)``, the logit at pixel t
depending only on pixels before t in raster order; ``log_prob`` and ``bits_per_pixel``
below are the one place a likelihood is computed):

- ``PixelLSTM``: the lecture's model, one LSTM layer of 512 cells over the 400 pixels,
  1-of-N input (an embedding of the previous colour, plus where the pixel is) and a
  softmax over the 167 colours. ``step(tok, t, state)`` advances one pixel with the
  (h, c) state explicit, so sampling costs one LSTM step per pixel (``sample``), not a
  re-run of the whole prefix (``sample_rerun``, what public re-implementations do).
- ``PixelCNN``: a small gated PixelCNN (van den Oord et al., 2016) with masked
  convolutions in a vertical and a horizontal stack (no blind spot): 2-D context.
- ``RGBPixelLSTM``: the same LSTM reading and *regressing* RGB (slide 9's wrong way).
- ``Unigram`` / ``Bigram``: colour frequencies and raster-neighbour counts (baselines).

Training: ``python -m helpers.autoregressive train`` writes the shipped checkpoints
(seeded; horizontal flips; early stopping on the 72-sprite validation split).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import N_COLOURS, SIDE
from .train import CHECKPOINT_DIR, History, TrainConfig, fit, load_checkpoint, save_checkpoint

LN2 = math.log(2.0)
State = tuple[Tensor, Tensor]


# ----------------------------------------------------------------------------- checks
def check_sprites(x: Tensor, colours: int = N_COLOURS, name: str = "x") -> Tensor:
    """x must be (B, H, W) integer colour indices in 0..colours-1; returns it as long."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of colour indices, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"{name} must be (batch, height, width) colour indices, got shape "
                         f"{tuple(x.shape)}; add a batch dimension with x[None] for one sprite")
    if x.dtype.is_floating_point or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer colour indices, got dtype {x.dtype}; use .long()")
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= colours):
        raise ValueError(f"{name} must hold colour indices in 0..{colours - 1}, got values "
                         f"{int(x.min())}..{int(x.max())}")
    return x.long()


def check_temperature(temperature: float) -> float:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a number > 0 (1 = the model's own distribution, "
                         f"smaller = bolder colours), got {temperature!r}; for argmax use greedy=True")
    return float(temperature)


def check_cover(cover: float) -> float:
    if not (isinstance(cover, (int, float)) and 0.0 <= cover <= 1.0):
        raise ValueError(f"cover fraction must lie in [0, 1] (0.5 = hide the bottom half), got {cover!r}")
    return float(cover)


def known_pixels(cover: float, side: int = SIDE) -> int:
    """How many raster-order pixels stay visible when ``cover`` of the sprite is hidden."""
    return int(round((1.0 - check_cover(cover)) * side * side))


def cover_mask(cover: float, side: int = SIDE) -> Tensor:
    """(side, side) bool, True where hidden: the last ``cover`` of the pixels in raster order."""
    return torch.arange(side * side).reshape(side, side) >= known_pixels(cover, side)


# ----------------------------------------------------------------------------- likelihood
def log_prob(logits: Tensor, x: Tensor) -> Tensor:
    """Per-sprite log-likelihood in nats: logits (B, H, W, K), x (B, H, W) -> (B,), summed over pixels."""
    lp = F.log_softmax(logits.float(), dim=-1).gather(-1, x.unsqueeze(-1)).squeeze(-1)
    return lp.flatten(1).sum(1)


def nats_per_pixel_loss(model: nn.Module, x: Tensor) -> Tensor:
    """Training loss: mean over the batch and the pixels of -log p(x_t | x_<t), in nats."""
    logits = model(x)
    return F.cross_entropy(logits.flatten(0, -2), x.flatten())


@torch.no_grad()
def bits_per_pixel(model: nn.Module, x: Tensor, batch_size: int = 80) -> float:
    """Held-out bits per pixel: -sum log2 p(x) over sprites / (sprites * pixels)."""
    x = check_sprites(x)
    was = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(x), batch_size):
        total += float(-log_prob(model(x[i : i + batch_size]), x[i : i + batch_size]).sum())
    model.train(was)
    return total / (x.numel() * LN2)


def hflip(x: Tensor, generator: torch.Generator) -> Tensor:
    """Augmentation: mirror each sprite left-right with probability 1/2 (a Pokémon facing the other way)."""
    flip = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(flip[:, None, None], x.flip(-1), x)


# ----------------------------------------------------------------------------- baselines
class Unigram(nn.Module):
    """p(x_t) = colour frequency in the training set (add-alpha smoothed); ignores context."""

    def __init__(self, train: Tensor, alpha: float = 0.5, colours: int = N_COLOURS):
        super().__init__()
        counts = torch.bincount(check_sprites(train, colours).flatten(), minlength=colours).double()
        self.register_buffer("logp", ((counts + alpha) / (counts + alpha).sum()).log().float())

    def forward(self, x: Tensor) -> Tensor:
        return self.logp.expand(*x.shape, -1)


class Bigram(nn.Module):
    """Raster bigram p(x_t | x_{t-1}) from counts (add-alpha); pixel 0 is conditioned on START."""

    def __init__(self, train: Tensor, alpha: float = 0.05, colours: int = N_COLOURS):
        super().__init__()
        seq = check_sprites(train, colours).flatten(1)
        prev = torch.cat([torch.full_like(seq[:, :1], colours), seq[:, :-1]], 1)
        counts = torch.zeros(colours + 1, colours, dtype=torch.float64)
        counts.index_put_((prev.flatten(), seq.flatten()), torch.ones(seq.numel(), dtype=torch.float64),
                          accumulate=True)
        self.colours = colours
        self.register_buffer("logp", ((counts + alpha) / (counts + alpha).sum(1, keepdim=True)).log().float())

    def forward(self, x: Tensor) -> Tensor:
        seq = x.flatten(1)
        prev = torch.cat([torch.full_like(seq[:, :1], self.colours), seq[:, :-1]], 1)
        return self.logp[prev].reshape(*x.shape, -1)


# ----------------------------------------------------------------------------- the lecture's LSTM
@dataclass(frozen=True)
class PixelLSTMConfig:
    """hidden: LSTM cells (the lecture: 512); emb: size of the colour embedding (1-of-N times a
    matrix); position: also feed which row and column the next pixel is in; dropout on the
    LSTM output before the softmax; emb_dropout on the LSTM's input (640 sprites are few: the
    512 cells overfit without both)."""

    colours: int = N_COLOURS
    side: int = SIDE
    emb: int = 32
    hidden: int = 512
    position: bool = True
    dropout: float = 0.5
    emb_dropout: float = 0.25


class PixelLSTM(nn.Module):
    """p(x) = prod_t p(x_t | x_<t), one LSTM layer over the raster order.

    Input at step t: embedding of x_{t-1} (START for t = 0) [+ embeddings of t's row and column].
    forward: (B, H, W) long -> (B, H, W, K) logits. step: (B,) long, t -> (B, K) logits, state."""

    def __init__(self, cfg: PixelLSTMConfig = PixelLSTMConfig()):
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(cfg.colours + 1, cfg.emb)  # index `colours` = START
        if cfg.position:
            self.row = nn.Embedding(cfg.side, cfg.emb)
            self.col = nn.Embedding(cfg.side, cfg.emb)
        self.lstm = nn.LSTM(cfg.emb, cfg.hidden, batch_first=True)
        self.emb_drop = nn.Dropout(cfg.emb_dropout)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden, cfg.colours)

    def _inputs(self, prev: Tensor, t: Tensor) -> Tensor:
        e = self.emb(prev)
        if self.cfg.position:
            e = e + self.row(t // self.cfg.side) + self.col(t % self.cfg.side)
        return self.emb_drop(e)

    def forward(self, x: Tensor, state: State | None = None) -> Tensor:
        """All pixels at once (teacher forcing): (B, H, W) -> (B, H, W, K)."""
        x = check_sprites(x, self.cfg.colours)
        seq = x.flatten(1)
        prev = torch.cat([torch.full_like(seq[:, :1], self.cfg.colours), seq[:, :-1]], 1)
        h, _ = self.lstm(self._inputs(prev, torch.arange(seq.shape[1], device=x.device)), state)
        return self.out(self.drop(h)).reshape(*x.shape, -1)

    def prefix_logits(self, prefix: Tensor) -> Tensor:
        """Logits for pixels 0..L of a raster prefix (B, L) long: (B, L+1, K); used by sample_rerun."""
        prev = torch.cat([torch.full((len(prefix), 1), self.cfg.colours, dtype=torch.long), prefix], 1)
        h, _ = self.lstm(self._inputs(prev, torch.arange(prev.shape[1], device=prefix.device)))
        return self.out(h)

    def step(self, prev: Tensor, t: int, state: State | None) -> tuple[Tensor, State]:
        """One pixel: prev (B,) colour of pixel t-1 (START at t=0) -> logits for pixel t (B, K), new (h, c)."""
        tt = torch.full_like(prev, t)
        h, state = self.lstm(self._inputs(prev, tt)[:, None], state)
        return self.out(h[:, 0]), state


# ----------------------------------------------------------------------------- 2-D context: PixelCNN
@dataclass(frozen=True)
class PixelCNNConfig:
    """Gated PixelCNN: channels per stack, layers of gated masked 3x3 convolutions (dilations
    cycle through ``dilations`` to widen the receptive field), dropout before the output."""

    colours: int = N_COLOURS
    channels: int = 64
    layers: int = 8
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 1, 4)
    dropout: float = 0.1


class MaskedConv2d(nn.Conv2d):
    """Conv2d whose kernel is multiplied by a fixed 0/1 mask (the masked convolution of PixelCNN)."""

    def __init__(self, c_in: int, c_out: int, mask: Tensor, dilation: int = 1):
        kh, kw = mask.shape
        super().__init__(c_in, c_out, (kh, kw), padding=(dilation * (kh // 2), dilation * (kw // 2)),
                         dilation=dilation)
        self.register_buffer("mask", mask[None, None].float())

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


def vertical_mask(k: int, centre: bool) -> Tensor:
    """k x k: rows above the centre (and the centre row if ``centre``): the vertical stack."""
    m = torch.zeros(k, k)
    m[: k // 2 + (1 if centre else 0)] = 1
    return m


def horizontal_mask(k: int, centre: bool) -> Tensor:
    """1 x k: pixels left of the centre (and the centre if ``centre``): the horizontal stack."""
    m = torch.zeros(1, k)
    m[0, : k // 2 + (1 if centre else 0)] = 1
    return m


class GatedLayer(nn.Module):
    """tanh(a) * sigmoid(b) in both stacks; the vertical stack feeds the horizontal one;
    residual connection on the horizontal stack."""

    def __init__(self, c: int, k: int, dilation: int):
        super().__init__()
        self.v = MaskedConv2d(c, 2 * c, vertical_mask(k, True), dilation)
        self.h = MaskedConv2d(c, 2 * c, horizontal_mask(k, True), dilation)
        self.v2h = nn.Conv2d(2 * c, 2 * c, 1)
        self.h_out = nn.Conv2d(c, c, 1)

    def vertical(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """-> (next vertical stack, what it feeds the horizontal stack); row r of both depends
        on input rows above r only."""
        vf = self.v(v)
        va, vb = vf.chunk(2, 1)
        return torch.tanh(va) * torch.sigmoid(vb), self.v2h(vf)

    def horizontal(self, h: Tensor, from_v: Tensor) -> Tensor:
        hf = self.h(h) + from_v
        ha, hb = hf.chunk(2, 1)
        return h + self.h_out(torch.tanh(ha) * torch.sigmoid(hb))

    def forward(self, v: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        v_next, from_v = self.vertical(v)
        return v_next, self.horizontal(h, from_v)


class PixelCNN(nn.Module):
    """p(x) = prod_t p(x_t | x_<t) with 2-D context: (B, H, W) long -> (B, H, W, K) logits.

    First layer: masks exclude the centre (pixel t itself); the vertical stack sees the rows
    above, the horizontal stack the pixels to the left in the same row."""

    def __init__(self, cfg: PixelCNNConfig = PixelCNNConfig()):
        super().__init__()
        self.cfg = cfg
        c, k = cfg.channels, cfg.kernel
        self.emb = nn.Embedding(cfg.colours, c)
        self.v0 = MaskedConv2d(c, c, vertical_mask(k, False))
        self.h0 = MaskedConv2d(c, c, horizontal_mask(k, False))
        self.layers = nn.ModuleList(
            GatedLayer(c, k, cfg.dilations[i % len(cfg.dilations)]) for i in range(cfg.layers))
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Sequential(nn.ELU(), nn.Conv2d(c, 2 * c, 1), nn.ELU(), nn.Conv2d(2 * c, cfg.colours, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = check_sprites(x, self.cfg.colours)
        e = self.emb(x).permute(0, 3, 1, 2)
        v, h = self.v0(e), self.h0(e)
        for layer in self.layers:
            v, h = layer(v, h)
        return self.out(self.drop(h)).permute(0, 2, 3, 1)

    def row_context(self, x: Tensor, r: int) -> list[Tensor]:
        """What the vertical stack hands each layer's horizontal stack at row r: a list of
        (B, 2c, 1, W), computed from rows 0..r-1 of x (B, H, W) alone, once per row."""
        v = self.v0(self.emb(x[:, : r + 1]).permute(0, 3, 1, 2))
        ctx = []
        for layer in self.layers:
            v, from_v = layer.vertical(v)
            ctx.append(from_v[:, :, r : r + 1])
        return ctx

    def row_logits(self, row: Tensor, ctx: list[Tensor]) -> Tensor:
        """Logits (B, W, K) for every pixel of one row (B, W) given ``row_context``: entry c
        uses row[:, :c] and the rows above (exactly ``forward(x)[:, r]``)."""
        h = self.h0(self.emb(row[:, None]).permute(0, 3, 1, 2))
        for layer, from_v in zip(self.layers, ctx):
            h = layer.horizontal(h, from_v)
        return self.out(self.drop(h))[:, :, 0].permute(0, 2, 1)


# ----------------------------------------------------------------------------- RGB regression (slide 9)
@dataclass(frozen=True)
class RGBPixelLSTMConfig:
    """The same LSTM, but reading and predicting a pixel's (R, G, B) in [0, 1] (squared error)."""

    side: int = SIDE
    emb: int = 32
    hidden: int = 128
    dropout: float = 0.0


class RGBPixelLSTM(nn.Module):
    """Regression in RGB: forward (B, H, W, 3) floats -> (B, H, W, 3) predicted next colours."""

    def __init__(self, cfg: RGBPixelLSTMConfig = RGBPixelLSTMConfig()):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(3, cfg.emb)
        self.start = nn.Parameter(torch.zeros(cfg.emb))
        self.row = nn.Embedding(cfg.side, cfg.emb)
        self.col = nn.Embedding(cfg.side, cfg.emb)
        self.lstm = nn.LSTM(cfg.emb, cfg.hidden, batch_first=True)
        self.out = nn.Linear(cfg.hidden, 3)

    def _inputs(self, prev: Tensor, t: Tensor, first: bool) -> Tensor:
        e = self.inp(prev)
        if first:
            e = torch.cat([self.start.expand(len(e), 1, -1), e[:, 1:]], 1)
        s = self.cfg.side
        return e + self.row(t // s) + self.col(t % s)

    def forward(self, rgb: Tensor) -> Tensor:
        if rgb.ndim != 4 or rgb.shape[-1] != 3:
            raise ValueError(f"RGBPixelLSTM wants (B, H, W, 3) floats in [0, 1], got {tuple(rgb.shape)}")
        seq = rgb.flatten(1, 2)
        prev = torch.cat([torch.zeros_like(seq[:, :1]), seq[:, :-1]], 1)
        t = torch.arange(seq.shape[1], device=rgb.device)
        h, _ = self.lstm(self._inputs(prev, t, first=True))
        return torch.sigmoid(self.out(h)).reshape(rgb.shape)

    @torch.no_grad()
    def complete(self, rgb: Tensor, known: int) -> Tensor:
        """Keep the first ``known`` raster pixels of rgb (B, H, W, 3), predict the rest one by one
        (regression has one answer per context: the conditional mean, no sampling)."""
        seq = rgb.flatten(1, 2).clone()
        n, T = seq.shape[:2]
        state, out = None, None
        for t in range(T):
            prev = self.start.expand(n, 1, -1) if t == 0 else self.inp(seq[:, t - 1 : t])
            s = self.cfg.side
            e = prev + self.row.weight[t // s] + self.col.weight[t % s]
            h, state = self.lstm(e, state)
            out = torch.sigmoid(self.out(h[:, 0]))
            if t >= known:
                seq[:, t] = out
        return seq.reshape(rgb.shape)


def rgb_loss(model: nn.Module, rgb: Tensor) -> Tensor:
    """Mean squared error per colour channel."""
    return F.mse_loss(model(rgb), rgb)


# ----------------------------------------------------------------------------- sampling
def _draw(logits: Tensor, temperature: float, greedy: bool, generator: torch.Generator | None) -> Tensor:
    if greedy:
        return logits.argmax(-1)
    probs = F.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def _start(n: int | None, prefix: Tensor | None, known: int, side: int) -> tuple[Tensor, int]:
    if prefix is None:
        if n is None or n < 1:
            raise ValueError(f"n must be a positive number of sprites, got {n!r}")
        return torch.zeros(n, side * side, dtype=torch.long), 0
    prefix = check_sprites(prefix, name="prefix")
    if prefix.shape[1:] != (side, side):
        raise ValueError(f"prefix sprites must be {side}x{side}, got {tuple(prefix.shape[1:])}")
    if not 0 <= known <= side * side:
        raise ValueError(f"known must lie in 0..{side * side}, got {known}")
    return prefix.flatten(1).clone(), known


@torch.no_grad()
def sample(
    model: nn.Module,
    n: int | None = None,
    *,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    greedy: bool = False,
    prefix: Tensor | None = None,
    known: int = 0,
) -> Tensor:
    """Draw sprites pixel by pixel: (n, H, W) long. With ``prefix`` (B, H, W), its first ``known``
    raster pixels are kept and the rest generated (completion).

    PixelLSTM: the prefix is read in one LSTM call, then ONE ``step`` per new pixel, reusing (h, c).
    PixelCNN: the vertical stack once per row, the horizontal stack over one row per pixel.
    Any other model (baselines): the image down to the current row is re-run for every pixel.
    temperature divides the logits; greedy takes the argmax."""
    temperature = check_temperature(temperature)
    side = getattr(getattr(model, "cfg", None), "side", SIDE)
    seq, known = _start(n, prefix, known, side)
    was = model.training
    model.eval()
    try:
        if isinstance(model, PixelLSTM):
            state, prev = None, torch.full((len(seq),), model.cfg.colours, dtype=torch.long)
            if known > 0:  # read the visible prefix in one call
                inp = torch.cat([prev[:, None], seq[:, : known - 1]], 1)
                _, state = model.lstm(model._inputs(inp, torch.arange(known)), None)
                prev = seq[:, known - 1]
            for t in range(known, side * side):
                logits, state = model.step(prev, t, state)
                prev = seq[:, t] = _draw(logits, temperature, greedy, generator)
        elif isinstance(model, PixelCNN):
            # the vertical stack once per row (it sees only the rows above), then per pixel
            # just the horizontal stack over that one row (7x faster than re-running rows 0..r)
            img = seq.view(-1, side, side)
            for r in range(known // side, side):
                ctx = model.row_context(img, r)
                for c in range(known - r * side if r == known // side else 0, side):
                    img[:, r, c] = _draw(model.row_logits(img[:, r], ctx)[:, c], temperature, greedy, generator)
        else:
            for t in range(known, side * side):
                r, c = divmod(t, side)  # rows below r cannot influence pixel t: leave them out
                logits = model(seq.reshape(-1, side, side)[:, : r + 1])[:, r, c]
                seq[:, t] = _draw(logits, temperature, greedy, generator)
    finally:
        model.train(was)
    return seq.reshape(-1, side, side)


@torch.no_grad()
def sample_rerun(
    model: PixelLSTM,
    n: int,
    *,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    pixels: int | None = None,
) -> Tensor:
    """The slow way, as in public re-implementations: for every new pixel, run the LSTM over
    the WHOLE prefix again from scratch (quadratic in the number of pixels). ``pixels``: stop
    after that many (for timing); the rest stay 0. Same distribution as ``sample``."""
    temperature = check_temperature(temperature)
    T = model.cfg.side ** 2
    pixels = T if pixels is None else pixels
    seq = torch.zeros(n, T, dtype=torch.long)
    was = model.training
    model.eval()
    for t in range(pixels):
        logits = model.prefix_logits(seq[:, :t])[:, -1]
        seq[:, t] = _draw(logits, temperature, False, generator)
    model.train(was)
    return seq.reshape(n, model.cfg.side, model.cfg.side)


def complete(
    model: nn.Module,
    sprites: Tensor,
    cover: float,
    samples: int = 1,
    *,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    greedy: bool = False,
) -> Tensor:
    """Hide the last ``cover`` of each sprite (raster order) and let the model fill it in.
    sprites (B, H, W) -> (B, samples, H, W); the visible part is copied unchanged."""
    sprites = check_sprites(sprites, name="sprites")
    known = known_pixels(cover, sprites.shape[-1])
    rep = sprites.repeat_interleave(samples, 0)
    out = sample(model, prefix=rep, known=known, generator=generator, temperature=temperature, greedy=greedy)
    return out.reshape(len(sprites), samples, *sprites.shape[1:])


def time_sampling(model: PixelLSTM, n: int = 64, pixels: int | None = None, seed: int = 0,
                  rerun: bool = True) -> dict[str, float]:
    """Seconds to draw ``n`` sprites (first ``pixels`` pixels) with the cached state and by
    re-running the prefix; the benchmark calls this. Returns {"cached_s", "rerun_s", "speedup"}."""
    T = model.cfg.side ** 2
    pixels = T if pixels is None else pixels
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    if pixels == T:
        sample(model, n, generator=g)
    else:  # cached sampler on the same number of pixels: step by step
        with torch.no_grad():
            model.eval()
            state, prev = None, torch.full((n,), model.cfg.colours, dtype=torch.long)
            for t in range(pixels):
                logits, state = model.step(prev, t, state)
                prev = _draw(logits, 1.0, False, g)
    cached = time.perf_counter() - t0
    out = {"cached_s": cached}
    if rerun:
        t0 = time.perf_counter()
        sample_rerun(model, n, generator=g, pixels=pixels)
        out["rerun_s"] = time.perf_counter() - t0
        out["speedup"] = out["rerun_s"] / cached
    return out


# ----------------------------------------------------------------------------- checkpoints and training
LSTM_CKPT = CHECKPOINT_DIR / "pixel_lstm512.pt"
CNN_CKPT = CHECKPOINT_DIR / "context2d.pt"
SMALL_CKPT = CHECKPOINT_DIR / "pixel_lstm128_onehot.pt"
RGB_CKPT = CHECKPOINT_DIR / "pixel_lstm128_rgb.pt"

# The shipped LSTM-512 comes from this config (~13 s per epoch on 2 quiet CPU cores). Before
# input dropout and output dropout 0.5 it overfit: best epoch 29 of 35, 2.64 test bits/pixel.
LSTM_TRAIN = TrainConfig(epochs=80, batch_size=16, lr=2e-3, patience=8, grad_clip=1.0, seed=0)
CNN_TRAIN = TrainConfig(epochs=40, batch_size=32, lr=2e-3, patience=6, grad_clip=1.0, seed=0)
SMALL_TRAIN = TrainConfig(epochs=25, batch_size=32, lr=3e-3, patience=5, grad_clip=1.0, seed=0)
SMALL_LSTM = PixelLSTMConfig(hidden=128, dropout=0.0, emb_dropout=0.0)


def load_model(kind: str) -> tuple[nn.Module, dict]:
    """A shipped model and its {"history", "metrics"}: kind in lstm512 | context2d | small | rgb."""
    table = {
        "lstm512": (PixelLSTM, PixelLSTMConfig(), LSTM_CKPT),
        "context2d": (PixelCNN, PixelCNNConfig(), CNN_CKPT),
        "small": (PixelLSTM, SMALL_LSTM, SMALL_CKPT),
        "rgb": (RGBPixelLSTM, RGBPixelLSTMConfig(), RGB_CKPT),
    }
    if kind not in table:
        raise ValueError(f"kind must be one of {sorted(table)}, got {kind!r}")
    cls, cfg, path = table[kind]
    model = cls(cfg)
    info = load_checkpoint(path, model, cfg)
    return model.eval(), info


def train_model(model: nn.Module, train: Tensor, valid: Tensor, cfg: TrainConfig,
                progress: bool | None = None) -> History:
    """Seeded fit with horizontal flips; nats per pixel; best validation epoch kept."""
    torch.manual_seed(cfg.seed)
    return fit(model, nats_per_pixel_loss, train, valid, cfg, augment=hflip,
               device=torch.device("cpu"), progress=progress)


def heldout_table(test: Tensor, train: Tensor, models: dict[str, nn.Module]) -> dict[str, float]:
    """Held-out bits per pixel of the unigram and bigram baselines and the given models."""
    out = {"unigram (colour frequency)": bits_per_pixel(Unigram(train), test),
           "raster bigram": bits_per_pixel(Bigram(train), test)}
    out.update({name: bits_per_pixel(m, test) for name, m in models.items()})
    return out


def _train_cli(which: list[str], epochs: int | None) -> None:
    from dataclasses import replace

    from .data import load_pokemon
    from .train import seed_everything

    pokemon = load_pokemon()
    tr, va, te = pokemon.split()
    for kind in which:
        seed_everything(0)
        if kind == "rgb":
            cfg, tcfg = RGBPixelLSTMConfig(), SMALL_TRAIN
            model = RGBPixelLSTM(cfg)
            cmap = torch.from_numpy(pokemon.colormap).float() / 255
            flip = lambda b, g: cmap[hflip(b, g)]  # noqa: E731
            tcfg = replace(tcfg, epochs=epochs or tcfg.epochs)
            hist = fit(model, lambda m, b: rgb_loss(m, b if b.is_floating_point() else cmap[b]),
                       tr, va, tcfg, augment=flip, device=torch.device("cpu"))
            metrics = {"valid_mse": min(hist.valid)}
            save_checkpoint(RGB_CKPT, model, cfg, history=hist, metrics=metrics)
            print(f"rgb: valid mse {metrics['valid_mse']:.4f}, {hist.seconds:.0f} s", flush=True)
            continue
        model, tcfg, path = {
            "lstm512": (PixelLSTM(PixelLSTMConfig()), LSTM_TRAIN, LSTM_CKPT),
            "context2d": (PixelCNN(PixelCNNConfig()), CNN_TRAIN, CNN_CKPT),
            "small": (PixelLSTM(SMALL_LSTM), SMALL_TRAIN, SMALL_CKPT),
        }[kind]
        tcfg = replace(tcfg, epochs=epochs or tcfg.epochs)

        def report(epoch: int, hist: History) -> None:
            print(f"{kind} epoch {epoch + 1}: train {hist.train[-1] / LN2:.3f} "
                  f"valid {hist.valid[-1] / LN2:.3f} bits/pixel", flush=True)
            if hist.best_epoch == epoch:  # keep the best-so-far on disk: an interrupted run still ships
                save_checkpoint(path, model, model.cfg, history=hist, metrics={
                    "valid_bpp": bits_per_pixel(model, va), "test_bpp": bits_per_pixel(model, te),
                    "epochs": epoch + 1, "best_epoch": epoch + 1, "seconds": 0.0, "interrupted": 1.0})

        hist = fit(model, nats_per_pixel_loss, tr, va, tcfg, augment=hflip, device=torch.device("cpu"),
                   progress=False, on_epoch=report)
        metrics = {"valid_bpp": bits_per_pixel(model, va), "test_bpp": bits_per_pixel(model, te),
                   "epochs": len(hist.train), "best_epoch": hist.best_epoch + 1, "seconds": hist.seconds}
        save_checkpoint(path, model, model.cfg, history=hist, metrics=metrics)
        print(f"{kind}: {metrics}", flush=True)


# ----------------------------------------------------------------------------- digits (notebook 06)
# The same 2-D context model on the 8x8 digits (17 grey levels as categories): the
# autoregressive row of notebook 06's likelihood table, in nats per image.
DIGITS_CNN = PixelCNNConfig(colours=17, channels=32, layers=6, dilations=(1, 2, 1, 4), dropout=0.1)
DIGITS_TRAIN = TrainConfig(epochs=80, batch_size=32, lr=2e-3, patience=8, grad_clip=1.0, seed=0)
DIGITS_CKPT = CHECKPOINT_DIR / "context2d_digits.pt"


def digits_context_model(test: Tensor | None = None, progress: bool | None = None) -> tuple[PixelCNN, float | None]:
    """The shipped digits PixelCNN (trained on the digits train split, early-stopped on valid,
    if its checkpoint is missing) and its NLL on ``test`` in nats per image (None without test)."""
    from .data import load_digits
    from .train import evaluate, train_or_load

    torch.manual_seed(DIGITS_TRAIN.seed)
    model = PixelCNN(DIGITS_CNN)

    def train() -> tuple[History, dict[str, float]]:
        tr, va, te = load_digits().split()
        hist = fit(model, nats_per_pixel_loss, tr, va, DIGITS_TRAIN, device=torch.device("cpu"), progress=progress)
        return hist, {"valid_nats": evaluate(model, nats_per_pixel_loss, va) * 64,
                      "test_nats": evaluate(model, nats_per_pixel_loss, te) * 64}

    train_or_load(DIGITS_CKPT, model, DIGITS_CNN, train)
    model.eval()
    nll = None if test is None else evaluate(model, nats_per_pixel_loss, test) * test[0].numel()
    return model, nll


def main(argv: list[str] | None = None) -> None:
    kinds = ["small", "rgb", "context2d", "lstm512", "context2d_digits"]
    p = argparse.ArgumentParser(prog="python -m helpers.autoregressive",
                                description="Train the shipped checkpoints of notebooks 02 and 06 (seeded).")
    p.add_argument("command", choices=["train"])
    p.add_argument("--only", nargs="+", default=kinds, choices=kinds)
    p.add_argument("--epochs", type=int, default=None, help="override the epoch cap (quick checks)")
    a = p.parse_args(argv)
    if "context2d_digits" in a.only:
        DIGITS_CKPT.unlink(missing_ok=True)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a small model: one thread is fastest, and the shipped file used one
        model, nll = digits_context_model(progress=False)
        torch.set_num_threads(threads)
        print(f"context2d_digits: {load_checkpoint(DIGITS_CKPT, model, DIGITS_CNN)['metrics']}", flush=True)
    rest = [k for k in a.only if k != "context2d_digits"]
    if rest:
        _train_cli(rest, a.epochs)


if __name__ == "__main__":
    main()
