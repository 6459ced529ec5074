"""One training loop, seeding and the device policy, shared by every notebook and training command.

The loop minimises ``loss_fn(model, batch)``: a scalar, the mean over the batch in the
unit the notebook reports (nats per pixel, nats per image, ...). Validation loss is the
same function under ``torch.no_grad()`` averaged over the whole validation set, weighted
by batch size; the weights of the best validation epoch are restored at the end.

Device policy: ``fit`` trains where the model is (``device=None``) and moves each batch there;
training commands take ``--device auto|cpu|cuda`` (``resolve_device``: auto = CUDA when
present, else CPU). Randomness: ``seeded(seed)`` runs a block with torch's global generator
seeded, then gives the caller back the state it had; library code never reseeds behind the
caller's back. Checkpoints: ``helpers.core.checkpoints``; shipped models: ``helpers.registry``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import platform
import random
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from helpers.core.contract import eval_mode

Batch = Tensor | Sequence[Tensor]


def flush_denormals() -> bool:
    """Make this process's CPU treat numbers below float32's smallest normal (about 1.2e-38) as 0.

    Call it before the first large torch operation: the threads torch starts for its work copy
    this setting from the thread that starts them, and keep it. Why: a trained PixelCNN carries
    activations near 1e-27 in its upper rows and small weights; their products fall in the
    "denormal" range, which Intel CPUs compute in microcode, many times slower than normal
    numbers. Flushing them changes none of the outputs the tests compare (they lie 30 orders of
    magnitude below the values they are added to) and made a forward pass of the 96x10 PixelCNN
    about ten times faster on an Intel Xeon (`make bench`, block ``denormals``).
    Returns False where the CPU offers no such switch (then nothing changes)."""
    return bool(torch.set_flush_denormal(True))


def cpu_name() -> str:
    """The CPU model and its widest vector unit ("AMD EPYC, AVX-512"): timings differ several-fold
    between machines with and without AVX-512, and CPU families round float32 sums differently
    (blocked in other orders), so a long GAN run ends elsewhere on another family."""
    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                 platform.processor() or platform.machine())
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    vec = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
    return f"{model}, {vec}" if vec else model


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch.Generator seeded the same, for samplers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def seeded(seed: int, device: torch.device | str | None = None) -> Iterator[None]:
    """Run a block with torch's global generator (and CUDA's, for a CUDA ``device``) seeded by
    ``seed``; afterwards the caller's generator state is restored: model initialisation and
    dropout are reproducible without reseeding anybody else's randomness."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    cuda = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def pick_device() -> torch.device:
    """CUDA if present, else CPU (Apple's MPS is skipped: some ops used here lack kernels)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The device policy of the training commands: "auto" (or None) = CUDA when present, else
    CPU; "cpu" / "cuda" / "cuda:1" as asked (an error if CUDA is asked for but absent)."""
    if device is None or str(device) == "auto":
        return pick_device()
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} asked for CUDA, but torch sees no GPU here "
                           f"(torch {torch.__version__}); use --device auto or cpu")
    return dev


def model_device(model: nn.Module) -> torch.device:
    """Where a model's parameters (or, without parameters, its buffers) live."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


PROGRESS_ENV = "GENERATION_PROGRESS"
OMIT_AT_DEFAULT = "omit_at_default"  # dataclass field metadata: config_dict leaves the field out at its default


def progress_enabled() -> bool:
    """Progress bars on for people, off where ``GENERATION_PROGRESS=0`` (the test set-up and
    ``make notebooks`` set it, so stored and checked outputs never hold a bar). Unset, bars are
    off under CI (the CI variable is set) and on otherwise."""
    value = os.environ.get(PROGRESS_ENV, "").strip()
    if value in ("0", "1"):
        return value == "1"
    if value:
        raise ValueError(f"{PROGRESS_ENV}={value!r}: use 1 (progress bars on) or 0 (off), or unset it")
    return not os.environ.get("CI")


@dataclass(frozen=True)
class TrainConfig:
    """epochs: upper bound; patience: epochs without a better validation loss before stopping;
    halve_lr_after: halve the learning rate after that many epochs without a better validation
    loss (and again after as many more), None: a constant rate."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = 5
    grad_clip: float | None = 1.0
    seed: int = 0
    # added after the first checkpoints: left out of their configuration while None (see checkpoints)
    halve_lr_after: int | None = field(default=None, metadata={OMIT_AT_DEFAULT: True})


