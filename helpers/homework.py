"""Homework with nbgrader: a student version of the series and sandboxed autograding.

    python -m helpers.homework student                       # -> build/student/NN_name.ipynb
    python -m helpers.homework autograde DIR [--unsafe]      # DIR/<student>/NN_name.ipynb -> build/grades.csv

``student`` runs nbgrader's ``generate_assignment`` on a course directory generated under
``build/nbgrader/`` (``source/<NN_name>/<NN_name>.ipynb`` copied from ``notebooks/``); the
notebooks themselves are never moved. Each solution region becomes ``raise
NotImplementedError()``; outputs and hidden tests are removed.

``autograde`` never lets student code near the grades. For each submission the grader (this
process) puts back the teacher's test cells, hidden tests included (a duplicated or
relabelled test cell is graded from its first copy, with the original test restored), then
runs the notebook cell by cell in a kernel started inside a bubblewrap sandbox of its own:
no network, no other process visible, a non-root user without capabilities, a fresh PID
namespace (every process the submission starts dies with it), read-only access to the
Python environment, ``helpers/``, ``data/checkpoints/`` and the Pokémon data only, one
empty writable folder, and limits on memory, CPU time, file size and output. Before each
test cell the kernel restores builtins and IPython's machinery (helpers.grading_kernel).
Points are computed here from the executed cells after the sandbox has ended (a test cell
that ran and raised nothing earns its points); only this process writes the executed
copies (``build/nbgrader/autograded/``), the gradebook and the CSV, each atomically; a score
a teacher entered in nbgrader's formgrader replaces the auto score. Where no sandbox can
be started, ``autograde`` refuses unless ``unsafe=True`` (``make autograde UNSAFE=1``).

The CSV has one row per student, notebook and exercise: points, max_points and a reason
when a point is missing or the submission had to be repaired (the error the test cell
raised, a timeout, a deleted or duplicated test cell, an unreadable notebook, no
submission). A broken or hostile submission never stops the run.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.warnings import DuplicateCellId

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


# ---------------------------------------------------------------- the sandbox
SANDBOX_UID = 1000
BWRAP_ENV = "HOMEWORK_BWRAP"  # path of bwrap; tests point it at nothing to see the refusal
INSIDE_HOME = "/home/student"


class SandboxUnavailable(RuntimeError):
    """No sandbox can be started here, and the teacher did not ask for unsafe grading."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use. memory: address space in bytes (measured in the sandbox:
    0.64 GB after `import torch`, 1.1 GB with every helper, a checkpoint and a small training
    loop, so 6 GB leaves room for more threads and bigger batches); cpu_seconds: CPU time of the kernel; file_bytes: largest file it
    may write; processes: processes/threads of the sandbox user; output_bytes: outputs the
    grader keeps per notebook (the rest is dropped); tmp_bytes: size of its /tmp."""

    memory: int = 6 << 30
    cpu_seconds: int = 3600
    file_bytes: int = 64 << 20
    processes: int = 512
    output_bytes: int = 2 << 20
    tmp_bytes: int = 256 << 20

    def spec(self) -> str:
        return (f"as={self.memory},cpu={self.cpu_seconds},fsize={self.file_bytes},"
                f"nproc={self.processes},core=0")


def _bwrap() -> str | None:
    path = os.environ.get(BWRAP_ENV) or shutil.which("bwrap") or "/usr/bin/bwrap"
    return path if os.access(path, os.X_OK) else None


def _readonly_paths() -> list[Path]:
    """What the kernel may read: the system, the Python environment, helpers, checkpoints, data."""
    paths = [Path(p) for p in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
                               "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/fonts",
                               "/etc/alternatives")]
    python_real = Path(os.path.realpath(sys.executable))
    paths += [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), python_real.parent.parent]
    paths += [REPO_ROOT / "helpers", REPO_ROOT / "data" / "checkpoints"]
    data_dir = os.environ.get("POKEMON_DATA_DIR")
    paths.append(Path(data_dir).expanduser() if data_dir else REPO_ROOT / "data" / "pokemon")
    out: list[Path] = []
    for p in paths:
        p = Path(os.path.abspath(p))
        if p not in out and p.exists() and p != Path("/"):
            out.append(p)
    return out


def sandbox_argv(scratch: Path, ipc: Path, limits: Limits, bwrap: str) -> list[str]:
    """The bwrap command line that runs the kernel of one submission (see module docstring)."""
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--cap-drop", "ALL", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--hostname", "grader", "--clearenv", "--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    for p in _readonly_paths():
        argv += ["--ro-bind", str(p), str(p)]
    argv += ["--bind", str(scratch), INSIDE_HOME, "--bind", str(ipc), str(ipc), "--remount-ro", "/",
             "--chdir", INSIDE_HOME]
    return argv


def _kernel_env(limits: Limits, preimport: str, classes: str) -> dict[str, str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": INSIDE_HOME,
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": "/tmp/matplotlib",
           "IPYTHONDIR": "/tmp/ipython", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "XDG_CACHE_HOME": "/tmp/cache",
           "CI": "1",
           "GRADER_LIMITS": limits.spec(), "GRADER_PREIMPORT": preimport, "GRADER_CLASSES": classes}
    data_dir = os.environ.get("POKEMON_DATA_DIR")
    if data_dir:
        env["POKEMON_DATA_DIR"] = os.path.abspath(os.path.expanduser(data_dir))
    return env


PIDS_CGROUP = Path("/sys/fs/cgroup/pids")


def _pids_cgroup(limit: int) -> Path | None:
    """A fresh cgroup (v1 pids controller) capping the sandbox's processes, where we may make one.
    RLIMIT_NPROC alone does not stop a fork bomb on every kernel; this does."""
    if not os.access(PIDS_CGROUP, os.W_OK):
        return None
    try:
        group = Path(tempfile.mkdtemp(prefix="homework-", dir=PIDS_CGROUP))
    except OSError:
        return None
    try:
        (group / "pids.max").write_text(str(limit))
    except OSError:
        group.rmdir()
        return None
    return group


def _remove_cgroup(group: Path) -> None:
    for _ in range(50):
        try:
            group.rmdir()
            return
        except OSError:  # processes still exiting: kill what is left, then retry
            for pid in (group / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            time.sleep(0.1)


def check_sandbox(limits: Limits = Limits()) -> str | None:
    """None when a submission's sandbox can be started here, else why not (and how to fix it)."""
    bwrap = _bwrap()
    if bwrap is None:
        return (f"bubblewrap (bwrap) was not found (looked at ${BWRAP_ENV}, PATH and /usr/bin/bwrap); "
                "install it (Debian: apt-get install bubblewrap)")
    with tempfile.TemporaryDirectory(prefix="hw-probe-") as d:
        scratch, ipc = Path(d, "home"), Path(d, "ipc")
        scratch.mkdir()
        ipc.mkdir()
        argv = sandbox_argv(scratch, ipc, limits, bwrap)
        probe = "import os, socket, helpers; assert os.getuid() == %d; socket.socket()" % SANDBOX_UID
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            res = subprocess.run([*argv, "--setenv", "PYTHONDONTWRITEBYTECODE", "1", sys.executable, "-c", probe],
                                 capture_output=True, text=True, timeout=60, env=env)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{bwrap} could not be run ({e})"
    if res.returncode != 0:
        err = (res.stderr.strip().splitlines() or ["no message"])[-1]
        return (f"{bwrap} could not start a sandbox: {err} (user namespaces disabled? "
                "try `sysctl kernel.unprivileged_userns_clone=1` or run as root)")
    return None


