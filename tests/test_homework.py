"""Homework: the student version leaks no solution and each stub fails its own test; autograding
gives full marks to the solutions and the right score and reason to each broken submission."""

from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from helpers.homework import NOTEBOOKS, autograde, graded_notebooks, make_student

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def _solution_lines(nb) -> set[str]:
    """Lines inside solution regions that appear nowhere else in the teacher notebook."""
    inside, outside = set(), []
    for c in nb.cells:
        region = False
        for line in c.source.splitlines():
            s = line.strip()
            if s.startswith(BEGIN):
                region = True
            elif s.startswith(END):
                region = False
            elif region:
                inside.add(s)
            else:
                outside.append(s)
    rest = "\n".join(outside)
    return {s for s in inside if len(s) >= 10 and s not in rest}


def _all_strings(obj) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return "\n".join(_all_strings(v) for v in obj.values()) + "\n" + "\n".join(obj)
    if isinstance(obj, list):
        return "\n".join(_all_strings(v) for v in obj)
    return str(obj)


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("build")
    make_student(build / "student", build=build)
    return build / "student"


def test_every_notebook_has_exercises():
    names = {p.stem for p in graded_notebooks()}
    assert names == {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}, "a notebook has no graded exercise"


def test_student_version_leaks_no_solution(student):
    for teacher in graded_notebooks():
        lines = _solution_lines(nbformat.read(teacher, as_version=4))
        assert lines, f"{teacher.name}: found no solution lines to check"
        text = _all_strings(json.loads((student / teacher.name).read_text()))  # sources, outputs, metadata
        leaked = sorted(s for s in lines if s in text)
        assert not leaked, f"{teacher.name}: solution lines in the student version: {leaked[:3]}"
        assert "raise NotImplementedError()" in text


def test_student_version_has_no_outputs(student):
    for path in student.glob("*.ipynb"):
        for c in nbformat.read(path, as_version=4).cells:
            if c.cell_type == "code":
                assert c.outputs == [] and c.execution_count is None, f"{path.name} keeps outputs"


def test_each_stub_fails_its_own_test(student, tmp_path):
    """Run every student notebook as a student would before answering: every graded test fails."""
    for path in sorted(student.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, allow_errors=True, resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        for c in (c for c in nb.cells if c.cell_type == "code"):
            meta = c.metadata.get("nbgrader", {})
            if meta.get("grade"):
                errors = [o for o in c.outputs if o.output_type == "error"]
                assert errors, f"{path.name}: test {meta['grade_id']} passes without a solution"
            elif not meta.get("solution"):
                bad = [o.ename for o in c.outputs if o.output_type == "error"]
                assert not bad, f"{path.name}: a non-exercise cell fails in the student version: {bad}"


# ---------------------------------------------------------------- autograding on notebook 00
def _by_id(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


@pytest.fixture(scope="module")
def grades(tmp_path_factory) -> dict[tuple[str, str], tuple[float, str]]:
    root = tmp_path_factory.mktemp("grading")
    only00 = root / "notebooks"
    only00.mkdir()
    shutil.copy(NOTEBOOKS / "00_introduction.ipynb", only00)
    build = root / "build"
    make_student(build / "student", notebooks=only00, build=build)
    teacher = nbformat.read(only00 / "00_introduction.ipynb", as_version=4)
    stub = nbformat.read(build / "student" / "00_introduction.ipynb", as_version=4)
    solved = copy.deepcopy(stub)
    for gid in ("ex1_solution", "ex2_solution"):
        _by_id(solved, gid).source = _by_id(teacher, gid).source
    subs = root / "submissions"
    cases = {"alice": solved, "bob": stub}
    cases["dave"] = copy.deepcopy(solved)
    _by_id(cases["dave"], "ex1_solution").source = "while True:\n    pass"
    cases["eve"] = copy.deepcopy(solved)
    cases["eve"].cells = [c for c in cases["eve"].cells if c.metadata.get("nbgrader", {}).get("grade_id") != "ex1_test"]
    cases["frank"] = copy.deepcopy(stub)
    for gid in ("ex1_test", "ex2_test"):
        _by_id(cases["frank"], gid).source = "pass  # tests edited away"
    cases["grace"] = copy.deepcopy(solved)
    _by_id(cases["grace"], "ex2_solution").source = "raise ValueError('oops')"
    for name, nb in cases.items():
        (subs / name).mkdir(parents=True)
        nbformat.write(nb, subs / name / "00_introduction.ipynb")
    (subs / "carol").mkdir()
    (subs / "carol" / "00_introduction.ipynb").write_text('{"cells": [ not json')
    out = root / "grades.csv"
    autograde(subs, out, notebooks=only00, build=build, timeout=20)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert all(r["max_points"] == "1" for r in rows)
    return {(r["student"], r["exercise"]): (float(r["points"]), r["reason"]) for r in rows}


@pytest.mark.parametrize("student, ex1, ex2, why1, why2", [
    ("alice", 1, 1, "", ""),                                   # all solutions: full marks
    ("bob", 0, 0, "not answered", "not answered"),             # stubs left in place
    ("carol", 0, 0, "not a valid notebook", "not a valid notebook"),
    ("dave", 0, 1, "time limit", ""),                          # endless loop, interrupted
    ("eve", 0, 1, "test cell deleted", ""),
    ("frank", 0, 0, "not answered", "not answered"),           # edited tests are restored
    ("grace", 1, 0, "", "solution cell raised ValueError: oops"),  # solution cell raises
])
def test_autograde_scores_and_reasons(grades, student, ex1, ex2, why1, why2):
    assert grades[(student, "ex1_test")][0] == ex1
    assert grades[(student, "ex2_test")][0] == ex2
    assert why1 in grades[(student, "ex1_test")][1] and why2 in grades[(student, "ex2_test")][1]
    if ex1:
        assert grades[(student, "ex1_test")][1] == ""


def test_autograde_rejects_a_bad_folder(tmp_path):
    with pytest.raises(NotADirectoryError, match="SUBMISSIONS/<student>"):
        autograde(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no student sub-folders"):
        autograde(tmp_path)
