"""What changes how library and IPython code behaves without replacing a module's function, for the
grading kernel's snapshot, check and reset (grader.grading_kernel): the shape of each class (bases,
metaclass, method resolution order), the attributes in its dict, the observers and validators of the
shell's and kernel's traits, the module globals and functions' own dicts, and the plain lists gc and sys
keep (the registries are in grader.registries). Like grader.inventory, each function binds what it calls as
defaults."""

from __future__ import annotations

import functools
import gc
import sys
import types

from grader.graveyard import keep, keep_items
from grader.inventory import (PLAIN_DATA, _MRO, _TYPE_DICT, _filled, acts, name_of, odd_keys, plain_dict, same_items,
                              shown, str_keys)
from grader.wrappers import _MODULE_DICT, known, runs_library_code, wraps

_BASES, _CLASS = type.__dict__["__bases__"], object.__dict__["__class__"]
_QUALNAME = name_of  # a class's name for a report, never a str subclass
TRAIT_HOOKS = ("_trait_notifiers", "_trait_validators")  # run when a trait is set (execution_count: each cell)


def class_shapes(classes, _type=type, _bases=_BASES.__get__, _mro=_MRO) -> dict:
    """{class: (bases, metaclass, MRO)} of ``classes``: what ``changed_shapes`` compares later."""
    return {c: (_bases(c), _type(c), _mro(c)) for c in classes}


def runs_code(c, classes: dict, _subclasses=type.__subclasses__, _type=type, _mro=_MRO, _tdict=_TYPE_DICT, _id=id,
              _all=all, _len=len, _str_keys=str_keys, _own=type.__dict__["mro"], _next=next, _set=set,
              _flags=type.__dict__["__flags__"].__get__, _heap=1 << 9) -> bool:
    """Putting an attribute or the bases of the class ``c`` back could call code of the student's: type's setattr
    goes through the data descriptors of ``c``'s metaclasses (each must be built in, or one of ``classes`` ({id:
    saved copy of its dict}) holding just that), and both look names up along the MROs of ``c`` and of every class
    below it (a dunder's slot is updated there: every class in them must hold str keys only, those above ``c``
    too) and recompute MROs through their metaclasses' ``mro()`` (each must be type's own)."""
    for m in _mro(_type(c)):
        if _flags(m) & _heap and not (_id(m) in classes and _str_keys(d := _tdict(m)) and _len(d) == _len(
                saved := classes[_id(m)]) and _all(k in saved and saved[k] is v for k, v in d.items())):
            return True
    stack, seen = [c], _set()
    while stack:
        s = stack.pop()
        if _id(s) in seen:
            continue
        seen.add(_id(s))
        metas = _mro(_type(s))
        if not _all(_str_keys(_tdict(b)) for b in (*_mro(s), *metas)) or _next(
                (_tdict(m)["mro"] for m in metas if "mro" in _tdict(m)), None) is not _own:
            return True
        stack += _subclasses(s)
    return False


class Stuck(Exception):
    """What the check and the reset raise (the one instance ``STUCK``, made here: no ``__init__`` runs) where
    something must be put back but cannot be without running the student's code (``runs_code``): they stop there,
    before reading anything through it, and the kernel signs no test from then on."""


STUCK = Stuck("a class cannot be put back without running the student's code")


def unless_stuck(c, classes: dict, _runs_code=runs_code, _stuck=STUCK) -> None:
    """Raise ``STUCK`` if putting an attribute or the bases of ``c`` back could run the student's code."""
    if _runs_code(c, classes):
        raise _stuck


