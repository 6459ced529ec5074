"""grader.grading_kernel without a kernel process: what its reset puts back and what its check after a
test sees patched (the sandboxed runs are in test_homework.py), and the signature."""

import math
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from grader.grading_kernel import _Snapshot, signature


@pytest.fixture
def kernel():
    """The parts of an ipykernel kernel the snapshot reads: a real IPython shell, no sockets."""
    from IPython.core.interactiveshell import InteractiveShell

    return types.SimpleNamespace(shell=InteractiveShell.instance(), shell_handlers={}, control_handlers={},
                                 session=types.SimpleNamespace(), iopub_socket=None, iopub_thread=None,
                                 shell_stream=None, control_stream=None)


def test_the_check_after_a_test_names_numpy_math_and_class_patches_and_the_reset_undoes_them(kernel):
    real = {"allclose": np.allclose, "abs": np.abs, "inf": math.inf,
            "log_prob": torch.distributions.Normal.log_prob, "forward": torch.nn.Linear.forward}
    snap = _Snapshot(kernel)
    snap.restore(kernel)  # as before every test: IPython's own exit, quit and open leave the namespace
    assert snap.changed(kernel) == []
    try:  # what a function called by a hidden test might do (the red team's patches)
        np.allclose = lambda *a, **k: True
        np.abs = lambda a: 0 * a
        math.inf = 5.0
        torch.distributions.Normal.log_prob = lambda self, v: torch.zeros_like(v)
        torch.nn.Linear.forward = lambda self, v: v
        got = snap.changed(kernel)
        assert {"numpy.allclose", "numpy.abs", "math.inf", "Normal.log_prob", "Linear.forward"} <= set(got), got
    finally:
        snap.restore(kernel)
    assert (np.allclose, np.abs, math.inf) == (real["allclose"], real["abs"], real["inf"])
    assert torch.distributions.Normal.log_prob is real["log_prob"] and torch.nn.Linear.forward is real["forward"]
    assert snap.changed(kernel) == []


def test_torch_hooking_an_optimizer_class_is_not_a_patch(kernel):
    """torch wraps an optimizer class's step when it makes the first optimizer of that class: the
    check knows that wrapper (its code, around the original), and a look-alike around another function fails."""
    cls = type("FreshOptimizer", (torch.optim.SGD,), {"__module__": __name__})
    import sys

    sys.modules[__name__].FreshOptimizer = cls  # defined in a loaded module: the snapshot keeps its methods
    try:
        snap = _Snapshot(kernel)
        snap.restore(kernel)
        cls([torch.zeros(1, requires_grad=True)], lr=0.1)  # torch hooks FreshOptimizer.step here
        assert vars(cls)["step"] is not snap.classes[cls].get("step")
        assert snap.changed(kernel) == []
        cls.step = torch.optim.Optimizer.profile_hook_step(lambda self, closure=None: None)  # same wrapper, other function
        assert "FreshOptimizer.step" in snap.changed(kernel)
    finally:
        del sys.modules[__name__].FreshOptimizer


