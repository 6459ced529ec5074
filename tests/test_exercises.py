"""What the exercises promise, checked without a kernel (make check): every exercise has a
hidden test and at least two wrong-answer fixtures (conftest's "wrong answers fail their
tests" runs them after each notebook), and no visible test says "correct" (a student who
passes the visible checks has not yet passed the hidden ones)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("root_conftest", REPO / "conftest.py")  # the notebook checks
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
HIDDEN, _exercises, visible_test, with_answer, wrong_answers = (
    _root.HIDDEN, _root._exercises, _root.visible_test, _root.with_answer, _root.wrong_answers)

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISES = [(nb.stem, gid, test) for nb in NOTEBOOKS
             for gid, _, test in _exercises(nbformat.read(nb, as_version=4))]


def test_there_are_exercises():
    assert len(EXERCISES) >= 25 and len({nb for nb, _, _ in EXERCISES}) == len(NOTEBOOKS)


@pytest.mark.parametrize("notebook, gid, test", EXERCISES, ids=[f"{n}:{g}" for n, g, _ in EXERCISES])
def test_every_exercise_has_a_hidden_test(notebook, gid, test):
    assert HIDDEN.search(test.source), f"{notebook} {gid}: add checks between ### BEGIN/END HIDDEN TESTS"


@pytest.mark.parametrize("notebook, gid, test", EXERCISES, ids=[f"{n}:{g}" for n, g, _ in EXERCISES])
def test_no_visible_test_says_correct(notebook, gid, test):
    said = re.findall(r"[^\n]*\bcorrect\b[^\n]*", visible_test(test.source), re.I)
    assert not said, f"{notebook} {gid}: the visible test says {said}; say it passes the visible checks"


@pytest.mark.parametrize("notebook, gid, test", EXERCISES, ids=[f"{n}:{g}" for n, g, _ in EXERCISES])
def test_every_exercise_has_two_wrong_answers(notebook, gid, test):
    answers = wrong_answers(REPO / "notebooks" / f"{notebook}.ipynb").get(gid, [])
    assert len(answers) >= 2, (f"{notebook} {gid}: {len(answers)} wrong answers in "
                               f"tests/fixtures/wrong_answers/{notebook}.py; write at least two plausible ones")
    assert len({label for label, _ in answers}) == len(answers), "each wrong answer has its own label"


def test_with_answer_replaces_each_solution_region_keeping_its_indent():
    cell = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\ny = 2\n"
    assert with_answer(cell, "return x - 1") == "def f(x):\n    return x - 1\n\ny = 2\n"
    two = "a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\n### BEGIN SOLUTION\nc = 3\n### END SOLUTION\n"
    assert with_answer(two, ["b = 0", "c = 0\nd = 1"]) == "a = 1\nb = 0\nc = 0\nd = 1\n"
    with pytest.raises(ValueError, match="2 solution regions, the fixture gives 1"):
        with_answer(two, "b = 0")
