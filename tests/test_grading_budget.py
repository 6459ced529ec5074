"""The wall-clock budget of one submission holds whatever its kernel sends: a submission that
keeps the grader reading (replies to no request of the grader's, sent without a pause from the
kernel's shell channel thread, so nbclient never finds that channel quiet and never times out)
is stopped by the grader's watchdog ``Limits.grace_seconds`` after its budget, with every process
of its sandbox, and its rows say that it used up its budget."""

from __future__ import annotations

import asyncio
import copy
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbclient.exceptions import DeadKernelError

from grader import grading
from grader.connect import Watchdog
from grader.homework import Limits, autograde, make_student

TINY = Path(__file__).parent / "fixtures" / "homework"
NB = "00_tiny"
FLOOD = 120  # seconds the flood would hold the grader without the watchdog
WAIT = 60  # seconds the test waits for the grader, far below FLOOD
LIMITS = Limits(wall_seconds=10, grace_seconds=5)
TOKEN = "budget-flood-child-93f1"  # in the command line of a child of the kernel: it must die too

# Runs on the kernel's shell channel thread, which owns the socket (and forwards the cells'
# replies, which wait behind it): the grader always finds a message waiting, never the reply it
# waits for. Sent without a pause, faster than the grader reads (with pauses, a real attack spares
# the kernel's CPU limit, and the grader catches up now and then).
FLOOD_CODE = f"""import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep({FLOOD})", {TOKEN!r}],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
k = get_ipython().kernel
stream, session, ident = k.shell_stream, k.session, k._parent_ident["shell"]
def flood(end=time.time() + {FLOOD}):
    while time.time() < end:
        session.send(stream.socket, "execute_reply", {{"status": "ok"}},
                     parent={{"header": {{"msg_id": "none"}}}}, ident=ident)
stream.io_loop.add_callback(flood)
time.sleep(2)  # the flood starts while this cell runs: its reply never gets past it
n_distinct = len(set(values))"""

BUDGET_USED_UP = ("the submission used up its grading budget of 10 s (all cells together) and held the grader "
                  "5 s past it: the grader stopped its kernel before this test finished")


def _by_id(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _processes_with(*needles: str) -> list[str]:
    """PID and command line of every process whose command line holds one of ``needles``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:  # it ended while we looked
            continue
        if any(n in text for n in needles):
            found.append(f"{cmdline.parent.name}: {text[:200]}")
    return found


async def _never_dead(self):  # nbclient's check that the kernel lives, as if made just before the kill
    return None


@pytest.mark.slow
@pytest.mark.parametrize("case", ["sandboxed", "unsandboxed", "interrupted after the kill"])
def test_a_flooding_kernel_is_stopped_soon_after_its_budget(tmp_path, monkeypatch, request, case):
    """Sandboxed, the watchdog kills bwrap (its PID namespace dies with it); unsandboxed, the
    kernel's process group (the kernel's child stayed in it). Interrupted after the kill: nbclient
    found the kernel alive just before the kill, so it interrupts a cell of a kernel that is gone
    (the message to its control socket once waited for good), or waits for a reply its poll found
    ready just before the kill, which died with the kernel (that receive once waited for good, in
    about one run in four on a busy machine: the watchdog now ends the wait itself)."""
    if case != "unsandboxed":
        request.getfixturevalue("sandbox")  # skip without bubblewrap (fail under CI=true)
    if case == "interrupted after the kill":
        monkeypatch.setattr(grading.Client, "_async_check_alive", _never_dead)
    build = tmp_path / "build"
    make_student(build / "student", notebooks=TINY, build=build)
    teacher = nbformat.read(TINY / f"{NB}.ipynb", as_version=4)
    nb = copy.deepcopy(nbformat.read(build / "student" / f"{NB}.ipynb", as_version=4))
    _by_id(nb, "ex1_solution").source = FLOOD_CODE
    _by_id(nb, "ex2_solution").source = _by_id(teacher, "ex2_solution").source
    (tmp_path / "subs" / "mallory_flood").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "subs" / "mallory_flood" / f"{NB}.ipynb")
    folders = []  # each sandbox's private folder: in the command lines of bwrap and the kernel

    def ipc_folder():
        private, ipc = real_ipc_folder()
        folders.append(str(private))
        return private, ipc

    real_ipc_folder = grading.ipc_folder
    monkeypatch.setattr(grading, "ipc_folder", ipc_folder)
    child_seen, result = False, {}

    def grade():  # in a thread of its own, so that a grader held for good fails the test, not hangs it
        try:
            result["rows"] = autograde(tmp_path / "subs", tmp_path / "grades.csv", notebooks=TINY, build=build,
                                       timeout=5, limits=LIMITS, unsafe=case == "unsandboxed")
        except BaseException as e:  # noqa: BLE001 - raised again below, in the test's thread
            result["error"] = e

    worker = threading.Thread(target=grade, daemon=True)
    start = time.monotonic()
    worker.start()
    # about 20 s on a busy 2-core machine (make_student, the sandbox's checks, 15 s of budget and
    # grace); without the watchdog the flood holds the grader for all its 120 s
    while worker.is_alive() and time.monotonic() - start < WAIT:
        child_seen = child_seen or bool(_processes_with(TOKEN))  # so that its death below means something
        worker.join(0.5)
    assert not worker.is_alive(), f"the grader was still held after {time.monotonic() - start:.0f} s"
    if "error" in result:
        raise result["error"]
    assert [(r.exercise, r.points, r.reason) for r in result["rows"]] == [
        ("ex1_test", 0, BUDGET_USED_UP), ("ex2_test", 0, BUDGET_USED_UP)]
    assert len(folders) == 1 and child_seen
    left = _processes_with(folders[0], TOKEN)
    assert not left, f"processes of the stopped sandbox outlived its grading: {left}"


def test_the_watchdog_ends_a_wait_that_would_never_end_once_it_has_killed_the_kernel():
    """What held the grader in about one run in four of the forced race above: a receive nbclient started just
    before the kill, for messages that died with the kernel. ``unless_killed`` ends such a wait once the watchdog
    has killed the kernel's process (here a wait that never ends by itself), and tells a kill of its own from the
    grader's final one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    km = SimpleNamespace(provisioner=SimpleNamespace(process=proc))

    async def run():
        watchdog = Watchdog(km)
        assert await watchdog.unless_killed(asyncio.sleep(0, "quick")) == "quick" and not watchdog.killed.is_set()
        start = time.monotonic()
        watchdog.start(start + 0.5)
        with pytest.raises(DeadKernelError):
            await watchdog.unless_killed(asyncio.Event().wait())  # nothing ever sets it
        return watchdog, time.monotonic() - start

    try:
        with ThreadPoolExecutor(1) as pool:  # a loop of its own: an earlier test may leave one set in this thread
            watchdog, waited = pool.submit(asyncio.run, run()).result(timeout=30)
        assert watchdog.killed.is_set() and proc.wait(timeout=10) == -9 and waited < 10
        assert watchdog.kill() is proc  # reaped: not killed again
    finally:
        if proc.poll() is None:
            proc.kill()
