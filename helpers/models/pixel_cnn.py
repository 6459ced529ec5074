"""Two-dimensional context (slide 13, PixelCNN): masked convolutions see the rows above and
the pixels to the left, so p(x_t | x_<t) uses the pixel *above* t, which a raster LSTM
must carry through 20 steps of state.

A small gated PixelCNN (van den Oord et al., 2016) with a vertical and a horizontal stack
(no blind spot). forward: (B, H, W) long -> (B, H, W, K) logits, logit at pixel t depending
on pixels before t in raster order only (tests check it). Sampling (``_fill``) keeps what
each layer computed (``RasterCache``, the 2-D counterpart of an LSTM's state and of the
WaveNet's cached queues of notebook 03): per pixel it computes one new column of each layer's
horizontal stack, and per row one new row of each layer's vertical stack, from the rows it
kept. The logits are those of a whole-image pass (to float rounding), at a cost per row that
stays the same from the first row to the last (re-running the network on the rows so far for
every pixel costs more with every row).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.models.autoregressive import Draw, PixelModel, fill_raster
from helpers.core.data import N_COLOURS, SIDE, check_images


@dataclass(frozen=True)
class PixelCNNConfig:
    """Gated PixelCNN on side x side images with ``colours`` levels: channels per stack, layers
    of gated masked convolutions (dilations cycle through ``dilations`` to widen the receptive
    field), dropout before the output."""

    colours: int = N_COLOURS
    side: int = SIDE
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
    m = torch.zeros(k, k, device="cpu")
    m[: k // 2 + (1 if centre else 0)] = 1
    return m


def horizontal_mask(k: int, centre: bool) -> Tensor:
    """1 x k: pixels left of the centre (and the centre if ``centre``): the horizontal stack."""
    m = torch.zeros(1, k, device="cpu")
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


class PixelCNN(PixelModel):
    """p(x) = prod_t p(x_t | x_<t) with 2-D context: (B, H, W) long -> (B, H, W, K) logits.

    First layer: masks exclude the centre (pixel t itself); the vertical stack sees the rows
    above, the horizontal stack the pixels to the left in the same row."""

    def __init__(self, cfg: PixelCNNConfig = PixelCNNConfig()):
        super().__init__()
        self.cfg, self.side, self.levels = cfg, cfg.side, cfg.colours
        c, k = cfg.channels, cfg.kernel
        self.emb = nn.Embedding(cfg.colours, c)
        self.v0 = MaskedConv2d(c, c, vertical_mask(k, False))
        self.h0 = MaskedConv2d(c, c, horizontal_mask(k, False))
        self.layers = nn.ModuleList(
            GatedLayer(c, k, cfg.dilations[i % len(cfg.dilations)]) for i in range(cfg.layers))
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Sequential(nn.ELU(), nn.Conv2d(c, 2 * c, 1), nn.ELU(), nn.Conv2d(2 * c, cfg.colours, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self._logits(x)

    def _logits(self, x: Tensor, cond: tuple[Tensor, ...] | None = None) -> Tensor:
        """One pass over x (B, H, W) -> (B, H, W, K); ``cond``: one (B, 2c, H, W) map per layer,
        added to that layer's horizontal gate (``ConditionalPixelCNN``)."""
        x = check_images(x, self.cfg.colours)
        e = self.emb(x).permute(0, 3, 1, 2)
        v, h = self.v0(e), self.h0(e)
        for i, layer in enumerate(self.layers):
            v, from_v = layer.vertical(v)
            h = layer.horizontal(h, from_v if cond is None else from_v + cond[i])
        return self.out(self.drop(h)).permute(0, 2, 3, 1)

    @property
    def cached_sampling(self) -> bool:
        """Whether ``RasterCache`` can draw from this model: it is written for kernel 3 (every model of the series)."""
        return self.cfg.kernel == 3

    def raster_cache(self, img: Tensor, cond: tuple[Tensor, ...] | None = None) -> RasterCache:
        """Logits of img's pixels one at a time, in raster order, reusing every layer's work."""
        return RasterCache(self, img, cond)

    def _fill(self, img: Tensor, known: int, stop: int, draw: Draw, cond: tuple[Tensor, ...] | None = None) -> None:
        """With ``RasterCache`` (per pixel a new column of each layer's horizontal stack, per row a new row of
        each vertical stack), not the network re-run on the rows so far for every pixel (the base class's
        loop; notebook 02 section 9 times both), which a model whose kernel size is not 3 still uses."""
        if not self.cached_sampling:
            if cond is not None:
                return fill_raster(img, lambda x, r: self._logits(x[:, : r + 1], tuple(m[:, :, : r + 1] for m in cond)),
                                   draw, known, stop)
            return super()._fill(img, known, stop, draw)
        cache = self.raster_cache(img, cond)
        s = self.side
        for t in range(known, stop):
            img[:, t // s, t % s] = draw(cache.logits(t))


class RasterCache:
    """Drawing pixel by pixel with a gated PixelCNN of kernel 3, nothing computed twice.

    The vertical stack's row r depends on the rows above only: in a gated layer, on rows r and
    r - d of the vertical stack below (d its dilation; the first layer reads row r - 1 of the
    pixels), so one new row per layer is computed when drawing reaches row r, from the rows kept.
    A gated layer's horizontal stack at column c depends on columns c and c - d of the horizontal
    stack below in the same row (the first layer: pixel c - 1) and on this layer's pre-gate
    vertical features at (r, c), through its 1x1 link (plus the map of z of a conditional model):
    one new column per layer per pixel. ``logits(t)`` -> (B, K) for raster pixel t, reading only
    ``img``'s pixels before t (``img`` is read, never written); calls go in raster order, from
    any first t (the rows and columns before it are computed on that first call)."""

    def __init__(self, model: PixelCNN, img: Tensor, cond: tuple[Tensor, ...] | None = None):
        if not model.cached_sampling:
            raise ValueError(f"RasterCache reads the taps of 3x3 and 1x3 masks; this model has kernel {model.cfg.kernel}: "
                             "draw with model.sample(), which then re-runs the network for every pixel")
        self.model, self.img, self.cond = model, img, cond
        b, s, c = img.shape[0], model.side, model.cfg.channels
        self.pad = max(layer.v.dilation[1] for layer in model.layers)  # zero rows above, zero columns left
        zeros = model.emb.weight.new_zeros
        self.v_in = [zeros(b, c, self.pad + s, s) for _ in model.layers]  # each layer's vertical input, kept rows
        self.h_in = [zeros(b, c, self.pad + s) for _ in model.layers]  # its horizontal input, this row's columns
        self.from_v: list[Tensor] = []  # row r of what each layer's vertical stack hands its horizontal one
        self.rows, self.last = 0, -1  # vertical rows computed; the last pixel drawn

        def taps(conv: MaskedConv2d) -> Tensor:
            return conv.weight * conv.mask

        self.v0 = taps(model.v0)[:, :, :1]  # the row above only
        self.h0 = taps(model.h0)[:, :, 0, 0]  # the pixel to the left only
        self.v = [taps(layer.v)[:, :, :2] for layer in model.layers]  # rows r - d and r (the third is masked)
        self.h = [taps(layer.h)[:, :, 0] for layer in model.layers]  # columns c - d and c, then the masked one
        self.h_out = [layer.h_out.weight[:, :, 0, 0] for layer in model.layers]

    def _vertical(self, r: int) -> None:
        m, p, img = self.model, self.pad, self.img
        if r == 0:
            v = m.v0.bias[None, :, None, None].expand(len(img), -1, 1, m.side)
        else:
            v = F.conv2d(m.emb(img[:, r - 1]).permute(0, 2, 1)[:, :, None], self.v0, m.v0.bias, padding=(0, 1))
        self.from_v = []
        for i, layer in enumerate(m.layers):
            d = layer.v.dilation[1]
            self.v_in[i][:, :, p + r] = v[:, :, 0]
            vf = F.conv2d(self.v_in[i][:, :, [p + r - d, p + r]], self.v[i], layer.v.bias, padding=(0, d), dilation=(1, d))
            va, vb = vf.chunk(2, 1)
            v = torch.tanh(va) * torch.sigmoid(vb)
            from_v = layer.v2h(vf)[:, :, 0]
            self.from_v.append(from_v if self.cond is None else from_v + self.cond[i][:, :, r])

    def _horizontal(self, r: int, c: int) -> Tensor:
        m, p = self.model, self.pad
        if c == 0:
            h = m.h0.bias.expand(len(self.img), -1)
        else:
            h = F.linear(m.emb(self.img[:, r, c - 1]), self.h0, m.h0.bias)
        for i, layer in enumerate(m.layers):
            d = layer.h.dilation[1]
            self.h_in[i][:, :, p + c] = h
            hf = (F.linear(self.h_in[i][:, :, p + c - d], self.h[i][:, :, 0]) + F.linear(h, self.h[i][:, :, 1], layer.h.bias)
                  + self.from_v[i][:, :, c])
            ha, hb = hf.chunk(2, 1)
            h = h + F.linear(torch.tanh(ha) * torch.sigmoid(hb), self.h_out[i], layer.h_out.bias)
        return h

    def logits(self, t: int) -> Tensor:
        """(B, K) logits of raster pixel t given img's pixels before t."""
        s = self.model.side
        if not self.last < t < s * s:
            raise ValueError(f"pixels go in raster order, each once: pixel {t} after pixel {self.last} "
                             f"(0..{s * s - 1}); start a new cache to draw again")
        r, c = divmod(t, s)
        while self.rows <= r:  # rows not computed yet (all of them up to r on a first call)
            self._vertical(self.rows)
            self.rows += 1
        done = self.last % s + 1 if self.last // s == r else 0  # this row's columns computed so far
        for col in range(done, c):  # those before c not computed yet (on a first call mid-row)
            self._horizontal(r, col)
        h = self._horizontal(r, c)
        self.last = t
        out = self.model.out  # ELU, 1x1 conv, ELU, 1x1 conv: the same on one column
        h = F.elu(self.model.drop(h))
        h = F.elu(F.linear(h, out[1].weight[:, :, 0, 0], out[1].bias))
        return F.linear(h, out[3].weight[:, :, 0, 0], out[3].bias)


class ConditionalPixelCNN(PixelCNN):
    """p(x | z) = prod_t p(x_t | x_<t, z): the gated PixelCNN whose every gate also sees a
    picture-shaped map of a code z (the PixelVAE decoder, Gulrajani et al. 2017). z enters
    through a small deconvolution to (layers * 2c, H, W), one slice added to each layer's
    horizontal gate; since the map depends on z alone, pixel t still sees only x_<t.
    ``logits(x, z)``: (B, H, W, K) in one pass; ``fill(img, z, draw)``: pixel by pixel."""

    def __init__(self, cfg: PixelCNNConfig, latent: int):
        super().__init__(cfg)
        if cfg.side % 4:
            raise ValueError(f"the code's map is upsampled 4x: side must be a multiple of 4, got {cfg.side}")
        c, s = cfg.channels, cfg.side // 4
        self.latent = latent
        self.z_map = nn.Sequential(
            nn.Linear(latent, c * s * s), nn.ELU(), nn.Unflatten(1, (c, s, s)),
            nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ELU(), nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ELU(),
            nn.Conv2d(c, 2 * c * cfg.layers, 1))

    def conditions(self, z: Tensor) -> tuple[Tensor, ...]:
        """One (B, 2c, H, W) map of z per layer."""
        return self.z_map(z).chunk(self.cfg.layers, 1)

    def logits(self, x: Tensor, z: Tensor) -> Tensor:
        return self._logits(x, self.conditions(z))

    def forward(self, x: Tensor) -> Tensor:
        raise TypeError("a ConditionalPixelCNN needs a code: call logits(x, z)")

    def fill(self, img: Tensor, z: Tensor, draw: Draw) -> None:
        """Every pixel of img (B, H, W) in raster order, img[:, r, c] = draw(logits of p(x_t | x_<t, z)),
        with the cached sampler of ``PixelCNN._fill`` (the one-pass logits, to float rounding)."""
        self._fill(img, 0, self.side * self.side, draw, self.conditions(z))
