"""The insides of objects the grading kernel's check compares by identity (grader.grading_kernel): what they
run can change while the object stays the same, with no audit event and nothing rebound.

- A ``property``, ``staticmethod``, ``classmethod`` or ``functools.partial`` (or an instance of a subclass, such
  as torch's ``dependent_property``) held in a library's class or module: its ``__init__`` (or a partial's
  ``__setstate__``) called again gives it another function, a partial's ``keywords`` dict can be filled in
  place, and a subclass's instance has a dict and a class of its own (``wrapper_insides``, ``wrapper_changes``).
- Held objects whose own dict decides what runs: IPython's input transformers (a ``PromptStripper``'s
  regexes say what it strips from every line of every cell) and traitlets' descriptors in the kept
  classes (a ``get`` in a descriptor's own dict runs whenever the trait is read, its ``name`` says which
  trait value is read): ``held_changes`` compares every value of their dicts by identity.
- The objects library modules hold as globals and the kept classes hold as attributes, whose class can be swapped
  in place (``module_instances``: their classes, for ``hooks.screen`` to put back).
- traitlets' own tables in each kept class's dict (``_all_trait_default_generators``...), filled in place
  (``trait_tables``, ``trait_table_changes``), and every class there is at the snapshot (``every_class``: what
  ``registries.fresh`` counts as made since).

Like grader.inventory and grader.hooks, each function binds what it calls as defaults."""

from __future__ import annotations

import functools
import sys
import types

from grader.graveyard import keep, keep_items
from grader.hooks import unless_stuck
from grader.registries import safe_key
from grader.inventory import PLAIN_DATA, _MRO, _TYPE_DICT, name_of, pick, plain_dict, same_contents

_WRAPPERS = (property, staticmethod, classmethod, functools.partial)
_PROPERTY = tuple(property.__dict__[n].__get__ for n in ("fget", "fset", "fdel", "__doc__"))
_FUNC = tuple((t, t.__dict__["__func__"].__get__) for t in (staticmethod, classmethod))  # (type, getter): pick
_PARTIAL = tuple(functools.partial.__dict__[n].__get__ for n in ("func", "args", "keywords"))
_INIT = tuple((t, t.__dict__["__init__"]) for t in (property, staticmethod, classmethod))  # C slots: a type's dict is fixed
_SETSTATE = functools.partial.__dict__["__setstate__"]


def _kind(v, _type=type, _mro=_MRO, _wrappers=_WRAPPERS, _next=next):
    """The wrapper type among ``_WRAPPERS`` that ``v``'s class is or derives from (torch's ``dependent_property``
    is a property), read from the MRO without asking ``v``; None for anything else."""
    return _next((b for b in _mro(_type(v)) if b in _wrappers), None)


def _inside(v, t, _tuple=tuple, _dict=dict, _prop=_PROPERTY, _part=_PARTIAL, _func=_FUNC, _partial=functools.partial,
            _plain=plain_dict, _type=type, _hasattr=hasattr, _pick=pick):
    """What ``v`` (a ``t``, one of ``_WRAPPERS``, or a subclass's) runs, read by ``t``'s own C getters: a tuple
    compared item by item; a subclass's own dict last."""
    if t is property:
        out = _tuple(g(v) for g in _prop)
    elif t is _partial:
        f, args, kw = (g(v) for g in _part)
        out = (f, args, _dict(kw))
    else:
        out = (_pick(_func, t)(v),)
    return out + ((_dict(_plain(v)),) if _type(v) is not t and _hasattr(v, "__dict__") else ())


def wrapper_insides(values, _id=id, _kind=_kind, _type=type) -> dict:
    """{id: (wrapper, its kind, its class, its insides)} of the wrappers among ``values``: properties,
    staticmethods, classmethods and partials, and their subclasses' instances."""
    return {_id(v): (v, t, _type(v), _inside(v, t)) for v in values if (t := _kind(v)) is not None}


