"""Autoencoders and variational autoencoders (lecture slides 15-22), on digits and Pokémon.

Encoder -> code -> decoder. Decoders return **per-pixel logits** over the image's categories,
(B, H, W, K): K = 17 grey levels for digits, K = 167 colours for Pokémon. The likelihood
P(x | z) is categorical per pixel, so the reconstruction error

    rec(x, z) = -log P(x | z) = sum over pixels of cross-entropy     (nats per image)

is a proper negative log-likelihood, comparable with the other models of the series.

**The convention for σ (slide 19).** The slide's encoder outputs m and σ and regularises
with  sum_i exp(σ_i) - (1 + σ_i) + m_i^2 . That term equals *twice*
KL( N(m, diag exp(σ)) || N(0, I) ), i.e. it is a KL exactly when σ is the **log-variance**
(notebook 05 checks this against ``torch.distributions``). So everywhere here σ is the
log-variance (``log_var``), the noise scale is the standard deviation exp(σ/2), and

    c = m + exp(σ/2) ⊙ e,   e ~ N(0, I)          (the slide writes exp(σ) ⊙ e)
    loss = rec(x, c) + β · ½ · slide term = -ELBO when β = 1.

Reductions: per-image functions return (B,) in nats; losses are the batch mean of those.
Training entry: ``python -m helpers.autoencoders train`` writes the shipped checkpoints.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import DIGIT_LEVELS, N_COLOURS, SIDE
from .train import CHECKPOINT_DIR, History, TrainConfig, evaluate, fit, train_or_load

LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class NetConfig:
    """Shape of encoder and decoder.

    side: image side (8 digits, 20 Pokémon); levels: categories per pixel (17 / 167);
    latent: code length; hidden: MLP width, or conv channels; depth: hidden layers (MLP);
    arch: "mlp" (digits) or "conv" (Pokémon: colour embedding + strided convolutions).
    """

    side: int = 8
    levels: int = DIGIT_LEVELS
    latent: int = 2
    hidden: int = 256
    depth: int = 2
    arch: str = "mlp"
    embed: int = 16  # colour-embedding size of the conv encoder
    dropout: float = 0.0  # after every hidden layer of the MLPs (regularises on 1000 digits)
    autoregressive: bool = False  # mlp only: MADE decoder P(x|z) = prod_i P(x_i | x_<i, z)
    onehot: bool = False  # MADE decoder reads earlier pixels one-hot (K inputs each), not as x / (K-1)


def digits_net(latent: int = 2, hidden: int = 256, depth: int = 2, dropout: float = 0.0) -> NetConfig:
    return NetConfig(side=8, levels=DIGIT_LEVELS, latent=latent, hidden=hidden, depth=depth,
                     arch="mlp", dropout=dropout)


def pokemon_net(latent: int = 10, hidden: int = 32) -> NetConfig:
    return NetConfig(side=SIDE, levels=N_COLOURS, latent=latent, hidden=hidden, arch="conv")


@dataclass(frozen=True)
class AutoencoderConfig:
    """A plain autoencoder and how it was trained (what a checkpoint stores)."""

    net: NetConfig = field(default_factory=NetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class VAEConfig:
    """A VAE and how it was trained. kl_weight β multiplies the KL term (0: reconstruction
    only, the slide-20 experiment); warmup: epochs over which β rises linearly from 0 to
    kl_weight (validation always scores the full -ELBO with β = kl_weight)."""

    net: NetConfig = field(default_factory=NetConfig)
    kl_weight: float = 1.0
    warmup: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    iwae_k: int = 1  # k > 1: train (and early-stop) on the k-sample IWAE bound instead of the ELBO


# ----------------------------------------------------------------------------- networks
def _mlp(sizes: list[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ELU()] + ([nn.Dropout(dropout)] if dropout else [])
    return nn.Sequential(*layers[: -2 if dropout else -1])  # nothing after the last layer


class Encoder(nn.Module):
    """(B, H, W) long categories -> (B, out) features.

    mlp: pixels scaled to [0, 1] (grey levels are ordered); conv: a learned colour
    embedding per pixel (Pokémon colours are unordered categories), then two stride-2 convs."""

    def __init__(self, cfg: NetConfig, out: int):
        super().__init__()
        self.cfg = cfg
        if cfg.arch == "mlp":
            self.body = _mlp([cfg.side**2] + [cfg.hidden] * cfg.depth + [out], cfg.dropout)
        elif cfg.arch == "conv":
            c, s = cfg.hidden, cfg.side // 4
            self.embed = nn.Embedding(cfg.levels, cfg.embed)
            self.body = nn.Sequential(
                nn.Conv2d(cfg.embed, c, 3, padding=1), nn.ELU(),
                nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ELU(),
                nn.Conv2d(2 * c, 2 * c, 4, 2, 1), nn.ELU(),
                nn.Flatten(), nn.Linear(2 * c * s * s, out),
            )
        else:
            raise ValueError(f"arch must be 'mlp' or 'conv', got {cfg.arch!r}")

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, self.cfg)
        if self.cfg.arch == "mlp":
            return self.body(x.flatten(1).float() / (self.cfg.levels - 1))
        return self.body(self.embed(x).permute(0, 3, 1, 2))


class Decoder(nn.Module):
    """(B, latent) code -> (B, H, W, K) logits of P(x_pixel = k | z): pixels independent given z."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.arch == "mlp":
            self.body = _mlp([cfg.latent] + [cfg.hidden] * cfg.depth + [cfg.side**2 * cfg.levels], cfg.dropout)
        else:
            c, s = cfg.hidden, cfg.side // 4
            self.body = nn.Sequential(
                nn.Linear(cfg.latent, 2 * c * s * s), nn.ELU(), nn.Unflatten(1, (2 * c, s, s)),
                nn.ConvTranspose2d(2 * c, 2 * c, 4, 2, 1), nn.ELU(),
                nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ELU(),
                nn.Conv2d(c, cfg.levels, 1),
            )

    def forward(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        """x is ignored (pixels are independent given z); it is there for MADEDecoder's sake."""
        check_codes(z, self.cfg.latent)
        h = self.body(z)
        b, s, k = len(z), self.cfg.side, self.cfg.levels
        return h.view(b, s, s, k) if self.cfg.arch == "mlp" else h.permute(0, 2, 3, 1)


class MaskedLinear(nn.Linear):
    """nn.Linear whose weight is multiplied by a fixed 0/1 mask (out, in)."""

    def __init__(self, mask: Tensor):
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.float(), persistent=False)  # rebuilt from cfg, not saved

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADEDecoder(nn.Module):
    """A "better decoder": P(x | z) = prod_i P(x_i | x_<i, z) in raster order (MADE masks,
    Germain et al. 2015), so pixels need not be independent given z. With x given (training,
    likelihoods) one pass gives every conditional; without x, pixels are generated one at a
    time, each set to its expected grey level... rounded (a deterministic picture for z)."""

    def __init__(self, cfg: NetConfig):
        super().__init__()
        if cfg.arch != "mlp":
            raise ValueError("autoregressive=True needs arch='mlp'")
        self.cfg = cfg
        d, h, k = cfg.side**2, cfg.hidden, cfg.levels
        deg_in = torch.arange(1, d + 1)  # pixel i has degree i + 1
        deg_h = torch.arange(h) % (d - 1) + 1  # hidden degrees 1 .. d-1
        deg_out = deg_in.repeat_interleave(k)
        self.inp = MaskedLinear(deg_h[:, None] >= (deg_out if cfg.onehot else deg_in)[None, :])
        self.hidden = nn.ModuleList(MaskedLinear(deg_h[:, None] >= deg_h[None, :]) for _ in range(cfg.depth - 1))
        self.out = MaskedLinear(deg_out[:, None] > deg_h[None, :])
        self.z_in = nn.Linear(cfg.latent, h)
        self.z_out = nn.Linear(cfg.latent, d * k)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        check_codes(z, self.cfg.latent)
        if x is None:
            return self._generate(z)
        s, k = self.cfg.side, self.cfg.levels
        x_in = F.one_hot(x.flatten(1), k).flatten(1).float() if self.cfg.onehot else x.flatten(1).float() / (k - 1)
        h = self.drop(F.elu(self.inp(x_in) + self.z_in(z)))
        for layer in self.hidden:
            h = self.drop(F.elu(layer(h)))
        return (self.out(h) + self.z_out(z)).view(len(z), s, s, k)

    def _generate(self, z: Tensor) -> Tensor:
        s, k = self.cfg.side, self.cfg.levels
        x = torch.zeros(len(z), s, s, dtype=torch.long)
        levels = torch.arange(k, dtype=z.dtype)
        for i in range(s * s):
            logits = self.forward(z, x)
            r, c = divmod(i, s)
            x[:, r, c] = (logits[:, r, c].softmax(-1) @ levels).round().long()
        return self.forward(z, x)


