"""Grading one submitted notebook: open it, prepare it, run it in a sandboxed kernel, score it.

``grade_notebook`` opens the file only when it is one regular file in the student's own folder
(grader.submissions), then ``prepare`` puts back the teacher's test cells, hidden tests
included (a duplicated or relabelled test cell is graded from its first copy, with the original
test restored). ``execute`` runs the result cell by cell in a fresh kernel inside the sandbox
of grader.sandbox, within one wall-clock budget for the whole submission (checked between
cells, and held by a watchdog that kills the sandbox ``Limits.grace_seconds`` after it, whatever
the kernel sends); before each test cell the kernel restores builtins, IPython's machinery, its
messaging path and the loaded modules and classes (grader.grading_kernel), and the methods of
the classes in ``RESET_CLASSES``.
Each submission gets a fresh random key, sent to the kernel before any of its cells, and each
test cell a fresh nonce; the kernel sends back the cell's signature (an HMAC of the nonce and
the test's code under the key) only when that cell finished without an exception and nothing
was patched while it ran. Points are computed here from the executed cells after the sandbox
has ended: a test cell earns its points when it ran, the kernel replied ok, showed no error and
sent its signature; ``_outcome`` says why one did not, as a ``Status`` and its detail.
``grade_notebook`` never raises for a bad submission: every failure becomes its rows' status.
Only this process writes the executed copy, sanitised for a teacher's browser, atomically."""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.warnings import DuplicateCellId

from grader.grading_kernel import RESET_MARKER, signature
from grader.submissions import (Refused, Row, Status, nbgrader_meta, read_submission, safe_for_teachers,
                                write_atomic)
from grader.connect import Client, Watchdog, a_count, kernel_manager, send_key
from grader.sandbox import Limits, ipc_folder, kernel_env, kernel_launch, remove_cgroup

RESET_CLASSES = "torch.Tensor,torch.nn.Module,numpy.ndarray"  # their methods are restored before each test


# ---------------------------------------------------------------- preparing a submission
_KEYS = ("grade", "solution", "locked", "points", "task", "grade_id")


def _flags(cell) -> dict:
    """The nbgrader fields that say what a cell is (the release adds checksums; ignored)."""
    m = nbgrader_meta(cell)
    return {k: m.get(k) for k in _KEYS}


def _is_test(cell) -> bool:
    m = nbgrader_meta(cell)
    return bool(m.get("grade")) and not m.get("solution")


