"""The sliders really move pictures, in a real JupyterLab in a real browser.

Starts the project's JupyterLab on 127.0.0.1 (free port, token) serving a temporary folder with
two small notebooks that build the sliders' panels exactly as notebooks 05 and 02 do (nbval runs
the whole notebooks already), opens each in Debian's headless Chromium through Playwright, runs
all cells, drags a slider with the mouse
and compares the displayed image's rendered pixels before and after. Screenshots of both
states are saved under test-artifacts/browser/. JupyterLab is shut down even when a step fails.
A third test times 50 key presses on the VAE panel's z[0] slider, each to its new picture
(kernel round trip included), and saves the times to test-artifacts/browser/slider_latency.json;
it asserts that every press changed the picture, not how fast (issue 25's target, p95 ≤ 100 ms,
is reported by the benchmark's jupyterlab_slider_ms).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from browser import PANELS, Lab, jupyter_lab, write_notebooks

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# PANELS (in browser.py): the two panels exactly as notebooks 05 and 02 build them, each in a
# notebook of its own; the latency test gets a copy of the VAE panel's, so that it opens a
# notebook whose kernel no other test has shut down.
NOTEBOOKS = {**PANELS, "vae_latency.ipynb": PANELS["vae_panel.ipynb"]}


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    write_notebooks(root, NOTEBOOKS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with jupyter_lab(root, ARTIFACTS / "jupyterlab.log") as server:
        yield server


def _run(page, lab_server, notebook: str) -> Lab:
    """Open a panel notebook in JupyterLab and run all its cells; it must finish without an error."""
    lab = Lab(page, lab_server)
    lab.open(notebook)
    lab.run_all()
    assert not lab.errors(), f"{notebook} stopped with an error:\n{lab.errors()[0]}"
    return lab


@pytest.mark.parametrize("notebook, slider_label, dx", [
    ("vae_panel.ipynb", "z[0]", 90),               # the first latent slider of notebook 05's digits VAE panel
    ("completion_panel.ipynb", "covered", -70),    # notebook 02's completion explorer: its cover slider
])
def test_dragging_a_slider_changes_the_picture(browser, lab_server, notebook, slider_label, dx):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        lab = _run(page, lab_server, notebook)
        slider, image = lab.panel(slider_label)
        before = lab.image_pixels(image)
        page.screenshot(path=str(ARTIFACTS / f"{Path(notebook).stem}_before.png"))
        lab.drag(slider.locator(".noUi-handle").first, dx)
        after = lab.wait_changed(image, before)
        page.screenshot(path=str(ARTIFACTS / f"{Path(notebook).stem}_after.png"))
        assert after.shape == before.shape, "the image changed size"
        changed = float((np.abs(after - before).max(-1) > 0).mean())
        assert changed > 0.01, f"dragging '{slider_label}' by {dx}px changed {changed:.1%} of the image's pixels"
        assert not lab.errors(), f"{notebook} shows errors: {lab.errors()[:1]}"
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{Path(notebook).stem}_failed.png"), full_page=True)
        raise
    finally:
        page.close()
        Lab(page, lab_server).shutdown_kernels()


def test_slider_latency_in_jupyterlab(browser, lab_server):
    """Key press on z[0]'s handle -> new picture decoded, 50 times: every press changes the picture,
    each time is a finite positive number of milliseconds (below a loose 5 s: a broken round trip,
    not a slow machine)."""
    notebook = "vae_latency.ipynb"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        lab = _run(page, lab_server, notebook)
        slider, image = lab.panel("z[0]")
        r = lab.slider_latency(slider, image, n=50)
        result = {"n": len(r.ms), "median_ms": r.median, "p95_ms": r.p95, "target_p95_ms": 100.0, "ms": r.ms,
                  "values": r.values}
        (ARTIFACTS / "slider_latency.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"JupyterLab slider latency over {len(r.ms)} key presses: median {r.median:.1f} ms, "
              f"p95 {r.p95:.1f} ms (target p95 <= 100 ms)")
        assert len(r.ms) == 50
        assert all(r.changed), f"key presses {[i for i, c in enumerate(r.changed) if not c]} left the picture as it was"
        assert len(set(r.values)) == 2, f"the presses should alternate between two values, got {sorted(set(r.values))}"
        assert all(math.isfinite(t) and 0 < t < 5000 for t in r.ms), f"times out of range: {r.ms}"
        assert not lab.errors(), f"{notebook} shows errors: {lab.errors()[:1]}"
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "slider_latency_failed.png"), full_page=True)
        raise
    finally:
        page.close()
        Lab(page, lab_server).shutdown_kernels()
