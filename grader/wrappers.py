"""Whether a replaced library function is the library's own wrapper, and whether what a wrapper or a
registry entry holds runs only library code (grader.grading_kernel's check and reset, through
grader.hooks and grader.registries too). Like grader.inventory, each function binds what it calls as defaults, and the
grading kernel's audit hook refuses a change to their code."""

from __future__ import annotations

import builtins
import collections
import functools
import logging
import operator
import sys
import types

from grader.codes import STDLIB_FILES, genuine
from grader.inventory import _FUNCS, _MRO, _TYPE_DICT, _filled, acts, odd_keys, pick, str_keys

_C_CALLABLES = (types.BuiltinFunctionType, types.WrapperDescriptorType, types.MethodWrapperType,
                types.MethodDescriptorType, types.ClassMethodDescriptorType)
# data, and C descriptors that only read or write a field (they run no one's code and hold only their class)
_DATA = (str, bytes, int, float, complex, bool, type(None), types.CodeType,
         types.GetSetDescriptorType, types.MemberDescriptorType)
_SLOTS = (types.GetSetDescriptorType, types.MemberDescriptorType)
_OBJCLASS = tuple((t, t.__dict__["__objclass__"].__get__) for t in _SLOTS)  # (type, getter): inventory.pick
_GET_SLOT = tuple((t, t.__get__) for t in _SLOTS)
# C code that runs or looks up what a string names (held, it counts against; so does a __getattribute__ or
# __getattr__ slot, an attrgetter or a methodcaller)
_RUN_DATA = (eval, exec, breakpoint, __import__, getattr)
_BY_NAME = (operator.attrgetter, operator.methodcaller)
_FN = types.FunctionType.__dict__
_CODE, _CLOSURE, _GLOBALS = _FN["__code__"].__get__, _FN["__closure__"].__get__, _FN["__globals__"].__get__
_DEFAULTS, _KWDEFAULTS, _BUILTINS = _FN["__defaults__"].__get__, _FN["__kwdefaults__"].__get__, _FN["__builtins__"].__get__
del _FN  # a mappingproxy: compared with an object of the student's, it would hand over the dict underneath
_MODULE_DICT = types.ModuleType.__dict__["__dict__"].__get__
_ITERABLES = (dict, tuple, list, set, frozenset, collections.deque)  # containers whose items are followed
HELD_DEPTH = 5  # how far runs_library_code follows what a wrapper holds; anything but plain data further counts against it


def one_of(t: type, kinds: tuple, _any=any) -> bool:
    """``t`` is one of ``kinds``, by identity (``t in kinds`` would run the ``__eq__`` of ``t``'s metaclass)."""
    return _any(t is k for k in kinds)


