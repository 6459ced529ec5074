"""The insides of objects the grading kernel's check compares by identity (grader.grading_kernel): what they
run can change while the object stays the same, with no audit event and nothing rebound.

- A ``property``, ``staticmethod``, ``classmethod`` or ``functools.partial`` held in a library's class or
  module: its ``__init__`` (or a partial's ``__setstate__``) called again gives it another function, and a
  partial's ``keywords`` dict can be filled in place (``wrapper_insides``, ``wrapper_changes``).
- Held objects whose own dict decides what runs: IPython's input transformers (a ``PromptStripper``'s
  regexes say what it strips from every line of every cell) and traitlets' descriptors in the kept
  classes (a ``get`` in a descriptor's own dict runs whenever the trait is read): ``held_changes``
  compares every value of their dicts by identity.

Like grader.inventory and grader.hooks, each function binds what it calls as defaults."""

from __future__ import annotations

import functools
import sys
import types

from grader.inventory import _MRO, _TYPE_DICT, acts, plain_dict, same_contents, same_items

_WRAPPERS = (property, staticmethod, classmethod, functools.partial)
_PROPERTY = tuple(property.__dict__[n].__get__ for n in ("fget", "fset", "fdel", "__doc__"))
_FUNC = {t: t.__dict__["__func__"].__get__ for t in (staticmethod, classmethod)}
_PARTIAL = tuple(functools.partial.__dict__[n].__get__ for n in ("func", "args", "keywords"))
_INIT = {t: t.__dict__["__init__"] for t in (property, staticmethod, classmethod)}  # C slots: a type's dict is fixed
_SETSTATE = functools.partial.__dict__["__setstate__"]


def _inside(v, _type=type, _dict=dict, _tuple=tuple, _prop=_PROPERTY, _part=_PARTIAL, _func=_FUNC,
            _partial=functools.partial):
    """What ``v`` (of an exact type in ``_WRAPPERS``) runs: a tuple compared item by item."""
    t = _type(v)
    if t is property:
        return _tuple(g(v) for g in _prop)
    if t is _partial:
        f, args, kw = (g(v) for g in _part)
        return f, args, _dict(kw)
    return (_func[t](v),)


def wrapper_insides(values, _type=type, _id=id, _wrappers=_WRAPPERS) -> dict:
    """{id: (wrapper, its insides)} of the wrappers among ``values`` (by exact type: a subclass is no such
    wrapper, and its own methods are kept with its class)."""
    return {_id(v): (v, _inside(v)) for v in values if _type(v) in _wrappers}


def wrapper_changes(saved: dict, put_back: bool = False, _inside=_inside, _type=type, _dict=dict,
                    _same_items=same_items, _same=same_contents, _partial=functools.partial, _init=_INIT,
                    _setstate=_SETSTATE) -> list[str]:
    """The wrappers in ``saved`` (``wrapper_insides``) whose insides changed; with ``put_back``, each is given
    its own again (by the type's C ``__init__`` or ``__setstate__``)."""
    out = []
    for w, was in saved.values():
        now = _inside(w)
        t = _type(w)
        same = _same_items(now[:2], was[:2]) and _same(now[2], was[2]) if t is _partial else _same_items(now, was)
        if same:
            continue
        out.append(f"a {t.__name__} of a library's, changed in place")
        if put_back:
            if t is _partial:
                _setstate(w, (was[0], was[1], _dict(was[2]), None))
            elif t is property:
                _init[t](w, *was)
            else:
                _init[t](w, was[0])
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


def held_changes(saved: dict, funcs: tuple, put_back: bool = False, _plain=plain_dict, _same=same_contents,
                 _dict=dict, _type=type, _set=set, _callable=callable, _issubclass=issubclass, _any=any, _mro=_MRO,
                 _tdict=_TYPE_DICT, _acts=acts) -> list[str]:
    """The objects in ``saved`` (``held_state``) whose own dict gained, lost or rebound a key: any key of a strict
    one's (plain data such as a regex decides what it does), and of a descriptor's a key that now holds something
    callable other than a class or that hides an attribute of its class that acts (``get``: it runs whenever the
    trait is read). With ``put_back``, the dict holds what it held again. Their classes are put back before
    (``hooks.screen``), and their dicts made plain dicts of str keys here."""
    out = []
    for o, was, strict in saved.values():
        d = _plain(o)
        if _same(d, was):
            continue
        keys = [k for k in _set(d) | _set(was) if k not in d or k not in was or d[k] is not was[k]]
        if not strict and not _any(
                k in d and _callable(d[k]) and not _issubclass(_type(d[k]), type)
                or _any(k in _tdict(b) and _acts(_tdict(b)[k], funcs) for b in _mro(_type(o))) for k in keys):
            continue
        out.append(f"{_type(o).__name__} (its own dict)")
        if put_back:
            _dict.clear(d)
            _dict.update(d, was)
    return out