def test_a_torch_function_mode_is_seen_and_popped(kernel):
    """A global TorchFunctionMode can answer torch.allclose with True for every test after it."""
    from torch.overrides import TorchFunctionMode

    class Yes(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return True if getattr(func, "__name__", "") == "allclose" else func(*args, **(kwargs or {}))

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    Yes().__enter__()
    assert torch.allclose(torch.zeros(1), torch.ones(1)) is True
    assert "a torch function or dispatch mode" in snap.changed(kernel)
    snap.restore(kernel)
    assert not torch.allclose(torch.zeros(1), torch.ones(1)) and snap.changed(kernel) == []


def test_a_wrapper_counts_as_a_librarys_only_with_a_librarys_code(kernel):
    """Red team, round 4: a function compiled under numpy's file name that says it wraps
    np.allclose is a patch; torch's own optimizer hook and a module torch imports later are not."""
    from grader.codes import genuine, library_codes, library_dirs
    from grader.inventory import module_classes
    from grader.wrappers import wraps

    import sys

    dirs, mods = library_dirs(), dict(sys.modules)  # what the snapshot vouches for, as _Snapshot builds it
    lib = (dirs, library_codes(dirs, mods), {id(m): m for m in mods.values() if isinstance(m, types.ModuleType)},
           {id(c): c for c in module_classes(mods)})
    fake = eval(compile("lambda *a, **k: True", np.__file__, "eval"))
    fake.__wrapped__ = np.allclose
    assert not wraps(lib, np.allclose, fake) and not genuine(fake.__code__, dirs)
    hooked = torch.optim.Optimizer.profile_hook_step(torch.optim.SGD.step)
    assert wraps(lib, torch.optim.SGD.step, hooked)
    import torch._dynamo.eval_frame as later  # its code is genuine, though not in the snapshot's set

    assert genuine(later.innermost_fn.__code__, dirs)
    # Round 8: torch's own wrapper around torch's own allclose, calling the student's dispatcher first
    # (it can change the tensors in place before they are compared), is a patch; with torch's own
    # dispatcher it is not.
    def dispatcher(a, b, *rest, **kw):
        b.copy_(a)
        return ()

    def check(wrapper):
        before = torch.allclose
        try:
            torch.allclose = wrapper
            return kernel_snap.changed(kernel)
        finally:
            torch.allclose = before
            kernel_snap.restore(kernel)

    kernel_snap = _Snapshot(kernel)
    lying = torch.overrides.wrap_torch_function(dispatcher)(torch.allclose)
    assert lying(torch.zeros(2), torch.ones(2)) and not wraps(lib, torch.allclose, lying)
    assert "torch.allclose" in check(lying)
    honest = torch.overrides.wrap_torch_function(torch.overrides.is_tensor_like)(torch.allclose)
    assert wraps(lib, torch.allclose, honest) and check(honest) == []


def test_keyword_defaults_changed_in_place_are_seen_and_put_back(kernel):
    """Round 5: ``f.__kwdefaults__[k] = v`` changes a dict in place (no audit event)."""
    snap = _Snapshot(kernel)
    f, kw = next(iter(snap.kwdefaults.values()))
    k = next(iter(kw))
    f.__kwdefaults__[k] = object()
    try:
        assert f"the keyword defaults of {f.__qualname__}" in snap.changed(kernel)
        snap.restore(kernel)
        assert f.__kwdefaults__[k] is kw[k] and snap.changed(kernel) == []
    finally:
        f.__kwdefaults__[k] = kw[k]


def test_descriptors_the_shells_runners_and_a_tensors_own_attributes_are_seen_and_put_back(kernel):
    """Round 6: what is not a function still acts. A slot wrapper shadowed on torch.Tensor
    (``Tensor.__bool__``), a property replaced by plain data, IPython's ``trio_runner`` (None until a
    submission sets it: every cell then runs through it), a trait such as ``loop_runner``, and a
    tensor's own ``double`` (it answers for the method after the test checked the tensor's type)."""
    from IPython.core.interactiveshell import ExecutionResult

    shell = kernel.shell
    success, runner = vars(ExecutionResult)["success"], shell.loop_runner
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    assert snap.changed(kernel) == []
    t = torch.zeros(2)
    try:
        torch.Tensor.__bool__ = lambda self: True
        ExecutionResult.success = True
        torch.nn.Linear.train = 0  # plain data shadowing an inherited method
        shell.trio_runner = lambda coro: None
        shell.loop_runner = lambda coro: None
        t.double = lambda: torch.ones(2)
        shell.user_ns["_got"], shell.user_ns["_pair"] = t, (1, t)
        got = snap.changed(kernel)
        assert {"Tensor.__bool__", "ExecutionResult.success", "Linear.train", "InteractiveShell.trio_runner (on the object)",
                "InteractiveShell.loop_runner (a trait)", "the notebook's _got (a tensor with attributes of its own)",
                "the notebook's _pair (a tensor with attributes of its own)"} <= set(got), got
        snap.restore(kernel)
        assert "__bool__" not in vars(torch.Tensor) and vars(ExecutionResult)["success"] is success
        assert "train" not in vars(torch.nn.Linear)  # the check and the reset share one rule
        assert shell.trio_runner is None and shell.loop_runner is runner
        del ExecutionResult.__repr__  # a method deleted: object's is used instead
        assert "ExecutionResult.__repr__ (deleted)" in snap.changed(kernel)
    finally:
        snap.restore(kernel)
        for k in ("_got", "_pair"):
            shell.user_ns.pop(k, None)
    assert snap.changed(kernel) == []
    assert vars(ExecutionResult)["success"] is success and "__repr__" in vars(ExecutionResult)


def test_round_7_bases_metaclass_auto_builtins_observers_and_lazy_partials(kernel, tmp_path):
    """Round 7 (a review of the round-6 fixes): a class put into the MRO through ``__bases__``, a
    metaclass whose ``__dict__`` lies, IPython's ``auto_builtins`` (copied into builtins as each cell
    starts), an observer of the shell's traits (it runs after the test, before the check), a partial of
    torch's lazily installed ``_raise_error`` rebound by name, and a wrapper whose file name climbs out
    of torch's folder with '..' are all seen; a tensor with a label of its own is not a patch."""
    from IPython.core.interactiveshell import InteractiveShell

    from grader.codes import genuine, library_dirs
    import functools

    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    Liar = type("Liar", (torch.Tensor,), {"item": lambda self: 0.1})
    Hide = type("Hide", (type(InteractiveShell),), {"__dict__": property(lambda c: {})})
    watch = lambda change: None  # noqa: E731
    try:
        torch.nn.Parameter.__bases__ = (Liar,)
        InteractiveShell.__class__ = Hide
        shell.builtin_trap.auto_builtins["all"] = lambda *a: True
        shell.observe(watch, names="last_execution_result")
        got = snap.changed(kernel)
        assert {"the bases, metaclass or MRO of Parameter", "the bases, metaclass or MRO of InteractiveShell",
                "IPython's auto_builtins", "an observer or validator of InteractiveShell's traits"} <= set(got), got
    finally:
        snap.restore(kernel)
    assert torch.nn.Parameter.__bases__ == (torch.Tensor,) and type(InteractiveShell) is not Hide
    assert "all" not in shell.builtin_trap.auto_builtins and snap.changed(kernel) == []
    import torch.distributed.tensor.placement_types as placements

    real = placements._raise_error
    placements._raise_error = lambda *a, **k: True
    try:
        torch.nn.Linear.extra_repr = functools.partial(placements._raise_error)
        assert "Linear.extra_repr" in snap.changed(kernel)
    finally:
        placements._raise_error = real
        snap.restore(kernel)
    evil = tmp_path / "evil.py"
    evil.write_text("def allclose(*a, **k):\n    return True\n")
    climbing = library_dirs()[0] + "../" * 12 + str(evil).lstrip("/")
    code = compile(evil.read_text(), climbing, "exec").co_consts[0]
    assert not genuine(code, library_dirs())
    from grader.hooks import put_back_class_dicts

    own = {_Snapshot: dict(vars(_Snapshot))}  # the kernel keeps its own classes' dicts like this
    _Snapshot.classes = property(lambda self: {})  # would answer for every snapshot's classes
    assert put_back_class_dicts(own) == ["_Snapshot.classes"] and "classes" not in vars(_Snapshot)
    t = torch.zeros(2)
    t.note = "a label"
    shell.user_ns["_labelled"] = t
    param, pre = torch.nn.Parameter(torch.zeros(2)), torch.zeros(2)
    try:
        assert snap.changed(kernel) == []
        param.item = lambda: 0.1  # an untrained weight that says it learned 0.1
        pre.double = lambda: None  # a liar set before the test, which could delete itself once used
        shell.user_ns["_param"], shell.user_ns["_pre"] = param, pre
        assert "the notebook's _param (a tensor with attributes of its own)" in snap.changed(kernel)
        snap.restore(kernel)  # strips them
        assert "item" not in vars(param) and "double" not in vars(pre) and vars(t) == {"note": "a label"}
        assert snap.changed(kernel) == []
    finally:
        for k in ("_labelled", "_param", "_pre"):
            shell.user_ns.pop(k, None)


def test_round_8_mro_fake_code_registries_validators_and_hidden_observers(kernel):
    """Round 8 (a review of the refactored checks): an MRO recomputed through a metaclass's ``mro()``
    that is then deleted (bases and metaclass unchanged), an object that claims a library function's
    ``__code__`` and says it wraps the old function, a KL divergence registered for (Normal, Normal),
    a global forward hook on every module, a trait validator (it runs as each cell starts and ends)
    and observers hidden in a list subclass are all seen, and the reset puts each back."""
    import traitlets
    from torch.distributions import Normal, kl_divergence
    from torch.distributions.kl import register_kl

    shell = kernel.shell
    S, M = type(shell), type(type(shell))
    mro, allclose, linear_forward = S.__mro__, np.allclose, torch.nn.Linear.forward
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    Evil = type("Evil", (), {"transform_cell": lambda self, raw: "pass\n"})

    class Yes:  # a genuine library code object, on something that is no function
        __code__ = torch.nn.functional.relu.__code__

        def __init__(self, old):
            self.__wrapped__ = old

        def __call__(self, *a, **k):
            return True

    def half_kl(p, q):
        return 0.5 * (p.scale - (1 + p.scale.log()) + p.loc ** 2)

    try:
        M.mro = lambda cls: [Evil] + type.mro(cls)
        S.__bases__ = S.__bases__
        del M.mro
        assert S.__mro__[0] is Evil
        np.allclose, torch.nn.Linear.forward = Yes(np.allclose), Yes(torch.nn.Linear.forward)
        register_kl(Normal, Normal)(half_kl)
        handle = torch.nn.modules.module.register_module_forward_hook(lambda m, i, o: o * 0)
        shell._register_validator(lambda proposal: proposal.value, ["execution_count"])
        shell._trait_notifiers.setdefault("last_execution_result", {})[traitlets.All] = type(
            "Quiet", (list,), {})([lambda change: None])
        got = snap.changed(kernel)
        assert {f"the bases, metaclass or MRO of {S.__qualname__}", "numpy.allclose", "Linear.forward",
                "a library's registry (its KL table, global hooks...)",
                "an observer or validator of InteractiveShell's traits"} <= set(got), got
        snap.restore(kernel)
        assert S.__mro__ == mro and np.allclose is allclose and torch.nn.Linear.forward is linear_forward
        assert float(kl_divergence(Normal(0.0, 2.0), Normal(0.0, 1.0))) == pytest.approx(
            math.log(0.5) + 2.0 - 0.5)  # torch's own again
        assert not torch.nn.modules.module._global_forward_hooks and "execution_count" not in shell._trait_validators
        assert snap.changed(kernel) == []
        handle.remove()
    finally:
        snap.restore(kernel)
    assert S.__mro__ == mro


def test_round_9_held_code_foreign_globals_constants_rebound_registries_and_more_trait_hooks(kernel):
    """Round 9 (a review of round 8's checks), each seen and put back: a library's wrapper whose
    closure holds a library function holding the student's object; library code run with the
    student's globals; library code with other constants; a registry rebound in its module; a cached
    function with its ``__wrapped__`` deleted and a staticmethod in a registry; an observer on the
    displayhook; a ``_<trait>_validate`` set on the shell. torch.compile (its first call wraps the
    optimizers with dynamo's disable, holding a contextlib.nullcontext) is not a patch."""
    import collections
    import functools

    import torch.distributions.kl as kl
    import torch.nn.modules.module as mod
    from torch.distributions import Laplace, Normal
    from torch.overrides import TorchFunctionMode
    from torch.utils._contextlib import context_decorator

    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    saved = (torch.allclose, np.allclose, dict(kl._KL_REGISTRY), kl._KL_MEMOIZE, mod._global_forward_hooks)

    def wrong_kl(p, q):
        return torch.zeros_like(p.loc)

    def seen(patch) -> list:
        try:
            patch()
            return snap.changed(kernel)
        finally:
            snap.restore(kernel)
            assert (torch.allclose, np.allclose) == saved[:2] and kl._KL_REGISTRY == saved[2]
            assert kl._KL_MEMOIZE is saved[3] and mod._global_forward_hooks is saved[4] and not saved[4]

    class Yes(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return True

    impl = np.allclose._implementation  # numpy's own code, with the student's globals
    foreign = types.FunctionType(impl.__code__, {"__name__": "numpy", "all": lambda r: True,
                                                 "isclose": lambda *a, **k: None}, "allclose", impl.__defaults__)
    foreign.__wrapped__ = np.allclose
    c = kl._kl_normal_normal.__code__
    half = types.FunctionType(c.replace(co_consts=tuple(0.0 if k == 0.5 else k for k in c.co_consts)), vars(kl))
    cached = functools.lru_cache(None)(wrong_kl)
    del cached.__wrapped__
    hidden_class = type("Hook", (), {"__call__": lambda self, value, trait: value})

    def setattrs(*triples):
        return lambda: [setattr(o, k, v) for o, k, v in triples]

    attacks = {
        "torch.allclose": setattrs((torch, "allclose", context_decorator(Yes(), torch.allclose))),
        "numpy.allclose": setattrs((np, "allclose", foreign)),
        "half constants": lambda: kl._KL_REGISTRY.__setitem__((Normal, Normal), half),
        "rebound": setattrs((kl, "_KL_MEMOIZE", {(Normal, Normal): wrong_kl}),
                            (mod, "_global_forward_hooks", collections.OrderedDict({1: lambda m, i, o: o * 0}))),
        "cached": lambda: kl._KL_REGISTRY.__setitem__((Normal, Normal), cached),
        "static": lambda: kl._KL_REGISTRY.__setitem__((Normal, Laplace), staticmethod(wrong_kl)),
        "displayhook": lambda: shell.displayhook.observe(lambda change: None, names="exec_result"),
        "validate": setattrs((shell, "_execution_count_validate", hidden_class())),
    }
    for name, patch in attacks.items():
        assert seen(patch), name
    assert "_execution_count_validate" not in vars(shell)
    assert not shell.displayhook._trait_notifiers.get("exec_result")
    torch.compile(lambda x: x * 2, backend="eager")  # dynamo wraps the optimizers' functions
    assert snap.changed(kernel) == []


def test_round_10_c_callables_class_values_wrapper_subclasses_caches_claims_and_the_notebooks_globals(kernel):
    """Round 10 (a review of round 9's checks), each seen and put back: a method-wrapper of the
    student's function (``f.__call__``, C code bound to it) in torch's KL table; a class whose
    ``__call__`` is a staticmethod; a subclass of functools.partial; a cached function whose
    ``__wrapped__`` was pointed elsewhere; a library wrapper that only claims the old function in
    ``__wrapped__`` while it calls something else; numpy's code run with the notebook's globals."""
    import contextlib
    import functools

    import torch.distributions.kl as kl
    from torch.distributions import Normal
    from torch.utils._contextlib import context_decorator

    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    saved = (torch.allclose, np.allclose, dict(kl._KL_REGISTRY))

    def wrong_kl(p, q):
        return torch.zeros_like(p.loc)

    cached = functools.lru_cache(None)(wrong_kl)
    cached.__wrapped__ = torch.zeros_like
    claims = context_decorator(contextlib.nullcontext(), "ok".format)
    claims.__wrapped__ = torch.allclose
    impl = np.allclose._implementation
    shell.user_ns.update(isclose=lambda *a, **k: [True], builtins=__import__("builtins"))
    in_notebook = types.FunctionType(impl.__code__, shell.user_ns, "allclose", impl.__defaults__)
    in_notebook.__wrapped__ = np.allclose
    entries = {"method-wrapper": wrong_kl.__call__,
               "static __call__": type("K", (), {"__call__": staticmethod(wrong_kl)})(),
               "partial subclass": type("P", (functools.partial,), {})(wrong_kl),
               "cache": cached}
    try:
        for name, entry in entries.items():
            kl._KL_REGISTRY[(Normal, Normal)] = entry
            assert "a library's registry (its KL table, global hooks...)" in snap.changed(kernel), name
            snap.restore(kernel)
            assert kl._KL_REGISTRY == saved[2], name
        for module, name, patch in [(torch, "allclose", claims), (np, "allclose", in_notebook)]:
            setattr(module, name, patch)
            assert snap.changed(kernel), name
            snap.restore(kernel)
            assert (torch.allclose, np.allclose) == saved[:2]
    finally:
        for k in ("isclose", "builtins"):
            shell.user_ns.pop(k, None)
        snap.restore(kernel)
    assert snap.changed(kernel) == []


def test_round_11_deques_container_subclasses_slots_fields_and_the_depth_limit(kernel):
    """What a library's wrapper holds is followed into every container it can hold the student's
    function in, each seen and put back: a deque; a list subclass whose ``__iter__`` hides its items; an
    object with ``__slots__``; a ``defaultdict``'s ``default_factory``; an object as deep as the depth
    limit (before, it counted only if callable, and was then marked seen where it was met higher up;
    now anything there but plain data counts, a tuple too). Plain data and torch.compile's wrappers
    are still not a patch."""
    import collections

    from grader.wrappers import HELD_DEPTH
    from torch.utils._contextlib import context_decorator

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    saved = torch.allclose

    def liar(*args, **kwargs):
        return True

    class Hiding(list):
        def __iter__(self):
            return iter(())

    class Slotted:
        __slots__ = ("call",)

        def __init__(self):
            self.call = liar

    Slotted.__init__ = None  # no function of the student's left on the class: only the slot holds one
    slotted = object.__new__(Slotted)
    Slotted.__dict__["call"].__set__(slotted, liar)
    Quiet = type("Quiet", (), {})  # no method of its own: only the depth can catch it
    quiet = Quiet()
    deep = quiet
    for _ in range(HELD_DEPTH):
        deep = (deep,)
    held = {"deque": collections.deque([liar]), "list subclass": Hiding([liar]), "slots": slotted,
            "defaultdict": collections.defaultdict(liar), "depth limit": (deep, quiet)}
    try:
        for name, obj in held.items():
            torch.allclose = context_decorator(obj, saved)  # a library's wrapper, holding the old function
            assert snap.changed(kernel), name
            snap.restore(kernel)
            assert torch.allclose is saved, name
        torch.allclose = context_decorator(((1.0, "text"), None), saved)  # plain data is not a patch
        assert snap.changed(kernel) == [], "plain data"
    finally:
        torch.allclose = saved
        snap.restore(kernel)
    torch.compile(lambda x: x + 1, backend="eager")
    assert snap.changed(kernel) == []


def test_round_11_metaclasses_odd_mros_hidden_dicts_modules_eval_module_globals_and_method_closures(kernel):
    """Round 11 (a review of the round-11 container change: 7 ways, no false alarm), each seen and put
    back: a held class whose metaclass's ``__call__`` is the student's (in a wrapper and in torch's KL
    table); an MRO with ``object`` before the student's class; a class whose ``__dict__`` is another
    class's descriptor (``vars`` then fails, while lookups still read the real dict); a fresh module
    (its C ``__dir__`` calls what its dict holds) and ``getattr`` on it; ``eval`` of a string; a module a
    library submodule imports rebound (numpy's ``builtins``, torch's ``math``); library code rebuilt with
    the student's function in its closure as a method of a held class."""
    import contextlib
    import functools
    import math
    import sys

    import torch.distributions.kl as kl
    import torch.distributions.normal as normal_mod
    from numpy._core import numeric
    from torch.distributions import Normal
    from torch.overrides import TorchFunctionMode
    from torch.utils._contextlib import context_decorator

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    saved = (torch.allclose, dict(kl._KL_REGISTRY), numeric.builtins, normal_mod.math)
    a, b = torch.zeros(2), torch.ones(2)

    class Yes(TorchFunctionMode):
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            return True if getattr(func, "__name__", "") == "allclose" else func(*args, **(kwargs or {}))

    active = []

    def enter(self):
        active.append(Yes())
        active[-1].__enter__()

    def leave(self, *exc):
        active.pop().__exit__(*exc)

    class Meta(type):
        def __call__(cls, *args):
            return type("Ctx", (), {"__enter__": enter, "__exit__": leave})()

    class KLMeta(type):
        def __call__(cls, p, q):
            return torch.zeros_like(p.loc)

    class Odd(type):
        def mro(cls):
            return [cls, object, hidden] if cls.__name__ == "Late" else super().mro()

    hidden = type("Hidden", (), {"__enter__": enter, "__exit__": leave})
    late = Odd("Late", (), {})
    del Odd.mro
    fake_dict = type("Mode", (TorchFunctionMode,), {"__dict__": type("Other", (), {}).__dict__["__dict__"]})()
    fake_dict.__torch_function__ = types.MethodType(lambda self, func, t, args=(), kwargs=None: True, fake_dict)
    box = types.ModuleType("box")
    box_dir, box.__dir__ = box.__dir__, type("Ctx", (), {"__enter__": enter, "__exit__": leave})
    box.ctx = box.__dir__()
    stash = types.ModuleType("student_stash")
    stash.Ctx = box.__dir__
    code = context_decorator(contextlib.nullcontext(), saved[0]).__code__  # torch's own decorate_context

    def rebuilt(f):
        cells = {"ctx_factory": types.CellType(contextlib.nullcontext), "func": types.CellType(f)}
        return types.FunctionType(code, vars(sys.modules["torch.utils._contextlib"]), "decorate_context", None,
                                  tuple(cells[n] for n in code.co_freevars))

    held = {"metaclass": Meta("Factory", (), {}), "odd MRO": late(), "hidden dict": fake_dict,
            "module __dir__": box_dir, "getattr": functools.partial(getattr, box, "ctx"),
            "eval": functools.partial(eval, "__import__('student_stash').Ctx()"),
            "rebuilt method": type("Ctx", (), {"__enter__": rebuilt(enter), "__exit__": rebuilt(leave)})()}
    sys.modules["student_stash"] = stash
    try:
        for name, obj in held.items():
            torch.allclose = context_decorator(obj, saved[0])
            assert torch.allclose(a, b) and snap.changed(kernel) == ["torch.allclose"], name
            snap.restore(kernel)
            assert torch.allclose is saved[0] and not torch.allclose(a, b), name
        kl.register_kl(Normal, Normal)(KLMeta("WrongKL", (), {}))
        assert snap.changed(kernel) == ["a library's registry (its KL table, global hooks...)"]
        snap.restore(kernel)
        assert kl._KL_REGISTRY == saved[1]
        numeric.builtins = types.SimpleNamespace(bool=lambda r: True)
        normal_mod.math = types.SimpleNamespace(log=lambda x: 0.0, pi=math.pi, sqrt=math.sqrt)
        assert np.allclose([0, 0], [1, 1]) and Normal(0.0, 1.0).log_prob(torch.tensor(0.0)).item() == 0.0
        assert set(snap.changed(kernel)) == {"numpy._core.numeric.builtins", "torch.distributions.normal.math"}
        snap.restore(kernel)
        assert (numeric.builtins, normal_mod.math) == saved[2:]
    finally:
        sys.modules.pop("student_stash", None)
        torch.allclose = saved[0]
        snap.restore(kernel)
    assert snap.changed(kernel) == []


def test_round_12_module_classes_seen_classes_metaclasses_builtins_kept_by_functions_and_registry_entries(kernel):
    """Round 12 (a review of round 11's fixes: 5 ways, no false alarm), each seen and put back: a
    library module's class swapped (``torch.__class__`` = a subclass whose ``__getattribute__`` lies);
    a class met first as an instance's type, then called (its metaclass's ``__call__`` is now checked
    there too); torch's own code rebuilt with the student's builtins (a function keeps the builtins it
    was made with); another library function put in torch's KL table, or in its cache; the allowed torch
    partial with an argument of the student's, in place of any method."""
    import builtins
    import contextlib
    import functools

    import torch._compile as tc
    import torch.distributions.kl as kl
    from torch.distributed.tensor.placement_types import _raise_error
    from torch.distributions import Categorical, Laplace, Normal
    from torch.overrides import TorchFunctionMode
    from torch.utils._contextlib import context_decorator
    from torch.utils.data.dataloader import _BaseDataLoaderIter

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    saved = (torch.allclose, dict(kl._KL_REGISTRY), _BaseDataLoaderIter.__next__, type(torch))
    a, b = torch.zeros(2), torch.ones(2)
    p, q = Normal(0.0, 1.0), Normal(3.0, 2.0)
    right = kl.kl_divergence(p, q).item()

    class Liar(type(torch)):
        def __getattribute__(self, name):
            return (lambda *args, **kwargs: True) if name == "allclose" else super().__getattribute__(name)

    class M2(type):
        __self__ = property(lambda cls: mode)  # torch asks the callable's __self__ to be the mode

        def __call__(cls, func, types_, args=(), kwargs=None):
            return True if func is saved[0] else func(*args, **(kwargs or {}))

    k2 = M2("K2", (), {"__call__": contextlib.nullcontext.__init__})
    mode = type("K", (TorchFunctionMode,), {"a_first": object.__new__(k2), "__torch_function__": k2})()

    def built_with(module, name, value, make):  # made while the module's builtins held the student's value
        g = vars(module)
        real = g["__builtins__"]
        g["__builtins__"] = dict(vars(builtins), **{name: value})
        try:
            return make(g)
        finally:
            g["__builtins__"] = real

    code = torch._disable_dynamo(saved[0]).__code__
    liar_allclose = built_with(tc, "getattr", lambda o, n, *d: (lambda *x, **y: True) if n == "__dynamo_disable"
                               else getattr(o, n, *d), lambda g: types.FunctionType(
                                   code, g, "allclose", None, (types.CellType(saved[0]), types.CellType(True))))
    f = kl._kl_expfamily_expfamily
    liar_kl = built_with(kl, "zip", lambda *x: iter(()), lambda g: types.FunctionType(
        f.__code__, g, f.__name__, f.__defaults__, f.__closure__))

    class Stop:
        def __format__(self, spec):
            raise StopIteration

    try:
        torch.__class__ = Liar
        assert torch.allclose(a, b) and snap.changed(kernel) == ["the class of module"]
        snap.restore(kernel)
        assert type(torch) is saved[3] and not torch.allclose(a, b)
        for name, patch in {"seen class": context_decorator(mode, saved[0]), "builtins": liar_allclose}.items():
            torch.allclose = patch
            assert torch.allclose(a, b) and snap.changed(kernel) == ["torch.allclose"], name
            snap.restore(kernel)
            assert torch.allclose is saved[0], name
        for entry in (liar_kl, kl._kl_laplace_normal):
            for table in (kl._KL_REGISTRY, kl._KL_MEMOIZE):
                kl._KL_MEMOIZE.clear()
                table[(Normal, Normal)] = entry
                assert kl.kl_divergence(p, q).item() != right
                assert snap.changed(kernel) == ["a library's registry (its KL table, global hooks...)"]
                snap.restore(kernel)
                assert kl._KL_REGISTRY == saved[1] and kl.kl_divergence(p, q).item() == right
        with pytest.raises(NotImplementedError):  # honest: a pair with no entry (its cache keeps NotImplemented)
            kl.kl_divergence(Laplace(0.0, 1.0), Categorical(torch.ones(3)))
        kl.kl_divergence(type("MyNormal", (Normal,), {})(0.0, 1.0), q)  # a subclass's pair: its base's entry
        assert snap.changed(kernel) == []
        _BaseDataLoaderIter.__next__ = functools.partial(_raise_error, Stop(), None)
        assert snap.changed(kernel) == ["_BaseDataLoaderIter.__next__"]
        snap.restore(kernel)
        assert _BaseDataLoaderIter.__next__ is saved[2]
    finally:
        torch.__class__ = saved[3]
        snap.restore(kernel)
    assert snap.changed(kernel) == []


def test_round_13_keys_hashed_by_the_check_classes_of_modules_and_callable_module_globals(kernel):
    """Round 13 (a review of round 12's fixes: 3 ways, no false alarm), each seen and put back: a key
    of torch's KL table whose metaclass's ``__hash__`` is the student's (the check hashed it, so it ran
    during the check and could undo later-checked patches; keys are now looked at before any is hashed,
    and a notebook name that is no str counts too); a module's own class (``torch._VF``'s
    ``VFModule.__getattr__``, which torch.nn.functional's dropout goes through); a module global that is
    callable but not a function (numpy's lru_cache'd einsum helper)."""
    import numpy._core.einsumfunc as ef
    import torch.distributions.kl as kl
    from torch.distributions import Normal

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    vf, ran = type(torch._VF), []
    saved = (dict(kl._KL_REGISTRY), vf.__dict__["__getattr__"], ef._parse_eq_to_batch_matmul)
    x = torch.arange(6.0)

    class M(type):
        def __hash__(cls):
            ran.append(cls)
            return id(cls)

    sub = M("Sub", (Normal,), {})
    try:
        kl._KL_REGISTRY[sub, sub] = kl._kl_laplace_normal
        ran.clear()
        assert snap.changed(kernel) == ["a library's registry (its KL table, global hooks...)"] and not ran
        snap.restore(kernel)
        assert kl._KL_REGISTRY == saved[0] and not ran
        kernel.shell.user_ns[sub] = 1  # a name that is no str
        ran.clear()
        assert snap.changed(kernel) == ["__main__ (a key that is no str)"] and not ran  # the notebook's module
        assert all(type(k) is str for k in kernel.shell.user_ns)  # taken out unhashed, before anything looks a name up
        vf.__getattr__ = lambda self, name: (lambda t, *a: t * 0 + 42) if name == "dropout" else getattr(self.vf, name)
        assert torch.nn.functional.dropout(x, 0.5, training=False).eq(42).all()
        assert snap.changed(kernel) == ["VFModule.__getattr__"]
        snap.restore(kernel)
        assert vf.__dict__["__getattr__"] is saved[1] and torch.equal(torch.nn.functional.dropout(x, 0.5, False), x)
        ef._parse_eq_to_batch_matmul = lambda eq, sa, sb: (*saved[2](eq, sa, sb)[:5], None, saved[2](eq, sa, sb)[6])
        a, b = np.arange(9.0).reshape(3, 3), np.eye(3) + np.arange(9.0).reshape(3, 3)
        assert not np.array_equal(np.einsum("ij,jk->ik", a, b, optimize=True), a @ b)
        assert snap.changed(kernel) == ["numpy._core.einsumfunc._parse_eq_to_batch_matmul"]
        snap.restore(kernel)
        assert ef._parse_eq_to_batch_matmul is saved[2]
    finally:
        kernel.shell.user_ns.pop(sub, None)
        vf.__getattr__ = saved[1]
        snap.restore(kernel)
    assert snap.changed(kernel) == []


def test_round_14_no_student_code_runs_in_the_check_or_the_reset(kernel):
    """Round 14 (a review of round 13's fixes: 4 ways, 1 false alarm left, see GRADING.md), each seen and put
    back with no student code run by the check or the reset: a key that is no str whose hash collides
    with a name the check looks up, in builtins, in a module's dict and in the shell's own dict; lists,
    dicts, tuples and ints the check reads replaced by subclasses (``gc.callbacks``, IPython's event
    callbacks, its custom exceptions and transformers, the compiler's flags); a KL-table key whose
    metaclass is one of the snapshot's (``abc.ABCMeta``) with a ``__hash__`` set during the test; and
    (found reading the change) a held object whose metaclass has an ``__eq__``, which ``type(x) in
    kinds`` ran while the check followed a wrapper."""
    import abc
    import builtins
    import gc
    import math

    import torch.distributions.kl as kl
    from torch.distributions import Normal
    from torch.utils._contextlib import context_decorator

    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    ran = []

    class Key:
        def __init__(self, name):
            self.name = name

        def __hash__(self):
            ran.append(self.name)
            return hash(self.name)

        def __eq__(self, other):
            ran.append(self.name)
            return False

    class Sneaky(list):
        def __len__(self):
            ran.append("len")
            return list.__len__(self)

    def no_hash(cls):
        ran.append("hash")
        return id(cls)

    key = abc.ABCMeta("Key", (Normal,), {})
    cases = {
        "builtins.(a key that is no str)": lambda: builtins.__dict__.__setitem__(Key("len"), len),
        "math (a key that is no str)": lambda: vars(math).__setitem__(Key("pi"), 3.0),
        "InteractiveShell (its dict)": lambda: vars(shell).__setitem__(Key("CustomTB"), 1),  # round 16: taken out first
        "gc.callbacks": lambda: setattr(gc, "callbacks", Sneaky(gc.callbacks)),
        "IPython's event callbacks": lambda: setattr(shell.events, "callbacks",
                                                     type("D", (dict,), {"__iter__": lambda d: ran.append("iter")})(
                                                         shell.events.callbacks)),
        "a custom exception handler": lambda: setattr(shell, "custom_exceptions", type("T", (tuple,), {
            "__ne__": lambda t, o: ran.append("ne") or False})()),
        "IPython's input transformers": lambda: setattr(shell.input_transformer_manager, "cleanup_transforms",
                                                        Sneaky(shell.input_transformer_manager.cleanup_transforms)),
        # held by a wrapper: an object whose class's metaclass has an __eq__ (``type(x) in kinds`` would run it)
        "torch.allclose": lambda: setattr(torch, "allclose", context_decorator(type("EqMeta", (type,), {
            "__eq__": lambda cls, o: ran.append("eq") or False})("X", (), {})(), torch.allclose)),
    }
    try:
        for name, patch in cases.items():
            ran.clear()
            patch()
            ran.clear()
            assert name in snap.changed(kernel) and not ran, name
            snap.restore(kernel)
            assert not ran and snap.changed(kernel) == [], name
        kl._KL_REGISTRY[key, key] = kl._kl_normal_normal  # library code, a key whose metaclass the snapshot holds
        abc.ABCMeta.__hash__ = no_hash
        ran.clear()
        # class dicts are put back first (round 15): the key then hashes by C code, and library code for a pair
        # of its own is no patch
        assert snap.changed(kernel) == ["ABCMeta.__hash__"]
        assert not ran
        snap.restore(kernel)
        assert "__hash__" not in vars(abc.ABCMeta)  # (the entry, library code for a pair of its own, may stay)
    finally:
        kl._KL_REGISTRY.pop((key, key), None)
        snap.restore(kernel)
    assert snap.changed(kernel) == []


def test_round_15_the_check_and_the_reset_read_nothing_the_student_can_answer_for(kernel):
    """Round 15 (a review of round 14's fixes: 9 ways, 2 false alarms), each seen with no student code run by
    the check or the reset: keys that are no str in the dicts the check looks names up in (gc's, sys.modules,
    a library module's globals, the shell's trait values; taken out first, unhashed); an object claiming to be
    a bound method through a ``__class__`` property; dicts of another type (a tensor's, a wrapper's, a held
    object's, IPython's auto_builtins, the kernel's handlers); a key colliding with a name library code looks
    up on an object a wrapper holds; a str subclass as a partial's keyword name or a module's ``__name__``;
    a module's class swapped (read before anything else now); ``ABCMeta.__hash__`` set while classes are
    compared (by id now); torch's functions called by the reset before it put them back; an attribute of a
    library function's own (``__dynamo_disable``, which torch's ``@_disable_dynamo`` calls). The false alarms:
    post_execute callbacks put back in another order (``with plt.ioff():``) and, from the README's list,
    ``logging.captureWarnings(True)`` (``torch.set_default_device("cpu")``, also fixed then, counts again since round
    16: the mode it pushes can carry a ``__torch_function__`` of its own)."""
    import abc
    import contextlib
    import functools
    import gc
    import io
    import logging
    import numbers
    import sys
    import warnings

    import torch.distributed.tensor.placement_types as placements
    import torch.utils._contextlib as tuc
    from torch.overrides import TorchFunctionMode
    from torch.utils._contextlib import context_decorator

    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    ran = []

    class Yes(TorchFunctionMode):  # torch.allclose answers True while it is on the stack
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            return True if func is torch.allclose else func(*args, **(kwargs or {}))

    def spy(name, base=object):  # a class whose __hash__, __eq__ and __ne__ record that they ran
        return type(name, (base,), {"__hash__": lambda s: ran.append(name) or base.__hash__(s),
                                    "__eq__": lambda s, o: ran.append(name) or False,
                                    "__ne__": lambda s, o: ran.append(name) or True})

    def collide(d, name):  # a key that is no str, probed before ``name`` when it is looked up
        key = type("Key", (), {"__hash__": lambda s: hash(name), "__eq__": lambda s, o: ran.append(name) or False})()
        v = d.pop(name)
        d[key] = None
        d[name] = v

    class Claims:  # says it is the shell's bound prefilter method
        __class__ = property(lambda s: ran.append("__class__") or types.MethodType)
        __func__ = property(lambda s: saved_prefilter.__func__)
        __self__ = property(lambda s: saved_prefilter.__self__)

    saved_prefilter = vars(shell)["prefilter"]
    Quiet = type("Quiet", (dict,), {"__iter__": lambda s: ran.append("iter") or iter(()),
                                    "get": lambda s, *a: ran.append("get") or dict.get(s, *a),
                                    "items": lambda s: ran.append("items") or dict.items(s),
                                    "clear": lambda s: ran.append("clear") or dict.clear(s)})
    Liar = type("Liar", (types.ModuleType,), {"__getattribute__": lambda s, n: ran.append(n) or
                                              types.ModuleType.__getattribute__(s, n)})
    weights = torch.zeros(3)

    def tensor_dict():
        weights.__dict__ = Quiet(double=lambda: torch.ones(3, dtype=torch.float64))
        shell.user_ns["weights"] = weights

    def wrapper_dict():
        w = context_decorator(contextlib.nullcontext(), sys.getsizeof)
        w.__dict__ = Quiet(vars(w))
        sys.getsizeof = w

    def held_dict():
        cm = contextlib.redirect_stdout(io.StringIO())
        cm.__dict__ = Quiet(vars(cm))
        torch.allclose = context_decorator(cm, torch.allclose)

    def held_key():
        cm = contextlib.redirect_stdout(io.StringIO())
        collide(vars(cm), "_old_targets")  # redirect_stdout's __enter__ and __exit__ look it up
        torch.allclose = context_decorator(cm, torch.allclose)

    def abc_hash():
        abc.ABCMeta.__hash__ = lambda cls: ran.append("ABCMeta.__hash__") or type.__hash__(cls)
        numbers.Integral.note = "plain data"  # added: what it shadows is looked up in its bases (ABCs)
        Yes().__enter__()

    cases = {  # what the check must name: how the student gets there
        "gc (a key that is no str)": lambda: collide(vars(gc), "callbacks"),
        "sys.modules (a key that is no str)": lambda: collide(sys.modules, "sys"),
        "torch.utils._contextlib (a key that is no str)": lambda: (  # a wrapper of its own is checked first
            setattr(sys, "getsizeof", context_decorator(contextlib.nullcontext(), sys.getsizeof)),
            collide(vars(tuc), "__name__")),
        "a trait's dict (a key that is no str)": lambda: collide(shell._trait_values, "loop_runner"),
        "InteractiveShell.prefilter (on the object)": lambda: setattr(shell, "prefilter", Claims()),
        "the notebook's weights (a tensor with attributes of its own)": tensor_dict,
        "sys.getsizeof": wrapper_dict,
        "torch.allclose": held_dict,
        "torch.allclose ": held_key,
        "sys.getsizeof ": lambda: setattr(sys, "getsizeof", functools.partial(
            placements._raise_error, **{spy("Name", str)("method_name"): "getsizeof"})),
        "sys.getsizeof  ": lambda: (setattr(sys, "getsizeof", context_decorator(contextlib.nullcontext(), sys.getsizeof)),
                                    vars(tuc).__setitem__("__name__", spy("Name", str)(tuc.__name__))),
        "the class of module": lambda: setattr(gc, "__class__", Liar),
        "the class of InteractiveShell": lambda: setattr(shell, "__class__", type("Sub", (type(shell),), {
            "__getattribute__": lambda s, n: ran.append(n) or object.__getattribute__(s, n)})),
        "ABCMeta.__hash__": abc_hash,
        "Optimizer.zero_grad (an attribute of its own)": lambda: setattr(
            torch.optim.Optimizer.zero_grad.__wrapped__, "__dynamo_disable", lambda *a, **k: None),
    }
    name = tuc.__name__
    try:
        for expected, patch in cases.items():
            ran.clear()
            patch()
            ran.clear()
            assert expected.strip() in snap.changed(kernel) and not ran, (expected, ran)
            snap.restore(kernel)
            vars(tuc)["__name__"] = name  # plain data: kept nowhere (README), put back by the test
            assert not ran and snap.changed(kernel) == [], expected
        assert type(weights.__dict__) is dict and "double" not in weights.__dict__  # the liar is gone
        for where in ("auto_builtins", "shell_handlers"):  # the reset binds new plain dicts: no method of theirs runs
            owner = shell.builtin_trap if where == "auto_builtins" else kernel
            setattr(owner, where, Quiet(getattr(owner, where)))
            ran.clear()
            snap.restore(kernel)
            assert not ran and type(getattr(owner, where)) is dict and snap.changed(kernel) == [], where
        saved_dtype = torch.set_default_dtype  # the reset pops torch's modes with torch's own functions
        torch.set_default_dtype = lambda d: ran.append("set_default_dtype") or Yes().__enter__() or saved_dtype(d)
        ran.clear()
        snap.restore(kernel)
        assert not ran and torch.set_default_dtype is saved_dtype and not torch.allclose(torch.zeros(2), torch.ones(2))
        # the false alarms: honest code that changes nothing a test relies on
        w = torch.nn.Parameter(torch.ones(2))
        opt = torch.optim.Adam([w])
        (w * 3).sum().backward()
        opt.step()
        opt.zero_grad()  # torch sets the function's __dynamo_disable to its own wrapper of it
        post = shell.events.callbacks["post_execute"]
        post.append(print)
        snap = _Snapshot(kernel)
        post[:] = [*post[1:], post[0]]  # the same callbacks in another order (``with plt.ioff():``)
        logging.captureWarnings(True)
        assert snap.changed(kernel) == []
    finally:
        vars(numbers.Integral).get("note") and delattr(numbers.Integral, "note")
        logging.captureWarnings(False)
        shell.events.callbacks["post_execute"] = [f for f in shell.events.callbacks["post_execute"] if f is not print]
        vars(tuc)["__name__"] = name
        snap.restore(kernel)
    assert snap.changed(kernel) == [] and warnings.showwarning is snap.module_funcs["warnings"]["showwarning"]


def test_round_16_what_runs_before_the_check_looks_and_what_it_did_not_look_at(kernel):
    """Round 16 (a review of round 15's fixes: 12 ways, 2 false alarms), each seen with no student code run by the
    check or the reset: module functions the check calls (``sys.gettrace``) before they were put back; a code
    object whose name is a str subclass (compared by ``genuine``); an object's dict or ``_trait_values`` of a dict
    subclass (read by traitlets); class dicts holding keys that are no str (``type()`` takes them: a held class,
    a value's class that ``acts`` reads); an observer that the reset's ``setattr`` of a shell part ran; a swapped
    namespace whose keys the reset hashed; and what the check did not look at: the notebook's ``__builtins__``,
    torch's saved-tensor hooks and its frame-evaluation callback, the handlers of signals other than five. The
    false alarms: ``plt.ioff()`` (a post_execute callback taken away) and numpy caching a ctypes class on its
    function (round 15's function attributes)."""
    import contextlib
    import ctypes
    import signal
    import sys

    import torch.distributions.kl as kl
    from torch.distributions import Normal, Poisson
    from torch.overrides import TorchFunctionMode
    from torch.utils._contextlib import context_decorator

    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    ran = []
    key = type("Key", (), {"__hash__": lambda s: hash("__get__"), "__eq__": lambda s, o: ran.append("key") or False})

    class Yes(TorchFunctionMode):
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            return True if func is torch.allclose else func(*args, **(kwargs or {}))

    Name = type("Name", (str,), {"__hash__": str.__hash__, "__eq__": lambda s, o: ran.append("name") or str.__eq__(s, o)})
    Quiet = type("Quiet", (dict,), {"get": lambda s, *a: ran.append("get") or dict.get(s, *a),
                                    "__getitem__": lambda s, k: ran.append("getitem") or dict.__getitem__(s, k)})
    code = kl._kl_normal_normal.__code__
    hooks = torch.autograd.graph.saved_tensors_hooks(lambda t: t * 0, lambda t: t)
    cases = {  # what the check must name: how the student gets there
        "sys.gettrace": lambda: setattr(sys, "gettrace", lambda: ran.append("gettrace")),
        "a library's registry (its KL table, global hooks...)": lambda: kl._KL_REGISTRY.__setitem__(
            (Normal, Poisson), types.FunctionType(code.replace(co_name=Name(code.co_name)), vars(kl))),
        "DisplayPublisher (its dict)": lambda: object.__setattr__(shell.display_pub, "__dict__",
                                                                  Quiet(vars(shell.display_pub))),
        "InteractiveShell._trait_values": lambda: vars(shell).__setitem__("_trait_values", Quiet(shell._trait_values)),
        "torch.allclose": lambda: setattr(torch, "allclose", context_decorator(
            type("Ctx", (contextlib.nullcontext,), {key(): None})(), torch.allclose)),
        "Tensor.note": lambda: setattr(torch.Tensor, "note", type("Note", (), {key(): None})()),
        "the notebook's __builtins__": lambda: shell.user_ns.__setitem__("__builtins__", {"len": lambda x: 0}),
        "torch's saved-tensor hooks or frame-evaluation callback": hooks.__enter__,
        "the handler of signal 28": lambda: signal.signal(signal.SIGWINCH, lambda *a: ran.append("signal")),
    }
    try:
        for expected, patch in cases.items():
            ran.clear()
            patch()
            ran.clear()
            assert expected in snap.changed(kernel) and not ran, (expected, ran)
            snap.restore(kernel)
            assert not ran and snap.changed(kernel) == [], expected
        assert torch._C._autograd._top_saved_tensors_default_hooks(False) is None  # popped by the reset
        trap = shell.display_trap  # an observer of a shell part the reset puts back with setattr
        shell.observe(lambda change: ran.append("observer"), "display_trap")
        shell.display_trap = type(trap)(hook=trap.hook)
        other = dict(shell.user_ns)  # a namespace swapped for one with a key whose hash is a name's
        other[type("K", (), {"__hash__": lambda s: hash("__name__"), "__eq__": lambda s, o: ran.append("ns")})()] = 1
        ran.clear()
        snap.restore(kernel)
        shell.user_ns = other
        snap.restore(kernel)
        assert not ran and shell.display_trap is trap and snap.changed(kernel) == []
        # the false alarms: matplotlib's callback taken away (plt.ioff()), numpy's cached ctypes class
        internal = sys.modules["numpy._core._internal"]._getintp_ctype
        cached, internal.cache = internal.cache, None
        shell.events.callbacks["post_execute"].append(print)
        snap = _Snapshot(kernel)
        shell.events.callbacks["post_execute"].remove(print)
        internal.cache = ctypes.c_long
        assert snap.changed(kernel) == []
        internal.cache = cached
    finally:
        snap.restore(kernel)
    assert snap.changed(kernel) == [] and not ran


def _each_seen_and_put_back(snap, kernel, cases: dict, ran: list) -> None:
    """Each patch of ``cases`` ({what the check must name: the patch}) is named by the check and undone by the
    reset, and no student code (which appends to ``ran``) runs in either."""
    for expected, patch in cases.items():
        ran.clear()
        patch()
        assert expected in snap.changed(kernel) and not ran, (expected, ran)
        snap.restore(kernel)
        assert not ran and snap.changed(kernel) == [], expected


def test_round_17_insides_of_held_objects_bases_no_module_names_and_honest_libraries(kernel):
    """Round 17 (7 ways, 4 false alarms), each seen and put back with no student code run by the check: an object
    a class holds as data (torch's autograd engine on Variable); Python functions the first steps called before
    the modules were put back (``signal._int_to_enum``, ``posixpath._path_normpath``); a property, staticmethod or
    partial re-initialised in place; a base class no module names (``_IncompatibleKeys``' namedtuple base); the
    own dicts of IPython's prompt stripper and of a traitlets descriptor, and a stripper's class swapped; the
    notebook's ``__builtins__`` a dict whose ``__eq__`` says yes; ``copy``'s and numpy's registries. The false
    alarms: torch's SIGCHLD handler (a DataLoader with workers), ``sys.stdout = sys.__stdout__``,
    ``matplotlib.use`` of the backend in use, and traitlets filling a descriptor's class named by a string."""
    import copy
    import posixpath
    import re
    import signal
    import sys

    import IPython.core.inputtransformer2 as it2
    from IPython.core.interactiveshell import InteractiveShell
    from torch.distributions import Normal
    from torch.nn.modules.module import _IncompatibleKeys

    import matplotlib
    import matplotlib.pyplot as plt  # before the snapshot, as the kernel imports the notebook's imports

    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    ran = []
    engine = torch.autograd.Variable._execution_engine
    arrayprint = sys.modules["numpy._core.arrayprint"]
    trait = InteractiveShell.class_traits()["builtin_trap"]
    base = _IncompatibleKeys.__mro__[1]
    yes = type("Yes", (dict,), {"__eq__": lambda s, o: ran.append("eq") or True, "__hash__": None})
    stripper = type("Stripper", (type(it2.ipython_prompt),), {})
    sgd_step = vars(torch.optim.SGD)["step"]

    def fresh_wrapper():  # a copy of torch's own wrapper code: genuine() compares it with the library's file
        w = torch.optim.Optimizer.profile_hook_step(sgd_step)
        return types.FunctionType(w.__code__.replace(), w.__globals__, w.__name__, w.__defaults__, w.__closure__)

    cases = {  # what the check must name: how the student gets there
        "Variable._execution_engine": lambda: setattr(torch.autograd.Variable, "_execution_engine", object()),
        "signal._int_to_enum": lambda: setattr(signal, "_int_to_enum", lambda *a: ran.append("signal")),
        "posixpath._path_normpath": lambda: (setattr(posixpath, "_path_normpath", lambda p: ran.append("norm") or p),
                                             setattr(torch.optim.SGD, "step", fresh_wrapper())),  # genuine() asks
        "a staticmethod of a library's, changed in place": lambda: vars(torch.nn.Parameter)["__new__"].__init__(
            lambda cls, data=None, requires_grad=True: ran.append("new")),
        "a property of a library's, changed in place": lambda: vars(Normal)["variance"].__init__(lambda self: 0),
        "a partial of a library's, changed in place": lambda: arrayprint._default_array_str.__setstate__(
            (lambda a: "[1. 1. 1.]", (), {}, {})),
        f"{base.__qualname__}.__new__": lambda: setattr(base, "__new__", lambda cls, *a: ran.append("keys")),
        "PromptStripper (its own dict)": lambda: setattr(it2.ipython_prompt, "prompt_re", re.compile("assert ")),
        "the class of PromptStripper": lambda: setattr(it2.ipython_prompt, "__class__", stripper),
        "Instance (its own dict)": lambda: vars(trait).__setitem__("get", lambda o, c=None: ran.append("get")),
        "the notebook's __builtins__": lambda: shell.user_ns.__setitem__("__builtins__", yes(vars(__builtins__)
                                                                         if type(__builtins__) is not dict else __builtins__)),
        "a library's registry (its KL table, global hooks...)": lambda: copy._deepcopy_dispatch.__setitem__(
            torch.nn.Parameter, lambda x, memo: ran.append("copy")),
    }
    try:
        _each_seen_and_put_back(snap, kernel, cases, ran)
        assert torch.autograd.Variable._execution_engine is engine and str(np.zeros(2)) == "[0. 0.]"
        assert Normal(torch.tensor(0.0), torch.tensor(3.0)).variance == 9 and "get" not in vars(trait)
        assert torch.nn.Linear(2, 1).load_state_dict(torch.nn.Linear(2, 1).state_dict()) is not None
        np.sctypeDict["float64"] = np.float16  # numpy's dtype names: the same registry kind
        assert "a library's registry (its KL table, global hooks...)" in snap.changed(kernel)
        snap.restore(kernel)
        assert np.zeros(1, dtype="float64").dtype == np.float64
        # the false alarms
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 1)), num_workers=2)
        assert [len(b) for b in loader] == [1] * 4  # torch's SIGCHLD handler installed: kept, not reported
        sys.stdout = sys.__stdout__  # blockPrint/enablePrint
        matplotlib.use(matplotlib.get_backend())  # pyplot's _backend_mod made again, the same
        plt.close("all")
        klass = vars(trait).get("klass")
        vars(trait)["klass"] = type(shell.builtin_trap)  # traitlets resolving a class named by a string
        assert snap.changed(kernel) == [], snap.changed(kernel)
        vars(trait)["klass"] = klass
    finally:
        snap.restore(kernel)
        torch.optim.SGD.step = sgd_step  # the copy of torch's wrapper, kept as torch's own
    assert snap.changed(kernel) == [] and not ran


