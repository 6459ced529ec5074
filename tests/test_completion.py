"""helpers.notebook.completion: the explorer's logic without a browser."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models.pixel_lstm import PixelLSTM, PixelLSTMConfig
from helpers.notebook.completion import CompletionExplorer


@pytest.fixture()
def explorer(pokemon):
    torch.manual_seed(0)
    model = PixelLSTM(PixelLSTMConfig(hidden=32, emb=8, dropout=0.0))
    return CompletionExplorer(model, pokemon.split().test[:5], pokemon.colormap, samples=2, scale=4, cover=0.1)


def _size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def test_render_shape_and_visible_part(explorer, pokemon):
    rgb = explorer.render()
    assert rgb.shape == (20, 4 * 21 - 1, 3)
    real = pokemon.to_rgb(pokemon.split().test[0].numpy())
    np.testing.assert_allclose(rgb[:, :20], real)
    np.testing.assert_allclose(rgb[:18, 21:41], real[:18])  # 90% visible at cover 0.1


def test_widget_sliders_change_the_image(explorer):
    box = explorer.widget()
    w = explorer._widgets
    assert box is not None and _size(w["image"].value) == (83 * 4, 20 * 4)
    before = w["image"].value
    w["index"].value = 3
    assert w["image"].value != before and explorer.index == 3
    b2 = w["image"].value
    w["cover"].value = 0.2
    assert w["image"].value != b2 and explorer.cover == pytest.approx(0.2)
    b3 = w["image"].value
    w["button"].click()
    assert w["image"].value != b3 and explorer.draws == 1
    assert "held-out sprite 3" in w["label"].value
    explorer.set(temperature=0.5)
    assert w["temperature"].value == 0.5


def test_same_settings_same_picture(explorer):
    assert explorer.png() == explorer.png()


@pytest.mark.parametrize("kw, match", [({"index": 99}, "0..4"), ({"cover": 1.2}, r"\[0, 1\]"),
                                       ({"temperature": 0}, "> 0")])
def test_bad_settings_raise(explorer, kw, match):
    with pytest.raises(ValueError, match=match):
        explorer.set(**kw)


def test_figure_is_returned(explorer):
    from matplotlib.figure import Figure

    assert isinstance(explorer.figure(), Figure)
