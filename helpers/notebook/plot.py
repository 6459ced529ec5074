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

from helpers.core.data import DIGIT_LEVELS, indices_to_rgb
from helpers.models.audio import SAMPLE_RATE

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
    """Training and validation curves of a helpers.core.train.History, best epoch marked."""
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
    ax = new_axes(ax, (8, 0.45 * len(names) + 1))
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


def code_grid(values: Sequence[float]) -> np.ndarray:
    """2-D codes on a grid, (n*n, 2), in the row order show_code_grid draws them: rows run
    from the largest z[1] (top) to the smallest, columns from the smallest z[0] (left)."""
    v = np.asarray(values, dtype=np.float32)
    z1, z0 = np.meshgrid(v[::-1], v, indexing="ij")
    return np.stack([z0.ravel(), z1.ravel()], 1)


def show_code_grid(
    images: np.ndarray | Tensor,
    values: Sequence[float],
    *,
    ax: Axes | None = None,
    title: str | None = None,
    labels: tuple[str, str] = ("code $z_1$", "code $z_2$"),
    size: float = 5.0,
) -> Figure:
    """Decoded pictures of the 2-D codes ``code_grid(values)`` as one image whose axes are the
    code values (slide 18). images: (n*n, H, W) darkness in [0, 1] (ink = 1) or (n*n, H, W, 3) RGB."""
    x = _numpy(images).astype(np.float32)
    n = len(values)
    if len(x) != n * n:
        raise ValueError(f"expected {n * n} images for a {n}x{n} grid of codes, got {len(x)}")
    step = (values[-1] - values[0]) / max(1, n - 1)
    lo, hi = values[0] - step / 2, values[-1] + step / 2
    ax = new_axes(ax, (size, size))
    mosaic = tile(x if x.ndim == 4 else 1.0 - x, n, pad=1, pad_value=0.75)
    ax.imshow(mosaic, extent=(lo, hi, lo, hi), interpolation="nearest",
              **({} if x.ndim == 4 else {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}))
    ax.set(xlabel=labels[0], ylabel=labels[1], title=title)
    return ax.figure


def scatter_codes(
    codes: np.ndarray | Tensor,
    labels: np.ndarray | Tensor,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    lim: float | None = None,
    axis_labels: tuple[str, str] = ("code $z_1$", "code $z_2$"),
) -> Figure:
    """Encoded images as points in the 2-D code plane, coloured by their label (digit 0-9),
    with a legend; lim: draw [-lim, lim] in both axes (the range of a show_code_grid)."""
    c, y = _numpy(codes), _numpy(labels)
    if c.ndim != 2 or c.shape[1] != 2:
        raise ValueError(f"scatter_codes wants 2-D codes of shape (N, 2), got {c.shape}")
    ax = new_axes(ax, (5.6, 5))
    cmap = matplotlib_colormap("tab10")
    for d in np.unique(y):
        sel = y == d
        ax.scatter(c[sel, 0], c[sel, 1], s=9, color=cmap(int(d) % 10), label=str(d), alpha=0.8)
    if lim is not None:
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim))
    ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1], title=title)
    ax.set_aspect("equal")
    ax.legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2, frameon=False)
    return ax.figure


def matplotlib_colormap(name: str):
    from matplotlib import colormaps

    return colormaps[name]


