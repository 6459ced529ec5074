"""What the grading kernel (grader.grading_kernel) takes in before any student code runs: its
resource limits, the function-like types its snapshot keeps, every class the loaded modules
define, and where the big libraries live. Nothing here is called once student code runs."""

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
