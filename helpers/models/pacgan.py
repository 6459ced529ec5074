"""PacGAN's synthetic benchmark (Lin, Khetan, Fanti, Oh, NeurIPS 2018, Table 1): 2D-ring and 2D-grid,
GAN against PacGAN2-4, judged by VEEGAN's mode measures.

The protocol, as the authors' code runs it (github.com/fjxmlzn/PacGAN, synthetic_data_experiments/):

* Data (``2DRing_GAN&PacGAN/config.py``, ``2DGrid_GAN&PacGAN/config.py``): ring = 8 Gaussians on the
  unit circle, std 0.01; grid = 25 Gaussians at {-4,-2,0,2,4}^2, std 0.05; modes equally likely.
  A fixed training set of 100,000 points; each of the m slots of a pack draws its own indices
  with replacement (``pacgan/datasets.py``, GaussianPackingMixture).
* Generator (``pacgan_task.py``): z ~ N(0, I_2) -> 4 x [Linear 400 (no bias), BatchNorm, ReLU]
  -> Linear 2 (with bias). Discriminator: 3 maxout layers (Linear to 200 x 5 pieces, max over the
  pieces) -> Linear 1, input 2m (m real or m fake points concatenated). Weights N(0, 0.02^2),
  biases 0. The generator runs once per slot (batch-norm statistics over 100 points each).
* Losses (``pacgan/bricks.py``): D: softplus(-D(x)) + softplus(D(G(z))); G (non-saturating):
  softplus(-D(G(z))), means over the batch. Both nets step simultaneously on the same batch
  (ALI's ``ali_algorithm``), Adam lr 1e-4, beta1 0.8, batch 100 packs, 400 epochs of 100,000 =
  400,000 steps. Blocks' Adam default beta2 is used (0.999 as torch spells it). Caveat: early
  Blocks spelled Adam's betas as 1 - decay (there beta1 = 0.8 would be torch's 0.2); the code does
  not pin a Blocks version, so we take 0.8 in torch's spelling, as the paper's text and the issue do.
* Measures (``pacgan/extensions.py``, MetricLogger, after the last epoch): 2,500 samples from a fixed
  z (batch norm with its population statistics); a sample is high quality when its distance to
  the nearest mode, in that mode's standard deviations, is < 3; a mode is captured when it gets
  >= 1 high-quality sample; the mode histogram counts high-quality samples only. Their code logs
  the entropy H of that histogram (and a JSD), no KL; the paper's reverse KL is then KL(generated || uniform) =
  log K - H (terms with p = 0 drop out: no smoothing needed). With no high-quality sample at all
  (their NaN) we report log K, the worst any histogram scores.

Where we differ: far fewer steps (benchmarks/run.py says how many and what the cut costs); fresh
z with torch's generator instead of Theano's; batch norm's running statistics are updated once per
slot (momentum 0.05, as theirs, which averages the m slot statistics first); their Adam adds eps
before the bias correction (a negligible difference).

``train_pacgan`` trains one seed; ``train_pacgan_batched`` trains several as one model with a
leading seed axis (the benchmark's way): each seed draws its own initialisation and data from its
own torch.Generator, batch norm and maxout act per seed and the losses are summed over seeds, so
(Adam being elementwise) seed s trains as alone: identical in float64, equal up to float32
rounding otherwise (which a GAN's dynamics then amplify, so compare runs with the same seed list).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EVAL_SAMPLES, EVAL_SEED = 2500, 2333  # their MetricLogger: 2,500 samples of one fixed z (MRG seed 2333)


@dataclass(frozen=True)
class MixtureData:
    """K equally likely isotropic Gaussians: centres (K, 2), one std for all."""
    name: str
    centres: Tensor
    std: float

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """(n, 2) points: a uniformly drawn mode plus N(0, std^2 I) noise."""
        idx = torch.randint(0, len(self.centres), (n,), generator=generator)
        return self.centres[idx] + self.std * torch.randn(n, 2, generator=generator)


def ring() -> MixtureData:
    a = torch.arange(8, dtype=torch.float64) * 2 * math.pi / 8
    return MixtureData("ring", torch.stack([a.cos(), a.sin()], 1).float(), 0.01)


def grid() -> MixtureData:
    v = torch.arange(-4.0, 5.0, 2.0)
    return MixtureData("grid", torch.cartesian_prod(v, v), 0.05)


DATASETS: dict[str, Callable[[], MixtureData]] = {"ring": ring, "grid": grid}


def _data(dataset: str | MixtureData) -> MixtureData:
    if isinstance(dataset, MixtureData):
        return dataset
    if dataset not in DATASETS:
        raise ValueError(f"dataset: want one of {sorted(DATASETS)}, got {dataset!r}")
    return DATASETS[dataset]()


class Maxout(nn.Module):
    """x (B, n_in) -> (B, n_out): max over ``pieces`` linear maps."""
    def __init__(self, n_in: int, n_out: int, pieces: int):
        super().__init__()
        self.linear, self.n_out, self.pieces = nn.Linear(n_in, n_out * pieces), n_out, pieces

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(-1, self.n_out, self.pieces).max(-1).values


def generator_net(hidden: int = 400, layers: int = 4, noise: int = 2) -> nn.Sequential:
    """z (B, noise) -> x (B, 2): ``layers`` x [Linear without bias, BatchNorm, ReLU], Linear out."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(noise if i == 0 else hidden, hidden, bias=False),
                 nn.BatchNorm1d(hidden, eps=1e-4, momentum=0.05), nn.ReLU()]
    return nn.Sequential(*mods, nn.Linear(hidden, 2))


