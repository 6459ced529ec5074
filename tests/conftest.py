"""Shared fixtures. Tests never touch the network: the Pokémon files come from
$POKEMON_DATA_DIR (CI and `make test` point it at ../shared/data/pokemon) or the cache."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
REPO = Path(__file__).resolve().parents[1]


def _pokemon_dir() -> Path | None:
    for cand in (os.environ.get("POKEMON_DATA_DIR"), REPO.parent / "shared" / "data" / "pokemon",
                 REPO / "data" / "pokemon"):
        if cand and (Path(cand) / "pixel_color.txt").is_file():
            return Path(cand)
    return None


# Kernels started by tests (nbclient, nbgrader) inherit this: a bare `pytest` never downloads.
if not os.environ.get("POKEMON_DATA_DIR") and _pokemon_dir() is not None:
    os.environ["POKEMON_DATA_DIR"] = str(_pokemon_dir())


@pytest.fixture(scope="session")
def pokemon_dir() -> Path:
    d = _pokemon_dir()
    if d is None:
        pytest.fail("no Pokémon data: set POKEMON_DATA_DIR to a folder with pixel_color.txt and "
                    "colormap.txt, or run a notebook once so it downloads them into data/pokemon/")
    return d


@pytest.fixture(scope="session")
def pokemon(pokemon_dir):
    from helpers.data import load_pokemon

    return load_pokemon(pokemon_dir)
