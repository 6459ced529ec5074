"""helpers.models.autoregressive, pixel_lstm, pixel_cnn: causality, likelihoods, baselines, samplers,
bad input, the shipped checkpoints."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
import torch

from helpers.models.autoregressive import (
    Bigram, PixelMixture, PixelModel, Unigram, bits_per_pixel, complete, cover_mask, draw_pixels, known_pixels,
    nats_per_pixel_loss,
)
from helpers.core.checkpoints import CheckpointMismatch
from helpers.models.pixel_cnn import PixelCNN, PixelCNNConfig
from helpers.models.pixel_lstm import PixelLSTM, PixelLSTMConfig, RGBPixelLSTM, RGBPixelLSTMConfig, time_sampling
from helpers.registry import recipes

TINY_LSTM = PixelLSTMConfig(hidden=32, emb=8, dropout=0.0)
TINY_CNN = PixelCNNConfig(channels=16, layers=3)


def _sprites(n=4, seed=0):
    return torch.randint(0, 167, (n, 20, 20), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("make", [lambda: PixelLSTM(TINY_LSTM), lambda: PixelCNN(TINY_CNN)],
                         ids=["lstm", "pixelcnn"])
def test_causal_logits_at_t_ignore_pixels_from_t_on(make):
    torch.manual_seed(0)
    model = make().eval()
    x = _sprites(1)
    for t in (0, 19, 20, 137, 399):
        y = x.clone()
        y.view(-1)[t] = (y.view(-1)[t] + 7) % 167
        d = (model(x) - model(y)).detach().flatten(1, 2).abs().amax(-1)[0]
        assert float(d[: t + 1].max()) == 0.0, f"logits up to pixel {t} changed when pixel {t} changed"
        if t < 399:
            assert float(d[t + 1 :].max()) > 0, f"nothing after pixel {t} reacts to it"


def test_pixelcnn_has_no_blind_spot():
    """Pixel (5, 10) must see (4, 15): up-right, the spot a plain masked PixelCNN misses."""
    torch.manual_seed(0)
    model = PixelCNN(replace(TINY_CNN, layers=4, dilations=(1,))).eval()
    x = _sprites(1)
    y = x.clone()
    y[0, 4, 13] = (y[0, 4, 13] + 3) % 167
    assert float((model(x) - model(y)).detach()[0, 5, 10].abs().max()) > 0


class _Fixed(PixelModel):
    """A 'model' whose logits are given: log_prob must be the categorical log-likelihood."""

    def __init__(self, logits):
        super().__init__()
        self.side, self.levels, self.logits = logits.shape[1], logits.shape[-1], logits

    def forward(self, x):
        return self.logits[: len(x), : x.shape[1]]


def test_log_prob_matches_categorical():
    logits, x = torch.randn(3, 20, 20, 167), _sprites(3)
    ref = torch.distributions.Categorical(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(_Fixed(logits).log_prob(x), ref)


def test_bits_per_pixel_of_uniform_model_is_log2_k():
    class Flat(_Fixed):
        def forward(self, x):
            return torch.zeros(*x.shape, 167)

    assert bits_per_pixel(Flat(torch.zeros(1, 20, 20, 167)), _sprites(5)) == pytest.approx(math.log2(167), rel=1e-6)


def test_lstm_step_equals_forward():
    torch.manual_seed(0)
    model, x = PixelLSTM(TINY_LSTM).eval(), _sprites(2)
    full = model(x).flatten(1, 2)
    state, prev = None, torch.full((2,), 167)
    for t in range(30):
        logits, state = model.step(prev, t, state)
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-5)
        prev = x.flatten(1)[:, t]


def test_unigram_and_bigram_normalised_and_ordered(pokemon):
    tr, va, _ = pokemon.split()
    for m in (Unigram(tr, 167), Bigram(tr, 167)):
        p = m(va[:2]).exp().sum(-1)
        torch.testing.assert_close(p, torch.ones_like(p))
    u, b = bits_per_pixel(Unigram(tr, 167), va), bits_per_pixel(Bigram(tr, 167), va)
    assert 4.5 < u < 5.5, f"unigram valid bits/pixel {u:.3f}"
    assert 2.9 < b < 3.6 and b < u, f"bigram valid bits/pixel {b:.3f} (unigram {u:.3f})"


def test_loss_falls_on_one_batch(pokemon):
    torch.manual_seed(0)
    x = pokemon.split().train[:4]
    model = PixelCNN(TINY_CNN)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(nats_per_pixel_loss(model, x).detach())
    for _ in range(15):
        loss = nats_per_pixel_loss(model, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.8 * first, f"loss {first:.3f} -> {float(loss.detach()):.3f}"


def test_sampling_reproducible_and_in_range():
    torch.manual_seed(0)
    model = PixelLSTM(TINY_LSTM)
    a = model.sample(3, generator=torch.Generator().manual_seed(1))
    b = model.sample(3, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 20, 20) and a.dtype == torch.long
    assert torch.equal(a, b) and 0 <= int(a.min()) and int(a.max()) < 167


def test_cached_and_rerun_sampling_draw_the_same_pixels():
    torch.manual_seed(0)
    model = PixelLSTM(TINY_LSTM)
    a = model.sample(2, generator=torch.Generator().manual_seed(3)).flatten(1)[:, :25]
    b = model.sample_rerun(2, generator=torch.Generator().manual_seed(3), pixels=25).flatten(1)[:, :25]
    assert torch.equal(a, b)
    c = model.sample(2, generator=torch.Generator().manual_seed(3), stop=25).flatten(1)
    assert torch.equal(c[:, :25], a) and int(c[:, 25:].abs().sum()) == 0


def test_completion_keeps_visible_part_and_greedy_is_deterministic():
    torch.manual_seed(0)
    model, x = PixelLSTM(TINY_LSTM), _sprites(2)
    out = complete(model, x, 0.1, 3, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 20, 20)
    k = known_pixels(0.1, 20)
    assert k == 360 and int(cover_mask(0.75, 20).sum()) == 300 and known_pixels(0.75, 20) == 100
    assert torch.equal(out.flatten(2)[:, :, :k], x.flatten(1)[:, None, :k].expand(2, 3, k))
    g1 = complete(model, x, 0.1, 2, greedy=True)
    assert torch.equal(g1[:, 0], g1[:, 1]), "greedy decoding should not depend on chance"
    cnn = PixelCNN(TINY_CNN)
    c = complete(cnn, x[:1], 0.02, 1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(c.flatten(2)[0, 0, :392], x.flatten(1)[0, :392])


def test_temperature_sharpens_and_flattens():
    _draw = draw_pixels
    logits = torch.randn(2000, 167, generator=torch.Generator().manual_seed(0)) * 3
    g = torch.Generator().manual_seed(0)
    cold = _draw(logits, 1e-3, False, g)
    agree = float((cold == _draw(logits, 1.0, True, None)).float().mean())
    assert agree > 0.99, f"T -> 0 should be the argmax, agreed on {agree:.1%}"
    hits = {t: float((_draw(logits, t, False, torch.Generator().manual_seed(1)) == logits.argmax(-1))
                     .float().mean()) for t in (0.5, 1.0, 3.0)}
    assert hits[0.5] > hits[1.0] > hits[3.0], f"share of argmax draws by temperature: {hits}"


def test_rgb_model_shapes_and_completion():
    torch.manual_seed(0)
    m = RGBPixelLSTM(RGBPixelLSTMConfig(hidden=16, emb=8))
    rgb = torch.rand(2, 20, 20, 3)
    assert m(rgb).shape == (2, 20, 20, 3)
    out = m.complete(rgb, known=150)
    torch.testing.assert_close(out.flatten(1, 2)[:, :150], rgb.flatten(1, 2)[:, :150])
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        m(torch.rand(2, 20, 20))


@pytest.mark.parametrize("call, match", [
    (lambda m: m(torch.zeros(20, 20, dtype=torch.long)), r"\(batch, height, width\)"),
    (lambda m: m(torch.full((1, 20, 20), 167)), r"0\.\.166"),
    (lambda m: m(torch.full((1, 20, 20), -1)), r"0\.\.166"),
    (lambda m: complete(m, _sprites(1), 1.5), r"\[0, 1\]"),
    (lambda m: complete(m, _sprites(1), -0.1), r"\[0, 1\]"),
    (lambda m: m.sample(2, temperature=0.0), r"temperature must be a number > 0"),
    (lambda m: m.sample(2, temperature=-1.0), r"temperature must be a number > 0"),
    (lambda m: m.sample(prefix=torch.zeros(1, 8, 8, dtype=torch.long), known=3), r"20x20"),
])
def test_bad_input_raises_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(PixelLSTM(TINY_LSTM))


def test_float_input_raises_type_error():
    with pytest.raises(TypeError, match="integer colour indices"):
        PixelLSTM(TINY_LSTM)(torch.zeros(1, 20, 20))


@pytest.mark.parametrize("name", [n for n, r in recipes().items() if "test_bpp" in r.targets])
def test_shipped_checkpoint_gives_recorded_metric(pokemon, shipped, name):
    """The recorded held-out bits/pixel is what the model gives, and it beats the recipe's target
    (a little above what the checkpoint measures, far below the unigram's 4.9 and the bigram's
    3.25): a retrained checkpoint must not get worse."""
    from helpers.core.checkpoints import load_checkpoint
    from helpers.registry import recipe

    model, info = shipped(name)
    test = pokemon.split().test
    bpp = bits_per_pixel(model, test)
    assert bpp == pytest.approx(info.metrics["test_bpp"], abs=1e-3)
    assert bpp < recipes()[name].targets["test_bpp"], f"{name}: {bpp:.3f} bits/pixel"
    r = recipe(name)
    other = replace(r, model=replace(r.model, dropout=r.model.dropout + 0.1))
    with pytest.raises(CheckpointMismatch, match=r"model\.dropout: 0\.\d+ in the file, 0\.\d+ asked"):
        load_checkpoint(info.path, other.build(other.model), other.config)


def test_time_sampling_reports_speedup():
    torch.manual_seed(0)
    t = time_sampling(PixelLSTM(TINY_LSTM), n=4, pixels=40)
    assert set(t) == {"cached_s", "rerun_s", "speedup"} and t["cached_s"] > 0


@pytest.mark.parametrize("known", [0, 137, 399])
def test_pixelcnn_cached_logits_equal_the_full_pass_and_read_only_earlier_pixels(known):
    """sample()'s RasterCache computes one row of each layer's vertical stack per row and one
    column of its horizontal stack per pixel (dilations 1, 2, 1, 4, 1: it reads rows and columns
    up to 4 back); from the first pixel, one in mid-row and the last, its logits must be the
    whole-image pass's, and pixel t's must not move when the pixels from t on are garbage."""
    torch.manual_seed(0)
    model, x = PixelCNN(PixelCNNConfig(channels=16, layers=5)).eval(), _sprites(2)
    garbage = torch.randint(0, 167, x.shape, generator=torch.Generator().manual_seed(1))
    img = torch.where(torch.arange(400).view(20, 20) < known, x, garbage)
    with torch.no_grad():
        full, cache = model(x), model.raster_cache(img)
        for t in range(known, 400):
            r, c = divmod(t, 20)
            torch.testing.assert_close(cache.logits(t), full[:, r, c], atol=1e-5, rtol=1e-5)
            img[:, r, c] = x[:, r, c]
        with pytest.raises(ValueError, match="raster order"):
            cache.logits(known)


def test_conditional_pixelcnn_cached_logits_equal_the_one_pass_logits():
    """The PixelVAE decoder's cache adds each layer's map of z at row r: the one-pass logits(x, z)."""
    from helpers.models.pixel_cnn import ConditionalPixelCNN

    torch.manual_seed(0)
    model, x, z = ConditionalPixelCNN(PixelCNNConfig(channels=8, layers=4), latent=3).eval(), _sprites(2), torch.randn(2, 3)
    with torch.no_grad():
        full, cache = model.logits(x, z), model.raster_cache(x, model.conditions(z))
        got = torch.stack([cache.logits(t) for t in range(400)], 1).view(full.shape)
    torch.testing.assert_close(got, full, atol=1e-5, rtol=1e-5)


def test_a_pixelcnn_of_another_kernel_size_samples_without_the_cache():
    """RasterCache reads the taps of kernel 3 (every model of the series); a kernel-5 model is refused by it with a
    clear error and sampled by re-running the network, plainly or given a code (ConditionalPixelCNN)."""
    from helpers.models.pixel_cnn import ConditionalPixelCNN

    torch.manual_seed(0)
    cfg = PixelCNNConfig(channels=8, layers=2, kernel=5)
    model, x = PixelCNN(cfg).eval(), _sprites(2)
    with pytest.raises(ValueError, match="kernel 5"):
        model.raster_cache(x)
    fast = model.sample(prefix=x, known=380, generator=torch.Generator().manual_seed(5))
    slow, gen = x.clone(), torch.Generator().manual_seed(5)
    with torch.no_grad():
        PixelModel._fill(model, slow, 380, 400, lambda logits: torch.multinomial(logits.softmax(-1), 1, generator=gen)[:, 0])
    assert torch.equal(fast, slow)
    cond_model, z = ConditionalPixelCNN(cfg, latent=3).eval(), torch.randn(2, 3)
    img = x.clone()
    with torch.no_grad():
        cond_model._fill(img, 390, 400, lambda logits: logits.argmax(-1), cond_model.conditions(z))
        want = cond_model.logits(img, z).argmax(-1)
    assert torch.equal(img.flatten(1)[:, 390:], want.flatten(1)[:, 390:])  # a greedy fill: its own argmax


def test_pixelcnn_sampling_draws_what_the_full_pass_would():
    """The cached sampler against the plain loop (whole image re-run for every pixel)."""
    torch.manual_seed(0)
    model, x = PixelCNN(TINY_CNN).eval(), _sprites(2)
    known = 137  # completion from the middle of row 6
    fast = model.sample(prefix=x, known=known, generator=torch.Generator().manual_seed(5))
    slow, gen = x.clone().flatten(1), torch.Generator().manual_seed(5)
    with torch.no_grad():
        for t in range(known, 400):
            logits = model(slow.view(-1, 20, 20))[:, t // 20, t % 20]
            slow[:, t] = torch.multinomial(logits.softmax(-1), 1, generator=gen)[:, 0]
    assert torch.equal(fast, slow.view(-1, 20, 20))


def test_digits_context_model_checkpoint(shipped):
    """Notebook 06's autoregressive row: the shipped digits PixelCNN gives its recorded test NLL,
    within the issue's target of <= 85 nats per image."""
    from helpers.core.data import load_digits

    te = load_digits().split().test
    model, info = shipped("context2d_digits")
    with torch.no_grad():
        nll = float(-model.log_prob(te).mean())
    assert nll == pytest.approx(info.metrics["test_nats"], abs=1e-3)
    assert nll <= 85.0


