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
    "scipy": ("scipy", "the sprite statistics"),
    "tqdm": ("tqdm", "progress bars"),
    "ipywidgets": ("ipywidgets", "sliders"),
    "PIL": ("pillow", "images: matplotlib's and the sliders'"),
}
TESTED_TORCH = ("2.13.0",)  # the versions the series' tests ran with (make venv installs the first)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # works, but not as tested: said, not counted as a problem


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

        version = torch.__version__.split("+")[0]
        tested = ", ".join(TESTED_TORCH)
        if version in TESTED_TORCH:
            checks.append(Check("torch version", True, f"{torch.__version__} (tested)"))
        else:  # Colab and other machines bring their own torch: go on, but say so
            checks.append(Check("torch version", True, f"{torch.__version__}, not one the series was tested with "
                                f"({tested}); the notebooks should still run, but numbers may differ in the last "
                                f"digits. `make lab` installs torch=={TESTED_TORCH[0]}", warning=True))
    except ImportError:
        pass
    from helpers.core import data

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
    lines = [f"{'MISSING' if not c.ok else 'WARNING' if c.warning else 'OK     '} {c.name}: {c.detail}"
             for c in checks]
    bad = sum(not c.ok for c in checks)
    lines.append("All set." if not bad else f"{bad} problem(s) above: fix them before notebook 01.")
    return "\n".join(lines)