def make_decoder(cfg: NetConfig) -> nn.Module:
    return MADEDecoder(cfg) if cfg.autoregressive else Decoder(cfg)


def check_images(x: Tensor, cfg: NetConfig) -> None:
    want = (cfg.side, cfg.side)
    if x.ndim != 3 or tuple(x.shape[1:]) != want:
        raise ValueError(f"expected images of shape (B, {want[0]}, {want[1]}), got {tuple(x.shape)}; "
                         "add a batch dimension with x[None] for a single image")
    if x.dtype != torch.long:
        raise TypeError(f"expected integer categories (torch.long), got {x.dtype}; use x.long()")


def check_codes(z: Tensor, latent: int) -> None:
    if z.ndim != 2 or z.shape[1] != latent:
        raise ValueError(f"expected codes of shape (B, {latent}), got {tuple(z.shape)}; "
                         f"this decoder has a {latent}-dimensional code (use z[None] for one code)")


def reconstruction_nll(logits: Tensor, x: Tensor) -> Tensor:
    """-log P(x | z) per image in nats: logits (B, H, W, K), x (B, H, W) long -> (B,)."""
    ce = F.cross_entropy(logits.flatten(0, 2), x.flatten(), reduction="none")
    return ce.view(len(x), -1).sum(1)


# ----------------------------------------------------------------------------- KL
def slide_kl_term(m: Tensor, sigma: Tensor) -> Tensor:
    """Slide 19's regulariser, summed over the last dim: sum_i exp(σ_i) - (1 + σ_i) + m_i^2."""
    return (sigma.exp() - (1 + sigma) + m.pow(2)).sum(-1)


