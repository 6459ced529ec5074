"""The IPython kernel that runs a submission inside the grading sandbox (see grader.homework).

    python -m grader.grading_kernel -f CONNECTION_FILE

It is ipykernel's kernel with these additions, made before any student code runs: resource limits
(``$GRADER_LIMITS``); a process no other of its user may read, write or trace (``not_dumpable``); the
run's key, carried by the grader's first request (``KEY_MARKER``) and kept only in a closure of
``do_execute``, with the reset and the check; an audit hook (grader.guard); and a snapshot, taken
after the teacher notebook's imports (``$GRADER_PREIMPORT``).

Before each graded test cell (sent with RESET_MARKER and a fresh nonce as its first line) the
kernel puts back, in plain Python, what the snapshot holds (grader.snapshot's ``_Snapshot``: builtins, IPython's
machinery, the messaging path, every loaded module's functions and classes, torch's modes, the
grader's own globals and classes...; GRADING.md lists it all). After the test it
checks the same things, torch's operator registrations and the notebook's tensors: a test that
passed while something was patched gets no signature (``PATCHED_PREFIX`` says what), and one that
passed untouched gets its signature (``TOKEN_PREFIX``): an HMAC, under the run's key, of the nonce
and the test's code as this kernel ran it. "Passed" is the kernel's own finding, not the reply's
status (which the submission's objects decide): the kernel compiles and runs the test cell itself
with the C ``compile`` and ``exec`` (``run_test``), not through IPython's run_cell, so nothing of
IPython's runs between the reset and the test, and a test that raised nothing ran every statement of
its own frame (the collector stays off from the reset until the verdict).

What it cannot do: code in this process can reach anything in it. A submission that digs the key
out of this kernel's closure, patches a test's names between the reset and their use and puts them
back before it ends, or rebinds a name the notebook defined can still pass (GRADING.md lists more);
the sandbox around the kernel is what keeps a submission from harming anyone else.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import importlib
import linecache
import os
import sys
import traceback
import types

from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelapp import IPKernelApp

from grader import codes, contents, graveyard, guard, hooks, inventory, registries, signals, snapshot, wrappers
from grader.hooks import put_back_class_dicts
from grader.codes import warm_libraries
from grader.inventory import _TYPE_DICT, apply_limits, put_back_dict
from grader.snapshot import _Snapshot

KEY_MARKER = "# grader: the key of this grading run"
RESET_MARKER = "# grader: restore builtins and IPython before this test"
TOKEN_PREFIX = "grader-passed:"  # + the cell's signature: what a passing test cell emits
PATCHED_PREFIX = "grader-patched:"  # + nonce and what was patched while the test ran: no signature
# their functions and values: the grader's
OWN_MODULES = (snapshot, inventory, codes, wrappers, hooks, registries, contents, signals, guard, graveyard)


def signature(key: str, nonce: str, source: str) -> str:
    """What a passing test cell sends: an HMAC of the nonce and the test as run, under the run's key."""
    return hmac.new(key.encode(), f"{nonce}\n{source}".encode(), hashlib.sha256).hexdigest()



def _ok(kernel) -> dict:
    return {"status": "ok", "execution_count": kernel.execution_count, "payload": [], "user_expressions": {}}


