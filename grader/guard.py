"""The grading kernel's audit hook (grader.grading_kernel installs it before any student code runs).

Python's audit hooks see some operations no reset can undo or check can see afterwards: a new
audit hook, ctypes reading or writing memory by address, walking the garbage collector's graph
(both reach the dict behind a built-in type's methods), changing a function's code or
defaults in place (the function object stays the same, so an identity check passes), and setting a
trace or profile function (one can skip a test's failing assert by a jump and take itself off before
the check looks)."""

from __future__ import annotations

import sys

CTYPES_EVENTS = frozenset({"ctypes.addressof", "ctypes.cdata", "ctypes.cdata/buffer", "ctypes.string_at",
                           "ctypes.wstring_at", "ctypes.call_function", "ctypes.dlsym", "ctypes.dlsym/handle",
                           "ctypes.PyObj_FromPtr"})  # refused once student code runs
GC_EVENTS = frozenset({"gc.get_referents", "gc.get_referrers", "gc.get_objects"})
TRACE_EVENTS = frozenset({"sys.settrace", "sys.setprofile",  # only the grader's own functions may (to take them off)
                          "sys.monitoring.register_callback"})  # Python 3.12's tracing: cProfile, debuggers
CODE_ATTRS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})


def audit_hook(protected: list, allowed: tuple, existing: list, shapes: dict):
    """An audit hook: no further audit hooks (Python then drops the new one silently), no ctypes
    access to memory (``CTYPES_EVENTS``: with it a built-in type can be patched), no walking the
    garbage collector's graph (``GC_EVENTS``: it reaches the dict behind a built-in type's methods),
    and no change to the code, defaults or keyword defaults (``CODE_ATTRS``) of a function that
    already ``existing`` when the kernel started (the function object stays the same, so the check
    could not see it; a function made since, such as the one collections.namedtuple gives defaults,
    is free), except by the frames whose code is in ``allowed`` (``helpers.notebook.grading.refusing``,
    which hidden tests use to switch helpers off); the protected functions (the grading kernel's, and those
    of grader.snapshot, inventory, codes, wrappers, hooks, registries, contents, signals, graveyard and this module)
    not even by those. Even those frames may set only a function's own code of kernel start or code shaped
    like a refusal (``shapes``: bytecode and names by number of free variables): ``refusing`` keeps
    what it puts back where a submission can reach it. ``existing`` is held, so no new function takes an old id.
    No trace or profile function may be set or taken off (``TRACE_EVENTS``: ``sys.settrace``, ``sys.setprofile``,
    ``sys.monitoring``'s callbacks, so cProfile and debuggers) but by the protected functions themselves (the kernel
    and the check take them off)."""
    ids = {id(f) for f in protected}
    own = [f.__code__ for f in protected]
    old = {id(f): f.__code__ for f in existing}

    def hook(event, args, _id=id, _ids=ids, _old=old, _held=existing, _ctypes=CTYPES_EVENTS, _gc=GC_EVENTS, _own=own,
             _trace=TRACE_EVENTS, _attrs=CODE_ATTRS, _allowed=allowed, _shapes=shapes, _frame=sys._getframe, _getattr=getattr,
             _type=type, _len=len, _code=type(audit_hook.__code__)):  # bound here: builtins may be patched
        if event == "sys.addaudithook":
            raise RuntimeError("the grading kernel accepts no audit hooks")
        if event in _ctypes:
            raise RuntimeError(f"the grading kernel allows no {event}: no reading or writing memory by address")
        if event in _gc:
            raise RuntimeError(f"the grading kernel allows no {event}: no walking the garbage collector's graph")
        if event in _trace:
            caller = _frame(1).f_code  # the frame that sets it (by identity), read outside the comprehension's frame
            if not [c for c in _own if c is caller]:
                raise RuntimeError(f"the grading kernel allows no {event}: a trace or profile function could skip a "
                                   "test's asserts")
        if event == "object.__setattr__" and args[1] in _attrs and _id(args[0]) in _old:
            caller, new = _frame(1).f_code, args[2]  # the frame that assigns (by identity: no look-alike code)
            fair = args[1] == "__code__" and (new is _old[_id(args[0])] or _type(new) is _code and _shapes.get(
                _len(new.co_freevars)) == (new.co_code, new.co_names))  # its own code, or a refusal
            if _id(args[0]) in _ids or not fair or not [c for c in _allowed if c is caller]:
                raise RuntimeError(f"the grading kernel allows no change to a function's {args[1]} "
                                   f"({_getattr(args[0], '__qualname__', '?')!s})")
    return hook


def allowed_codes() -> tuple[tuple, dict]:
    """The code of the functions that may swap a function's code (the hidden tests' ``refusing``), and
    the shapes of the refusals it puts in: {number of free variables: (bytecode, names)}."""
    try:
        from helpers.core import refusal
    except ImportError:  # no helpers on the path: nothing may
        return (), {}
    shapes = {n: (c.co_code, c.co_names) for n in range(6)
              for c in [refusal._refusal_code("x", tuple(f"v{i}" for i in range(n)))]}
    return (refusal.refusing.__wrapped__.__code__, refusal._code_writable.__code__), shapes