def test_digits_pixelcnn_samples_8x8_and_completes_an_8x8_prefix():
    """The image size comes from the model's config: a digits PixelCNN draws 8x8 images with
    17 levels and completes an 8x8 prefix (it used to draw 20x20 and reject 8x8 prefixes)."""
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(colours=17, side=8, channels=8, layers=2))
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 8, 8) and int(x.max()) < 17
    prefix = torch.randint(0, 17, (3, 8, 8), generator=torch.Generator().manual_seed(1))
    done = complete(model, prefix, 0.5, 2, generator=torch.Generator().manual_seed(2))
    assert done.shape == (3, 2, 8, 8)
    assert torch.equal(done.flatten(2)[:, :, :32], prefix.flatten(1)[:, None, :32].expand(3, 2, 32))
    assert model.log_prob(prefix).shape == (3,)


def test_sampling_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    model = PixelCNN(TINY_CNN)
    before = torch.get_rng_state()
    model.sample(2, generator=torch.Generator().manual_seed(0), stop=30)
    assert torch.equal(before, torch.get_rng_state())


# ----------------------------------------------------------------------------- mixtures
def _two_models():
    from helpers.models.autoregressive import Bigram, PixelMixture, Unigram

    g = torch.Generator().manual_seed(0)
    mostly0 = torch.where(torch.rand(40, 2, 2, generator=g) < 0.8, 0, torch.randint(0, 3, (40, 2, 2), generator=g))
    mostly2 = torch.where(torch.rand(40, 2, 2, generator=g) < 0.8, 2, torch.randint(0, 3, (40, 2, 2), generator=g))
    a, b = Unigram(mostly0, 3), Bigram(mostly2, 3)
    return a, b, PixelMixture([a, b])