def runs_library_code(x, known, skip: tuple, depth: int = 0, seen: set | None = None,
                      _type=type, _function=types.FunctionType, _method=types.MethodType,
                      _partial=functools.partial, _c=_C_CALLABLES, _data=_DATA, _lru=functools._lru_cache_wrapper,
                      _mro=_MRO, _tdict=_TYPE_DICT, _all=all, _any=any, _vars=vars, _id=id, _set=set,
                      _filled=_filled, _closure=_CLOSURE, _defaults=_DEFAULTS, _kwdefaults=_KWDEFAULTS,
                      _max=HELD_DEPTH, _module=types.ModuleType, _issubclass=issubclass, _acts=acts, _funcs=_FUNCS,
                      _wrappers=(functools.partial, staticmethod, classmethod, property, *_C_CALLABLES),
                      _getattr=getattr, _iterables=_ITERABLES, _keys=dict.keys, _values=dict.values,
                      _member=types.MemberDescriptorType, _member_get=types.MemberDescriptorType.__get__,
                      _slots=_SLOTS, _objclass=_OBJCLASS, _run_data=_RUN_DATA, _by_name=_BY_NAME, _typetype=type,
                      _flags=type.__dict__["__flags__"].__get__, _heap=1 << 9, _one_of=one_of, _next=next,
                      _get_slot=_GET_SLOT, _items=dict.items, _str_keys=str_keys, _pick=pick) -> bool:
    """Whether what ``x`` (held by a library's wrapper) can run is only code ``known`` vouches for, C
    code or the objects in ``skip`` (what the wrapper wraps, the wrapper itself), following what it
    holds: a function (and its closure and defaults), a bound method (and its object), a partial (and
    its arguments), a static or class method, a property, C code (and the object it is bound to), a
    module (``known``: the snapshot's or a library's), a class or any other object (every method,
    descriptor or callable its class's MRO holds, whose dunders run too, and its metaclass's; the
    object's own dict, its slots and fields (``defaultdict.default_factory``), and the items of a
    container, a subclass's or a deque's too, read by the base type's C code). A cached
    function (functools.lru_cache: it calls what no attribute shows) and a subclass of a C wrapper type
    count against it, and so does anything but plain data ``HELD_DEPTH`` levels down (not marked seen
    there, so that it is followed where it is met higher up). What other C objects hold (an iterator, a
    ``map``) is not seen."""
    seen = _set() if seen is None else seen
    if _any(x is s for s in skip) or _id(x) in seen or _one_of(_type(x), _data):
        return True
    if depth >= _max:
        return False
    seen.add(_id(x))
    t = _type(x)

    def go(v) -> bool:
        return runs_library_code(v, known, skip, depth + 1, seen)

    if _one_of(t, (tuple, list, set, frozenset, dict)):  # each item (a dict's keys too: a lookup runs their __eq__)
        return _all(go(v) for v in ((*_keys(x), *_values(x)) if t is dict else x))
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
    if _issubclass(t, _module):  # one the snapshot holds, or a library's loaded since (``known``)
        return known(x)
    if _one_of(t, _c):  # C code, run on its object (a method-wrapper's object is the function it calls)
        if _any(x is f for f in _run_data) or _getattr(x, "__name__", None) in ("__getattribute__", "__getattr__"):
            return False
        self = _getattr(x, "__self__", None)
        return self is None or go(self)
    if t is _lru or _one_of(t, _by_name) or _issubclass(t, _wrappers):  # a cache calls what no attribute shows; a
        # subclass of a C wrapper too
        return False
    cls = x if _issubclass(t, _typetype) else t  # (not isinstance: it would ask the object's own __class__)
    # every class whose dict can act: the object's class, and its metaclass too (calling the class runs it);
    # not object, type or another built-in type, whose dicts cannot change (found by their flags: object need
    # not come last in an MRO), nor a class the snapshot holds, whose dict class_changes compares
    mro = [b for b in (*_mro(cls), *_mro(_type(cls))) if _flags(b) & _heap and not known(b)]
    full = _mro(cls)
    for b in mro:  # being checked here: a method's __class__ cell (super()) leads back to them
        seen.add(_id(b))
    for b in mro:
        if not _str_keys(_tdict(b)):  # type() takes keys that are no str: comparing one would run its __eq__
            return False
        for k, f in _tdict(b).items():
            if _one_of(_type(f), _slots):  # a slot or field: only of a class in the MRO (another's hides the object's dict)
                if not _any(_pick(_objclass, _type(f))(f) is c for c in (*full, *_mro(t))):
                    return False
            elif k == "__dict__" or _acts(f, _funcs) and not go(f):  # its dunders run; __dict__ must be a slot's
                return False
    if cls is not t:  # a class: what acts in it is checked above
        return True
    # its own dict, read by the C code of the MRO's __dict__ descriptor (vars() would run a __getattribute__);
    # no plain dict (a subclass's methods would run) or a key that is no str (a lookup runs its __eq__) counts
    desc = _next((_tdict(b)["__dict__"] for b in full if "__dict__" in _tdict(b)), None)
    own = {} if desc is None else _pick(_get_slot, _type(desc))(desc, x, t) if _one_of(_type(desc), _slots) else None
    if _type(own) is not dict or not _str_keys(own):
        return False
    held = [v for k, v in _items(own) if k != "__annotations__"]
    for b in full:  # slots and C fields (of any class, a built-in one too), read by the member descriptor's C code
        for f in _tdict(b).values():
            if _type(f) is _member:
                try:
                    held.append(_member_get(f, x, t))
                except (AttributeError, TypeError):  # an empty slot; a member of another class
                    pass
    base = [b for b in _iterables if _issubclass(t, b)]
    if base:  # a container's items, by its base type's C code (a subclass can override __iter__)
        held += [*_keys(x), *_values(x)] if base[0] is dict else [*base[0].__iter__(x)]
    return _all(go(v) for v in held)


