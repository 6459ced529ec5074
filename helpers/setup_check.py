"""What a student's machine has and lacks, said plainly (notebook 00's set-up check)."""

from __future__ import annotations

import importlib
import importlib.metadata as md
from dataclasses import dataclass

REQUIRED = {  # import name -> (distribution, what it is for)
    "torch": ("torch", "the models"),
    "numpy": ("numpy", "arrays"),
    "matplotlib": ("matplotlib", "figures"),
    "sklearn": ("scikit-learn", "the digits data and the Gaussian-mixture check"),
    "tqdm": ("tqdm", "progress bars"),
    "ipywidgets": ("ipywidgets", "sliders"),
    "PIL": ("pillow", "slider images"),
}
TORCH_VERSION = "2.13.0"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_setup() -> list[Check]:
    """One Check per requirement: packages, torch version, digits data, Pokémon data."""
    checks = []
    for module, (dist, purpose) in REQUIRED.items():
        try:
            importlib.import_module(module)
            checks.append(Check(dist, True, f"{md.version(dist)} ({purpose})"))
        except ImportError:
            checks.append(Check(dist, False, f"missing, needed for {purpose}: run `make lab` "
                                             "from the repository root, which installs it"))
    try:
        import torch

        ok = torch.__version__.split("+")[0] == TORCH_VERSION
        checks.append(Check("torch version", ok, torch.__version__ if ok else
                            f"{torch.__version__}, the series is tested with {TORCH_VERSION}: "
                            f"`pip install torch=={TORCH_VERSION}`"))
    except ImportError:
        pass
    from . import data

    try:
        d = data.load_digits()
        checks.append(Check("digits data", True, f"{len(d.images)} images (ships with scikit-learn)"))
    except Exception as e:  # noqa: BLE001 - report any failure to the student
        checks.append(Check("digits data", False, str(e)))
    try:
        p = data.load_pokemon()
        checks.append(Check("Pokémon data", True, f"{len(p.images)} sprites, {len(p.colormap)} colours"))
    except Exception as e:  # noqa: BLE001
        checks.append(Check("Pokémon data", False, str(e)))
    return checks


def report(checks: list[Check]) -> str:
    lines = [f"{'OK     ' if c.ok else 'MISSING'} {c.name}: {c.detail}" for c in checks]
    bad = sum(not c.ok for c in checks)
    lines.append("All set." if not bad else f"{bad} problem(s) above: fix them before notebook 01.")
    return "\n".join(lines)
