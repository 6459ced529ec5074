"""Freeze the series' own prose (markdown cells of notebooks/*.py, CC BY 4.0) into data/text/series_prose.txt.

Run once: ``python scripts/build_text_corpus.py``. The file is committed and never rebuilt by the
notebooks, so held-out numbers do not drift when the prose changes; DATA.md records its size and
sha256, which ``helpers.models.text.load_corpus`` checks. Solution markup and nbgrader metadata
lines are dropped; each cell becomes one paragraph, cells separated by a blank line.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def markdown_cells(source: str) -> list[str]:
    """The markdown cells of a py:percent notebook, '# ' prefixes removed."""
    cells, current = [], None
    for line in source.splitlines():
        if line.startswith("# %%"):
            if current is not None:
                cells.append("\n".join(current).strip())
            current = [] if "[markdown]" in line else None
        elif current is not None and (line.startswith("# ") or line == "#"):
            body = line[2:]
            if "### BEGIN SOLUTION" not in body and "### END SOLUTION" not in body:
                current.append(body)
    if current is not None:
        cells.append("\n".join(current).strip())
    return [c for c in cells if c]


def main(out: Path = ROOT / "data" / "text" / "series_prose.txt") -> None:
    paragraphs = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        paragraphs += markdown_cells(path.read_text(encoding="utf-8"))
    text = "\n\n".join(paragraphs) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8", newline="\n")
    data = out.read_bytes()
    sys.stdout.write(f"{out.relative_to(ROOT)}: {len(data):,} bytes, {len(text):,} characters, "
                     f"sha256 {hashlib.sha256(data).hexdigest()}\n")


if __name__ == "__main__":
    main()