@dataclass
class History:
    """Per-epoch mean losses; best_epoch indexes ``valid`` (or ``train`` without validation)."""

    train: list[float] = field(default_factory=list)
    valid: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    lr: list[float] = field(default_factory=list)  # the learning rate of each epoch

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
    device = device or model_device(model)
    n, total = _length(data), 0.0
    with eval_mode(model):
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(start + batch_size, n), device="cpu")
            total += float(loss_fn(model, _take(data, idx, device))) * len(idx)
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
    resume: Path | None = None,
    keep: dict[str, Any] | None = None,
) -> History:
    """Train with Adam, shuffling with a generator seeded by ``cfg.seed``; early-stop on ``valid``.

    train / valid: a tensor, or a tuple of tensors sharing their first dimension (kept where
    they are; each batch is moved to ``device``). device: None = where the model already is;
    otherwise the model is moved there first. Dropout is seeded by ``cfg.seed`` inside
    ``seeded``, so the caller's random state is left as it was.
    augment(batch, generator) -> batch is applied to training batches only (on the CPU).
    resume: a file where the whole state is saved after every epoch (model, optimiser, both
    random states, history, early-stopping counters; temp file, then rename) and from which a
    run continues if it exists: stopped and resumed, it ends exactly where an uninterrupted run
    would (``on_epoch`` must then keep no state of its own, or keep it in ``keep``: a dict of the
    caller's plain values (numbers, lists) saved with the rest and restored in place on resume,
    such as a KL warm-up's weight). ``History.seconds`` sums the runs.
    Returns the History; the model ends with the weights of its best epoch.
    """
    if _length(train) == 0:
        raise ValueError("fit() got an empty training set; check the split you passed")
    device = torch.device(device) if device is not None else model_device(model)
    model.to(device)
    with seeded(cfg.seed, device):  # dropout and other in-model randomness
        return _fit(model, loss_fn, train, valid, cfg, augment, device, progress, on_epoch, resume, keep)


RESUME_VERSION = 1


def save_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """torch.save(obj) into a temp file beside ``path``, renamed over it only once complete
    (mode 0644): readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def random_state(gen: torch.Generator, device: torch.device) -> dict[str, Any]:
    """What a resumable run saves of its randomness: its own generator, the global CPU stream
    (dropout, DiffAugment) and, on a GPU, the CUDA stream."""
    return {"gen": gen.get_state(), "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def restore_random_state(state: dict[str, Any], gen: torch.Generator, device: torch.device) -> None:
    """Put back what ``random_state`` saved (the keys of a resume file)."""
    gen.set_state(state["gen"])
    torch.set_rng_state(state["rng"])
    if device.type == "cuda" and state.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(state["cuda_rng"], device)


def read_resume(path: Path) -> dict[str, Any] | None:
    """The state a resumable fit() saved in ``path`` (None when there is none)."""
    if not Path(path).is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("version") != RESUME_VERSION:
        raise ValueError(f"{path} was written by another version of fit(); delete it to start afresh")
    return state


def _fit(model, loss_fn, train, valid, cfg, augment, device, progress, on_epoch, resume, keep) -> History:
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    hist, best, best_state, start = History(), math.inf, None, time.perf_counter()
    first, earlier, stopped, halved_at = 0, 0.0, False, -1
    if resume is not None and (state := read_resume(resume)) is not None:
        if state["cfg"] != dataclasses.asdict(cfg):
            raise ValueError(f"{resume} holds a run with another TrainConfig ({state['cfg']}); "
                             f"delete it, or resume with the same configuration")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        restore_random_state(state, gen, device)
        hist, best, best_state = History.from_dict(state["hist"]), state["best"], state["best_state"]
        first, earlier, stopped, halved_at = state["epoch"] + 1, hist.seconds, state["stopped"], state["halved_at"]
        if keep is not None:
            keep.update(state.get("keep") or {})
    show = progress_enabled() if progress is None else progress
    bar = tqdm(range(first, cfg.epochs if not stopped else first), desc="epochs", disable=not show, leave=False,
               initial=first, total=cfg.epochs)
    for epoch in bar:
        model.train()
        perm, n, total = torch.randperm(_length(train), generator=gen, device="cpu"), _length(train), 0.0
        for start_i in range(0, n, cfg.batch_size):
            batch = _take(train, perm[start_i : start_i + cfg.batch_size], torch.device("cpu"))
            if augment is not None:
                batch = augment(batch, gen)
            batch = batch.to(device) if isinstance(batch, Tensor) else tuple(t.to(device) for t in batch)
            loss = loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {float(loss.detach())} at epoch {epoch}; lower the lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            total += float(loss.detach()) * _length(batch)
        hist.train.append(total / n)
        hist.lr.append(opt.param_groups[0]["lr"])
        score = hist.train[-1]
        if valid is not None:
            score = evaluate(model, loss_fn, valid, device=device)
            hist.valid.append(score)
        if score < best:
            best, hist.best_epoch, best_state = score, epoch, copy.deepcopy(model.state_dict())
        elif cfg.halve_lr_after and (epoch - max(hist.best_epoch, halved_at)) >= cfg.halve_lr_after:
            halved_at = epoch
            for group in opt.param_groups:  # (saved with the optimiser's state when resuming)
                group["lr"] *= 0.5
        bar.set_postfix(train=f"{hist.train[-1]:.4f}", valid=f"{score:.4f}")
        if on_epoch is not None:
            on_epoch(epoch, hist)
        stopped = cfg.patience is not None and epoch - hist.best_epoch >= cfg.patience
        hist.seconds = earlier + time.perf_counter() - start
        if resume is not None:
            save_atomic(resume, {
                "version": RESUME_VERSION, "cfg": dataclasses.asdict(cfg), "epoch": epoch, "stopped": stopped,
                "model": model.state_dict(), "opt": opt.state_dict(), **random_state(gen, device),
                "hist": hist.to_dict(), "best": best, "best_state": best_state, "halved_at": halved_at,
                "keep": copy.deepcopy(keep) if keep is not None else None})
        if stopped:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    hist.seconds = earlier + time.perf_counter() - start
    return hist
