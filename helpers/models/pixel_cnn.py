"""Two-dimensional context (slide 13, PixelCNN): masked convolutions see the rows above and
the pixels to the left, so p(x_t | x_<t) uses the pixel *above* t, which a raster LSTM
must carry through 20 steps of state.

A small gated PixelCNN (van den Oord et al., 2016) with a vertical and a horizontal stack
(no blind spot). forward: (B, H, W) long -> (B, H, W, K) logits, logit at pixel t depending
on pixels before t in raster order only (tests check it). Sampling (``_fill``) runs the
vertical stack once per row and, per pixel, only the horizontal stack over that one row:
exactly the logits of a whole-image pass, several times cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from helpers.models.autoregressive import Draw, PixelModel
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

    def row_context(self, x: Tensor, r: int, cond: tuple[Tensor, ...] | None = None) -> list[Tensor]:
        """What the vertical stack hands each layer's horizontal stack at row r: a list of
        (B, 2c, 1, W), computed from rows 0..r-1 of x (B, H, W) alone, once per row (plus row r
        of each ``cond`` map, as in ``_logits``)."""
        v = self.v0(self.emb(x[:, : r + 1]).permute(0, 3, 1, 2))
        ctx = []
        for i, layer in enumerate(self.layers):
            v, from_v = layer.vertical(v)
            ctx.append(from_v[:, :, r : r + 1] if cond is None else from_v[:, :, r : r + 1] + cond[i][:, :, r : r + 1])
        return ctx

    def row_logits(self, row: Tensor, ctx: list[Tensor]) -> Tensor:
        """Logits (B, W, K) for every pixel of one row (B, W) given ``row_context``: entry c
        uses row[:, :c] and the rows above (exactly ``forward(x)[:, r]``)."""
        h = self.h0(self.emb(row[:, None]).permute(0, 3, 1, 2))
        for layer, from_v in zip(self.layers, ctx):
            h = layer.horizontal(h, from_v)
        return self.out(self.drop(h))[:, :, 0].permute(0, 2, 1)

    def _fill(self, img: Tensor, known: int, stop: int, draw: Draw, cond: tuple[Tensor, ...] | None = None) -> None:
        """The vertical stack once per row (it sees only the rows above), then per pixel just
        the horizontal stack over that one row; much faster than re-running rows 0..r (notebook 02 §9 times both)."""
        s = self.side
        for t in range(known, stop):
            r, c = divmod(t, s)
            if t == known or c == 0:
                ctx = self.row_context(img, r, cond)
            img[:, r, c] = draw(self.row_logits(img[:, r], ctx)[:, c])


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
        with the fast row-by-row passes of ``PixelCNN._fill`` (exactly the one-pass logits)."""
        self._fill(img, 0, self.side * self.side, draw, self.conditions(z))
