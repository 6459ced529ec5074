"""The sliders really move pictures, in a real JupyterLab in a real browser.

Starts the project's JupyterLab on 127.0.0.1 (free port, token) serving a temporary folder with
two small notebooks that build the sliders' panels exactly as notebooks 05 and 02 do (nbval runs
the whole notebooks already), opens each in Debian's headless Chromium through Playwright, runs
all cells, drags a slider with the mouse
and compares the displayed image's rendered pixels before and after. Screenshots of both
states are saved under test-artifacts/browser/. JupyterLab is shut down even when a step fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from browser import Lab, jupyter_lab

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# The two panels exactly as notebooks 05 and 02 build them, each in a notebook of its own: nbval
# already runs the whole notebooks; here only what the browser must show is run again.
PANELS = {
    "vae_panel.ipynb": [
        "import torch\n"
        "from helpers.models.autoencoders import encode_means\n"
        "from helpers.core.data import load_digits\n"
        "from helpers.registry import get, recipe\n"
        "from helpers.notebook.widgets import LatentPanel, decoder_render",
        "vae, _ = get('digits_vae')\n"
        "test = load_digits().split().test\n"
        "digit_panel = LatentPanel(decoder_render(vae), recipe('digits_vae').model.latent,\n"
        "                          encode=lambda im: encode_means(vae, im[None])[0], images=test,\n"
        "                          scale=20, generator=torch.Generator().manual_seed(1))\n"
        "digit_panel.encode(0)\n"
        "digit_panel.widget",
    ],
    "completion_panel.ipynb": [
        "from helpers.notebook.completion import CompletionExplorer\n"
        "from helpers.core.data import load_pokemon\n"
        "from helpers.registry import get",
        "pokemon = load_pokemon()\n"
        "cnn, _ = get('context2d_96x10')  # the model notebook 02's explorer picks (lower held-out bits/pixel)\n"
        "explorer = CompletionExplorer(cnn, pokemon.split().test, pokemon.colormap, samples=4, index=10,\n"
        "                              cover=0.5, temperature=1.0)\n"
        "explorer.widget()",
    ],
}


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    import nbformat

    root = tmp_path_factory.mktemp("lab")
    for name, cells in PANELS.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with jupyter_lab(root, ARTIFACTS / "jupyterlab.log") as server:
        yield server


@pytest.mark.parametrize("notebook, slider_label, dx", [
    ("vae_panel.ipynb", "z[0]", 90),               # the first latent slider of notebook 05's digits VAE panel
    ("completion_panel.ipynb", "covered", -70),    # notebook 02's completion explorer: its cover slider
])
def test_dragging_a_slider_changes_the_picture(browser, lab_server, notebook, slider_label, dx):
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
    except Exception:
        page.screenshot(path=str(ARTIFACTS / f"{Path(notebook).stem}_failed.png"), full_page=True)
        raise
    finally:
        page.close()
        Lab(page, lab_server).shutdown_kernels()
