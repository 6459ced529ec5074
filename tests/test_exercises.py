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
HIDDEN, _exercises, visible_test, with_answer, wrong_answers, right_answers = (
    _root.HIDDEN, _root._exercises, _root.visible_test, _root.with_answer, _root.wrong_answers, _root.right_answers)

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
def test_every_test_cell_is_plain_python(notebook, gid, test):
    """The grading kernel compiles a test cell's source as it is, with Python's own compile, and runs it with exec,
    not through IPython (GRADING.md): a magic (``%``, ``%%``, ``!``) or a top-level ``await`` there would be a
    SyntaxError in grading, a point lost for every student, though the notebook runs in JupyterLab."""
    try:
        compile(test.source, f"<{notebook} {gid}>", "exec", 0, True, 0)
    except SyntaxError as e:
        raise AssertionError(f"{notebook} {gid}: the test cell is not plain Python ({e}); the grading kernel "
                             "runs it with exec, so it could never pass") from None


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


def _written_answers() -> list[tuple[str, str, object]]:
    """(notebook, grade_id, cell) of every answer a teacher grades by hand: a markdown cell that
    nbgrader marks as both solution and graded ("manually graded answer")."""
    out = []
    for nb in NOTEBOOKS:
        for cell in nbformat.read(nb, as_version=4).cells:
            meta = _root.nbgrader_meta(cell)
            if cell.cell_type == "markdown" and meta.get("grade") and meta.get("solution"):
                out.append((nb.stem, meta.get("grade_id", "?"), cell))
    return out


def test_three_notebooks_ask_for_a_written_answer_graded_by_hand():
    written = _written_answers()
    assert len({nb for nb, _, _ in written}) >= 3, f"written answers only in {sorted({nb for nb, _, _ in written})}"
    for nb, gid, cell in written:
        meta = _root.nbgrader_meta(cell)
        assert meta.get("points", 0) > 0, f"{nb} {gid}: a written answer is worth points"
        assert re.search(r"### BEGIN SOLUTION\n.{40,}\n### END SOLUTION", cell.source, re.S), (
            f"{nb} {gid}: give the teacher a model answer between ### BEGIN/END SOLUTION")


def substantive_lines(solutions) -> int:
    """How many statements of real work an exercise's solution regions hold: definitions,
    `with` blocks, imports and docstrings are the frame, not the work."""
    import ast
    import textwrap

    frame = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With, ast.Import, ast.ImportFrom, ast.Pass)
    count = 0
    for cell in solutions:
        for m in _root.SOLUTION.finditer(cell.source):
            body = "\n".join(m.group(0).splitlines()[1:-1])
            tree = ast.parse(textwrap.dedent(body))
            count += sum(1 for n in ast.walk(tree) if isinstance(n, ast.stmt) and not isinstance(n, frame)
                         and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)))
    return count


def test_at_most_a_third_of_the_exercises_are_one_liners():
    shapes = {(nb.stem, gid): substantive_lines(solutions) for nb in NOTEBOOKS
              for gid, solutions, _ in _exercises(nbformat.read(nb, as_version=4))}
    one_liners = sorted(k for k, n in shapes.items() if n <= 2)
    assert len(one_liners) * 3 <= len(shapes), (
        f"{len(one_liners)} of {len(shapes)} exercises are one-liners (<= 2 statements): {one_liners}; "
        "turn some into build or diagnose tasks")


def test_substantive_lines_counts_work_not_frame():
    cell = nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    \"\"\"doc\"\"\"\n    import math\n"
                                     "    y = math.sqrt(x)\n    with open('a') as h:\n        h.read()\n"
                                     "    return y\n    ### END SOLUTION\n")
    assert substantive_lines([cell]) == 3


def test_right_answers_name_real_exercises_and_fit_their_solution_regions():
    """The optional RIGHT fixtures (correct answers written another way, which every test must pass)
    name exercises that exist and give one answer per solution region, as the wrong ones do."""
    found = 0
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = {gid: (solutions, test) for gid, solutions, test in _exercises(nbformat.read(path, as_version=4))}
        for gid, answers in right_answers(path).items():
            assert gid in cells, f"{path.stem}: RIGHT names no exercise {gid}"
            for label, code in answers:
                with_answer(cells[gid][0][-1].source, code)  # raises if the regions do not match
                found += 1
    assert found >= 3


def test_wrong_answer_table_reads_the_records_make_test_writes(tmp_path):
    """scripts/wrong_answer_table.py turns test-artifacts/wrong_answers/*.json into the table
    the issue asks for: exercise x wrong answer x the test that caught it, misses counted."""
    import json
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    import wrong_answer_table as wat

    (tmp_path / "01_x.json").write_text(json.dumps([
        {"exercise": "ex2_test", "wrong answer": "a|b off by one", "caught by": "visible test", "error": "e"},
        {"exercise": "ex2_test", "right answer": "written another way", "passes": True, "error": ""},
        {"exercise": "ex3_test", "wrong answer": "no shuffle", "caught by": "hidden test", "error": "e"},
        {"exercise": "ex3_test", "wrong answer": "slips past", "caught by": "NOT CAUGHT", "error": ""}]))
    text = wat.table(wat.rows(tmp_path))
    assert "| 01_x | Ex 2 | a\\|b off by one | visible test |" in text
    assert "| 01_x | Ex 3 | no shuffle | hidden test |" in text and "written another way" not in text
    assert "3 wrong answers for 2 exercises in 1 notebooks: 1 caught by the visible test, " \
           "1 only by the hidden test, 1 not caught." in text
    out = tmp_path / "table.md"
    assert wat.main(["--artifacts", str(tmp_path), "--out", str(out)]) == 0 and out.read_text() == text
    with pytest.raises(SystemExit, match="run `make test` first"):
        wat.rows(tmp_path / "empty")
