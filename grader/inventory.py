"""What the grading kernel (grader.grading_kernel) takes in before any student code runs (its
resource limits, the function-like types its snapshot keeps, every class the loaded modules
define, where the big libraries live), and the small tests its check after a test uses. The
kernel imports each by name, so rebinding one here changes nothing there, and its audit hook
refuses a change to their code."""

from __future__ import annotations

import builtins
import functools
import importlib
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


# Standard-library files whose code a library's wrapper may hold (dynamo's disable wrapper holds a
# contextlib.nullcontext), though no wrapper of theirs counts as a library's (contextlib.contextmanager(f)
# returns a truthy object for whatever f returns).
STDLIB_FILES = tuple(f for name in ("contextlib", "functools", "abc", "enum", "types", "typing", "weakref", "threading",
                                    "warnings", "dataclasses", "inspect", "copy", "collections", "operator", "numbers")
                     if isinstance(f := getattr(importlib.import_module(name), "__file__", None), str))


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


def same_contents(now, saved, _same_items=same_items, _type=type, _set=set, _list=list) -> bool:
    """A list of the same objects as ``saved``, or a dict with the same keys and the same objects."""
    if _type(now) is not _type(saved):
        return False
    if _type(saved) is dict:
        return _set(now) == _set(saved) and _same_items([now[k] for k in saved], _list(saved.values()))
    return _same_items(now, saved)


def rebound(obj, name: str, value, _method=types.MethodType) -> bool:
    """``value`` is the class's own method ``name`` bound to ``obj``, stored on it."""
    return isinstance(value, _method) and value.__self__ is obj and value.__func__ is getattr(type(obj), name, None)


_MRO, _TYPE_DICT = type.__dict__["__mro__"].__get__, type.__dict__["__dict__"].__get__


def acts(v, funcs: tuple, _issubclass=issubclass, _callable=callable, _type=type, _mro=_MRO,
         _tdict=_TYPE_DICT) -> bool:
    """``v`` does something when called or looked up on a class (a function-like type, anything
    callable, a descriptor such as a property or a slot wrapper), unlike plain data; decided from its
    type's own dicts, without running any code of ``v``'s (a metaclass cannot answer for it)."""
    t = _type(v)
    return _issubclass(t, funcs) or _callable(v) or any(
        "__get__" in _tdict(b) or "__set__" in _tdict(b) for b in _mro(t))


def class_names(cls: type, _mro=_MRO, _tdict=_TYPE_DICT) -> frozenset:
    """Every attribute name ``cls`` and its bases define."""
    return frozenset(k for b in _mro(cls) for k in _tdict(b))


def tensors_with_attributes(ns: dict, tensors: tuple, own_dict, names: frozenset, strip: bool = False,
                            limit: int = 1000, _type=type, _list=list, _str=str) -> list[str]:
    """The notebook's names whose value (or an item of the list, tuple or dict it is) is a plain tensor
    or parameter (exactly one of ``tensors``) with an attribute of its own named like one of its
    class's (``names``): ``t.double = lambda: liar`` answers for the tensor's method after a test
    checked ``type(t) is torch.Tensor`` (a key that is not a plain str may compare equal to one).
    ``own_dict`` reads an instance's dict; a label (``t.note = "..."``) is no patch. With ``strip``
    (the reset), such attributes are deleted."""
    out = []
    for k, v in _list(ns.items()):
        t = _type(v)
        items = (_list(v.values())[:limit] if t is dict else v[:limit] if t is list or t is tuple else (v,))
        for x in items:
            if not any(_type(x) is c for c in tensors):
                continue
            d = own_dict(x)
            bad = [n for n in d if _type(n) is not _str or n in names]
            if bad:
                out.append(k if _type(k) is str else "?")
            for n in bad if strip else ():
                del d[n]
    return _list(dict.fromkeys(out))


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # an empty cell
        return False
    return True


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


def genuine(code, dirs: tuple, _open=open, _compile=compile, _type=type, _types=types,
            _normpath=os.path.normpath) -> bool:
    """``code`` is what its library file compiles to (equal code: bytecode, constants, names): a module
    a library imports only after the snapshot, not code made by compile() under a library's file name."""
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


_C_CALLABLES = (types.BuiltinFunctionType, types.WrapperDescriptorType, types.MethodWrapperType,
                types.MethodDescriptorType, types.ClassMethodDescriptorType)
_DATA = (str, bytes, int, float, complex, bool, type(None), types.ModuleType, types.CodeType)
_FN = types.FunctionType.__dict__
_CODE, _CLOSURE, _GLOBALS = _FN["__code__"].__get__, _FN["__closure__"].__get__, _FN["__globals__"].__get__
_DEFAULTS, _KWDEFAULTS = _FN["__defaults__"].__get__, _FN["__kwdefaults__"].__get__
_MODULE_DICT = types.ModuleType.__dict__["__dict__"].__get__
HELD_DEPTH = 5  # how far runs_library_code follows what a wrapper holds; anything callable further counts against it


