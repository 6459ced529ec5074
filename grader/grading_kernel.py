"""The IPython kernel that runs a submission inside the grading sandbox (see grader.homework).

    python -m grader.grading_kernel -f CONNECTION_FILE

It is ipykernel's kernel with these additions, made before any student code runs: resource limits
(``$GRADER_LIMITS``); the run's key, carried by the grader's first request (``KEY_MARKER``) and kept
only in a closure of ``do_execute``, with the reset and the check; an audit hook (grader.guard); and
a snapshot, taken after the teacher notebook's imports (``$GRADER_PREIMPORT``).

Before each graded test cell (sent with RESET_MARKER and a fresh nonce as its first line) the
kernel puts back, in plain Python, what the snapshot holds (grader.snapshot's ``_Snapshot``: builtins, IPython's
machinery, the messaging path, every loaded module's functions and classes, torch's modes, the
grader's own globals and classes...; GRADING.md lists it all). After the test it
checks the same things, torch's operator registrations and the notebook's tensors: a test that
passed while something was patched gets no signature (``PATCHED_PREFIX`` says what), and one that
passed untouched gets its signature (``TOKEN_PREFIX``): an HMAC, under the run's key, of the nonce
and the test's code as this kernel ran it. "Passed" is the kernel's own finding, not the reply's
status (which the submission's objects decide): the test's syntax tree gets one more statement at
its end, a call with a secret fresh for that test (``EndOfTest``), which runs only if every statement
before it ran without raising.

What it cannot do: code in this process can reach anything in it. A submission that digs the key
out of this kernel's closure, patches a test's names between the reset and their use and puts them
back before it ends, or rebinds a name the notebook defined can still pass (GRADING.md lists more);
the sandbox around the kernel is what keeps a submission from harming anyone else.
"""

from __future__ import annotations

import ast
import gc
import hashlib
import hmac
import importlib
import os
import sys
import types

from IPython.core.interactiveshell import InteractiveShell
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
    type_, dict_ = type, dict
    keep, release = graveyard.keep, graveyard.release  # what the check and the reset take out: held till the verdict
    stuck_error = hooks.Stuck  # raised where something cannot be put back without running the student's code
    str_, urandom, list_len, list_pop, dict_set, dict_pop = str, os.urandom, list.__len__, list.pop, dict.__setitem__, dict.pop
    Module, Expr, Call, Name, Load, Constant, If, fix = (ast.Module, ast.Expr, ast.Call, ast.Name, ast.Load, ast.Constant,
                                                         ast.If, ast.fix_missing_locations)
    getframe, tuple_, tuple_len = sys._getframe, tuple, tuple.__len__
    transform_code = InteractiveShell.transform_ast.__code__  # the one caller of EndOfTest.visit that counts

    def reached(token) -> None:
        """The last statement of a test cell calls this (``EndOfTest``): every statement before it ran without
        raising. Only with this test's secret, which no source, history or namespace holds."""
        end = state.get("end")
        if end is not None and type_(token) is str_ and token == end["token"]:
            end["reached"] = True

    class EndOfTest:
        """An AST transformer, added to the shell's for one test cell: the cell's statements go into ``if True:``,
        followed by ``reached(secret)`` under a fresh name, so the call runs only if they all ran without raising
        (the reply's status comes from the cell's ExecutionResult, whose class a submission can swap). It applies
        once (a cell the test itself runs gets nothing), only when IPython's own ``transform_ast`` calls it with the
        shell's list as the snapshot had it plus itself last (no transformer of the student's wraps, precedes or
        follows it), turns the collector on again (off since the reset: no finaliser ran in between) and takes
        itself out of the shell's list as it runs."""

        def visit(self, node):
            end, caller = state.get("end"), getframe(1).f_code
            if end is None:
                return node
            transformers, before = end["transformers"], end["before"]
            as_saved = end["shell"].ast_transformers is transformers  # the list IPython reads, with ours last and
            as_saved = as_saved and list_len(transformers) == tuple_len(before) + 1  # the rest the snapshot's, by
            i = 0  # identity: no transformer of the student's runs before or after ours
            while as_saved and i < tuple_len(before):
                as_saved, i = transformers[i] is before[i], i + 1
            if list_len(transformers) and transformers[-1] is self:
                list_pop(transformers)
            if end["used"] or type_(node) is not Module or caller is not transform_code or not as_saved:
                return node  # no call added: the test is not signed
            end["used"] = True
            gc_on()  # off since the reset: no finaliser of the student's ran between the reset and this transform
            call = Expr(Call(Name(end["name"], Load()), [Constant(end["token"])], []))
            node.body = [If(Constant(True), [*node.body, call], [])]
            return fix(node)

    def end_of_test(shell, ns) -> dict:
        """The secret and the transformer for one test cell, set up after the reset (no student code runs between)."""
        end = {"token": urandom(16).hex(), "name": "_grader_end_of_test_" + urandom(6).hex(), "used": False,
               "reached": False}  # the name tells nothing of the secret
        transformers = end["transformers"] = shell.ast_transformers
        end["before"], end["shell"] = tuple_(transformers), shell
        state["end"] = end
        dict_set(ns, end["name"], reached)
        transformers.append(EndOfTest())
        return end

    def end_of_test_gone(end: dict, ns) -> None:
        """After the test and its check (which took keys that are no str out of the namespace: the name's lookup
        compares none): its name out of the notebook's namespace, the transformer out of the shell's list (if the
        cell never got as far as its transform), by identity."""
        dict_pop(ns, end["name"], None)
        transformers = end["transformers"]
        if list_len(transformers) and type_(transformers[-1]) is EndOfTest:
            list_pop(transformers)
        state["end"] = None

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
            state["own_classes"] = {c: dict(_TYPE_DICT(c)) for c in (*metas, _Snapshot, GradingKernel, EndOfTest)}

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
            end = end_of_test(snapshot.kernel_attrs["shell"], snapshot.user_ns)  # the real ones, as just put back
            reply = await IPythonKernel.do_execute(self, rest, silent, store_history, user_expressions,
                                                   allow_stdin, **kwargs)
            off = state.get("frames")  # first, by C: a frame-evaluation callback would run as each frame below starts
            frame_hook = off(None) if off is not None else None
            tracers = (gettrace(), getprofile())
            keep((frame_hook, tracers))
            setprofile(None)
            settrace(None)
            framed, traced, profiled = frame_hook is not None, tracers[0] is not None, tracers[1] is not None
            gc_off()
            # The evidence the grader scores, judged before anything is sent: the signature when the reply is ok, the
            # test's last statement ran (EndOfTest: the reply's status alone can be forged) and nothing was patched.
            if nonce and type_(reply) is dict_ and reply.get("status") == "ok":
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
                        else f"{TOKEN_PREFIX}{signature(key, nonce, rest)}" if end["reached"] is True
                        else None)  # an "ok" for a test that raised: no signature (the grader says unconfirmed)
                reset(snapshot, self)  # undo what the student's functions did during the test
                if text is not None:
                    self.session.send(self.iopub_socket, "stream", {"name": "stdout", "text": text + "\n"},
                                      parent=self.get_parent(), ident=self._topic("stream"))
            end_of_test_gone(end, snapshot.user_ns)
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


def main() -> None:
    apply_limits(os.environ.pop("GRADER_LIMITS", ""))
    GradingKernelApp.launch_instance()


if __name__ == "__main__":
    main()
