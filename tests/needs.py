"""Tests that need a system package (Chromium, bubblewrap): skip where it is missing, fail under CI."""

from __future__ import annotations

import os

import pytest


def require(missing: str | None, package: str) -> None:
    """Skip a test that needs a system package which is not there, saying which one to install;
    under CI=true (.ci/run installs them) fail instead, so a CI run never passes by skipping."""
    if not missing:
        return
    msg = f"{missing}: install Debian's {package} (sudo apt-get install {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{msg}; under CI=true this test must run", pytrace=False)
    pytest.skip(msg)