def test_round_18_a_descriptors_name_copyreg_a_modules_builtins_property_subclasses_and_the_shells_traits(kernel):
    """Round 18 (5 ways, 1 false alarm), each seen and put back with no student code run by the check: a traitlets
    descriptor's ``name`` (the shell then reads that trait from a key no one checks); ``copyreg.dispatch_table``
    (``copy.deepcopy`` of a model); a library module's own ``__builtins__`` (its comprehensions take theirs from
    it); a property subclass re-initialised in place (torch's ``dependent_property``); an object swapped into the
    shell's trait values (the check read ``builtin_trap.auto_builtins`` through it). The false alarms:
    ``matplotlib.use`` of another backend, and a copy reducer for a class made since the snapshot (sympy's)."""
    import builtins
    import copyreg
    import json

    import matplotlib
    import matplotlib.pyplot as plt  # before the snapshot, as the kernel imports the notebook's imports
    from IPython.core.interactiveshell import InteractiveShell
    from torch.distributions import Categorical

    shell = kernel.shell
    plt.install_repl_displayhook()  # as the kernel's inline backend has it at the snapshot
    plt.close(plt.figure())  # pyplot's _backend_mod loaded before it, as the kernel's is
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    ran = []
    trait = InteractiveShell.class_traits()["history_manager"]
    support = vars(Categorical)["support"]
    trap = type("Trap", (), {"auto_builtins": property(lambda s: ran.append("trap") or {})})()
    cases = {  # what the check must name: how the student gets there
        "Instance (its own dict)": lambda: vars(trait).__setitem__("name", "mine"),
        "a library's registry (its KL table, global hooks...)": lambda: copyreg.pickle(
            torch.nn.Linear, lambda m: ran.append("copyreg")),
        "json.__builtins__": lambda: setattr(json, "__builtins__", dict(vars(builtins))),
        "a property of a library's, changed in place": lambda: property.__init__(support, lambda self: 0),
        "InteractiveShell.builtin_trap (a trait)": lambda: dict.__setitem__(shell._trait_values, "builtin_trap", trap),
    }
    try:
        _each_seen_and_put_back(snap, kernel, cases, ran)
        assert vars(trait)["name"] == "history_manager" and torch.nn.Linear not in copyreg.dispatch_table
        assert Categorical(torch.ones(3)).support.upper_bound == 2
        # the false alarms
        backend = matplotlib.get_backend()
        matplotlib.use("pdf" if backend.lower() != "pdf" else "agg")  # a helper that only writes files
        plt.close("all")
        fresh = type("Fresh", (), {})
        copyreg.pickle(fresh, lambda o: (fresh, ()))  # as sympy does on its first import
        assert snap.changed(kernel) == [], snap.changed(kernel)
        del copyreg.dispatch_table[fresh]
        matplotlib.use(backend)
    finally:
        snap.restore(kernel)
    assert snap.changed(kernel) == [] and not ran
    plt.uninstall_repl_displayhook()


