"""helpers.models.image_gan: the straight-through 1-of-N trick, shapes and errors, no likelihood,
reproducible training through fit_image_gan, and the shipped digits / Pokémon GAN checkpoints
(their recorded numbers are what the models do; the key results hold)."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.models.adversarial import GANTrainConfig
from helpers.core.data import DIGIT_LEVELS, N_COLOURS, Split, dataset, load_digits
from helpers.evaluate.digits import classes_covered, digit_classifier
from helpers.models.image_gan import (
    ImageGAN, ImageGANConfig, colour_tv, fit_image_gan, measure, nearest, straight_through_colours,
)
from helpers.core.train import seeded

TINY = ImageGANConfig("digits", latent=4, width=4, frames=3,
                      frame_samples=2)
TINY_TRAIN = GANTrainConfig(steps=20, batch=8, lr_g=2e-4, lr_d=2e-4, seed=0)
POKEMON_SMALL = ImageGANConfig("pokemon", latent=6, width=4)


pytestmark = pytest.mark.usefixtures("one_thread")  # small nets: one thread is fastest on 2 shared cores


def grey() -> torch.Tensor:
    return dataset("digits").palette()  # (17, 1): 0, 1/16, ..., 1


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
    model = ImageGAN(TINY, grey())
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
    with pytest.raises(ValueError, match=r"side=10 disagrees with the digits data set's 8; leave side out"):
        ImageGANConfig("digits", side=10)
    assert ImageGANConfig("pokemon", latent=6) == ImageGANConfig("pokemon", side=20, levels=N_COLOURS, channels=3,
                                                                 latent=6), "side, levels, channels: the descriptor's"
    assert torch.equal(ImageGAN(TINY).palette, torch.zeros(DIGIT_LEVELS, 1)), "no palette: zeros until fit/load"
    bad = torch.zeros(4, 8, 8)
    with pytest.raises(TypeError, match="integer"):
        fit_image_gan(ImageGAN(TINY), TINY_TRAIN, Split(bad, bad, bad))
    over = torch.full((4, 8, 8), 17)
    with pytest.raises(ValueError, match=r"0\.\.16"):
        fit_image_gan(ImageGAN(TINY), TINY_TRAIN, Split(over, over, over))
    ok = torch.zeros(4, 8, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="divide batch=7"):  # the trainer checks batch % pack
        fit_image_gan(ImageGAN(TINY), GANTrainConfig(steps=1, batch=7), Split(ok, ok, ok))


def test_no_likelihood_and_no_prefix():
    model = ImageGAN(TINY, grey())
    with pytest.raises(NotImplementedError, match="a GAN defines no likelihood.*notebook 08"):
        model.log_prob(torch.zeros(2, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="prefix"):
        model.sample(2, prefix=torch.zeros(1, 8, 8, dtype=torch.long))


@pytest.mark.parametrize("cfg", [TINY, POKEMON_SMALL], ids=["digits", "pokemon"])
def test_sample_shapes_and_levels(cfg):
    torch.manual_seed(0)
    palette = torch.rand(cfg.levels, cfg.channels)
    model = ImageGAN(cfg, palette)
    for draw in (False, True):
        x = model.sample(6, generator=torch.Generator().manual_seed(1), draw=draw)
        assert x.shape == (6, cfg.side, cfg.side) and x.dtype == torch.long
        assert int(x.min()) >= 0 and int(x.max()) < cfg.levels
        assert torch.equal(x, model.sample(6, generator=torch.Generator().manual_seed(1), draw=draw))
    fake = model.fake(torch.randn(4, cfg.latent), torch.Generator().manual_seed(0))
    assert fake.shape == (4, cfg.channels, cfg.side, cfg.side)
    pixels = fake.detach().permute(0, 2, 3, 1).reshape(-1, 1, cfg.channels)
    assert (pixels == palette).all(-1).any(1).all(), "every fake pixel is exactly a palette colour"


def test_colour_indices_to_colours_is_the_one_hot_product():
    model = ImageGAN(TINY, grey())
    idx = torch.randint(0, DIGIT_LEVELS, (2, 8, 8), generator=torch.Generator().manual_seed(0))
    onehot = torch.nn.functional.one_hot(idx, DIGIT_LEVELS).permute(0, 3, 1, 2).float()
    torch.testing.assert_close(model.indices_to_colours(idx), model.to_colours(onehot))


def test_training_is_reproducible_and_records_the_evolution():
    x = load_digits().split()[0][:64]
    data = Split(x, x[:8], x[:8])
    runs = []
    for _ in range(2):
        with seeded(TINY_TRAIN.seed):
            m = ImageGAN(TINY)
            hist, metrics = fit_image_gan(m, TINY_TRAIN, data, progress=False)
        runs.append((m, hist, metrics))
    (a, hist, metrics), (b, _, metrics_b) = runs
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), f"{k} differs between two seeded runs"
    torch.testing.assert_close(a.palette, grey())  # fit sets the data set's palette
    assert a.evolution_steps.tolist() == [0, 10, 20] and not a.training
    fixed = torch.randn(TINY.frame_samples, TINY.latent, generator=torch.Generator().manual_seed(1234))
    assert torch.equal(a.evolution[-1].long(), a.generate(fixed)), "the last frame is the trained generator"
    assert hist.train == [] and hist.seconds > 0  # fewer than 100 steps: no averaged loss yet
    assert set(metrics) == {"colour_tv", "nearest_train_diff", "classes_covered"} and metrics == metrics_b
    assert {k: metrics[k] for k in ("colour_tv", "nearest_train_diff")} == measure(a, x)
    assert 1 <= metrics["classes_covered"] <= 10


def _stop_at_step_250(step, model):  # as Ctrl-C stops a run; the state of step 200 is saved
    if step == 250:
        raise KeyboardInterrupt


def test_a_stopped_gan_run_resumes_to_exactly_the_uninterrupted_result(tmp_path):
    """`train NAME --resume` for the image GANs: a run with pairs, spectral normalisation, the
    evolution buffer and DiffAugment (which draws from the global random stream), stopped at step
    250 (the state of step 200 saved), then resumed in a model with other initial weights, ends
    bit-equal to one run without a stop, with the same losses and metrics."""
    import dataclasses

    from helpers.core.train import read_resume
    from helpers.models.image_gan import DiffAugGANConfig

    x = load_digits().split()[0][:64]
    data = Split(x, x[:8], x[:8])
    cfg = DiffAugGANConfig("digits", latent=4, width=4, pack=2, frames=4, frame_samples=2)
    train = GANTrainConfig(steps=300, batch=8, lr_g=2e-4, lr_d=2e-4, seed=0)
    with seeded(0):  # as registry.train does: the build and the training in one seeded block
        whole = ImageGAN(cfg)
        ref, ref_metrics = fit_image_gan(whole, train, data, progress=False)

    state = tmp_path / "resume" / "gan.pt"
    with seeded(0), pytest.raises(KeyboardInterrupt):
        fit_image_gan(ImageGAN(cfg), train, data, progress=False, resume=state, on_step=_stop_at_step_250)
    assert read_resume(state)["step"] == 200 and len(read_resume(state)["hist"]["train"]) == 2
    with seeded(7):  # other initial weights and random state: everything must come from the state file
        fresh = ImageGAN(cfg)
        got, metrics = fit_image_gan(fresh, train, data, progress=False, resume=state)
    assert (got.train, got.valid) == (ref.train, ref.valid) and len(ref.train) == 3 and metrics == ref_metrics
    for k, v in whole.state_dict().items():
        assert torch.equal(v, fresh.state_dict()[k]), f"{k} differs from the uninterrupted run"
    assert fresh.evolution_steps.tolist() == [0, 100, 200, 300]
    assert got.seconds >= read_resume(state)["hist"]["seconds"]  # summed over both runs
    with pytest.raises(ValueError, match="another run"):
        fit_image_gan(ImageGAN(cfg), dataclasses.replace(train, lr_g=1e-3), data, progress=False, resume=state)


@pytest.mark.slow
def test_registry_resumes_a_gan_recipe_to_the_uninterrupted_checkpoint(stopped_and_resumed):
    """`train gan_digits --resume` (cut to 300 steps): stopped at step 250, run again, it writes the
    same checkpoint as an uninterrupted run; the meta counts both runs; the long GAN recipes resume."""
    from helpers import registry

    assert all(registry.recipe(n).resumable for n in ("gan_digits", "gan_pokemon", "gan_pokemon_diffaug"))

    ref, info = stopped_and_resumed(registry.recipe("gan_digits").with_epochs(3), on_step=_stop_at_step_250)
    assert info.metrics == ref.metrics


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
    _, frac = nearest(torch.tensor([[[1]]]), torch.tensor([[[0]]]), grey())  # every level is its own colour
    assert frac.tolist() == [1.0]


@pytest.fixture(scope="module")
def digits_data():
    d = load_digits()
    return d.split()[0], d.split_labels()[0]


def test_shipped_digits_gan(shipped, digits_data):
    train, labels = digits_data
    model, info = shipped("gan_digits")
    assert model.cfg == ImageGANConfig("digits", side=8, levels=DIGIT_LEVELS, channels=1, latent=8, width=32)
    torch.testing.assert_close(model.palette, grey())
    got = measure(model, train, clf=digit_classifier(train, labels))
    for k, v in info["metrics"].items():  # the recorded numbers are what the model does
        assert math.isclose(got[k], v, abs_tol=1e-6), f"{k}: checkpoint says {v}, the model gives {got[k]}"
    assert got["classes_covered"] >= 9, "the digits GAN should draw (almost) every digit class"
    assert got["nearest_train_diff"] > 0.1, "samples should not be copies of training digits"
    covered, hist = classes_covered(digit_classifier(train, labels),
                                    model.sample(1000, generator=torch.Generator().manual_seed(1)))
    assert covered >= 9 and hist.max() < 0.3, f"collapsed onto a few digits: {hist.round(2)}"


def test_shipped_pokemon_gan(shipped, pokemon):
    train = pokemon.split()[0]
    model, info = shipped("gan_pokemon")
    assert model.cfg == ImageGANConfig("pokemon", side=20, levels=N_COLOURS, channels=3, latent=16, width=32)
    torch.testing.assert_close(model.palette, torch.as_tensor(pokemon.colormap, dtype=torch.float32) / 255)
    got = measure(model, train)
    for k, v in info["metrics"].items():
        assert math.isclose(got[k], v, abs_tol=1e-6), f"{k}: checkpoint says {v}, the model gives {got[k]}"
    assert got["nearest_train_diff"] > 0.1, "samples should not be copies of training sprites"
    x = model.sample(200, generator=torch.Generator().manual_seed(0))
    assert len({tuple(s.flatten().tolist()) for s in x}) > 150, "most of 200 samples should differ: no collapse"
    assert int(model.evolution_steps[-1]) == info.config["train"]["steps"] == 4000
    assert (model.evolution[0] != model.evolution[-1]).any()


def test_diff_augment_shifts_and_cuts_each_image_and_lets_gradients_through():
    from helpers.models.image_gan import diff_augment

    torch.manual_seed(0)
    x = torch.rand(16, 3, 20, 20, requires_grad=True)
    y = diff_augment(x, 0.125, 0.5)
    assert y.shape == x.shape
    changed = (y - x).abs().flatten(1).amax(1) > 0
    assert changed.all(), "every image is moved or cut"
    shifted = diff_augment(x, 0.125, 0.0)  # translation alone: each image is its own pixels, moved
    for a, b in zip(x.detach(), shifted.detach()):
        assert torch.isin(b.flatten(), a.flatten()).all()
    cut = diff_augment(x, 0.0, 0.5)  # cutout alone: a square painted in the corner colour
    painted = (cut == x[:, :, :1, :1]).all(1).flatten(1).sum(1)
    assert (painted >= 5 * 5).all() and (painted <= 10 * 10 + 1).all()  # clipped at the border; + the corner
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_diffaug_gan_augments_the_critics_input_only_while_training():
    from helpers.models.image_gan import DiffAugGANConfig

    torch.manual_seed(0)
    gan = ImageGAN(DiffAugGANConfig("digits", width=8, pack=2))
    x = torch.rand(4, 1, 8, 8)
    gan.eval()
    assert torch.equal(gan.critic(x), gan.critic(x))
    gan.train()
    torch.manual_seed(1)
    a = gan.critic(x)
    torch.manual_seed(2)
    assert not torch.equal(a, gan.critic(x)), "training draws a new augmentation each time"
