"""Homework with nbgrader: a student version of the series and sandboxed autograding.

    python -m grader.homework student                       # -> build/student/NN_name.ipynb
    python -m grader.homework autograde DIR [--unsafe]      # DIR/<student>/NN_name.ipynb -> build/grades.csv

This module holds the two commands and what they share with nbgrader: the student build,
``autograde``, the gradebook and the CSV. Grading one submission lives in grader.grading,
the sandbox its kernel runs in in grader.sandbox (their public names are importable from
here too).

``student`` runs nbgrader's ``generate_assignment`` on a course directory generated under
``build/nbgrader/`` (``source/<NN_name>/<NN_name>.ipynb`` copied from ``notebooks/``); the
notebooks themselves are never moved. Each solution region becomes ``raise
NotImplementedError()``; outputs and hidden tests are removed.

``autograde`` never lets student code near the grades. For each submission the grader (this
process) puts back the teacher's test cells, hidden tests included, then runs the notebook
cell by cell in a kernel started inside a bubblewrap sandbox of its own (grader.sandbox).
Points are computed here from the executed cells after the sandbox has ended
(grader.grading); only this process writes the executed copies
(``build/nbgrader/autograded/``), the gradebook and the CSV, each atomically; a score a
teacher entered in nbgrader's formgrader replaces the auto score. Where no sandbox can be
started, ``autograde`` refuses unless ``unsafe=True`` (``make autograde UNSAFE=1``).

The CSV has one row per student, notebook and exercise: points, max_points and a reason
when a point is missing or the submission had to be repaired (the error the test cell
raised, a timeout, a deleted or duplicated test cell, an unreadable notebook, no
submission). A broken or hostile submission never stops the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from helpers.core.data import REPO_ROOT
from grader.grading import grade_notebook
from grader.submissions import Row, Status, nbgrader_meta, safe_name, student_folders, write_csv
from grader.gradebook import _bin_on_path, _keep_teacher_scores, _record, _with_teacher_score, kept_teacher_scores
from grader.sandbox import BWRAP_ENV, NOTEBOOK_READS, Limits, SandboxUnavailable, check_sandbox

# BWRAP_ENV, Limits, Row, SandboxUnavailable and Status are re-exported: callers and tests import them from here
__all__ = ["BUILD", "BWRAP_ENV", "NOTEBOOKS", "Limits", "Row", "SandboxUnavailable", "Status", "autograde",
           "course_dir", "graded_notebooks", "main", "make_student"]

NOTEBOOKS = REPO_ROOT / "notebooks"
BUILD = REPO_ROOT / "build"
COURSE_ID = "generation"


def course_dir(build: Path = BUILD) -> Path:
    return build / "nbgrader"


def _write_config(course: Path, timeout: int) -> None:
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.ExecutePreprocessor.timeout = {int(timeout)}\n"
        "c.ExecutePreprocessor.interrupt_on_timeout = True\n"
    )


def _generate_assignments(course: Path, names: list[str]) -> None:
    """nbgrader's ``generate_assignment`` for each name, in this process (one import of nbgrader
    instead of one interpreter per notebook); raises with nbgrader's log when one fails."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.course_id = COURSE_ID
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    with _bin_on_path():
        for name in names:
            res = api.generate_assignment(name, force=True)
            if not res["success"]:
                raise RuntimeError(f"nbgrader generate_assignment failed for {name}:\n"
                                   f"{res.get('log', '')}{res.get('error', '')}")