def test_round_19_a_descriptors_name_as_a_class_a_forged_torch_handler_and_module_objects_classes(kernel):
    """Round 19 (3 ways, no false alarm), each seen and put back with no student code run by the check: a traitlets
    descriptor's ``name`` set to a class whose metaclass answers ``==`` (round 18 let a str become any class);
    a SIGCHLD handler made of torch's handler code with globals of the student's (round 17 kept it for good); the
    class of an object a library module holds swapped (``random._inst``, behind ``random.randint``)."""
    import builtins
    import random
    import signal

    from IPython.core.interactiveshell import InteractiveShell
    from torch.utils.data._utils import signal_handling

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    ran = []
    trait = InteractiveShell.class_traits()["builtin_trap"]
    meta = type("Meta", (type,), {"__hash__": lambda c: hash("builtin_trap"),
                                  "__eq__": lambda c, o: ran.append("eq") or o == "builtin_trap"})
    code = next(c for c in signal_handling._set_SIGCHLD_handler.__code__.co_consts
                if isinstance(c, types.CodeType) and c.co_name == "handler")
    forged = types.FunctionType(code, {"_error_if_any_worker_fails": lambda: ran.append("sigchld"),
                                       "__builtins__": builtins}, "handler", None, (types.CellType(None),))
    rigged = type("Rigged", (random.Random,), {"randint": lambda s, a, b: 42})
    cases = {
        "Instance (its own dict)": lambda: vars(trait).__setitem__("name", meta("Name", (), {})),
        f"the handler of signal {int(signal.SIGCHLD)}": lambda: signal.signal(signal.SIGCHLD, forged),
        "the class of Random": lambda: setattr(random._inst, "__class__", rigged),
    }
    try:
        _each_seen_and_put_back(snap, kernel, cases, ran)
        assert vars(trait)["name"] == "builtin_trap" and signal.getsignal(signal.SIGCHLD) is not forged
        assert type(random._inst) is random.Random
    finally:
        snap.restore(kernel)
    assert snap.changed(kernel) == [] and not ran


