"""The registries libraries keep in module globals and call without a name being rebound (torch's KL table and
its cache, its global module and optimizer hooks, copy's and copyreg's tables, numpy's dtype names): what the
grading kernel's snapshot (grader.snapshot) copies of them, and how its check and reset compare them and put them
back. Like grader.inventory, each function binds what it calls as defaults."""

from __future__ import annotations

import types

from grader.graveyard import keep, keep_items
from grader.inventory import _MRO, _TYPE_DICT, str_keys
from grader.wrappers import runs_library_code

# Registries libraries keep in module globals and call without a name being rebound: (module, name prefix).
# Other registries (torch's operator tables, its dispatch caches) are not watched.
REGISTRIES = (("torch.distributions.kl", "_KL_"), ("torch.nn.modules.module", "_global_"),
              ("torch.optim.optimizer", "_global_"), ("copy", "_deepcopy_dispatch"), ("copy", "_copy_dispatch"),
              ("copyreg", "dispatch_table"), ("numpy._core._type_aliases", "sctypeDict"),  # copying by type, dtype names
              ("torch.testing._comparison", "_DTYPE_PRECISIONS"))  # assert_close's default tolerances, by dtype
CONSTANT = ("_DTYPE_PRECISIONS",)  # tables no library fills: an entry added counts, whatever it holds
MEMOS = (("_KL_MEMOIZE", "_KL_REGISTRY"),)  # a cache: (its name, the table whose entries it may hold)
# tables keyed by class: an entry added for a class made since the snapshot (sympy's, imported by torch on first
# use, or the student's own) changes only how that class's objects are copied
BY_CLASS = ("dispatch_table", "_deepcopy_dispatch", "_copy_dispatch")
# tables keyed by a tuple of classes matched with issubclass: an entry for a class made since the snapshot whose
# metaclass's __subclasscheck__ is type's (the student's own distribution) matches only that class's subclasses
BY_CLASSES = ("_KL_REGISTRY", "_KL_MEMOIZE")
_SUBCLASSCHECK = type.__dict__["__subclasscheck__"]


def fresh(name: str, k, classes: dict, _id=id, _type=type, _issubclass=issubclass, _tuple=tuple, _any=any,
          _mro=_MRO, _tdict=_TYPE_DICT, _next=next, _check=_SUBCLASSCHECK) -> bool:
    """The key ``k`` of the registry ``name`` reaches only classes made since the snapshot (not in ``classes``, {id:
    class} of every class at the snapshot, ``contents.every_class``): a class itself (``BY_CLASS``), or a tuple with
    such a class, type's own ``__subclasscheck__`` deciding what it matches (``BY_CLASSES``). ``k`` hashes in C
    (``safe_key``)."""
    if name in BY_CLASS:
        return _id(k) not in classes
    return name in BY_CLASSES and _type(k) is _tuple and _any(
        _issubclass(_type(x), type) and _id(x) not in classes and _next(
            (_tdict(b)["__subclasscheck__"] for b in _mro(_type(x)) if "__subclasscheck__" in _tdict(b)), None) is _check
        for x in k)


def registries(modules: dict, _vars=vars, _type=type, _issubclass=issubclass, _dict=dict, _list=list) -> list:
    """[(module dict, name, container, copy)] of the dicts and lists ``REGISTRIES`` names (torch's KL
    table and its cache, its global module and optimizer hooks) in the loaded ``modules``."""
    out = []
    for name, prefix in REGISTRIES:
        m = modules.get(name)
        d = _vars(m) if m is not None else {}
        for k, v in _list(d.items()):
            t = _type(v)  # not isinstance: it would ask the object
            if k.startswith(prefix) and _issubclass(t, (_dict, _list)):
                out.append((d, k, v, _dict(v) if _issubclass(t, _dict) else _list(v)))
    return out


