"""The web edition (`make book`): it builds from the stored outputs, and every page opens in
headless Chromium served from 127.0.0.1 with no console error, no request leaving the machine,
every image loaded, the math typeset by the site's own MathJax, and no broken internal link.
Screenshots of two pages go to test-artifacts/book/."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "book"
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REPOSITORY = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]



def _network_off() -> list[str]:
    """A command prefix that runs its command in a network namespace of its own (only a loopback
    device, not even up), or [] where user namespaces are not available."""
    import shutil

    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-rn"]
    return []


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """`make book`'s command, into a temporary folder, with the network off where that is possible
    (the runtime was fetched at install time; the models are exported from committed checkpoints)."""
    from book_live import build_book

    return build_book(tmp_path_factory.mktemp("book") / "html", prefix=_network_off())


@pytest.mark.slow
def test_the_book_builds_with_the_network_off(book):
    """The fixture above built the book in a namespace whose only network device is the loopback."""
    from needs import require

    prefix = _network_off()
    require(None if prefix else "`unshare -rn` cannot make a user + network namespace here", "util-linux")
    devices = subprocess.run([*prefix, sys.executable, "-c", "import socket; print([n for _, n in socket.if_nameindex()])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert devices == "['lo']", devices
    assert (book / "_static" / "live" / "ort" / "ort-wasm-simd-threaded.wasm").is_file()


@pytest.fixture(scope="module")
def site(book):
    from book_live import served

    with served(book) as base:
        yield base


def _html_pages(book: Path) -> list[str]:
    return sorted(p.relative_to(book).as_posix() for p in book.rglob("*.html") if "_static" not in p.parts)


@pytest.mark.slow
def test_the_book_has_every_notebook_and_the_readme(book):
    pages = set(_html_pages(book))
    assert {f"notebooks/{n}.html" for n in NOTEBOOKS} | {"index.html", "search.html", "DATA.html"} <= pages
    index = (book / "index.html").read_text()
    for heading in ("Slide → notebook map", "Results", "Pictures"):
        assert heading in html.unescape(index), f"the home page lacks the README's {heading!r}"
    row = next(line for line in (REPO / "README.md").read_text().splitlines()
               if line.startswith("| pokemon_bits_per_pixel.lstm512"))
    value = row.split("|")[2].strip()
    assert re.search(rf"pokemon_bits_per_pixel\.lstm512[^<]*(</p>)?</td>\s*<td[^>]*>(<p>)?{re.escape(value)}(</p>)?</td>", index), \
        "the home page lacks the README's results table"


@pytest.mark.slow
def test_every_notebook_page_opens_in_colab_and_binder(book):
    slug = urlsplit(REPOSITORY).path.strip("/")
    for name in NOTEBOOKS:
        text = html.unescape((book / "notebooks" / f"{name}.html").read_text())
        assert f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{name}.ipynb" in text, name
        assert re.search(rf"https://mybinder\.org/v2/gh/{re.escape(slug)}/main\?urlpath=lab/tree/notebooks/{name}\.ipynb",
                         text), name


@pytest.mark.slow
def test_panels_become_notes_and_solutions_fold(book):
    """A widget needs a kernel: its output becomes a note, and the book loads no widget manager.
    Exercise solutions are folded behind a toggle; hidden tests are not published."""
    families = (book / "notebooks" / "09_families.html").read_text()  # its GAN panels have no live twin
    assert "Interactive panel." in families and "widget-view+json" not in families
    vae = (book / "notebooks" / "05_vae.html").read_text()
    assert not any("jupyter-widgets" in (book / p).read_text() for p in _html_pages(book))
    assert "tag_hide-input" in vae
    assert not any("BEGIN HIDDEN TESTS" in (book / p).read_text() for p in _html_pages(book))


def _internal_targets(book: Path, page: str, hrefs: list[str]) -> list[str]:
    """The internal links of a page that point at no file, or at no id in their file."""
    broken = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.scheme in ("mailto", "javascript") or (parts.scheme and parts.netloc and not
                                                        parts.netloc.startswith("127.0.0.1")):
            continue
        path = unquote(urlsplit(urljoin(f"http://h/{page}", href)).path).lstrip("/")
        target = book / path
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href} (no file {path})")
        elif parts.fragment and target.suffix == ".html":
            ids = set(re.findall(r'\sid="([^"]+)"', target.read_text()))
            if unquote(parts.fragment) not in ids:
                broken.append(f"{href} (no id {parts.fragment!r} in {path})")
    return broken


@pytest.mark.slow
@pytest.mark.browser
def test_every_page_renders_offline_in_chromium(browser, site, book):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    shots = {"index.html": "book-home.png", "notebooks/05_vae.html": "book-05_vae.png"}
    pages = _html_pages(book)
    math_pages = 0
    for page in pages:
        tab = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors: list[str] = []
        outside: list[str] = []
        tab.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e, errors=errors: errors.append(str(e)))

        _only_local(tab, site, outside)  # everything must come from the site itself
        try:
            tab.goto(site + page, wait_until="load")
            n_math = tab.locator(".math").count()
            if n_math:
                math_pages += 1
                tab.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                      timeout=20_000)
                typeset = tab.evaluate("async () => { await MathJax.startup.promise;"
                                       " return [document.querySelectorAll('.math mjx-container').length,"
                                       " document.querySelectorAll('mjx-merror').length]; }")
                if typeset[0] < n_math or typeset[1]:
                    problems.append(f"{page}: {typeset[0]} of {n_math} formulas typeset, {typeset[1]} MathJax errors")
            bad_images = tab.evaluate(
                "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
            problems += [f"{page}: image not loaded: {src}" for src in bad_images]
            hrefs = tab.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
            problems += [f"{page}: broken link {b}" for b in _internal_targets(book, page, hrefs)]
            if page in shots:
                tab.screenshot(path=str(ARTIFACTS / shots[page]), full_page=False)
        finally:
            tab.close()
        problems += [f"{page}: console error: {e}" for e in errors]
        problems += [f"{page}: asked the network for {u}" for u in outside]
    assert math_pages >= 5, f"only {math_pages} pages have math; the series has formulas in most notebooks"
    assert not problems, "\n".join(problems[:40])
    assert all((ARTIFACTS / name).stat().st_size > 10_000 for name in shots.values())


@pytest.mark.slow
@pytest.mark.browser
def test_search_finds_a_notebook(browser, site):
    tab = browser.new_page()
    try:
        tab.goto(site + "search.html?q=PacGAN", wait_until="load")
        tab.wait_for_selector("#search-results li", timeout=20_000)
        found = tab.evaluate("() => Array.from(document.querySelectorAll('#search-results li a'))"
                             ".map(a => a.getAttribute('href'))")
    finally:
        tab.close()
    assert any("08_gan" in h for h in found), found


def _build_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("book_build", REPO / "book" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("target, expected", [
    ("05_vae.ipynb", "05_vae.ipynb"),                                       # a page: kept
    ("../helpers/registry.py", f"{REPOSITORY}/blob/main/helpers/registry.py"),  # a file: the repository
    ("../data/checkpoints", f"{REPOSITORY}/tree/main/data/checkpoints"),     # a folder
    ("https://example.org/x", "https://example.org/x"),                      # external: kept
    ("#section-2", "#section-2"),
])
def test_book_relinks_files_that_are_not_pages(target, expected):
    build = _build_module()
    staged = {"notebooks/05_vae.ipynb"}
    text = build._relink(f"see [this]({target}).", Path("notebooks/00_introduction.ipynb"), staged, REPOSITORY, "main")
    assert text == f"see [this]({expected})."


def test_book_notebook_turns_panels_into_notes_and_folds_solutions():
    build = _build_module()
    widget = {"output_type": "display_data", "metadata": {},
              "data": {"text/plain": "VBox()", build.WIDGET: {"model_id": "x"}}}
    nb = {"metadata": {"widgets": {"state": {}}}, "cells": [
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True, "grade": False}}, "source": "x = 1",
         "outputs": []},
        {"cell_type": "code", "metadata": {"nbgrader": {"grade": True, "solution": False}}, "outputs": [],
         "source": "assert x == 1\n### BEGIN HIDDEN TESTS\nassert x != 2\n### END HIDDEN TESTS\n"},
        {"cell_type": "code", "metadata": {}, "source": "panel", "outputs": [widget]},
    ]}
    out = build.book_notebook(nb, Path("notebooks/x.ipynb"), set(), REPOSITORY, "main")
    assert out["cells"][0]["metadata"]["tags"] == ["hide-input"]
    assert out["cells"][1]["source"] == "assert x == 1\n" and "tags" not in out["cells"][1]["metadata"]
    assert out["cells"][2]["outputs"][0]["data"] == {"text/html": build.PANEL_NOTE}
    assert "widgets" not in out["metadata"]
    assert nb["cells"][2]["outputs"][0]["data"][build.WIDGET] == {"model_id": "x"}, "the input is not changed"


def test_a_failed_build_leaves_the_old_book(tmp_path, monkeypatch):
    build = _build_module()
    out = tmp_path / "book"
    out.mkdir()
    (out / "index.html").write_text("old")
    monkeypatch.setattr(build, "BOOK", tmp_path / "no-such-config")  # sphinx cannot find conf.py
    with pytest.raises((RuntimeError, FileNotFoundError)):
        build.build(out)
    assert (out / "index.html").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["book"], "a temporary folder was left behind"


# ----------------------------------------------------------------------------- live panels (issue 25)
def _python_models():
    """The shipped models behind the live panels, and the data they start from."""
    import os

    os.environ.setdefault("GENERATION_NO_TRAIN", "1")
    from helpers.core.data import load_pokemon
    from helpers.registry import get

    models = {name: get(name, train_if_missing=False)[0] for name in ("digits_vae", "digits_vae_2d", "pokemon_vae",
                                                                       "pixel_lstm512_wd")}
    return models, load_pokemon()


def test_live_panels_go_where_the_notebooks_panels_are():
    """05's two widget panels become live panels, the 2-D grid gets one below it, 02's explorer
    becomes the LSTM's; a notebook whose cells moved makes the build fail, not skip a panel."""
    build = _build_module()
    for stem, panels in build.LIVE.items():
        nb = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text())
        out = build.book_notebook(nb, Path(f"notebooks/{stem}.ipynb"), set(), REPOSITORY, "main")
        html_outputs = ["".join(o["data"].get("text/html", "")) for c in out["cells"] for o in c.get("outputs", [])
                        if "data" in o]
        for _, name, how, _ in panels:
            hits = [h for h in html_outputs if f'data-live="{name}"' in h]
            assert len(hits) == 1, f"{stem}: live panel {name} appears {len(hits)} times"
            assert "runs in your browser" in hits[0] and "<noscript>" in hits[0]
        if stem == "05_vae":
            assert not any("Interactive panel." in h for h in html_outputs), "05's panels are all live"
    nb = json.loads((REPO / "notebooks" / "05_vae.ipynb").read_text())
    for cell in nb["cells"]:
        if "digit_panel.widget" in "".join(cell["source"]):
            cell["source"] = "panel_renamed.widget"
    with pytest.raises(RuntimeError, match="digits_vae"):
        build.book_notebook(nb, Path("notebooks/05_vae.ipynb"), set(), REPOSITORY, "main")