def test_round_20_twins_held_objects_parked_handlers_int_keys_names_and_the_students_kl(kernel):
    """Round 20 (6 ways, 1 false alarm), each seen and put back with no student code run by the check: a twin class
    rebound outside matplotlib's one global (round 18's exemption: ``TensorLikePair`` with a ``compare`` of C code
    answered ``assert_close``); the class of an object a library class holds swapped (``Categorical.logits``, a
    ``lazy_property``); torch's kept SIGCHLD handler, which calls a module global the check puts back only later
    (parked during the check and the reset); the kept handler stored under a ``Signals`` key, hashed by the
    student's ``__hash__``; a lazy partial whose code's name is a str subclass, compared before ``known``; a class
    name that is a str subclass, formatted into the report. The false alarm: ``register_kl`` for the student's
    own classes."""
    import _signal
    import functools
    import importlib
    import os
    import signal

    import torch.testing._comparison as cmp
    from torch.distributions import Categorical, Normal, kl_divergence, register_kl
    from torch.distributions import kl as kl_module
    from torch.utils.data._utils import signal_handling as sh

    pt = importlib.import_module("torch.distributed.tensor.placement_types")
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    ran = []
    old = cmp.TensorLikePair
    attrs = {k: v for k, v in vars(old).items() if k not in ("__dict__", "__weakref__")}
    twin = type(old)(old.__name__, old.__bases__, {**attrs, "compare": object.__init__, "__init__": cmp.Pair.__init__})
    lazy = vars(Categorical)["logits"]
    rigged = type("lazy_property", (type(lazy),), {"__get__": lambda s, i, t=None: ran.append("get") or s})

    class Name(str):
        __hash__ = str.__hash__

        def __eq__(self, other):
            ran.append("eq")
            return True

        def __format__(self, spec):
            ran.append("format")
            return "Normal"

    forged = types.FunctionType(pt._raise_error.__code__.replace(co_name=Name("_raise_error")), vars(pt), "_raise_error")

    def torch_handler():
        sh._SIGCHLD_handler_set = False
        sh._set_SIGCHLD_handler()  # torch's own, as a DataLoader with workers installs it

    def rebound_global():
        torch_handler()
        sh._error_if_any_worker_fails = lambda: ran.append("sigchld")

    def hashed_key():
        torch_handler()
        signal.Signals.__hash__ = lambda s: ran.append("hash") or 0

    def odd_name():
        Normal.log_prob = lambda self, v: v
        type.__setattr__(Normal, "__qualname__", Name("Normal"))

    cases = {
        "torch.testing._comparison.TensorLikePair": lambda: setattr(cmp, "TensorLikePair", twin),
        "the class of lazy_property": lambda: setattr(lazy, "__class__", rigged),
        "torch.utils.data._utils.signal_handling._error_if_any_worker_fails": rebound_global,
        "Signals.__hash__": hashed_key,
        "Normal.zz_hook": lambda: setattr(Normal, "zz_hook", functools.partial(forged, method_name="zz")),
        "(a name that is no str).log_prob": odd_name,
    }
    my = type("MyNormal", (Normal,), {})  # the student's own distribution (the false alarm)
    try:
        _each_seen_and_put_back(snap, kernel, cases, ran)
        assert cmp.TensorLikePair is old and type(lazy) is not rigged and "zz_hook" not in vars(Normal)
        type.__setattr__(Normal, "__qualname__", "Normal")
        with pytest.raises(AssertionError):
            torch.testing.assert_close(torch.zeros(2), torch.ones(2))
        # torch's handler is parked (the default action) while the check and the reset run, then set again
        rebound_global()
        assert "torch.utils.data._utils.signal_handling._error_if_any_worker_fails" in snap.changed(kernel)
        assert _signal.getsignal(signal.SIGCHLD) is _signal.SIG_DFL
        os.kill(os.getpid(), signal.SIGCHLD)
        assert sum(range(1000)) and not ran  # (bytecodes run: a Python handler would have run by now)
        snap.restore(kernel)
        assert getattr(_signal.getsignal(signal.SIGCHLD), "__code__", None) is snap.sigchld[0] and not ran
        # the false alarm: the student's own distribution and its KL, registered during the test or before it
        register_kl(my, my)(lambda p, q: torch.zeros(()))
        assert snap.changed(kernel) == [] and not ran
        snap.restore(kernel)
        assert (my, my) in kl_module._KL_REGISTRY and kl_divergence(my(0.0, 1.0), my(1.0, 2.0)) == 0
        assert kl_divergence(Normal(0.0, 1.0), Normal(1.0, 2.0)) > 0 and snap.changed(kernel) == []
    finally:
        type.__setattr__(Normal, "__qualname__", "Normal")
        snap.restore(kernel)
        _signal.signal(signal.SIGCHLD, _signal.SIG_DFL)
        sh._SIGCHLD_handler_set = False
        kl_module._KL_REGISTRY.pop((my, my), None)
        kl_module._KL_MEMOIZE.clear()
    assert not ran


