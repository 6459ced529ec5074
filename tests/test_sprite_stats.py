"""The four sprite statistics on hand-made sprites whose answers are known, and on the data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.evaluate.sprite_stats import STATS, background_colours, dark_colours, distance, sprite_stats, summary

# white background, black outline, red and blue body colours
CMAP = np.array([[255, 255, 255], [0, 0, 0], [220, 30, 30], [30, 30, 220]])


def _creature() -> np.ndarray:
    """A 6x6 sprite: one 4x4 figure in the middle, outlined in black, a 2x2 red belly."""
    x = np.zeros((6, 6), dtype=np.int64)
    x[1:5, 1:5] = 1
    x[2:4, 2:4] = 2
    return x


def test_one_outlined_creature():
    s = sprite_stats(_creature()[None], CMAP)
    assert s["background"][0] == pytest.approx(20 / 36)
    assert s["blobs"][0] == 1
    assert s["outline"][0] == 1.0           # every border pixel of the figure is black
    assert s["colours"][0] == 3             # white, black, red


def test_speckle_is_many_blobs_without_outline():
    x = np.zeros((6, 6), dtype=np.int64)
    x[::2, ::2] = 2                         # nine isolated red pixels, not even diagonal neighbours
    s = sprite_stats(x[None], CMAP)
    assert s["blobs"][0] == 9 and s["outline"][0] == 0.0 and s["colours"][0] == 2
    assert s["background"][0] == pytest.approx(27 / 36)


def test_diagonal_neighbours_are_one_figure_and_the_image_edge_is_a_border():
    x = np.eye(4, dtype=np.int64) * 2
    assert sprite_stats(x[None], CMAP)["blobs"][0] == 1
    full = np.full((1, 3, 3), 1)            # no background at all: the edge pixels are the border
    s = sprite_stats(full, CMAP)
    assert s["background"][0] == 0 and s["outline"][0] == 1.0 and s["blobs"][0] == 1


def test_a_white_the_eye_cannot_tell_from_the_background_is_background():
    cmap = np.vstack([CMAP, [[254, 254, 254], [240, 240, 240]]])  # 4: looks like 0; 5: a visible light grey
    assert background_colours(cmap).tolist() == [True, False, False, False, True, False]
    x = _creature()
    x[0, :] = 4                             # a top row in near-white: still background
    x[5, :] = 5                             # a bottom row in light grey: part of the figure
    s = sprite_stats(x[None], cmap)
    assert s["background"][0] == pytest.approx(14 / 36) and s["blobs"][0] == 1


def test_dark_colours_and_tensors():
    assert dark_colours(CMAP).tolist() == [False, True, False, True]   # blue is dark by luminance
    assert summary(torch.from_numpy(_creature()[None]), CMAP) == summary(_creature()[None], CMAP)


def test_bad_input_says_what_to_pass():
    with pytest.raises(ValueError, match="not RGB"):
        sprite_stats(np.zeros((1, 6, 6, 3)), CMAP)
    with pytest.raises(ValueError, match=r"must lie in 0\.\.3"):
        sprite_stats(np.full((1, 2, 2), 7), CMAP)


def test_distance_is_zero_on_the_reference_and_grows_with_the_difference():
    ref = np.stack([_creature(), np.roll(_creature(), 1, axis=1), np.roll(_creature(), 1, axis=0)])
    assert distance(summary(ref, CMAP), ref, CMAP) == pytest.approx(0, abs=1e-9)
    speckle = np.zeros((3, 6, 6), dtype=np.int64)
    speckle[:, ::2, ::2] = 2
    assert distance(summary(speckle, CMAP), ref, CMAP) > 10


def test_the_data_is_one_outlined_figure_on_white(pokemon):
    """The facts the statistics rest on, measured on the course's sprites (all 792)."""
    s = summary(pokemon.images, pokemon.colormap)
    assert set(s) == set(STATS)
    assert 0.35 < s["background"] < 0.42          # the course README: 37.9% of pixels are index 0
    assert s["blobs"] < 1.2 and s["outline"] > 0.7 and 20 < s["colours"] < 35


def test_temperature_sweep_picks_the_tau_whose_samples_look_like_the_reference():
    """A fake model whose samples are real-looking creatures at τ = 0.9 and speckle elsewhere."""
    from helpers.evaluate.sprite_stats import temperature_sweep

    ref = np.stack([_creature(), np.roll(_creature(), 1, axis=1), np.roll(_creature(), 1, axis=0)])
    speckle = np.zeros((3, 6, 6), dtype=np.int64)
    speckle[:, ::2, ::2] = 2

    class Fake:
        def sample(self, n, *, generator, temperature):
            assert isinstance(generator, torch.Generator)
            return torch.from_numpy(ref if temperature == 0.9 else speckle)

    by_tau, gap, best = temperature_sweep(Fake(), ref, CMAP, taus=(0.7, 0.9, 1.1))
    assert best == 0.9 and gap[0.9] == pytest.approx(0, abs=1e-9) and min(gap[0.7], gap[1.1]) > 10
    assert by_tau[0.9] == summary(ref, CMAP)
