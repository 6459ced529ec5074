"""helpers.models.autoencoders: likelihoods, decoders (MLP, MADE), shapes, errors, training, shipped AEs."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch.distributions import Categorical

from helpers.models.autoencoders import (Autoencoder, MADEDecoder, ae_loss, decode_images, digits_net, draw_categorical,
                                  encode_means, fit_autoencoder, pokemon_net, reconstruction_nll)
from helpers.core.data import Split


def test_reconstruction_nll_is_categorical_nll():
    logits = torch.randn(3, 8, 8, 17)
    x = torch.randint(0, 17, (3, 8, 8))
    ref = -Categorical(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(reconstruction_nll(logits, x), ref)


def test_uniform_decoder_costs_log_k_per_pixel():
    assert reconstruction_nll(torch.zeros(1, 8, 8, 17), torch.zeros(1, 8, 8, dtype=torch.long)).item() == \
        pytest.approx(64 * math.log(17), rel=1e-6)


@pytest.mark.parametrize("net, shape", [(digits_net(2), (8, 8, 17)), (pokemon_net(10), (20, 20, 167)),
                                        (replace(digits_net(4), autoregressive=True), (8, 8, 17))])
def test_shapes(net, shape):
    torch.manual_seed(0)
    x = torch.randint(0, shape[-1], (5, *shape[:2]))
    ae = Autoencoder(net)
    assert ae.encode(x).shape == ae.code(x).shape == (5, net.latent)
    assert ae.decode(torch.randn(5, net.latent)).shape == (5, *shape)
    assert ae.decoder(ae.encode(x), x).shape == (5, *shape)
    assert ae.loss(x).ndim == 0 and ae.loss(x) > 0


def test_netconfig_sizes_come_from_the_data_sets():
    from helpers.core.data import DIGITS, POKEMON

    assert (digits_net().side, digits_net().levels) == (DIGITS.side, DIGITS.levels) == (8, 17)
    assert (pokemon_net().side, pokemon_net().levels) == (POKEMON.side, POKEMON.levels) == (20, 167)


def test_bad_inputs_say_what_was_expected():
    ae = Autoencoder(digits_net(2))
    with pytest.raises(ValueError, match=r"expected codes of shape \(B, 2\), got \(3, 5\)"):
        ae.decode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"\(batch, height, width\).*x\[None\]"):
        ae.encode(torch.zeros(8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="must be 8x8 images"):
        ae.encode(torch.zeros(2, 20, 20, dtype=torch.long))
    with pytest.raises(TypeError, match=r"integer colour indices.*\.long\(\)"):
        ae.encode(torch.zeros(2, 8, 8))
    bad = torch.zeros(2, 8, 8, dtype=torch.long)
    bad[1, 4, 4] = 17
    with pytest.raises(ValueError, match=r"indices in 0\.\.16, got values 0\.\.17"):
        ae.encode(bad)
    with pytest.raises(ValueError, match="needs arch='mlp'"):
        MADEDecoder(replace(pokemon_net(4), autoregressive=True))
    with pytest.raises(ValueError, match="how must be 'mean' or 'mode'"):
        decode_images(ae, torch.zeros(1, 2), how="median")


def test_autoencoder_defines_no_likelihood_and_no_sampler():
    ae = Autoencoder(digits_net(2))
    with pytest.raises(NotImplementedError, match="no likelihood"):
        ae.log_prob(torch.zeros(1, 8, 8, dtype=torch.long))
    with pytest.raises(NotImplementedError, match="no prior over codes"):
        ae.sample(4)


def test_made_decoder_is_causal():
    torch.manual_seed(0)
    dec = MADEDecoder(replace(digits_net(3, hidden=64), autoregressive=True))
    z, x = torch.randn(2, 3), torch.randint(0, 17, (2, 8, 8))
    x2 = x.clone()
    x2[:, 3, 5] = (x2[:, 3, 5] + 7) % 17  # pixel 29
    diff = (dec(z, x) - dec(z, x2)).abs().amax(-1).flatten(1)
    assert diff[:, :30].max() == 0, "pixels up to 29 must not see pixel 29"
    assert diff[:, 30:].max() > 0


def test_made_sample_draws_each_pixel_from_its_conditional():
    """The sampler equals the written-out loop: x_i ~ softmax(logits_i(z, x_<i)), raster order."""
    torch.manual_seed(0)
    dec = MADEDecoder(replace(digits_net(3, hidden=48), autoregressive=True)).eval()
    z = torch.randn(5, 3)
    with torch.no_grad():
        got = dec.sample(z, torch.Generator().manual_seed(4))
        g, ref = torch.Generator().manual_seed(4), torch.zeros(5, 8, 8, dtype=torch.long)
        for i in range(64):
            probs = dec(z, ref)[:, i // 8, i % 8].softmax(-1)
            ref[:, i // 8, i % 8] = torch.multinomial(probs, 1, generator=g)[:, 0]
    assert torch.equal(got, ref)
    assert got.dtype == torch.long and 0 <= got.min() and got.max() <= 16


def test_draw_categorical_frequencies():
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0]).log_softmax(-1).expand(20000, 4)
    x = draw_categorical(logits, torch.Generator().manual_seed(0))
    freq = torch.bincount(x, minlength=4).float() / len(x)
    torch.testing.assert_close(freq, logits[0].exp(), atol=0.01, rtol=0)


def test_decode_images_mean_and_mode():
    torch.manual_seed(0)
    ae = Autoencoder(digits_net(2)).eval()
    z = torch.randn(3, 2)
    mean, mode = decode_images(ae, z), decode_images(ae, z, "mode")
    p = ae.decode(z).softmax(-1)
    torch.testing.assert_close(mean, p @ torch.arange(17.0))
    assert torch.equal(mode, p.argmax(-1)) and mode.dtype == torch.long
    made = Autoencoder(replace(digits_net(2, hidden=32), autoregressive=True)).eval()
    a, b = decode_images(made, z), decode_images(made, z)
    assert a.shape == (3, 8, 8) and torch.equal(a, b), "the MADE picture of a code is deterministic"


def test_encode_means_calls_code_in_eval_mode_and_restores_the_mode():
    torch.manual_seed(0)
    ae = Autoencoder(digits_net(2, dropout=0.5)).train()
    x = torch.randint(0, 17, (4, 8, 8))
    c = encode_means(ae, x)
    assert ae.training, "encode_means must give the model back in the mode it had"
    torch.testing.assert_close(c, ae.eval().code(x))


def _tiny_digits(n_train: int = 200) -> Split:
    from helpers.core.data import load_digits

    tr, va, te = load_digits().split()
    return Split(tr[:n_train], va[:100], te[:100])


def test_fit_autoencoder_lowers_the_loss_and_leaves_the_global_rng_alone():
    data = _tiny_digits()
    torch.manual_seed(0)
    ae = Autoencoder(digits_net(2, hidden=64))
    before_loss = ae_loss(ae, data.valid).item()
    state = torch.get_rng_state()
    from helpers.core.train import TrainConfig

    hist, metrics = fit_autoencoder(ae, TrainConfig(epochs=2, batch_size=32, patience=None), data, progress=False)
    assert torch.equal(state, torch.get_rng_state()), "fit_autoencoder changed the caller's random state"
    assert len(hist.train) == 2 and hist.train[1] < hist.train[0]
    assert hist.valid[hist.best_epoch] < before_loss
    assert set(metrics) == {"test_rec_nats"}
    from helpers.core.train import evaluate

    assert metrics["test_rec_nats"] == pytest.approx(evaluate(ae, ae_loss, data.test), rel=1e-6)


# ----------------------------------------------------------------------------- shipped checkpoints
@pytest.fixture(scope="module")
def digits_split():
    from helpers.core.data import load_digits

    return load_digits().split()


@pytest.mark.slow
def test_shipped_digits_ae_gives_recorded_metric(shipped, digits_split):
    from helpers.core.train import evaluate

    model, info = shipped("digits_ae_2d")
    test = digits_split.test
    assert evaluate(model, ae_loss, test) == pytest.approx(info["metrics"]["test_rec_nats"], abs=1e-3)


@pytest.mark.slow
def test_shipped_pokemon_ae(shipped, pokemon):
    model, info = shipped("pokemon_ae")
    x = pokemon.split().test[:4]
    assert model.decode(model.code(x)).shape == (4, 20, 20, 167)
    assert info["metrics"]["test_rec_nats"] > 0


class _UniformClf:
    def predict_proba(self, x):
        import numpy as np
        return np.full((len(x), 10), 0.1)


def test_image_quality_copies_are_at_distance_zero():
    from helpers.models.autoencoders import image_quality
    train = torch.randint(0, 17, (30, 8, 8))
    q = image_quality(train[:5], train, _UniformClf())
    assert set(q) == {"confidence", "nearest_train"} and all(type(v) is float for v in q.values())
    assert q["nearest_train"] == pytest.approx(0.0, abs=1e-5) and q["confidence"] == pytest.approx(0.1)
    far = image_quality(torch.full((2, 8, 8), 16.0), torch.zeros(3, 8, 8, dtype=torch.long), _UniformClf())
    assert far["nearest_train"] == pytest.approx(8.0)  # 64 pixels, each 1 apart


def test_prior_sample_quality_is_seeded_and_checks_the_prior():
    from helpers.models.autoencoders import prior_sample_quality
    torch.manual_seed(0)
    train, labels = torch.randint(0, 17, (40, 8, 8)), torch.arange(40) % 10
    ae = Autoencoder(digits_net(2, hidden=16))
    a = prior_sample_quality(ae, train, labels, n=20, seed=1, clf=_UniformClf())
    b = prior_sample_quality(ae, train, labels, n=20, seed=1, prior="fitted", clf=_UniformClf())
    c = prior_sample_quality(ae, train, labels, n=20, seed=1, prior="standard", clf=_UniformClf())
    assert a == b and a != c and a["nearest_train"] > 0  # an AE defaults to the fitted Gaussian
    with pytest.raises(ValueError, match="prior must be"):
        prior_sample_quality(ae, train, labels, n=5, prior="uniform", clf=_UniformClf())
