"""helpers.notebook.plot: functions return Figures (no pyplot state), tile geometry, PNG encoding."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from helpers.notebook.plot import COVER_RGB, bar_table, plot_history, show_digits, show_sprites, tile, to_png
from helpers.core.train import History


def test_tile_geometry_and_padding():
    x = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    out = tile(x, ncols=2, pad=1, pad_value=-1)
    assert out.shape == (3 * 3 - 1, 2 * 4 - 1)
    np.testing.assert_array_equal(out[0:2, 4:7], x[1])
    np.testing.assert_array_equal(out[6:8, 0:3], x[4])
    assert (out[2, :] == -1).all() and (out[6:8, 4:7] == -1).all()  # pad row, empty last cell
    assert tile(np.zeros((3, 4, 4, 3)), ncols=8).shape == (4, 14, 3)


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), np.zeros((2, 4, 4, 2))])
def test_tile_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        tile(bad)


def test_figures_do_not_touch_pyplot(pokemon):
    before = plt.get_fignums()
    figs = [
        show_sprites(pokemon.images[:10], pokemon.colormap, ncols=5),
        show_digits(np.random.default_rng(0).integers(0, 17, (6, 8, 8))),
        plot_history(History(train=[3, 2, 1], valid=[3.5, 2.5, 2.6], best_epoch=1)),
        bar_table(["a", "b"], [1.0, 2.0]),
    ]
    assert all(isinstance(f, Figure) for f in figs)
    assert plt.get_fignums() == before


def test_show_sprites_draws_the_colormap_and_cover(pokemon):
    fig = show_sprites(pokemon.images[:2], pokemon.colormap, ncols=2, covered=np.eye(20, dtype=bool))
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (20, 41, 3)
    np.testing.assert_allclose(img[0, 0], COVER_RGB, atol=1e-6)  # covered diagonal
    np.testing.assert_allclose(img[0, 1], pokemon.colormap[pokemon.images[0, 0, 1]] / 255, atol=1e-6)
    with pytest.raises(ValueError, match="colour indices"):
        show_sprites(pokemon.images[0], pokemon.colormap)


def test_show_sprites_into_given_axes(pokemon):
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    assert show_sprites(pokemon.images[:3], pokemon.colormap, ax=ax) is fig


def test_to_png_round_trip():
    rgb = np.zeros((2, 3, 3), np.float32)
    rgb[1, 2] = (1.0, 0.5, 0.0)
    png = to_png(rgb, scale=4)
    img = np.asarray(Image.open(io.BytesIO(png)))
    assert img.shape == (8, 12, 3)
    assert tuple(img[7, 11]) == (255, 128, 0) and tuple(img[0, 0]) == (0, 0, 0)
    assert np.asarray(Image.open(io.BytesIO(to_png(np.ones((2, 2)), scale=1)))).shape == (2, 2)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\)"):
        to_png(np.zeros((2, 2, 4)))