def changed_shapes(saved: dict, put_back: bool = False, _type=type, _bases=_BASES.__get__, _mro=_MRO,
                   _set_bases=_BASES.__set__, _set_class=_CLASS.__set__, _same_items=same_items,
                   _qualname=_QUALNAME, _keep=keep, _unless_stuck=unless_stuck, classes: dict | None = None) -> list[str]:
    """The names of the classes whose bases (a class slipped into the MRO), metaclass (one whose
    ``__dict__`` lies) or MRO (recomputed through a metaclass's ``mro()`` that was taken away again)
    differ from ``saved`` (``class_shapes``); with ``put_back``, put back (assigning the bases
    recomputes the MRO: put the metaclasses' dicts back first); ``Stuck`` if that could run code of the
    student's (``runs_code``, with ``classes``, {id: saved copy of its dict})."""
    out = []
    for c, (b, m, mro) in saved.items():
        if _type(c) is m and _same_items(_bases(c), b) and _same_items(_mro(c), mro):
            continue
        out.append(_qualname(c))
        if put_back:
            _keep((_type(c), _bases(c), _mro(c)))  # what is taken out: kept till the verdict (grader.graveyard)
            try:
                if _type(c) is not m:
                    _set_class(c, m)
                _unless_stuck(c, classes or {})
                _set_bases(c, b)
            except (TypeError, AttributeError):  # a layout CPython refuses to change: seen, not put back
                pass
    return out


def put_back_class_dicts(saved: dict, _tdict=_TYPE_DICT, _list=list, _set=type.__setattr__, _id=id,
                         _del=type.__delattr__, _qualname=_QUALNAME, _keep=keep_items, _runs_code=runs_code) -> list[str]:
    """Put every attribute of each class back as in ``saved`` ({class: copy of its own dict}; the
    grader's own classes and their metaclasses: a property on them would answer for the snapshot's attributes),
    and return "Class.name" for each that differed; "Class (not put back)" where that could run code of the
    student's (``runs_code``)."""
    out, by_id = [], {_id(c): a for c, a in saved.items()}
    for c, attrs in saved.items():
        d = _tdict(c)
        changed = [k for k in _list(d) if k not in attrs or d[k] is not attrs[k]] + [k for k in attrs if k not in d]
        if changed and _runs_code(c, by_id):
            out.append(f"{_qualname(c)} (not put back)")
            continue
        if changed:
            _keep(d)
        for k in changed:
            _del(c, k) if k not in attrs else _set(c, k, attrs[k])
        out += [f"{_qualname(c)}.{k}" for k in changed]
    return out


def class_changes(saved: dict, funcs: tuple, lib: tuple, put_back: bool = False, _tdict=_TYPE_DICT, _mro=_MRO,
                  _acts=acts, _wraps=wraps, _list=list, _set=type.__setattr__, _del=type.__delattr__,
                  _qualname=_QUALNAME, _id=id, _all=all, _str_keys=str_keys, _type=type, _any=any,
                  _data=PLAIN_DATA, _keep=keep, _unless_stuck=unless_stuck) -> list[str]:
    """The attributes of the classes in ``saved`` ({class: copy of its own dict}) that were replaced,
    added or deleted since, where the old or the new value acts (``acts``: a method, a descriptor) or the old
    one is an object other than plain data (``inventory.PLAIN_DATA``: torch's autograd engine on ``Variable``),
    unless a library wrapped the old one (``wraps``); an added one is compared with what the class
    inherited at the snapshot (data shadowing an inherited method counts). With ``put_back``, each is
    put back (a built-in type's dict cannot change anyway); ``Stuck`` if that could run code of the student's
    (``runs_code``)."""
    out, by_id = [], {_id(c): a for c, a in saved.items()}  # by id: ``b in saved`` would hash b by its metaclass
    for cls, attrs in saved.items():
        d, missing = _tdict(cls), object()
        for k in _list(d):
            v = d[k]
            if attrs.get(k, missing) is v:
                continue
            bases = [by_id.get(_id(b)) or _tdict(b) for b in _mro(cls)[1:]]  # as inherited at the snapshot
            if k not in attrs and not _all(_str_keys(d_b) for d_b in bases):  # a base slipped in with odd keys
                out.append(f"{_qualname(cls)}.{k}")
                continue
            old = attrs[k] if k in attrs else next((d_b[k] for d_b in bases if k in d_b), None)
            held = k in attrs and not _any(_type(old) is t for t in _data)
            if (held or _acts(v, funcs) or _acts(old, funcs)) and not _wraps(lib, old, v):
                out.append(f"{_qualname(cls)}.{k}")
                if put_back:
                    _unless_stuck(cls, by_id)
                    _keep(v)
                    try:
                        _set(cls, k, attrs[k]) if k in attrs else _del(cls, k)
                    except (AttributeError, TypeError):
                        pass
        for k in [k for k, v in attrs.items() if k not in d and _acts(v, funcs)]:
            out.append(f"{_qualname(cls)}.{k} (deleted)")
            if put_back:
                _unless_stuck(cls, by_id)
                try:
                    _set(cls, k, attrs[k])
                except (AttributeError, TypeError):
                    pass
    return out


