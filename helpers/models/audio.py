"""Audio one sample at a time (lecture slide 14, WaveNet): mu-law, synthetic tones, a small
causal dilated-convolution model, and sampling that carries its state explicitly.

A waveform is a sequence of components x_1, x_2, ... like a sprite's pixels, so the chain rule
p(x) = prod_t p(x_t | x_<t) applies unchanged. Following WaveNet (van den Oord et al., 2016):

* each sample in [-1, 1] is squashed by mu-law, F(x) = sign(x) ln(1 + mu|x|) / ln(1 + mu) with
  mu = 255, and quantised to one of 256 levels: a softmax over 256 classes (1-of-N, as for
  pixels) instead of regressing a real number;
* p(x_t | x_<t) comes from a stack of causal convolutions with kernel 2 whose dilation doubles
  per layer (1, 2, 4, ...), so the context (receptive field) grows exponentially with depth:
  R = 1 + (kernel - 1) * sum(dilations) previous samples.

Shapes: waveforms are float (B, T) in [-1, 1]; codes are long (B, T) in 0..255;
``WaveNet.forward`` maps codes (B, T) to logits (B, T, 256) where logits[:, t] depend only on
codes[:, t-R : t] (strictly before t). ``nll`` (the training loss) is nats per sample, averaged
over all samples; ``WaveNet.log_prob`` is log p(x) in nats per clip, summed over time, (B,).
The shipped model: ``python -m helpers.registry train wavenet_tones`` (``fit_wavenet``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.core.checkpoints import Metric, declared
from helpers.core.contract import draw_categorical, eval_mode
from helpers.core.train import History, TrainConfig, evaluate, fit, model_device

MU = 255
LEVELS = MU + 1
SAMPLE_RATE = 8000
SILENCE = LEVELS // 2  # the code of x = 0 (mu-law is symmetric; 128 decodes to ~0)
PENTATONIC = (220.0, 246.94, 277.18, 329.63, 369.99, 440.0, 493.88, 554.37)  # A major pentatonic, Hz


# ---------------------------------------------------------------- mu-law
def mu_law_encode(x: Tensor, levels: int = LEVELS) -> Tensor:
    """Float waveform in [-1, 1] (any shape) -> long codes in 0..levels-1 (8-bit for 256)."""
    if not torch.is_floating_point(x):
        raise TypeError(f"mu_law_encode wants a float waveform in [-1, 1], got dtype {x.dtype}")
    if x.numel() and (x.min() < -1 - 1e-6 or x.max() > 1 + 1e-6):
        raise ValueError(f"waveform must lie in [-1, 1], got {float(x.min()):.3f}..{float(x.max()):.3f}; "
                         "divide by x.abs().max() first")
    mu = levels - 1
    y = torch.sign(x) * torch.log1p(mu * x.abs().clamp(max=1)) / math.log1p(mu)  # [-1, 1]
    return ((y + 1) / 2 * mu + 0.5).floor().long().clamp(0, mu)


def mu_law_decode(codes: Tensor, levels: int = LEVELS) -> Tensor:
    """Long codes in 0..levels-1 -> float waveform in [-1, 1] (the inverse of the companding)."""
    if torch.is_floating_point(codes):
        raise TypeError(f"mu_law_decode wants integer codes, got dtype {codes.dtype}; use .long()")
    if codes.numel() and (codes.min() < 0 or codes.max() >= levels):
        raise ValueError(f"codes must lie in 0..{levels - 1}, got {int(codes.min())}..{int(codes.max())}")
    mu = levels - 1
    y = codes.float() / mu * 2 - 1
    return torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu


# ---------------------------------------------------------------- synthetic tones
def synth_tones(
    n: int,
    seconds: float,
    generator: torch.Generator,
    sample_rate: int = SAMPLE_RATE,
    notes_per_second: float = 4.0,
    chord_prob: float = 0.3,
) -> Tensor:
    """n clips (n, seconds*sample_rate) of plucked notes from an A-major pentatonic scale.

    Each note: a fundamental f0 and harmonics k = 1..5 with amplitude 1/k^1.5, a 5 ms attack and an
    exponential decay; with probability chord_prob a second note a scale step or two above sounds
    with it. Notes start on a regular beat; peak amplitude is scaled to 0.8.
    """
    if n < 1 or seconds <= 0:
        raise ValueError(f"want n >= 1 clips of seconds > 0, got n={n}, seconds={seconds}")
    T = int(round(seconds * sample_rate))
    beat = max(1, int(sample_rate / notes_per_second))
    dev = generator.device  # the clips are made where the generator draws (the CPU for training data)
    t = torch.arange(beat, dtype=torch.float64, device=dev) / sample_rate
    env = torch.clamp(t / 0.005, max=1.0) * torch.exp(-t / 0.12)
    scale = torch.tensor(PENTATONIC, dtype=torch.float64, device=dev)
    out = torch.zeros(n, T, dtype=torch.float64, device=dev)
    for i in range(n):
        for start in range(0, T, beat):
            L = min(beat, T - start)
            idx = int(torch.randint(len(scale), (1,), generator=generator, device=dev))
            voices = [idx]
            if float(torch.rand((), generator=generator, device=dev)) < chord_prob:
                voices.append((idx + 2) % len(scale))
            phase = 2 * math.pi * float(torch.rand((), generator=generator, device=dev))
            note = torch.zeros(beat, dtype=torch.float64, device=dev)
            for v in voices:
                for k in range(1, 6):
                    note += torch.sin(2 * math.pi * k * scale[v] * t + k * phase) / k**1.5
            out[i, start : start + L] = (note * env)[:L]
    out = out / out.abs().amax(dim=1, keepdim=True).clamp(min=1e-9) * 0.8
    return out.float()


# ---------------------------------------------------------------- model
@dataclass(frozen=True)
class WaveNetConfig:
    """dilations: one causal conv layer each (kernel ``kernel``); channels: residual width."""

    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128) * 2
    kernel: int = 2
    channels: int = 32
    skip_channels: int = 64
    levels: int = LEVELS


class WaveNet(nn.Module):
    """p(x_t | x_<t) over mu-law codes with gated, residual, dilated causal convolutions.

    forward: codes (B, T) long -> logits (B, T, levels); logits[:, t] see codes[:, t-R : t].
    step(code, state): one new sample for a batch, reusing each layer's past inputs (state).
    """

    def __init__(self, cfg: WaveNetConfig):
        super().__init__()
        self.cfg = cfg
        C = cfg.channels
        self.embed = nn.Embedding(cfg.levels, C)
        self.filters = nn.ModuleList(nn.Conv1d(C, 2 * C, cfg.kernel, dilation=d) for d in cfg.dilations)
        self.residual = nn.ModuleList(nn.Conv1d(C, C, 1) for _ in cfg.dilations)
        self.skip = nn.ModuleList(nn.Conv1d(C, cfg.skip_channels, 1) for _ in cfg.dilations)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(cfg.skip_channels, cfg.skip_channels, 1), nn.ReLU(),
                                  nn.Conv1d(cfg.skip_channels, cfg.levels, 1))

    @property
    def receptive_field(self) -> int:
        """How many previous samples one prediction sees: 1 + (kernel - 1) * sum(dilations)."""
        return 1 + (self.cfg.kernel - 1) * sum(self.cfg.dilations)

    def _check(self, codes: Tensor) -> None:
        if codes.ndim != 2 or torch.is_floating_point(codes):
            raise ValueError(f"WaveNet wants long codes of shape (B, T), got {tuple(codes.shape)} {codes.dtype}; "
                             "encode waveforms with mu_law_encode")
        if codes.numel() and (codes.min() < 0 or codes.max() >= self.cfg.levels):
            raise ValueError(f"codes must lie in 0..{self.cfg.levels - 1}, got "
                             f"{int(codes.min())}..{int(codes.max())}")

    def forward(self, codes: Tensor) -> Tensor:
        self._check(codes)
        # shift right by one: the input at t is x_{t-1} (silence before the start) -> strictly causal
        shifted = F.pad(codes[:, :-1], (1, 0), value=SILENCE)
        h = self.embed(shifted).transpose(1, 2)  # (B, C, T)
        skips = 0
        for conv, res, skip, d in zip(self.filters, self.residual, self.skip, self.cfg.dilations):
            pad = (self.cfg.kernel - 1) * d
            f, g = conv(F.pad(h, (pad, 0))).chunk(2, dim=1)  # left padding only: no peeking ahead
            z = torch.tanh(f) * torch.sigmoid(g)
            h, skips = h + res(z), skips + skip(z)
        return self.head(skips).transpose(1, 2)  # (B, T, levels)

    def init_state(self, batch: int) -> dict:
        """The sampler's memory before the first step: for each layer a ring buffer (B, (k-1)*d, C)
        of its last (k-1)*d inputs (zeros, like forward's left padding), the time t = 0, and each
        layer's weights split per tap, (k, C_in, 2C) (computed once; do not train between steps)."""
        C, k = self.cfg.channels, self.cfg.kernel
        dev = self.embed.weight.device
        return {"t": 0,
                "buffers": [torch.zeros(batch, (k - 1) * d, C, device=dev) for d in self.cfg.dilations],
                "taps": [conv.weight.detach().permute(2, 1, 0).contiguous() for conv in self.filters]}

    def step(self, prev: Tensor, state: dict) -> tuple[Tensor, dict]:
        """Logits (B, levels) for the sample at time state["t"] given the previous code prev (B,).

        The same arithmetic as forward at one time step: layer l at time t needs its inputs at
        t - j*d_l (j = 1..k-1), which the ring buffers keep, so a step costs one column per layer
        instead of R. The buffers are updated in place; the returned state is the same dict."""
        t, k = state["t"], self.cfg.kernel
        h = self.embed(prev)  # (B, C): the input at time t is the code at t - 1
        skips = 0
        for conv, res, skip, d, buf, taps in zip(self.filters, self.residual, self.skip, self.cfg.dilations,
                                                 state["buffers"], state["taps"]):
            span = (k - 1) * d
            fg = torch.addmm(conv.bias, h, taps[k - 1])  # the tap at lag 0
            for j in range(1, k):  # the taps at lags j*d, read from the ring buffer
                fg = fg + buf[:, (t - j * d) % span] @ taps[k - 1 - j]
            buf[:, t % span] = h  # remember this layer's input for later steps
            f, g = fg.chunk(2, dim=1)
            z = torch.tanh(f) * torch.sigmoid(g)
            h = h + F.linear(z, res.weight[:, :, 0], res.bias)
            skips = skips + F.linear(z, skip.weight[:, :, 0], skip.bias)
        state["t"] = t + 1
        return self.head(skips[:, :, None])[:, :, 0], state

    def log_prob(self, codes: Tensor) -> Tensor:
        """log p(x) = sum_t log p(x_t | x_<t) in nats, codes (B, T) -> (B,) (summed over time)."""
        logits = self(codes)
        return -F.cross_entropy(logits.transpose(1, 2), codes, reduction="none").sum(1)

    def sample(self, n: int, *, generator: torch.Generator | None = None, prefix: Tensor | None = None,
               length: int | None = None, temperature: float = 1.0) -> Tensor:
        """Draw n code sequences (n, length) on the model's device, one sample per step with the
        cached state; each draw is made on the generator's device (the CPU for a CPU generator).

        length: samples per clip; None: the training clips' length, ``clip_length()`` (one second,
        8000 samples: about 10-20 s on a CPU). prefix: optional codes (P,) or (n, P) fed first
        (teacher forcing) and kept at the start. The steps run in inference mode; the codes come
        back as an ordinary tensor, so ``log_prob(sample(...))`` works."""
        with torch.inference_mode():
            out = self._sample(n, generator, prefix, length, temperature)
        return out.clone()

    def _sample(self, n: int, generator: torch.Generator | None, prefix: Tensor | None, length: int | None,
                temperature: float) -> Tensor:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        length = clip_length() if length is None else length
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        dev = model_device(self)
        if prefix is not None:
            prefix = (prefix.expand(n, -1) if prefix.ndim == 1 else prefix).to(dev)
            self._check(prefix)
        # the state starts as forward's zero padding; the first input is silence, as in forward
        prev = torch.full((n,), SILENCE, dtype=torch.long, device=dev)
        out = torch.empty(n, length, dtype=torch.long, device=dev)
        P = 0 if prefix is None else min(prefix.shape[1], length)
        with eval_mode(self):
            state = self.init_state(n)
            for t in range(length):
                logits, state = self.step(prev, state)
                prev = prefix[:, t] if t < P else draw_categorical(logits, generator, temperature)
                out[:, t] = prev
        return out


def nll(model: WaveNet, codes: Tensor) -> Tensor:
    """Mean negative log-likelihood in nats per sample of codes (B, T)."""
    logits = model(codes)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), codes.reshape(-1))


