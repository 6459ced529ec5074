"""``setup``: the one line every notebook's first code cell runs."""

from __future__ import annotations

import torch

from helpers.core.train import flush_denormals, seed_everything


def setup(seed: int = 0, threads: int | None = None) -> torch.Generator:
    """Seed Python, NumPy and torch with ``seed`` (one seed per notebook: reruns draw the same
    pictures and numbers) and return a ``torch.Generator`` seeded the same, for samplers.

    threads: use at most this many CPU threads (small models run faster on one than when the
    work is shared out); None leaves torch's default.

    It also flushes denormal numbers to zero (``flush_denormals``): on Intel CPUs they make
    the PixelCNNs of notebooks 02 and 09 many times slower, and flushing them changes none of
    the outputs the tests compare."""
    flush_denormals()
    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"threads must be a whole number >= 1 (or None for torch's default), got {threads!r}")
        torch.set_num_threads(max(1, min(threads, torch.get_num_threads())))
    return seed_everything(seed)