# ---------------------------------------------------------------- preparing a submission
def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


_KEYS = ("grade", "solution", "locked", "points", "task", "grade_id")


def _flags(cell) -> dict:
    """The nbgrader fields that say what a cell is (the release adds checksums; ignored)."""
    m = _nbg(cell)
    return {k: m.get(k) for k in _KEYS}


def _is_test(cell) -> bool:
    m = _nbg(cell)
    return bool(m.get("grade")) and not m.get("solution")


def _grade_cells(nb) -> dict[str, tuple[int, float]]:
    """grade_id -> (cell index, points) of the graded cells of a notebook (first copy of each)."""
    out: dict[str, tuple[int, float]] = {}
    for i, c in enumerate(nb.cells):
        m = _nbg(c)
        if m.get("grade") and m.get("grade_id") not in out:
            out[m["grade_id"]] = (i, float(m.get("points", 0)))
    return out


@dataclass
class Prepared:
    nb: nbformat.NotebookNode
    tests: dict[str, int]          # grade_id -> index of the restored test cell
    notes: dict[str, list[str]]    # grade_id -> what was repaired


def prepare(submission: nbformat.NotebookNode, teacher: nbformat.NotebookNode) -> Prepared:
    """The notebook the grader runs: the student's cells, with every test cell of the teacher's
    notebook (hidden tests included) put back in place of the first copy the student kept."""
    nb = copy.deepcopy(submission)
    tests: dict[str, int] = {}
    notes: dict[str, list[str]] = {}
    teacher_cells = {_nbg(c)["grade_id"]: c for c in teacher.cells if _nbg(c).get("grade_id")}
    seen: dict[str, list[int]] = {}
    for i, c in enumerate(nb.cells):
        gid = _nbg(c).get("grade_id")
        if gid in teacher_cells:
            seen.setdefault(gid, []).append(i)
    for gid, idxs in seen.items():
        original = teacher_cells[gid]
        intact = [i for i in idxs if _flags(nb.cells[i]) == _flags(original) and nb.cells[i].cell_type == original.cell_type]
        keep = intact[0] if intact else idxs[0]
        if len(idxs) > 1:
            notes.setdefault(gid, []).append(
                f"{gid} appears {len(idxs)} times in the submission (pasted twice?); graded its first intact copy")
        for i in idxs:  # later copies run as ordinary cells
            if i != keep:
                nb.cells[i].metadata.pop("nbgrader", None)
        if not intact:
            now, was = _flags(nb.cells[keep]), _flags(original)
            changed = [f"{k}: {json.dumps(now[k])}" for k in _KEYS if now[k] != was[k]]
            notes.setdefault(gid, []).append(
                f"the nbgrader metadata of {gid} was changed ({', '.join(changed) or 'cell type'}); "
                "the original cell was restored")
        if _is_test(original):
            fresh = nbformat.v4.new_code_cell(original.source, metadata=copy.deepcopy(original.metadata))
            fresh.id = nb.cells[keep].get("id", fresh.id)
            nb.cells[keep] = fresh
            tests[gid] = keep
        else:
            nb.cells[keep].metadata["nbgrader"] = copy.deepcopy(_nbg(original))
            if nb.cells[keep].cell_type != original.cell_type:
                nb.cells[keep] = nbformat.v4.new_code_cell(nb.cells[keep].source,
                                                           metadata=copy.deepcopy(original.metadata))
    # other cells claiming to be graded (a made-up grade_id) grade nothing
    for i, c in enumerate(nb.cells):
        if _nbg(c).get("grade") and i not in tests.values() and _nbg(c).get("grade_id") not in seen:
            c.metadata.pop("nbgrader", None)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return Prepared(nb, tests, notes)


