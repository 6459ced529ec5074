"""Each notebook is a jupytext pair: notebooks/NN_name.py (py:percent, reviewed) and
NN_name.ipynb (run by students and by nbval). The two must say the same, cell by cell."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SCRIPTS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
FIX = "run `make sync` (jupytext --sync) and commit both files"


def _cells(nb) -> list[tuple]:
    """Type, source and the metadata jupytext.toml keeps in the .py (tags; nbgrader's, which says
    what is graded): a change to any of them in only one file of a pair is caught."""
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", [])), c.metadata.get("nbgrader"))
            for c in nb.cells]


def test_there_are_notebooks():
    assert SCRIPTS, f"no notebooks/NN_*.py found in {NOTEBOOKS}"
    assert (NOTEBOOKS / "00_introduction.py").is_file()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_pair_in_sync(script: Path):
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{script.name} has no {ipynb.name} twin; {FIX}"
    text = _cells(jupytext.read(script))
    nb = _cells(nbformat.read(ipynb, as_version=4))
    for i, (a, b) in enumerate(zip(text, nb)):
        assert a == b, (f"cell {i} differs between {script.name} and {ipynb.name}:\n"
                        f"--- .py ---\n{a[1][:400]} {a[2:]}\n--- .ipynb ---\n{b[1][:400]} {b[2:]}\n{FIX}")
    assert len(text) == len(nb), f"{script.name} has {len(text)} cells, {ipynb.name} {len(nb)}; {FIX}"


def test_no_orphan_ipynb():
    orphans = [p.name for p in NOTEBOOKS.glob("*.ipynb") if not p.with_suffix(".py").is_file()]
    assert not orphans, f"notebooks without a .py twin: {orphans}; create them with `jupytext --set-formats ipynb,py:percent`"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_stored_outputs_are_one_run(script: Path):
    """The outputs students and reviewers read come from one top-to-bottom run: every code cell ran,
    in order (a cell edited after the run and synced without re-running loses its outputs)."""
    nb = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
    counts = [(i, c.execution_count) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    never = [i for i, n in counts if n is None]
    assert not never, (f"{script.stem}: code cell(s) {never} have no stored run; "
                       "run `make notebooks` (or execute this notebook top to bottom) and commit it")
    assert [n for _, n in counts] == list(range(1, len(counts) + 1)), (
        f"{script.stem}: execution counts {[n for _, n in counts]} are not one run from 1; re-execute it top to bottom")