# ---------------------------------------------------------------- sound (notebook 03)
def plot_audio(wave: Tensor | np.ndarray, sample_rate: int = SAMPLE_RATE, *, title: str = "",
               axes: Sequence[Axes] | None = None, zoom_ms: float = 40.0, zoom_start: float = 0.0) -> Figure:
    """Waveform (whole clip, and a zoom of zoom_ms from zoom_start seconds) and spectrogram of one clip (T,).

    axes: three axes to draw into (waveform, zoom, spectrogram); a new Figure if None."""
    x = np.asarray(wave.detach().cpu() if isinstance(wave, Tensor) else wave, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"plot_audio wants one clip of shape (T,), got {x.shape}; pick one with wave[i]")
    if axes is None:
        fig = Figure(figsize=(10, 2.4), layout="constrained")
        axes = fig.subplots(1, 3, width_ratios=[2, 1, 2])
    a, b, c = axes
    t = np.arange(len(x)) / sample_rate
    a.plot(t, x, lw=0.4)
    a.set(xlabel="time (s)", ylabel="amplitude", ylim=(-1, 1), title=f"{title} waveform".strip())
    z = (t >= zoom_start) & (t < zoom_start + zoom_ms / 1000)
    b.plot(t[z] * 1000, x[z], lw=0.8)
    where = "first" if zoom_start == 0 else f"at {zoom_start:g} s:"
    b.set(xlabel="time (ms)", ylim=(-1, 1), title=f"{where} {zoom_ms:g} ms")
    a.axvspan(zoom_start, zoom_start + zoom_ms / 1000, color="tab:orange", alpha=0.3, lw=0)
    c.specgram(x, NFFT=256, Fs=sample_rate, noverlap=128, cmap="magma", vmin=-120, interpolation="nearest")
    c.set(xlabel="time (s)", ylabel="frequency (Hz)", ylim=(0, 3000), title=f"{title} spectrogram".strip())
    return a.figure


def plot_dilated_stack(dilations: Sequence[int] = (1, 2, 4, 8), kernel: int = 2, *,
                       ax: Axes | None = None) -> Figure:
    """WaveNet's figure: which inputs one output sees through a stack of dilated causal convs.
    The input is shifted right by one sample, so the output above sample t (red: the sample it
    predicts) reads the R samples before it (orange), never t itself."""
    R = 1 + (kernel - 1) * sum(dilations)
    T = R + 4
    ax = new_axes(ax, (0.38 * T + 2.5, 0.7 * len(dilations) + 2.1))
    L = len(dilations)
    for level in range(L + 1):
        ax.scatter(np.arange(T), np.full(T, level), s=22, color="lightgrey", zorder=2)
    # trace back from the last output
    active = {T - 1}
    for level in range(L, 0, -1):
        d, below = dilations[level - 1], set()
        for t in active:
            for k in range(kernel):
                s = t - k * d
                if s >= 0:
                    ax.plot([t, s], [level, level - 1], color="tab:blue", lw=1.2, zorder=1)
                    below.add(s)
        ax.scatter(sorted(active), [level] * len(active), s=30, color="tab:blue", zorder=3)
        active = below
    # the one-sample shift: the input row holds the samples shifted right by one (position s holds sample s - 1)
    ax.scatter(sorted(active), [0] * len(active), s=30, color="tab:blue", zorder=3)
    ax.scatter(np.arange(T), np.full(T, -1), s=22, color="lightgrey", zorder=2)
    for s in sorted(active):
        ax.plot([s, s - 1], [0, -1], color="tab:orange", lw=1.0, zorder=1)
    seen = sorted(s - 1 for s in active)
    ax.scatter(seen, [-1] * len(seen), s=36, color="tab:orange", zorder=3)
    ax.scatter([T - 1], [-1], s=60, color="tab:red", marker="s", zorder=4)
    ax.annotate("the sample the output predicts: not among its inputs", xy=(T - 1, -1), xytext=(T - 1.5, -1.75),
                ha="right", fontsize=8, color="tab:red", arrowprops={"arrowstyle": "->", "color": "tab:red"})
    names = ["samples", "input (samples shifted right by one)"] + [f"dilation {d}" for d in dilations]
    names[-1] = f"output (dilation {dilations[-1]})"
    ax.set_yticks(range(-1, L + 1), names)
    ax.set_xticks([])
    ax.set_ylim(-2.0, L + 0.4)
    ax.set_xlabel(f"time →  (the rightmost output sees the {R} orange samples before the red one;\n"
                  f"1 + (kernel−1)·Σ dilations = {R})")
    for s in ("top", "right", "bottom"):
        ax.spines[s].set_visible(False)
    return ax.figure