def graded_notebooks(notebooks: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks of the series that contain at least one graded (nbgrader) cell."""
    out = []
    for nb_path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        if any(nbgrader_meta(c).get("grade") for c in nb.cells):
            out.append(nb_path)
    return out


def make_student(
    out: Path = BUILD / "student",
    *,
    notebooks: Path = NOTEBOOKS,
    build: Path = BUILD,
    timeout: int = 120,
) -> list[Path]:
    """Generate the student version of every graded notebook into ``out`` (replaced whole). The
    nbgrader course folder is rebuilt from scratch; the scores teachers entered in its gradebook
    are kept first (``kept_teacher_scores``)."""
    course = course_dir(build)
    if course.exists():
        _keep_teacher_scores(course / "gradebook.db", build)
        shutil.rmtree(course)
    (course / "source").mkdir(parents=True)
    _write_config(course, timeout)
    sources = graded_notebooks(notebooks)
    if not sources:
        raise FileNotFoundError(f"no notebook with graded exercises in {notebooks}")
    for nb_path in sources:
        dest = course / "source" / nb_path.stem
        dest.mkdir()
        shutil.copy(nb_path, dest / nb_path.name)
    _generate_assignments(course, [p.stem for p in sources])
    # build the whole output beside `out`, then swap it in: no half-written student folder
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for nb_path in sources:
            shutil.copy(course / "release" / nb_path.stem / nb_path.name, tmp / nb_path.name)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return sorted(out.glob("*.ipynb"))


STUDENT_README = """# {title}: student edition

These are the notebooks of the series without their solutions: each exercise ends in a cell that
says `raise NotImplementedError()` where your code goes, followed by a test cell that tells you
whether it works. Everything else (the helpers package, the trained checkpoints) is as in the
full series.

    make lab     # the first time: creates .venv and installs what the notebooks need, then opens JupyterLab

Requirements: Python >= 3.10 with venv, make, and an internet connection for the first run (the
packages, and the Pokémon data, which `load_pokemon()` downloads from the course's web page; see
DATA.md). Work through `notebooks/` in order, starting with 00_introduction.ipynb.

Code: MIT (LICENSE). Prose and figures: CC BY 4.0 (LICENSE-CONTENT.md).
"""
# what a student needs besides the student notebooks (paths relative to the repository)
STUDENT_FILES = ("pyproject.toml", "Makefile", "scripts/torch_index.py", "LICENSE", "LICENSE-CONTENT.md", "DATA.md",
                 *NOTEBOOK_READS)


def student_zip(student: Path, out: Path = BUILD / "generation-student.zip") -> Path:
    """The zip a teacher hands out: the student notebooks of ``student`` (make_student's output),
    the helpers package, the shipped checkpoints and a README, under ``generation-student/``.
    The repository's own notebooks and their .py twins hold the solutions: neither goes in."""
    notebooks = sorted(Path(student).glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"{student} holds no student notebooks: run `make student` first")
    top = Path("generation-student")
    files = {top / "notebooks" / p.name: p for p in notebooks}
    files |= {top / p.relative_to(REPO_ROOT): p for p in sorted((REPO_ROOT / "helpers").rglob("*.py"))}
    files |= {top / "data" / "checkpoints" / p.name: p for p in sorted((REPO_ROOT / "data" / "checkpoints").glob("*.pt"))}
    files |= {top / "data" / "text" / p.name: p for p in sorted((REPO_ROOT / "data" / "text").glob("*.txt"))}
    files |= {top / name: REPO_ROOT / name for name in STUDENT_FILES}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(str(top / "README.md"), STUDENT_README.format(title="Unsupervised Learning: Generation"))
            for arc, src in files.items():
                z.write(src, str(arc))
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def autograde(
    submissions: Path,
    out_csv: Path = BUILD / "grades.csv",
    *,
    notebooks: Path = NOTEBOOKS,
    build: Path = BUILD,
    timeout: int = 120,
    unsafe: bool = False,
    limits: Limits = Limits(),
    jobs: int = 1,
) -> list[Row]:
    """Grade ``submissions/<student>/<NN_name>.ipynb``, each in its own sandbox (``jobs`` at a time);
    write a CSV; return its rows.

    The CSV of an earlier run is removed when this run starts, and the new one is written whole at
    the end: a run that fails leaves no CSV that looks current. Raises SandboxUnavailable (saying
    why) when no sandbox can be started, unless ``unsafe``.
    """
    Path(out_csv).unlink(missing_ok=True)  # no stale grades.csv while this run works, or if it fails or is refused
    if jobs < 1:
        raise ValueError(f"jobs={jobs}: grade at least one submission at a time (jobs >= 1)")
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise NotADirectoryError(f"{submissions} is not a folder; expected SUBMISSIONS/<student>/NN_name.ipynb")
    students = student_folders(submissions)
    if not students:
        raise FileNotFoundError(f"{submissions} has no student sub-folders; expected SUBMISSIONS/<student>/NN_name.ipynb")
    sandbox = not unsafe
    if sandbox and (why := check_sandbox(limits)):
        raise SandboxUnavailable(
            f"refusing to run student code without a sandbox: {why}. Fix that, or grade unsandboxed "
            "at your own risk with `make autograde SUBMISSIONS=... UNSAFE=1` (autograde(..., unsafe=True)): "
            "submissions could then read and change anything you can")
    make_student(build / "student", notebooks=notebooks, build=build, timeout=timeout)  # keeps them first
    teacher_scores = kept_teacher_scores(build)
    course = course_dir(build)
    teachers = {p.stem: nbformat.read(p, as_version=4) for p in graded_notebooks(notebooks)}
    submitted = sorted({nb for _, folder in students for nb in teachers
                        if os.path.lexists(folder / f"{nb}.ipynb")})
    work = Path(tempfile.mkdtemp(prefix=".sandbox-", dir=course))

    def grade(s: str, folder: Path, nb: str) -> list[Row]:
        return grade_notebook(s, nb, folder, teachers[nb], timeout=timeout, limits=limits, sandbox=sandbox,
                              work=work, autograded=course / "autograded" / safe_name(s) / nb / f"{nb}.ipynb")

    # each submission runs in its own sandbox and kernel, so `jobs` of them may run side by side;
    # the rows keep the (student, notebook) order whatever finishes first
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            parts = pool.map(lambda task: grade(*task), [(s, f, nb) for s, f in students for nb in submitted])
            rows = [r for part in parts for r in part]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = _record(course / "gradebook.db", rows, teacher_scores)
    rows = [_with_teacher_score(r, teacher_scores) for r in rows]
    write_csv(rows, out_csv)
    return rows


ROOT_NOTE = (
    "note: grading as root. Each kernel runs as uid 1000 in a user namespace of its own, which the "
    "kernel cannot leave, and that uid is root's outside: what it makes belongs to root. It can write "
    "to no host folder: $HOME, /tmp and the folder of its sockets are tmpfs mounts of its own, and a "
    "setuid or world-writable file it makes there is reachable only through /proc by root (and the "
    "grader's user), never by another user. Grading as an ordinary user is safer still.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.homework", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("student", help="write the student version of every notebook")
    st.add_argument("--out", type=Path, default=BUILD / "student")
    st.add_argument("--zip", type=Path, default=BUILD / "generation-student.zip",
                    help="the zip to hand out (default build/generation-student.zip)")
    ag = sub.add_parser("autograde", help="grade SUBMISSIONS/<student>/NN_name.ipynb")
    ag.add_argument("submissions", type=Path)
    ag.add_argument("--out", type=Path, default=BUILD / "grades.csv")
    ag.add_argument("--jobs", type=int, default=1,
                    help="submissions graded side by side, each in its own sandbox (default 1)")
    ag.add_argument("--unsafe", action="store_true",
                    help="grade without a sandbox where none can be started (student code can then do anything you can)")
    for p in (st, ag):
        p.add_argument("--timeout", type=int, default=120, help="seconds one cell may run (default 120)")
    args = parser.parse_args(argv)
    if args.command == "student":
        written = make_student(args.out, timeout=args.timeout)
        print(f"wrote {len(written)} student notebooks to {args.out}")
        print(f"wrote {student_zip(args.out, args.zip)}: hand this to students (no solutions inside)")
    else:
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            print(ROOT_NOTE, file=sys.stderr)
        try:
            rows = autograde(args.submissions, args.out, timeout=args.timeout, unsafe=args.unsafe, jobs=args.jobs)
        except SandboxUnavailable as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        total = {}
        for r in rows:
            got, most = total.get(r.student, (0.0, 0.0))
            total[r.student] = (got + r.points, most + r.max_points)
        for s, (got, most) in sorted(total.items()):
            print(f"{s}: {got:g}/{most:g}")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
