"""The IPython kernel that runs a submission inside the grading sandbox (see grader.homework).

    python -m grader.grading_kernel -f CONNECTION_FILE

It is ipykernel's kernel with two additions, both made before any student code runs:

* resource limits from ``$GRADER_LIMITS`` (``as=BYTES,cpu=SECONDS,fsize=BYTES,nproc=N``);
* a reset before each graded test cell. The grader sends a test cell with RESET_MARKER as
  its first line; this kernel then, in plain Python and without going through IPython's
  input machinery, puts back what the student's code may have changed so that the test
  runs as written: the builtins (and names in the notebook that shadow them), IPython's
  input, prefilter and AST transformers, custom exception handlers, event callbacks,
  display and exception hooks, trace and profile functions, methods of the shell and kernel
  (instance or class), the modules imported before any student code (``$GRADER_PREIMPORT``,
  the teacher notebook's imports; matplotlib's inline backend is enabled then too) and the
  functions and classes in them, and the methods of the classes named in ``$GRADER_CLASSES``
  (e.g. ``torch.Tensor``). Then the marker line is dropped and the test runs.

The reset covers the messaging path too: the kernel's session (``Session.send`` and the
rest of its class), its iopub and shell streams, the shell handlers and the streams behind
``sys.stdout``. A test cell earns its points only when this kernel, after running it,
found its reply status "ok" and sent the cell's one-time token (``TOKEN_PREFIX``; the
grader makes a new random token for every test cell of every submission and checks it).
So a solution that patches ``Session.send``, ``do_execute`` or ``sys.excepthook`` to turn
an error into "ok" gains nothing: the patch is undone before the test, and a patch made
during the test cannot add the token.

What it cannot do: code running in this process can change anything, this reset included.
A submission that digs the token out of the interpreter (the frames of this very method)
and prints it while forging the reply could still pass; doing so takes code that reaches
into the kernel's frames, which a teacher sees in the submission. The reset undoes the
ordinary ways to make a test pass without solving it, nothing more; the sandbox around
the kernel is what keeps a submission from harming anyone else.
"""

from __future__ import annotations

import builtins
import importlib
import os
import resource
import sys
import types

from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelapp import IPKernelApp

RESET_MARKER = "# grader: restore builtins and IPython before this test"
TOKEN_PREFIX = "grader-passed:"  # + the cell's token: what a passing test cell emits
_LIMITS = {"as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE,
           "nproc": resource.RLIMIT_NPROC, "core": resource.RLIMIT_CORE}
_FUNCS = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type, staticmethod,
          classmethod, property)


def apply_limits(spec: str) -> None:
    """'as=BYTES,cpu=SECONDS,...' -> setrlimit (soft = hard), for this process and its children."""
    for item in filter(None, spec.split(",")):
        name, _, value = item.partition("=")
        if name not in _LIMITS:
            raise ValueError(f"GRADER_LIMITS: unknown limit {name!r}; expected one of {sorted(_LIMITS)}")
        n = int(value)
        resource.setrlimit(_LIMITS[name], (n, n))


