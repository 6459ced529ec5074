"""The grading policy on canned cell results, without a kernel or a sandbox (make check): which
test cell earns its points, which status it gets when one does not, the reason text the CSV
shows for each status, and that homework decides by the status, never by that text."""

from __future__ import annotations

import os

import nbformat
import pytest

from grader import gradebook, grading
from grader.grading import Executed, Prepared, _outcome, _passed, _status, grade_notebook, prepare
from grader.sandbox import Limits
from grader.submissions import Row, Status, nbgrader_meta

TOKENS_SENT = "token"


def _cell(source: str, gid: str | None = None, *, solution=False, grade=False, outputs=()):
    meta = {"nbgrader": {"grade_id": gid, "solution": solution, "grade": grade, "locked": grade,
                         "points": 1 if grade else 0, "schema_version": 3, "task": False}} if gid else {}
    c = nbformat.v4.new_code_cell(source, metadata=meta)
    c.outputs = [nbformat.v4.new_output("error", ename=e, evalue=v, traceback=[]) for e, v in outputs]
    return c


def _executed(cells, status, *, passed=(), timed_out=(), not_run="", patched=None):
    nb = nbformat.v4.new_notebook(cells=cells)
    return Executed(nb, dict(status), set(timed_out), not_run, False, set(passed), dict(patched or {}))


SOL, TEST = 0, 1


def test_a_test_cell_earns_its_points_only_with_ok_no_error_and_its_token():
    cells = [_cell("x = 1", "s", solution=True), _cell("assert x == 1", "t", grade=True)]
    assert _passed(_executed(cells, {0: "ok", 1: "ok"}, passed={1}), TEST)
    assert not _passed(_executed(cells, {0: "ok", 1: "ok"}), TEST)  # no token: forged or lost
    assert not _passed(_executed(cells, {0: "ok", 1: "error"}, passed={1}), TEST)
    assert not _passed(_executed(cells, {0: "ok", 1: "ok"}, passed={1}, timed_out={1}), TEST)
    bad = [cells[0], _cell("assert x == 1", "t", grade=True, outputs=[("AssertionError", "")])]
    assert not _passed(_executed(bad, {0: "ok", 1: "ok"}, passed={1}), TEST)


NAME_ERROR = (("NameError", "name 'x' is not defined"),)


@pytest.mark.parametrize("status, outputs0, outputs1, timed_out, not_run, want_status, want", [
    ({}, (), (), (), "the kernel died", Status.NOT_RUN, "the kernel died"),
    ({0: "ok"}, (), (), (), "", Status.NOT_RUN, "the test cell did not run"),
    ({0: "ok", 1: "error"}, (), (("AssertionError", "x should be 2"),), (), "", Status.FAILED,
     "AssertionError: x should be 2"),
    ({0: "ok", 1: "error"}, (), (("NotImplementedError", ""),), (), "", Status.NOT_ANSWERED,
     "not answered: the solution still raises NotImplementedError"),
    ({0: "error", 1: "error"}, (("NotImplementedError", ""),), NAME_ERROR, (), "", Status.NOT_ANSWERED,
     "not answered: the solution cell still raises NotImplementedError"),
    ({0: "error", 1: "error"}, (("ValueError", "oops"),), NAME_ERROR, (), "", Status.SOLUTION_ERROR,
     "the solution cell raised ValueError: oops; test: NameError: name 'x' is not defined"),
    ({0: "error", 1: "error"}, (), NAME_ERROR, (0,), "", Status.CELL_TIMED_OUT,
     "a cell ran past the time limit (endless loop?) and was interrupted; test: NameError: name 'x' is not defined"),
    ({0: "ok", 1: "error"}, (), (), (1,), "", Status.TEST_TIMED_OUT,
     "the test cell ran past the time limit and was interrupted"),
    ({0: "ok", 1: "ok"}, (), (), (), "", Status.UNCONFIRMED,
     "the kernel replied ok but never confirmed the test with its signature: the submission tampered with the kernel or its messages"),
    ({0: "ok", 1: "error"}, (), (), (), "", Status.FAILED, "test failed (the kernel reported an error)"),
    # an exception named like another outcome's text is still a failed test
    ({0: "ok", 1: "error"}, (), (("needs_manual_grade", "x"),), (), "", Status.FAILED, "needs_manual_grade: x"),
])
def test_the_status_and_reason_name_what_went_wrong(status, outputs0, outputs1, timed_out, not_run, want_status,
                                                    want):
    cells = [_cell("x = 1", "s", solution=True, outputs=outputs0),
             _cell("assert x == 1", "t", grade=True, outputs=outputs1)]
    ex = _executed(cells, status, timed_out=timed_out, not_run=not_run)
    got, detail = _outcome(ex, {"t": TEST}, "t")
    assert (got, Row("s", "nb", "t", 0, 1, got, detail).reason) == (want_status, want)


