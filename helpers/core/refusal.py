"""For graded test cells: switch library functions off while a student's function runs.

Here, in the lowest layer, because the grading kernel (grader.guard) lets only ``refusing`` swap a
function's code; notebooks import it as ``helpers.notebook.grading.refusing``."""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator


@contextmanager
def refusing(functions: Iterable[Callable], message: str, namespace: dict | None = None) -> Iterator[None]:
    """While the block runs, each of ``functions`` raises AssertionError(message).

    A plain Python function (or one defined in a class body) refuses however it is reached: its code
    is swapped for a refusal, so a name imported under another alias, or a method called on any
    instance, refuses too. A compiled function (C or Cython: its code cannot be swapped) is replaced
    by a refusal under every name that holds it in a loaded module and in ``namespace`` (pass the
    notebook's ``globals()``: a name the student imported there); a reference kept elsewhere (a
    closure, a default argument) escapes. Everything is put back afterwards, also when the block raises."""
    space: dict = {}
    exec(f"def refusal(*args, **kwargs):\n    raise AssertionError({message!r})", space)
    refusal = space["refusal"]  # stands in for compiled functions, under their names
    plain, compiled = [], []
    for f in functions:
        (plain if isinstance(getattr(f, "__code__", None), types.CodeType) and _code_writable(f) else compiled).append(f)
    saved = tuple(f.__code__ for f in plain)  # a tuple: nothing to swap in place
    held: list[tuple[dict, str, object]] = []
    try:
        for f in plain:
            f.__code__ = _refusal_code(message, f.__code__.co_freevars)
        if compiled:
            dicts = [vars(m) for m in list(sys.modules.values()) if m is not None and hasattr(m, "__dict__")]
            for d in dicts + ([namespace] if namespace is not None else []):
                for key, value in list(d.items()):
                    if any(value is f for f in compiled):
                        held.append((d, key, value))
                        d[key] = refusal
        yield
    finally:
        for f, code in zip(plain, saved):
            f.__code__ = code
        for d, key, value in reversed(held):
            d[key] = value


def _code_writable(f: Callable) -> bool:
    """Can f's __code__ be swapped (a Python function), or is it compiled (Cython: read-only)?"""
    try:
        f.__code__ = f.__code__
    except (AttributeError, TypeError):
        return False
    return True


def _refusal_code(message: str, freevars: tuple[str, ...]) -> types.CodeType:
    """Code that raises AssertionError(message), with the same free variables as the code it replaces
    (a method that calls super() closes over __class__, and a function's code can only be swapped for
    code with the same free variables)."""
    inner = "    def refusal(*args, **kwargs):\n"
    if freevars:
        inner += f"        ({', '.join(freevars)},)\n"
    inner += f"        raise AssertionError({message!r})\n"
    src = "def outer():\n" + "".join(f"    {v} = None\n" for v in freevars) + inner + "    return refusal\n"
    space: dict = {}
    exec(src, space)
    code = space["outer"]().__code__
    if code.co_freevars != freevars:  # the compiler orders free variables; it should match the original's order
        raise RuntimeError(f"cannot build a refusal with free variables {freevars} (got {code.co_freevars})")
    return code