def wrapper_changes(saved: dict, put_back: bool = False, _inside=_inside, _type=type, _dict=dict, _len=len,
                    _all=all, _zip=zip, _same=same_contents, _partial=functools.partial, _init=_INIT, _pick=pick,
                    _setstate=_SETSTATE, _plain=plain_dict,
                    _set_class=object.__dict__["__class__"].__set__, _keep=keep, _keep_items=keep_items) -> list[str]:
    """The wrappers in ``saved`` (``wrapper_insides``) whose insides changed (each item the same object; a dict, a
    partial's keywords or a subclass's own dict, the same contents); with ``put_back``, each is given its own
    again (by the type's C ``__init__`` or ``__setstate__``, and a subclass's dict refilled; its class first)."""
    out = []
    for w, t, cls, was in saved.values():
        if _type(w) is not cls:  # another class's __get__ would run; the getters below would refuse it
            out.append(f"the class of a {t.__name__} of a library's")
            _keep(_type(w))  # what is taken out: kept till the verdict is sent (grader.graveyard)
            _set_class(w, cls)
        now = _inside(w, t)
        if _len(now) == _len(was) and _all(_same(a, b) if _type(b) is _dict else a is b for a, b in _zip(now, was)):
            continue
        out.append(f"a {t.__name__} of a library's, changed in place")
        if put_back:
            _keep(now)
            try:  # its own dict too: __init__ copies __doc__ and the rest into it, __setstate__ replaces it
                _keep_items(_plain(w))
            except TypeError:  # it has none (a property)
                pass
            if t is _partial:
                _setstate(w, (was[0], was[1], _dict(was[2]), None))
            elif t is property:
                _pick(_init, t)(w, *was[:4])
            else:
                _pick(_init, t)(w, was[0])
            if _type(w) is not t and _type(was[-1]) is _dict:
                d = _plain(w)
                _keep_items(d)
                _dict.clear(d)
                _dict.update(d, was[-1])
    return out


def trait_descriptors(classes: dict, _type=type, _mro=_MRO, _modules=sys.modules, _getattr=getattr) -> list:
    """The traitlets descriptors held in the saved class dicts (``classes``: {class: copy of its dict})."""
    base = _getattr(_modules.get("traitlets.traitlets"), "BaseDescriptor", None)
    if base is None:
        return []
    return [v for attrs in classes.values() for v in attrs.values() if base in _mro(_type(v))]


def held_state(lists, classes: dict, funcs: tuple, _plain=plain_dict, _id=id, _dict=dict, _hasattr=hasattr,
               _type=type, _issubclass=issubclass, _method=types.MethodType) -> dict:
    """{id: (object, copy of its own dict, strict)}: the objects in IPython's transformer ``lists`` (a bound
    method's object) that are no function or class (strict: every value of their dict counts), and the traitlets
    descriptors of the kept ``classes`` (traitlets itself fills some of their data: a class named by a string)."""
    objs = [(o, True) for lst in lists for x in lst for o in [x.__self__ if _type(x) is _method else x]
            if not _issubclass(_type(o), funcs)] + [(o, False) for o in trait_descriptors(classes)]
    return {_id(o): (o, _dict(_plain(o)), strict) for o, strict in objs if _hasattr(o, "__dict__")}


RESOLVED = ("klass", "default_value")  # what traitlets resolves from a class's name to the class


def held_changes(saved: dict, put_back: bool = False, _plain=plain_dict, _same=same_contents, _dict=dict,
                 _type=type, _set=set, _all=all, _str=str, _resolved=RESOLVED, _issubclass=issubclass,
                 _safe=safe_key, _name=name_of, _keep=keep_items) -> list[str]:
    """The objects in ``saved`` (``held_state``) whose own dict gained, lost or rebound a key: any key of a strict
    one's (plain data such as a regex decides what it does); of a descriptor's, any but a class name (a str) that
    traitlets replaced by the class under ``RESOLVED``, a class that hashes and compares in C (``registries.safe_key``;
    its ``name`` says which trait value the shell reads, a ``get`` runs whenever the trait is read). With
    ``put_back``, the dict holds what it held again. Their classes are put back before (``hooks.screen``), and
    their dicts made plain dicts of str keys here."""
    out = []
    for o, was, strict in saved.values():
        d = _plain(o)
        if _same(d, was):
            continue
        keys = [k for k in _set(d) | _set(was) if k not in d or k not in was or d[k] is not was[k]]
        if not strict and _all(k in _resolved and k in d and k in was and _type(was[k]) is _str  # a class made of a
                               and _issubclass(_type(d[k]), type) and _safe(d[k], None) for k in keys):  # name
            continue
        out.append(f"{_name(_type(o), False)} (its own dict)")
        if put_back:
            _keep(d)
            _dict.clear(d)
            _dict.update(d, was)
    return out


