"""helpers.train and helpers.checkpoints: the loop learns, is reproducible, early-stops and leaves
the caller's RNG alone; checkpoints round-trip, refuse another configuration (naming the field),
load with weights_only and are written atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers.checkpoints import (
    CheckpointError, CheckpointMismatch, config_dict, load_checkpoint, save_checkpoint,
)
from helpers.train import History, TrainConfig, evaluate, fit, seed_everything, seeded


@dataclass(frozen=True)
class TinyConfig:
    inputs: int = 4
    hidden: int = 8


def _tiny(cfg: TinyConfig = TinyConfig()) -> nn.Module:
    return nn.Sequential(nn.Linear(cfg.inputs, cfg.hidden), nn.Tanh(), nn.Linear(cfg.hidden, 2))


def _problem(n: int = 256):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return (x[: n // 2], y[: n // 2]), (x[n // 2 :], y[n // 2 :])


def _ce(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def test_seed_everything_reproduces():
    g1 = seed_everything(3)
    a = torch.randn(3), torch.rand(2, generator=g1)
    g2 = seed_everything(3)
    b = torch.randn(3), torch.rand(2, generator=g2)
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_fit_learns_and_restores_best():
    train, valid = _problem()
    torch.manual_seed(0)
    model = _tiny()
    before = evaluate(model, _ce, valid)
    hist = fit(model, _ce, train, valid, TrainConfig(epochs=30, batch_size=16, lr=1e-2, patience=None),
               progress=False)
    assert len(hist.train) == len(hist.valid) == 30
    assert hist.valid[hist.best_epoch] == min(hist.valid)
    assert hist.train[-1] < 0.5 * hist.train[0]
    after = evaluate(model, _ce, valid)
    assert after == pytest.approx(min(hist.valid), rel=1e-5)  # best weights restored
    assert after < 0.5 * before
    assert hist.seconds > 0


def test_fit_is_reproducible():
    train, valid = _problem()
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        model = _tiny()
        fit(model, _ce, train, valid, TrainConfig(epochs=3, batch_size=16, seed=7), progress=False)
        weights.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_early_stopping():
    train, valid = _problem()
    noisy_valid = (valid[0], 1 - valid[1])  # the better it fits, the worse this gets
    torch.manual_seed(0)
    hist = fit(_tiny(), _ce, train, noisy_valid, TrainConfig(epochs=50, batch_size=16, lr=1e-2, patience=3),
               progress=False)
    assert len(hist.train) == hist.best_epoch + 4 < 50


def test_fit_rejects_empty_and_nan():
    train, valid = _problem()
    with pytest.raises(ValueError, match="empty training set"):
        fit(_tiny(), _ce, (train[0][:0], train[1][:0]), None, TrainConfig(), progress=False)
    with pytest.raises(FloatingPointError, match="lower the lr"):
        fit(_tiny(), lambda m, b: _ce(m, b) * float("nan"), train, None, TrainConfig(epochs=1), progress=False)


def test_augment_is_applied_to_training_batches_only():
    seen = []

    def augment(batch, gen):
        seen.append(len(batch[0]))
        return batch

    train, valid = _problem()
    fit(_tiny(), _ce, train, valid, TrainConfig(epochs=2, batch_size=50), augment=augment, progress=False)
    assert seen == [50, 50, 28] * 2


def _cfg(cfg=TinyConfig()):
    return {"model": config_dict(cfg)}


def test_checkpoint_round_trip(tmp_path):
    model = _tiny()
    hist = History(train=[2.0, 1.0], valid=[2.5, 1.5], best_epoch=1, seconds=0.1)
    path = save_checkpoint(tmp_path / "m.pt", model, _cfg(), history=hist, metrics={"bpp": 2.2},
                           meta={"device": "cpu"})
    other = _tiny()
    out = load_checkpoint(path, other, _cfg())
    assert out.metrics == {"bpp": 2.2} and out.history == hist and out.meta == {"device": "cpu"}
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw["config"] == {"model": {"class": "TinyConfig", "inputs": 4, "hidden": 8}}


def test_half_precision_round_trip(tmp_path):
    model = _tiny()
    full = save_checkpoint(tmp_path / "f.pt", model, _cfg())
    half = save_checkpoint(tmp_path / "h.pt", model, _cfg(), half=True)
    assert half.stat().st_size < full.stat().st_size
    other = _tiny()
    load_checkpoint(half, other, _cfg())
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert b.dtype == a.dtype and torch.allclose(a, b, atol=1e-2, rtol=1e-2)


def test_config_mismatch_names_the_field(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _tiny(), _cfg())
    with pytest.raises(CheckpointMismatch, match=r"model\.hidden: 8 in the file, 16 asked"):
        load_checkpoint(path, _tiny(TinyConfig(hidden=16)), _cfg(TinyConfig(hidden=16)))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="make checkpoints"):
        load_checkpoint(tmp_path / "none.pt", _tiny(), _cfg())


def test_weights_only_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "config": TinyConfig()}, path)  # a pickled dataclass instance
    with pytest.raises(CheckpointError, match="objects other than tensors") as e:
        load_checkpoint(path, _tiny(), _cfg())
    assert "weights_only=False" not in str(e.value)


def test_seeded_restores_the_callers_rng():
    torch.manual_seed(7)
    before = torch.get_rng_state()
    with seeded(0):
        a = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), before)
    with seeded(0):
        assert torch.equal(torch.rand(3), a)


def test_fit_leaves_the_callers_rng_alone():
    train, valid = _problem()
    model = _tiny()
    before = torch.get_rng_state()
    fit(model, _ce, train, valid, TrainConfig(epochs=1), progress=False)
    assert torch.equal(torch.get_rng_state(), before)


def test_save_is_atomic(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", _tiny(), _cfg(), metrics={"v": 1.0})
    good = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _tiny(), _cfg(), metrics={"v": 2.0})
    assert path.read_bytes() == good  # the old checkpoint is untouched
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == ["m.pt"]  # no temp file left


# ----------------------------------------------------------------------------- progress bars
def test_progress_variable_decides_then_ci(monkeypatch):
    from helpers.train import PROGRESS_ENV, progress_enabled

    for progress, ci, want in [("0", None, False), ("1", "true", True), (None, None, True), (None, "true", False)]:
        for name, value in ((PROGRESS_ENV, progress), ("CI", ci)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        assert progress_enabled() is want, (progress, ci)
    monkeypatch.setenv(PROGRESS_ENV, "yes")
    with pytest.raises(ValueError, match="use 1 .* or 0"):
        progress_enabled()


@pytest.mark.parametrize("ci", ["true", None])
def test_processes_the_tests_start_show_no_progress_bar_whatever_ci(ci):
    """nbval's kernels inherit the test process's environment: with CI unset, as in a user's
    terminal, fit() must still draw no bar (a bar is an output the stored notebooks lack)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    code = ("import torch; from helpers.train import TrainConfig, fit, progress_enabled\n"
            "x = torch.randn(8, 2); m = torch.nn.Linear(2, 1)\n"
            "fit(m, lambda m, b: m(b).pow(2).mean(), x, x, TrainConfig(epochs=2, batch_size=4))\n"
            "print(progress_enabled())")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False"]
    assert "epochs" not in res.stderr and "it/s" not in res.stderr, res.stderr
