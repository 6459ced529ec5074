"""Characters as components: the frozen prose corpus, its splits and the n-gram baselines.

p(x) = prod_t p(x_t | x_<t) over characters. The baselines ignore (unigram) or use one character
(bigram) of the past; both are add-one smoothed over the corpus vocabulary and reported in bits
per character on held-out text: -(1/T) sum_t log2 p(x_t | x_{t-1}).
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from helpers.core.checkpoints import Metric, declared
from helpers.core.contract import draw_categorical, eval_mode
from helpers.core.train import History, TrainConfig, evaluate, fit, model_device

CORPUS = Path(__file__).resolve().parents[2] / "data" / "text" / "series_prose.txt"
CORPUS_SHA256 = "4e61822f27e8deca82cb814d4f7b5681db52727a900ce0908b89cf6e212f07aa"  # also in DATA.md


def load_corpus(path: Path = CORPUS, sha256: str = CORPUS_SHA256) -> str:
    """The frozen corpus as one string; raises if the file is not the committed snapshot."""
    data = Path(path).read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise ValueError(f"{path}: sha256 {got}, expected {sha256}; restore the committed file "
                         "(git checkout data/text) rather than rebuilding it")
    return data.decode("utf-8")


def split_text(text: str, fractions: tuple[float, float] = (0.8, 0.1)) -> tuple[str, str, str]:
    """Contiguous blocks: the first 80% train, the next 10% valid, the last 10% test."""
    a = int(len(text) * fractions[0])
    b = a + int(len(text) * fractions[1])
    return text[:a], text[a:b], text[b:]


def unigram_bits(train: str, test: str, vocab: str) -> float:
    """Held-out bits per character of add-one smoothed character frequencies."""
    counts = Counter(train)
    total = len(train) + len(vocab)
    return -sum(math.log2((counts[c] + 1) / total) for c in test) / len(test)


def bigram_bits(train: str, test: str, vocab: str) -> float:
    """Held-out bits per character of add-one smoothed p(x_t | x_{t-1}); test[0] is conditioned on."""
    pairs = Counter(zip(train, train[1:]))
    firsts = Counter(train[:-1])
    V = len(vocab)
    logs = [math.log2((pairs[(a, b)] + 1) / (firsts[a] + V)) for a, b in zip(test, test[1:])]
    return -sum(logs) / len(logs)


# ---------------------------------------------------------------- characters <-> codes
def vocabulary(text: str) -> str:
    """The sorted distinct characters; a character's code is its index here."""
    return "".join(sorted(set(text)))


def encode(text: str, vocab: str) -> Tensor:
    index = {c: i for i, c in enumerate(vocab)}
    return torch.tensor([index[c] for c in text], dtype=torch.long)


def decode(codes: Tensor, vocab: str) -> str:
    return "".join(vocab[int(i)] for i in codes)


def windows(text: str, vocab: str, length: int) -> Tensor:
    """Non-overlapping windows (N, length) of a text's codes (the tail shorter than length dropped)."""
    codes = encode(text, vocab)
    n = len(codes) // length
    return codes[: n * length].view(n, length)


# ---------------------------------------------------------------- the model
@dataclass(frozen=True)
class CharLSTMConfig:
    vocab: int = 109  # characters; code `vocab` is START (the empty past)
    emb: int = 32
    hidden: int = 192
    layers: int = 1
    length: int = 128  # characters drawn by sample() unless told otherwise


class CharLSTM(nn.Module):
    """p(x) = prod_t p(x_t | x_<t) over characters. forward: (B, T) long -> (B, T, V) logits,
    logits at t from x_<t (input shifted right behind START). log_prob: (B,) nats, summed over t."""

    def __init__(self, cfg: CharLSTMConfig = CharLSTMConfig()):
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(cfg.vocab + 1, cfg.emb)
        self.lstm = nn.LSTM(cfg.emb, cfg.hidden, cfg.layers, batch_first=True)
        self.out = nn.Linear(cfg.hidden, cfg.vocab)

    def step(self, tok: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """tok (B, T) long -> logits (B, T, V) for the next characters, and the new (h, c)."""
        h, state = self.lstm(self.emb(tok), state)
        return self.out(h), state

    def forward(self, x: Tensor) -> Tensor:
        start = torch.full_like(x[:, :1], self.cfg.vocab)
        return self.step(torch.cat([start, x[:, :-1]], 1), None)[0]

    def log_prob(self, x: Tensor) -> Tensor:
        logits = self(x)
        return -F.cross_entropy(logits.transpose(1, 2), x, reduction="none").sum(1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, length: int | None = None,
               temperature: float = 1.0, prefix: Tensor | None = None) -> Tensor:
        """(n, length) codes, each drawn given the ones before; a prefix (n, P) is kept and continued."""
        length = length or self.cfg.length
        with eval_mode(self):
            dev = model_device(self)
            out = prefix.to(dev) if prefix is not None else torch.empty(n, 0, dtype=torch.long, device=dev)
            tok = torch.cat([torch.full((n, 1), self.cfg.vocab, device=dev), out], 1)
            logits, state = self.step(tok, None)
            while out.shape[1] < length:
                nxt = draw_categorical(logits[:, -1], generator, temperature)[:, None]
                out = torch.cat([out, nxt], 1)
                logits, state = self.step(nxt, state)
        return out


def nll(model: CharLSTM, x: Tensor) -> Tensor:
    """Mean negative log-likelihood in nats per character of x (B, T)."""
    return -model.log_prob(x).sum() / x.numel()


@dataclass(frozen=True)
class CharTrainConfig:
    """The corpus split (fractions of the frozen text), window length and fit() settings."""

    split: tuple[float, float] = (0.8, 0.1)
    window: int = 128
    train: TrainConfig = TrainConfig(epochs=80, batch_size=32, lr=3e-3, patience=4, grad_clip=1.0)


def text_splits(cfg: CharTrainConfig) -> tuple[Tensor, Tensor, Tensor]:
    """Train/valid/test windows (N, window) of the frozen corpus, contiguous blocks."""
    text = load_corpus()
    vocab = vocabulary(text)
    return tuple(windows(part, vocab, cfg.window) for part in split_text(text, cfg.split))


METRICS = (
    Metric("test_bits", "held-out (test) bits per character", headline=True),
    Metric("valid_bits", "validation bits per character"),
)


def fit_char_lstm(model: CharLSTM, cfg: CharTrainConfig, data: None = None, *,
                  device: torch.device | str | None = None, progress: bool | None = None,
                  on_epoch: Callable[[int, History], None] | None = None, resume: Path | None = None
                  ) -> tuple[History, dict[str, float]]:
    """Train in place on text_splits(cfg) (``on_epoch``, ``resume``: see helpers.core.train.fit);
    metrics: mean nll / ln 2, bits per character."""
    if data is not None:
        raise ValueError("fit_char_lstm reads the frozen corpus itself; pass data=None")
    train, valid, test = text_splits(cfg)
    hist = fit(model, nll, train, valid, cfg.train, device=device, progress=progress, on_epoch=on_epoch,
               resume=resume)
    ln2 = math.log(2)
    metrics = {"valid_bits": evaluate(model, nll, valid, batch_size=64) / ln2,
               "test_bits": evaluate(model, nll, test, batch_size=64) / ln2}
    return hist, declared(metrics, METRICS, "fit_char_lstm")
