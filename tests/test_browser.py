"""The sliders really move pictures, in a real JupyterLab in a real browser.

Starts the project's JupyterLab on 127.0.0.1 (free port, token) serving a *copy* of the
notebooks (running them must not rewrite the repository's files), opens a notebook in
Debian's headless Chromium through Playwright, runs all cells, drags a slider with the mouse
and compares the displayed image's rendered pixels before and after. Screenshots of both
states are saved under test-artifacts/browser/. JupyterLab is shut down even when a step fails.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from browser import CHROMIUM, CHROMIUM_ARGS, Lab, jupyter_lab

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    for nb in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        shutil.copy(nb, root / nb.name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with jupyter_lab(root, ARTIFACTS / "jupyterlab.log") as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():  # .ci/run installs it; say how when it is missing
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) "
                    "or set CHROMIUM to a Chromium binary", pytrace=False)
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize("notebook, slider_label, dx", [
    ("05_vae.ipynb", "z[0]", 90),            # the first latent slider of the digits VAE panel
    ("02_pokemon_creation.ipynb", "covered", -70),  # the completion explorer's cover slider
])
def test_dragging_a_slider_changes_the_picture(lab_server, browser, notebook, slider_label, dx):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        lab = Lab(page, lab_server)
        lab.open(notebook)
        lab.run_all()
        assert not lab.errors(), f"{notebook} stopped with an error:\n{lab.errors()[0]}"
        slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=slider_label)).first
        slider.wait_for(timeout=60_000)
        panel = page.locator(".jp-OutputArea-output", has=slider).first
        image = panel.locator("img.widget-image, .widget-image img, img").first
        image.wait_for(timeout=30_000)
        before = lab.image_pixels(image)
        page.screenshot(path=str(ARTIFACTS / f"{Path(notebook).stem}_before.png"))
        lab.drag(slider.locator(".noUi-handle").first, dx)
        after = lab.wait_changed(image, before)
        page.screenshot(path=str(ARTIFACTS / f"{Path(notebook).stem}_after.png"))
        assert after.shape == before.shape, "the image changed size"
        changed = float((np.abs(after - before).max(-1) > 0).mean())
        assert changed > 0.01, f"dragging '{slider_label}' by {dx}px changed {changed:.1%} of the image's pixels"
        assert not lab.errors(), f"{notebook} shows errors: {lab.errors()[:1]}"
    finally:
        page.close()
        Lab(page, lab_server).shutdown_kernels()