def runs_library_code(x, known, skip: tuple, depth: int = 0, seen: set | None = None, _callable=callable,
                      _type=type, _isinstance=isinstance, _function=types.FunctionType, _method=types.MethodType,
                      _partial=functools.partial, _c=_C_CALLABLES, _data=_DATA, _lru=functools._lru_cache_wrapper,
                      _mro=_MRO, _tdict=_TYPE_DICT, _all=all, _any=any, _vars=vars, _id=id, _set=set,
                      _filled=_filled, _closure=_CLOSURE, _defaults=_DEFAULTS, _kwdefaults=_KWDEFAULTS,
                      _max=HELD_DEPTH, _module=types.ModuleType, _issubclass=issubclass, _acts=acts, _funcs=_FUNCS,
                      _wrappers=(functools.partial, staticmethod, classmethod, property, *_C_CALLABLES),
                      _getattr=getattr) -> bool:
    """Whether what ``x`` (held by a library's wrapper) can run is only code ``known`` vouches for, C
    code or the objects in ``skip`` (what the wrapper wraps, the wrapper itself), following what it
    holds: a function (and its closure and defaults), a bound method (and its object), a partial (and
    its arguments), a static or class method, a property, C code (and the object it is bound to), a
    class or any other object (every method, descriptor or callable its class's MRO holds, whose
    dunders run too, and the object's own dict), a container (each item). A cached function
    (functools.lru_cache: it calls what no attribute shows) and a subclass of a C wrapper type count
    against it, and so does anything callable ``HELD_DEPTH`` levels down."""
    seen = _set() if seen is None else seen
    if _any(x is s for s in skip) or _id(x) in seen or _type(x) in _data:
        return True
    seen.add(_id(x))
    t = _type(x)
    if depth >= _max:
        return not _callable(x)

    def go(v) -> bool:
        return runs_library_code(v, known, skip, depth + 1, seen)

    if t in (tuple, list, set, frozenset) or t is dict:
        return _all(go(v) for v in (x.values() if t is dict else x))
    if t is _function:
        held = [c.cell_contents for c in _closure(x) or () if _filled(c)]
        return known(x) and _all(go(v) for v in [*held, *(_defaults(x) or ()), *(_kwdefaults(x) or {}).values()])
    if t is _method:
        return go(x.__func__) and go(x.__self__)
    if t is _partial:
        return _all(go(v) for v in (x.func, *x.args, *x.keywords.values()))
    if t is staticmethod or t is classmethod:
        return go(x.__func__)
    if t is property:
        return _all(go(f) for f in (x.fget, x.fset, x.fdel) if f is not None)
    if t in _c:  # C code, run on its object (a method-wrapper's object is the function it calls)
        self = _getattr(x, "__self__", None)
        return self is None or _type(self) is _module or go(self)
    if t is _lru or _issubclass(t, _wrappers):  # a cache calls what no attribute shows; a subclass of a C wrapper too
        return False
    cls = x if _isinstance(x, type) else t
    if not _all(known(f) if _type(f) is _function else go(f) for b in _mro(cls)[:-1] for f in _tdict(b).values()
                if _acts(f, _funcs)):  # every method, descriptor or callable a class holds: its dunders run
        return False
    try:
        own = _vars(x) if cls is t else {}  # its class's code is a library's: no property of the student's
    except TypeError:  # no dict of its own
        own = {}
    return _all(go(v) for k, v in own.items() if k != "__annotations__")


def known(lib: tuple, f, held: bool = False, _type=type, _function=types.FunctionType, _code=_CODE,
          _globals=_GLOBALS, _module_dict=_MODULE_DICT, _modules=sys.modules, _module=types.ModuleType,
          _genuine=genuine, _get=dict.get, _id=id, _stdlib=STDLIB_FILES) -> bool:
    """``f`` is a plain function whose code is a library's (``lib`` = (library folders,
    ``library_codes`` at the snapshot, to which each code ``genuine`` vouches for is added); with
    ``held``, one of the ``STDLIB_FILES`` too) and whose globals are its loaded module's own dict
    (library code can be given the student's globals). Read through the function type's own
    descriptors: an object of another type can claim a ``__code__``."""
    if _type(f) is not _function:
        return False
    c, g = _code(f), _globals(f)
    dirs = lib[0] + _stdlib if held else lib[0]
    if not c.co_filename.startswith(dirs):
        return False
    m = _modules.get(_get(g, "__name__")) if _type(g) is dict else None
    if _type(m) is not _module or _module_dict(m) is not g or _get(g, "__file__") != c.co_filename:
        return False  # not the globals of the module that file defines (the notebook's namespace is a module's too)
    if lib[1].get(_id(c)) is c:
        return True
    if _genuine(c, dirs):
        lib[1][_id(c)] = c  # compiling the file once is enough
        return True
    return False