def test_exported_models_match_pytorch(tmp_path):
    """book/live.py's ONNX files, run by onnxruntime, give the PyTorch models' outputs to 1e-4 on the
    same inputs (the pictures for random codes; the LSTM's logits read in one call and then stepped)."""
    live = _live_module()
    panels = live.export(tmp_path)
    worst = live.check(tmp_path)
    assert set(worst) == {"digits_vae", "digits_vae_2d", "pokemon_vae", "pixel_lstm512_wd"}
    assert max(worst.values()) < 1e-4, worst
    assert "sprites" not in panels["lstm"], "the course's sprites are not redistributed (DATA.md)"
    assert panels["lstm"]["rows"] == 792 and panels["lstm"]["test"] == [712, 792]
    assert not list(tmp_path.glob(".*")), "a temporary file was left behind"


def test_the_live_files_stay_within_30_mb(book):
    live = book / "_static" / "live"
    size = sum(p.stat().st_size for p in live.rglob("*") if p.is_file())
    names = {p.name for p in live.rglob("*")}
    assert {"ort.wasm.min.js", "ort-wasm-simd-threaded.wasm", "panels.json", "digits_vae.onnx",
            "pixel_lstm512_wd.onnx"} <= names
    print(f"live panel files: {size / 2**20:.1f} MiB")
    assert size <= 30 * 2**20, f"the live panels add {size / 2**20:.1f} MiB to the book (budget 30)"