def trait_hooks(o, _vars=vars, _type=type, _list=list, _dict=dict) -> dict:
    """{attribute: flat list} of the observers (``_trait_notifiers``: (trait, type, handler)) and
    validators (``_trait_validators``: (trait, handler)) registered on ``o``'s traits. A level that is
    not exactly a dict or a list (traitlets still calls what a subclass holds) is an entry of its own."""
    d = _vars(o)
    out = {}
    for attr in TRAIT_HOOKS:
        top, flat = d.get(attr), []
        for n, by in (top.items() if _type(top) is _dict else [(None, top)] if top is not None else []):
            if attr == "_trait_validators":
                flat.append((n, by))
                continue
            for t, hs in (by.items() if _type(by) is _dict else [(None, by)]):
                flat += [(n, t, h) for h in hs] if _type(hs) is _list else [(n, t, hs)]
        out[attr] = flat
    return out


def same_trait_hooks(o, saved: dict, _hooks=trait_hooks, _len=len, _zip=zip, _all=all) -> bool:
    """Whether ``o``'s observers and validators are those of ``saved`` (``trait_hooks``), by identity."""
    now = _hooks(o)
    return _all(_len(now[a]) == _len(saved[a]) and _all(x is y for p, q in _zip(now[a], saved[a])
                                                        for x, y in _zip(p, q)) for a in saved)


def put_back_trait_hooks(o, saved: dict, _vars=vars, _keep=keep, _get=dict.get) -> None:
    """Rebuild ``o``'s observers and validators from ``saved`` (``trait_hooks``), as plain dicts and lists."""
    _keep([_get(_vars(o), n) for n in TRAIT_HOOKS])
    notifiers: dict = {}
    for n, t, h in saved["_trait_notifiers"]:
        notifiers.setdefault(n, {}).setdefault(t, []).append(h)
    _vars(o)["_trait_notifiers"] = notifiers
    _vars(o)["_trait_validators"] = {n: h for n, h in saved["_trait_validators"]}


def plain_objects(objs: dict, traits: dict, _plain=plain_dict, _type=type, _dict=dict, _id=id, _name=name_of,
                  _keep=keep) -> list[str]:
    """After the class dicts are put back (``class_changes``): the own dict of every object in ``objs`` ({id:
    (object, saved dict)}) a plain dict of str keys again, and each object's ``_trait_values`` (``traits``: {id:
    (object, the very dict, copy)}) the very dict, before anything reads a trait (traitlets reads it there: a
    subclass's ``__getitem__`` would run), with each of those objects it held as a trait (the shell's
    ``builtin_trap``: the check reads through it) held again. Returns what differed."""
    out = [f"{_name(_type(o), False)} (its dict)" for o, _ in objs.values() if _plain(o, report=True)]
    for o, tv, vals in traits.values():
        d = _plain(o)
        if _dict.get(d, "_trait_values") is not tv:
            out.append(f"{_name(_type(o), False)}._trait_values")
            _keep(_dict.get(d, "_trait_values"))
            d["_trait_values"] = tv
        for k in [k for k, v in vals.items() if _id(v) in objs and _dict.get(tv, k) is not v or k not in tv]:
            out.append(f"{_name(_type(o), False)}.{k} (a trait)")  # deleted: traitlets would make one
            _keep(_dict.get(tv, k))
            _dict.__setitem__(tv, k, vals[k])
    return out


