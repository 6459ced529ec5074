"""helpers.core.train and helpers.core.checkpoints: the loop learns, is reproducible, early-stops and leaves
the caller's RNG alone; checkpoints round-trip, refuse another configuration (naming the field),
load with weights_only and are written atomically."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers.core.checkpoints import (
    CheckpointError, CheckpointMismatch, config_dict, load_checkpoint, save_checkpoint,
)
from helpers.core.train import History, TrainConfig, evaluate, fit, seed_everything, seeded


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
    from helpers.core.train import PROGRESS_ENV, progress_enabled

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


@pytest.mark.slow
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
    code = ("import torch; from helpers.core.train import TrainConfig, fit, progress_enabled\n"
            "x = torch.randn(8, 2); m = torch.nn.Linear(2, 1)\n"
            "fit(m, lambda m, b: m(b).pow(2).mean(), x, x, TrainConfig(epochs=2, batch_size=4))\n"
            "print(progress_enabled())")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False"]
    assert "epochs" not in res.stderr and "it/s" not in res.stderr, res.stderr


# ----------------------------------------------------------------------------- resuming
def _dropout_net() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.3), nn.Tanh(), nn.Linear(16, 2))


def _flip(batch, gen):  # random augmentation drawn from fit's shuffling generator
    x, y = batch
    sign = torch.where(torch.rand(len(x), 1, generator=gen) < 0.5, -1.0, 1.0)
    return x * sign, y


def test_a_stopped_run_resumes_to_exactly_the_uninterrupted_result(tmp_path):
    """Stopped after its second epoch (the state of epoch 1 saved), then resumed in a fresh model:
    the same weights, history and early-stopping bookkeeping as one run without a stop."""
    train, valid = _problem()
    cfg = TrainConfig(epochs=6, batch_size=16, lr=1e-2, patience=None, seed=5)
    whole = _dropout_net()
    ref = fit(whole, _ce, train, valid, cfg, augment=_flip, progress=False)

    class Stop(Exception):
        pass

    def stop_at_2(epoch, hist):
        if epoch == 2:
            raise Stop

    state = tmp_path / "resume" / "run.pt"
    with pytest.raises(Stop):
        fit(_dropout_net(), _ce, train, valid, cfg, augment=_flip, progress=False, on_epoch=stop_at_2, resume=state)
    from helpers.core.train import read_resume

    assert read_resume(state)["epoch"] == 1
    fresh = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.3), nn.Tanh(), nn.Linear(16, 2))  # other init
    got = fit(fresh, _ce, train, valid, cfg, augment=_flip, progress=False, resume=state)
    assert (got.train, got.valid, got.best_epoch) == (ref.train, ref.valid, ref.best_epoch)
    for k, v in whole.state_dict().items():
        assert torch.equal(v, fresh.state_dict()[k]), k
    assert got.seconds >= read_resume(state)["hist"]["seconds"]  # summed over both runs
    again = fit(_dropout_net(), _ce, train, valid, cfg, augment=_flip, progress=False, resume=state)
    assert again.train == ref.train  # a finished run resumed trains no more epochs
    with pytest.raises(ValueError, match="another TrainConfig"):
        fit(_dropout_net(), _ce, train, valid, dataclasses.replace(cfg, lr=1e-3), progress=False, resume=state)


def test_early_stopping_survives_a_resume(tmp_path):
    train, valid = _problem()
    cfg = TrainConfig(epochs=60, batch_size=16, lr=0.3, patience=2, seed=1)
    ref = fit(_dropout_net(), _ce, train, valid, cfg, progress=False)
    assert len(ref.train) < 60
    state = tmp_path / "run.pt"
    stop = len(ref.train) - 2

    def interrupt(epoch, hist):
        if epoch == stop:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(_dropout_net(), _ce, train, valid, cfg, progress=False, on_epoch=interrupt, resume=state)
    got = fit(_dropout_net(), _ce, train, valid, cfg, progress=False, resume=state)
    assert (got.train, got.best_epoch) == (ref.train, ref.best_epoch)


def _stop_in_the_second_epoch(epoch, hist):  # on_epoch runs before the epoch's state is saved
    if epoch == 1:
        raise KeyboardInterrupt


def _stop_at_step_150(step, model):  # the GANs save every 100 steps: resumes from step 100
    if step == 150:
        raise KeyboardInterrupt


@pytest.mark.slow
def test_registry_train_resume_sums_time_and_names_each_run(stopped_and_resumed, device):
    """`train NAME --resume` on a small recipe: stopped after its first epoch, run again, it writes
    the same checkpoint as an uninterrupted run, and its meta counts both runs and their time."""
    from helpers import registry

    _, info = stopped_and_resumed(registry.recipe("context2d_digits").with_epochs(3),
                                  on_epoch=_stop_in_the_second_epoch)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu, 1 thread(s)"
    assert info.meta["device"] == where
    assert info.meta["command"].endswith("context2d_digits --resume")
    assert info.meta["seconds"] > 0

    def fit_without_resume(model, cfg, data, *, device=None, progress=None):
        raise AssertionError("a recipe that cannot resume must be refused before it trains")

    own = dataclasses.replace(registry.recipe("toy_gan_plain"), fit=fit_without_resume)
    with pytest.raises(ValueError, match="cannot be resumed: its training function fit_without_resume takes no resume="):
        registry.train(own, resume=True)


def test_every_shipped_recipe_resumes():
    """`train NAME --resume` works for every shipped checkpoint, not only the long ones."""
    from helpers import registry

    assert [n for n, r in registry.recipes().items() if not r.resumable] == []


def _small_wavenet(r):  # the shipped tones, fewer of them: the same fit, a tenth of the time
    data = dataclasses.replace(r.train.data, n_train=8, n_valid=4, n_test=4)
    return dataclasses.replace(r, train=dataclasses.replace(r.train, data=data))


@pytest.mark.slow
@pytest.mark.parametrize("name, epochs, hook, shrink", [
    ("digits_ae_2d", 2, {"on_epoch": _stop_in_the_second_epoch}, None),
    ("pokemon_ae", 2, {"on_epoch": _stop_in_the_second_epoch}, None),
    ("pixel_lstm128_rgb", 2, {"on_epoch": _stop_in_the_second_epoch}, None),
    ("char_lstm", 2, {"on_epoch": _stop_in_the_second_epoch}, None),
    ("wavenet_tones", 2, {"on_epoch": _stop_in_the_second_epoch}, _small_wavenet),
    ("toy_gan_plain", 2, {"on_step": _stop_at_step_150}, None),
])
def test_the_short_recipes_resume_to_the_uninterrupted_checkpoint(stopped_and_resumed, name, epochs, hook, shrink):
    """The autoencoders, the RGB LSTM, the character LSTM, the WaveNet and the toy GANs: stopped
    part-way and resumed, each writes the weights and losses of a run without a stop."""
    from helpers import registry

    small = registry.recipe(name).with_epochs(epochs)
    stopped_and_resumed(shrink(small) if shrink else small, **hook)


def test_the_learning_rate_halves_after_epochs_without_progress():
    train, valid = _problem()
    cfg = TrainConfig(epochs=30, batch_size=16, lr=0.5, patience=None, seed=1, halve_lr_after=2)
    hist = fit(_dropout_net(), _ce, train, valid, cfg, progress=False)
    assert hist.lr[0] == 0.5 and min(hist.lr) < 0.5, hist.lr
    for e in range(1, len(hist.lr)):  # it halves only after 2 epochs without a new best
        if hist.lr[e] < hist.lr[e - 1]:
            assert hist.lr[e] == hist.lr[e - 1] / 2
            assert e - 1 - hist.valid.index(min(hist.valid[:e])) >= 2
    plain = fit(_dropout_net(), _ce, train, valid, dataclasses.replace(cfg, halve_lr_after=None), progress=False)
    assert set(plain.lr) == {0.5}
    from helpers.core.checkpoints import config_dict

    assert "halve_lr_after" not in config_dict(TrainConfig())  # old checkpoints keep matching
    assert config_dict(cfg)["halve_lr_after"] == 2
