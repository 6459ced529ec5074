"""helpers.image_gan: the straight-through 1-of-N trick, shapes and errors, reproducible
training, and the shipped digits / Pokémon GAN checkpoints (their recorded numbers are what
the models do; the key results hold)."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.data import DIGIT_LEVELS, N_COLOURS, load_digits
from helpers.image_gan import (
    ImageGAN, ImageGANConfig, check_images, classes_covered, colour_tv, digit_classifier, digit_palette,
    load_gan, measure, nearest, pokemon_palette, shipped, straight_through_colours, train_gan,
)

TINY = ImageGANConfig("digits", side=8, levels=DIGIT_LEVELS, channels=1, latent=4, width=4, steps=20,
                      batch=8, frames=3, frame_samples=2)


def test_straight_through_colours_draw_from_the_softmax_and_pass_gradients():
    palette = torch.tensor([[0.0], [0.25], [0.5], [1.0]])
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0]).view(1, 4, 1, 1).repeat(20_000, 1, 1, 1).requires_grad_()
    col = straight_through_colours(logits, palette, generator=torch.Generator().manual_seed(0))
    assert col.shape == (20_000, 1, 1, 1)
    values = col.detach().flatten()
    assert torch.isin(values, palette.flatten()).all(), "forward values must be palette colours"
    freq = torch.stack([(values == v).float().mean() for v in palette.flatten()])
    torch.testing.assert_close(freq, logits[0, :, 0, 0].detach().softmax(0), atol=0.01, rtol=0)
    col.sum().backward()
    assert logits.grad is not None and (logits.grad.abs().sum((1, 2, 3)) > 0).all()


def test_shapes_and_clear_errors():
    model = ImageGAN(TINY, digit_palette())
    z = torch.randn(3, TINY.latent)
    assert model.G(z).shape == (3, DIGIT_LEVELS, 8, 8)
    x = model.generate(z)
    assert x.shape == (3, 8, 8) and x.dtype == torch.long and int(x.max()) < DIGIT_LEVELS
    assert torch.equal(model.generate(z), x), "generate (argmax) is deterministic"
    drawn = model.generate(z, draw=True, generator=torch.Generator().manual_seed(0))
    assert drawn.shape == x.shape
    assert model.fake(z[:2].repeat(1, 1)).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"z must be \(N, 4\)"):
        model.G(torch.randn(3, 5))
    with pytest.raises(ValueError, match="palette must be"):
        ImageGAN(TINY, torch.zeros(5, 1))
    with pytest.raises(ValueError, match="multiple of 4"):
        ImageGAN(ImageGANConfig("digits", side=10, levels=17, channels=1), digit_palette())
    with pytest.raises(ValueError, match="long tensor"):
        check_images(torch.zeros(2, 8, 8), TINY)
    with pytest.raises(ValueError, match=r"0\.\.16"):
        check_images(torch.full((2, 8, 8), 17), TINY)
    with pytest.raises(ValueError, match="167, 3"):
        pokemon_palette(torch.zeros(10, 3).numpy())
    with pytest.raises(KeyError, match="choose one of"):
        load_gan("cats")
    with pytest.raises(ValueError, match="colormap"):
        load_gan("pokemon")


def test_colour_indices_to_colours_is_the_one_hot_product():
    model = ImageGAN(TINY, digit_palette())
    idx = torch.randint(0, DIGIT_LEVELS, (2, 8, 8), generator=torch.Generator().manual_seed(0))
    onehot = torch.nn.functional.one_hot(idx, DIGIT_LEVELS).permute(0, 3, 1, 2).float()
    torch.testing.assert_close(model.indices_to_colours(idx), model.to_colours(onehot))


def test_training_is_reproducible_and_records_the_evolution():
    train = load_digits().split()[0][:64]
    a, hist = train_gan(TINY, train, digit_palette(), progress=False)
    b, _ = train_gan(TINY, train, digit_palette(), progress=False)
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), f"{k} differs between two seeded runs"
    assert a.evolution_steps.tolist() == [0, 10, 20]
    fixed = torch.randn(TINY.frame_samples, TINY.latent, generator=torch.Generator().manual_seed(1234))
    assert torch.equal(a.evolution[-1].long(), a.generate(fixed)), "the last frame is the trained generator"
    assert hist.train == [] and hist.seconds > 0  # fewer than 100 steps: no averaged loss yet


def test_measures():
    palette = torch.tensor([[1.0, 1.0, 1.0], [254 / 255, 254 / 255, 254 / 255], [0.0, 0.0, 0.0]])
    ref = torch.zeros(3, 2, 2, dtype=torch.long)
    ref[1, 0, 0], ref[2] = 2, 2
    s = torch.tensor([[[2, 0], [0, 1]], [[2, 2], [2, 0]]])  # index 1 is white too (254 vs 255)
    idx, frac = nearest(s, ref, palette)
    assert idx.tolist() == [1, 2] and frac.tolist() == [0.0, 0.25]
    assert colour_tv(ref, ref, palette) == 0.0
    assert colour_tv(torch.ones(1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long), palette) == 0.0
    assert math.isclose(colour_tv(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 2), palette), 1.0)
    grey = digit_palette()  # every one of the 17 levels is its own colour
    _, frac = nearest(torch.tensor([[[1]]]), torch.tensor([[[0]]]), grey)
    assert frac.tolist() == [1.0]


@pytest.fixture(scope="module")
def digits_data():
    d = load_digits()
    return d.split()[0], d.split_labels()[0]


def test_shipped_digits_gan(digits_data):
    train, labels = digits_data
    model, info = load_gan("digits")
    assert model.cfg == shipped()["digits"]
    got = measure(model, train, clf=digit_classifier(train, labels))
    for k, v in info["metrics"].items():  # the recorded numbers are what the model does
        assert math.isclose(got[k], v, abs_tol=1e-6), f"{k}: checkpoint says {v}, the model gives {got[k]}"
    assert got["classes_covered"] >= 9, "the digits GAN should draw (almost) every digit class"
    assert got["nearest_train_diff"] > 0.1, "samples should not be copies of training digits"
    covered, hist = classes_covered(digit_classifier(train, labels), model.sample(1000, torch.Generator().manual_seed(1)))
    assert covered >= 9 and hist.max() < 0.3, f"collapsed onto a few digits: {hist.round(2)}"


def test_shipped_pokemon_gan(pokemon):
    train = pokemon.split()[0]
    model, info = load_gan("pokemon", pokemon.colormap)
    assert model.cfg == shipped()["pokemon"] and model.cfg.levels == N_COLOURS
    got = measure(model, train)
    for k, v in info["metrics"].items():
        assert math.isclose(got[k], v, abs_tol=1e-6), f"{k}: checkpoint says {v}, the model gives {got[k]}"
    assert got["nearest_train_diff"] > 0.1, "samples should not be copies of training sprites"
    x = model.sample(200, torch.Generator().manual_seed(0))
    assert len({tuple(s.flatten().tolist()) for s in x}) > 150, "most of 200 samples should differ: no collapse"
    assert model.evolution_steps[-1] == model.cfg.steps and (model.evolution[0] != model.evolution[-1]).any()
