"""Latent sliders: drag a code, watch the decoder's picture change (notebooks 04, 05).

``LatentPanel(render, latent)`` shows one FloatSlider per latent dimension, a "sample from
the prior" button, an "encode this image" button (with an image index), and an
``ipywidgets.Image`` holding PNG bytes from ``helpers.notebook.plot.to_png``: no matplotlib figure is
redrawn, so an update costs one decoder call plus one small PNG encoding.

``render`` is any callable ``z -> image``: z a (latent,) float tensor, the image an (H, W)
grey or (H, W, 3) RGB float array in [0, 1]. ``decoder_render`` turns any model with
``decode(z) -> logits`` and ``cfg.levels`` (``helpers.models.autoencoders.Autoencoder``,
``helpers.models.vae.VAE``) into such a callable. The panel checks the latent length and the
image shape (the first image fixes it) and says what it expected.

Works without a browser: set ``panel.sliders[i].value`` and read ``panel.image.value``;
``panel.time_update()`` measures value change -> new bytes (for the benchmark).
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from helpers.notebook.plot import to_png

Render = Callable[[Tensor], np.ndarray]


def decoder_render(model, colormap: np.ndarray | None = None, levels: int | None = None) -> Render:
    """A render callable from a model with ``decode`` (an autoencoder or a VAE).

    Digits (colormap None): the expected grey level, ink dark on white as in show_digits.
    Pokémon (colormap given): the most probable colour of every pixel, through the colormap.
    The code goes to the model's device; the picture comes back to the CPU."""
    from helpers.models.autoencoders import decode_images
    from helpers.core.train import model_device

    def render(z: Tensor) -> np.ndarray:
        z = z[None].to(model_device(model))
        if colormap is None:
            grey = decode_images(model, z, "mean")[0].cpu().numpy()
            return 1.0 - grey / ((levels or model.cfg.levels) - 1)
        idx = decode_images(model, z, "mode")[0].cpu().numpy()
        return colormap[idx].astype(np.float32) / 255.0

    return render


