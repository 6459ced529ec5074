"""helpers.models.adversarial: mode counting, GAN losses, the one training loop (reproducible, leaves the
caller's random state alone), no likelihood, the shipped toy checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.models.adversarial import (
    GANTrainConfig, ToyGAN, ToyGANConfig, count_modes, decision_surface, fit_toy_gan, modes_of, ring_centres,
    sample_ring, train_adversarial, train_toy_gan,
)
from helpers.core.train import seeded



pytestmark = pytest.mark.usefixtures("one_thread")  # small nets: one thread is fastest on 2 shared cores


def test_ring_and_mode_counting():
    c = ring_centres()
    assert c.shape == (8, 2) and torch.allclose(c.norm(dim=1), torch.full((8,), 2.0))
    x = sample_ring(10_000, torch.Generator().manual_seed(0))
    covered, near = count_modes(x)
    assert covered == 8 and abs(near - (1 - math.exp(-4.5))) < 0.005  # P(|e| < 3 std) in 2-D
    one = c[3] + 0.05 * torch.randn(1000, 2, generator=torch.Generator().manual_seed(1))
    assert count_modes(one)[0] == 1
    almost = torch.cat([one, c[:1].expand(5, 2)])  # 5 of 1005 = 0.5% < 1%: not covered
    assert count_modes(almost)[0] == 1
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        count_modes(torch.zeros(5, 3))


def test_losses_are_the_formulas():
    torch.manual_seed(0)
    gan = ToyGAN(ToyGANConfig(pack=2))
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    dr, df = gan.D(real.reshape(4, 4))[:, 0], gan.D(fake.reshape(4, 4))[:, 0]
    want_d = -(torch.sigmoid(dr).log().mean() + (1 - torch.sigmoid(df)).log().mean())
    torch.testing.assert_close(gan.d_loss(real, fake), want_d)
    torch.testing.assert_close(gan.g_loss(fake), -torch.sigmoid(df).log().mean())  # non-saturating
    assert gan.critic(fake).shape == (4,)
    with pytest.raises(ValueError, match="divide batch=8"):  # the trainer checks batch % pack
        fit_toy_gan(ToyGAN(ToyGANConfig(pack=3)), GANTrainConfig(steps=1, batch=8))
    with pytest.raises(ValueError, match="pack must be >= 1"):
        ToyGAN(ToyGANConfig(pack=0))
    with pytest.raises(ValueError, match="data=None"):
        fit_toy_gan(gan, GANTrainConfig(steps=1, batch=8), data=torch.zeros(8, 2))


def test_no_likelihood_and_no_prefix():
    gan = ToyGAN(ToyGANConfig(noise=4, hidden=8))
    with pytest.raises(NotImplementedError, match="a GAN defines no likelihood.*notebook 08"):
        gan.log_prob(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="prefix"):
        gan.sample(3, prefix=torch.zeros(1, 2))
    a = gan.sample(5, generator=torch.Generator().manual_seed(0))
    assert a.shape == (5, 2) and not a.requires_grad
    assert torch.equal(a, gan.sample(5, generator=torch.Generator().manual_seed(0)))


def test_training_leaves_the_callers_rng_and_moves_towards_the_ring():
    cfg = GANTrainConfig(steps=300, batch=256, lr_g=1e-3, lr_d=1e-4, seed=3)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, hist, shots = train_toy_gan(ToyGANConfig(pack=2), cfg, snapshots=(100, 300), progress=False)
    assert torch.equal(torch.get_rng_state(), before), "train_toy_gan must give the caller's RNG state back"
    assert len(hist.train) == len(hist.valid) == 3 and set(shots) == {100, 300} and shots[300].shape == (2000, 2)
    assert all(0.3 < g < 3 and 0.3 < d < 3 for g, d in zip(hist.train, hist.valid)), (hist.train, hist.valid)
    radius = a.sample(2000, generator=torch.Generator().manual_seed(0)).norm(dim=1).mean()
    assert abs(float(radius) - 2.0) < 1.0


def test_fit_toy_gan_inside_seeded_is_reproducible_and_is_the_notebook_trainer():
    cfg = GANTrainConfig(steps=50, batch=64, lr_g=1e-3, lr_d=1e-4, seed=0)
    models = []
    for _ in range(2):
        with seeded(cfg.seed):
            m = ToyGAN(ToyGANConfig(pack=2, noise=16, hidden=32))
            hist, metrics = fit_toy_gan(m, cfg, None, progress=False)
        models.append(m)
    for (k, p), q in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        assert torch.equal(p, q), f"{k} differs between two seeded runs"
    assert set(metrics) == {"modes_covered", "frac_near_mode"} and hist.train == []  # < 100 steps
    assert (metrics["modes_covered"], metrics["frac_near_mode"]) == modes_of(models[0])
    # the registry's path (seeded(seed): build, fit) and the notebook's trainer consume the same stream
    nb, _, _ = train_toy_gan(ToyGANConfig(pack=2, noise=16, hidden=32), cfg, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(nb.state_dict().values(), models[0].state_dict().values()))


def test_the_loop_averages_losses_per_100_steps_and_calls_on_step_after_every_update():
    class Recording(ToyGAN):
        def d_loss(self, real, fake):
            d = super().d_loss(real, fake)
            ds.append(float(d.detach()))
            return d

        def g_loss(self, fake):
            g = super().g_loss(fake)
            gs.append(float(g.detach()))
            return g

    gs, ds, steps = [], [], []
    torch.manual_seed(0)
    model = Recording(ToyGANConfig(noise=4, hidden=8))
    gen_draws = []

    def real(gen):
        gen_draws.append("real")
        return sample_ring(8, gen)

    def fake(gen):
        gen_draws.append("fake")
        return model.G(torch.randn(8, 4, generator=gen))

    hist = train_adversarial(model, GANTrainConfig(steps=200, batch=8), real, fake, progress=False,
                             on_step=lambda k, m: steps.append(k))
    assert steps == list(range(201)) and gen_draws == ["real", "fake"] * 200 and len(gs) == len(ds) == 200
    torch.testing.assert_close(hist.train, [sum(gs[:100]) / 100, sum(gs[100:]) / 100], rtol=1e-12, atol=0)
    torch.testing.assert_close(hist.valid, [sum(ds[:100]) / 100, sum(ds[100:]) / 100], rtol=1e-12, atol=0)
    assert hist.best_epoch == 1 and hist.seconds > 0


def test_shipped_checkpoints(shipped):
    weakest = {}
    for name in ("toy_gan_plain", "toy_gan_pack2"):
        model, info = shipped(name)
        covered, near = modes_of(model)
        assert covered == info["metrics"]["modes_covered"]  # the recorded number is what the model does
        assert math.isclose(near, info["metrics"]["frac_near_mode"], abs_tol=1e-6)
        x = model.sample(10_000, generator=torch.Generator().manual_seed(0))
        d = torch.cdist(x, ring_centres())
        weakest[name] = float(torch.bincount(d.argmin(1)[d.min(1).values < 0.15], minlength=8).min()) / len(x)
    assert weakest["toy_gan_plain"] < 0.02, "the plain GAN should leave a mode nearly empty (partial collapse)"
    assert weakest["toy_gan_pack2"] > 1.5 * weakest["toy_gan_plain"], "PacGAN's weakest mode should be fuller"


def test_snapshot_callback_and_decision_surface():
    seen = []
    cfg = GANTrainConfig(steps=200, batch=256, seed=0)
    model, _, shots = train_toy_gan(ToyGANConfig(pack=2), cfg, snapshots=(0, 100, 200), progress=False,
                                    on_snapshot=lambda step, m: seen.append((step, decision_surface(m, n=11)[1])))
    assert [s for s, _ in seen] == [0, 100, 200] and set(shots) == {0, 100, 200}
    assert not torch.equal(seen[0][1], seen[-1][1]), "D's surface changes with training"
    xs, p = decision_surface(model, lim=2.0, n=11)
    assert xs.shape == (11,) and p.shape == (11, 11) and float(p.min()) >= 0 and float(p.max()) <= 1
    # a grid point is a pack of copies of itself: same as asking the critic directly
    pt = torch.tensor([[xs[3], xs[7]]])  # row 7 = y, column 3 = x
    with torch.no_grad():
        direct = torch.sigmoid(model.critic(pt.repeat(2, 1)))[0]
    torch.testing.assert_close(p[7, 3], direct)