# ---------------------------------------------------------------- training entry
@dataclass(frozen=True)
class ToneData:
    """The synthetic corpus: clips of ``seconds`` at SAMPLE_RATE, seeded."""

    n_train: int = 96
    n_valid: int = 16
    n_test: int = 16
    seconds: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class WaveNetTrainConfig:
    """The corpus, the fit() settings, and the length of the random training crops."""

    data: ToneData = ToneData()
    train: TrainConfig = TrainConfig(epochs=120, batch_size=16, lr=3e-3, patience=8, grad_clip=1.0)
    crop: int = 2048  # training crops of this many samples (random position per batch)


def clip_length(data: ToneData = ToneData()) -> int:
    """Samples per clip of the corpus (the default ``ToneData``'s: the shipped model's)."""
    return int(round(data.seconds * SAMPLE_RATE))


def tone_splits(data: ToneData) -> tuple[Tensor, Tensor, Tensor]:
    """(train, valid, test) mu-law codes, each (n, seconds*SAMPLE_RATE), from one seeded generator."""
    g = torch.Generator().manual_seed(data.seed)
    waves = synth_tones(data.n_train + data.n_valid + data.n_test, data.seconds, g)
    codes = mu_law_encode(waves)
    a, b = data.n_train, data.n_train + data.n_valid
    return codes[:a], codes[a:b], codes[b:]


