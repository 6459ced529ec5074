"""Which code is a library's own (the grading kernel's check, grader.wrappers): where the big
libraries live, the code objects their modules define, the standard-library files their wrappers may
hold, and whether a code object is what its library file compiles to. Split out of grader.inventory;
like it, each function that runs after student code binds what it calls as defaults."""

from __future__ import annotations

import importlib
import os
import posix
import sys
import types


def library_dirs() -> tuple:
    """Where the big libraries live: code from there may wrap their own functions as they run."""
    dirs = []
    for name in ("torch", "numpy", "scipy", "sklearn", "matplotlib"):
        f = getattr(sys.modules.get(name), "__file__", None)
        if f:
            dirs.append(os.path.dirname(f) + os.sep)
    return tuple(dirs)


# Standard-library files whose code a library's wrapper may hold (dynamo's disable wrapper holds a
# contextlib.nullcontext), though no wrapper of theirs counts as a library's (contextlib.contextmanager(f)
# returns a truthy object for whatever f returns).
STDLIB_FILES = tuple(f for name in ("contextlib", "functools", "abc", "enum", "types", "typing", "weakref", "threading",
                                    "warnings", "dataclasses", "inspect", "copy", "collections", "operator", "numbers")
                     if isinstance(f := getattr(importlib.import_module(name), "__file__", None), str))


def library_codes(dirs: tuple, modules: dict, _types=types, _type=type, _vars=vars, _list=list,
                  _issubclass=issubclass, _isinstance=isinstance, _str=str) -> dict:
    """id -> code object of every function the library modules among ``modules`` define, their
    classes' methods and properties and the functions nested in them: the code a library's own
    wrapper can run. A code object made by compile() is never among them, whatever file name it claims."""
    values, stack, out = [], [], {}
    for name, m in _list(modules.items()):
        if not _isinstance(m, _types.ModuleType):
            continue
        try:
            d = _vars(m)
        except TypeError:
            continue
        f = d.get("__file__")
        if not _isinstance(f, _str) or not f.startswith(dirs):
            continue
        for v in _list(d.values()):
            values.append(v)
            if _issubclass(_type(v), type) and _vars(v).get("__module__") == name:
                values += _list(_vars(v).values())
    for v in values:
        t = _type(v)
        fs = ((v,) if t is _types.FunctionType else (v.__func__,) if t in (staticmethod, classmethod)
              else (v.fget, v.fset, v.fdel) if t is property else ())
        stack += [f.__code__ for f in fs if _type(f) is _types.FunctionType]
    while stack:
        c = stack.pop()
        if id(c) not in out:
            out[id(c)] = c
            stack += [k for k in c.co_consts if _type(k) is _types.CodeType]
    return out


_PLAIN = (str, bytes, int, float, complex, bool, type(None), type(Ellipsis), types.CodeType)

def plain_code(code, _type=type, _plain=_PLAIN, _tuple=tuple, _frozenset=frozenset, _any=any, _all=all) -> bool:
    """``code``'s names, file name and constants (nested code too) are of exact built-in types, so comparing it
    with another code object runs no one's ``__eq__``."""
    stack = [code]
    while stack:
        c = stack.pop()
        if _type(c) is _tuple or _type(c) is _frozenset:
            stack += c
            continue
        if not _any(_type(c) is t for t in _plain):
            return False
        if _type(c) is types.CodeType:
            names = (c.co_name, c.co_qualname, c.co_filename, *c.co_names, *c.co_varnames, *c.co_freevars, *c.co_cellvars)
            if not _all(_type(n) is str for n in names) or _type(c.co_code) is not bytes:
                return False
            stack += c.co_consts
    return True


def genuine(code, dirs: tuple, _open=open, _compile=compile, _type=type, _types=types,
            _normpath=posix._path_normpath) -> bool:  # C: os.path.normpath reads module values not yet put back
    """``code`` is what its library file compiles to (equal code: bytecode, constants, names): a module
    a library imports only after the snapshot, not code made by compile() under a library's file name."""
    if not plain_code(code):  # a str subclass as its name or a constant would run its __eq__ in the comparisons
        return False
    f = code.co_filename
    if not f.startswith(dirs) or _normpath(f) != f:  # '<torch dir>/../../tmp/mine.py' is no library file
        return False
    try:
        with _open(f, "rb") as fh:
            stack = [_compile(fh.read(), f, "exec", dont_inherit=True)]
    except (OSError, SyntaxError, ValueError):
        return False
    while stack:
        c = stack.pop()
        if c.co_name == code.co_name and c.co_firstlineno == code.co_firstlineno and c == code:  # consts too
            return True
        stack += [k for k in c.co_consts if _type(k) is _types.CodeType]
    return False


def warm_libraries(_modules=sys.modules) -> None:
    """Before the audit hook: scikit-learn's threadpool controller, made and used once (threadpoolctl looks the
    BLAS and OpenMP symbols up with ctypes, which the hook refuses; ctypes keeps what it found)."""
    ctl = getattr(_modules.get("sklearn.utils.parallel"), "_get_threadpool_controller", None)
    try:
        if ctl is not None:
            with ctl().limit(limits=1, user_api="blas"), ctl().limit(limits=1, user_api="openmp"):
                pass
    except Exception:  # noqa: BLE001 - no such library loaded: nothing to look up later either
        pass
