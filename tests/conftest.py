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
    """Headless Debian Chromium driven by Playwright (its own browser download is never used)."""
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
    d = Path(os.environ["POKEMON_DATA_DIR"]) if os.environ.get("POKEMON_DATA_DIR") else None
    if d is None:
        pytest.fail("no Pokémon data: set POKEMON_DATA_DIR to a folder with pixel_color.txt and "
                    "colormap.txt, or run a notebook once so it downloads them into data/pokemon/")
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


@pytest.fixture(scope="module")
def one_thread():
    """Small networks (the toy GANs, WaveNet's one-sample steps): one torch thread is fastest on a
    busy 2-core machine, and it is what their shipped checkpoints trained with."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