class _Snapshot:
    """What the reset puts back, taken when the kernel starts."""

    def __init__(self, kernel: IPythonKernel) -> None:
        shell = kernel.shell
        self.builtins = dict(vars(builtins))
        self.sys_hooks = {n: getattr(sys, n) for n in ("excepthook", "displayhook", "stdout", "stderr", "stdin")}
        tm = shell.input_transformer_manager
        self.tm = {n: list(getattr(tm, n)) for n in ("cleanup_transforms", "line_transforms", "token_transformers")}
        self.cleanup = list(shell.input_transformers_cleanup)
        self.post = list(shell.input_transformers_post)
        self.ast = list(shell.ast_transformers)
        pm = shell.prefilter_manager
        self.prefilter = {n: (list(v) if isinstance(v, list) else dict(v))
                          for n in ("_transformers", "_checkers", "_handlers", "_esc_handlers")
                          if isinstance(v := getattr(pm, n, None), (list, dict))}
        self.events = {k: list(v) for k, v in shell.events.callbacks.items()}
        self.compile_flags = shell.compile.flags
        self.shell_handlers = dict(kernel.shell_handlers)
        self.control_handlers = dict(getattr(kernel, "control_handlers", {}))
        self.kernel_attrs = {n: getattr(kernel, n) for n in
                             ("session", "iopub_socket", "iopub_thread", "shell_stream", "control_stream")}
        # methods of every object and class the execution path goes through
        objs = [kernel, shell, shell.compile, shell.displayhook, shell.display_pub, pm,
                shell.input_transformer_manager, shell.InteractiveTB, shell.SyntaxTB, shell.events,
                shell.builtin_trap, shell.display_trap,
                # the messaging path: how replies and outputs reach the grader
                kernel.session, kernel.iopub_socket, kernel.iopub_thread, kernel.shell_stream,
                kernel.control_stream,
                *(s for s in (sys.stdout, sys.stderr) if s is not None)]
        objs = [o for o in objs if o is not None]
        self.objs = {id(o): (o, dict(vars(o))) for o in objs if hasattr(o, "__dict__")}
        classes = {c for o in objs for c in type(o).__mro__ if c is not object}
        self.classes = {c: dict(vars(c)) for c in classes}
        self.modules = dict(sys.modules)
        self.module_funcs = {name: {k: v for k, v in vars(m).items() if isinstance(v, _FUNCS)}
                             for name, m in self.modules.items() if isinstance(m, types.ModuleType)}
        for cls_path in os.environ.get("GRADER_CLASSES", "").split(","):
            mod, _, attr = cls_path.rpartition(".")
            if mod in sys.modules and isinstance(c := getattr(sys.modules[mod], attr, None), type):
                self.classes[c] = dict(vars(c))

    def restore(self, kernel: IPythonKernel) -> None:
        shell = kernel.shell
        sys.settrace(None)
        sys.setprofile(None)
        for name, value in self.sys_hooks.items():
            setattr(sys, name, value)
        for name, value in self.modules.items():  # modules swapped for fakes
            if sys.modules.get(name) is not value:
                sys.modules[name] = value
        for name, funcs in self.module_funcs.items():  # functions patched in those modules
            d = vars(self.modules[name])
            for k, v in funcs.items():
                if d.get(k) is not v:
                    d[k] = v
        for cls, attrs in self.classes.items():  # methods patched on classes
            d = vars(cls)
            try:
                for k in [k for k in d if k not in attrs and isinstance(d[k], _FUNCS)]:
                    delattr(cls, k)
                for k, v in attrs.items():
                    if isinstance(v, _FUNCS) and d.get(k) is not v:
                        setattr(cls, k, v)
            except (AttributeError, TypeError):  # a built-in type: cannot be patched anyway
                pass
        for obj, attrs in self.objs.values():  # methods patched on the objects themselves
            d = vars(obj)
            for k in [k for k in d if k not in attrs and isinstance(d[k], _FUNCS + (types.LambdaType,))]:
                del d[k]
            for k, v in attrs.items():
                if isinstance(v, _FUNCS) and d.get(k) is not v:
                    d[k] = v
        b = vars(builtins)
        for k in [k for k in b if k not in self.builtins]:
            del b[k]
        b.update(self.builtins)
        ns = shell.user_ns
        ns["__builtins__"] = builtins
        for k in [k for k in ns if k in self.builtins and not k.startswith("__")]:
            if ns[k] is not self.builtins[k]:
                del ns[k]  # `len = lambda *a: 0` in the notebook
        tm = shell.input_transformer_manager
        for n, v in self.tm.items():
            setattr(tm, n, list(v))
        shell.input_transformers_cleanup[:] = self.cleanup
        shell.input_transformers_post[:] = self.post
        shell.ast_transformers[:] = self.ast
        pm = shell.prefilter_manager
        for n, v in self.prefilter.items():
            setattr(pm, n, list(v) if isinstance(v, list) else dict(v))
        shell.events.callbacks.clear()
        shell.events.callbacks.update({k: list(v) for k, v in self.events.items()})
        shell.compile.flags = self.compile_flags
        shell.set_custom_exc((), None)
        kernel.shell_handlers.clear()
        kernel.shell_handlers.update(self.shell_handlers)
        if hasattr(kernel, "control_handlers"):
            kernel.control_handlers.clear()
            kernel.control_handlers.update(self.control_handlers)
        for n, v in self.kernel_attrs.items():
            if getattr(kernel, n) is not v:
                setattr(kernel, n, v)


class GradingKernel(IPythonKernel):
    """IPythonKernel that restores the interpreter before each graded test cell."""

    _grader_snapshot: _Snapshot | None = None

    def take_snapshot(self) -> None:
        names = list(filter(None, os.environ.get("GRADER_PREIMPORT", "").split(",")))
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a module the notebook imports but this one can't
                pass
        if "matplotlib" in sys.modules:  # its inline hooks belong to the snapshot, not to the student
            try:
                self.shell.enable_matplotlib("inline")
            except Exception:  # noqa: BLE001 - no inline backend: figures are then not shown, nothing else
                pass
        GradingKernel._grader_snapshot = _Snapshot(self)  # on the class: an instance patch cannot hide it

    async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                         allow_stdin=False, **kwargs):
        first, _, rest = code.partition("\n")
        snapshot = GradingKernel._grader_snapshot  # class attribute: survives instance patches
        if not first.startswith(RESET_MARKER) or snapshot is None:
            return await IPythonKernel.do_execute(self, code, silent, store_history, user_expressions,
                                                  allow_stdin, **kwargs)
        token = first[len(RESET_MARKER):].strip()
        snapshot.restore(self)
        reply = await IPythonKernel.do_execute(self, rest, silent, store_history, user_expressions,
                                               allow_stdin, **kwargs)
        # The evidence the grader scores: the token, sent only when the test cell itself
        # finished without an exception (the reply's own status, before any send is patched).
        if token and isinstance(reply, dict) and reply.get("status") == "ok":
            snapshot.restore(self)  # undo what the student's functions did during the test
            self.session.send(self.iopub_socket, "stream", {"name": "stdout", "text": f"{TOKEN_PREFIX}{token}\n"},
                              parent=self.get_parent(), ident=self._topic("stream"))
        return reply


class GradingKernelApp(IPKernelApp):
    kernel_class = GradingKernel

    def init_kernel(self):
        super().init_kernel()
        self.kernel.take_snapshot()


def main() -> None:
    apply_limits(os.environ.pop("GRADER_LIMITS", ""))
    GradingKernelApp.launch_instance()


if __name__ == "__main__":
    main()
