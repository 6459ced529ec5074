"""Checkpoint files: written atomically, read with ``torch.load(..., weights_only=True)``,
and errors that say what to do.

A checkpoint is a dict of plain tensors, numbers, strings, lists and dicts:

    {"state_dict": {...}, "config": {"model": {...}, "train": {...}},
     "history": {...} | None, "metrics": {name: number}, "meta": {"device", "seconds", ...}}

``config`` holds the dataclass configurations that produced the weights, each tagged with
its class name (``config_dict``); loading compares it field by field with the configuration
asked for and names every difference (``net.hidden: 128 in the file, 256 asked``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from helpers.core.train import OMIT_AT_DEFAULT, History, save_atomic


class CheckpointError(ValueError):
    """A checkpoint file is empty, truncated or not a checkpoint of this series."""


class CheckpointMismatch(ValueError):
    """A checkpoint on disk was trained with another configuration than the one asked for."""


@dataclass
class Checkpoint:
    """What a checkpoint file says besides its weights."""

    path: Path
    config: dict[str, Any]
    history: History | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    trained: bool = False  # True when the weights were trained just now, not read from disk

    def __getitem__(self, key: str) -> Any:  # info["history"], info["metrics"] read as before
        return getattr(self, key)


def config_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as a plain dict (nested dataclasses too) tagged with its class name."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    out: dict[str, Any] = {"class": type(config).__name__}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if f.metadata.get(OMIT_AT_DEFAULT) and v == f.default:
            continue  # a field added later: at its default it behaves as before, and old files match
        out[f.name] = config_dict(v) if dataclasses.is_dataclass(v) else _plain(v)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"

    def __eq__(self, other) -> bool:
        return isinstance(other, _Absent)

    __hash__ = None


def config_differences(stored: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    """Every differing field, dotted: ``model.hidden: 128 in the file, 256 asked``."""
    a, b = _flatten(stored), _flatten(asked)
    missing = _Absent()
    return [f"{k}: {a.get(k, missing)!r} in the file, {b.get(k, missing)!r} asked"
            for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    config: dict[str, Any],
    *,
    history: History | None = None,
    metrics: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write state_dict + config (+ history, metrics, meta) atomically: a temp file beside
    ``path``, renamed over it only once it is complete. half=True stores floating-point
    weights in bfloat16 (half the bytes; loading casts them back to the model's dtype)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()}
    payload = {"state_dict": state, "config": config,
               "history": history.to_dict() if history is not None else None,
               "metrics": dict(metrics or {}), "meta": dict(meta or {})}
    return save_atomic(path, payload)


def read_checkpoint(path: str | os.PathLike, how_to_get: str = "") -> dict[str, Any]:
    """The raw payload of a checkpoint file, or a CheckpointError that names the file and how
    to get a good copy back (``how_to_get``: e.g. the training command)."""
    path = Path(path)
    fix = (f"get it back with `git checkout -- {path}` if it is a shipped file"
           + (f", or retrain it with `{how_to_get}`" if how_to_get else ""))
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; {fix} (all shipped ones: `make checkpoints`)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): an interrupted copy or download; {fix}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in first or "Weights only" in first:
            found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
            first = "it holds objects other than tensors and plain values" + (f": {found.group(1)}" if found else "")
        raise CheckpointError(f"{path} is not a readable checkpoint ({first[:160]}); it is truncated, "
                              f"corrupted or not from this series; {fix}") from None
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise CheckpointError(f"{path} is not a checkpoint of this series (no state_dict/config); {fix}")
    return payload


def load_checkpoint(path: str | os.PathLike, model: nn.Module, config: dict[str, Any],
                    how_to_get: str = "") -> Checkpoint:
    """Load weights into ``model`` after checking the stored config equals ``config``.
    Raises CheckpointMismatch naming every differing field, CheckpointError for a broken
    file and FileNotFoundError for a missing one."""
    path = Path(path)
    payload = read_checkpoint(path, how_to_get)
    diffs = config_differences(payload["config"], config)
    if diffs:
        raise CheckpointMismatch(
            f"{path.name} was trained with another configuration: {'; '.join(diffs)}. Ask for the "
            f"file's configuration, or train yours (it then goes to the user cache, never over {path.name})")
    dtypes = {k: v.dtype for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.to(dtypes[k]) if k in dtypes and v.is_floating_point() else v
                           for k, v in payload["state_dict"].items()})
    hist = payload.get("history")
    return Checkpoint(path, payload["config"], History.from_dict(hist) if hist else None,
                      payload.get("metrics", {}), payload.get("meta", {}))


# ----------------------------------------------------------------------------- metric names
@dataclass(frozen=True)
class Metric:
    """One number a family's ``fit_*`` records with a checkpoint. ``name`` may hold ``{k}``,
    which stands for a whole number (``test_iwae{k}_nats``); ``headline`` metrics are the
    held-out results ``python -m helpers.registry list`` shows."""

    name: str
    meaning: str
    headline: bool = False

    def matches(self, key: str) -> bool:
        return re.fullmatch(re.escape(self.name).replace(r"\{k\}", r"\d+"), key) is not None


def declared(metrics: dict[str, Any], names: Sequence[Metric], family: str) -> dict[str, Any]:
    """``metrics`` unchanged, after checking that each key is one of the family's declared
    names (a family records only what it declares, so `list`, the bench and the tests can read
    the declaration)."""
    unknown = [k for k in metrics if not any(m.matches(k) for m in names)]
    if unknown:
        raise KeyError(f"{family} records {unknown}, which its METRICS do not declare: add them there")
    return metrics


def headline(metrics: dict[str, Any], names: Sequence[Metric]) -> dict[str, Any]:
    """The stored metrics that the declaration marks as headline results, in stored order."""
    return {k: v for k, v in metrics.items() if any(m.headline and m.matches(k) for m in names)}