def safe_key(k, known, _type=type, _issubclass=issubclass, _data=(str, int, float, bytes, bool, type(None)),
             _tuple=tuple, _typetype=type, _all=all, _any=any, _tdict=_TYPE_DICT, _mro=_MRO,
             _c=types.WrapperDescriptorType, _next=next, _str_keys=str_keys,
             _flags=type.__dict__["__flags__"].__get__, _heap=1 << 9,
             _by_id=(object.__dict__["__hash__"], object.__dict__["__eq__"])) -> bool:
    """``k`` hashes and compares with C code only: plain data, a tuple of such, an object of a built-in type
    (no class of its MRO made in Python: their dicts cannot change) that hashes and compares by identity, with
    ``object``'s own ``__hash__`` and ``__eq__`` (``torch.float32``; a bound method, a weak reference or a
    frozenset hashes what it holds), or a class whose metaclass's are C slots (a metaclass of the snapshot's can be
    patched too, and its dict is compared only after the registries)."""
    t = _type(k)
    if _any(t is d for d in _data):  # (by identity: ``in`` would hash the type)
        return True
    if t is _tuple:
        return _all(safe_key(x, known) for x in k)
    built_in = _all(not _flags(b) & _heap for b in _mro(t))  # its dicts hold str keys and cannot change
    if not built_in and not (_issubclass(t, _typetype) and _all(_str_keys(_tdict(b)) for b in _mro(t))):
        return False  # (a class's metaclasses' keys checked before any name is looked up in their dicts)
    found = [_next((_tdict(b)[n] for b in _mro(t) if n in _tdict(b)), None) for n in ("__hash__", "__eq__")]
    if built_in:
        return found[0] is _by_id[0] and found[1] is _by_id[1]
    return _all(_type(f) is _c for f in found)  # C: object's, type's


def registry_changes(saved: list, known, put_back: bool = False, classes: dict | None = None, _issubclass=issubclass,
                     _type=type, _dict=dict, _list=list, _runs=runs_library_code, _any=any, _len=len,
                     _fresh=fresh, _keep=keep, _keep_items=keep_items, _constant=CONSTANT, _all=all,
                     _safe=safe_key) -> int:
    """How many of the registries in ``saved`` (``registries``) were rebound in their module, had an
    entry replaced, or gained one that runs code ``known`` does not vouch for (``runs_library_code``: the
    student's), any in a table no library fills (``CONSTANT``) or, in a cache (``MEMOS``), one its table does not
    hold for that key; a library filling
    its caches is not a change, nor an entry whose key reaches only classes made since the snapshot (``fresh``:
    ``classes``, {id: class}, are the snapshot's), whatever it runs (a cache's must still be its table's). With
    ``put_back``: the binding and such entries are put back (an added one taken out). A cache is compared with
    its table as saved (the very dict, not what its module binds now), and only while every key there hashes in
    C (``safe_key``); otherwise no entry cached since the snapshot passes (but ``NotImplemented``)."""
    n, tables = 0, {name: reg for _, name, reg, _ in saved}
    for d, name, reg, copy in saved:
        rebound = d.get(name) is not reg
        if rebound and put_back:
            _keep(d.get(name))
            d[name] = reg
        if _issubclass(_type(reg), _dict):  # an entry replaced counts, whatever runs; one added, if not a library's
            items, bad = [], []  # keys looked at before any is hashed: a key's own __hash__ would run
            for k, v in _list(_dict.items(reg)):
                if safe_key(k, known):
                    items.append((k, v))
                else:
                    bad.append(k)
            of = next((tables.get(t) for n, t in MEMOS if n == name), None)  # a cache must hold what its table holds
            if of is not None and (_type(of) is not _dict or not _all(_safe(x, known) for x in _list(_dict.keys(of)))):
                of = {}
            new = [k for k, v in items if k in copy and v is not copy[k] or k not in copy and (name in _constant or (
                   not _fresh(name, k, classes or {}) and not _runs(v, known, ())) or of is not None and not (
                       v is of[k] if k in of else v is NotImplemented or _any(v is e for e in _dict.values(of))))]
            if put_back and (bad or new):
                _keep_items(reg)
            if put_back and bad:
                _dict.clear(reg)
                _dict.update(reg, items)
            for k in (new if put_back else []):
                if k in copy:
                    reg[k] = copy[k]
                else:
                    del reg[k]
            new += bad
        else:
            keep = [v for v in reg if _any(v is c for c in copy) or _runs(v, known, ())]
            new = _len(keep) != _len(reg)
            if new and put_back:
                _keep_items(reg)
                reg[:] = keep
        n += bool(new) or rebound
    return n
