"""``setup`` (every notebook's setup cell, after the fetch cell): seeds, threads, and denormal numbers flushed to zero."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# A fresh process (this one's setting is made by conftest.py): 1e-39 is a denormal float32, and the product
# runs over 4 million entries, large enough for torch to share it out among its threads. (The speed this
# buys is measured by `make bench`, block denormals: a PixelCNN forward pass with and without.)
PROBE = """
import sys, torch
torch.set_num_threads(2)
if sys.argv[1] == "setup":
    from helpers.notebook.session import setup
    setup(seed=0)
x = torch.full((4_000_000,), 1e-39) * 1.0001
print(int((x != 0).sum()))
"""


def _nonzero(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=REPO, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def test_setup_flushes_denormals():
    from helpers.core.train import flush_denormals

    if not flush_denormals():  # this process has it already (conftest.py): only asks whether the CPU can
        pytest.skip("this CPU has no switch for denormal numbers")
    assert _nonzero("keep") == 4_000_000  # without setup() the denormals are computed (slowly on Intel)
    assert _nonzero("setup") == 0  # after it they are flushed to zero


def test_setup_refuses_a_bad_thread_count():
    from helpers.notebook.session import setup

    with pytest.raises(ValueError, match="threads must be a whole number"):
        setup(seed=0, threads=0)
