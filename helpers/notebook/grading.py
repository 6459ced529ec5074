"""For graded test cells: switch library functions off while a student's function runs."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator


@contextmanager
def refusing(functions: Iterable[Callable], message: str) -> Iterator[None]:
    """While the block runs, each of ``functions`` (plain Python functions, or functions defined in a
    class body) raises AssertionError(message) however it is reached: its code is swapped for a
    refusal, so a name imported under another alias, or a method called on any instance, refuses
    too. The code is put back afterwards, also when the block raises."""
    space: dict = {}
    exec(f"def refusal(*args, **kwargs):\n    raise AssertionError({message!r})", space)
    refusal = space["refusal"].__code__
    functions = list(functions)
    saved = [f.__code__ for f in functions]
    try:
        for f in functions:
            f.__code__ = refusal
        yield
    finally:
        for f, code in zip(functions, saved):
            f.__code__ = code
