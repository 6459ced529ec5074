"""helpers.registry and helpers.core.checkpoints: one recipe per shipped model, files replaced only
whole, changed recipes in the user cache, and errors that say what to do."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from helpers import registry
from helpers.core.checkpoints import CheckpointError, CheckpointMismatch, load_checkpoint, read_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENERATION_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _tiny_toy():
    r = registry.recipe("toy_gan_plain")
    return dataclasses.replace(r, train=dataclasses.replace(r.train, steps=20, batch=16))


def test_every_shipped_file_matches_its_recipe():
    """One fact, one place: each file in data/checkpoints/ was made by its recipe's exact config,
    and every recipe has its file (<= 12 MB each, <= 80 MB together)."""
    files = {p.stem for p in registry.CHECKPOINT_DIR.glob("*.pt")}
    assert files == set(registry.recipes()), f"files without recipe / recipes without file: {files ^ set(registry.recipes())}"
    total = 0
    for name, r in registry.recipes().items():
        path = registry.path_for(r)
        assert path == registry.CHECKPOINT_DIR / f"{name}.pt"
        payload = read_checkpoint(path)
        assert payload["config"] == r.config, f"{name}: stored config differs from the recipe"
        assert {"device", "seconds"} <= set(payload["meta"]), f"{name}: no record of where/how long it trained"
        total += path.stat().st_size
        assert path.stat().st_size <= registry.CHECKPOINT_LIMIT_MB * 1e6, f"{name} is {path.stat().st_size / 1e6:.1f} MB"
    assert total <= registry.CHECKPOINTS_BUDGET_MB * 1e6
    assert (registry.CHECKPOINT_LIMIT_MB, registry.CHECKPOINTS_BUDGET_MB) == (12, 80)  # the guide's and issue 22's limits


def test_list_shows_every_model(capsys):
    assert registry.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in registry.recipes():
        assert name in out
    total = sum(p.stat().st_size for p in registry.CHECKPOINT_DIR.glob("*.pt")) / 1e6
    assert f"all {len(registry.recipes())} checkpoints: {total:.1f} MB of the 80 MB budget ({80 - total:.1f} MB left" in out
    assert "MB" in out and "test_bpp=2.5" in out and "(target test_bpp < 2.25)" in out
    for name in registry.recipes():  # a resumed training says over how many runs its time was summed
        runs = registry.describe(name)["meta"].get("runs", 1)
        line = next(row for row in out.splitlines() if row.startswith(f"{name} "))
        assert (f" over {runs} runs " in line) == (runs > 1), line


def test_get_loads_in_eval_mode_and_leaves_the_rng_alone(shipped):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    model, info = registry.get("toy_gan_pack2")
    assert not model.training and info.metrics["modes_covered"] == 8 and not info.trained
    assert torch.equal(before, torch.get_rng_state()), "get() consumed the caller's random numbers"


def test_missing_file_says_run_make_checkpoints(cache, monkeypatch):
    monkeypatch.setenv("GENERATION_NO_TRAIN", "1")
    with pytest.raises(FileNotFoundError, match=r"make checkpoints"):
        registry.get(_tiny_toy())


def test_changed_recipe_trains_into_the_cache_never_over_the_shipped_file(cache):
    shipped = registry.CHECKPOINT_DIR / "toy_gan_plain.pt"
    before = shipped.read_bytes()
    r = _tiny_toy()
    assert not registry.is_shipped(r) and registry.path_for(r).parent == cache
    model, info = registry.get(r, train_if_missing=True)
    assert info.trained and info.path.is_file() and info.path.parent == cache
    assert info.meta["device"].startswith("cpu") and info.meta["seconds"] >= 0
    again, info2 = registry.get(r)  # now loaded, not trained
    assert not info2.trained
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert shipped.read_bytes() == before


def test_training_is_seeded_and_reproducible(cache):
    a, _ = registry.train(_tiny_toy(), device="cpu", progress=False)
    b, _ = registry.train(_tiny_toy(), device="cpu", progress=False)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


def test_cli_epochs_goes_to_the_cache(cache, capsys):
    assert registry.main(["train", "toy_gan_plain", "--epochs", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert str(cache) in out and "modes_covered" in out
    assert len(list(cache.glob("toy_gan_plain-*.pt"))) == 1


def test_failed_training_leaves_the_file_as_it_was(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "CHECKPOINT_DIR", tmp_path)
    target = tmp_path / "toy_gan_plain.pt"
    target.write_bytes(b"the old file")

    def broken_fit(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C halfway through training

    r = dataclasses.replace(registry.recipe("toy_gan_plain"), fit=broken_fit)
    with pytest.raises(KeyboardInterrupt):
        registry.train(r, device="cpu")
    assert target.read_bytes() == b"the old file"
    assert [p.name for p in tmp_path.iterdir()] == ["toy_gan_plain.pt"], "a temp file was left behind"


def test_device_auto_and_bad_device():
    from helpers.core.train import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no GPU"):
            resolve_device("cuda")


@pytest.mark.parametrize("content, match", [(b"", "is empty"), (b"PK\x03\x04 truncated", "not a readable checkpoint")])
def test_broken_checkpoint_names_the_file_and_the_fix(tmp_path, content, match):
    bad = tmp_path / "pixel_lstm512.pt"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match=match) as e:
        read_checkpoint(bad, "python -m helpers.registry train pixel_lstm512")
    assert str(bad) in str(e.value) and "git checkout --" in str(e.value)
    assert "python -m helpers.registry train pixel_lstm512" in str(e.value)
    assert "weights_only=False" not in str(e.value)


def test_truncated_real_checkpoint(tmp_path):
    src = registry.CHECKPOINT_DIR / "toy_gan_plain.pt"
    bad = tmp_path / src.name
    bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        read_checkpoint(bad)


def test_mismatch_names_each_field():
    r = registry.recipe("toy_gan_plain")
    other = dataclasses.replace(r, model=dataclasses.replace(r.model, hidden=256))
    with pytest.raises(CheckpointMismatch, match=r"model\.hidden: 128 in the file, 256 asked") as e:
        load_checkpoint(registry.CHECKPOINT_DIR / "toy_gan_plain.pt", other.build(other.model), other.config)
    assert "model.pack" not in str(e.value), "only differing fields are named"


# ---------------------------------------------------------------- facts in one place
@pytest.mark.parametrize("name", sorted(registry.recipes()))
def test_each_checkpoint_records_only_what_its_family_declares(name):
    """The family's METRICS (declared once, beside its fit_*) name every stored metric; `list`
    shows the headline ones; a recipe's targets are declared metrics, stored in the file."""
    from helpers.core.checkpoints import read_checkpoint

    r = registry.recipe(name)
    stored = read_checkpoint(registry.CHECKPOINT_DIR / f"{name}.pt")["metrics"]
    undeclared = [k for k in stored if not any(m.matches(k) for m in r.metrics)]
    assert not undeclared, f"{name} stores {undeclared}, which {r.fit} does not declare"
    shown = registry.describe(name)["metrics"]
    assert shown and set(shown) == {k for k in stored if any(m.headline and m.matches(k) for m in r.metrics)}
    for metric, bound in r.targets.items():
        assert metric in stored and stored[metric] < bound, (name, metric, stored.get(metric), bound)