def gaussian_kl(m: Tensor, log_var: Tensor) -> Tensor:
    """KL( N(m, diag exp(log_var)) || N(0, I) ) in nats, summed over the last dim
    = ½ · slide_kl_term(m, log_var)."""
    return 0.5 * slide_kl_term(m, log_var)


def log_normal_diag(z: Tensor, m: Tensor, log_var: Tensor) -> Tensor:
    """log N(z; m, diag exp(log_var)), summed over the last dim."""
    return -0.5 * (LOG_2PI + log_var + (z - m).pow(2) / log_var.exp()).sum(-1)


# ----------------------------------------------------------------------------- models
class Autoencoder(nn.Module):
    """Slide 16: x -> encoder -> code c -> decoder -> logits; trained so that the
    reconstruction is "as close as possible": loss = mean over the batch of -log P(x | c)."""

    variational = False

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = Encoder(cfg, cfg.latent), make_decoder(cfg)

    def encode(self, x: Tensor) -> Tensor:
        """(B, H, W) -> code (B, latent)."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """(B, latent) -> logits (B, H, W, K)."""
        return self.decoder(z)

    def loss(self, x: Tensor) -> Tensor:
        return reconstruction_nll(self.decoder(self.encode(x), x), x).mean()


class VAE(nn.Module):
    """Slide 19 with σ = log-variance (see the module docstring).

    encode: x -> (m, σ), each (B, latent); reparameterize: c = m + exp(σ/2) ⊙ e.
    forward(x) returns (rec, kl), each (B,) in nats; -ELBO = rec + kl."""

    variational = True

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder, self.decoder = Encoder(cfg, 2 * cfg.latent), make_decoder(cfg)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        m, log_var = self.encoder(x).chunk(2, dim=-1)
        return m, log_var.clamp(-12.0, 8.0)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    @staticmethod
    def reparameterize(m: Tensor, log_var: Tensor, generator: torch.Generator | None = None) -> Tensor:
        e = torch.randn(m.shape, generator=generator, device=m.device, dtype=m.dtype)
        return m + (0.5 * log_var).exp() * e

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        m, log_var = self.encode(x)
        z = self.reparameterize(m, log_var, generator)
        return self.rec(z, x), gaussian_kl(m, log_var)

    def rec(self, z: Tensor, x: Tensor) -> Tensor:
        """-log P(x | z) per image, (B,) nats."""
        return reconstruction_nll(self.decoder(z, x), x)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n codes from N(0, I): (n, latent)."""
        return torch.randn(n, self.cfg.latent, generator=generator)


Model = Autoencoder | VAE


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
    log_pz = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
    return log_px + log_pz - log_normal_diag(z, mm, lv)


