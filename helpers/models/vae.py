"""Variational autoencoders (lecture slides 19-22): the ELBO, the IWAE likelihood, training.

**The convention for σ (slide 19).** The slide's encoder outputs m and σ and regularises
with  sum_i exp(σ_i) - (1 + σ_i) + m_i^2 . That term equals *twice*
KL( N(m, diag exp(σ)) || N(0, I) ), i.e. it is a KL exactly when σ is the **log-variance**
(``helpers.models.gaussian.slide_kl_term``; notebook 05 checks this against ``torch.distributions``).
So everywhere here σ is the log-variance (``log_var``), the noise scale is exp(σ/2), and

    c = m + exp(σ/2) ⊙ e,   e ~ N(0, I)          (the slide writes exp(σ) ⊙ e)
    loss = rec(x, c) + β · KL(q(z|x) || N(0, I)) = -ELBO when β = 1,

with rec = -log P(x | c) from the decoders of ``helpers.models.autoencoders`` (categorical per pixel).
The model: z ~ N(0, I), x | z ~ P(x | z); ``VAE.sample`` draws from it. Its likelihood has no
closed form: ``VAE.log_prob_estimate`` is the importance-sampled estimate of log P(x) (Burda et
al. 2016), a random number, hence the name (no ``log_prob``: see ``helpers.core.contract``).
Reductions: per-image functions return (B,) in nats; losses are the batch mean of those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from helpers.models.autoencoders import Encoder, NetConfig, make_decoder, reconstruction_nll
from helpers.core.checkpoints import Metric, declared
from helpers.core.contract import eval_mode, generator_device
from helpers.core.data import Split
from helpers.models.gaussian import kl_standard_normal, log_normal_diag, log_standard_normal
from helpers.core.train import History, TrainConfig, fit, model_device


@dataclass(frozen=True)
class VAETrainConfig:
    """How a VAE is trained. kl_weight β multiplies the KL term (0: reconstruction only, the
    slide-20 experiment); warmup: epochs over which β rises linearly from 0 to kl_weight
    (validation always scores rec + kl_weight · KL); train: the loop's settings."""

    kl_weight: float = 1.0
    warmup: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class FreeBitsConfig(VAETrainConfig):
    """A VAE trained with "free bits" (Kingma et al. 2016): while training, each code dimension's
    KL, averaged over the batch, counts as at least ``free_bits`` nats, so pushing a dimension's
    KL below that gains nothing and a strong decoder has no reason to leave z unused. Validation
    and the test numbers score the true objective rec + kl_weight · KL."""

    free_bits: float = 0.0


class VAE(nn.Module):
    """Slide 19 with σ = log-variance (see the module docstring).

    encode: x -> (m, σ), each (B, latent); reparameterize: c = m + exp(σ/2) ⊙ e.
    forward(x) returns (rec, kl), each (B,) in nats; -ELBO = rec + kl."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = Encoder(cfg, 2 * cfg.latent), make_decoder(cfg)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, H, W) -> q(z|x) = N(m, diag exp(log_var)): m, log_var each (B, latent)."""
        m, log_var = self.encoder(x).chunk(2, dim=-1)
        return m, log_var.clamp(-12.0, 8.0)

    def code(self, x: Tensor) -> Tensor:
        """The posterior mean m of each image, (B, latent)."""
        return self.encode(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        """(B, latent) -> logits (B, H, W, K) (the MADE decoder: given its rounded-mean picture)."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(m: Tensor, log_var: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z = m + exp(log_var / 2) ⊙ e, e ~ N(0, I) drawn on the generator's device (the global
        generator of m's device without one), then moved to m's device."""
        dev = generator_device(generator, m.device)
        e = torch.randn(m.shape, generator=generator, device=dev, dtype=m.dtype).to(m.device)
        return m + (0.5 * log_var).exp() * e

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(rec, kl), each (B,) nats: -log P(x | z) at one z ~ q(z|x), and KL(q(z|x) || N(0, I))."""
        m, log_var = self.encode(x)
        z = self.reparameterize(m, log_var, generator)
        return self.rec(z, x), kl_standard_normal(m, log_var)

    def rec(self, z: Tensor, x: Tensor) -> Tensor:
        """-log P(x | z) per image, (B,) nats."""
        return reconstruction_nll(self.decoder(z, x), x)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n codes from N(0, I): (n, latent), on the model's device (drawn on the generator's)."""
        dev = model_device(self)
        gdev = generator_device(generator, dev)
        return torch.randn(n, self.cfg.latent, generator=generator, device=gdev).to(dev)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, prefix: Tensor | None = None) -> Tensor:
        """n images drawn from the model, (n, side, side) long: z ~ N(0, I), then x ~ P(x | z)
        (every pixel from its categorical; the MADE decoder pixel by pixel in raster order).
        Eval mode (no dropout); the model's mode is restored afterwards."""
        if prefix is not None:
            raise ValueError("a VAE here cannot condition on a prefix: its pixels are drawn given a code z, "
                             "not given earlier pixels; call sample(n) without prefix")
        with eval_mode(self):
            return self.decoder.sample(self.sample_prior(n, generator), generator)

    def log_prob_estimate(self, x: Tensor, k: int = 1000, generator: torch.Generator | None = None) -> Tensor:
        """An estimate of log P(x) per image, (B,) nats: the k-sample importance-weighted estimate
        (``iwae_log_likelihood``; random, drawn from ``generator``; a lower bound in expectation,
        tight as k grows). Not ``log_prob``: the VAE has no exact likelihood."""
        return iwae_log_likelihood(self, x, k, generator)


