"""Homework with nbgrader: a student version of the series and autograding of submissions.

    python -m helpers.homework student              # -> build/student/NN_name.ipynb
    python -m helpers.homework autograde DIR        # DIR/<student>/NN_name.ipynb -> build/grades.csv

Everything nbgrader needs is generated under ``build/nbgrader/`` (a course directory with
``source/<NN_name>/<NN_name>.ipynb`` copied from ``notebooks/`` and a SQLite gradebook); the
notebooks themselves are never moved. nbgrader's own ``generate_assignment`` strips the
solutions (each region becomes ``raise NotImplementedError()``), clears outputs and hidden
tests and records a checksum of every locked cell; its ``autograde`` restores locked cells
from the gradebook before running a submission, so a student cannot change the tests.

The CSV has one row per student, notebook and exercise: points, max_points and, when a
point is missing, the reason (the error the test cell raised, a timeout, a deleted test
cell, an unreadable notebook, no submission). A broken submission never stops the run.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .data import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
BUILD = REPO_ROOT / "build"
COURSE_ID = "generation"


@dataclass(frozen=True)
class Row:
    student: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    reason: str


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


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run nbgrader in the course directory; its commands need this environment's bin/ on PATH."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True)


def graded_notebooks(notebooks: Path = NOTEBOOKS) -> list[Path]:
    """The notebooks of the series that contain at least one graded (nbgrader) cell."""
    out = []
    for nb_path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        if any(c.metadata.get("nbgrader", {}).get("grade") for c in nb.cells):
            out.append(nb_path)
    return out


def make_student(
    out: Path = BUILD / "student",
    *,
    notebooks: Path = NOTEBOOKS,
    build: Path = BUILD,
    timeout: int = 120,
) -> list[Path]:
    """Generate the student version of every graded notebook into ``out`` (replaced whole)."""
    course = course_dir(build)
    if course.exists():
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
        res = _nbgrader(course, "generate_assignment", nb_path.stem, "--force")
        if res.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed for {nb_path.name}:\n{res.stdout}{res.stderr}")
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


def _grade_cells(nb) -> dict[str, tuple[int, float]]:
    """grade_id -> (cell index, points) of the graded test cells of a notebook."""
    return {c.metadata["nbgrader"]["grade_id"]: (i, float(c.metadata["nbgrader"].get("points", 0)))
            for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade")}


def _error_of(cell) -> str:
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            first = (o.get("evalue") or "").strip().splitlines()
            return f"{o.get('ename')}: {first[0] if first else ''}".strip().rstrip(":")
    return ""


def _reason(autograded: Path, grade_id: str) -> str:
    """Why a graded cell lost points, read from nbgrader's executed copy."""
    if not autograded.is_file():
        return "submission could not be graded"
    nb = nbformat.read(autograded, as_version=4)
    cells = _grade_cells(nb)
    if grade_id not in cells:
        return "test cell deleted from the submission"
    idx = cells[grade_id][0]
    start = max([i for i, _ in cells.values() if i < idx], default=-1) + 1  # this exercise's cells
    test_error = _error_of(nb.cells[idx]) or "test failed"
    for c in nb.cells[start:idx]:
        errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
        names = {o.get("ename") for o in errors}
        if "CellTimeoutError" in names:
            return f"a cell ran past the time limit (endless loop?) and was interrupted; test: {test_error}"
        if "NotImplementedError" in names:
            return "not answered: the solution cell still raises NotImplementedError"
        if errors and c.metadata.get("nbgrader", {}).get("solution"):
            return f"the solution cell raised {_error_of(c)}; test: {test_error}"
    return test_error


def autograde(
    submissions: Path,
    out_csv: Path = BUILD / "grades.csv",
    *,
    notebooks: Path = NOTEBOOKS,
    build: Path = BUILD,
    timeout: int = 120,
) -> list[Row]:
    """Grade ``submissions/<student>/<NN_name>.ipynb`` with nbgrader; write a CSV; return its rows."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise NotADirectoryError(f"{submissions} is not a folder; expected SUBMISSIONS/<student>/NN_name.ipynb")
    students = sorted(p.name for p in submissions.iterdir() if p.is_dir())
    if not students:
        raise FileNotFoundError(f"{submissions} has no student sub-folders; expected SUBMISSIONS/<student>/NN_name.ipynb")
    make_student(build / "student", notebooks=notebooks, build=build, timeout=timeout)  # fresh gradebook
    course = course_dir(build)
    sources = {p.stem: nbformat.read(p, as_version=4) for p in graded_notebooks(notebooks)}
    submitted = {nb for s in students for nb in sources if (submissions / s / f"{nb}.ipynb").is_file()}
    rows: list[Row] = []
    unreadable: dict[tuple[str, str], str] = {}
    for s in students:
        for nb in submitted:
            src = submissions / s / f"{nb}.ipynb"
            if not src.is_file():
                continue
            try:
                nbformat.validate(nbformat.read(src, as_version=4))
            except Exception as e:  # noqa: BLE001 - any unreadable file is the student's, not ours
                unreadable[(s, nb)] = f"not a valid notebook file ({type(e).__name__}: {str(e).splitlines()[0][:120]})"
                continue
            dest = course / "submitted" / s / nb
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest / f"{nb}.ipynb")
    for nb in sorted(submitted):
        _nbgrader(course, "autograde", nb, "--force")  # a failing student is logged, others go on
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for s in students:
            for nb in sorted(submitted):
                cells = _grade_cells(sources[nb])
                graded = None
                if (s, nb) not in unreadable and (submissions / s / f"{nb}.ipynb").is_file():
                    try:
                        graded = {g.name: g for g in gb.find_submission_notebook(nb, nb, s).grades}
                    except MissingEntry:
                        graded = None
                for gid, (_, max_points) in cells.items():
                    g = graded.get(gid) if graded else None
                    points = float(g.score) if g is not None and g.auto_score is not None else 0.0
                    if not (submissions / s / f"{nb}.ipynb").is_file():
                        reason = "not submitted"
                    elif (s, nb) in unreadable:
                        reason = unreadable[(s, nb)]
                    elif points < max_points:
                        reason = _reason(course / "autograded" / s / nb / f"{nb}.ipynb", gid)
                    else:
                        reason = ""
                    rows.append(Row(s, nb, gid, points, max_points, reason))
    _write_csv(rows, out_csv)
    return rows


def _write_csv(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["student", "notebook", "exercise", "points", "max_points", "reason"])
            for r in rows:
                w.writerow([r.student, r.notebook, r.exercise, f"{r.points:g}", f"{r.max_points:g}", r.reason])
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.homework", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("student", help="write the student version of every notebook")
    st.add_argument("--out", type=Path, default=BUILD / "student")
    ag = sub.add_parser("autograde", help="grade SUBMISSIONS/<student>/NN_name.ipynb")
    ag.add_argument("submissions", type=Path)
    ag.add_argument("--out", type=Path, default=BUILD / "grades.csv")
    for p in (st, ag):
        p.add_argument("--timeout", type=int, default=120, help="seconds one cell may run (default 120)")
    args = parser.parse_args(argv)
    if args.command == "student":
        written = make_student(args.out, timeout=args.timeout)
        print(f"wrote {len(written)} student notebooks to {args.out}")
    else:
        rows = autograde(args.submissions, args.out, timeout=args.timeout)
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
