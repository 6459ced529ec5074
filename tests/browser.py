"""A real JupyterLab in a real (headless) Chromium, for tests of what a student sees.

``jupyter_lab(root)`` starts the project's JupyterLab on 127.0.0.1 (a free port, a token, no
browser of its own) and always shuts it down; ``Lab`` drives it with Playwright: open a
notebook, run all cells, drag a slider with the mouse, read an image's rendered pixels.
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
from pathlib import Path
from typing import Iterator

import numpy as np

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


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