def _only_local(tab, site: str, outside: list[str]) -> None:
    def route(r):
        if r.request.url.startswith(site):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    tab.route("**/*", route)


@pytest.mark.slow
@pytest.mark.browser
def test_live_panels_drag_and_draw_what_python_draws(browser, site, book):
    """Each latent panel: a mouse drag changes the canvas, and the canvas equals the notebook's
    picture (decoder_render -> to_png) for the code the sliders show, pixel for pixel. The
    explorer: its canvas equals the notebook's strip for the completions it drew, a greedy
    completion equals Python's, a seed repeats its draw. Latency over 50 key presses per panel is
    written to test-artifacts/book/live_latency.json (make bench reports it; no timing assert).
    No request leaves 127.0.0.1; screenshots before and after a drag."""
    import book_live as L
    from helpers.models.autoregressive import complete
    from helpers.notebook.plot import COVER_RGB, tile, to_png
    from helpers.notebook.widgets import decoder_render
    from helpers.core.data import indices_to_rgb
    from browser import pixels
    import torch

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    models, pokemon = _python_models()
    test_sprites = pokemon.split()[2]
    timing: dict = {}
    for page in ("05_vae", "02_pokemon_creation"):
        tab = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors, outside = [], []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        _only_local(tab, site, outside)
        try:
            tab.goto(f"{site}notebooks/{page}.html", wait_until="load")
            states = L.wait_drawn(tab)
            assert states and all(s == "ready" for s in states.values()), states
            if page == "02_pokemon_creation":  # the page holds no sprites: it opens on the LSTM's own drawings
                caption = tab.inner_text(f'.live-panel[data-live="{L.COMPLETION}"] .live-caption')
                assert "the LSTM's own drawing 10" in caption, caption
                L.load_sprites(tab, _course_file("pixel_color.txt"))
            for name in [n for n, p in L.PAGES.items() if p == page]:
                panel = tab.locator(f'.live-panel[data-live="{name}"]')
                panel.scroll_into_view_if_needed()
                panel.screenshot(path=str(ARTIFACTS / f"live-{name}-before.png"))
                first = L.canvas(tab, name)
                if name != L.COMPLETION:  # it opens on the code the notebook's panel encodes, unrounded
                    _check_opening_code(tab, name, models[name], pokemon, first)
                selector = f"#{name}-cover" if name == L.COMPLETION else f"#{name}-z0"
                L.drag(tab, selector, name, -60 if name == L.COMPLETION else 90)
                after = L.canvas(tab, name)
                panel.screenshot(path=str(ARTIFACTS / f"live-{name}-after.png"))
                assert first.shape != after.shape or (first != after).any(), f"{name}: the drag changed nothing"
                if name == L.COMPLETION:
                    last = tab.evaluate("n => window.livePanels[n].last", name)
                    s = last["settings"]
                    assert s["cover"] < 0.5, f"the drag should uncover pixels, cover is {s['cover']}"
                    real = test_sprites[s["index"]].numpy()
                    imgs = np.concatenate([real[None], real[None], np.asarray(last["completions"]).reshape(-1, 20, 20)])
                    rgb = indices_to_rgb(imgs, pokemon.colormap)
                    known = int(round((1 - s["cover"]) * 400))
                    rgb[1].reshape(-1, 3)[known:] = COVER_RGB
                    want = pixels(to_png(tile(rgb, ncols=len(rgb), pad_value=0.82), 8))
                    assert (imgs[2:].reshape(len(imgs) - 2, -1)[:, :known] == imgs[0].reshape(-1)[:known]).all(), \
                        "the visible part must be copied unchanged"
                    greedy = tab.evaluate("""async i => (await window.livePanels['%s'].complete(
                        {index: i, cover: 0.5, temperature: 1, seed: 0, greedy: true, samples: 1})).map(a => Array.from(a))"""
                                          % name, 10)
                    py = complete(models[name], test_sprites[10:11], 0.5, greedy=True)[0, 0]
                    assert (np.asarray(greedy[0]) == py.flatten().numpy()).all(), "greedy completion differs from Python's"
                    draw = "s => window.livePanels['%s'].complete({index: 3, cover: 0.75, temperature: 1, seed: s, samples: 2})" % name
                    a, b, c = (tab.evaluate(f"async s => (await ({draw})(s)).map(x => Array.from(x))", s) for s in (7, 7, 8))
                    assert a == b and a != c, "the same seed must give the same draw, another seed another"
                    whole = L.completion_ms(tab, cover=1.0, n=5)
                    timing[name] = {"whole_ms": whole}
                else:
                    z = torch.tensor(L.code(tab, name))
                    want = pixels(to_png(decoder_render(models[name], pokemon.colormap if "pokemon" in name else None)(z),
                                         10 if "pokemon" in name else 20))
                got = L.canvas(tab, name).astype(np.int16)
                assert got.shape == want.shape, (name, got.shape, want.shape)
                diff = np.abs(got - want)
                assert diff.max() == 0, f"{name}: {int((diff > 0).any(-1).sum())} canvas pixels differ from Python's " \
                                        f"picture, by up to {diff.max()} of 255"
                if name != L.COMPLETION:
                    _every_slider_and_encode(tab, name, models[name], pokemon)
                else:
                    for other in ("index", "temperature"):  # its other two sliders answer the keyboard
                        caption = tab.inner_text(f'.live-panel[data-live="{name}"] .live-caption')
                        L.press(tab, f"#{name}-{other}", "ArrowRight", name)
                        assert tab.inner_text(f'.live-panel[data-live="{name}"] .live-caption') != caption, other
                ms = L.latency(tab, name, selector, n=50 if name != L.COMPLETION else 10)
                timing.setdefault(name, {})["latency_ms"] = ms
                assert len(ms) in (10, 50) and all(0 < m < 10_000 for m in ms), ms
            # the theme: the panel follows dark mode
            light = tab.evaluate("() => getComputedStyle(document.querySelector('.live-panel')).backgroundColor")
            tab.evaluate("() => { document.documentElement.dataset.theme = 'dark'; }")
            dark = tab.evaluate("() => getComputedStyle(document.querySelector('.live-panel')).backgroundColor")
            assert light != dark, f"the panel's background stays {light} in dark mode"
            tab.evaluate("() => { document.documentElement.dataset.theme = 'light'; }")
        finally:
            tab.close()
        assert not errors, errors
        assert not outside, f"asked the network for {outside}"
    summary = {n: {k: {"median": float(np.median(v)), "p95": L.p95(v), "n": len(v)} for k, v in t.items()}
               for n, t in timing.items()}
    (ARTIFACTS / "live_latency.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    _montage([(ARTIFACTS / f"live-{n}-before.png", ARTIFACTS / f"live-{n}-after.png")
              for n in ("digits_vae", "pokemon_vae", L.COMPLETION)], ARTIFACTS / "live-panels.png")


