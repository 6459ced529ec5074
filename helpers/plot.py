"""Figures for the series. Every function builds a ``matplotlib.figure.Figure`` (never pyplot),
draws into ``ax`` when one is given, and returns the figure: it shows once in a notebook
and leaks nothing in tests. Nothing here calls ``plt.show()``.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from .data import DIGIT_LEVELS, indices_to_rgb

COVER_RGB = (0.62, 0.68, 0.80)  # covered / not-yet-generated pixels; no palette colour


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax`` itself, or the axes of a new Figure of that size."""
    return ax if ax is not None else Figure(figsize=figsize, layout="constrained").add_subplot()


def _numpy(x: np.ndarray | Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def tile(images: np.ndarray | Tensor, ncols: int = 8, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) -> one (rows*(H+pad)-pad, cols*(W+pad)-pad[, 3]) mosaic."""
    x = _numpy(images).astype(np.float32)
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] != 3):
        raise ValueError(f"tile wants (N, H, W) or (N, H, W, 3), got {tuple(x.shape)}")
    if len(x) == 0:
        raise ValueError("tile got no images")
    n, h, w = x.shape[:3]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad, *x.shape[3:]), pad_value, np.float32)
    for i, img in enumerate(x):
        r, c = divmod(i, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return out


def _grid(mosaic: np.ndarray, ncols: int, nrows: int, ax: Axes | None, scale: float,
          title: str | None, **imshow) -> Figure:
    ax = new_axes(ax, (max(1.5, ncols * scale), max(1.5, nrows * scale + (0.3 if title else 0))))
    ax.imshow(mosaic, interpolation="nearest", **imshow)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def show_sprites(
    indices: np.ndarray | Tensor,
    colormap: np.ndarray,
    ncols: int = 8,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    scale: float = 0.8,
    covered: np.ndarray | Tensor | None = None,
) -> Figure:
    """A grid of Pokémon sprites given as colour indices (N, H, W), drawn through the colormap.

    covered: optional bool mask (N, H, W) or (H, W); True pixels are drawn in COVER_RGB
    (a grey-blue that is no palette colour): pixels not generated yet, or hidden.
    Tiles are separated by light grey lines (the sprites' own background is white)."""
    x = _numpy(indices)
    if x.ndim != 3:
        raise ValueError(f"show_sprites wants (N, H, W) colour indices, got {tuple(x.shape)}")
    rgb = indices_to_rgb(x, colormap)
    if covered is not None:
        mask = np.broadcast_to(_numpy(covered).astype(bool), x.shape)
        rgb[mask] = COVER_RGB
    ncols = max(1, min(ncols, len(x)))
    return _grid(tile(rgb, ncols, pad_value=0.82), ncols, -(-len(x) // ncols), ax, scale, title)


def show_digits(
    images: np.ndarray | Tensor,
    ncols: int = 8,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    scale: float = 0.6,
    vmax: float = DIGIT_LEVELS - 1,
) -> Figure:
    """A grid of grey digits (N, 8, 8), levels 0..vmax (ink dark on white, as on paper)."""
    x = _numpy(images)
    if x.ndim != 3:
        raise ValueError(f"show_digits wants (N, H, W) grey levels, got {tuple(x.shape)}")
    ncols = max(1, min(ncols, len(x)))
    return _grid(tile(x / vmax, ncols, pad_value=0.2), ncols, -(-len(x) // ncols), ax, scale,
                 title, cmap="gray_r", vmin=0.0, vmax=1.0)


def plot_history(
    history: "object",
    *,
    ax: Axes | None = None,
    ylabel: str = "loss",
    title: str | None = None,
) -> Figure:
    """Training and validation curves of a helpers.train.History, best epoch marked."""
    ax = new_axes(ax, (5, 3))
    epochs = np.arange(1, len(history.train) + 1)
    ax.plot(epochs, history.train, label="train")
    if history.valid:
        ax.plot(epochs[: len(history.valid)], history.valid, label="validation")
    if history.best_epoch >= 0:
        ax.axvline(history.best_epoch + 1, color="grey", ls=":", label="best epoch")
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.legend()
    return ax.figure


def bar_table(names: Sequence[str], values: Sequence[float], *, ax: Axes | None = None,
              xlabel: str = "", title: str | None = None) -> Figure:
    """Horizontal bars with their values written beside them (for results tables)."""
    ax = new_axes(ax, (5, 0.45 * len(names) + 1))
    y = np.arange(len(names))
    ax.barh(y, values, color="tab:blue")
    for yi, v in zip(y, values):
        ax.text(v, yi, f" {v:.2f}", va="center")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set(xlabel=xlabel, title=title)
    ax.margins(x=0.2)
    return ax.figure


def to_png(rgb: np.ndarray, scale: int = 8) -> bytes:
    """An (H, W) grey or (H, W, 3) RGB float image in [0, 1] as PNG bytes, each pixel a
    ``scale`` x ``scale`` block (for ipywidgets.Image: crisp pixels, no matplotlib)."""
    from PIL import Image

    x = np.asarray(rgb, dtype=np.float32)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[-1] != 3):
        raise ValueError(f"to_png wants (H, W) or (H, W, 3), got {tuple(x.shape)}")
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    u8 = (np.clip(x, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    u8 = u8.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="PNG")
    return buf.getvalue()
