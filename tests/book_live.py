"""The book's live panels (book/_static/live.js) driven in headless Chromium: wait for them to
draw, move a slider by keyboard or mouse, read a canvas's pixels, time drag-to-pixels and a
whole completion. Used by tests/test_book.py and by the ``book_panels_ms`` benchmark block.

Every panel keeps ``window.livePanels[NAME]``: ``draws`` (pictures painted), ``latencies`` (ms
from the input event a paint answers to the painted canvas), and for the completion explorer
``complete(options)`` (the LSTM's completions as colour indices) and ``last`` (the completions on
the canvas).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LATENT_PANELS = ("digits_vae_2d", "digits_vae", "pokemon_vae")
COMPLETION = "pixel_lstm512_wd"
PAGES = {"digits_vae_2d": "05_vae", "digits_vae": "05_vae", "pokemon_vae": "05_vae",
         COMPLETION: "02_pokemon_creation"}


def p95(ms: list[float]) -> float:
    """The order statistic every latency in the README uses (tests/browser.py, benchmarks)."""
    return float(sorted(ms)[int(0.95 * (len(ms) - 1))])


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def served(book: Path) -> Iterator[str]:
    """The built book on http://127.0.0.1:PORT/ (tests/local_http.py)."""
    from local_http import serve

    with serve(functools.partial(_Quiet, directory=str(book))) as base:
        yield base


def build_book(out: Path, prefix: list[str] = ()) -> Path:
    """`make book`'s command into ``out`` (run under ``prefix``, e.g. a network namespace)."""
    res = subprocess.run([*prefix, sys.executable, str(REPO / "book" / "build.py"), "--out", str(out)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"book/build.py failed:\n{res.stdout}{res.stderr}")
    return out


def wait_drawn(tab, timeout_ms: float = 60_000) -> dict[str, str]:
    """Wait until every live panel on the page has painted (or failed); their states."""
    tab.wait_for_function(
        "() => { const ps = document.querySelectorAll('.live-panel');"
        " return ps.length && Array.from(ps).every(p => +(p.dataset.draws || 0) >= 1 || p.dataset.state === 'error'); }",
        timeout=timeout_ms)
    return tab.evaluate("() => Object.fromEntries(Array.from(document.querySelectorAll('.live-panel'))"
                        ".map(p => [p.dataset.live, p.dataset.state]))")


def draws(tab, name: str) -> int:
    return tab.evaluate("n => window.livePanels[n].draws", name)


def press(tab, selector: str, key: str, name: str, timeout_ms: float = 10_000) -> float:
    """Focus a range input, press one key, wait for the panel's next paint; its latency in ms."""
    before = draws(tab, name)
    tab.focus(selector)
    tab.keyboard.press(key)
    tab.wait_for_function("([n, b]) => window.livePanels[n].draws > b", arg=[name, before], timeout=timeout_ms)
    return tab.evaluate("n => window.livePanels[n].latencies.at(-1)", name)


def latency(tab, name: str, selector: str, n: int = 50, warmup: int = 3) -> list[float]:
    """n key presses on a slider, alternating right and left, after ``warmup`` untimed ones (as the
    JupyterLab measurement does): ms from each input event to the canvas updated (the panel
    measures it: the event's timeStamp to the return of putImageData)."""
    keys = ["ArrowRight" if i % 2 == 0 else "ArrowLeft" for i in range(warmup + n)]
    return [press(tab, selector, k, name) for k in keys][warmup:]


def drag(tab, selector: str, name: str, dx: float) -> None:
    """A mouse drag of a range input's thumb by dx pixels; waits for the next paint."""
    box = tab.locator(selector).bounding_box()
    lo, hi, value = tab.evaluate("s => { const e = document.querySelector(s); return [+e.min, +e.max, +e.value]; }",
                                 selector)
    x = box["x"] + 8 + (box["width"] - 16) * (value - lo) / (hi - lo)
    y = box["y"] + box["height"] / 2
    before = draws(tab, name)
    tab.mouse.move(x, y)
    tab.mouse.down()
    tab.mouse.move(x + dx / 2, y, steps=3)
    tab.mouse.move(x + dx, y, steps=3)
    tab.mouse.up()
    tab.wait_for_function("([n, b]) => window.livePanels[n].draws > b && !window.livePanels[n].busy",
                          arg=[name, before], timeout=10_000)
    tab.wait_for_timeout(50)
    tab.wait_for_function("n => !window.livePanels[n].busy", arg=name, timeout=10_000)


def load_sprites(tab, path: Path) -> None:
    """Give the explorer the course's pixel_color.txt, as a reader would, and wait for its redraw."""
    before = draws(tab, COMPLETION)
    tab.set_input_files(f"#{COMPLETION}-file", str(path))
    tab.wait_for_function("([n, b]) => window.livePanels[n].draws > b && window.livePanels[n].source === 'held-out'",
                          arg=[COMPLETION, before], timeout=20_000)
    tab.wait_for_function("n => !window.livePanels[n].busy", arg=COMPLETION, timeout=20_000)


def canvas(tab, name: str) -> np.ndarray:
    """The panel's canvas as (H, W, 3) uint8."""
    h, w, data = tab.evaluate("""n => { const c = document.querySelector(`.live-panel[data-live="${n}"] canvas`);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return [c.height, c.width, Array.from(d)]; }""", name)
    return np.asarray(data, dtype=np.uint8).reshape(h, w, 4)[..., :3]


def code(tab, name: str) -> list[float]:
    return tab.evaluate("n => Array.from(window.livePanels[n].z())", name)


def completion_ms(tab, cover: float = 1.0, n: int = 10, samples: int = 4) -> list[float]:
    """Wall time of n whole completions (cover 1.0: all 400 pixels drawn, `samples` at once)."""
    return tab.evaluate("""async ([cover, n, samples]) => { const p = window.livePanels['%s'], out = [];
        for (let i = 0; i < n; i++) { const t = performance.now();
          await p.complete({index: 0, cover, temperature: 1, seed: i, draws: 0, samples});
          out.push(performance.now() - t); }
        return out; }""" % COMPLETION, [cover, n, samples])


def measure(book: Path, browser, n: int = 50) -> dict:
    """The numbers the README reports: per latent panel, drag-to-pixels median and p95 over n
    key presses; for the explorer, the same for its cover slider and a whole completion's time."""
    out: dict = {}
    with served(book) as base:
        for page in sorted(set(PAGES.values())):
            tab = browser.new_page(viewport={"width": 1300, "height": 1000})
            try:
                tab.goto(f"{base}notebooks/{page}.html", wait_until="load")
                states = wait_drawn(tab)
                if any(s == "error" for s in states.values()):
                    raise RuntimeError(f"{page}: a live panel failed: {states}")
                for name in [k for k, v in PAGES.items() if v == page]:
                    selector = f"#{name}-cover" if name == COMPLETION else f"#{name}-z0"
                    ms = latency(tab, name, selector, n=n if name != COMPLETION else 10)
                    out[name] = {"median": float(np.median(ms)), "p95": p95(ms), "n": len(ms)}
                    if name == COMPLETION:
                        whole = completion_ms(tab)
                        out[name].update(whole_median=float(np.median(whole)), whole_p95=p95(whole),
                                         whole_n=len(whole))
            finally:
                tab.close()
    return out


if __name__ == "__main__":  # python tests/book_live.py BOOK_DIR: print the measurement
    from browser import chromium

    with chromium() as b:
        print(json.dumps(measure(Path(sys.argv[1]), b), indent=1))