def test_a_family_cannot_record_an_undeclared_metric():
    from helpers.core.checkpoints import Metric, declared

    names = (Metric("test_iwae{k}_nats", "IWAE"), Metric("test_bpp", "bits", headline=True))
    assert declared({"test_iwae1000_nats": 1.0, "test_bpp": 2.0}, names, "fit_x") == {"test_iwae1000_nats": 1.0,
                                                                                     "test_bpp": 2.0}
    with pytest.raises(KeyError, match=r"fit_x records \['test_bits'\], which its METRICS do not declare"):
        declared({"test_bits": 1.0}, names, "fit_x")
    assert not Metric("test_iwae{k}_nats", "").matches("test_iwae_nats")


def test_recipes_spell_out_every_config_field():
    """Every *Config(...) in registry.recipes() names each of its fields (no silent class
    defaults), except the image GAN configs' side, levels and channels, which the data set's
    descriptor gives; helper functions inside recipes() build configs the same way."""
    import ast
    import inspect

    import helpers.registry as module

    source = inspect.getsource(module.recipes)
    classes = {type(r.model).__name__: type(r.model) for r in registry.recipes().values()}
    classes |= {type(c).__name__: type(c) for r in registry.recipes().values()
                for c in (r.train, getattr(r.train, "train", None), getattr(r.train, "data", None)) if c is not None}
    derived = {name: {"side", "levels", "channels"} for name in ("ImageGANConfig", "DiffAugGANConfig")}
    calls = [n for n in ast.walk(ast.parse(source.lstrip()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in classes]
    assert {c.func.id for c in calls} == set(classes), "every config class appears in the table"
    for call in calls:
        cls = classes[call.func.id]
        fields = [f.name for f in dataclasses.fields(cls)]
        given = set(fields[:len(call.args)]) | {k.arg for k in call.keywords}
        missing = set(fields) - given - derived.get(cls.__name__, set())
        assert not missing, f"{cls.__name__}(...) in recipes() leaves out {sorted(missing)}"