def _kernel_class() -> type:
    """GradingKernel, with the run's key and the snapshot in its closure (no attribute holds them)."""
    state: dict = {}  # "key", "snapshot": set once each, before any student code
    restore, changed = _Snapshot.restore, _Snapshot.changed  # held here: patching the class changes nothing
    put_back = put_back_dict  # also puts back the globals the reset and the check look up
    # C functions, held here and called first after a test and before the reset: a trace or profile function or a
    # gc callback of the student's would run in every frame or collection of the check and empty its findings
    setprofile, getprofile, settrace, gettrace, gc_off, gc_on = (sys.setprofile, sys.getprofile, sys.settrace,
                                                                 sys.gettrace, gc.disable, gc.enable)
    type_ = type
    keep, release = graveyard.keep, graveyard.release  # what the check and the reset take out: held till the verdict
    stuck_error = hooks.Stuck  # raised where something cannot be put back without running the student's code
    str_, urandom = str, os.urandom
    compile_, exec_, base_exception = compile, exec, BaseException
    str_len, format_exception = str.__len__, traceback.format_exception

    def run_test(source: str, ns: dict, file: str):
        """The test cell compiled and run by the kernel itself, not by IPython's ``run_cell``: nothing of IPython's
        (its history, logger, input and AST transformers, compiler and caches, traits, ipykernel's checks of the
        event loop) runs between the reset and the test's first statement, so nothing a submission left in them can.
        The source goes straight to the C ``compile`` held from kernel start (no syntax tree of Python objects,
        whose classes a submission could have changed), with asserts on whatever the interpreter's optimisation
        level and none of this module's future flags, and to ``exec`` in the notebook's namespace. Returns the
        exception the test raised, or None: the test's own frame then ran every statement (no frame of the
        student's lies between ``exec`` and it; the collector is off from the reset until the verdict, so no
        finaliser runs at an automatic collection as ``exec`` starts, though a thread of the student's or a
        request on the control channel could run there, GRADING.md's admitted limit; a trace function could
        skip a statement, and the audit hook refuses those; what the functions the test calls do while it runs
        is the check's to see). The source is plain Python: a magic or top-level await is a SyntaxError."""
        try:
            code = compile_(source, file, "exec", 0, True, 0)  # flags, dont_inherit, optimize
            exec_(code, ns)
        except base_exception as e:  # held: the test may rebind builtins.BaseException
            return e
        return None

    def describe(error, source: str, file: str) -> dict:
        """The error output of a test that raised: its class's name and str (the grader's reason is the name and
        the str's first line) and a plain Python traceback. Only after the verdict, since the exception's class and
        str are the student's to define."""
        try:
            linecache.cache[file] = (str_len(source), None, source.splitlines(True), file)  # its lines in the traceback
            tb = error.__traceback__  # its first frame is run_test's: left out
            tb = format_exception(type_(error), error, tb.tb_next if tb is not None else None)
            return {"ename": type_(error).__name__, "evalue": str_(error), "traceback": tb}
        except base_exception:  # a class, str or library function of the student's that raises
            return {"ename": "Error", "evalue": "the test raised an exception that cannot be shown", "traceback": []}

    def reset(snapshot, kernel) -> None:
        """The reset, unless the kernel is stuck; it is from now on if the reset meets what it cannot put back."""
        if not state.get("stuck"):
            try:
                restore(snapshot, kernel)
            except stuck_error:
                state["stuck"] = True

    def own_globals() -> list[str]:
        """The grader's own modules' globals as at kernel start (``wraps = lambda *a: True`` there
        would blind the check); which of them had changed."""
        out = [f"the grader's {k}" for d, saved in state["own"] for k in put_back(saved, d)
               if k != "__warningregistry__"]  # warnings adds it to a module that warns
        out += [f"the grader's {n}" for n in put_back_class_dicts(state["own_classes"])]
        for n in out:  # a loop, no builtin: they are put back only by the check's first step, after this
            if n.endswith("(not put back)"):  # their methods could run the student's code:
                state["stuck"] = True  # no reset, check or signature from now on
        return out

    class GradingKernel(IPythonKernel):
        """IPythonKernel that restores the interpreter before each graded test cell and signs a test
        that passed untouched."""

        def take_snapshot(self) -> None:
            if "snapshot" in state:
                return
            for name in filter(None, os.environ.get("GRADER_PREIMPORT", "").split(",")):
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - a module the notebook imports but this one can't
                    pass
            warm_libraries()  # what they would otherwise do first under the audit hook
            if "matplotlib" in sys.modules:  # its inline hooks belong to the snapshot, not to the student
                try:
                    self.shell.enable_matplotlib("inline")
                except Exception:  # noqa: BLE001 - no inline backend: figures are then not shown, nothing else
                    pass
            state["snapshot"] = _Snapshot(self)
            ef = getattr(getattr(getattr(sys.modules.get("torch"), "_C", None), "_dynamo", None), "eval_frame", None)
            state["frames"] = getattr(ef, "set_eval_frame", None)  # C: torch's PEP 523 hook, taken off below
            state["own"] = [(d, dict(d)) for d in (globals(), *(vars(m) for m in OWN_MODULES))]
            metas = [m for m in type_(GradingKernel).__mro__ if m is not type_ and m is not object]  # traitlets'
            state["own_classes"] = {c: dict(_TYPE_DICT(c)) for c in (*metas, _Snapshot, GradingKernel)}

        async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                             allow_stdin=False, **kwargs):
            first, _, rest = code.partition("\n")
            if first.startswith(KEY_MARKER) and "key" not in state:  # the grader's first request
                state["key"] = first.removeprefix(KEY_MARKER).strip()
                return _ok(self)
            snapshot, key = state.get("snapshot"), state.get("key")
            if not first.startswith(RESET_MARKER) or snapshot is None or not key:
                return await IPythonKernel.do_execute(self, code, silent, store_history, user_expressions,
                                                      allow_stdin, **kwargs)
            nonce = first.removeprefix(RESET_MARKER).strip()  # no builtin called before the reset has put them back
            off = state.get("frames")  # torch's frame-evaluation callback, a trace or profile function, the
            if off is not None:  # collector: off before the reset, as after a test (all C)
                keep(off(None))
            keep((gettrace(), getprofile()))
            setprofile(None)
            settrace(None)
            gc_off()
            own_globals()
            reset(snapshot, self)
            ns = snapshot.user_ns  # the real namespace, as just put back
            file = "<test " + urandom(4).hex() + ">"
            error = run_test(rest, ns, file)
            off = state.get("frames")  # first, by C: a frame-evaluation callback would run as each frame below starts
            frame_hook = off(None) if off is not None else None
            tracers = (gettrace(), getprofile())
            keep((frame_hook, tracers))
            setprofile(None)
            settrace(None)
            framed, traced, profiled = frame_hook is not None, tracers[0] is not None, tracers[1] is not None
            gc_off()
            # The evidence the grader scores, judged before anything is sent: the signature when the test raised nothing
            # (so every statement ran: run_test) and nothing was patched.
            if nonce and error is None:
                patched = ["torch's frame-evaluation callback"] * framed + own_globals()
                patched += ["a trace or profile function"] * (traced or profiled)
                if not state.get("stuck"):
                    try:
                        patched += changed(snapshot, self)
                    except stuck_error:  # it stopped where it met it, before reading anything through it
                        state["stuck"] = True
                if state.get("stuck"):  # no bool(): once stuck, no check put the builtins back
                    patched.append("a class the grader cannot put back safely (no test signed from now on)")
                text = (f"{PATCHED_PREFIX}{nonce} {', '.join(patched[:5])}" if patched  # before anything else runs
                        else f"{TOKEN_PREFIX}{signature(key, nonce, rest)}")
                reset(snapshot, self)  # undo what the student's functions did during the test
                self.session.send(self.iopub_socket, "stream", {"name": "stdout", "text": text + "\n"},
                                  parent=self.get_parent(), ident=self._topic("stream"))
            reply = _ok(self)
            if error is not None:  # the verdict is taken: the student's exception may now say what it is
                reply = {**reply, "status": "error", **describe(error, rest, file)}
                self.session.send(self.iopub_socket, "error", {k: reply[k] for k in ("ename", "evalue", "traceback")},
                                  parent=self.get_parent(), ident=self._topic("error"))
            release()  # the verdict is sent: what the reset and the check took out may go (its finalisers run now)
            gc_on()
            return reply

    GradingKernel.__qualname__ = "GradingKernel"
    return GradingKernel


