"""The web edition (`make book`): it builds from the stored outputs, and every page opens in
headless Chromium served from 127.0.0.1 with no console error, no request leaving the machine,
every image loaded, the math typeset by the site's own MathJax, and no broken internal link.
Screenshots of two pages go to test-artifacts/book/."""

from __future__ import annotations

import functools
import html
import re
import subprocess
import sys
import tomllib
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from local_http import serve

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "book"
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REPOSITORY = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]



@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """`make book`'s command, into a temporary folder."""
    out = tmp_path_factory.mktemp("book") / "html"
    res = subprocess.run([sys.executable, str(REPO / "book" / "build.py"), "--out", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return out


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def site(book):
    with serve(functools.partial(_Quiet, directory=str(book))) as base:
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
    vae = (book / "notebooks" / "05_vae.html").read_text()
    assert "Interactive panel." in vae and "widget-view+json" not in vae
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

        def only_local(route, outside=outside):  # everything must come from the site itself
            if route.request.url.startswith(site):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        tab.route("**/*", only_local)
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