def _live_module():
    sys.path.insert(0, str(REPO / "book"))
    try:
        import live
    finally:
        sys.path.remove(str(REPO / "book"))
    return live


PANELS = _live_module().VAE_PANELS  # name: (checkpoint, opening test image, slider limit, where)
LIMIT = {name: p[2] for name, p in PANELS.items()}


def _course_file(name: str) -> Path:
    """The reader's own copy of a course file: $POKEMON_DATA_DIR (CI: ../shared), else data/pokemon/."""
    import os

    return Path(os.environ.get("POKEMON_DATA_DIR") or REPO / "data" / "pokemon") / name


@pytest.mark.slow
@pytest.mark.browser
def test_the_explorer_refuses_a_wrong_file_and_says_why(browser, site, tmp_path):
    import book_live as L

    bad = tmp_path / "pixel_color.txt"
    bad.write_text("1 2 3\n")
    tab = browser.new_page()
    try:
        tab.goto(f"{site}notebooks/02_pokemon_creation.html", wait_until="load")
        L.wait_drawn(tab)
        tab.set_input_files(f"#{L.COMPLETION}-file", str(bad))
        tab.wait_for_selector(f'.live-panel[data-live="{L.COMPLETION}"] .live-error', timeout=10_000)
        said = tab.inner_text(f'.live-panel[data-live="{L.COMPLETION}"] .live-error')
        caption = tab.inner_text(f'.live-panel[data-live="{L.COMPLETION}"] .live-caption')
    finally:
        tab.close()
    assert "not the course's pixel_color.txt" in said and "792 lines" in said, said
    assert "own drawing" in caption, "a refused file leaves the LSTM's own drawings in place"


