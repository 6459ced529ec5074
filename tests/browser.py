"""A real JupyterLab in a real (headless) Chromium, for tests of what a student sees.

``jupyter_lab(root)`` starts the project's JupyterLab on 127.0.0.1 (a free port, a token, no
browser of its own) and always shuts it down; ``chromium()`` launches the headless browser;
``Lab`` drives it with Playwright: open a notebook, run all cells, drag a slider with the mouse,
read an image's rendered pixels, time key press -> new picture (``slider_latency``).
``PANELS`` are the small notebooks that build the sliders' panels as notebooks 05 and 02 do
(tests/test_browser.py and the benchmark's ``jupyterlab_slider_ms`` serve them).
Chromium is Debian's (/usr/bin/chromium); Playwright's own browser download is not used.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


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


def write_notebooks(root: Path, notebooks: dict[str, list[str]]) -> None:
    """One notebook per entry (name -> its code cells), on the python3 kernel."""
    import nbformat

    for name, cells in notebooks.items():
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, Path(root) / name)


@contextlib.contextmanager
def chromium() -> Iterator:
    """Headless Debian Chromium under Playwright (its own browser download is never used)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: install Debian's chromium, or set CHROMIUM to a "
                                "Chromium binary")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_lab(root: Path, log: Path, timeout: float = 90) -> Iterator[str]:
    """Yield the base URL (with token) of a JupyterLab serving ``root``; stop it afterwards."""
    port, token = _free_port(), secrets.token_hex(16)
    state = Path(tempfile.mkdtemp(prefix="lab-state-"))  # fresh workspaces and settings: no tabs
    # restored from an earlier session, no user settings from this machine
    # Every cell in the DOM (no windowing): a running cell's [*] and a traceback far below the
    # viewport are then visible to the test, not only the cells on screen.
    tracker = state / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
           f"--LabApp.workspaces_dir={state / 'workspaces'}", f"--LabApp.user_settings_dir={state / 'settings'}",
           "--ServerApp.disable_check_xsrf=False", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"JupyterLab did not answer on {base} in {timeout} s; see {log}")
                time.sleep(0.5)
        yield f"{base}|{token}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the server and its kernels
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        shutil.rmtree(state, ignore_errors=True)


def pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


@dataclass(frozen=True)
class SliderLatency:
    """``slider_latency``'s measurement: per drag, milliseconds from the key press to the new
    picture decoded in the page, whether its pixels differ from the picture before, and the
    slider's readout after it."""

    ms: list[float]
    changed: list[bool]
    values: list[str]

    @property
    def median(self) -> float:
        return float(np.median(self.ms))

    @property
    def p95(self) -> float:  # the order statistic benchmarks/run.py's slider_ms reports
        return sorted(self.ms)[int(0.95 * (len(self.ms) - 1))]


# In the page, once per <img>: a key press on the slider's handle stamps its time (the event's
# timeStamp: when the browser received the input); a MutationObserver sees the widget set the
# <img>'s src to the new PNG (a blob URL), waits for that picture to be decoded and hands the
# elapsed milliseconds to whoever armed it. Every src change is counted.
_WATCH = """(img, handle) => {
  if (img.__latency) return;
  const s = img.__latency = {t0: null, changes: 0, armed: 0, waiter: null, result: null};
  handle.addEventListener("keydown", e => { s.t0 = e.timeStamp; }, {capture: true});
  new MutationObserver(records => {
    const n = records.filter(r => r.attributeName === "src").length;
    if (!n) return;
    s.changes += n;
    const t0 = s.t0, done = s.waiter;
    s.t0 = null; s.waiter = null;
    if (!done) return;
    if (t0 === null) { done({error: "the picture changed before the key press"}); return; }
    img.decode().then(() => done({ms: performance.now() - t0}),
                      err => done({error: "the new picture did not decode: " + err}));
  }).observe(img, {attributes: true, attributeFilter: ["src"]});
}"""
_ARM = """(img, handle) => {
  const s = img.__latency;
  s.armed = s.changes; s.t0 = null;
  s.result = new Promise(resolve => { s.waiter = resolve; });
  return document.activeElement === handle;
}"""
_AWAIT = """(img, ms) => Promise.race([img.__latency.result, new Promise(resolve => setTimeout(
  () => resolve({error: `no new picture within ${ms} ms of the key press`}), ms))])"""