def discriminator_net(pack: int = 1, hidden: int = 200, pieces: int = 5, layers: int = 3) -> nn.Sequential:
    """A pack (B, 2 * pack) -> a logit "real" (B, 1)."""
    mods = [Maxout(2 * pack if i == 0 else hidden, hidden, pieces) for i in range(layers)]
    return nn.Sequential(*mods, nn.Linear(hidden, 1))


def _init(net: nn.Module, generator: torch.Generator, std: float = 0.02) -> None:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, std, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()


def train_pacgan(dataset: str | MixtureData, pack: int, seed: int, steps: int, *, batch: int = 100,
                 lr: float = 1e-4, betas: tuple[float, float] = (0.8, 0.999), train_size: int = 100_000,
                 on_step: Callable[[int, nn.Module], None] | None = None) -> nn.Module:
    """Train the generator of PacGAN``pack`` (pack = 1: a plain GAN) for ``steps`` Adam steps, the
    protocol of the module docstring; returns it in eval mode. Everything random comes from one
    torch.Generator seeded with ``seed``: same seed and thread count -> same weights on a CPU.
    ``on_step(step, G)`` is called after the given step count (1-based) with G in eval mode."""
    if pack < 1 or steps < 0:
        raise ValueError(f"want pack >= 1 and steps >= 0, got pack={pack}, steps={steps}")
    data, gen = _data(dataset), torch.Generator().manual_seed(seed)
    G, D = generator_net(), discriminator_net(pack)
    _init(G, gen), _init(D, gen)
    train = data.sample(train_size, gen)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas, fused=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas, fused=True)
    d_params, g_params = list(D.parameters()), list(G.parameters())
    G.train()
    for step in range(1, steps + 1):
        real = train[torch.randint(0, train_size, (pack, batch), generator=gen)]  # (m, B, 2)
        z = torch.randn(pack, batch, 2, generator=gen)
        fake = torch.stack([G(z[i]) for i in range(pack)])  # one BN batch per slot, as theirs
        packs = torch.cat([real, fake], 1).permute(1, 0, 2).reshape(2 * batch, 2 * pack)
        logits = D(packs).squeeze(1)
        d_loss = F.softplus(-logits[:batch]).mean() + F.softplus(logits[batch:]).mean()
        g_loss = F.softplus(-logits[batch:]).mean()
        gd = torch.autograd.grad(d_loss, d_params, retain_graph=True)
        gg = torch.autograd.grad(g_loss, g_params)
        for p, g in zip(d_params + g_params, gd + gg):
            p.grad = g
        opt_d.step(), opt_g.step()  # simultaneous: both gradients came from the same forward pass
        if on_step is not None:
            G.eval()
            on_step(step, G)
            G.train()
    return G.eval()


