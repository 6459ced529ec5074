"""The grading policy on canned cell results, without a kernel or a sandbox (make check): which
test cell earns its points, and which reason the CSV gives when one does not."""

from __future__ import annotations

import nbformat
import pytest

from grader.grading import Executed, _passed, _reason, prepare
from grader.submissions import nbgrader_meta

TOKENS_SENT = "token"


def _cell(source: str, gid: str | None = None, *, solution=False, grade=False, outputs=()):
    meta = {"nbgrader": {"grade_id": gid, "solution": solution, "grade": grade, "locked": grade,
                         "points": 1 if grade else 0, "schema_version": 3, "task": False}} if gid else {}
    c = nbformat.v4.new_code_cell(source, metadata=meta)
    c.outputs = [nbformat.v4.new_output("error", ename=e, evalue=v, traceback=[]) for e, v in outputs]
    return c


def _executed(cells, status, *, passed=(), timed_out=(), not_run=""):
    nb = nbformat.v4.new_notebook(cells=cells)
    return Executed(nb, dict(status), set(timed_out), not_run, False, set(passed))


SOL, TEST = 0, 1


def test_a_test_cell_earns_its_points_only_with_ok_no_error_and_its_token():
    cells = [_cell("x = 1", "s", solution=True), _cell("assert x == 1", "t", grade=True)]
    assert _passed(_executed(cells, {0: "ok", 1: "ok"}, passed={1}), TEST)
    assert not _passed(_executed(cells, {0: "ok", 1: "ok"}), TEST)  # no token: forged or lost
    assert not _passed(_executed(cells, {0: "ok", 1: "error"}, passed={1}), TEST)
    assert not _passed(_executed(cells, {0: "ok", 1: "ok"}, passed={1}, timed_out={1}), TEST)
    bad = [cells[0], _cell("assert x == 1", "t", grade=True, outputs=[("AssertionError", "")])]
    assert not _passed(_executed(bad, {0: "ok", 1: "ok"}, passed={1}), TEST)


@pytest.mark.parametrize("status, outputs0, outputs1, timed_out, not_run, want", [
    ({}, (), (), (), "the kernel died", "the kernel died"),
    ({0: "ok"}, (), (), (), "", "the test cell did not run"),
    ({0: "ok", 1: "error"}, (), (("AssertionError", "x should be 2"),), (), "", "AssertionError: x should be 2"),
    ({0: "ok", 1: "error"}, (), (("NotImplementedError", ""),), (), "",
     "not answered: the solution still raises NotImplementedError"),
    ({0: "error", 1: "error"}, (("NotImplementedError", ""),), (("NameError", "name 'x' is not defined"),), (), "",
     "not answered: the solution cell still raises NotImplementedError"),
    ({0: "error", 1: "error"}, (("ValueError", "oops"),), (("NameError", "name 'x' is not defined"),), (), "",
     "the solution cell raised ValueError: oops; test: NameError: name 'x' is not defined"),
    ({0: "error", 1: "error"}, (), (("NameError", "name 'x' is not defined"),), (0,), "",
     "a cell ran past the time limit (endless loop?) and was interrupted; test: NameError: name 'x' is not defined"),
    ({0: "ok", 1: "error"}, (), (), (1,), "", "the test cell ran past the time limit and was interrupted"),
    ({0: "ok", 1: "ok"}, (), (), (), "",
     "the kernel replied ok but never confirmed the test with its token: the submission tampered with the kernel's messages"),
    ({0: "ok", 1: "error"}, (), (), (), "", "test failed (the kernel reported an error)"),
])
def test_the_reason_names_what_went_wrong(status, outputs0, outputs1, timed_out, not_run, want):
    cells = [_cell("x = 1", "s", solution=True, outputs=outputs0),
             _cell("assert x == 1", "t", grade=True, outputs=outputs1)]
    ex = _executed(cells, status, timed_out=timed_out, not_run=not_run)
    assert _reason(ex, {"t": TEST}, "t") == want


def test_prepare_restores_tests_and_drops_made_up_graded_cells():
    teacher = nbformat.v4.new_notebook(cells=[_cell("x = 1", "s", solution=True),
                                              _cell("assert x == 1", "t", grade=True)])
    student = nbformat.v4.new_notebook(cells=[
        _cell("x = 2", "s", solution=True),
        _cell("pass  # edited away", "t", grade=True),
        _cell("y = 3", "fake", grade=True),                       # a grade_id the teacher never made
        nbformat.v4.new_code_cell("z = 4", metadata={"nbgrader": "x"}),  # malformed: an ordinary cell
    ])
    p = prepare(student, teacher)
    assert p.tests == {"t": 1} and p.nb.cells[1].source == "assert x == 1" and p.notes == {}
    assert nbgrader_meta(p.nb.cells[2]) == {} and p.nb.cells[0].source == "x = 2"
