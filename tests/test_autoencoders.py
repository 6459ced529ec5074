"""helpers.autoencoders: KL convention, likelihoods, IWAE, shapes, errors, shipped checkpoints."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch.distributions import Categorical, Normal, kl_divergence

from helpers.autoencoders import (VAE, Autoencoder, digits_net, elbo, gaussian_kl, iwae_log_likelihood,
                                  log_normal_diag, pokemon_net, reconstruction_nll, slide_kl_term)


def test_slide_term_is_twice_kl_when_sigma_is_log_variance():
    g = torch.Generator().manual_seed(0)
    m, sigma = torch.randn(2, 5, 7, generator=g).unbind(0)
    ref = kl_divergence(Normal(m, (0.5 * sigma).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(slide_kl_term(m, sigma), 2 * ref)
    torch.testing.assert_close(gaussian_kl(m, sigma), ref)
    # read as log-std (scale exp(σ)) the slide's term is not a multiple of the KL
    wrong = kl_divergence(Normal(m, sigma.exp()), Normal(0.0, 1.0)).sum(-1)
    ratio = slide_kl_term(m, sigma) / wrong
    assert ratio.std() > 0.1, "the ratio would be constant if the log-std reading were a KL too"


def test_log_normal_diag_matches_torch():
    z, m, lv = torch.randn(3, 4, 6).unbind(0)
    torch.testing.assert_close(log_normal_diag(z, m, lv), Normal(m, (0.5 * lv).exp()).log_prob(z).sum(-1))


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
    ae, vae = Autoencoder(net), VAE(net)
    assert ae.encode(x).shape == (5, net.latent)
    assert ae.decode(torch.randn(5, net.latent)).shape == (5, *shape)
    m, lv = vae.encode(x)
    assert m.shape == lv.shape == (5, net.latent)
    rec, kl = vae(x)
    assert rec.shape == kl.shape == (5,)
    assert (kl >= 0).all() and (rec > 0).all()


def test_noise_scale_is_exp_half_sigma():
    g = torch.Generator().manual_seed(0)
    m, lv = torch.full((200_000, 1), 0.5), torch.full((200_000, 1), math.log(4.0))  # variance 4
    z = VAE.reparameterize(m, lv, g)
    assert z.mean().item() == pytest.approx(0.5, abs=0.02)
    assert z.std().item() == pytest.approx(2.0, abs=0.02)


def test_seeded_sampling_reproducible():
    vae = VAE(digits_net(3)).eval()
    x = torch.randint(0, 17, (4, 8, 8))
    a = elbo(vae, x, torch.Generator().manual_seed(3))
    b = elbo(vae, x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)


def test_iwae_k1_is_elbo_and_bound_tightens():
    torch.manual_seed(0)
    vae = VAE(digits_net(4)).eval()
    x = torch.randint(0, 17, (6, 8, 8))
    with torch.no_grad():
        e = elbo(vae, x, torch.Generator().manual_seed(5))
        m, lv = vae.encode(x)
        z = VAE.reparameterize(m, lv, torch.Generator().manual_seed(5))
        # k = 1: log P(x|z) + log N(z; 0, I) - log q(z|x), the ELBO with a sampled KL
        want = -vae.rec(z, x) + log_normal_diag(z, 0 * z, 0 * z) - log_normal_diag(z, m, lv)
    i1 = iwae_log_likelihood(vae, x, 1, torch.Generator().manual_seed(5))
    torch.testing.assert_close(i1, want)
    many = iwae_log_likelihood(vae, x.repeat(4000, 1, 1), 1, torch.Generator().manual_seed(6)).view(4000, 6)
    mc = elbo(vae, x.repeat(4000, 1, 1), torch.Generator().manual_seed(7)).view(4000, 6)
    torch.testing.assert_close(many.mean(0), mc.mean(0).detach(), atol=0.3, rtol=0)
    i1000 = iwae_log_likelihood(vae, x, 1000, torch.Generator().manual_seed(5), chunk=700)
    assert (i1000 > mc.mean(0) - 0.05).all(), "the k=1000 bound should be at least the expected ELBO"
    i1000b = iwae_log_likelihood(vae, x, 1000, torch.Generator().manual_seed(5))
    assert (i1000 - i1000b).abs().max() < 0.5, "the estimate should not depend much on chunking"


@pytest.mark.parametrize("k", [0, -3, 2.5])
def test_iwae_bad_k(k):
    with pytest.raises(ValueError, match="k .* must be an integer >= 1"):
        iwae_log_likelihood(VAE(digits_net(2)), torch.zeros(2, 8, 8, dtype=torch.long), k)


def test_bad_inputs_say_what_was_expected():
    vae = VAE(digits_net(2))
    with pytest.raises(ValueError, match=r"expected codes of shape \(B, 2\), got \(3, 5\)"):
        vae.decode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 8, 8\)"):
        vae.encode(torch.zeros(8, 8, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.long"):
        vae.encode(torch.zeros(2, 8, 8))
    with pytest.raises(TypeError, match="needs a VAE"):
        iwae_log_likelihood(Autoencoder(digits_net(2)), torch.zeros(2, 8, 8, dtype=torch.long), 5)


def test_made_decoder_is_causal():
    torch.manual_seed(0)
    dec = VAE(replace(digits_net(3, hidden=64), autoregressive=True)).decoder
    z, x = torch.randn(2, 3), torch.randint(0, 17, (2, 8, 8))
    x2 = x.clone()
    x2[:, 3, 5] = (x2[:, 3, 5] + 7) % 17  # pixel 29
    diff = (dec(z, x) - dec(z, x2)).abs().amax(-1).flatten(1)
    assert diff[:, :30].max() == 0, "pixels up to 29 must not see pixel 29"
    assert diff[:, 30:].max() > 0


def test_loss_falls_on_one_batch():
    torch.manual_seed(0)
    vae = VAE(digits_net(2, hidden=64))
    x = torch.randint(0, 17, (32, 8, 8))
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        rec, kl = vae(x)
        loss = (rec + kl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], f"loss went {losses[0]:.1f} -> {losses[-1]:.1f}"


# ----------------------------------------------------------------------------- shipped checkpoints
@pytest.fixture(scope="module")
def digits_split():
    from helpers.data import load_digits

    return load_digits().split()


@pytest.mark.parametrize("name", ["digits_ae_2d", "digits_vae_2d", "digits_vae", "digits_vae_rec_only",
                                  "digits_vae_made"])
def test_shipped_digits_checkpoint_gives_recorded_metric(name, digits_split):
    from helpers.autoencoders import ae_loss, checkpoint_path, load_or_train
    from helpers.train import evaluate

    assert checkpoint_path(name).is_file(), f"{checkpoint_path(name)} missing; run `make checkpoints`"
    model, info = load_or_train(name, digits_split)
    assert not info["trained"], "the checkpoint should load, not retrain"
    test = digits_split[2]
    if isinstance(model, VAE):
        with torch.no_grad():
            rec, kl = model(test, torch.Generator().manual_seed(1))
        assert (rec + kl).mean().item() == pytest.approx(info["metrics"]["test_neg_elbo_nats"], abs=1e-3)
    else:
        assert evaluate(model, ae_loss, test) == pytest.approx(info["metrics"]["test_rec_nats"], abs=1e-3)


def test_likelihood_model_meets_its_recorded_iwae(digits_split):
    from helpers.autoencoders import load_or_train

    model, info = load_or_train("digits_vae_made", digits_split)
    nll = -iwae_log_likelihood(model, digits_split[2], 1000, torch.Generator().manual_seed(2)).mean().item()
    assert nll == pytest.approx(info["metrics"]["test_iwae1000_nats"], abs=0.05)
    assert nll <= 90, f"digits test NLL {nll:.1f} nats; the series' target is at most 90"


def test_rec_only_sigma_collapsed_and_vae_did_not(digits_split):
    from helpers.autoencoders import load_or_train

    rec_only, info = load_or_train("digits_vae_rec_only", digits_split)
    vae, info_vae = load_or_train("digits_vae", digits_split)
    assert info["metrics"]["log_var_trace"][-1] < -8, "without KL the log-variance should collapse"
    assert info_vae["metrics"]["log_var_trace"][-1] > -4, "with KL σ should stay moderate"


def test_pokemon_vae_checkpoint(pokemon):
    from helpers.autoencoders import load_or_train

    split = pokemon.split()
    for name in ("pokemon_ae", "pokemon_vae"):
        model, info = load_or_train(name, split)
        assert not info["trained"]
    x = split[2][:4]
    assert model.decode(model.encode(x)[0]).shape == (4, 20, 20, 167)