def test_round_21_the_reset_sets_no_trait_through_traitlets_and_traitlets_tables_are_kept(kernel):
    """Round 21 (3 ways, no false alarm; the third is in GRADING.md's Not fixed): the reset bound the shell's plain
    lists and parts through traitlets' setter, which compares the old value (the student's, a list subclass whose
    ``__eq__`` put an AST transformer in that stripped the next test's asserts) with the new one; traitlets' class
    tables (``_all_trait_default_generators``: the generator of a trait value the student deleted ran inside the
    check). Both seen and put back with no student code run."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    ran = []
    liar = type("Liar", (list,), {"__eq__": lambda a, b: ran.append("eq") or True, "__hash__": None})
    generator = InteractiveShell._all_trait_default_generators["ast_transformers"]

    def generated():
        del shell._trait_values["ast_transformers"]
        InteractiveShell._all_trait_default_generators["ast_transformers"] = lambda self: ran.append("default") or []

    cases = {
        "InteractiveShell._all_trait_default_generators (traitlets' table)": generated,
        "InteractiveShell.ast_transformers (a trait)": lambda: shell._trait_values.pop("ast_transformers"),
        # set as traitlets' own setter does, without its old == new (which would run ``__eq__`` here)
        "IPython's input transformers": lambda: shell._trait_values.__setitem__("ast_transformers", liar()),
    }
    try:
        _each_seen_and_put_back(snap, kernel, cases, ran)
        assert type(shell.ast_transformers) is list
        assert InteractiveShell._all_trait_default_generators["ast_transformers"] is generator
    finally:
        snap.restore(kernel)
    assert snap.changed(kernel) == [] and not ran


def test_round_22_nothing_the_student_left_runs_in_the_check_or_the_reset(kernel):
    """Round 22 (5 ways, no false alarm), each seen and put back with no student code run by the check or the reset:
    a fake ``sys.modules["torch"]``, whose ``_C`` the check read; a gc callback, run by a collection inside the
    check; a trace or profile function, called for every frame of the check; the shell's compiler swapped, whose
    ``flags`` the check read; and, in the reset, ``isinstance`` on a value the student put on the shell (its
    ``__class__`` property ran). Also: a registry entry for a class the snapshot does not keep, but which is no
    class made since (``np.float64`` in ``copy``'s dispatch table)."""
    import copy
    import gc
    import sys

    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    ran = []
    grader_frames = ("put_back_dict", "signal_handlers", "screen", "class_changes", "same_items", "acts")

    def inside(frame) -> bool:  # in the check or the reset, past its first line
        while frame is not None:
            if frame.f_code.co_name in grader_frames:
                return True
            frame = frame.f_back
        return False

    fake = type("Fake", (), {"_C": property(lambda s: ran.append("torch._C") or torch._C)})()
    compiler = type("Compiler", (), {"flags": property(lambda s: ran.append("flags") or 0)})()
    threshold = gc.get_threshold()

    def collected():
        gc.callbacks.append(lambda *a: inside(sys._getframe()) and ran.append("gc"))
        gc.set_threshold(1)

    def tracer(frame, event, arg):
        if event == "call" and inside(frame):
            ran.append("trace")

    cases = {
        "sys.modules['torch']": lambda: sys.modules.__setitem__("torch", fake),
        "gc.callbacks": collected,
        "a trace or profile function": lambda: sys.settrace(tracer),
        "the shell's compile": lambda: vars(shell).__setitem__("compile", compiler),
        "a library's registry (its KL table, global hooks...)":  # a class of the snapshot's, though none it keeps
            lambda: copy._deepcopy_dispatch.__setitem__(np.float64, lambda x, memo: np.float64(1.0)),
    }
    try:
        _each_seen_and_put_back(snap, kernel, cases, ran)
        gc.set_threshold(*threshold)
        sys.setprofile(tracer)
        assert "a trace or profile function" in snap.changed(kernel) and sys.getprofile() is None and not ran
        shell.my_notes = type("Sneaky", (), {"__class__": property(lambda s: ran.append("class") or list)})()
        snap.restore(kernel)  # a value of the student's on the shell: kept, unread
        assert not ran and snap.changed(kernel) == [] and not ran
        del shell.my_notes
        assert sys.modules["torch"] is torch and gc.callbacks == [] and shell.compile.flags == snap.compile_flags
        assert np.float64 not in copy._deepcopy_dispatch and gc.isenabled()
    finally:
        sys.settrace(None)
        sys.setprofile(None)
        gc.set_threshold(*threshold)
        snap.restore(kernel)
    assert snap.changed(kernel) == [] and not ran


def test_round_23_an_import_hook_added_during_a_test_is_put_back_unreported(kernel):
    """Round 23's false alarm: a library imported during a test adds an import hook (six's meta-path importer);
    the check does not report it, and the reset takes it out."""
    import sys

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    finder = type("SixLikeImporter", (), {"find_spec": lambda self, name, path=None, target=None: None})()
    try:
        sys.meta_path.append(finder)
        assert snap.changed(kernel) == []
        snap.restore(kernel)
        assert finder not in sys.meta_path and snap.changed(kernel) == []
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        snap.restore(kernel)


def test_round_23_what_the_check_and_the_reset_take_out_lives_till_the_verdict_is_sent(kernel):
    """Round 23's way: a finaliser of the student's ran when the check dropped its object (a value it had added to
    builtins), inside the check, where it undid the patch and emptied the findings. Every value of the student's
    the check and the reset take out is now kept alive (``grader.graveyard``) until ``release``, which the kernel
    calls once the verdict is sent: no finaliser runs inside them, and each runs on release (so each was taken
    out, and let go). Also the two attacks: an eraser in builtins, and an import hook (put back unreported) whose
    finaliser takes a patch back before the check looks at it."""
    import builtins
    import copy
    import gc
    import json
    import signal
    import sys

    import torch.distributions as dist
    from torch.overrides import TorchFunctionMode

    from grader import graveyard

    shell = kernel.shell
    died, ran = [], []

    class Mortal:
        def __init__(self, tag):
            self.tag, self.flags = tag, 0

        def __del__(self):
            died.append(self.tag)

        def find_spec(self, *a):
            return None

    class MortalMode(Mortal, TorchFunctionMode):
        pass

    def doomed(tag):  # a function that only the place it is put in holds: its default dies with it
        def f(*a, _m=Mortal(tag), **k):
            return None
        return f

    def plant_tensor():
        t = torch.zeros(1)
        t.double = doomed("a tensor's own attribute")
        shell.user_ns["t_grave"] = t

    def push_mode():
        MortalMode("a torch function mode").__enter__()

    mean = vars(dist.Normal)["mean"]
    old = (math.hypot, json.JSONEncoder.encode, sys.excepthook, signal.getsignal(signal.SIGUSR1), mean.fget,
           copy._deepcopy_dispatch[int], kernel.session, vars(shell)["compile"], dict(json.dump.__kwdefaults__))
    plants = {
        "builtins": lambda: setattr(builtins, "_grave", doomed("builtins")),
        "a module global": lambda: setattr(math, "hypot", doomed("a module global")),
        "a class method": lambda: setattr(json.JSONEncoder, "encode", doomed("a class method")),
        "an import hook": lambda: sys.meta_path.append(Mortal("an import hook")),
        "a gc callback": lambda: gc.callbacks.append(doomed("a gc callback")),
        "a trace function": lambda: sys.settrace(doomed("a trace function")),
        "a signal handler": lambda: signal.signal(signal.SIGUSR1, doomed("a signal handler")),
        "a shell part": lambda: vars(shell).__setitem__("compile", Mortal("a shell part")),
        "a kernel part": lambda: setattr(kernel, "session", Mortal("a kernel part")),
        "a registry entry": lambda: copy._deepcopy_dispatch.__setitem__(int, doomed("a registry entry")),
        "a property's getter": lambda: property.__init__(mean, doomed("a property's getter")),
        "a function's attribute": lambda: setattr(json.dumps, "_grave", doomed("a function's attribute")),
        "a keyword default": lambda: json.dump.__kwdefaults__.__setitem__("cls", doomed("a keyword default")),
        "a notebook name": lambda: shell.user_ns.__setitem__("len", doomed("a notebook name")),
        "an event callback": lambda: shell.events.callbacks["post_run_cell"].append(doomed("an event callback")),
        "a sys hook": lambda: setattr(sys, "excepthook", doomed("a sys hook")),
        "a kernel handler": lambda: kernel.shell_handlers.__setitem__("grave", doomed("a kernel handler")),
        "a tensor's own attribute": plant_tensor,
        "a torch function mode": push_mode,
    }
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    graveyard.release()
    try:
        for plant in plants.values():
            plant()
        assert snap.changed(kernel) != [] and died == []  # the check takes out what it would call
        snap.restore(kernel)
        assert died == []
        graveyard.release()  # the kernel's, once the verdict is sent
        assert sorted(died) == sorted(plants)
        assert snap.changed(kernel) == []

        class Eraser:  # the round's way
            def __del__(self):
                ran.append("eraser")
                math.hypot = old[0]
                frame = sys._getframe()
                while frame is not None:
                    for name in ("out", "patched"):
                        if type(frame.f_locals.get(name)) is list:
                            frame.f_locals[name].clear()
                    frame = frame.f_back

        class Unhook(Mortal):  # an import hook is put back unreported: its finaliser takes the patch back first
            def __del__(self):
                ran.append("unhook")
                math.hypot = old[0]

        for name, plant in (("builtins._grave", lambda: setattr(builtins, "_grave", Eraser())),
                            ("sys.meta_path", lambda: sys.meta_path.append(Unhook("unhook")))):
            ran.clear()
            plant()
            math.hypot = lambda *a: 0.0
            found = snap.changed(kernel)
            assert "math.hypot" in found and not ran, (name, found, ran)
            snap.restore(kernel)
            assert not ran
            graveyard.release()
            assert len(ran) == 1 and math.hypot is old[0]
    finally:
        sys.settrace(None)
        for obj, name, value in ((math, "hypot", old[0]), (json.JSONEncoder, "encode", old[1]),
                                 (sys, "excepthook", old[2]), (kernel, "session", old[6])):
            setattr(obj, name, value)
        signal.signal(signal.SIGUSR1, old[3])
        property.__init__(mean, old[4])
        copy._deepcopy_dispatch[int] = old[5]
        vars(shell)["compile"] = old[7]
        json.dump.__kwdefaults__.update(old[8])
        snap.restore(kernel)
        graveyard.release()
    assert snap.changed(kernel) == []


def test_round_21_torch_testings_default_tolerances_are_a_registry(kernel):
    """Round 21's third way, listed as not fixed till a session later: ``assert_close``'s table of default
    tolerances changed in place (``(1e30, 1e30)`` for float32 accepts any tensors). The table, keyed by torch's
    dtypes (a built-in type's objects: hashed and compared in C), is now one of the registries: an entry replaced
    counts and is put back; an honest ``assert_close`` changes nothing, and the reset keeps every entry."""
    from torch.testing._comparison import _DTYPE_PRECISIONS as table

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    saved = dict(table)
    try:
        torch.testing.assert_close(torch.ones(3), torch.ones(3) + 1e-7)
        assert snap.changed(kernel) == [] and table == saved
        snap.restore(kernel)
        assert table == saved and len(table) == 12
        table[torch.float32] = (1e30, 1e30)
        torch.testing.assert_close(torch.zeros(3), torch.ones(3))  # the way: any tensors are close
        assert snap.changed(kernel) == ["a library's registry (its KL table, global hooks...)"]
        snap.restore(kernel)
        assert table == saved
        with pytest.raises(AssertionError):
            torch.testing.assert_close(torch.zeros(3), torch.ones(3))
    finally:
        table.clear()
        table.update(saved)
        snap.restore(kernel)


def test_round_24_keys_hashing_what_they_hold_subclass_mros_and_what_the_graveyard_missed(kernel):
    """Round 24 (a review of round 23's fixes: 6 ways, no false alarm), each seen with no student code run inside
    the check or the reset: a registry key of a built-in type that hashes what it holds (a bound method, a weak
    reference, a generic alias: only identity-hashed built-ins pass ``safe_key`` now); a library class's bases put
    back while a class below it has a metaclass with an ``mro()`` of the student's (it would run: now only reported);
    and four values taken out but not kept (a real notebook value a swapped namespace overwrites, a tensor's own
    dict that is a dict subclass, a value added to the grader's own class, a library wrapper's own dict). Also (a
    fresh read): an entry added to ``assert_close``'s tolerances for a dtype the table lacks."""
    import argparse
    import gc
    import functools
    import weakref

    from matplotlib import mlab
    from torch.testing._comparison import _DTYPE_PRECISIONS as tolerances

    from grader import graveyard
    from grader.hooks import Stuck, put_back_class_dicts
    from grader.inventory import _TYPE_DICT

    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    graveyard.release()
    ran, died = [], []

    class Spy:
        def __call__(self, *a):
            return None

        def __hash__(self):
            ran.append("hash")
            return 1

        def __eq__(self, other):
            ran.append("eq")
            return self is other

    class Mortal:
        def __init__(self, tag):
            self.tag = tag

        def __del__(self):
            died.append(self.tag)

    class MortalDict(dict):
        def __del__(self):
            died.append("a tensor's dict")

    class Meta(type):
        def mro(cls):
            ran.append("mro")
            return type.mro(cls)

    bases, saved = argparse.Namespace.__bases__, dict(tolerances)
    own = {_Snapshot: dict(_TYPE_DICT(_Snapshot))}  # as the kernel keeps its own classes' dicts
    spy = Spy()
    try:
        for key in (types.MethodType(spy, 0), weakref.ref(spy), list[spy]):  # hashing each hashes spy
            tolerances[key] = (1e30, 1e30)
            ran.clear()  # (the line above hashed it)
            assert snap.changed(kernel) == ["a library's registry (its KL table, global hooks...)"] and not ran
            snap.restore(kernel)
            assert not ran and snap.changed(kernel) == [] and tolerances == saved
        tolerances[torch.int64] = (1e30, 1e30)  # a dtype the table lacks: any two int64 tensors were close
        assert snap.changed(kernel) == ["a library's registry (its KL table, global hooks...)"]
        snap.restore(kernel)
        assert tolerances == saved

        sub = Meta("Sub", (argparse.Namespace,), {})
        argparse.Namespace.__bases__ += (type("Mixin", (), {}),)
        ran.clear()  # (the line above ran Meta.mro)
        for step in (snap.changed, snap.restore):  # each stops there (round 26): the kernel signs no test from now on
            with pytest.raises(Stuck):
                step(kernel)
            assert not ran
        argparse.Namespace.__bases__ = bases
        del sub
        gc.collect()  # (a class made with it stays below Namespace until collected)

        shell.user_ns["victim"] = Mortal("a notebook value")
        fake = dict(shell.user_ns)
        fake["victim"] = 0
        shell.user_ns = fake
        t = torch.zeros(1)
        t.__dict__ = MortalDict()
        shell.user_ns["weights"] = t
        del t
        _Snapshot._grave = Mortal("the grader's class")
        cm = vars(torch.nn.modules.module._IncompatibleKeys.__mro__[1])["_make"]
        cm_was = cm.__func__
        classmethod.__init__(cm, lambda cls, it: None)
        cm.__doc__ = Mortal("a wrapper's own dict")
        p = mlab.complex_spectrum
        p_was = p.__reduce__()[2]
        p.__setstate__((p_was[0], p_was[1] + (None,), p_was[2], {"grave": Mortal("a partial's own dict")}))
        found = put_back_class_dicts(own) + snap.changed(kernel)
        assert "_Snapshot._grave" in found and "a classmethod of a library's, changed in place" in found
        assert "a partial of a library's, changed in place" in found and not died
        snap.restore(kernel)
        assert not died and shell.user_ns["victim"] == 0 and cm.__func__ is cm_was
        graveyard.release()
        assert sorted(died) == sorted(["a notebook value", "a tensor's dict", "the grader's class",
                                       "a wrapper's own dict", "a partial's own dict"])
        assert snap.changed(kernel) == []
    finally:
        argparse.Namespace.__bases__ = bases
        tolerances.clear()
        tolerances.update(saved)
        shell.user_ns.pop("victim", None)
        shell.user_ns.pop("weights", None)
        snap.restore(kernel)
        graveyard.release()
    assert snap.changed(kernel) == []
    assert isinstance(p, functools.partial)


def test_round_25_putting_a_class_back_runs_nothing_of_the_students(kernel):
    """Round 25 (a review of round 24's fixes: 4 ways, no false alarm), each seen with no student code run inside
    the check or the reset: putting a dunder back on a kept class updates its slot in every class below it, whose
    dict a key that is no str can answer for (a class the student made below it, or below the grader's own
    ``_Snapshot``), or above it (found by a fresh read); putting bases back does too (round 24 looked only at
    metaclasses' ``mro()``); type's setattr
    goes through the data descriptors of the class's metaclass, which the student had swapped (``numbers.Complex``);
    and ``_testinternalcapi.set_config``, which the reset calls when asserts were switched off, rebinds ``sys.argv``
    (and more) without the graveyard keeping what it held. Where such a class must be put back, the check and the
    reset now stop there (``Stuck``, round 26: reported only, the kernel still read objects through it), and the
    kernel signs nothing from then on (the grader's own classes: ``(not put back)``, the same)."""
    import abc
    import argparse
    import gc
    import numbers
    import sys

    import _testinternalcapi

    from grader import graveyard
    from grader.hooks import Stuck, put_back_class_dicts
    from grader.inventory import _TYPE_DICT

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    graveyard.release()
    ran, died = [], []

    def odd_key(name):  # a key that hashes like ``name`` and runs the student's code when compared with it
        return type("Key", (), {"__hash__": lambda k: hash(name), "__eq__": lambda k, o: ran.append(name) or False})()

    class EvilMeta(abc.ABCMeta):
        conjugate = property(lambda cls: 0, lambda cls, v: ran.append("descriptor"))

    class Mortal:
        def __del__(self):
            died.append("sys.argv")

    bases, conjugate = argparse.Namespace.__bases__, vars(numbers.Complex)["conjugate"]
    own = {_Snapshot: dict(_TYPE_DICT(_Snapshot))}
    below = [type("Below", (argparse.Namespace,), {odd_key("__repr__"): 1, odd_key("__getattribute__"): 2}),
             type("BelowOwn", (_Snapshot,), {odd_key("__repr__"): 1})]
    def stops(step) -> None:  # the step stops where it meets such a class, running nothing of the student's
        ran.clear()
        with pytest.raises(Stuck):
            step(kernel)
        assert not ran

    try:
        argparse.Namespace.__repr__ = lambda self: "x"
        _Snapshot.__repr__ = lambda self: "x"
        ran.clear()  # (the two lines above compared the keys themselves)
        assert put_back_class_dicts(own) == ["_Snapshot (not put back)"] and not ran
        stops(snap.changed)
        stops(snap.restore)
        del argparse.Namespace.__repr__, _Snapshot.__repr__
        argparse.Namespace.__bases__ += (type("Mixin", (), {}),)
        stops(snap.changed)
        argparse.Namespace.__bases__ = bases
        below.clear()
        gc.collect()
        argparse.Namespace.__bases__ += (type("Above", (), {odd_key("__lt__"): 1}),)  # a class slipped in above
        argparse.Namespace.__eq__ = lambda self, other: True  # its slot update looks up __lt__ and the rest
        stops(snap.changed)
        del argparse.Namespace.__eq__
        argparse.Namespace.__bases__ = bases
        ran.clear()  # (the lines above compared the keys)

        numbers.Complex.conjugate = lambda self: 0
        numbers.Complex.__class__ = EvilMeta
        stops(snap.changed)
        stops(snap.restore)
        numbers.Complex.__class__ = abc.ABCMeta
        snap.restore(kernel)  # the metaclass is the snapshot's again: the method goes back
        assert not ran and snap.changed(kernel) == [] and vars(numbers.Complex)["conjugate"] is conjugate

        before = dict(vars(sys))  # set_config rebinds sys.path, sys.executable...: this process's put back below
        config = _testinternalcapi.get_config()
        config["optimization_level"] = 1  # asserts off: the reset switches them on with set_config
        _testinternalcapi.set_config(config)
        sys.argv.append(Mortal())
        snap.restore(kernel)
        assert not died and _testinternalcapi.get_config()["optimization_level"] == 0
        graveyard.release()
        assert died == ["sys.argv"]
    finally:
        if "before" in locals():
            vars(sys).update((k, v) for k, v in before.items() if vars(sys).get(k) is not v)
        below.clear()
        for c in (argparse.Namespace, _Snapshot):
            if "__repr__" in vars(c):
                delattr(c, "__repr__")
        argparse.Namespace.__bases__ = bases
        if type(numbers.Complex) is not abc.ABCMeta:
            numbers.Complex.__class__ = abc.ABCMeta
        type.__setattr__(numbers.Complex, "conjugate", conjugate)
        gc.collect()
        snap.restore(kernel)
        graveyard.release()
    assert snap.changed(kernel) == []


def test_round_26_a_cache_is_compared_with_its_saved_table_and_a_class_not_put_back_stops_the_check(kernel):
    """Round 26 (2 ways, no false alarm), each with no student code run inside the check or the reset: torch's KL
    cache was compared with the KL table its module binds now (a dict subclass of the student's, whose
    ``__contains__`` ran; now the very table saved, and only while its keys hash in C); and a class that could not
    be put back safely (round 25: only reported) stayed patched while the check read objects through it
    (``InteractiveShell.__getattribute__``, with a class below whose metaclass has an ``mro()``): the check and the
    reset now stop there (``Stuck``), and the kernel signs no test from then on."""
    import gc

    import torch.distributions as dist
    import torch.distributions.kl as kl
    from IPython.core.interactiveshell import InteractiveShell

    from grader import graveyard
    from grader.hooks import Stuck

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    graveyard.release()
    ran, below = [], []
    table = kl._KL_REGISTRY

    class Table(dict):
        def __contains__(self, k):
            ran.append("contains")
            return dict.__contains__(self, k)

        def values(self):
            ran.append("values")
            return dict.values(self)

    class Meta(type(InteractiveShell)):
        def mro(cls):
            return super().mro()

    try:
        dist.kl_divergence(dist.Normal(0.0, 1.0), dist.Normal(0.0, 1.0))  # the cache holds (Normal, Normal)
        kl._KL_REGISTRY = Table(table)
        ran.clear()
        assert snap.changed(kernel) == ["a library's registry (its KL table, global hooks...)"] and not ran
        snap.restore(kernel)
        assert not ran and kl._KL_REGISTRY is table and snap.changed(kernel) == []

        below.append(Meta("Below", (InteractiveShell,), {}))
        InteractiveShell.__getattribute__ = lambda self, name: ran.append(name) or object.__getattribute__(self, name)
        ran.clear()
        for step in (snap.changed, snap.restore):
            with pytest.raises(Stuck):
                step(kernel)
            assert not ran
        del InteractiveShell.__getattribute__
        below.clear()
        gc.collect()
        ran.clear()
        snap.restore(kernel)
        assert not ran and snap.changed(kernel) == []
    finally:
        kl._KL_REGISTRY = table
        if "__getattribute__" in vars(InteractiveShell):
            del InteractiveShell.__getattribute__
        below.clear()
        gc.collect()
        snap.restore(kernel)
        graveyard.release()
    assert snap.changed(kernel) == []


def test_round_29_what_ipython_writes_to_as_a_cell_starts_is_put_back_and_reported(kernel):
    """Round 29: a dict subclass as the shell's compiler's ``_filename_map`` (IPython writes to it as each cell starts,
    after the reset) ran the student's code between the reset and the test, as would one as ``linecache.cache``; the
    reset puts back an attribute of the objects that run a cell whose value's type changed, and ``linecache.cache``,
    and the check reports both. End to end: ``mallory_filename_map`` in tests/test_homework.py."""
    import linecache

    from grader import graveyard

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    graveyard.release()
    compiler, lines = kernel.shell.compile, linecache.cache
    ran = []

    class Spy(dict):
        def __setitem__(self, k, v):
            ran.append(k)
            dict.__setitem__(self, k, v)

    try:
        compiler._filename_map, linecache.cache = Spy(compiler._filename_map), Spy(lines)
        found = snap.changed(kernel)
        assert "linecache.cache" in found and any(f.endswith("._filename_map (on the object)") for f in found), found
        linecache.cache = Spy(lines)
        compiler._filename_map = Spy(compiler._filename_map)
        snap.restore(kernel)
        assert type(compiler._filename_map) is dict and linecache.cache is lines
        compiler.cache("x = 1\n")  # what IPython does as a cell starts: nothing of the student's runs
        assert not ran, ran
    finally:
        linecache.cache = lines
        graveyard.release()


def test_round_27_no_builtin_is_looked_up_before_the_check_puts_them_back_and_the_graders_tables_are_read_only():
    """Round 27 (3 ways, no false alarm): after a test, before the check's first step puts builtins back, the
    kernel looked builtins up by name (``any`` in its check of its own globals, ``bool`` for the stuck verdict,
    when no check runs at all, ``set`` in ``runs_code``; ``len`` before the reset too): a builtin patched during
    the test ran there and put the patches back. And a dict of the grader's own (``contents._FUNC``), changed in
    place, ran the student's function inside the check: its module still bound the same dict, so the check of the
    grader's globals saw nothing. Walked here: every function the kernel runs from ``do_execute`` through its
    closure, defaults and the grader's globals, up to the reset and the check (each puts builtins back first).
    End to end: ``mallory_any``, ``mallory_bool``, ``mallory_table`` in tests/test_homework.py."""
    import builtins
    import dis
    import logging
    import sys

    import grader.grading_kernel as gk
    from grader import contents, graveyard

    # describe formats a failed test's error, after the verdict (traceback's code looks builtins up; no check follows)
    after = [c.cell_contents for c in gk.GradingKernel.do_execute.__closure__
             if getattr(c.cell_contents, "__name__", None) == "describe"]
    assert len(after) == 1
    stop = (_Snapshot.restore, _Snapshot.changed, *after)
    seen, todo, looked_up = {}, [gk.GradingKernel.do_execute], {}
    while todo:
        f = todo.pop()
        if any(f is g for g in stop) or id(f) in seen:
            continue
        seen[id(f)] = f.__qualname__
        held = [c.cell_contents for c in f.__closure__ or () if c.cell_contents is not None]
        held += [*(f.__defaults__ or ()), *(f.__kwdefaults__ or {}).values()]
        todo += [v for v in held if isinstance(v, types.FunctionType)]
        codes = [f.__code__]
        while codes:
            code = codes.pop()
            codes += [k for k in code.co_consts if isinstance(k, types.CodeType)]
            for ins in dis.get_instructions(code):
                if ins.opname not in ("LOAD_GLOBAL", "LOAD_NAME"):
                    continue
                v = f.__globals__.get(ins.argval)
                if ins.argval not in f.__globals__ and ins.argval in vars(builtins):
                    looked_up.setdefault(f.__qualname__, set()).add(ins.argval)
                elif isinstance(v, types.FunctionType) and v.__module__.startswith("grader."):
                    todo.append(v)
    walked = set(seen.values())
    assert {"put_back_dict", "put_back_class_dicts", "runs_code", "odd_keys", "keep_items", "release"} <= walked, walked
    assert not looked_up, f"builtins looked up by name before the check puts them back: {looked_up}"

    mutable = (dict, list, set, bytearray, types.MappingProxyType)  # a proxy hands its dict to the other side's __eq__
    by_design = {id(graveyard.DROPPED), id(sys.modules), id(sys.__dict__), id(vars(builtins)), id(vars(logging))}
    modules = (gk, *gk.OWN_MODULES)
    funcs = [v for m in modules for v in vars(m).values() if isinstance(v, types.FunctionType)]
    funcs += [f for c in (_Snapshot, gk.GradingKernel) for f in vars(c).values() if isinstance(f, types.FunctionType)]
    tables = [f"{m.__name__}.{k}" for m in modules for k, v in vars(m).items()
              if not k.startswith("__") and isinstance(v, mutable) and id(v) not in by_design]
    tables += [f"a default of {f.__module__}.{f.__qualname__}" for f in funcs
               for v in (*(f.__defaults__ or ()), *(f.__kwdefaults__ or {}).values())
               if isinstance(v, mutable) and id(v) not in by_design]
    assert not tables, f"the grader's own tables a submission can change in place: {tables}"
    got = []
    grab = type("Grab", (), {"__eq__": lambda self, other: got.append(other) or False, "__hash__": None})()
    assert not contents._FUNC == grab and type(got[0]) is tuple  # what comparing hands out: the table itself
    with pytest.raises(TypeError):
        contents._FUNC[staticmethod] = print


def test_an_extension_loaded_during_a_test_counts_and_one_loaded_before_it_is_switched_off(kernel):
    """GRADING.md's known false alarm: ``%load_ext autoreload`` in a function a test calls adds IPython event
    callbacks, which count; loaded in a cell of its own (before the reset) it costs nothing, but the reset takes
    its callbacks away."""
    shell = kernel.shell
    snap = _Snapshot(kernel)
    snap.restore(kernel)
    before = {k: list(v) for k, v in shell.events.callbacks.items()}
    try:
        shell.run_line_magic("load_ext", "autoreload")  # a cell of its own, before the next test
        assert any(shell.events.callbacks[k] != v for k, v in before.items())
        snap.restore(kernel)  # the reset before the test
        assert snap.changed(kernel) == [] and shell.events.callbacks == before
        shell.run_line_magic("reload_ext", "autoreload")  # during the test
        assert "IPython's event callbacks" in snap.changed(kernel)
    finally:
        shell.extension_manager.unload_extension("autoreload")
        snap.restore(kernel)
    assert snap.changed(kernel) == []


def test_a_kernel_registered_for_a_torch_operator_is_seen(kernel):
    """Red team, round 4: torch.library can make torch.allclose answer True; the check names the op."""
    snap = _Snapshot(kernel)
    lib = torch.library.Library("aten", "IMPL")
    try:
        lib.impl("allclose", lambda *a, **k: True, "CPU")
        assert torch.allclose(torch.zeros(2), torch.ones(2))
        assert "torch's kernels of aten::allclose" in snap.changed(kernel)
    finally:
        lib._destroy()
    assert not torch.allclose(torch.zeros(2), torch.ones(2)) and snap.changed(kernel) == []


def test_the_audit_hook_refuses_code_swaps_and_gc_walks_but_lets_refusing_work():
    """Installed in a process of its own (an audit hook cannot be removed): a function's code or
    defaults swapped in place, the garbage collector's graph and a trace or profile function (round 28: one can jump
    past a failing assert and take itself off) are refused, but the protected functions may take them off; the
    hidden tests' ``refusing`` still switches a function off and back on."""
    import subprocess
    import sys

    code = """
import gc
from grader import guard
from helpers.notebook.grading import refusing  # the name notebooks use
def victim(x=1): return x
def mine(): pass
def off(): sys.settrace(None); sys.setprofile(None)
import sys, types; allowed, shapes = guard.allowed_codes()
sys.addaudithook(guard.audit_hook([mine, off], allowed, [f for f in gc.get_objects() if type(f) is types.FunctionType], shapes))
import collections; collections.namedtuple("Fresh", "a b", defaults=(1,))  # a new function's defaults: free
with refusing([victim], "off"):
    try: victim(); print("not refused")
    except AssertionError: print("refusing: off")
print("back:", victim())
for stmt in ("victim.__code__ = mine.__code__", "victim.__defaults__ = (2,)", "gc.get_referents(victim)",
             "mine.__code__ = mine.__code__", "import builtins; builtins.any = lambda *a: True; victim.__code__ = mine.__code__"):
    try: exec(stmt); print("allowed:", stmt)
    except RuntimeError: print("refused")
def trace(frame, event, arg):  # round 5: refusing's frame made to put back other code than it took
    if frame.f_code is refusing.__wrapped__.__code__ and "saved" in frame.f_locals:
        frame.f_locals["saved"] = (mine.__code__,)
    return trace
for set_ in (sys.settrace, sys.setprofile):  # round 28: no trace or profile function at all
    try: set_(trace); print("allowed:", set_.__name__)
    except RuntimeError: print("refused")
off(); print("taken off by a protected function")
print("victim is not mine:", victim.__code__ is not mine.__code__)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:10] == ["refusing: off", "back: 1"] + ["refused"] * 7 + ["taken off by a protected function"], out
    assert out[10] == "victim is not mine: True", out


def test_a_kernel_message_part_with_too_many_json_objects_is_not_parsed():
    """Red team, round 4: a 48 MB part of '{},' took 1.5 GB to parse; it is refused unread."""
    import json

    from grader.connect import MAX_JSON_CONTAINERS, _few_containers

    unpack = _few_containers(json.loads)
    assert unpack(b'{"name": "stdout", "text": "x"}') == {"name": "stdout", "text": "x"}
    with pytest.raises(ValueError, match="JSON objects and arrays: not read"):
        unpack(b"[" + b"{}," * MAX_JSON_CONTAINERS + b"{}]")


def test_the_csv_and_the_teachers_copy_take_hostile_text():
    """A lone surrogate (the CSV could not be written: no grades.csv for the whole class) and a
    markdown link to a script (bleach sees markdown; the renderer made an <a href="javascript:...">)."""
    from grader.submissions import _as_text, csv_cell

    assert csv_cell("patched: \ud800") == "patched: ?" and csv_cell("=1+1") == "'=1+1"
    for md in ("[x](javascript:alert(1))", "[x](java&#115;cript:alert(1))", "<JaVa\tScRiPt:alert(1)>",
               "[x](javascript\\:alert(1))"):  # round 6: markdown's backslash escape
        assert _as_text(md).startswith("*(shown as text by the grader") and "\n    " in _as_text(md)
    assert _as_text("**Data:** [a link](https://example.org)") == "**Data:** [a link](https://example.org)"


def test_the_signature_binds_the_key_the_nonce_and_the_test():
    s = signature("k" * 64, "n1", "assert x == 1")
    assert s == signature("k" * 64, "n1", "assert x == 1") and len(s) == 64
    assert len({s, signature("j" * 64, "n1", "assert x == 1"), signature("k" * 64, "n2", "assert x == 1"),
                signature("k" * 64, "n1", "pass")}) == 4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["00_introduction", "01_component_by_component", "07_elbo"])
def test_the_teachers_own_answers_earn_every_point_in_the_sandbox(name, sandbox, pokemon_dir, tmp_path):
    """The check after each test must not take a right answer's points for what a library does by
    itself (torch hooks optimizer classes and wraps its functions as it goes): the teacher's notebook,
    handed in as it is, earns every test's points (01's last test makes optimizers, which torch hooks)."""
    import nbformat

    from grader.grading import grade_notebook
    from grader.homework import NOTEBOOKS
    from grader.sandbox import Limits
    from grader.submissions import Status

    teacher = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    folder = tmp_path / "s"
    folder.mkdir()
    nbformat.write(teacher, folder / f"{name}.ipynb")
    # in a worker thread, as autograde runs it: the session's Playwright browser runs a loop here (conftest.browser)
    with ThreadPoolExecutor(max_workers=1) as pool:
        rows = pool.submit(grade_notebook, "s", name, folder, teacher, timeout=300, limits=Limits(), sandbox=True,
                           work=tmp_path, autograded=tmp_path / "out.ipynb").result()
    tests = [r for r in rows if r.status is not Status.NEEDS_MANUAL_GRADE]
    assert tests and all(r.status is Status.PASSED for r in tests), [(r.exercise, r.reason) for r in tests]