def iwae_bound(model: VAE, x: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """The k-sample bound per image, (B,) nats, differentiable (for training with k > 1)."""
    m, log_var = model.encode(x)
    return torch.logsumexp(log_weights(model, x, m, log_var, k, generator), 1) - math.log(k)


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
    of at most ``chunk`` (image, sample) pairs, so k = 1000 on 447 digits fits in memory."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k (importance samples) must be an integer >= 1, got {k!r}; "
                         "k = 1 gives the ELBO, k >= 1000 a tight bound")
    if not getattr(model, "variational", False):
        raise TypeError(f"iwae_log_likelihood needs a VAE (an encoder q(z|x)), got {type(model).__name__}")
    was_training = model.training
    model.eval()
    out = []
    for xb in x.split(max(1, chunk // k)):
        m, log_var = model.encode(xb)
        per = max(1, chunk // len(xb))  # samples per block for this batch of images
        logw = torch.cat([log_weights(model, xb, m, log_var, min(per, k - s), generator)
                          for s in range(0, k, per)], 1)
        out.append(torch.logsumexp(logw, 1) - math.log(k))
    model.train(was_training)
    return torch.cat(out)


# ----------------------------------------------------------------------------- decoding
@torch.no_grad()
def decode_images(model: Model, z: Tensor, how: str = "mean") -> Tensor:
    """Codes (B, latent) -> pictures. how="mean": expected grey level E[x] (B, H, W) float
    (digits); how="mode": most probable category per pixel (B, H, W) long (Pokémon)."""
    logits = model.decode(z)
    if how == "mode":
        return logits.argmax(-1)
    if how == "mean":
        levels = torch.arange(logits.shape[-1], dtype=logits.dtype)
        return logits.softmax(-1) @ levels
    raise ValueError(f"how must be 'mean' or 'mode', got {how!r}")


@torch.no_grad()
def encode_means(model: Model, x: Tensor) -> Tensor:
    """The code of each image: the AE's code, or the VAE's posterior mean m. (B, latent)."""
    model.eval()
    out = model.encode(x)
    return out[0] if isinstance(out, tuple) else out


# ----------------------------------------------------------------------------- training
def vae_loss(cfg: VAEConfig, state: dict[str, float]) -> Callable[[nn.Module, Tensor], Tensor]:
    """loss_fn for helpers.train.fit: training uses β = state["beta"] (warm-up),
    evaluation (model.eval()) the configured objective rec + kl_weight · KL."""

    def loss_fn(model: nn.Module, x: Tensor) -> Tensor:
        if cfg.iwae_k > 1:
            return -iwae_bound(model, x, cfg.iwae_k).mean()
        rec, kl = model(x)
        beta = state["beta"] if model.training else cfg.kl_weight
        return (rec + beta * kl).mean()

    return loss_fn


def ae_loss(model: nn.Module, x: Tensor) -> Tensor:
    return model.loss(x)


def neg_elbo(model: nn.Module, x: Tensor) -> Tensor:
    """Batch mean of -ELBO (nats per image), one sample of z per image."""
    rec, kl = model(x)
    return (rec + kl).mean()


def train_autoencoder(model: Autoencoder, cfg: AutoencoderConfig, data, progress: bool | None = None):
    """Train on data = (train, valid, test); returns (History, metrics) for train_or_load."""
    train, valid, test = data
    hist = fit(model, ae_loss, train, valid, cfg.train, progress=progress)
    return hist, {"test_rec_nats": evaluate(model, ae_loss, test)}


def train_vae(model: VAE, cfg: VAEConfig, data, progress: bool | None = None,
              iwae_k: int = 0):
    """Train on data = (train, valid, test) with KL warm-up; record the mean σ (log-variance)
    of the training codes after every epoch (metrics["log_var_trace"]), test rec/KL/-ELBO,
    and, if iwae_k, the test IWAE -log P(x) (nats per image)."""
    train, valid, test = data
    state = {"beta": cfg.kl_weight if cfg.warmup == 0 else 0.0}
    trace: list[float] = []

    def on_epoch(epoch: int, hist: History) -> None:
        if cfg.warmup:
            state["beta"] = cfg.kl_weight * min(1.0, (epoch + 2) / cfg.warmup)
        with torch.no_grad():
            model.eval()
            trace.append(float(model.encode(train)[1].mean()))
            model.train()

    hist = fit(model, vae_loss(cfg, state), train, valid, cfg.train, progress=progress, on_epoch=on_epoch)
    model.eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(1)
        rec, kl = model(test, gen)
    metrics: dict = {"test_rec_nats": float(rec.mean()), "test_kl_nats": float(kl.mean()),
                     "test_neg_elbo_nats": float((rec + kl).mean()), "log_var_trace": trace}
    if iwae_k:
        ll = iwae_log_likelihood(model, test, iwae_k, torch.Generator().manual_seed(2))
        metrics[f"test_iwae{iwae_k}_nats"] = float(-ll.mean())
    return hist, metrics


# ----------------------------------------------------------------------------- shipped models
def shipped() -> dict[str, AutoencoderConfig | VAEConfig]:
    """Name -> configuration of every checkpoint in data/checkpoints/ this module ships.

    digits_ae_2d / digits_vae_2d: 2-D codes (slides 17-18, interpolation); digits_vae: an
    8-D MLP VAE (sliders, prior samples) and digits_vae_rec_only, the same network trained
    on reconstruction alone (slide 20); digits_vae_made: the likelihood model (MADE decoder);
    pokemon_ae / pokemon_vae: 10-D codes on Pokémon."""
    digits_train = TrainConfig(epochs=600, batch_size=64, lr=1e-3, patience=40, seed=0)
    mlp8 = digits_net(latent=8, hidden=256, depth=2, dropout=0.2)
    poke_train = TrainConfig(epochs=50, batch_size=32, lr=2e-3, patience=10, seed=0)
    return {
        "digits_ae_2d": AutoencoderConfig(digits_net(2), replace(digits_train, epochs=100, patience=15)),
        "digits_vae_2d": VAEConfig(digits_net(2), train=replace(digits_train, epochs=100, patience=15)),
        "digits_vae": VAEConfig(mlp8, warmup=20, train=digits_train),
        "digits_vae_rec_only": VAEConfig(mlp8, kl_weight=0.0, train=replace(digits_train, epochs=100, patience=None)),
        "digits_vae_made": VAEConfig(replace(digits_net(16, 768, 2, 0.5), autoregressive=True), warmup=20,
                                     train=replace(digits_train, lr=5e-4, weight_decay=3e-4)),
        "pokemon_ae": AutoencoderConfig(pokemon_net(10, hidden=24), poke_train),
        "pokemon_vae": VAEConfig(pokemon_net(10, hidden=24), warmup=10, train=poke_train),
    }


def build(cfg: AutoencoderConfig | VAEConfig) -> Model:
    return VAE(cfg.net) if isinstance(cfg, VAEConfig) else Autoencoder(cfg.net)


def checkpoint_path(name: str) -> Path:
    return CHECKPOINT_DIR / f"{name}.pt"


def load_or_train(name: str, data, progress: bool | None = None) -> tuple[Model, dict]:
    """A shipped model by name: loaded from its checkpoint, else trained (and saved).
    data = (train, valid, test) of the right data set. Returns (model in eval mode, info)."""
    configs = shipped()
    if name not in configs:
        raise KeyError(f"no shipped model {name!r}; choose one of {sorted(configs)}")
    cfg = configs[name]
    torch.manual_seed(cfg.train.seed)
    model = build(cfg)
    if isinstance(cfg, VAEConfig):
        k = 1000 if name in ("digits_vae", "digits_vae_made") else 0  # IWAE: slow, only where reported
        fn = lambda: train_vae(model, cfg, data, progress, iwae_k=k)  # noqa: E731
    else:
        fn = lambda: train_autoencoder(model, cfg, data, progress)  # noqa: E731
    info = train_or_load(checkpoint_path(name), model, cfg, fn)
    model.eval()
    return model, info


def main(argv: list[str] | None = None) -> None:
    from .data import load_digits, load_pokemon

    p = argparse.ArgumentParser(prog="python -m helpers.autoencoders")
    p.add_argument("command", choices=["train"])
    p.add_argument("--only", nargs="*", help="names to (re)train; default all")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # these nets are small: one thread is fastest, and leaves cores free
    digits, pokemon = None, None
    for name in args.only or list(shipped()):
        path = checkpoint_path(name)
        path.unlink(missing_ok=True)
        if name.startswith("digits"):
            digits = digits or load_digits().split()
            data = digits
        else:
            pokemon = pokemon or load_pokemon().split()
            data = pokemon
        model, info = load_or_train(name, data, progress=None)
        shown = {k: round(v, 2) for k, v in info["metrics"].items() if isinstance(v, float)}
        print(f"{name}: {info['history'].seconds:.0f}s, best epoch {info['history'].best_epoch}, {shown}")


if __name__ == "__main__":
    main()