# ---------------------------------------------------------------- running it
@dataclass
class Executed:
    nb: nbformat.NotebookNode
    status: dict[int, str]       # cell index -> the kernel's reply status ("ok" / "error")
    timed_out: set[int]
    not_run: str = ""            # why the cells without a status did not run
    output_dropped: bool = False


class _Client(NotebookClient):
    """nbclient that records reply statuses and timeouts, and caps the outputs it keeps."""

    def __init__(self, nb, *, output_bytes: int, **kw):
        super().__init__(nb, **kw)
        self.statuses: dict[int, str] = {}
        self.timeouts: set[int] = set()
        self.current = -1
        self.budget = {"error": output_bytes, "other": output_bytes}
        self.dropped = False

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timeouts.add(self.current)
        return await super()._async_handle_timeout(timeout, cell)

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        self.statuses[cell_index] = str(((exec_reply or {}).get("content") or {}).get("status"))

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content") or {}
        kind = "error" if msg.get("msg_type") == "error" else "other"
        if kind == "error":  # shortened, and with a budget of their own: the reason quotes them
            content["traceback"] = [t[:2000] for t in content.get("traceback", [])[-20:]]
            content["evalue"] = str(content.get("evalue", ""))[:2000]
        size = len(json.dumps(content, default=str))
        if size > self.budget[kind]:
            self.dropped = True  # scoring does not need it: a failed test also replies "error"
            return None
        self.budget[kind] -= size
        return super().output(outs, msg, display_id, cell_index)


def _kernel_manager(argv_prefix: list[str], ipc: Path):
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class SandboxedKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            return [*argv_prefix, sys.executable, "-m", "helpers.grading_kernel", "-f", self.connection_file]

    km = SandboxedKernelManager(transport="ipc", ip=str(ipc / "k"), connection_file=str(ipc / "kernel.json"))
    # interrupt by message: a signal would reach bwrap, not the kernel inside it
    km._kernel_spec = KernelSpec(argv=["python"], display_name="grader", language="python",
                                 interrupt_mode="message", env={})
    return km


