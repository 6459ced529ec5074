"""The lecture's pixel LSTM (slides 8-12): one LSTM layer reads the sprite pixel by pixel.

    h_t, c_t = LSTM(e(x_{t-1}) [+ e_row(t) + e_col(t)], (h_{t-1}, c_{t-1}))
    p(x_t | x_<t) = softmax(W h_t)                        over K colours (1-of-N, not RGB)

The state (h, c) is explicit: ``step(prev, t, state)`` advances one pixel, so drawing a
sprite costs one LSTM step per pixel (``sample``, through ``_fill``); ``sample_rerun``
re-runs the LSTM over the whole prefix for every new pixel, as public re-implementations
do (quadratic in the number of pixels; the same distribution). ``RGBPixelLSTM`` is slide 9's
wrong way: the same LSTM regressing a pixel's (R, G, B).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.models.autoregressive import Draw, PixelModel, check_temperature, draw_pixels
from helpers.core.checkpoints import Metric, declared
from helpers.core.contract import eval_mode
from helpers.core.data import N_COLOURS, POKEMON, SIDE, Split, check_images
from helpers.core.train import History, TrainConfig, fit, model_device

State = tuple[Tensor, Tensor]


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


class PixelLSTM(PixelModel):
    """p(x) = prod_t p(x_t | x_<t), one LSTM layer over the raster order.

    Input at step t: embedding of x_{t-1} (START for t = 0) [+ embeddings of t's row and column].
    forward: (B, H, W) long -> (B, H, W, K) logits. step: (B,) long, t -> (B, K) logits, state."""

    def __init__(self, cfg: PixelLSTMConfig = PixelLSTMConfig()):
        super().__init__()
        self.cfg, self.side, self.levels = cfg, cfg.side, cfg.colours
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

    def _shifted(self, seq: Tensor) -> Tensor:
        """(B, L) raster colours -> (B, L) inputs: START, then x_0 .. x_{L-2}."""
        return torch.cat([torch.full_like(seq[:, :1], self.cfg.colours), seq[:, :-1]], 1)

    def forward(self, x: Tensor, state: State | None = None) -> Tensor:
        """All pixels at once (teacher forcing): (B, H, W) -> (B, H, W, K)."""
        x = check_images(x, self.cfg.colours)
        seq = x.flatten(1)
        h, _ = self.lstm(self._inputs(self._shifted(seq), torch.arange(seq.shape[1], device=x.device)), state)
        return self.out(self.drop(h)).reshape(*x.shape, -1)

    def read(self, prefix: Tensor) -> State:
        """Feed a raster prefix x_0..x_{L-1} (B, L >= 1) in one LSTM call (inputs START, x_0 ..
        x_{L-2}): the state from which ``step(x_{L-1}, L, state)`` predicts pixel L."""
        _, state = self.lstm(self._inputs(self._shifted(prefix), torch.arange(prefix.shape[1], device=prefix.device)))
        return state

    def step(self, prev: Tensor, t: int, state: State | None) -> tuple[Tensor, State]:
        """One pixel: prev (B,) colour of pixel t-1 (START at t=0) -> logits for pixel t (B, K), new (h, c)."""
        tt = torch.full_like(prev, t)
        h, state = self.lstm(self._inputs(prev, tt)[:, None], state)
        return self.out(h[:, 0]), state

    def _fill(self, img: Tensor, known: int, stop: int, draw: Draw) -> None:
        """The cached sampler: the visible prefix is read in one LSTM call, then ONE ``step``
        per new pixel, reusing (h, c)."""
        seq = img.view(len(img), -1)
        state, prev = None, torch.full((len(seq),), self.cfg.colours, dtype=torch.long, device=seq.device)
        if known > 0:
            state = self.read(seq[:, :known])
            prev = seq[:, known - 1]
        for t in range(known, stop):
            logits, state = self.step(prev, t, state)
            prev = seq[:, t] = draw(logits)

    @torch.no_grad()
    def sample_rerun(self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0,
                     pixels: int | None = None) -> Tensor:
        """The slow way, as in public re-implementations: for every new pixel, run the LSTM over
        the WHOLE prefix again from scratch (quadratic in the number of pixels). ``pixels``: stop
        after that many (for timing); the rest stay 0. Same distribution as ``sample``."""
        temperature = check_temperature(temperature)
        T = self.side ** 2
        pixels = T if pixels is None else pixels
        dev = model_device(self)
        seq = torch.zeros(n, T, dtype=torch.long, device=dev)
        start = torch.full((n, 1), self.cfg.colours, dtype=torch.long, device=dev)
        with eval_mode(self):
            for t in range(pixels):  # inputs START, x_0 .. x_{t-1}: all t+1 steps again, every time
                h, _ = self.lstm(self._inputs(torch.cat([start, seq[:, :t]], 1), torch.arange(t + 1, device=dev)))
                seq[:, t] = draw_pixels(self.out(h[:, -1]), temperature, False, generator)
        return seq.reshape(n, self.side, self.side)


def time_sampling(model: PixelLSTM, n: int = 64, pixels: int | None = None, seed: int = 0,
                  rerun: bool = True) -> dict[str, float]:
    """Seconds to draw ``n`` sprites (first ``pixels`` pixels) with the cached state and by
    re-running the prefix; the benchmark calls this. Returns {"cached_s", "rerun_s", "speedup"}."""
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    model.sample(n, generator=g, stop=pixels)
    out = {"cached_s": time.perf_counter() - t0}
    if rerun:
        t0 = time.perf_counter()
        model.sample_rerun(n, generator=g, pixels=pixels)
        out["rerun_s"] = time.perf_counter() - t0
        out["speedup"] = out["rerun_s"] / out["cached_s"]
    return out


# ----------------------------------------------------------------------------- RGB regression (slide 9)
@dataclass(frozen=True)
class RGBPixelLSTMConfig:
    """The same LSTM, but reading and predicting a pixel's (R, G, B) in [0, 1] (squared error)."""

    side: int = SIDE
    emb: int = 32
    hidden: int = 128
    dropout: float = 0.0


class RGBPixelLSTM(nn.Module):
    """Regression in RGB: forward (B, H, W, 3) floats -> (B, H, W, 3) predicted next colours.

    Not a generative model of colour indices, and the one shipped model outside the contract of
    ``helpers.core.contract`` (``tests/test_contract.py`` lists it as an exception): trained by
    squared error, it predicts a single colour per context, an estimate of the mean RGB of the
    next pixel, not a distribution over the palette's colours. So it has no ``log_prob`` (there is
    no probability of a sprite's colour indices to report) and no ``sample`` (there is nothing
    to draw from; an averaged colour need not be in the palette at all). What it has is
    ``complete``: the one deterministic continuation of a prefix."""

    def __init__(self, cfg: RGBPixelLSTMConfig = RGBPixelLSTMConfig()):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(3, cfg.emb)
        self.start = nn.Parameter(torch.zeros(cfg.emb, device="cpu"))
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


METRICS = (Metric("valid_mse", "best validation squared error per RGB channel", headline=True),)


def fit_rgb(model: RGBPixelLSTM, cfg: TrainConfig, data: Split, *, device=None, progress=None,
            augment=None, palette: Tensor | None = None, on_epoch=None,
            resume: Path | None = None) -> tuple[History, dict[str, float]]:
    """Train the RGB regression on sprites (colour indices) shown in ``palette`` colours
    (levels, 3; default: the Pokémon colormap); ``augment`` (e.g. flips) acts on the indices
    before they become RGB. ``on_epoch``, ``resume``: see helpers.core.train.fit."""
    train, valid, _ = data
    palette = POKEMON.palette() if palette is None else palette
    cmap = palette.to(model_device(model) if device is None else device)

    def to_rgb(b: Tensor, g: torch.Generator) -> Tensor:
        return cmap[(augment(b, g) if augment else b).to(cmap.device)]

    hist = fit(model, lambda m, b: rgb_loss(m, b if b.is_floating_point() else cmap[b]),
               train, valid, cfg, augment=to_rgb, device=device, progress=progress, on_epoch=on_epoch,
               resume=resume)
    return hist, declared({"valid_mse": min(hist.valid)}, METRICS, "fit_rgb")
