"""Homework: the student version leaks no solution and keeps no output; autograding (on a tiny
fixture notebook, each submission in its own sandbox) gives full marks to the solutions, the right
score and reason to each broken submission, and no unearned point and no harm to anyone for
each hostile one."""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import shutil
import socket
import sqlite3
import threading
import time
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.warnings import DuplicateCellId

from helpers import homework
from helpers.homework import NOTEBOOKS, SandboxUnavailable, autograde, graded_notebooks, make_student

TINY = Path(__file__).parent / "fixtures" / "homework"
NB = "00_tiny"

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
    """make_student over every real notebook, once for this module."""
    build = tmp_path_factory.mktemp("build")
    make_student(build / "student", build=build)
    return build / "student"


def test_every_notebook_has_exercises():
    names = {p.stem for p in graded_notebooks()}
    assert names == {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}, "a notebook has no graded exercise"


@pytest.mark.slow
def test_student_version_leaks_no_solution(student):
    for teacher in graded_notebooks():
        lines = _solution_lines(nbformat.read(teacher, as_version=4))
        assert lines, f"{teacher.name}: found no solution lines to check"
        text = _all_strings(json.loads((student / teacher.name).read_text()))  # sources, outputs, metadata
        leaked = sorted(s for s in lines if s in text)
        assert not leaked, f"{teacher.name}: solution lines in the student version: {leaked[:3]}"
        assert "raise NotImplementedError()" in text


@pytest.mark.slow
def test_student_version_has_no_outputs(student):
    for path in student.glob("*.ipynb"):
        for c in nbformat.read(path, as_version=4).cells:
            if c.cell_type == "code":
                assert c.outputs == [] and c.execution_count is None, f"{path.name} keeps outputs"




@pytest.mark.slow
def test_student_zip_has_what_a_student_needs_and_no_solution(student, tmp_path):
    """The zip a teacher hands out: student notebooks, helpers, checkpoints, README; no solution line
    of any notebook anywhere in it (the .py twins and the repository's notebooks stay out)."""
    out = homework.student_zip(student, tmp_path / "hand-out.zip")
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        texts = {Path(n).name: _all_strings(json.loads(z.read(n))) for n in names if n.endswith(".ipynb")}
    top = "generation-student/"
    assert {f"{top}notebooks/{p.name}" for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")} == {
        n for n in names if n.startswith(f"{top}notebooks/")}
    assert {f"{top}helpers/registry.py", f"{top}README.md", f"{top}Makefile", f"{top}pyproject.toml",
            f"{top}data/checkpoints/pixel_lstm512.pt", f"{top}DATA.md", f"{top}LICENSE",
            f"{top}scripts/torch_index.py"} <= names  # what `make lab` runs
    assert not any("pokemon/" in n for n in names), "the Pokémon data is never shipped"
    assert not any(n.startswith(f"{top}notebooks/") and not n.endswith(".ipynb") for n in names), ".py twins"
    for teacher in graded_notebooks():  # (helpers/ may share a line with a solution: it ships anyway)
        leaked = sorted(s for s in _solution_lines(nbformat.read(teacher, as_version=4)) if s in texts[teacher.name])
        assert not leaked, f"{teacher.name}: solution lines in the zip: {leaked[:3]}"
    assert not list(tmp_path.glob("*.part")), "a temporary file was left behind"