def elbo(model: VAE, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One-sample ELBO per image, (B,) nats: E_q[log P(x|z)] - KL(q(z|x) || N(0, I))."""
    rec, kl = model(x, generator)
    return -(rec + kl)


def log_weights(model: VAE, x: Tensor, m: Tensor, log_var: Tensor, n: int,
                generator: torch.Generator | None = None) -> Tensor:
    """n importance weights per image, (B, n): log P(x|z) + log N(z; 0, I) - log q(z|x), z ~ q."""
    b, d = m.shape
    mm, lv = m[:, None].expand(b, n, d), log_var[:, None].expand(b, n, d)
    z = VAE.reparameterize(mm, lv, generator)
    log_px = -model.rec(z.reshape(b * n, d), x.repeat_interleave(n, 0)).view(b, n)
    return log_px + log_standard_normal(z) - log_normal_diag(z, mm, lv)


@torch.no_grad()
def iwae_log_likelihood(
    model: VAE,
    x: Tensor,
    k: int,
    generator: torch.Generator | None = None,
    chunk: int = 32768,
) -> Tensor:
    """Importance-sampled estimate of log P(x) per image, (B,) nats (Burda et al. 2016):

        log P(x) >= log (1/k) sum_j P(x | z_j) N(z_j; 0, I) / q(z_j | x),  z_j ~ q(z | x).

    k = 1 is the ELBO (with a sampled KL); the bound tightens as k grows. Evaluated in blocks
    of at most ``chunk`` (image, sample) pairs, so k = 1000 on 447 digits fits in memory.
    x is moved to the model's device; the result lives there."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k (importance samples) must be an integer >= 1, got {k!r}; "
                         "k = 1 gives the ELBO, k >= 1000 a tight bound")
    if not callable(getattr(model, "reparameterize", None)):
        raise TypeError(f"iwae_log_likelihood needs a VAE (an encoder q(z|x)), got {type(model).__name__}")
    x = x.to(model_device(model))
    out = []
    with eval_mode(model):
        for xb in x.split(max(1, chunk // k)):
            m, log_var = model.encode(xb)
            per = max(1, chunk // len(xb))  # samples per block for this batch of images
            logw = torch.cat([log_weights(model, xb, m, log_var, min(per, k - s), generator)
                              for s in range(0, k, per)], 1)
            out.append(torch.logsumexp(logw, 1) - math.log(k))
    return torch.cat(out)


# ----------------------------------------------------------------------------- training
def vae_loss(cfg: VAETrainConfig, state: dict[str, float]) -> Callable[[nn.Module, Tensor], Tensor]:
    """loss_fn for helpers.core.train.fit, nats per image: training uses rec + state["beta"] · KL
    (β warms up), evaluation (model.eval()) the configured objective rec + kl_weight · KL."""

    free = getattr(cfg, "free_bits", 0.0)

    def loss_fn(model: nn.Module, x: Tensor) -> Tensor:
        if free and model.training:
            m, log_var = model.encode(x)
            rec = model.rec(model.reparameterize(m, log_var), x)
            kl_dims = kl_standard_normal(m.unsqueeze(-1), log_var.unsqueeze(-1)).mean(0)  # (latent,), batch mean
            return rec.mean() + state["beta"] * kl_dims.clamp_min(free).sum()
        rec, kl = model(x)
        beta = state["beta"] if model.training else cfg.kl_weight
        return (rec + beta * kl).mean()

    return loss_fn


METRICS = (
    Metric("test_rec_nats", "test reconstruction error, nats per image (z drawn, seed 1)", headline=True),
    Metric("test_kl_nats", "test KL(q(z|x) || P(z)), nats per image", headline=True),
    Metric("test_neg_elbo_nats", "test -ELBO, nats per image", headline=True),
    Metric("test_iwae{k}_nats", "test -log P(x) by IWAE with k samples (seed 2)", headline=True),
    Metric("log_var_trace", "mean log-variance of the training codes after every epoch"),
)


def fit_vae(
    model: VAE,
    cfg: VAETrainConfig,
    data: Split,
    *,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    iwae_k: int = 0,
    resume: Path | None = None,
) -> tuple[History, dict[str, float | list[float]]]:
    """Train ``model`` in place on data = Split(train, valid, test) with KL warm-up, on ``device``
    (None = where it is); the caller's random state is left as it was. Returns the History and
    metrics: "log_var_trace" (mean σ = log-variance of the training codes after every epoch),
    test "test_rec_nats", "test_kl_nats", "test_neg_elbo_nats" (nats per image, z drawn with a
    generator seeded 1) and, if iwae_k, "test_iwae{k}_nats" = -log P(x) by IWAE (seed 2).
    resume: fit()'s state file; the warm-up weight and the trace are saved with it."""
    return _fit_vae(model, cfg, data, device, progress, iwae_k, None, resume)


def _fit_vae(model, cfg, data, device, progress, iwae_k, augment, resume):
    train, valid, test = data
    # what the loss and the trace keep between epochs; fit() saves it with a resumable run
    state = {"beta": cfg.kl_weight if cfg.warmup == 0 else 0.0, "trace": []}

    def on_epoch(epoch: int, hist: History) -> None:
        if cfg.warmup:
            state["beta"] = cfg.kl_weight * min(1.0, (epoch + 2) / cfg.warmup)
        with torch.no_grad():
            model.eval()
            state["trace"].append(float(model.encode(train.to(model_device(model)))[1].mean()))
            model.train()

    hist = fit(model, vae_loss(cfg, state), train, valid, cfg.train, device=device, progress=progress,
               on_epoch=on_epoch, augment=augment, resume=resume, keep=state)
    trace = state["trace"]
    model.eval()
    test = test.to(model_device(model))
    with torch.no_grad():
        rec, kl = model(test, torch.Generator(device="cpu").manual_seed(1))
    metrics: dict = {"test_rec_nats": float(rec.mean()), "test_kl_nats": float(kl.mean()),
                     "test_neg_elbo_nats": float((rec + kl).mean()), "log_var_trace": trace}
    if iwae_k:
        ll = iwae_log_likelihood(model, test, iwae_k, torch.Generator(device="cpu").manual_seed(2))
        metrics[f"test_iwae{iwae_k}_nats"] = float(-ll.mean())
    return hist, declared(metrics, METRICS, "fit_vae")


def fit_pixel_vae(model: VAE, cfg: VAETrainConfig, data: Split, *, device: torch.device | str | None = None,
                  progress: bool | None = None, iwae_k: int = 0,
                  augment: Callable[[Tensor, torch.Generator], Tensor] | None = None, resume: Path | None = None):
    """``fit_vae`` with the data set's augmentation (the Pokémon flips, as the PixelCNNs of
    notebook 02 are trained): the registry hands ``augment`` to fits that take it, and the
    PixelVAE's decoder, a PixelCNN, profits from it as theirs do. (``fit_vae`` keeps its
    recipes' training as it was, without flips, when called without ``augment``.)"""
    return _fit_vae(model, cfg, data, device, progress, iwae_k, augment, resume)
