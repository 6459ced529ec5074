"""The nbgrader gradebook: the scores teachers enter there, kept across rebuilds of the course
folder, and the auto scores of a run recorded beside them (grader.homework calls these)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from grader.submissions import Row, Status, valid_student_name


@contextlib.contextmanager
def _bin_on_path():
    """nbgrader's gradebook runs the ``alembic`` command: put this environment's bin/ on PATH
    while it works, whoever started Python."""
    old = os.environ.get("PATH")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{old or ''}"
    try:
        yield
    finally:
        if old is None:
            del os.environ["PATH"]
        else:
            os.environ["PATH"] = old


def _teacher_scores(db: Path) -> dict[tuple[str, str, str], float]:
    """(student, notebook, grade_id) -> manual score a teacher entered in nbgrader's formgrader,
    read from the last run's gradebook (written only by nbgrader's generate_assignment, this
    grader and the teacher: no student code ever runs where it could reach it)."""
    if not db.is_file():
        return {}
    from nbgrader.api import Gradebook

    out: dict[tuple[str, str, str], float] = {}
    with _bin_on_path(), Gradebook(f"sqlite:///{db}") as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        if g.manual_score is not None:
                            out[(sub.student.id, nb.name, g.name)] = float(g.manual_score)
    return out


def kept_scores_file(build: Path) -> Path:
    return build / "teacher-scores.json"


def _keep_teacher_scores(db: Path, build: Path) -> None:
    """Merge the manual scores of ``db`` into ``kept_scores_file(build)`` (written atomically):
    rebuilding the course folder (`make student`, every `make autograde`) must not lose a
    teacher's work, whichever students the next run grades. Delete the file to forget them."""
    scores = kept_teacher_scores(build)
    scores.update(_teacher_scores(db))
    if not scores:
        return
    out = kept_scores_file(build)
    fd, tmp = tempfile.mkstemp(dir=build, prefix=f".{out.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump([[*key, value] for key, value in sorted(scores.items())], f, indent=1)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)


def kept_teacher_scores(build: Path) -> dict[tuple[str, str, str], float]:
    """(student, notebook, grade_id) -> the manual score a teacher entered, as kept across rebuilds."""
    path = kept_scores_file(build)
    if not path.is_file():
        return {}
    try:
        return {(str(s), str(nb), str(g)): float(v) for s, nb, g, v in json.loads(path.read_text())}
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path} is not a list of [student, notebook, grade id, score]: {e}; "
                         "fix it, or delete it to forget the kept teacher scores") from None


def _record(db: Path, rows: list[Row], teacher: dict[tuple[str, str, str], float]) -> list[Row]:
    """Write the auto scores (and the teacher's manual scores) into a copy of the gradebook, then
    swap it in, so nbgrader's formgrader shows this run. A submission that cannot be recorded
    costs its own rows a note, never the run; returns the rows with those notes."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    failed: dict[tuple[str, str], str] = {}
    fd, tmp = tempfile.mkstemp(dir=db.parent, prefix=f".{db.name}.", suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(db, tmp)
        with _bin_on_path(), Gradebook(f"sqlite:///{tmp}") as gb, warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission autoflushes early
            for (student, nb) in _handed_in(rows):
                try:
                    gb.update_or_create_student(student)
                    try:
                        gb.remove_submission(nb, student)
                    except MissingEntry:
                        pass
                    gb.add_submission(nb, student)
                    for r in (r for r in rows if (r.student, r.notebook) == (student, nb)):
                        g = gb.find_grade(r.exercise, nb, nb, student)
                        g.auto_score, g.needs_manual_grade, g.manual_score = _gradebook_entry(r, teacher)
                    gb.db.commit()
                except Exception as e:  # noqa: BLE001 - this submission's rows say so; the rest are recorded
                    gb.db.rollback()
                    failed[(student, nb)] = f"not recorded in the gradebook ({type(e).__name__})"
        os.replace(tmp, db)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return [dataclasses.replace(r, notes=(*r.notes, failed[(r.student, r.notebook)]))
            if (r.student, r.notebook) in failed else r for r in rows]


def _handed_in(rows: list[Row]) -> list[tuple[str, str]]:
    """(student, notebook) of every submission handed in, in row order: what the gradebook records.
    A folder whose name is no valid student id (refused: formgrader would put it into its pages
    unescaped) never reaches the gradebook, whatever its rows say."""
    return list(dict.fromkeys((r.student, r.notebook) for r in rows
                              if r.status is not Status.NOT_SUBMITTED and valid_student_name(r.student)))


def _gradebook_entry(r: Row, teacher: dict[tuple[str, str, str], float]) -> tuple[float | None, bool, float | None]:
    """(auto_score, needs_manual_grade, manual_score) of one row's grade in the gradebook."""
    manual = r.status is Status.NEEDS_MANUAL_GRADE
    key = (r.student, r.notebook, r.exercise)
    return None if manual else r.points, manual and key not in teacher, teacher.get(key)


def _with_teacher_score(r: Row, teacher: dict[tuple[str, str, str], float]) -> Row:
    """A score a teacher entered in nbgrader replaces the autograder's; the reason keeps both."""
    manual = teacher.get((r.student, r.notebook, r.exercise))
    if manual is None or r.status is Status.NOT_SUBMITTED:
        return r
    was = f"{r.points:g}" + (f": {r.reason}" if r.reason else "")
    return Row(r.student, r.notebook, r.exercise, manual, r.max_points, Status.TEACHER_SCORE, (was,))