def generate(G: nn.Module, n: int = EVAL_SAMPLES, seed: int = EVAL_SEED) -> Tensor:
    """(n, 2) samples of a trained generator, z from its own seeded generator, BN in eval mode."""
    was = G.training
    G.eval()
    with torch.no_grad():
        x = G(torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)))
    G.train(was)
    return x


def measure(samples: Tensor, dataset: str | MixtureData) -> dict[str, float]:
    """VEEGAN's measures as PacGAN's MetricLogger computes them: modes captured (>= 1 sample
    within 3 std of it), the high-quality share of all samples, and KL(generated || uniform) of
    the histogram of high-quality samples over modes, in nats (log K, the worst any histogram scores,
    when no sample is high quality: their code would log NaN)."""
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"want samples of shape (N, 2), got {tuple(samples.shape)}")
    data = _data(dataset)
    dist, which = (torch.cdist(samples.double(), data.centres.double()) / data.std).min(1)
    good = dist < 3
    counts = torch.bincount(which[good], minlength=len(data.centres)).double()
    if counts.sum() == 0:  # their entropy would be 0/0; we score it as the worst histogram
        kl = math.log(len(data.centres))
    else:
        p = counts[counts > 0] / counts.sum()
        kl = float((p * (p * len(data.centres)).log()).sum())
    return {"modes": int((counts > 0).sum()), "high_quality": float(good.double().mean()), "reverse_kl": kl}


def run_one(dataset: str, pack: int, seed: int, steps: int, probe: int = 0) -> dict:
    """One benchmark run on one thread: the measures at ``steps`` (and at ``probe`` steps, for the
    cheap reproduction check of tests/test_pacgan.py), with its wall time in seconds."""
    import time
    torch.set_num_threads(1)
    out: dict = {}

    def at(step: int, G: nn.Module) -> None:
        if step == probe:
            x = generate(G)
            out["probe"] = {**measure(x, dataset), "centroid": x.double().mean(0).tolist()}

    t = time.perf_counter()
    G = train_pacgan(dataset, pack, seed, steps, on_step=at if 0 < probe <= steps else None)
    return {**measure(generate(G), dataset), **out, "seconds": time.perf_counter() - t}


# ---- the same protocol for S seeds at once: one batched model, a leading seed axis on every weight ----

