"""helpers.notebook.widgets: the latent slider panel, driven without a browser."""

from __future__ import annotations

import io
import statistics

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models.autoencoders import digits_net, pokemon_net
from helpers.models.vae import VAE
from helpers.notebook.widgets import LatentPanel, decoder_render, sweep_codes


def _png(panel) -> Image.Image:
    return Image.open(io.BytesIO(panel.image.value))


def toy_render(z: torch.Tensor) -> np.ndarray:
    """A 6x4 picture whose left half is sigmoid(z[0]) and right half sigmoid(z[1])."""
    img = np.zeros((6, 4), np.float32)
    img[:, :2], img[:, 2:] = torch.sigmoid(z[:2]).tolist()
    return img


def test_slider_change_redraws_png():
    panel = LatentPanel(toy_render, 3, scale=5)
    before = panel.image.value
    assert _png(panel).size == (4 * 5, 6 * 5)  # PIL: (width, height)
    panel.sliders[1].value = 2.0
    assert panel.image.value != before
    img = np.asarray(_png(panel))
    assert img.shape == (30, 20)
    assert img[0, 0] == 128 and img[0, -1] == round(255 * float(torch.sigmoid(torch.tensor(2.0))))
    assert panel.z.tolist() == [0.0, 2.0, 0.0]


def test_digit_vae_panel_decodes_to_expected_size_and_is_fast():
    torch.manual_seed(0)
    vae = VAE(digits_net(4)).eval()
    images = torch.randint(0, 17, (3, 8, 8))
    panel = LatentPanel(decoder_render(vae), 4, encode=lambda x: vae.code(x[None])[0],
                        images=images, scale=12)
    assert _png(panel).size == (96, 96)
    z = panel.encode(2)
    torch.testing.assert_close(panel.z, vae.encode(images[2:3])[0][0].clamp(-3, 3), atol=0.0, rtol=0)
    times = panel.time_update(n=21)
    assert statistics.median(times) < 0.05, f"median update {statistics.median(times) * 1e3:.1f} ms"
    assert z.shape == (4,)


def test_pokemon_panel_is_rgb():
    torch.manual_seed(0)
    vae = VAE(pokemon_net(10)).eval()
    cmap = np.random.default_rng(0).integers(0, 256, (167, 3)).astype(np.uint8)
    panel = LatentPanel(decoder_render(vae, cmap), 10, scale=4)
    panel.sliders[3].value = 1.5
    img = _png(panel)
    assert img.size == (80, 80) and img.mode == "RGB"


def test_sample_prior_uses_the_generator():
    a = LatentPanel(toy_render, 3, generator=torch.Generator().manual_seed(7))
    b = LatentPanel(toy_render, 3, generator=torch.Generator().manual_seed(7))
    za, zb = a.sample_prior(), b.sample_prior()
    torch.testing.assert_close(za, zb)
    assert a.image.value == b.image.value


def test_wrong_latent_length_is_a_clear_error():
    panel = LatentPanel(toy_render, 3)
    with pytest.raises(ValueError, match="expected a code of length 3, got 5"):
        panel.set_latent(torch.zeros(5))


def test_decoder_with_wrong_output_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"must return an \(H, W\) grey or \(H, W, 3\) RGB image, got shape \(1, 8, 8\)"):
        LatentPanel(lambda z: np.zeros((1, 8, 8)), 2)
    sizes = iter([(8, 8), (9, 9)])
    panel = LatentPanel(lambda z: np.zeros(next(sizes)), 2)
    with pytest.raises(ValueError, match=r"shape \(9, 9\), expected \(8, 8\)"):
        panel.sliders[0].value = 1.0


def test_sweep_codes_grid():
    z = sweep_codes(torch.tensor([9.0, 9.0, 9.0]), (0, 2), [-1.0, 0.0, 1.0])
    assert z.shape == (9, 3)
    assert z[:, 1].eq(9).all()
    assert z[1].tolist() == [-1.0, 9.0, 0.0] and z[3].tolist() == [0.0, 9.0, -1.0]
    with pytest.raises(ValueError, match="dims must index"):
        sweep_codes(torch.zeros(3), (0, 3), [0.0])