def screen(types_saved: dict, modules: dict, sys_modules: dict, trait_dicts: list, _type=type, _set_class=_CLASS.__set__,
           _qualname=_QUALNAME, _module_dict=_MODULE_DICT, _odd=odd_keys, _module=types.ModuleType, _sys=sys,
           _issubclass=issubclass, _dict=dict, _keep=keep) -> list[str]:
    """The first step of the check and of the reset, after builtins and before any attribute is read or name
    looked up: a swapped class's ``__getattribute__`` or a key's ``__eq__`` would run the student's code there,
    which could undo the patches checked after it. Puts back the class of every object and module in
    ``types_saved`` ({id: (object, class)}, by object's own C setter), ``sys.modules`` as the very dict, and
    takes every key that is no str out of the dicts of the loaded ``modules``, of sys.modules and of
    ``trait_dicts`` (unhashed); returns what differed."""
    out = []
    for o, t in types_saved.values():
        if _type(o) is not t:
            out.append(f"the class of {_qualname(t)}")
            _keep(_type(o))
            try:
                _set_class(o, t)
            except (TypeError, AttributeError):  # a layout CPython refuses: seen, not put back
                pass
    d = _module_dict(_sys)
    out += ["sys (a key that is no str)"] * _odd(d, True)
    if _dict.get(d, "modules") is not sys_modules:
        out.append("sys.modules")
        _keep(_dict.get(d, "modules"))
        d["modules"] = sys_modules
    out += ["sys.modules (a key that is no str)"] * _odd(sys_modules, True)
    out += [f"{name} (a key that is no str)" for name, m in modules.items()
            if _issubclass(_type(m), _module) and _odd(_module_dict(m), True)]
    return out + ["a trait's dict (a key that is no str)" for tv in trait_dicts if _odd(tv, True)]


_CLASS_DATA = ("__module__", "__qualname__", "__doc__", "__dict__", "__weakref__")


def twin_class(old, new, lib: tuple, _type=type, _issubclass=issubclass, _tdict=_TYPE_DICT, _bases=_BASES.__get__,
               _same_items=same_items, _all=all, _skip=_CLASS_DATA, _str_keys=str_keys, _str=str, _sys=sys,
               _module=types.ModuleType, _module_dict=_MODULE_DICT, _runs=runs_library_code, _known=known,
               _partial=functools.partial) -> bool:
    """``new`` is a class made like ``old``: the same metaclass and bases, and in its own dict under each name
    the object ``old`` holds there, the global of that name of the library module its ``__name__`` names, or
    library code (``matplotlib.use`` makes pyplot's ``_backend_mod`` again so, from the backend's module)."""
    if _type(new) is not _type(old) or not _issubclass(_type(old), type) or not _same_items(_bases(new), _bases(old)):
        return False
    a, b = _tdict(old), _tdict(new)
    if not _str_keys(b):
        return False
    name = b.get("__name__")
    m = _sys.modules.get(name) if _type(name) is _str else None
    g = _module_dict(m) if _type(m) is _module else {}
    f = g.get("__file__")
    if not (_type(f) is _str and f.startswith(lib[0])):
        g = {}
    vouch = _partial(_known, lib, held=True)
    return _all(k in _skip or k in a and a[k] is v or k in g and g[k] is v or _runs(v, vouch, ())
                for k, v in b.items())


TWINS = (("matplotlib.pyplot", "_backend_mod"),)  # (module, global) where a twin class passes (matplotlib.use)


def module_changes(kept: dict, constants: dict, modules: dict, ns: dict, lib: tuple, put_back: bool = False,
                   _module_dict=_MODULE_DICT, _wraps=wraps, _get=dict.get, _twin=twin_class, _twins=TWINS,
                   _keep=keep) -> list[str]:
    """"module.name" of each value rebound in a loaded module since the snapshot, unless a library wrapped the old
    one (``wraps``): of what ``kept`` holds per module (functions, classes, modules and whatever else acts), and of
    every top-level value of the modules in ``constants`` (``math.inf = 5.0``). The notebook's own module
    (``ns``) is the student's. With ``put_back``, each is bound again as it is seen."""
    out = []
    for name, values in [*kept.items(), *constants.items()]:
        d = _module_dict(modules[name])
        if d is ns:
            continue
        for k, v in values.items():
            now = _get(d, k, v) if name in constants else _get(d, k)  # a constant deleted is not put back
            if now is not v and not _wraps(lib, v, now):
                out += [f"{name}.{k}"] * (not ((name, k) in _twins and _twin(v, now, lib)))  # put back unreported
                if put_back:
                    _keep(now)
                    d[k] = v
    return out