class _BLinear(nn.Module):
    """S independent linear maps: x (S, N, n_in) -> (S, N, n_out), weight (S, n_in, n_out)."""
    def __init__(self, seeds: int, n_in: int, n_out: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(seeds, n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(seeds, 1, n_out)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return torch.bmm(x, self.weight) if self.bias is None else torch.baddbmm(self.bias, x, self.weight)


class _BBatchNorm(nn.Module):
    """BatchNorm1d per seed and per slot: x (S, P, B, H), statistics over B (eps 1e-4, momentum 0.05);
    running statistics (S, H) updated once per slot, in slot order, as P calls of nn.BatchNorm1d would."""
    def __init__(self, seeds: int, hidden: int, eps: float = 1e-4, momentum: float = 0.05):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(seeds, 1, 1, hidden))
        self.bias = nn.Parameter(torch.zeros(seeds, 1, 1, hidden))
        self.register_buffer("running_mean", torch.zeros(seeds, hidden))
        self.register_buffer("running_var", torch.ones(seeds, hidden))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        self.eps, self.momentum = eps, momentum

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return (x - self.running_mean[:, None, None]) / (self.running_var[:, None, None] + self.eps).sqrt() \
                * self.weight + self.bias
        mean = x.mean(2, keepdim=True)
        xc = x - mean
        var = xc.square().mean(2, keepdim=True)
        with torch.no_grad():
            n, m = x.shape[2], self.momentum
            for p in range(x.shape[1]):
                self.running_mean.mul_(1 - m).add_(m * mean[:, p, 0])
                self.running_var.mul_(1 - m).add_(m * var[:, p, 0] * n / (n - 1))
                self.num_batches_tracked.add_(1)
        return xc * (var + self.eps).rsqrt() * self.weight + self.bias


class BatchedGenerator(nn.Module):
    """S generators of ``generator_net``'s shape: z (S, P, B, 2) -> x (S, P, B, 2), batch norm per (seed, slot)."""
    def __init__(self, seeds: int, hidden: int = 400, layers: int = 4, noise: int = 2):
        super().__init__()
        self.linears = nn.ModuleList(_BLinear(seeds, noise if i == 0 else hidden, hidden, bias=False)
                                     for i in range(layers))
        self.norms = nn.ModuleList(_BBatchNorm(seeds, hidden) for _ in range(layers))
        self.out = _BLinear(seeds, hidden, 2)

    def forward(self, z: Tensor) -> Tensor:
        S, P, B, _ = z.shape
        h = z.reshape(S, P * B, -1)
        for lin, bn in zip(self.linears, self.norms):
            h = F.relu(bn(lin(h).view(S, P, B, -1))).view(S, P * B, -1)
        return self.out(h).view(S, P, B, 2)

    def single(self, s: int) -> nn.Sequential:
        """Seed s's generator as a ``generator_net`` (same state_dict keys), in eval mode."""
        G = generator_net(self.out.weight.shape[1], len(self.linears), self.linears[0].weight.shape[1])
        with torch.no_grad():
            for i, (lin, bn) in enumerate(zip(self.linears, self.norms)):
                G[3 * i].weight.copy_(lin.weight[s].T)
                G[3 * i + 1].weight.copy_(bn.weight[s].flatten()), G[3 * i + 1].bias.copy_(bn.bias[s].flatten())
                G[3 * i + 1].running_mean.copy_(bn.running_mean[s]), G[3 * i + 1].running_var.copy_(bn.running_var[s])
                G[3 * i + 1].num_batches_tracked.copy_(bn.num_batches_tracked)
            G[-1].weight.copy_(self.out.weight[s].T), G[-1].bias.copy_(self.out.bias[s].flatten())
        return G.eval()


class BatchedDiscriminator(nn.Module):
    """S discriminators of ``discriminator_net``'s shape: packs (S, N, 2m) -> logits (S, N)."""
    def __init__(self, seeds: int, pack: int = 1, hidden: int = 200, pieces: int = 5, layers: int = 3):
        super().__init__()
        self.maxouts = nn.ModuleList(_BLinear(seeds, 2 * pack if i == 0 else hidden, hidden * pieces)
                                     for i in range(layers))
        self.out, self.hidden, self.pieces = _BLinear(seeds, hidden, 1), hidden, pieces

    def forward(self, x: Tensor) -> Tensor:
        S, N, _ = x.shape
        for lin in self.maxouts:
            x = lin(x).view(S, N, self.hidden, self.pieces).max(-1).values
        return self.out(x).squeeze(-1)


def _init_batched(linears: list[_BLinear], gen: torch.Generator, s: int, std: float = 0.02) -> None:
    """Seed s's slice drawn exactly as ``_init`` draws nn.Linear's (out, in) weights, in module order."""
    with torch.no_grad():
        for lin in linears:
            n_in, n_out = lin.weight.shape[1:]
            lin.weight[s].copy_(torch.empty(n_out, n_in).normal_(0.0, std, generator=gen).T)


def train_pacgan_batched(dataset: str | MixtureData, pack: int, seeds: list[int], steps: int, *,
                         batch: int = 100, lr: float = 1e-4, betas: tuple[float, float] = (0.8, 0.999),
                         train_size: int = 100_000,
                         on_step: Callable[[int, BatchedGenerator], None] | None = None) -> BatchedGenerator:
    """``train_pacgan`` for every seed in ``seeds`` at once, as one model with a leading seed axis
    (S = len(seeds)): seed s draws its initial weights, training set, indices and noise from its
    own torch.Generator(seed) in the order a single run does, batch norm and maxout act per seed,
    and the losses are summed over seeds, so with Adam (elementwise) each seed trains exactly as
    alone, up to float rounding of the batched matrix products (~1e-6). Returns the generators in
    eval mode; ``.single(i)`` gives seeds[i]'s as a ``generator_net``."""
    if pack < 1 or steps < 0 or not seeds:
        raise ValueError(f"want pack >= 1, steps >= 0 and seeds, got pack={pack}, steps={steps}, seeds={seeds}")
    data, S = _data(dataset), len(seeds)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    G, D = BatchedGenerator(S), BatchedDiscriminator(S, pack)
    trains = []
    for i, g in enumerate(gens):
        _init_batched([*G.linears, G.out], g, i), _init_batched([*D.maxouts, D.out], g, i)
        trains.append(data.sample(train_size, g))
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas, fused=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas, fused=True)
    d_params, g_params = list(D.parameters()), list(G.parameters())
    G.train()
    for step in range(1, steps + 1):
        draws = [(t[torch.randint(0, train_size, (pack, batch), generator=g)], torch.randn(pack, batch, 2, generator=g))
                 for t, g in zip(trains, gens)]
        real = torch.stack([r for r, _ in draws])  # (S, m, B, 2)
        fake = G(torch.stack([z for _, z in draws]))  # (S, m, B, 2)
        # real and fake packs through D separately (rows are independent): G's backward then
        # runs through the B fake rows only
        real_logits, fake_logits = (D(x.permute(0, 2, 1, 3).reshape(S, batch, 2 * pack)) for x in (real, fake))
        d_loss = (F.softplus(-real_logits).mean(1) + F.softplus(fake_logits).mean(1)).sum()
        g_loss = F.softplus(-fake_logits).mean(1).sum()
        gd = torch.autograd.grad(d_loss, d_params, retain_graph=True)
        gg = torch.autograd.grad(g_loss, g_params)
        for p, g in zip(d_params + g_params, gd + gg):
            p.grad = g
        opt_d.step(), opt_g.step()
        if on_step is not None:
            G.eval()
            on_step(step, G)
            G.train()
    return G.eval()


def run_batched(dataset: str, pack: int, seeds: list[int], steps: int, probe: int = 0) -> list[dict]:
    """``run_one`` for several seeds as one batched run on one thread: one result per seed, each
    with the batched run's wall time divided by the number of seeds."""
    import time
    torch.set_num_threads(1)
    probes: dict[int, dict] = {}

    def result(G: BatchedGenerator, i: int) -> dict:
        x = generate(G.single(i))
        return {**measure(x, dataset), "centroid": x.double().mean(0).tolist()}

    def at(step: int, G: BatchedGenerator) -> None:
        if step == probe:
            probes.update({i: result(G, i) for i in range(len(seeds))})

    t = time.perf_counter()
    G = train_pacgan_batched(dataset, pack, seeds, steps, on_step=at if 0 < probe <= steps else None)
    seconds = (time.perf_counter() - t) / len(seeds)
    out = []
    for i in range(len(seeds)):
        r = result(G, i)
        r.pop("centroid")
        out.append({**r, **({"probe": probes[i]} if probes else {}), "seconds": seconds})
    return out
