"""Build the web edition of the series into build/book/ (`make book`).

The pages come from what is committed, nothing is executed:

- the home page is README.md (the series, the slide -> notebook map, the results table and the
  pictures); GRADING.md, DATA.md, CONTRIBUTING.md and LICENSE-CONTENT.md follow it;
- one page per notebook, from its stored outputs. Three things change on the way: an
  interactive panel (a widget, which needs a kernel) becomes a live panel where the page can run
  its model (``LIVE`` below: notebook 05's VAE sliders and 2-D grid, notebook 02's completion
  explorer) and otherwise a note that says where to drag its sliders; the static twin below it
  stays. Exercise solutions are folded behind a "show" button; hidden tests are left out.
- the live panels' files under ``_static/live/``: the models exported to ONNX from the shipped
  checkpoints (book/live.py) and the pinned onnxruntime-web that runs them (book/vendor.py,
  fetched once at install time); ``_static/live.js`` builds the panels in the page.
- a relative link to a file that is not a page (``helpers/registry.py``) points at the
  repository instead.

The sources are staged in a temporary folder, Sphinx builds into a temporary folder beside the
output, and that replaces build/book/ only when the build succeeded.

    python book/build.py [--out build/book]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
PAGES = ["README.md", "GRADING.md", "DATA.md", "CONTRIBUTING.md", "LICENSE-CONTENT.md"]
WIDGET = "application/vnd.jupyter.widget-view+json"
PANEL_NOTE = (
    '<div class="panel-note"><strong>Interactive panel.</strong> Its sliders need a running Python '
    "kernel: open this notebook in Colab or Binder (the rocket button at the top of the page) or in "
    "JupyterLab (<code>make lab</code>) to drag them. On this page the notebook's static figures, such "
    "as its sweeps of the same sliders, stand in for it.</div>"
)
COLAB_CELL = 'find_spec("helpers") is None'  # every notebook's first cell: folded in the book too
NOSCRIPT = ("<noscript><p>This live panel needs JavaScript; the notebook's static figures on this page "
            "stand in for it.</p></noscript>")
# Live panels (book/live.py exports the models, book/_static/live.js runs them): which code cell of
# which notebook gets one, and what the page says about it. "replace": the cell's widget output
# becomes the live panel; "append": the panel is added below the cell's figure.
LIVE = {
    "05_vae": [
        ("show_code_grid(decode_images(vae2", "digits_vae_2d", "append",
         "drag z₁ (across) and z₂ (up), the axes of the grid above, over its window, −1.5 to 1.5, and the "
         "2-D VAE's decoder (<code>digits_vae_2d</code>) draws the code. The notebook has no panel here: this one "
         "opens on the code of test image #0, and a code outside the window (a draw from the prior, or an "
         "encoded image: the 0s, 4s, 6s and 7s often lie outside) is clipped to its edge"),
        ("digit_panel.widget", "digits_vae", "replace",
         "the same decoder as the notebook's (<code>digits_vae</code>), starting from the code of test "
         "image #0; drag a slider or move it with the arrow keys"),
        ("poke_panel.widget", "pokemon_vae", "replace",
         "the same decoder as the notebook's (<code>pokemon_vae</code>), starting from the code of test "
         "sprite #2 clipped to the sliders' ±3, as the notebook's panel clips it; drag a slider or move it "
         "with the arrow keys"),
    ],
    "02_pokemon_creation": [
        ("explorer.widget()", "pixel_lstm512_wd", "replace",
         "the lecture's LSTM-512 of section 3 (<code>pixel_lstm512_wd</code>) reads the visible pixels in "
         "one call, then draws the covered ones one at a time with its (h, c) state, the cached loop of "
         "section 7. The notebook's own panel uses whichever model has the lower held-out bits/pixel "
         "(the PixelCNN, as printed above); this page runs the LSTM. A seed and draw number give the same "
         "completions on every visit (the page's own generator, not torch's: not the notebook's draws). The book "
         "publishes no sprite of the course's data, so the panel opens on sprites the LSTM draws itself; load "
         "the course's <code>pixel_color.txt</code> from your disk to complete held-out ones"),
    ],
}


def live_panel(name: str, what: str) -> str:
    """The HTML a live panel starts from (live.js fills it in)."""
    return (f'<div class="live-panel" data-live="{name}"><p class="live-note"><strong>Live panel: runs in '
            f"your browser</strong> (onnxruntime-web, a model exported to ONNX from the shipped checkpoint, "
            f"no kernel): {what}.</p>{NOSCRIPT}</div>")
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)
LINK = re.compile(r"(!?\[[^\]\n]*\]\()([^)\s]+)(\))")


def repository_url() -> str:
    """The repository's address, from pyproject.toml ([project.urls] Repository): one place."""
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get("urls", {})
    if "Repository" not in urls:
        raise KeyError("pyproject.toml has no [project.urls] Repository = 'https://github.com/OWNER/NAME'")
    return urls["Repository"].rstrip("/")