def _imports_of(nb: nbformat.NotebookNode) -> str:
    """Top-level modules the teacher's notebook imports (loaded before student code runs)."""
    names: list[str] = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        for line in c.source.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from"):
                for w in (words[1:2] if words[0] == "from" else " ".join(words[1:]).split(",")):
                    name = w.split()[0].strip() if w.split() else ""
                    if name and not name.startswith(".") and name not in names:
                        names.append(name)
    return ",".join(names)


def execute(prepared: Prepared, teacher: nbformat.NotebookNode, *, timeout: int, limits: Limits, sandbox: bool,
            work: Path) -> Executed:
    """Run the prepared notebook in a fresh sandboxed kernel; return it once the sandbox is gone."""
    from nbclient.exceptions import DeadKernelError

    from .grading_kernel import RESET_MARKER

    nb = prepared.nb
    group: Path | None = None
    scratch = Path(tempfile.mkdtemp(prefix="home-", dir=work))
    # both 0700: the sandbox's user is the caller's uid outside, and nobody else's business
    ipc = Path(tempfile.mkdtemp(prefix="hw-ipc-"))  # short: unix socket paths are limited to 107 bytes
    preimport = _imports_of(teacher)
    env = _kernel_env(limits, preimport, "torch.Tensor,torch.nn.Module,numpy.ndarray")
    if sandbox:
        bwrap = _bwrap()
        if bwrap is None:
            raise SandboxUnavailable(check_sandbox(limits) or "bwrap not found")
        prefix = sandbox_argv(scratch, ipc, limits, bwrap)
        for k, v in env.items():
            prefix += ["--setenv", k, v]
        launch_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        group = _pids_cgroup(limits.processes)
        if group is not None:  # join the cgroup, then become bwrap: every child is counted
            prefix = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs"), *prefix]
    else:
        prefix = []
        launch_env = {**os.environ, **env, "HOME": str(scratch)}
    km = _kernel_manager(prefix, ipc)
    client = _Client(nb, km=km, timeout=timeout, interrupt_on_timeout=True, allow_errors=True,
                     error_on_timeout={"ename": "CellTimeoutError",
                                       "evalue": f"the cell ran past the time limit of {timeout} s"},
                     output_bytes=limits.output_bytes, startup_timeout=120, iopub_timeout=10,
                     record_timing=False)
    not_run = ""

    async def run() -> None:
        nonlocal not_run
        kwargs = {"env": launch_env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if not sandbox:
            kwargs["cwd"] = str(scratch)
        try:
            async with client.async_setup_kernel(**kwargs):
                stuck = 0
                for i, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    client.current = i
                    source = cell.source
                    if i in prepared.tests.values():
                        cell.source = f"{RESET_MARKER}\n{source}"
                    try:
                        await client.async_execute_cell(cell, i, store_history=True)
                    except DeadKernelError:
                        not_run = ("the kernel died (out of memory or CPU time, os._exit, a crash?) "
                                   "before this test ran")
                        return
                    finally:
                        cell.source = source
                    stuck = stuck + 1 if i in client.timeouts else 0
                    if stuck >= 2:
                        not_run = "the kernel stopped responding after a cell ran past the time limit"
                        return
        finally:
            proc = getattr(getattr(km, "provisioner", None), "process", None)
            if proc is not None and proc.poll() is None:  # bwrap: its PID namespace dies with it
                proc.kill()
                proc.wait()

    try:
        asyncio.run(run())
    except Exception as e:  # noqa: BLE001 - the kernel could not start: the submission gets a reason
        not_run = not_run or f"submission could not be graded: {type(e).__name__}: {str(e)[:300]}"
    finally:
        if group is not None:
            _remove_cgroup(group)
        shutil.rmtree(ipc, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return Executed(nb, dict(client.statuses), set(client.timeouts), not_run, client.dropped)


# ---------------------------------------------------------------- scoring
def _error_of(cell) -> str:
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            first = (o.get("evalue") or "").strip().splitlines()
            return f"{o.get('ename')}: {first[0] if first else ''}".strip().rstrip(":")
    return ""


def _passed(ex: Executed, idx: int) -> bool:
    """A test cell earns its points when it ran, the kernel replied ok and showed no error."""
    cell = ex.nb.cells[idx]
    return (ex.status.get(idx) == "ok" and idx not in ex.timed_out
            and not any(o.get("output_type") == "error" for o in cell.get("outputs", [])))


def _reason(ex: Executed, tests: dict[str, int], gid: str) -> str:
    """Why a test cell lost its points, read from the executed copy."""
    idx = tests[gid]
    if idx not in ex.status:
        return ex.not_run or "the test cell did not run"
    start = max([i for i in tests.values() if i < idx], default=-1) + 1  # this exercise's cells
    if idx in ex.timed_out:
        return "the test cell ran past the time limit and was interrupted"
    test_error = _error_of(ex.nb.cells[idx]) or "test failed (the kernel reported an error)"
    if test_error.startswith("NotImplementedError"):
        return "not answered: the solution still raises NotImplementedError"
    for i in range(start, idx):
        c = ex.nb.cells[i]
        errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
        names = {o.get("ename") for o in errors}
        if i in ex.timed_out:
            return f"a cell ran past the time limit (endless loop?) and was interrupted; test: {test_error}"
        if "NotImplementedError" in names:
            return "not answered: the solution cell still raises NotImplementedError"
        if errors and _nbg(c).get("solution"):
            return f"the solution cell raised {_error_of(c)}; test: {test_error}"
    return test_error


def grade_notebook(student: str, name: str, src: Path, teacher: nbformat.NotebookNode, *, timeout: int, limits: Limits,
                   sandbox: bool, work: Path, autograded: Path) -> list[Row]:
    """The CSV rows of one submitted notebook (never raises for a bad submission)."""
    cells = _grade_cells(teacher)

    def rows(points: dict[str, float], reasons: dict[str, str]) -> list[Row]:
        return [Row(student, name, gid, points.get(gid, 0.0), most, reasons.get(gid, ""))
                for gid, (_, most) in cells.items()]

    try:
        with warnings.catch_warnings():  # cells pasted twice share an id: nbformat renames the copy
            warnings.simplefilter("ignore", DuplicateCellId)
            submission = nbformat.read(src, as_version=4)
            nbformat.validate(submission)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the student's, not ours
        why = f"not a valid notebook file ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
        return rows({}, dict.fromkeys(cells, why))
    prepared = prepare(submission, teacher)
    ex = execute(prepared, teacher, timeout=timeout, limits=limits, sandbox=sandbox, work=work)
    _write_atomic(autograded, nbformat.writes(ex.nb))
    points: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for gid, (idx, most) in cells.items():
        notes = list(prepared.notes.get(gid, []))
        if _nbg(teacher.cells[idx]).get("solution") or teacher.cells[idx].cell_type != "code":
            why = "needs_manual_grade: a teacher grades this answer in nbgrader's formgrader"
        elif gid not in prepared.tests:
            why = "test cell deleted from the submission"
        elif _passed(ex, prepared.tests[gid]):
            points[gid] = most
            why = ""
        else:
            why = _reason(ex, prepared.tests, gid)
        if ex.output_dropped:
            notes.append(f"outputs past {limits.output_bytes} bytes were dropped")
        reasons[gid] = "; ".join(filter(None, [why, *notes]))
    return rows(points, reasons)


def _teacher_scores(db: Path) -> dict[tuple[str, str, str], float]:
    """(student, notebook, grade_id) -> manual score a teacher entered in nbgrader's formgrader,
    read from the last run's gradebook (written only by nbgrader's generate_assignment, this
    grader and the teacher: no student code ever runs where it could reach it)."""
    if not db.is_file():
        return {}
    from nbgrader.api import Gradebook

    out: dict[tuple[str, str, str], float] = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        if g.manual_score is not None:
                            out[(sub.student.id, nb.name, g.name)] = float(g.manual_score)
    return out


def _record(db: Path, rows: list[Row], teacher: dict[tuple[str, str, str], float]) -> None:
    """Write the auto scores (and the teacher's manual scores) into a copy of the gradebook,
    then swap it in, so nbgrader's formgrader shows this run."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    fd, tmp = tempfile.mkstemp(dir=db.parent, prefix=f".{db.name}.", suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(db, tmp)
        with Gradebook(f"sqlite:///{tmp}") as gb, warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission autoflushes early
            for (student, nb) in dict.fromkeys((r.student, r.notebook) for r in rows if r.reason != "not submitted"):
                gb.update_or_create_student(student)
                try:
                    gb.remove_submission(nb, student)
                except MissingEntry:
                    pass
                gb.add_submission(nb, student)
                for r in (r for r in rows if (r.student, r.notebook) == (student, nb)):
                    g = gb.find_grade(r.exercise, nb, nb, student)
                    manual = r.reason.startswith("needs_manual_grade")
                    g.auto_score = None if manual else r.points
                    g.needs_manual_grade = manual and (student, nb, r.exercise) not in teacher
                    g.manual_score = teacher.get((student, nb, r.exercise))
            gb.db.commit()
        os.replace(tmp, db)
    finally:
        Path(tmp).unlink(missing_ok=True)


def autograde(
    submissions: Path,
    out_csv: Path = BUILD / "grades.csv",
    *,
    notebooks: Path = NOTEBOOKS,
    build: Path = BUILD,
    timeout: int = 120,
    unsafe: bool = False,
    limits: Limits = Limits(),
) -> list[Row]:
    """Grade ``submissions/<student>/<NN_name>.ipynb``, each in its own sandbox; write a CSV; return its rows.

    Raises SandboxUnavailable (saying why) when no sandbox can be started, unless ``unsafe``.
    """
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise NotADirectoryError(f"{submissions} is not a folder; expected SUBMISSIONS/<student>/NN_name.ipynb")
    students = sorted(p.name for p in submissions.iterdir() if p.is_dir())
    if not students:
        raise FileNotFoundError(f"{submissions} has no student sub-folders; expected SUBMISSIONS/<student>/NN_name.ipynb")
    sandbox = not unsafe
    if sandbox and (why := check_sandbox(limits)):
        raise SandboxUnavailable(
            f"refusing to run student code without a sandbox: {why}. Fix that, or grade unsandboxed "
            "at your own risk with `make autograde SUBMISSIONS=... UNSAFE=1` (autograde(..., unsafe=True)): "
            "submissions could then read and change anything you can")
    teacher_scores = _teacher_scores(course_dir(build) / "gradebook.db")  # make_student starts a new one
    make_student(build / "student", notebooks=notebooks, build=build, timeout=timeout)
    course = course_dir(build)
    teachers = {p.stem: nbformat.read(p, as_version=4) for p in graded_notebooks(notebooks)}
    submitted = sorted({nb for s in students for nb in teachers if (submissions / s / f"{nb}.ipynb").is_file()})
    work = Path(tempfile.mkdtemp(prefix=".sandbox-", dir=course))
    rows: list[Row] = []
    try:
        for s in students:
            for nb in submitted:
                src = submissions / s / f"{nb}.ipynb"
                if not src.is_file():
                    rows += [Row(s, nb, gid, 0.0, most, "not submitted")
                             for gid, (_, most) in _grade_cells(teachers[nb]).items()]
                    continue
                rows += grade_notebook(s, nb, src, teachers[nb], timeout=timeout, limits=limits,
                                       sandbox=sandbox, work=work,
                                       autograded=course / "autograded" / s / nb / f"{nb}.ipynb")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _record(course / "gradebook.db", rows, teacher_scores)
    rows = [_with_teacher_score(r, teacher_scores) for r in rows]
    _write_csv(rows, out_csv)
    return rows


def _with_teacher_score(r: Row, teacher: dict[tuple[str, str, str], float]) -> Row:
    """A score a teacher entered in nbgrader replaces the autograder's; the reason keeps both."""
    manual = teacher.get((r.student, r.notebook, r.exercise))
    if manual is None or r.reason == "not submitted":
        return r
    was = f"{r.points:g}" + (f": {r.reason}" if r.reason else "")
    return Row(r.student, r.notebook, r.exercise, manual, r.max_points,
               f"score entered by a teacher in nbgrader (the autograder gave {was})")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


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
    ag.add_argument("--unsafe", action="store_true",
                    help="grade without a sandbox where none can be started (student code can then do anything you can)")
    for p in (st, ag):
        p.add_argument("--timeout", type=int, default=120, help="seconds one cell may run (default 120)")
    args = parser.parse_args(argv)
    if args.command == "student":
        written = make_student(args.out, timeout=args.timeout)
        print(f"wrote {len(written)} student notebooks to {args.out}")
    else:
        try:
            rows = autograde(args.submissions, args.out, timeout=args.timeout, unsafe=args.unsafe)
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
