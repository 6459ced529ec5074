"""Shared fixtures. The Pokémon files come from $POKEMON_DATA_DIR (the root conftest.py points
it at ../shared/data/pokemon or the cache; tests never download); shipped models come through
the registry and are never trained by a test. The notebook run (nbval, and the stub check in the
same kernel) is set up in the repository's root conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest
from needs import require

matplotlib.use("Agg")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (its own browser download is never used).

    Playwright's sync API runs an event loop in the main thread while the browser is open: for
    the rest of the session a test cannot call ``asyncio.run`` there, so tests that run the
    grader (nbclient, asyncio) call it in a worker thread, as ``autograde`` does."""
    from browser import CHROMIUM, chromium

    require(None if Path(CHROMIUM).exists() else f"{CHROMIUM} not found (or set CHROMIUM to a Chromium binary)",
            "chromium")
    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def sandbox():
    """Autograding's bubblewrap sandbox can start here (else skip or, under CI=true, fail)."""
    from grader.sandbox import Limits, check_sandbox

    require(check_sandbox(Limits()), "bubblewrap")


@pytest.fixture(scope="session")
def pokemon_dir() -> Path:
    d = Path(os.environ["POKEMON_DATA_DIR"])  # the root conftest always sets it
    if not (d / "pixel_color.txt").is_file():
        pytest.fail(f"no Pokémon data in {d}: `make test` downloads it there before the tests, or set "
                    "POKEMON_DATA_DIR to a folder with pixel_color.txt and colormap.txt")
    return d


@pytest.fixture(scope="session")
def pokemon(pokemon_dir):
    from helpers.core.data import load_pokemon

    return load_pokemon(pokemon_dir)


@pytest.fixture(scope="session")
def shipped():
    """shipped(name) -> (model, Checkpoint) of a shipped model; a missing file fails the test
    with "run `make checkpoints`" (tests never train one)."""
    from helpers.registry import get

    cache: dict = {}

    def load(name: str):
        if name not in cache:
            try:
                cache[name] = get(name, train_if_missing=False)
            except FileNotFoundError as e:
                pytest.fail(str(e))
        return cache[name]

    return load


@pytest.fixture(scope="session")
def device():
    """Where the tests of training and sampling paths put their models: the CPU, or the device that
    GENERATION_TEST_DEVICE names (``scripts/device_check.sh`` sets cuda on a machine with a GPU)."""
    import torch

    name = os.environ.get("GENERATION_TEST_DEVICE", "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        pytest.fail(f"GENERATION_TEST_DEVICE={name!r} names no torch device: use cpu or cuda", pytrace=False)
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.fail("GENERATION_TEST_DEVICE=cuda, but torch sees no CUDA GPU here: unset it to test on the CPU",
                    pytrace=False)
    return dev


@pytest.fixture(scope="module")
def one_thread():
    """Small networks (the toy GANs, WaveNet's one-sample steps): one torch thread is fastest on a
    busy 2-core machine, and it is what their shipped checkpoints trained with."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def stopped_and_resumed(tmp_path, monkeypatch, device):
    """`train NAME --resume` as a user meets it, for a small recipe: ``run(recipe, **hook)`` trains it
    once without a stop, then again with ``hook`` (the recipe's fit's on_epoch= or on_step=, which
    raises KeyboardInterrupt part-way) and --resume, then runs the same command again. It checks
    that the resumed run writes the uninterrupted run's weights and losses, counts two runs and
    removes its state file; returns (uninterrupted, resumed) Checkpoint records for more checks."""
    import dataclasses
    import functools

    import torch

    from helpers import registry

    monkeypatch.setenv("GENERATION_CACHE", str(tmp_path))

    def run(small, **hook):
        _, ref = registry.train(small, device=device, progress=False)
        reference = {k: v.clone() for k, v in torch.load(ref.path, weights_only=True)["state_dict"].items()}
        stopping = dataclasses.replace(small, fit=functools.partial(small.fit, **hook))
        with pytest.raises(KeyboardInterrupt):
            registry.train(stopping, device=device, progress=False, resume=True)
        assert registry.resume_path(small).is_file()
        _, info = registry.train(small, device=device, progress=False, resume=True)
        got = torch.load(info.path, weights_only=True)["state_dict"]
        assert got.keys() == reference.keys() and all(torch.equal(got[k], v) for k, v in reference.items())
        assert info.meta["runs"] == 2 and info.history.train == ref.history.train
        assert not registry.resume_path(small).exists(), "the state file outlived a finished run"
        return ref, info

    return run