class LatentPanel:
    """Sliders over a latent code and the decoded picture.

    render: z (latent,) -> (H, W) or (H, W, 3) floats in [0, 1]; latent: code length;
    encode: optional x (one image) -> (latent,) code, with ``images`` to pick from;
    generator: for "sample from the prior" (N(0, I)); limit: slider range ±limit;
    scale: screen pixels per image pixel; z0: starting code (default zeros)."""

    def __init__(
        self,
        render: Render,
        latent: int,
        *,
        encode: Callable[[Tensor], Tensor] | None = None,
        images: Tensor | Sequence | None = None,
        generator: torch.Generator | None = None,
        limit: float = 3.0,
        step: float = 0.05,
        scale: int = 16,
        z0: Tensor | None = None,
        names: Sequence[str] | None = None,
    ):
        import ipywidgets as W

        if not isinstance(latent, int) or latent < 1:
            raise ValueError(f"latent must be a positive integer (the code length), got {latent!r}")
        if (encode is None) != (images is None):
            raise ValueError("give both encode= and images= (the images the encode button picks from), "
                             "or neither")
        self.render, self.latent, self.encode_fn, self.images = render, latent, encode, images
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.scale, self.shape, self._hold = scale, None, False
        names = list(names) if names is not None else [f"z[{i}]" for i in range(latent)]
        if len(names) != latent:
            raise ValueError(f"names: expected {latent} labels, got {len(names)}")
        self.sliders = [
            W.FloatSlider(value=0.0, min=-limit, max=limit, step=step, description=n,
                          continuous_update=True, readout_format=".2f",
                          layout=W.Layout(width="320px"))
            for n in names
        ]
        self.image = W.Image(format="png")
        self.prior_button = W.Button(description="sample from the prior", icon="random")
        self.prior_button.on_click(lambda _: self.sample_prior())
        controls: list = [self.prior_button]
        if encode is not None:
            self.index = W.BoundedIntText(value=0, min=0, max=len(images) - 1, description="image #",
                                          layout=W.Layout(width="160px"))
            self.encode_button = W.Button(description="encode this image", icon="arrow-down")
            self.encode_button.on_click(lambda _: self.encode(int(self.index.value)))
            controls += [self.index, self.encode_button]
        for s in self.sliders:
            s.observe(self._on_change, names="value")
        self.widget = W.VBox([W.HBox(controls), W.HBox([W.VBox(self.sliders), self.image])])
        self.set_latent(torch.zeros(latent, device="cpu") if z0 is None else z0)

    # -- state
    @property
    def z(self) -> Tensor:
        """The current code, (latent,) float32."""
        return torch.tensor([s.value for s in self.sliders], dtype=torch.float32, device="cpu")

    def set_latent(self, z: Tensor | Sequence[float]) -> None:
        """Move every slider at once (one redraw). Values beyond the range are clipped."""
        z = torch.as_tensor(z, dtype=torch.float32, device="cpu").flatten()
        if len(z) != self.latent:
            raise ValueError(f"expected a code of length {self.latent}, got {len(z)}; "
                             f"this panel has one slider per latent dimension")
        self._hold = True
        try:
            for s, v in zip(self.sliders, z.tolist()):
                s.value = float(min(max(v, s.min), s.max))
        finally:
            self._hold = False
        self.redraw()

    def sample_prior(self) -> Tensor:
        """Draw z ~ N(0, I) with the panel's generator and show it."""
        z = torch.randn(self.latent, generator=self.generator, device=self.generator.device)
        self.set_latent(z)
        return z

    def encode(self, i: int) -> Tensor:
        """Set the sliders to the code of images[i] and show its decoding."""
        if self.encode_fn is None:
            raise RuntimeError("this panel has no encoder; pass encode= and images=")
        z = torch.as_tensor(self.encode_fn(self.images[i]), device="cpu").flatten()
        self.set_latent(z)
        return z

    # -- drawing
    def picture(self, z: Tensor) -> np.ndarray:
        """render(z), checked: an (H, W) or (H, W, 3) array with the panel's fixed shape."""
        img = self.render(z)
        img = img.detach().cpu().numpy() if isinstance(img, Tensor) else np.asarray(img)
        if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3):
            raise ValueError(f"the decoder/render callable must return an (H, W) grey or (H, W, 3) "
                             f"RGB image, got shape {img.shape}; decode one code, drop the batch "
                             "dimension, map categories to colours")
        if self.shape is None:
            self.shape = img.shape
        elif img.shape != self.shape:
            raise ValueError(f"the decoder returned an image of shape {img.shape}, expected "
                             f"{self.shape} like its first image")
        return img

    def redraw(self) -> None:
        self.image.value = to_png(self.picture(self.z), self.scale)

    def _on_change(self, change) -> None:
        if not self._hold:
            self.redraw()

    def time_update(self, n: int = 50, dim: int = 0) -> list[float]:
        """Seconds from a slider value change to new PNG bytes, n times (slider ``dim``)."""
        s, out = self.sliders[dim], []
        for i in range(n):
            before = self.image.value
            t = time.perf_counter()
            s.value = float(np.clip(s.value + (0.5 if i % 2 == 0 else -0.5), s.min, s.max))
            out.append(time.perf_counter() - t)
            if self.image.value == before:
                raise RuntimeError("the image did not change after a slider moved")
        return out

    def _ipython_display_(self):  # shows the panel when it is a cell's last expression
        from IPython.display import display

        display(self.widget)


def sweep_codes(z0: Tensor, dims: tuple[int, int], values: Sequence[float]) -> Tensor:
    """The static twin of dragging two sliders: codes (len(values)**2, latent) equal to z0
    except z[dims[0]] = row value, z[dims[1]] = column value (row-major grid)."""
    z0 = torch.as_tensor(z0, dtype=torch.float32, device="cpu").flatten()
    a, b = dims
    if not (0 <= a < len(z0) and 0 <= b < len(z0)):
        raise ValueError(f"dims must index the code of length {len(z0)}, got {dims}")
    v = torch.as_tensor(values, dtype=torch.float32, device="cpu")
    z = z0.repeat(len(v) ** 2, 1)
    z[:, a] = v.repeat_interleave(len(v))
    z[:, b] = v.repeat(len(v))
    return z