def test_student_zip_needs_a_student_build(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make student` first"):
        homework.student_zip(tmp_path, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


# ---------------------------------------------------------------- autograding the tiny notebook
def _by_id(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _index(nb, gid):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


class _Listener:
    """A TCP server on 127.0.0.1 that counts connections (a sandboxed submission must make none)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


TOKEN = "homework-daemon-7c1e"  # in the daemon's command line: no process may keep it


def _attacks(paths: dict[str, Path], port: int) -> dict[str, tuple[str, str]]:
    """name -> (code put in place of ex1's solution, code put in place of ex2's); stubs elsewhere."""
    stub2 = "def double(xs):\n    raise NotImplementedError()"
    p = {k: str(v) for k, v in paths.items()}
    daemon = (f"import time\nfor _ in range(300):\n    time.sleep(0.1)\n    try:\n"
              f"        open({p['csv']!r}, 'w').write('student,notebook,exercise,points,max_points,reason\\n')\n"
              f"    except OSError:\n        pass\n# {TOKEN}")
    return {
        # builtins shadowed: without the reset, ex2's test would pass with this object
        "mallory_builtins": (
            "n_distinct = 0\nlen = lambda *a: 0",
            "class Yes(list):\n    def __eq__(self, other):\n        return True\n\n"
            "def double(xs):\n    return Yes()\n\n"
            "type = lambda x: list if isinstance(x, Yes) else int\nall = lambda it: True"),
        # an int subclass whose __eq__ is always true
        "mallory_int": ("class Int(int):\n    def __eq__(self, other):\n        return True\n"
                        "    __hash__ = int.__hash__\n\nn_distinct = Int(0)", stub2),
        # every later cell becomes `pass`
        "mallory_transformer": ("get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
                                "n_distinct = None", stub2),
        # AST transformer, custom exception handler, silenced tracebacks, a trace function
        "mallory_hooks": ("import ast, sys\nclass Nop(ast.NodeTransformer):\n"
                          "    def visit_Module(self, node):\n        return ast.Module(body=[ast.Pass()], type_ignores=[])\n"
                          "ip = get_ipython()\nip.ast_transformers.append(Nop())\n"
                          "ip.set_custom_exc((BaseException,), lambda *a, **k: None)\n"
                          "ip.showtraceback = lambda *a, **k: None\nsys.settrace(lambda *a: None)\n"
                          "n_distinct = None", stub2),
        # full marks for me, zero for everyone else, straight into the gradebook
        "mallory_gradebook": (
            "import sqlite3\ntry:\n"
            f"    con = sqlite3.connect({p['gradebook']!r})\n"
            "    con.execute('UPDATE grade SET manual_score = 0')\n"
            "    con.execute(\"UPDATE grade SET manual_score = 1 WHERE notebook_id IN (SELECT id FROM "
            "submitted_notebook WHERE student_id = 'mallory_gradebook')\")\n    con.commit()\n"
            "except Exception as e:\n    print('gradebook:', e)\nn_distinct = None", stub2),
        # a detached process that outlives the run and rewrites the CSV
        "mallory_daemon": (
            "import subprocess, sys\n"
            f"subprocess.Popen([sys.executable, '-c', {daemon!r}], start_new_session=True,\n"
            "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\nn_distinct = None", stub2),
        # a fork bomb (of sleepers, to spare the CPU): stopped by the process limit
        "mallory_forks": (
            "import os, time\nkids = 0\ntry:\n    for _ in range(2000):\n        if os.fork() == 0:\n"
            "            time.sleep(60)\n            os._exit(0)\n        kids += 1\nexcept OSError as e:\n"
            "    print('fork refused after', kids, e)\nn_distinct = None", stub2),
        # files outside its own folder: the repository, build/, a classmate's submission
        "mallory_files": (
            "for target in " + repr([p["repo_file"], p["build_file"], p["alice"], p["csv"]]) + ":\n"
            "    try:\n        open(target, 'w').write('pwned')\n    except OSError as e:\n"
            "        print(target, e)\nn_distinct = None", stub2),
        # the network: the test's server on 127.0.0.1, and an outside address
        "mallory_net": (
            "import socket\nfor addr in [('127.0.0.1', %d), ('1.1.1.1', 53)]:\n    try:\n"
            "        socket.create_connection(addr, timeout=2).send(b'x')\n"
            "    except OSError as e:\n        print(addr, e)\nn_distinct = None" % port, stub2),
        # exhaust memory, then answer ex2 correctly: the kernel survives and ex2 counts
        "mallory_memory": ("hog = bytearray(64 << 30)\nn_distinct = 7",
                           "def double(xs):\n    return [2 * x for x in xs]"),
        # 5 MB of output: the grader keeps 2 MB, the answer still counts
        "mallory_output": ("print('x' * (5 << 20))\nn_distinct = len(set(values))", stub2),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory, sandbox):
    root = tmp_path_factory.mktemp("grading")
    build = root / "build"
    make_student(build / "student", notebooks=TINY, build=build)
    teacher = nbformat.read(TINY / f"{NB}.ipynb", as_version=4)
    stub = nbformat.read(build / "student" / f"{NB}.ipynb", as_version=4)
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
    # careless: solution and test cells pasted twice, with their metadata
    cases["henry"] = copy.deepcopy(solved)
    i, j = _index(solved, "ex1_solution"), _index(solved, "ex1_test")
    cases["henry"].cells[j + 1:j + 1] = copy.deepcopy(solved.cells[i:j + 1])
    # careless: `solution: true` set on a test cell
    cases["ivy"] = copy.deepcopy(solved)
    _by_id(cases["ivy"], "ex1_test").metadata["nbgrader"]["solution"] = True
    paths = {"csv": root / "grades.csv", "gradebook": build / "nbgrader" / "gradebook.db",
             "repo_file": homework.REPO_ROOT / "pwned_by_mallory.txt", "build_file": build / "pwned",
             "alice": subs / "alice" / f"{NB}.ipynb"}
    listener = _Listener()
    for name, (ex1, ex2) in _attacks(paths, listener.port).items():
        nb = copy.deepcopy(stub)
        _by_id(nb, "ex1_solution").source = ex1
        _by_id(nb, "ex2_solution").source = ex2
        cases[name] = nb
    for name, nb in cases.items():
        (subs / name).mkdir(parents=True)
        with warnings.catch_warnings():  # henry's pasted cells share their ids, as in Jupyter
            warnings.simplefilter("ignore", DuplicateCellId)
            nbformat.write(nb, subs / name / f"{NB}.ipynb")
    (subs / "carol").mkdir()
    (subs / "carol" / f"{NB}.ipynb").write_text('{"cells": [ not json')
    before = {k: _sha(v) for k, v in paths.items() if k != "csv"}
    start = time.monotonic()
    autograde(subs, paths["csv"], notebooks=TINY, build=build, timeout=10, jobs=2)
    seconds = time.monotonic() - start
    csv_text = paths["csv"].read_text()
    time.sleep(2.5)  # a surviving daemon would rewrite the CSV by now
    return {"rows": list(csv.DictReader(csv_text.splitlines())), "csv_text": csv_text, "paths": paths,
            "before": before, "listener": listener, "seconds": seconds}


# Every row the fixtures produce, as the CSV has them: (student, exercise) -> (points, reason).
NOT_ANSWERED_1 = "not answered: the solution cell still raises NotImplementedError"
NOT_ANSWERED_2 = "not answered: the solution still raises NotImplementedError"
NOT_JSON = "not a valid notebook file (NotJSONError: Notebook does not appear to be JSON: '{\"cells\": [ not json')"
NONE_IS_NO_INT = "AssertionError: n_distinct should be an int, got NoneType"
EXPECTED = {
    "alice": ((1, ""), (1, "")),                                   # all solutions: full marks
    "bob": ((0, NOT_ANSWERED_1), (0, NOT_ANSWERED_2)),             # stubs left in place
    "carol": ((0, NOT_JSON), (0, NOT_JSON)),                       # invalid JSON: the reader's message
    "dave": ((0, "a cell ran past the time limit (endless loop?) and was interrupted; "
                 "test: NameError: name 'n_distinct' is not defined"), (1, "")),
    "eve": ((0, "test cell deleted from the submission"), (1, "")),
    "frank": ((0, NOT_ANSWERED_1), (0, NOT_ANSWERED_2)),           # edited tests are restored
    "grace": ((1, ""), (0, "the solution cell raised ValueError: oops; test: NameError: name 'double' is not defined")),
    # careless: full marks, and the reason says what was repaired
    "henry": ((1, "ex1_test appears 2 times in the submission (pasted twice?); graded its first intact copy"), (1, "")),
    "ivy": ((1, "the nbgrader metadata of ex1_test was changed (solution: true); the original cell was restored"), (1, "")),
    # hostile: no point it did not earn
    "mallory_builtins": ((0, "AssertionError: 0 is not the number of distinct numbers in values"),
                         (0, "AssertionError: double should return a list, got Yes")),
    "mallory_int": ((0, "AssertionError: n_distinct should be an int, got Int"), (0, NOT_ANSWERED_2)),
    "mallory_transformer": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_hooks": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_gradebook": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_daemon": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    # its 500 sleeping children use up the process limit, so its own kernel cannot start a thread
    "mallory_forks": ((0, "RuntimeError: can't start new thread"), (0, NOT_ANSWERED_2)),
    "mallory_files": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_net": ((0, NONE_IS_NO_INT), (0, NOT_ANSWERED_2)),
    "mallory_memory": ((0, "the solution cell raised MemoryError; test: NameError: name 'n_distinct' is not defined"),
                       (1, "")),
    "mallory_output": ((1, "outputs past 2097152 bytes were dropped"),
                       (0, NOT_ANSWERED_2 + "; outputs past 2097152 bytes were dropped")),
}


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_autograde_row(graded, student):
    rows = {r["exercise"]: r for r in graded["rows"] if r["student"] == student}
    assert sorted(rows) == ["ex1_test", "ex2_test"]
    for gid, (points, reason) in zip(("ex1_test", "ex2_test"), EXPECTED[student]):
        r = rows[gid]
        assert (r["notebook"], r["max_points"]) == (NB, "1")
        assert (float(r["points"]), r["reason"]) == (points, reason), f"{student} {gid}"


@pytest.mark.slow
def test_autograde_grades_every_submission(graded):
    assert {r["student"] for r in graded["rows"]} == set(EXPECTED)
    assert len(graded["rows"]) == 2 * len(EXPECTED)


def _executed_output(graded, student: str, gid: str) -> str:
    nb = nbformat.read(graded["paths"]["build_file"].parent / "nbgrader" / "autograded" / student / NB / f"{NB}.ipynb",
                       as_version=4)
    return "".join(o.get("text", "") for o in _by_id(nb, gid).outputs)


@pytest.mark.slow
def test_sandbox_blocks_writes_outside_its_folder(graded):
    paths, before = graded["paths"], graded["before"]
    for key in ("repo_file", "build_file", "alice"):
        assert _sha(paths[key]) == before[key], f"a submission changed {paths[key]}"
    out = _executed_output(graded, "mallory_files", "ex1_solution")
    for key in ("repo_file", "build_file", "alice", "csv"):
        assert f"{paths[key]} [Errno" in out  # every write failed inside the sandbox


@pytest.mark.slow
def test_sandbox_leaves_the_gradebook_alone(graded):
    with sqlite3.connect(graded["paths"]["gradebook"]) as con:
        assert con.execute("SELECT count(*) FROM grade WHERE manual_score IS NOT NULL").fetchone() == (0,)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['paths']['gradebook']}") as gb:  # the grader recorded its scores
        assert [g.auto_score for g in gb.find_submission_notebook(NB, NB, "alice").grades] == [1, 1]
        assert [g.auto_score for g in gb.find_submission_notebook(NB, NB, "mallory_gradebook").grades] == [0, 0]
    assert "gradebook: unable to open database file" in _executed_output(graded, "mallory_gradebook", "ex1_solution")


@pytest.mark.slow
def test_sandbox_has_no_network(graded):
    assert graded["listener"].accepted == 0
    out = _executed_output(graded, "mallory_net", "ex1_solution")
    assert "Connection refused" in out and "Network is unreachable" in out


@pytest.mark.slow
def test_no_process_survives_and_the_csv_stays(graded):
    alive = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if TOKEN.encode() in cmdline.read_bytes():
                alive.append(cmdline.parent.name)
        except OSError:
            pass
    assert not alive, f"processes started by a submission outlived its grading: {alive}"
    assert graded["paths"]["csv"].read_text() == graded["csv_text"]  # 2.5 s after the run
    assert "fork refused after" in _executed_output(graded, "mallory_forks", "ex1_solution")


def test_autograde_refuses_without_a_sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv(homework.BWRAP_ENV, str(tmp_path / "no-bwrap"))
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    with pytest.raises(SandboxUnavailable, match=r"bubblewrap \(bwrap\) was not found.*UNSAFE=1"):
        autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=TINY, build=tmp_path / "build")
    assert not (tmp_path / "grades.csv").exists()
    assert homework.main(["autograde", str(tmp_path / "subs"), "--out", str(tmp_path / "grades.csv")]) == 2


@pytest.mark.slow
def test_unsafe_grades_without_a_sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv(homework.BWRAP_ENV, str(tmp_path / "no-bwrap"))
    build = tmp_path / "build"
    make_student(build / "student", notebooks=TINY, build=build)
    stub = nbformat.read(build / "student" / f"{NB}.ipynb", as_version=4)
    solved = copy.deepcopy(stub)
    teacher = nbformat.read(TINY / f"{NB}.ipynb", as_version=4)
    for gid in ("ex1_solution", "ex2_solution"):
        _by_id(solved, gid).source = _by_id(teacher, gid).source
    for name, nb in {"alice": solved, "bob": stub}.items():
        (tmp_path / "subs" / name).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / name / f"{NB}.ipynb")
    rows = autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=TINY, build=build, timeout=10, unsafe=True)
    assert [(r.student, r.exercise, r.points) for r in rows] == [
        ("alice", "ex1_test", 1), ("alice", "ex2_test", 1), ("bob", "ex1_test", 0), ("bob", "ex2_test", 0)]


@pytest.mark.slow
def test_a_teachers_manual_score_counts(tmp_path, sandbox):
    """A score entered in nbgrader's formgrader (here: through its API) replaces the auto score
    on the next run, and the reason says so; nothing else in the gradebook sets a score."""
    from nbgrader.api import Gradebook

    build = tmp_path / "build"
    make_student(build / "student", notebooks=TINY, build=build)
    (tmp_path / "subs" / "bob").mkdir(parents=True)
    shutil.copy(build / "student" / f"{NB}.ipynb", tmp_path / "subs" / "bob")
    first = autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=TINY, build=build, timeout=10)
    assert [r.points for r in first] == [0, 0]
    with Gradebook(f"sqlite:///{build / 'nbgrader' / 'gradebook.db'}") as gb:
        grade = gb.find_grade("ex1_test", NB, NB, "bob")
        assert (grade.auto_score, grade.manual_score) == (0, None)
        grade.manual_score = 0.5
        gb.db.commit()
    again = autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=TINY, build=build, timeout=10)
    assert [(r.exercise, r.points, r.reason) for r in again] == [
        ("ex1_test", 0.5, "score entered by a teacher in nbgrader (the autograder gave 0: "
                          "not answered: the solution cell still raises NotImplementedError)"),
        ("ex2_test", 0, "not answered: the solution still raises NotImplementedError")]
    with Gradebook(f"sqlite:///{build / 'nbgrader' / 'gradebook.db'}") as gb:  # kept for the next run
        assert gb.find_grade("ex1_test", NB, NB, "bob").manual_score == 0.5


def test_autograde_rejects_a_bad_folder(tmp_path):
    with pytest.raises(ValueError, match="jobs >= 1"):
        autograde(tmp_path, jobs=0)
    with pytest.raises(NotADirectoryError, match="SUBMISSIONS/<student>"):
        autograde(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no student sub-folders"):
        autograde(tmp_path)
