"""One training loop, seeding, and train-or-load checkpoints, shared by every notebook.

The loop minimises ``loss_fn(model, batch)``: a scalar, the mean over the batch in the
unit the notebook reports (nats per pixel, nats per image, ...). Validation loss is the
same function under ``torch.no_grad()`` averaged over the whole validation set, weighted
by batch size; the weights of the best validation epoch are restored at the end.

Checkpoints are ``{"state_dict", "config", "history", "metrics"}`` of plain tensors,
numbers, strings, lists and dicts, so they load with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .data import REPO_ROOT

CHECKPOINT_DIR = REPO_ROOT / "data" / "checkpoints"

Batch = Tensor | Sequence[Tensor]


class CheckpointMismatch(ValueError):
    """A checkpoint on disk was trained with another configuration than the one asked for."""


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch.Generator seeded the same, for samplers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device() -> torch.device:
    """CUDA if present, else CPU (Apple's MPS is skipped: some ops used here lack kernels)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def progress_enabled() -> bool:
    """Progress bars on for people, off under CI (the CI environment variable is set)."""
    return not os.environ.get("CI")


@dataclass(frozen=True)
class TrainConfig:
    """epochs: upper bound; patience: epochs without a better validation loss before stopping."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = 5
    grad_clip: float | None = 1.0
    seed: int = 0


@dataclass
class History:
    """Per-epoch mean losses; best_epoch indexes ``valid`` (or ``train`` without validation)."""

    train: list[float] = field(default_factory=list)
    valid: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        return cls(**d)


def _take(data: Batch, idx: Tensor, device: torch.device) -> Batch:
    if isinstance(data, Tensor):
        return data[idx].to(device)
    return tuple(t[idx].to(device) for t in data)


def _length(data: Batch) -> int:
    return len(data) if isinstance(data, Tensor) else len(data[0])


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Batch], Tensor],
    data: Batch,
    batch_size: int = 256,
    device: torch.device | None = None,
) -> float:
    """Mean of loss_fn over all of ``data`` (batch means weighted by batch size), eval mode."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    n, total = _length(data), 0.0
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(start + batch_size, n))
        total += float(loss_fn(model, _take(data, idx, device))) * len(idx)
    model.train(was_training)
    return total / n


def fit(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Batch], Tensor],
    train: Batch,
    valid: Batch | None,
    cfg: TrainConfig,
    *,
    augment: Callable[[Batch, torch.Generator], Batch] | None = None,
    device: torch.device | None = None,
    progress: bool | None = None,
    on_epoch: Callable[[int, History], None] | None = None,
) -> History:
    """Train with Adam, shuffling with a generator seeded by ``cfg.seed``; early-stop on ``valid``.

    train / valid: a tensor, or a tuple of tensors sharing their first dimension.
    augment(batch, generator) -> batch is applied to training batches only.
    Returns the History; the model ends with the weights of its best epoch.
    """
    from tqdm.auto import tqdm

    if _length(train) == 0:
        raise ValueError("fit() got an empty training set; check the split you passed")
    device = device or pick_device()
    model.to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # dropout and other in-model randomness
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    hist, best, best_state, start = History(), math.inf, None, time.perf_counter()
    show = progress_enabled() if progress is None else progress
    bar = tqdm(range(cfg.epochs), desc="epochs", disable=not show, leave=False)
    for epoch in bar:
        model.train()
        perm, n, total = torch.randperm(_length(train), generator=gen), _length(train), 0.0
        for start_i in range(0, n, cfg.batch_size):
            batch = _take(train, perm[start_i : start_i + cfg.batch_size], torch.device("cpu"))
            if augment is not None:
                batch = augment(batch, gen)
            batch = batch.to(device) if isinstance(batch, Tensor) else tuple(t.to(device) for t in batch)
            loss = loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {float(loss)} at epoch {epoch}; lower the lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            total += float(loss.detach()) * _length(batch)
        hist.train.append(total / n)
        score = hist.train[-1]
        if valid is not None:
            score = evaluate(model, loss_fn, valid, device=device)
            hist.valid.append(score)
        if score < best:
            best, hist.best_epoch, best_state = score, epoch, copy.deepcopy(model.state_dict())
        bar.set_postfix(train=f"{hist.train[-1]:.4f}", valid=f"{score:.4f}")
        if on_epoch is not None:
            on_epoch(epoch, hist)
        if cfg.patience is not None and epoch - hist.best_epoch >= cfg.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    hist.seconds = time.perf_counter() - start
    return hist


def config_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as a plain dict (nested dataclasses too) tagged with its class name."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    return {"class": type(config).__name__, **dataclasses.asdict(config)}


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    config: Any,
    *,
    history: History | None = None,
    metrics: dict[str, float] | None = None,
) -> Path:
    """Write state_dict + config (+ history, metrics) atomically: temp file, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config_dict(config),
        "history": history.to_dict() if history is not None else None,
        "metrics": dict(metrics or {}),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike, model: nn.Module, config: Any) -> dict[str, Any]:
    """Load weights into model after checking the stored config equals ``config``.

    Returns {"history": History | None, "metrics": dict}. Raises CheckpointMismatch
    naming every differing field, and FileNotFoundError if there is no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train it with `make checkpoints`")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    want, got = config_dict(config), payload["config"]
    if want != got:
        diffs = [
            f"{k}: checkpoint has {got.get(k)!r}, you asked for {want.get(k)!r}"
            for k in sorted(set(want) | set(got))
            if want.get(k) != got.get(k)
        ]
        raise CheckpointMismatch(
            f"{path.name} was trained with another configuration ({'; '.join(diffs)}). "
            f"Use the checkpoint's configuration, or delete {path} and retrain "
            "(`make checkpoints`, or run the notebook cell again to train it here)."
        )
    model.load_state_dict(payload["state_dict"])
    hist = payload.get("history")
    return {"history": History.from_dict(hist) if hist else None, "metrics": payload.get("metrics", {})}


def train_or_load(
    path: str | os.PathLike,
    model: nn.Module,
    config: Any,
    train: Callable[[], tuple[History, dict[str, float]]],
) -> dict[str, Any]:
    """Load ``path`` if it exists (config must match), else run ``train()`` and save.

    train() trains ``model`` in place and returns (history, metrics).
    Returns {"history", "metrics", "trained": bool}.
    """
    path = Path(path)
    if path.is_file():
        return {**load_checkpoint(path, model, config), "trained": False}
    history, metrics = train()
    save_checkpoint(path, model, config, history=history, metrics=metrics)
    return {"history": history, "metrics": metrics, "trained": True}
