"""The contract every generative model of the series keeps, and the small tools the families share.

    sample(n, *, generator) -> Tensor          n draws, on the model's device        (GenerativeModel)
    log_prob(x) -> Tensor (B,)                 log p(x) in nats, exact               (Likelihood)
    log_prob_estimate(x, k, generator) -> (B,) a random estimate of log p(x), nats   (LikelihoodEstimate)

A family whose likelihood is exact (the chain rule of the pixel models and WaveNet) has
``log_prob``; one that can only estimate it (the VAE's importance sampling) says so in the
name; a GAN defines none and its ``log_prob`` raises NotImplementedError saying why (it keeps
the method for that message, so ``isinstance(gan, Likelihood)`` holds by name alone: the
conformance test, ``tests/test_contract.py``, lists those families as exceptions). Every
sampler draws from the ``generator`` it is given, on that generator's device, and leaves
torch's global random state alone.

Shared tools: ``generator_device`` (where a generator draws), ``draw_categorical`` (one
category per row of logits, drawn there), ``eval_mode`` (a block in eval mode, the model's
mode restored afterwards).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@runtime_checkable
class GenerativeModel(Protocol):
    """Draws samples: ``sample(n, *, generator)`` -> n samples (n, ...) on the model's device,
    the same ones for the same generator state; torch's global random state is left alone."""

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor: ...


@runtime_checkable
class Likelihood(Protocol):
    """Scores data exactly: ``log_prob(x)`` -> (B,) log p(x) in nats, one per item of the batch
    (so a batch scores as the concatenation of its parts)."""

    def log_prob(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class LikelihoodEstimate(Protocol):
    """Estimates log p(x) with k random draws from ``generator``: (B,) nats, a random number."""

    def log_prob_estimate(self, x: Tensor, k: int = ..., generator: torch.Generator | None = None) -> Tensor: ...


def generator_device(generator: torch.Generator | None, default: torch.device | str) -> torch.device:
    """Where ``generator`` draws (its own device), or ``default`` without one (the global
    generator of that device then draws)."""
    return generator.device if generator is not None else torch.device(default)


def draw_categorical(logits: Tensor, generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
    """One category per row of logits (..., K) -> (...) long on the logits' device, drawn from
    softmax(logits / temperature). The draw is made on the generator's device (a CPU generator
    draws on the CPU), so a seed gives the same categories on every device."""
    probs = F.softmax(logits.float() / temperature, dim=-1).reshape(-1, logits.shape[-1])
    idx = torch.multinomial(probs.to(generator_device(generator, probs.device)), 1, generator=generator)
    return idx.view(logits.shape[:-1]).to(logits.device)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block with ``model`` in eval mode (no dropout, batch norm's running statistics);
    afterwards every submodule is put back in the mode it had, even if the block raised (a
    wrapper such as a mixture may be in training mode while the models it holds are not)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, was_training in modes:
            m.training = was_training
