"""Build the web edition of the series into build/book/ (`make book`).

The pages come from what is committed, nothing is executed:

- the home page is README.md (the series, the slide -> notebook map, the results table and the
  pictures); DATA.md, CONTRIBUTING.md and LICENSE-CONTENT.md follow it;
- one page per notebook, from its stored outputs. Three things change on the way: an
  interactive panel (a widget, which needs a kernel) becomes a note that says where to drag its
  sliders, the static twin below it stays; exercise solutions are folded behind a "show" button;
  hidden tests are left out.
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
PAGES = ["README.md", "DATA.md", "CONTRIBUTING.md", "LICENSE-CONTENT.md"]
WIDGET = "application/vnd.jupyter.widget-view+json"
PANEL_NOTE = (
    '<div class="panel-note"><strong>Interactive panel.</strong> Its sliders need a running Python '
    "kernel: open this notebook in Colab or Binder (the rocket button at the top of the page) or in "
    "JupyterLab (<code>make lab</code>) to drag them. On this page the notebook's static figures, such "
    "as its sweeps of the same sliders, stand in for it.</div>"
)
COLAB_CELL = 'find_spec("helpers") is None'  # every notebook's first cell: folded in the book too
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
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
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
    return nb


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
    except (RuntimeError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote the book to {out} (open {out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