def test_live_panels_open_where_the_notebooks_panels_open():
    """book/live.py's opening images and ranges are notebook 05's: its panels' encode(i) and the
    LatentPanel default limit (3), the 2-D grid's window (±1.5)."""
    import inspect
    from helpers.notebook.widgets import LatentPanel

    src = (REPO / "notebooks" / "05_vae.py").read_text()
    limit = inspect.signature(LatentPanel).parameters["limit"].default
    for name, var in (("digits_vae", "digit_panel"), ("pokemon_vae", "poke_panel")):
        opened = re.findall(rf"^{var}\.encode\((\d+)\)", src, re.M)
        assert opened == [str(PANELS[name][1])], f"notebook 05's {var} opens on {opened}, the book on {PANELS[name][1]}"
        start = src.index(f"{var} = LatentPanel(")
        assert PANELS[name][2] == limit and "limit=" not in src[start: src.index("\n# %%", start)]
    window = re.search(r"values = np\.linspace\(-([\d.]+), ([\d.]+), 15\)", src)
    assert window and float(window.group(1)) == float(window.group(2)) == PANELS["digits_vae_2d"][2]


def _panel_images(name: str, pokemon):
    from helpers.core.data import load_digits

    return pokemon.split()[2] if "pokemon" in name else load_digits().split()[2]


