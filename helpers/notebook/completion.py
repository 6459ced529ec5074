"""The completion explorer (lecture slide 11): hide the bottom of a held-out Pokémon and let an
autoregressive model draw the rest.

``CompletionExplorer(model, sprites, colormap)`` holds the state (which sprite, how much is
covered, temperature, a sample counter) and renders one RGB strip

    real | what the model sees (hidden part grey-blue) | ``samples`` completions

``render()`` returns that strip as an (H, W, 3) float array; ``png()`` as PNG bytes
(helpers.notebook.plot.to_png). ``widget()`` wraps it in ipywidgets (sprite chooser, cover slider,
temperature slider, resample button) whose picture is an ``ipywidgets.Image`` updated with
those bytes, not a redrawn matplotlib figure. The logic needs no browser: set a slider's
value and the image's bytes change (tests/test_completion.py). ``figure()`` draws the same
strip as a static matplotlib Figure for views where widgets cannot render.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from helpers.models.autoregressive import PixelModel, check_cover, check_temperature, complete, cover_mask
from helpers.core.data import check_images, indices_to_rgb
from helpers.notebook.plot import COVER_RGB, new_axes, tile, to_png


class CompletionExplorer:
    """State + rendering of the completion panel; ``widget()`` builds the ipywidgets around it."""

    def __init__(self, model: PixelModel, sprites: Tensor, colormap: np.ndarray, *, samples: int = 3,
                 index: int = 0, cover: float = 0.5, temperature: float = 1.0, seed: int = 0,
                 scale: int = 8):
        self.model = model
        self.sprites = check_images(sprites, len(colormap), model.side, name="sprites").cpu()
        self.colormap = colormap
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        self.samples, self.scale, self.seed, self.draws = samples, scale, seed, 0
        self.index = self._check_index(index)
        self.cover = check_cover(cover)
        self.temperature = check_temperature(temperature)
        self._widgets: dict | None = None
        self._quiet = False

    def _check_index(self, index: int) -> int:
        if not (isinstance(index, (int, np.integer)) and 0 <= index < len(self.sprites)):
            raise ValueError(f"index must pick one of the {len(self.sprites)} sprites "
                             f"(0..{len(self.sprites) - 1}), got {index!r}")
        return int(index)

    def set(self, *, index: int | None = None, cover: float | None = None,
            temperature: float | None = None) -> None:
        """Change any of the three settings (validated); widgets, if built, follow."""
        if index is not None:
            self.index = self._check_index(index)
        if cover is not None:
            self.cover = check_cover(cover)
        if temperature is not None:
            self.temperature = check_temperature(temperature)
        if self._widgets is not None:
            w, self._quiet = self._widgets, True
            try:
                w["index"].value, w["cover"].value = self.index, self.cover
                w["temperature"].value = self.temperature
            finally:
                self._quiet = False
            self._refresh()

    def resample(self) -> None:
        """Draw new completions with the same settings."""
        self.draws += 1
        if self._widgets is not None:
            self._refresh()

    def completions(self) -> Tensor:
        """(samples, H, W) completions of the chosen sprite with the current settings."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.draws)
        x = self.sprites[self.index : self.index + 1]
        return complete(self.model, x, self.cover, self.samples, generator=gen,
                        temperature=self.temperature)[0].cpu()

    def strip(self) -> tuple[np.ndarray, np.ndarray]:
        """(2 + samples, H, W) colour indices and the matching covered mask (True = hidden)."""
        real = self.sprites[self.index]
        imgs = torch.cat([real[None], real[None], self.completions()]).numpy()
        mask = np.zeros(imgs.shape, bool)
        mask[1] = cover_mask(self.cover, real.shape[-1]).numpy()
        return imgs, mask

    def render(self) -> np.ndarray:
        """The strip as one RGB float mosaic (H, (2 + samples) * (W + 1) - 1, 3)."""
        imgs, mask = self.strip()
        rgb = indices_to_rgb(imgs, self.colormap)
        rgb[mask] = COVER_RGB
        return tile(rgb, ncols=len(rgb), pad_value=0.82)

    def png(self) -> bytes:
        return to_png(self.render(), self.scale)

    def caption(self) -> str:
        return (f"held-out sprite {self.index}: real | visible {1 - self.cover:.0%} | "
                f"{self.samples} completions at temperature {self.temperature:g} (draw {self.draws})")

    def figure(self, ax: Axes | None = None) -> Figure:
        """The same strip as a static Figure (for nbval and static views)."""
        ax = new_axes(ax, (1.3 * (2 + self.samples), 1.9))
        ax.imshow(self.render(), interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(self.caption(), fontsize=9)
        return ax.figure

    # ------------------------------------------------------------------ ipywidgets
    def _refresh(self) -> None:
        w = self._widgets
        w["image"].value = self.png()
        w["label"].value = self.caption()

    def widget(self):
        """An ipywidgets VBox: sprite chooser, cover slider, temperature slider, resample button, image."""
        import ipywidgets as W

        index = W.IntSlider(value=self.index, min=0, max=len(self.sprites) - 1, description="held-out #",
                            continuous_update=False)
        cover = W.FloatSlider(value=self.cover, min=0.0, max=1.0, step=0.05, description="covered",
                              readout_format=".0%", continuous_update=False)
        temp = W.FloatSlider(value=self.temperature, min=0.1, max=2.0, step=0.05,
                             description="temperature", continuous_update=False)
        button = W.Button(description="resample", icon="refresh")
        image = W.Image(value=self.png(), format="png",  # shrinks to fit a narrow notebook
                        layout=W.Layout(max_width="100%", height="auto"))
        label = W.Label(value=self.caption())
        self._widgets = {"index": index, "cover": cover, "temperature": temp, "button": button,
                         "image": image, "label": label}

        def on_change(change) -> None:
            if self._quiet:
                return
            self.index, self.cover = int(index.value), check_cover(float(cover.value))
            self.temperature = check_temperature(float(temp.value))
            self._refresh()

        for w in (index, cover, temp):
            w.observe(on_change, names="value")
        button.on_click(lambda _b: self.resample())
        return W.VBox([W.HBox([index, cover]), W.HBox([temp, button]), image, label])