def _relink(text: str, page: Path, staged: set[str], repo: str, branch: str) -> str:
    """Point relative links that are not staged pages or images at the repository on GitHub."""

    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):
            return m.group(0)
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(page.as_posix()), path))
        if resolved in staged:
            return m.group(0)
        kind = "tree" if (REPO / resolved).is_dir() else "blob"
        url = f"{repo}/{kind}/{branch}/{resolved}" + (f"#{anchor}" if anchor else "")
        return f"{m.group(1)}{url}{m.group(3)}"

    return LINK.sub(fix, text)


def book_notebook(nb: dict, page: Path, staged: set[str], repo: str, branch: str) -> dict:
    """The notebook as the book shows it (see the module docstring); the input is not changed."""
    nb = copy.deepcopy(nb)
    nb.get("metadata", {}).pop("widgets", None)
    live = LIVE.get(page.stem, [])
    found: list[str] = []
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        panel = next((p for p in live if cell["cell_type"] == "code" and p[0] in src), None)
        if panel is not None:
            found.append(panel[1])
            html_out = {"output_type": "display_data", "metadata": {},
                        "data": {"text/html": live_panel(panel[1], panel[3])}}
            widgets = [o for o in cell.get("outputs", []) if WIDGET in o.get("data", {})]
            if panel[2] == "replace":
                if len(widgets) != 1:
                    raise RuntimeError(f"{page}: the cell with {panel[0]!r} should show one widget, shows {len(widgets)}")
                widgets[0]["data"], widgets[0]["metadata"] = html_out["data"], {}
            else:
                cell.setdefault("outputs", []).append(html_out)
        grading = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "markdown":
            src = _relink(src, page, staged, repo, branch)
        elif cell["cell_type"] == "code":
            if (grading.get("solution") and not grading.get("grade")) or COLAB_CELL in src:
                tags = cell["metadata"].setdefault("tags", [])
                if "hide-input" not in tags:
                    tags.append("hide-input")
            src = HIDDEN.sub("", src)
            for out in cell.get("outputs", []):
                if WIDGET in out.get("data", {}):
                    out["data"] = {"text/html": PANEL_NOTE}
                    out.get("metadata", {}).clear()
        cell["source"] = src
    if missing := [p[1] for p in live if found.count(p[1]) != 1]:
        raise RuntimeError(f"{page}: no single code cell for the live panel(s) {missing}; "
                           "update LIVE in book/build.py to the notebook's cells")
    return nb


def add_live(html: Path) -> None:
    """The live panels' files: the models exported from the shipped checkpoints (book/live.py) and the
    pinned onnxruntime-web (book/vendor.py, fetched once by `make book`), under _static/live/."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import live
    import vendor

    target = html / "_static" / "live"
    live.export(target / "models")
    vendor.copy_into(target / "ort")


def stage(src: Path, repo: str, branch: str) -> None:
    """Write the book's sources into src: README.md becomes index.md, with the table of contents."""
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    figures = sorted((REPO / "docs" / "figures").glob("*.png"))
    staged = {f"notebooks/{p.name}" for p in notebooks} | set(PAGES)
    staged |= {f"docs/figures/{p.name}" for p in figures}
    (src / "notebooks").mkdir(parents=True)
    (src / "docs" / "figures").mkdir(parents=True)
    for p in figures:
        shutil.copy(p, src / "docs" / "figures" / p.name)
    for p in notebooks:
        nb = json.loads(p.read_text())
        page = Path("notebooks") / p.name
        (src / page).write_text(json.dumps(book_notebook(nb, page, staged, repo, branch), indent=1))
    toc = ("\n\n```{toctree}\n:hidden:\n:caption: Notebooks\n\n" + "".join(f"notebooks/{p.stem}\n" for p in notebooks)
           + "```\n\n```{toctree}\n:hidden:\n:caption: About\n\n" + "".join(f"{Path(n).stem}\n" for n in PAGES[1:])
           + "```\n")
    for name in PAGES:  # the README is the home page: links to it point at index.md
        text = _relink((REPO / name).read_text(), Path(name), staged, repo, branch).replace("](README.md)", "](index.md)")
        if name == "README.md":
            (src / "index.md").write_text(text + toc)
        else:
            (src / name).write_text(text)
    shutil.copytree(BOOK / "_static", src / "_static")


def build(out: Path, *, branch: str = "main") -> Path:
    out = Path(out).resolve()
    repo = repository_url()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        src, html = work / "src", work / "html"
        src.mkdir()
        stage(src, repo, branch)
        env = dict(os.environ, BOOK_REPOSITORY=repo, BOOK_BRANCH=branch)
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-c", str(BOOK),
               "-d", str(work / "doctrees"), str(src), str(html)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"sphinx-build failed ({res.returncode}):\n{res.stdout}{res.stderr}")
        add_live(html)
        (html / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ as it is
        if out.exists():
            shutil.rmtree(out)
        os.replace(html, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "book")
    parser.add_argument("--branch", default="main", help="branch the Colab/Binder/repository links point at")
    args = parser.parse_args(argv)
    try:
        out = build(args.out, branch=args.branch)
    except (RuntimeError, KeyError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote the book to {out} (open {out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
