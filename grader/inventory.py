"""What the grading kernel (grader.grading_kernel) takes in before any student code runs (its
resource limits, the function-like types its snapshot keeps, every class the loaded modules
define, where the big libraries live), and the small tests its check after a test uses. The
kernel imports each by name, so rebinding one here changes nothing there, and its audit hook
refuses a change to their code."""

from __future__ import annotations

import os
import resource
import sys
import types

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


def func_types() -> tuple:
    """The function-like types the reset keeps: numpy's ufuncs (np.abs) and dispatchers (np.allclose) too."""
    np = sys.modules.get("numpy")
    return _FUNCS + ((type(np.abs), type(np.allclose)) if np is not None else ())


def module_classes(modules: dict) -> list[type]:
    """Every class defined in a loaded module (found without touching lazy or deprecated attributes)."""
    out = []
    for name, m in modules.items():
        try:
            values = list(vars(m).values()) if isinstance(m, types.ModuleType) else []
        except TypeError:
            continue
        out += [v for v in values if issubclass(type(v), type) and vars(v).get("__module__") == name]
    return out


def library_dirs() -> tuple:
    """Where the big libraries live: code from there may wrap their own functions as they run."""
    dirs = []
    for name in ("torch", "numpy", "scipy", "sklearn", "matplotlib"):
        f = getattr(sys.modules.get(name), "__file__", None)
        if f:
            dirs.append(os.path.dirname(f) + os.sep)
    return tuple(dirs)


# The tests below run after student code: everything they use besides builtins (which the check puts
# back first) is bound as a default argument, which the kernel's audit hook keeps from being changed.
def same(a, b, _method=types.MethodType) -> bool:
    """The same object, or the same method bound to the same object (each binding makes a new one)."""
    return a is b or (isinstance(a, _method) and isinstance(b, _method)
                      and a.__func__ is b.__func__ and a.__self__ is b.__self__)


def same_items(a, b, _same=same) -> bool:
    """Two sequences of the same objects (a bound method counts as the same when rebound), by identity:
    an object whose __eq__ always says yes cannot stand in for another."""
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


def rebound(obj, name: str, value, _method=types.MethodType) -> bool:
    """``value`` is the class's own method ``name`` bound to ``obj``, stored on it."""
    return isinstance(value, _method) and value.__self__ is obj and value.__func__ is getattr(type(obj), name, None)


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # an empty cell
        return False
    return True


def wraps(dirs: tuple, old, new, _filled=_filled) -> bool:
    """``new`` is a library's own wrapper around ``old``, not a patch: its code lives in the library
    and it holds ``old`` (``__wrapped__`` or its closure). torch hooks an optimizer class's step when
    it makes the first optimizer of that class, wraps torch.manual_seed when its compiler is first
    imported and re-registers a cache's properties."""
    if isinstance(old, property) and isinstance(new, property):
        return all(f is None or getattr(f, "__code__", None) is not None and f.__code__.co_filename.startswith(dirs)
                   for f in (new.fget, new.fset, new.fdel))
    code = getattr(new, "__code__", None)
    if old is None or code is None or not code.co_filename.startswith(dirs):
        return False
    return getattr(new, "__wrapped__", None) is old or any(
        c.cell_contents is old for c in getattr(new, "__closure__", None) or () if _filled(c))


def asserts_on(exec_=exec, compile_=compile) -> bool:
    """Whether an assert compiled now still raises (``optimization_level`` can be set at run time)."""
    try:
        exec_(compile_("assert False", "<grader>", "exec"), {})
    except AssertionError:
        return True
    return False


def torch_modes(_modules=sys.modules) -> tuple[int, int]:
    """How many torch function and dispatch modes are active (a mode can answer torch.allclose)."""
    C = getattr(_modules.get("torch"), "_C", None)
    return (C._len_torch_function_stack(), C._len_torch_dispatch_stack()) if C is not None else (0, 0)
