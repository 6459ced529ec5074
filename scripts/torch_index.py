"""Which pip index `make venv` installs torch from: prints the pip arguments (nothing = pip's own index).

TORCH_INDEX=auto (the default): on Linux without an NVIDIA GPU (no `nvidia-smi` on PATH), PyTorch's
CPU wheel index, because PyPI's Linux wheel is the multi-GB CUDA build; when that index cannot be
reached (a mirror-only network, as in CI here), pip's own index, with a note. Elsewhere (macOS,
Windows: PyPI's wheels are CPU builds; Linux with a GPU: the CUDA build is wanted) pip's own index.
TORCH_INDEX=cpu forces the CPU index, TORCH_INDEX=pypi pip's own, and a URL is used as it is
(e.g. https://download.pytorch.org/whl/cu126).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import urllib.request

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def reachable(index: str, timeout: float = 15) -> bool:
    try:
        urllib.request.urlopen(f"{index}/torch/", timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def choose(setting: str, *, system: str, has_gpu: bool, reach=reachable) -> tuple[list[str], str]:
    """(pip arguments, what to tell the user) for a TORCH_INDEX setting."""
    setting = setting.strip() or "auto"
    if setting == "auto":
        if system != "Linux" or has_gpu:
            why = "Linux with an NVIDIA GPU" if system == "Linux" else system
            return [], f"torch from pip's own index ({why}; TORCH_INDEX=cpu|pypi|URL chooses)"
        if not reach(CPU_INDEX):
            return [], (f"note: {CPU_INDEX} cannot be reached, so torch comes from pip's own index "
                        "(TORCH_INDEX=cpu|pypi|URL chooses)")
        setting = "cpu"
    if setting == "pypi":
        return [], "torch from pip's own index (TORCH_INDEX=pypi)"
    index = CPU_INDEX if setting == "cpu" else setting
    if not index.startswith(("https://", "http://", "file://")):
        raise ValueError(f"TORCH_INDEX={setting!r}: use auto, cpu, pypi or an index URL "
                         "such as https://download.pytorch.org/whl/cu126")
    return ["--index-url", index], f"torch from {index}"


def main() -> int:
    try:
        args, note = choose(os.environ.get("TORCH_INDEX", "auto"), system=platform.system(),
                            has_gpu=shutil.which("nvidia-smi") is not None)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(note, file=sys.stderr)
    print(" ".join(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