def test_a_mixture_of_pixel_models_is_a_normalised_model_whose_chain_rule_matches():
    from helpers.models.autoregressive import PixelModel

    a, b, mix = _two_models()
    every = torch.tensor(list(itertools.product(range(3), repeat=4))).reshape(-1, 2, 2)  # all 81 images
    lp = mix.log_prob(every)
    torch.testing.assert_close(lp, torch.logaddexp(a.log_prob(every), b.log_prob(every)) - math.log(2))
    assert abs(float(lp.exp().sum()) - 1.0) < 1e-5
    # forward's conditionals (posterior-weighted) multiply out to the same likelihood
    torch.testing.assert_close(PixelModel.log_prob(mix, every), lp, atol=1e-5, rtol=0)


def test_a_mixture_draws_a_component_then_its_pixels():
    a, b, mix = _two_models()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    x = mix.sample(400, generator=g1)
    assert torch.equal(x, mix.sample(400, generator=g2))
    share0 = float((x == 0).float().mean())
    assert 0.3 < share0 < 0.6  # half the images from the colour-0 model, half from the other
    # completion: a prefix of 0s makes the first component far more probable
    prefix = torch.zeros(200, 2, 2, dtype=torch.long)
    done = mix.sample(prefix=prefix, known=3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(done.flatten(1)[:, :3], prefix.flatten(1)[:, :3])
    assert float((done.flatten(1)[:, 3] == 0).float().mean()) > 0.6
    with pytest.raises(ValueError, match="share side and levels"):
        type(mix)([a, type(a)(torch.zeros(4, 3, 3, dtype=torch.long), 3)])


def test_scoring_a_mixture_leaves_its_components_in_eval_mode():
    """A new PixelMixture is in training mode while the loaded models it holds are in eval mode;
    scoring it must not switch their dropout on (eval_mode restores every submodule's own mode)."""
    torch.manual_seed(0)
    parts = [PixelCNN(PixelCNNConfig(colours=5, side=6, channels=8, layers=2, kernel=3, dropout=0.5)).eval()
             for _ in range(2)]
    mix = PixelMixture(parts)
    assert mix.training and not any(p.training for p in parts)
    x = torch.randint(0, 5, (3, 6, 6))
    bits_per_pixel(mix, x)
    assert mix.training and not any(m.training for p in parts for m in p.modules())
    with torch.no_grad():  # deterministic, so the by-hand mixture matches the class
        by_hand = torch.logsumexp(torch.stack([p.log_prob(x) for p in parts]), 0) - math.log(2)
        assert torch.allclose(by_hand, mix.log_prob(x), atol=1e-5)


# ----------------------------------------------------------------------------- pixel-wise ensembles
def test_a_pixelwise_ensemble_is_a_normalised_model_better_than_its_parts_average():
    from helpers.models.autoregressive import PixelEnsemble

    a, b, _ = _two_models()
    ens = PixelEnsemble([a, b])
    every = torch.tensor(list(itertools.product(range(3), repeat=4))).reshape(-1, 2, 2)  # all 81 images
    lp = ens.log_prob(every)
    assert abs(float(lp.exp().sum()) - 1.0) < 1e-5  # a proper distribution over all images
    # by hand: the chain rule over the averaged conditionals
    pa = torch.softmax(a(every).float(), -1).gather(-1, every[..., None])[..., 0].flatten(1)
    pb = torch.softmax(b(every).float(), -1).gather(-1, every[..., None])[..., 0].flatten(1)
    torch.testing.assert_close(lp, ((pa + pb) / 2).log().sum(1), atol=1e-5, rtol=0)
    # Jensen per pixel: never below the components' mean log-likelihood
    assert (lp >= (a.log_prob(every) + b.log_prob(every)) / 2 - 1e-5).all()


def test_a_pixelwise_ensemble_samples_its_averaged_conditionals_and_its_fast_path_matches():
    from helpers.models.autoregressive import PixelEnsemble, PixelModel

    a, b, _ = _two_models()
    ens = PixelEnsemble([a, b])
    x = ens.sample(4000, generator=torch.Generator().manual_seed(3))
    # the first pixel's marginal is the average of the two models' first-pixel distributions
    want = (torch.softmax(a(x[:1]).float(), -1)[0, 0, 0] + torch.softmax(b(x[:1]).float(), -1)[0, 0, 0]) / 2
    got = torch.bincount(x[:, 0, 0], minlength=3).float() / len(x)
    assert torch.allclose(got, want, atol=0.03)
    # PixelCNN components: the cached sampler (one RasterCache per component) draws exactly what the generic loop draws
    torch.manual_seed(0)
    parts = [PixelCNN(PixelCNNConfig(colours=5, side=6, channels=8, layers=2, kernel=3, dropout=0.0)).eval()
             for _ in range(2)]
    ens = PixelEnsemble(parts)
    fast = ens.sample(3, generator=torch.Generator().manual_seed(1))
    slow = torch.zeros(3, 6, 6, dtype=torch.long)
    g = torch.Generator().manual_seed(1)
    from helpers.models.autoregressive import draw_pixels
    PixelModel._fill(ens, slow, 0, 36, lambda logits: draw_pixels(logits, 1.0, False, g))
    assert torch.equal(fast, slow)
    with pytest.raises(ValueError, match="share side and levels"):
        PixelEnsemble([a, PixelCNN(PixelCNNConfig(colours=5, side=6, channels=8, layers=2, kernel=3))])