def known(lib: tuple, f, held: bool = False, _type=type, _function=types.FunctionType, _code=_CODE,
          _globals=_GLOBALS, _module_dict=_MODULE_DICT, _modules=sys.modules, _module=types.ModuleType,
          _genuine=genuine, _get=dict.get, _id=id, _stdlib=STDLIB_FILES, _issubclass=issubclass, _typetype=type,
          _builtins_of=_BUILTINS, _real_builtins=builtins.__dict__, _odd=odd_keys) -> bool:
    """``f`` is a plain function whose code is a library's (``lib`` = (library folders,
    ``library_codes`` at the snapshot, to which each code ``genuine`` vouches for is added); with
    ``held``, one of the ``STDLIB_FILES`` too) and whose globals are its loaded module's own dict
    (library code can be given the student's globals). Read through the function type's own
    descriptors: an object of another type can claim a ``__code__``. With ``held``, a module counts if
    the snapshot holds it (``lib[2]``: {id: module}) or it is the loaded module of a library file, and a
    class if the snapshot holds it (``lib[3]``: its dict and shape are compared on their own)."""
    if held and _issubclass(_type(f), _typetype):  # a class the snapshot holds (``lib[3]``: {id: class})
        return _get(lib[3], _id(f)) is f
    if held and _issubclass(_type(f), _module):
        if _get(lib[2], _id(f)) is f:
            return True
        g = _module_dict(f)  # a key that is no str would run its __eq__ below; so would a str subclass's hash
        if _odd(g):  # (also: no plain dict)
            return False
        file, name = _get(g, "__file__"), _get(g, "__name__")
        return _type(file) is str and _type(name) is str and file.startswith(lib[0]) and _get(_modules, name) is f
    if _type(f) is not _function:
        return False
    c, g = _code(f), _globals(f)
    if _builtins_of(f) is not _real_builtins:  # made with other builtins, which it keeps whatever its globals say
        return False
    dirs = lib[0] + _stdlib if held else lib[0]
    file = c.co_filename
    if _type(file) is not str or not file.startswith(dirs) or _odd(g):
        return False
    name = _get(g, "__name__")
    m = _get(_modules, name) if _type(name) is str else None
    own_file = _get(g, "__file__")
    if _type(m) is not _module or _module_dict(m) is not g or own_file is not file and (
            _type(own_file) is not str or own_file != file):
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
                 _code=_CODE, _known=known, _str=str) -> bool:
    """``v`` is a partial of one of the functions ``LAZY_PARTIALS`` names, that function itself (``known``)."""
    if _type(v) is not _partial or _type(v.func) is not _function or v.args or [
            k for k, a in v.keywords.items() if _type(k) is not _str or k != "method_name" or _type(a) is not _str]:
        return False  # only method_name=<a string>, as torch sets it (an object's __format__ would run)
    if not _known(lib, v.func):  # first: it checks the code's names are plain strs (a subclass's __eq__ would run)
        return False
    c = _code(v.func)
    return any(c.co_name == n and c.co_filename.endswith("/" + f) for f, n in LAZY_PARTIALS)


def wraps(lib: tuple, old, new, _filled=_filled, _lazy=lazy_partial, _runs=runs_library_code, _known=known,
          _partial=functools.partial, _closure=_CLOSURE, _vars=vars, _type=type, _defaults=_DEFAULTS,
          _kwdefaults=_KWDEFAULTS, _odd=odd_keys, _showwarning=logging._showwarning,
          _logging=vars(logging)) -> bool:
    """``new`` is a library's own wrapper around ``old``, not a patch: a plain function whose code is a
    library's (``known``), that holds ``old`` in its closure (``__wrapped__`` can be set by anyone), and
    whatever else it holds that can be called runs only library code (``runs_library_code``: not
    ``torch.overrides.wrap_torch_function(the student's dispatcher)(old)``). torch hooks an optimizer
    class's step when it makes the first optimizer of that class, wraps torch.manual_seed when its
    compiler is first imported and re-registers a cache's properties; ``logging.captureWarnings(True)`` puts
    its own function in place of ``warnings.showwarning``, keeping the old one in its module."""
    if _lazy(new, lib):
        return True
    if new is _showwarning:  # logging.captureWarnings(True): logging's function, which calls the one it keeps
        return not _odd(_logging) and dict.get(_logging, "_warnings_showwarning") is old
    if _type(old) is property and _type(new) is property:  # a subclass could bring a __get__ of its own
        return all(f is None or _known(lib, f) for f in (new.fget, new.fset, new.fdel))
    if old is None or not _known(lib, new):
        return False
    held = [c.cell_contents for c in _closure(new) or () if _filled(c)]
    own = _vars(new)  # a function's dict can be set to a subclass (its get would run) or hold a key that is no str
    if _odd(own):
        return False
    wrapped = dict.get(own, "__wrapped__")  # anyone can set it: not evidence, but checked like the rest
    defaults = [*(_defaults(new) or ()), *(_kwdefaults(new) or {}).values()]
    return any(v is old for v in held) and all(
        _runs(v, _partial(_known, lib, held=True), (old, new)) for v in [wrapped, *held, *defaults])