_CHANGES = "img => img.__latency.changes - img.__latency.armed"
# FNV-1a over the decoded picture's RGBA pixels, drawn at its natural size
_PIXEL_HASH = """img => {
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let h = 2166136261;
  for (let i = 0; i < d.length; i++) { h ^= d[i]; h = Math.imul(h, 16777619); }
  return `${c.width}x${c.height}:${h >>> 0}`;
}"""


class Lab:
    """Playwright page helpers for one JupyterLab session."""

    def __init__(self, page, server: str):
        self.page = page
        self.base, self.token = server.split("|")

    def open(self, notebook: str) -> None:
        # a workspace of its own, reset: only this notebook is open and active
        workspace = Path(notebook).stem.replace("_", "-")
        self.page.goto(f"{self.base}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={self.token}")
        self.page.locator(".jp-NotebookPanel").first.wait_for(timeout=60_000)
        # kernel ready: the status indicator says Idle
        self.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=120_000)
        no_news = self.page.get_by_role("button", name="No", exact=True)
        if no_news.count():  # "get notified about Jupyter news?" toast: answer it, keep screenshots clean
            no_news.first.click()

    def _prompts(self) -> list[str]:
        """The execution prompt of every code cell: '[ ]:' not run, '[*]:' running, '[3]:' done."""
        return [t.strip() for t in self.page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()]

    def _click_run_all(self) -> None:
        self.page.locator(".jp-Notebook .jp-Cell").first.click()  # the notebook is the current widget
        self.page.get_by_role("menuitem", name="Run", exact=True).click()
        self.page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    def run_all(self, timeout_s: float = 420, start_s: float = 20) -> None:
        """Run every cell and return once each code cell shows an execution count (or an error
        stopped the run) and the kernel has been idle for 3 polls in a row. If no cell has started ``start_s`` seconds after the
        click (a fresh JupyterLab can take a click before the notebook is ready for it), the
        click is repeated, twice at most."""
        done = re.compile(r"^\[\d+\]:?$")
        deadline, quiet, clicks = time.monotonic() + timeout_s, 0, 0
        while clicks < 3:
            self._click_run_all()
            clicks += 1
            started = time.monotonic() + start_s
            while time.monotonic() < min(started, deadline):
                if any(p != "[ ]:" and p for p in self._prompts()):
                    break
                time.sleep(0.5)
            else:
                continue  # nothing started: click again
            break
        else:
            raise TimeoutError(f"Run All Cells started no cell in {clicks} tries of {start_s} s; "
                               f"prompts: {self._prompts()}")
        while time.monotonic() < deadline:
            prompts = self._prompts()
            # finished: nothing running and every cell counted, or an error stopped the run
            stopped = self.page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() > 0
            finished = "[*]:" not in prompts and (all(done.match(p) for p in prompts) or stopped)
            quiet = quiet + 1 if finished and self.kernels_idle() else 0
            if quiet >= 3:
                return
            time.sleep(1)
        raise TimeoutError(f"cells still running after {timeout_s} s (prompts {self._prompts()}); "
                           f"the machine may be overloaded")

    def _kernels(self) -> list[dict]:
        req = urllib.request.Request(f"{self.base}/api/kernels", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def kernels_idle(self) -> bool:
        return all(k.get("execution_state") == "idle" for k in self._kernels())

    def shutdown_kernels(self) -> None:
        """Stop every kernel of the server (one notebook's kernel must not hold memory while
        the next notebook runs)."""
        api = f"{self.base}/api/kernels"
        headers = {"Authorization": f"token {self.token}"}
        for k in self._kernels():
            req = urllib.request.Request(f"{api}/{k['id']}", headers=headers, method="DELETE")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(req, timeout=30).close()

    def errors(self) -> list[str]:
        """Tracebacks shown in the notebook (each scrolled into view first: JupyterLab skips
        rendering the text of cells outside the viewport)."""
        found = []
        outs = self.page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']")
        for i in range(outs.count()):
            out = outs.nth(i)
            out.scroll_into_view_if_needed()
            text = out.inner_text()
            if "Traceback" in text or "Error" in text:
                found.append(text[-2000:])
        return found

    def panel(self, slider_label: str):
        """(slider, image) locators of the widget panel whose slider is labelled ``slider_label``."""
        page = self.page
        slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=slider_label)).first
        slider.wait_for(timeout=60_000)
        panel = page.locator(".jp-OutputArea-output", has=slider).first
        image = panel.locator("img.widget-image, .widget-image img, img").first
        image.wait_for(timeout=30_000)
        return slider, image

    def _settle(self, timeout_s: float, pause_s: float) -> None:
        """Wait until the kernel is idle (no update still queued), then ``pause_s`` more."""
        deadline = time.monotonic() + timeout_s
        while not self.kernels_idle():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel stayed busy {timeout_s} s after a slider move")
            time.sleep(0.02)
        time.sleep(pause_s)

    def slider_latency(self, slider, image, n: int = 50, *, keys: tuple[str, str] = ("ArrowRight", "ArrowLeft"),
                       warmup: int = 3, timeout_s: float = 10, pause_s: float = 0.1) -> SliderLatency:
        """Move ``slider`` n times by real key presses on its focused handle (one step right, one
        step left, alternating; every press changes the value once) and time each, in the page,
        from the keydown event to the new picture of ``image`` decoded (its src set to the new PNG
        by the widget, then ``img.decode()``): the browser -> kernel -> browser round trip a
        student waits for. Before each press the previous update has landed and the kernel is
        idle; a press whose picture does not arrive in ``timeout_s`` or that changes the picture
        more than once fails. ``warmup`` presses before are not timed."""
        handle = slider.locator(".noUi-handle").first
        readout = slider.locator(".widget-readout").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        h = handle.element_handle()
        image.evaluate(_WATCH, h)
        self._settle(timeout_s, pause_s)
        before, value = image.evaluate(_PIXEL_HASH), readout.inner_text()
        ms, changed, values = [], [], []
        for i in range(warmup + n):
            if not image.evaluate(_ARM, h):
                raise RuntimeError("the slider's handle lost the keyboard focus; something else took it "
                                   "(a dialog, a click): see the screenshot")
            self.page.keyboard.press(keys[i % 2])
            got = image.evaluate(_AWAIT, int(timeout_s * 1000))
            if "error" in got:
                raise RuntimeError(f"key press {i + 1} ({keys[i % 2]}, slider at {value}): {got['error']}")
            self._settle(timeout_s, pause_s)
            if (k := image.evaluate(_CHANGES)) != 1:
                raise RuntimeError(f"key press {i + 1} changed the picture {k} times, expected once: the "
                                   "samples would not be one update each")
            after, now = image.evaluate(_PIXEL_HASH), readout.inner_text()
            if i >= warmup:
                ms.append(float(got["ms"]))
                changed.append(after != before)
                values.append(now)
            before, value = after, now
        return SliderLatency(ms, changed, values)

    def drag(self, handle, dx: float) -> None:
        """Press the mouse on ``handle``, move it dx pixels to the right in steps, release."""
        handle.scroll_into_view_if_needed()
        box = handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(x + dx, y, steps=12)
        self.page.mouse.up()

    def image_pixels(self, img, settle_s: float = 10) -> np.ndarray:
        img.scroll_into_view_if_needed()
        return pixels(img.screenshot())

    def wait_changed(self, img, before: np.ndarray, timeout_s: float = 20) -> np.ndarray:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            now = self.image_pixels(img)
            if now.shape != before.shape or np.abs(now - before).max() > 0:
                return now
            time.sleep(0.3)
        return now