def test_a_test_that_passed_while_patched_earns_nothing_and_says_what():
    """The kernel found something patched after the test ran (a function the test called replaced
    abs): no signature, and the reason names what."""
    cells = [_cell("x = 1", "s", solution=True), _cell("assert x == 1", "t", grade=True)]
    ex = _executed(cells, {0: "ok", 1: "ok"}, patched={TEST: "builtins.abs, numpy.allclose"})
    assert not _passed(ex, TEST)
    got, detail = _outcome(ex, {"t": TEST}, "t")
    assert (got, Row("s", "nb", "t", 0, 1, got, detail).reason) == (
        Status.PATCHED, "the test passed only with builtins.abs, numpy.allclose patched while it ran: not counted")


def test_manual_deleted_and_passed_cells_get_their_status():
    cells = [_cell("x = 1", "s", solution=True), _cell("assert x == 1", "t", grade=True)]
    ex = _executed(cells, {0: "ok", 1: "ok"}, passed={1})
    graded_answer = _cell("x = 1", "s", solution=True, grade=True)
    assert _status(ex, Prepared(ex.nb, {"t": TEST}, {}), graded_answer, "s") == (Status.NEEDS_MANUAL_GRADE, ())
    assert _status(ex, Prepared(ex.nb, {}, {}), cells[TEST], "t") == (Status.TEST_DELETED, ())
    assert _status(ex, Prepared(ex.nb, {"t": TEST}, {}), cells[TEST], "t") == (Status.PASSED, ())
    failed = _executed(cells, {0: "ok", 1: "error"}, passed={1})
    assert _status(failed, Prepared(failed.nb, {"t": TEST}, {}), cells[TEST], "t")[0] is Status.FAILED


# Every status, a detail that fits it, and the reason the CSV shows: the texts of the CSV are these.
REASONS = {
    Status.PASSED: ((), ""),
    Status.FAILED: (("AssertionError: x",), "AssertionError: x"),
    Status.NOT_ANSWERED: (("the solution",), "not answered: the solution still raises NotImplementedError"),
    Status.SOLUTION_ERROR: (("ValueError: oops", "NameError: x"),
                            "the solution cell raised ValueError: oops; test: NameError: x"),
    Status.CELL_TIMED_OUT: (("NameError: x",),
                            "a cell ran past the time limit (endless loop?) and was interrupted; test: NameError: x"),
    Status.TEST_TIMED_OUT: ((), "the test cell ran past the time limit and was interrupted"),
    Status.UNCONFIRMED: ((), "the kernel replied ok but never confirmed the test with its signature: "
                             "the submission tampered with the kernel or its messages"),
    Status.PATCHED: (("builtins.abs",), "the test passed only with builtins.abs patched while it ran: not counted"),
    Status.NOT_RUN: (("the kernel died",), "the kernel died"),
    Status.TEST_DELETED: ((), "test cell deleted from the submission"),
    Status.NEEDS_MANUAL_GRADE: ((), "needs_manual_grade: a teacher grades this answer in nbgrader's formgrader"),
    Status.NOT_SUBMITTED: ((), "not submitted"),
    Status.REFUSED: (("submission is a FIFO: it is not followed",), "submission is a FIFO: it is not followed"),
    Status.UNREADABLE: (("PermissionError: Permission denied",),
                        "submission could not be read (PermissionError: Permission denied)"),
    Status.INVALID_NOTEBOOK: (("NotJSONError: no",), "not a valid notebook file (NotJSONError: no)"),
    Status.GRADER_ERROR: (("KeyError: 'x'",),
                          "could not be graded (KeyError: 'x'); this is the grader's fault: please report it"),
    Status.TEACHER_SCORE: (("0: not submitted",),
                           "score entered by a teacher in nbgrader (the autograder gave 0: not submitted)"),
}