GradingKernel = _kernel_class()


class GradingKernelApp(IPKernelApp):
    kernel_class = GradingKernel

    def init_kernel(self):
        super().init_kernel()
        self.kernel.take_snapshot()
        funcs = [f for c in (GradingKernel, _Snapshot) for f in vars(c).values() if isinstance(f, types.FunctionType)]
        funcs += [v for m in (globals(), *(vars(m) for m in OWN_MODULES)) for v in m.values()
                  if isinstance(v, types.FunctionType)]
        existing = [f for f in gc.get_objects() if type(f) is types.FunctionType]  # before the hook refuses it
        allowed, shapes = guard.allowed_codes()
        sys.addaudithook(guard.audit_hook(funcs, allowed, existing, shapes))


def not_dumpable() -> None:
    """No other process of this user may read or write this one's memory: a child of the submission's, a fresh
    interpreter without the audit hook, could otherwise call ``process_vm_writev`` or ``ptrace`` on the kernel
    (same user: allowed where Yama's ptrace_scope is 0 or there is no Yama) and patch a built-in's C function in
    place, or read the run's key. ``PR_SET_DUMPABLE`` 0 makes that need ``CAP_SYS_PTRACE``, which the sandbox's
    user lacks (and cannot get back: no new user namespace). Linux only; elsewhere (no sandbox either) nothing."""
    if sys.platform != "linux":
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed: the kernel will not grade")


def main() -> None:
    apply_limits(os.environ.pop("GRADER_LIMITS", ""))
    not_dumpable()
    GradingKernelApp.launch_instance()


if __name__ == "__main__":
    main()