def _check_opening_code(tab, name: str, model, pokemon, canvas) -> None:
    """The panel opens on the notebook's opening code, encode_means of the same test image (05 §6:
    digits #0, Pokémon #2; the 2-D panel #0), clipped to the range but not rounded to the step,
    and its first picture is the notebook's picture of that code."""
    import book_live as L
    from browser import pixels
    from helpers.models.autoencoders import encode_means
    from helpers.notebook.plot import to_png
    from helpers.notebook.widgets import decoder_render

    index = PANELS[name][1]
    z = encode_means(model, _panel_images(name, pokemon)[index: index + 1])[0].clamp(-LIMIT[name], LIMIT[name])
    assert np.array_equal(np.asarray(L.code(tab, name), np.float32), z.numpy()), f"{name}: not the notebook's code"
    want = pixels(to_png(decoder_render(model, pokemon.colormap if "pokemon" in name else None)(z),
                         10 if "pokemon" in name else 20))
    assert np.array_equal(canvas.astype(np.int16), want), f"{name}: the first picture is not the notebook's"


def _every_slider_and_encode(tab, name: str, model, pokemon) -> None:
    """Every slider answers the keyboard (one press: a redraw, and that dimension moves one step);
    "encode this image" sets the code m of the chosen test image."""
    import book_live as L
    from helpers.models.autoencoders import encode_means

    latent = model.cfg.latent
    for i in range(latent):
        before = L.code(tab, name)
        key = "ArrowLeft" if before[i] > 0 else "ArrowRight"
        L.press(tab, f"#{name}-z{i}", key, name)
        after = L.code(tab, name)
        assert abs(after[i] - before[i]) > 0.01 and after[:i] + after[i + 1:] == before[:i] + before[i + 1:], \
            f"{name}: the key press on z[{i}] moved {before} to {after}"
    tab.fill(f"#{name}-image", "5")
    before = L.draws(tab, name)
    tab.click(f'.live-panel[data-live="{name}"] button:has-text("encode this")')
    tab.wait_for_function("([n, b]) => window.livePanels[n].draws > b", arg=[name, before], timeout=10_000)
    z = encode_means(model, _panel_images(name, pokemon)[5:6])[0].clamp(-LIMIT[name], LIMIT[name])
    assert np.array_equal(np.asarray(L.code(tab, name), np.float32), z.numpy()), f"{name}: encode #5"