# Functions torch puts on classes, inside a functools.partial, as it imports more of itself (making the
# first optimizer registers DTensor's placements as opaque types: Placement.__eq__ = partial(_raise_error, ...)):
# (file under a library folder, function name); each only raises an error. Matched by its genuine code, not
# by looking the name up (a submission can rebind it).
LAZY_PARTIALS = (("torch/distributed/tensor/placement_types.py", "_raise_error"),)


def lazy_partial(v, lib: tuple, _type=type, _partial=functools.partial, _function=types.FunctionType,
                 _code=_CODE, _known=known) -> bool:
    """``v`` is a partial of one of the functions ``LAZY_PARTIALS`` names, that function itself (``known``)."""
    if _type(v) is not _partial or _type(v.func) is not _function:
        return False
    c = _code(v.func)
    return any(c.co_name == n and c.co_filename.endswith("/" + f) for f, n in LAZY_PARTIALS) and _known(lib, v.func)


def wraps(lib: tuple, old, new, _filled=_filled, _lazy=lazy_partial, _runs=runs_library_code, _known=known,
          _partial=functools.partial, _closure=_CLOSURE, _vars=vars, _type=type) -> bool:
    """``new`` is a library's own wrapper around ``old``, not a patch: a plain function whose code is a
    library's (``known``), that holds ``old`` in its closure (``__wrapped__`` can be set by anyone), and
    whatever else it holds that can be called runs only library code (``runs_library_code``: not
    ``torch.overrides.wrap_torch_function(the student's dispatcher)(old)``). torch hooks an optimizer
    class's step when it makes the first optimizer of that class, wraps torch.manual_seed when its
    compiler is first imported and re-registers a cache's properties."""
    if _lazy(new, lib):
        return True
    if _type(old) is property and _type(new) is property:  # a subclass could bring a __get__ of its own
        return all(f is None or _known(lib, f) for f in (new.fget, new.fset, new.fdel))
    if old is None or not _known(lib, new):
        return False
    held = [c.cell_contents for c in _closure(new) or () if _filled(c)]
    wrapped = _vars(new).get("__wrapped__")  # anyone can set it: not evidence, but checked like the rest
    return any(v is old for v in held) and all(
        _runs(v, _partial(_known, lib, held=True), (old, new)) for v in [wrapped, *held])


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


def torch_kernels(_modules=sys.modules) -> dict:
    """What torch's dispatcher runs for each of its own operators (``aten::``, ``prims::``), and which
    dispatch keys are switched on or off for this thread: a submission can register its own kernel
    for ``aten::allclose`` (torch.library). Left out: what torch registers as it imports more of itself
    (Meta kernels, vmap's FuncTorchBatched rules), which runs only for meta tensors or under vmap."""
    C = getattr(_modules.get("torch"), "_C", None)
    if C is None:
        return {}
    out = {n: [line for line in C._dispatch_dump(n).splitlines() if not line.startswith(("Meta", "FuncTorch"))]
           for n in C._dispatch_get_all_op_names() if n.startswith(("aten::", "prims::"))}
    out[" thread's dispatch keys"] = [repr(C._dispatch_tls_local_include_set()), repr(C._dispatch_tls_local_exclude_set())]
    return out


def put_back_dict(saved: dict, b: dict = builtins.__dict__) -> list[str]:
    """A module's dict as saved (builtins by default: the first step of the check and of the reset,
    which call them; also the grader's own modules, whose globals the check looks up); returns the
    names that differed."""
    out = [k for k in b if k not in saved or b[k] is not saved[k]] + [k for k in saved if k not in b]
    for k in [k for k in b if k not in saved]:
        del b[k]
    b.update(saved)
    return out


def restore_interpreter(optimize: int, modes: tuple, torch_state, saved_builtins: dict, _modules=sys.modules) -> None:
    """Asserts on again, torch's function and dispatch modes popped to ``modes``, its default dtype
    and grad mode (``torch_state``) put back."""
    if not asserts_on(saved_builtins["exec"], saved_builtins["compile"]):
        import _testinternalcapi  # CPython's own: how a submission switches asserts off at run time

        config = _testinternalcapi.get_config()
        config["optimization_level"] = optimize
        _testinternalcapi.set_config(config)
    torch = _modules.get("torch")
    if torch is not None and torch_state is not None:
        while torch._C._len_torch_function_stack() > modes[0]:
            torch._C._pop_torch_function_stack()
        while torch._C._len_torch_dispatch_stack() > modes[1]:
            torch._C._pop_torch_dispatch_stack()
        torch.set_default_dtype(torch_state[0])
        torch.set_grad_enabled(torch_state[1])
