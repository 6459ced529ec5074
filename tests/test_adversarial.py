"""helpers.adversarial: mode counting, GAN losses, reproducibility, the shipped toy checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.adversarial import (
    ToyGAN, ToyGANConfig, count_modes, decision_surface, load_toy_gan, modes_of, ring_centres, sample_ring, train_toy_gan,
)


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
    gan = ToyGAN(ToyGANConfig(pack=2, batch=8))
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    dr, df = gan.D(real.reshape(4, 4))[:, 0], gan.D(fake.reshape(4, 4))[:, 0]
    want_d = -(torch.sigmoid(dr).log().mean() + (1 - torch.sigmoid(df)).log().mean())
    torch.testing.assert_close(gan.d_loss(real, fake), want_d)
    torch.testing.assert_close(gan.g_loss(fake), -torch.sigmoid(df).log().mean())  # non-saturating
    assert gan.critic(fake).shape == (4,)
    with pytest.raises(ValueError, match="divide batch"):
        ToyGAN(ToyGANConfig(pack=3, batch=8))


def test_training_is_reproducible_and_moves_towards_the_ring():
    cfg = ToyGANConfig(pack=2, steps=300, seed=3)
    a, hist, shots = train_toy_gan(cfg, snapshots=(100, 300), progress=False)
    b, _, _ = train_toy_gan(cfg, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert len(hist.train) == 3 and set(shots) == {100, 300} and shots[300].shape == (2000, 2)
    with torch.no_grad():
        radius = a.sample(2000, torch.Generator().manual_seed(0)).norm(dim=1).mean()
    assert abs(float(radius) - 2.0) < 1.0


@pytest.mark.parametrize("pack, want", [(1, "fewer"), (2, 8)])
def test_shipped_checkpoints(pack, want):
    model, info = load_toy_gan(pack)
    covered, near = modes_of(model)
    assert covered == info["metrics"]["modes_covered"]  # the recorded number is what the model does
    assert math.isclose(near, info["metrics"]["frac_near_mode"], abs_tol=1e-6)
    if want == "fewer":
        assert covered < 8, "the plain GAN should show mode collapse"
    else:
        assert covered == 8, "PacGAN should cover every mode"


def test_snapshot_callback_and_decision_surface():
    seen = []
    cfg = ToyGANConfig(pack=2, steps=200, seed=0)
    model, _, shots = train_toy_gan(cfg, snapshots=(100, 200), progress=False,
                                    on_snapshot=lambda step, m: seen.append((step, decision_surface(m, n=11)[1])))
    assert [s for s, _ in seen] == [100, 200] and set(shots) == {100, 200}
    xs, p = decision_surface(model, lim=2.0, n=11)
    assert xs.shape == (11,) and p.shape == (11, 11) and float(p.min()) >= 0 and float(p.max()) <= 1
    # a grid point is a pack of copies of itself: same as asking the critic directly
    pt = torch.tensor([[xs[3], xs[7]]])  # row 7 = y, column 3 = x
    with torch.no_grad():
        direct = torch.sigmoid(model.critic(pt.repeat(2, 1)))[0]
    torch.testing.assert_close(p[7, 3], direct)