def module_instances(modules: dict, funcs: tuple, classes: dict, _type=type, _issubclass=issubclass, _any=any,
                     _plain=PLAIN_DATA, _module=types.ModuleType, _self=(types.MethodType, types.BuiltinMethodType)) -> dict:
    """{id: (object, class)} of the objects the loaded library ``modules`` hold as globals, or behind a global bound
    method (``random.randint`` is ``random._inst.randint``), and the kept ``classes`` ({class: copy of its dict})
    hold as attributes (torch's ``lazy_property`` ``Categorical.logits``), other than plain data, modules, classes
    and functions: ``__class__ = Rigged`` swaps what each runs while the module or class holds the same object
    (``hooks.screen`` puts the classes back)."""
    out = {}
    held = [list(vars(m).values()) for m in modules.values() if _type(m) is _module]
    for values in [*held, *(list(d.values()) for d in classes.values())]:
        for v in values:
            if _type(v) in _self:
                v = getattr(v, "__self__", None)
            t = _type(v)
            if not (_any(t is p for p in _plain) or _issubclass(t, (_module, *funcs))):
                out[id(v)] = (v, t)
    return out


# the tables traitlets keeps in each HasTraits class's own dict, made with the class: a trait missing from an
# object's values is made by the default generator found in _all_trait_default_generators, for one
TRAIT_TABLES = ("_traits", "_trait_default_generators", "_all_trait_default_generators",
                "_static_immutable_initial_values", "_descriptors", "_instance_inits")


def trait_tables(classes: dict, _type=type, _dict=dict, _list=list) -> dict:
    """{(id of the class, name): (class, name, table, copy)} of the traitlets tables (plain dicts and lists) the
    kept ``classes`` ({class: copy of its dict}) hold: filled in place, nothing is rebound."""
    return {(id(c), n): (c, n, t, _dict(t) if _type(t) is _dict else _list(t)) for c, attrs in classes.items()
            for n in TRAIT_TABLES if _type(t := attrs.get(n)) is _dict or _type(t) is _list}


def trait_table_changes(saved: dict, put_back: bool = False, _tdict=_TYPE_DICT, _type=type,
                        _dict=dict, _same=same_contents, _set=type.__setattr__, _name=name_of,
                        _slice=list.__setitem__, _all=slice(None), _keep=keep, _keep_items=keep_items,
                        _unless_stuck=unless_stuck,
                        classes: dict | None = None) -> list[str]:
    """The tables of ``trait_tables`` rebound or changed in place; with ``put_back``, bound and filled again (before
    anything reads a trait: traitlets would call the default generator a student put there); ``hooks.Stuck`` if
    binding it could run code of the student's (``hooks.runs_code``, with ``classes``, {id: saved copy of its dict})."""
    out = []
    for c, n, t, was in saved.values():
        if _tdict(c).get(n) is not t or not _same(t, was):
            out.append(f"{_name(c)}.{n} (traitlets' table)")
            if put_back:
                _unless_stuck(c, classes or {})
                _keep(_tdict(c).get(n))
                _keep_items(t)
                _set(c, n, t)
                if _type(t) is _dict:
                    _dict.clear(t)
                    _dict.update(t, was)
                else:
                    _slice(t, _all, was)
    return out


def every_class(_subclasses=type.__subclasses__, _id=id) -> dict:
    """{id: class} of every class there is now (``object``'s subclasses, all the way down; held, so no class made
    later takes one of their ids): what ``registries.fresh`` counts as made before the snapshot."""
    seen, stack = {}, [object]
    while stack:
        c = stack.pop()
        if _id(c) not in seen:
            seen[_id(c)] = c
            stack += _subclasses(c)
    return seen