@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.name)
def test_every_status_makes_its_reason_text(status):
    detail, want = REASONS[status]
    assert Row("s", "nb", "t", 0, 1, status, detail).reason == want
    with_note = Row("s", "nb", "t", 0, 1, status, detail, ("repaired", ""))
    assert with_note.reason == "; ".join(filter(None, [want, "repaired"]))


def test_a_detail_that_does_not_fit_its_status_is_refused():
    with pytest.raises(ValueError, match="FAILED takes 1 detail strings"):
        Row("s", "nb", "t", 0, 1, Status.FAILED)
    with pytest.raises(ValueError, match="TEST_DELETED takes 0 detail strings"):
        Row("s", "nb", "t", 0, 1, Status.TEST_DELETED, ("why",))


def test_a_submission_that_is_never_run_gets_its_status(tmp_path, monkeypatch):
    """Every outcome decided before a kernel starts: no file, a refused one, an unreadable
    notebook, and the grader's own failure."""
    teacher = nbformat.v4.new_notebook(cells=[_cell("x = 1", "s", solution=True),
                                              _cell("assert x == 1", "t", grade=True)])

    def grade(folder):
        rows = grade_notebook("s", "nb", folder, teacher, timeout=1, limits=Limits(), sandbox=True,
                              work=tmp_path, autograded=tmp_path / "out.ipynb")
        assert [(r.exercise, r.points, r.max_points) for r in rows] == [("t", 0, 1)]
        return rows[0].status, rows[0].reason

    (tmp_path / "none").mkdir()
    assert grade(tmp_path / "none") == (Status.NOT_SUBMITTED, "not submitted")
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "nb.ipynb")
    assert grade(tmp_path / "fifo") == (Status.REFUSED, "submission is a FIFO: it is not followed")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "nb.ipynb").write_text("{}")
    status, reason = grade(tmp_path / "bad")
    assert status is Status.INVALID_NOTEBOOK and reason.startswith("not a valid notebook file (")
    nbformat.write(teacher, tmp_path / "bad" / "nb.ipynb")

    def broken(*a, **k):
        raise KeyError("x")

    monkeypatch.setattr(grading, "_grade", broken)
    assert grade(tmp_path / "bad") == (
        Status.GRADER_ERROR, "could not be graded (KeyError: 'x'); this is the grader's fault: please report it")


def test_homework_decides_by_the_status_never_by_the_reason_text():
    """A failed test whose error reads like another outcome (an exception class the student named
    ``needs_manual_grade``, or ``not submitted``) is graded as the failed test it is."""
    teacher = {("s", "nb", "t"): 0.5}
    fake_manual = Row("s", "nb", "t", 0, 1, Status.FAILED, ("needs_manual_grade: a teacher grades this",))
    fake_missing = Row("s", "nb", "t", 0, 1, Status.FAILED, ("not submitted",))
    manual = Row("s", "nb", "t", 0, 1, Status.NEEDS_MANUAL_GRADE)
    missing = Row("s", "nb2", "t", 0, 1, Status.NOT_SUBMITTED)
    assert fake_manual.reason.startswith("needs_manual_grade") and fake_missing.reason == missing.reason
    assert gradebook._gradebook_entry(fake_manual, {}) == (0, False, None)
    assert gradebook._gradebook_entry(manual, {}) == (None, True, None)
    assert gradebook._gradebook_entry(manual, teacher) == (None, False, 0.5)
    assert gradebook._handed_in([fake_missing, missing]) == [("s", "nb")]
    assert gradebook._with_teacher_score(missing, {("s", "nb2", "t"): 0.5}) is missing
    scored = gradebook._with_teacher_score(fake_missing, teacher)
    assert (scored.status, scored.points, scored.reason) == (
        Status.TEACHER_SCORE, 0.5, "score entered by a teacher in nbgrader (the autograder gave 0: not submitted)")


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


def test_kept_teacher_scores_say_what_is_wrong_with_a_broken_file(tmp_path):
    assert gradebook.kept_teacher_scores(tmp_path) == {}
    gradebook.kept_scores_file(tmp_path).write_text('[["bob", "nb", "ex1_test"]]')
    with pytest.raises(ValueError, match="not a list of .student, notebook, grade id, score.*delete it"):
        gradebook.kept_teacher_scores(tmp_path)
    gradebook.kept_scores_file(tmp_path).write_text('[["bob", "nb", "ex1_test", 0.5]]')
    assert gradebook.kept_teacher_scores(tmp_path) == {("bob", "nb", "ex1_test"): 0.5}