def random_crop(length: int):
    """An augment for helpers.core.train.fit: one random window of ``length`` samples per batch."""

    def crop(batch: Tensor, generator: torch.Generator) -> Tensor:
        start = int(torch.randint(batch.shape[1] - length + 1, (1,), generator=generator, device=generator.device))
        return batch[:, start : start + length]

    return crop


METRICS = (
    Metric("test_bits", "held-out (test) bits per sample", headline=True),
    Metric("valid_bits", "validation bits per sample"),
)


def fit_wavenet(model: WaveNet, cfg: WaveNetTrainConfig, data: None = None, *,
                device: torch.device | str | None = None, progress: bool | None = None,
                on_epoch: Callable[[int, History], None] | None = None, resume: Path | None = None
                ) -> tuple[History, dict[str, float]]:
    """Train ``model`` in place (on ``device``; None = where it is) with helpers.core.train.fit on
    tone_splits(cfg.data) (made here: data must be None), loss ``nll``, random crops of cfg.crop
    (``on_epoch``, ``resume``: see fit). Metrics: valid_bits, test_bits = mean nll / ln 2, bits per
    sample."""
    if data is not None:
        raise ValueError("fit_wavenet makes its own tones from cfg.data; pass data=None")
    train, valid, test = tone_splits(cfg.data)
    hist = fit(model, nll, train, valid, cfg.train, augment=random_crop(cfg.crop), device=device,
               progress=progress, on_epoch=on_epoch, resume=resume)
    ln2 = math.log(2)
    metrics = {"valid_bits": evaluate(model, nll, valid, batch_size=4) / ln2,
               "test_bits": evaluate(model, nll, test, batch_size=4) / ln2}
    return hist, declared(metrics, METRICS, "fit_wavenet")