def _montage(pairs: list[tuple[Path, Path]], out: Path) -> None:
    """Before | after screenshots, one panel per row (the README's picture of the live panels)."""
    from PIL import Image

    rows = [[Image.open(p).convert("RGB") for p in pair] for pair in pairs]
    width = max(a.width for a, _ in rows) + max(b.width for _, b in rows) + 16
    sheet = Image.new("RGB", (width, sum(max(a.height, b.height) + 16 for a, b in rows)), "white")
    y = 0
    for a, b in rows:
        sheet.paste(a, (0, y))
        sheet.paste(b, (width - b.width, y))
        y += max(a.height, b.height) + 16
    sheet.save(out)


@pytest.mark.slow
@pytest.mark.browser
def test_live_panels_opened_from_a_file_say_what_they_need(browser, book):
    """Chromium will not fetch the models for a file:// page: each panel says so and how to serve the book."""
    tab = browser.new_page()
    try:
        tab.goto((book / "notebooks" / "05_vae.html").as_uri(), wait_until="load")
        tab.wait_for_function("() => Array.from(document.querySelectorAll('.live-panel')).every(p => p.dataset.state === 'error')",
                              timeout=20_000)
        notes = tab.evaluate("() => Array.from(document.querySelectorAll('.live-panel .live-error')).map(e => e.textContent)")
    finally:
        tab.close()
    assert len(notes) == 3 and all("python -m http.server" in n for n in notes), notes


@pytest.mark.slow
@pytest.mark.browser
def test_a_panel_moved_while_its_model_loads_still_draws(browser, site):
    """A reader may drag a slider before the model has arrived: the panel draws once it has, with the
    moved slider, and says nothing went wrong."""
    import book_live as L

    held = []
    tab = browser.new_page()
    try:
        tab.route("**/models/digits_vae.onnx", lambda route: held.append(route))  # hold the model back
        tab.goto(f"{site}notebooks/05_vae.html", wait_until="load")
        tab.wait_for_selector("#digits_vae-z0", timeout=20_000)
        before = L.code(tab, "digits_vae")
        tab.focus("#digits_vae-z0")
        tab.keyboard.press("ArrowRight")
        for _ in range(100):
            if held:
                break
            tab.wait_for_timeout(100)
        assert held and tab.evaluate("() => window.livePanels.digits_vae.draws") == 0
        held[0].continue_()
        tab.wait_for_function("() => window.livePanels.digits_vae.draws >= 1", timeout=20_000)
        state = tab.evaluate("() => document.querySelector('.live-panel[data-live=\"digits_vae\"]').dataset.state")
        errors = tab.locator('.live-panel[data-live="digits_vae"] .live-error').count()
        after = L.code(tab, "digits_vae")
    finally:
        tab.close()
    assert state == "ready" and errors == 0
    assert after[0] != before[0] and after[1:] == before[1:], "the first picture shows the moved slider"
