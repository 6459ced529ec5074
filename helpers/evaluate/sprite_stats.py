"""How Pokémon-like are sprites? Four statistics that a sample of a good model shares with the data.

Likelihood says how well a model predicts held-out sprites; it does not say whether its samples
look like creatures. A real sprite is one figure on a white background, drawn with a dark outline
and a handful of colours. So, per sprite (colour indices; the background is index 0 and every
colour the eye cannot tell from it, within ``NEAR`` of its RGB: the map also holds 251..254
greys, which the data uses for 1.7% of its pixels and the GAN of notebook 08 for almost half):

- ``background``: the fraction of pixels that are background (the data: about 40%);
- ``blobs``: the number of 8-connected figures that are not background (a creature is one;
  texture without shape gives many small ones);
- ``outline``: of the figure's border pixels (non-background pixels with a background pixel or the
  image edge among their 4 neighbours), the share drawn in a dark colour (luminance below
  ``DARK``): sprites are outlined, blurry or speckled samples are not;
- ``colours``: the number of distinct colours.

``sprite_stats`` gives them per sprite, ``summary`` their means over a set, and ``distance`` how far
one summary is from another, each statistic scaled by the spread of the reference sprites;
``temperature_sweep`` chooses the sampling temperature by that distance (on validation sprites,
never test), for notebook 02 and ``make bench`` alike.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

STATS = ("background", "blobs", "outline", "colours")
DARK = 0.3  # luminance (0..1) below which a colour counts as outline-dark
NEAR = 8  # RGB steps (0..255, largest channel) within which a colour looks like the background
_EIGHT = np.ones((3, 3), dtype=bool)


def _indices(images: np.ndarray | Tensor) -> np.ndarray:
    x = images.detach().cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
    if x.ndim != 3 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"expected colour indices of shape (N, H, W) with an integer dtype, got "
                         f"{x.shape} {x.dtype}: pass sprites as indices into the colormap, not RGB")
    return x


def _rgb255(colormap: np.ndarray) -> np.ndarray:
    """The colormap as floats in 0..255, whether it came in 0..255 or in 0..1."""
    rgb = np.asarray(colormap, dtype=float)
    return rgb * 255 if rgb.max() <= 1 else rgb


def dark_colours(colormap: np.ndarray) -> np.ndarray:
    """(levels,) bool: colours darker than DARK (Rec. 601 luminance, 0..1)."""
    return _rgb255(colormap) / 255 @ np.array([0.299, 0.587, 0.114]) < DARK


def background_colours(colormap: np.ndarray, background: int = 0) -> np.ndarray:
    """(levels,) bool: the background colour and those within NEAR of it in every channel."""
    rgb = _rgb255(colormap)
    return np.abs(rgb - rgb[background]).max(axis=1) <= NEAR


def sprite_stats(images: np.ndarray | Tensor, colormap: np.ndarray, background: int = 0) -> dict[str, np.ndarray]:
    """The four statistics of each sprite: {name: (N,) array}."""
    x = _indices(images)
    if x.max(initial=0) >= len(colormap) or x.min(initial=0) < 0:
        raise ValueError(f"colour indices must lie in 0..{len(colormap) - 1}, got {x.min()}..{x.max()}")
    dark = dark_colours(colormap)
    figure = ~background_colours(colormap, background)[x]
    padded = np.pad(figure, ((0, 0), (1, 1), (1, 1)), constant_values=False)
    inner = padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:]
    border = figure & ~inner
    n_border = border.sum(axis=(1, 2))
    n_dark = (border & dark[x]).sum(axis=(1, 2))
    return {
        "background": 1 - figure.mean(axis=(1, 2)),
        "blobs": np.array([ndimage.label(f, structure=_EIGHT)[1] for f in figure], dtype=float),
        "outline": np.where(n_border > 0, n_dark / np.maximum(n_border, 1), 0.0),
        "colours": np.array([len(np.unique(im)) for im in x], dtype=float),
    }


def summary(images: np.ndarray | Tensor, colormap: np.ndarray, background: int = 0) -> dict[str, float]:
    """The mean of each statistic over the sprites."""
    return {k: float(v.mean()) for k, v in sprite_stats(images, colormap, background).items()}


def distance(stats: dict[str, float], reference: np.ndarray | Tensor, colormap: np.ndarray) -> float:
    """How far a summary is from the reference sprites': the root mean square over the four
    statistics of (mean - reference mean) / reference standard deviation."""
    ref = sprite_stats(reference, colormap)
    z = [(stats[k] - ref[k].mean()) / max(ref[k].std(), 1e-6) for k in STATS]
    return float(np.sqrt(np.mean(np.square(z))))


TAUS = (0.7, 0.8, 0.9, 1.0, 1.1)


def temperature_sweep(model, reference: np.ndarray | Tensor, colormap: np.ndarray, taus: tuple[float, ...] = TAUS,
                      n: int = 128, seed: int = 3) -> tuple[dict[float, dict[str, float]], dict[float, float], float]:
    """Choose a sampling temperature by these statistics: for each τ, the summary of ``n`` samples
    of ``model`` (drawn with Generator(seed)) and its distance from the ``reference`` sprites
    (validation sprites, never test). Returns (summaries, distances, the closest τ)."""
    by_tau = {t: summary(model.sample(n, generator=torch.Generator().manual_seed(seed), temperature=t), colormap)
              for t in taus}
    gap = {t: distance(s, reference, colormap) for t, s in by_tau.items()}
    return by_tau, gap, min(gap, key=gap.get)