def grade_cells(nb) -> dict[str, tuple[int, float]]:
    """grade_id -> (cell index, points) of the graded cells of a notebook (first copy of each)."""
    out: dict[str, tuple[int, float]] = {}
    for i, c in enumerate(nb.cells):
        m = nbgrader_meta(c)
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
    teacher_cells = {nbgrader_meta(c)["grade_id"]: c for c in teacher.cells if nbgrader_meta(c).get("grade_id")}
    seen: dict[str, list[int]] = {}
    for i, c in enumerate(nb.cells):
        gid = nbgrader_meta(c).get("grade_id")
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
            nb.cells[keep].metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
            if nb.cells[keep].cell_type != original.cell_type:
                nb.cells[keep] = nbformat.v4.new_code_cell(nb.cells[keep].source,
                                                           metadata=copy.deepcopy(original.metadata))
    # other cells claiming to be graded (a made-up grade_id) grade nothing
    for i, c in enumerate(nb.cells):
        if nbgrader_meta(c).get("grade") and i not in tests.values() and nbgrader_meta(c).get("grade_id") not in seen:
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
    passed_token: set[int] = field(default_factory=set)  # test cells that sent their signature
    patched: dict[int, str] = field(default_factory=dict)  # test cells that passed with something patched: what
    budget_hit: bool = False     # the submission's wall-clock budget ran out


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
    """Run the prepared notebook in a fresh sandboxed kernel, within ``limits.wall_seconds`` for all
    its cells together; return it once the sandbox is gone. The kernel gets the submission's key
    before any cell; each test cell is sent with a fresh nonce, and the kernel sends back its
    signature only when the cell itself ran without an error and patched nothing.

    The budget is checked between cells, and each cell's timeout ends with it; but nbclient sees a
    timeout only when the shell channel is quiet, and a kernel that keeps sending replies to no
    request of ours (a flood from its shell thread) would hold the grader as long as it likes. So
    a watchdog thread kills the sandbox ``limits.grace_seconds`` after the budget: the channels go
    quiet, nbclient finds the kernel dead, and the cells not finished get the budget's reason."""
    import zmq
    from nbclient.exceptions import DeadKernelError

    nb = prepared.nb
    scratch = Path(tempfile.mkdtemp(prefix="home-", dir=work))  # $HOME when unsandboxed only
    private, ipc = ipc_folder()
    preimport = _imports_of(teacher)
    env = kernel_env(limits, preimport, RESET_CLASSES)
    prefix, launch_env, group = kernel_launch(scratch, ipc, limits, env, sandbox=sandbox)
    km = kernel_manager(prefix, ipc, limits.message_bytes)
    # nbclient interrupts a cell past its timeout by a message on the manager's control socket: to a
    # kernel gone meanwhile (killed by the watchdog) that send would wait for good; now it raises Again
    km.context.setsockopt(zmq.SNDTIMEO, 2000)
    key = secrets.token_hex(32)
    nonces = {i: secrets.token_hex(16) for i in prepared.tests.values()}
    tokens = {i: signature(key, n, nb.cells[i].source) for i, n in nonces.items()}
    client = Client(nb, km=km, timeout=timeout, interrupt_on_timeout=True, allow_errors=True,
                     error_on_timeout={"ename": "CellTimeoutError",
                                       "evalue": f"the cell ran past the time limit of {timeout} s"},
                     output_bytes=limits.output_bytes, tokens=tokens, nonces=nonces, store_widget_state=False, startup_timeout=120, iopub_timeout=10,
                     record_timing=False)
    not_run = ""
    budget_hit = False
    deadline = time.monotonic() + limits.wall_seconds
    watchdog: Watchdog | None = None

    async def run() -> None:
        nonlocal not_run, budget_hit, watchdog
        watchdog = Watchdog(km)
        kwargs = {"env": launch_env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if not sandbox:
            kwargs["cwd"] = str(scratch)
        try:
            async with client.async_setup_kernel(**kwargs):
                # started once the kernel's process exists; a start that ran past the grace fires it at once
                watchdog.start(deadline + limits.grace_seconds)
                await watchdog.unless_killed(send_key(client.kc, key, deadline))
                stuck = 0
                for i, cell in enumerate(nb.cells):
                    if cell.cell_type != "code":
                        continue
                    left = deadline - time.monotonic()
                    if left < 1:
                        budget_hit = True
                        not_run = (f"the submission used up its grading budget of {limits.wall_seconds} s "
                                   "(all cells together) before this test ran")
                        return
                    client.timeout = max(1, min(timeout, int(left)))
                    client.current = i
                    source = cell.source
                    if i in tokens:
                        cell.source = f"{RESET_MARKER} {nonces[i]}\n{source}"
                    try:
                        await watchdog.unless_killed(client.async_execute_cell(cell, i, store_history=True))
                    except (DeadKernelError, zmq.Again):  # Again: the interrupt of a kernel that is gone
                        not_run = ("the kernel died (out of memory or CPU time, os._exit, a crash?) "
                                   "before this test ran")
                        return
                    finally:
                        cell.source = source
                    if i in client.statuses and i not in client.idle and i not in client.timeouts:
                        not_run = (f"the kernel's output channel closed (a message over the limit of "
                                   f"{limits.message_bytes} bytes?) before this test ran")
                        return
                    stuck = stuck + 1 if i in client.timeouts else 0
                    if stuck >= 2:
                        not_run = "the kernel stopped responding after a cell ran past the time limit"
                        return
        finally:
            watchdog.cancel()
            if getattr(client, "kc", None) is not None:  # nbclient leaves a manager it was given running
                client.kc.stop_channels()
            proc = watchdog.kill()  # bwrap: its PID namespace dies with it
            if proc is not None:
                proc.wait()

    try:
        asyncio.run(run())
    except Exception as e:  # noqa: BLE001 - the kernel could not start: the submission gets a reason
        not_run = not_run or f"submission could not be graded: {type(e).__name__}: {str(e)[:300]}"
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if group is not None:
            remove_cgroup(group)
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    if watchdog is not None and watchdog.killed.is_set():  # whatever nbclient made of it (DeadKernelError, a timeout)
        budget_hit = True
        not_run = (f"the submission used up its grading budget of {limits.wall_seconds} s (all cells together) "
                   f"and held the grader {limits.grace_seconds} s past it: the grader stopped its kernel "
                   "before this test finished")
    for cell in nb.cells:  # the reply's count too: a number or nothing
        if not a_count(cell.get("execution_count")):
            cell["execution_count"] = None
    return Executed(nb, dict(client.statuses), set(client.timeouts), not_run, client.dropped,
                    set(client.passed), dict(client.patched), budget_hit)


# ---------------------------------------------------------------- scoring
def _error_of(cell) -> str:
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            first = (o.get("evalue") or "").strip().splitlines()
            return f"{o.get('ename')}: {first[0] if first else ''}".strip().rstrip(":")
    return ""


def _passed(ex: Executed, idx: int) -> bool:
    """A test cell earns its points when it ran, the kernel replied ok, showed no error, and sent
    the cell's signature (which the grading kernel sends only for a test that finished untouched)."""
    cell = ex.nb.cells[idx]
    return (ex.status.get(idx) == "ok" and idx not in ex.timed_out and idx in ex.passed_token
            and not any(o.get("output_type") == "error" for o in cell.get("outputs", [])))


def _outcome(ex: Executed, tests: dict[str, int], gid: str) -> tuple[Status, tuple[str, ...]]:
    """Why a test cell lost its points, read from the executed copy: a status and its detail."""
    idx = tests[gid]
    if idx not in ex.status:
        return Status.NOT_RUN, (ex.not_run or "the test cell did not run",)
    start = max([i for i in tests.values() if i < idx], default=-1) + 1  # this exercise's cells
    if idx in ex.timed_out:
        return Status.TEST_TIMED_OUT, ()
    test_error = _error_of(ex.nb.cells[idx]) or "test failed (the kernel reported an error)"
    if test_error.startswith("NotImplementedError"):
        return Status.NOT_ANSWERED, ("the solution",)
    for i in range(start, idx):
        c = ex.nb.cells[i]
        errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
        names = {o.get("ename") for o in errors}
        if i in ex.timed_out:
            return Status.CELL_TIMED_OUT, (test_error,)
        if "NotImplementedError" in names:
            return Status.NOT_ANSWERED, ("the solution cell",)
        if errors and nbgrader_meta(c).get("solution"):
            return Status.SOLUTION_ERROR, (_error_of(c), test_error)
    if ex.status.get(idx) == "ok" and not _error_of(ex.nb.cells[idx]) and idx not in ex.passed_token:
        if idx in ex.patched:
            return Status.PATCHED, (ex.patched[idx],)
        return Status.UNCONFIRMED, ()
    return Status.FAILED, (test_error,)


def grade_notebook(student: str, name: str, folder: Path, teacher: nbformat.NotebookNode, *, timeout: int,
                   limits: Limits, sandbox: bool, work: Path, autograded: Path) -> list[Row]:
    """The CSV rows of ``folder/<name>.ipynb``, one student's submission (never raises for a bad one)."""
    cells = grade_cells(teacher)

    def every(status: Status, *detail: str) -> list[Row]:
        return [Row(student, name, gid, 0.0, most, status, detail) for gid, (_, most) in cells.items()]

    try:
        data = read_submission(folder, f"{name}.ipynb")
    except FileNotFoundError:
        return every(Status.NOT_SUBMITTED)
    except Refused as e:
        return every(Status.REFUSED, str(e))
    except OSError as e:
        return every(Status.UNREADABLE, f"{type(e).__name__}: {e.strerror}")
    try:
        with warnings.catch_warnings():  # cells pasted twice share an id: nbformat renames the copy
            warnings.simplefilter("ignore", DuplicateCellId)
            submission = nbformat.reads(data.decode("utf-8"), as_version=4)
            nbformat.validate(submission)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the student's, not ours
        return every(Status.INVALID_NOTEBOOK, f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}")
    try:
        outcomes = _grade(submission, teacher, cells, timeout=timeout, limits=limits, sandbox=sandbox, work=work,
                          autograded=autograded)
        return [Row(student, name, gid, most if outcomes[gid][0] is Status.PASSED else 0.0, most, *outcomes[gid])
                for gid, (_, most) in cells.items()]
    except Exception as e:  # noqa: BLE001 - one submission costs one row, never the run
        return every(Status.GRADER_ERROR, f"{type(e).__name__}: {str(e)[:200]}")


def _grade(submission, teacher, cells, *, timeout, limits, sandbox, work, autograded):
    """grade_id -> (status, detail, notes) of one submission, run in the sandbox."""
    prepared = prepare(submission, teacher)
    ex = execute(prepared, teacher, timeout=timeout, limits=limits, sandbox=sandbox, work=work)
    write_atomic(autograded, nbformat.writes(safe_for_teachers(ex.nb)))
    dropped = [f"outputs past {limits.output_bytes} bytes were dropped"] if ex.output_dropped else []
    return {gid: (*_status(ex, prepared, teacher.cells[idx], gid), (*prepared.notes.get(gid, []), *dropped))
            for gid, (idx, _) in cells.items()}


def _status(ex: Executed, prepared: Prepared, original, gid: str) -> tuple[Status, tuple[str, ...]]:
    """The status of one graded cell of the teacher's (``original``) and its detail."""
    if nbgrader_meta(original).get("solution") or original.cell_type != "code":
        return Status.NEEDS_MANUAL_GRADE, ()
    if gid not in prepared.tests:
        return Status.TEST_DELETED, ()
    if _passed(ex, prepared.tests[gid]):
        return Status.PASSED, ()
    return _outcome(ex, prepared.tests, gid)