_FDICT = types.FunctionType.__dict__["__dict__"]


def function_dicts(kept: dict, classes: dict, _type=type, _function=types.FunctionType, _filled=_filled,
                   _fdict=_FDICT.__get__) -> tuple[list, dict]:
    """The plain functions the loaded modules (``kept``) and the classes hold, and those in their closures (torch's
    ``@_disable_dynamo`` keeps the function it decorates there and calls that function's own ``__dynamo_disable``
    attribute at every call): ([those with no attribute of their own], {id: (function, copy of its own dict)})."""
    fs = [v.__func__ if _type(v) is staticmethod or _type(v) is classmethod else v
          for d in [*kept.values(), *classes.values()] for v in d.values()]
    fs = [f for f in fs if _type(f) is _function]
    fs += [c.cell_contents for f in fs for c in f.__closure__ or () if _filled(c) and _type(c.cell_contents) is _function]
    owned = [(f, _fdict(f)) for f in {id(f): f for f in fs}.values()]
    return [f for f, d in owned if not d], {id(f): (f, dict(d)) for f, d in owned if d}


def function_dict_changes(empty: list, full: dict, lib: tuple, funcs: tuple, put_back: bool = False,
                          _fdict=_FDICT.__get__, _set_fdict=_FDICT.__set__, _type=type, _dict=dict,
                          _acts=acts, _wraps=wraps, _list=list, _get=dict.get, _qualname=types.FunctionType.__dict__[
                              "__qualname__"].__get__, _id=id, _str_keys=str_keys, _shown=shown, _keep=keep) -> list[str]:
    """The functions of ``function_dicts`` with an attribute of their own added, replaced or deleted where the old
    or the new value acts (``acts``), unless the new one is a library's wrapper of the function itself (torch sets
    ``__dynamo_disable`` to its dynamo-disabled wrapper on first use), or whose dict is no plain dict of str
    keys. With ``put_back``, such a function's dict is bound anew as saved."""
    out, missing = [], object()
    for f, saved in [(f, {}) for f in empty if _fdict(f)] + _list(full.values()):
        d = _fdict(f)
        bad = _type(d) is not _dict or not _str_keys(d)
        if not bad:
            now = [(k, _get(d, k, missing), _get(saved, k, missing)) for k in {*_dict.keys(d), *_dict.keys(saved)}]
            bad = [k for k, v, o in now if v is not o and (_acts(v, funcs) or _acts(o, funcs)) and not _wraps(lib, f, v)
                   and not (o is None and _get(lib[3], _id(v)) is v)]  # a snapshot's class cached (numpy: ctypes')
        if bad:
            out.append(f"{_shown(_qualname(f))} (an attribute of its own)")
            if put_back:
                _keep(d)
                _set_fdict(f, _dict(saved))
    return out


PLAIN_LISTS = ((gc, "gc", "callbacks"), (sys, "sys", "meta_path"), (sys, "sys", "path_hooks"))


def plain_lists() -> list:
    """[(module, its name, attribute, the list, a copy)] of the lists ``PLAIN_LISTS`` names."""
    return [(m, name, n, getattr(m, n), list(getattr(m, n))) for m, name, n in PLAIN_LISTS]


def lists_changed(saved: list, put_back: bool = False, _getattr=getattr, _setattr=setattr, _same=same_items,
                  _set=list.__setitem__, _slice=slice(None), _keep=keep, _keep_items=keep_items) -> list[str]:
    """Which of those lists was rebound (to a subclass, say, whose methods would run here) or holds other
    objects; with ``put_back``, the very list (C code holds gc's) is bound again and refilled in place."""
    out = []
    for m, name, n, orig, items in saved:
        if _getattr(m, n) is not orig or not _same(orig, items):
            out.append(f"{name}.{n}")
            if put_back:
                _keep(_getattr(m, n))
                _keep_items(orig)
                _setattr(m, n, orig)
                _set(orig, _slice, items)
    return out
