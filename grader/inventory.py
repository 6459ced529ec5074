"""What the grading kernel (grader.grading_kernel) takes in before any student code runs (its
resource limits, the function-like types its snapshot keeps, every class the loaded modules
define), and the small tests its check after a test uses (which code is a library's own: grader.codes). The
kernel imports each by name, so rebinding one here changes nothing there, and its audit hook
refuses a change to their code."""

from __future__ import annotations

import builtins
import resource
import sys
import types

from grader.graveyard import keep, keep_items

_LIMITS = (("as", resource.RLIMIT_AS), ("cpu", resource.RLIMIT_CPU), ("fsize", resource.RLIMIT_FSIZE),
           ("nproc", resource.RLIMIT_NPROC), ("core", resource.RLIMIT_CORE))
_FUNCS = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type, staticmethod,
          classmethod, property)


def apply_limits(spec: str) -> None:
    """'as=BYTES,cpu=SECONDS,...' -> setrlimit (soft = hard), for this process and its children."""
    limits = dict(_LIMITS)
    for item in filter(None, spec.split(",")):
        name, _, value = item.partition("=")
        if name not in limits:
            raise ValueError(f"GRADER_LIMITS: unknown limit {name!r}; expected one of {sorted(limits)}")
        n = int(value)
        resource.setrlimit(limits[name], (n, n))


def pick(pairs: tuple, key):
    """The value paired with ``key`` in ``pairs`` ((key, value), ...), found by identity, or None: no ``__hash__``
    or ``__eq__`` of anyone's runs. The grader's tables are such tuples: a dict can be changed in place, and even a
    mappingproxy hands its dict to the other side's ``__eq__`` when compared with an object of the student's."""
    for k, v in pairs:
        if k is key:
            return v
    return None


def func_types() -> tuple:
    """The function-like types the reset keeps: numpy's ufuncs (np.abs) and dispatchers (np.allclose) too."""
    np = sys.modules.get("numpy")
    return _FUNCS + ((type(np.abs), type(np.allclose)) if np is not None else ())


def module_classes(modules: dict) -> list[type]:
    """Every class defined in a loaded module (found without touching lazy or deprecated attributes),
    the classes of the modules themselves, and the classes those classes hold (autograd's backward classes)."""
    out = []
    for name, m in modules.items():
        try:
            values = list(vars(m).values()) if isinstance(m, types.ModuleType) else []
        except TypeError:
            continue
        out += [v for v in values if issubclass(type(v), type) and vars(v).get("__module__") == name]
        out += [c for c in type(m).__mro__ if c is not object]  # a module's own class (torch._VF's __getattr__)
    nested = [v for c in out for v in vars(c).values() if isinstance(v, type)]  # a class a class holds
    return out + nested


# The tests below run after student code: everything they use besides builtins (which the check puts
# back first) is bound as a default argument, which the kernel's audit hook keeps from being changed.
def same(a, b, _method=types.MethodType, _type=type) -> bool:
    """The same object, or the same method bound to the same object (each binding makes a new one); by
    exact type (isinstance would ask the object's own ``__class__``, which can be a property)."""
    return a is b or (_type(a) is _method and _type(b) is _method
                      and a.__func__ is b.__func__ and a.__self__ is b.__self__)


def same_items(a, b, _same=same, _type=type, _len=len, _all=all, _zip=zip) -> bool:
    """Two sequences of the same type and of the same objects (a bound method counts as the same when
    rebound), by identity: an object whose __eq__ always says yes cannot stand in for another, and a
    subclass's __len__ or __iter__ would run here."""
    return _type(a) is _type(b) and _len(a) == _len(b) and _all(_same(x, y) for x, y in _zip(a, b))


def same_members(a, b, _same=same, _type=type, _all=all, _any=any) -> bool:
    """``a`` is of ``b``'s type and holds only objects ``b`` holds, in any order, some perhaps taken away
    (``with plt.ioff():`` puts IPython's post_execute callbacks back in another order; ``plt.ioff()`` takes
    matplotlib's own away)."""
    return _type(a) is _type(b) and _all(_any(_same(x, y) for y in b) for x in a)


def same_contents(now, saved, _same_items=same_items, _type=type, _set=set, _list=list, _any=any, _all=all) -> bool:
    """A list of the same objects as ``saved``, or a dict with the same keys and the same objects (each
    key of a type ``saved`` has, looked at before any is hashed: a key's own __hash__ would run here)."""
    if _type(now) is not _type(saved):
        return False
    if _type(saved) is dict:
        kinds = [_type(k) for k in saved]
        return _all(_any(_type(k) is t for t in kinds) for k in now) and _set(now) == _set(saved) and _same_items(
            [now[k] for k in saved], _list(saved.values()))
    return _same_items(now, saved)


_MRO, _TYPE_DICT = type.__dict__["__mro__"].__get__, type.__dict__["__dict__"].__get__
_NAMES = type.__dict__["__qualname__"].__get__, type.__dict__["__name__"].__get__


def shown(name, _type=type, _str=str) -> str:
    """``name`` as a report may hold it: itself when a plain str, else a placeholder (``type.__qualname__`` and a
    function's accept a str subclass, whose ``__format__`` or ``__hash__`` would run inside the check)."""
    return name if _type(name) is _str else "(a name that is no str)"


def name_of(c, qualified: bool = True, _names=_NAMES, _shown=shown) -> str:
    """A class's qualified name (or its ``__name__``), read by type's own descriptors, as ``shown``."""
    return _shown(_names[0](c) if qualified else _names[1](c))


def rebound(obj, name: str, value, _method=types.MethodType, _type=type, _mro=_MRO, _tdict=_TYPE_DICT,
            _next=next) -> bool:
    """``value`` is the class's own method ``name`` bound to ``obj``, stored on it (the class's attribute
    read from the dicts of its MRO: a metaclass's ``__getattribute__`` would run)."""
    return _type(value) is _method and value.__self__ is obj and value.__func__ is _next(
        (_tdict(b)[name] for b in _mro(_type(obj)) if name in _tdict(b)), None)


def str_keys(d, _type=type, _str=str, _all=all) -> bool:
    """Every key of ``d`` (a dict or a class's mappingproxy) is a plain str, looked at unhashed."""
    return _all(_type(k) is _str for k in d)


def acts(v, funcs: tuple, _issubclass=issubclass, _callable=callable, _type=type, _mro=_MRO,
         _tdict=_TYPE_DICT) -> bool:
    """``v`` does something when called or looked up on a class (a function-like type, anything
    callable, a descriptor such as a property or a slot wrapper), unlike plain data; decided from its
    type's own dicts, without running any code of ``v``'s (a metaclass cannot answer for it)."""
    t = _type(v)  # a class dict that holds a key that is no str (type() takes them) counts as acting: ``in`` would hash
    return _issubclass(t, funcs) or _callable(v) or any(
        not str_keys(_tdict(b)) or "__get__" in _tdict(b) or "__set__" in _tdict(b) for b in _mro(t))


def class_names(cls: type, _mro=_MRO, _tdict=_TYPE_DICT) -> frozenset:
    """Every attribute name ``cls`` and its bases define."""
    return frozenset(k for b in _mro(cls) for k in _tdict(b))


def tensors_with_attributes(ns: dict, tensors: tuple, own_dict, names: frozenset, strip: bool = False,
                            limit: int = 1000, _type=type, _list=list, _str=str, _dict=dict, _len=len,
                            _keep=keep_items) -> list[str]:
    """The notebook's names whose value (or an item of the list, tuple or dict it is) is a plain tensor
    or parameter (exactly one of ``tensors``) with an attribute of its own named like one of its
    class's (``names``): ``t.double = lambda: liar`` answers for the tensor's method after a test
    checked ``type(t) is torch.Tensor`` (a key that is not a plain str may compare equal to one).
    ``own_dict`` is the tensor's ``__dict__`` descriptor (C code reads and sets it); a dict that is no plain dict
    counts (its own methods would run); a label (``t.note = "..."``) is no patch. With ``strip`` (the reset),
    such attributes are taken out, the dict rebuilt unhashed."""
    out = []
    for k, v in _list(ns.items()):
        t = _type(v)
        items = (_list(v.values())[:limit] if t is dict else v[:limit] if t is list or t is tuple else (v,))
        for x in items:
            if not any(_type(x) is c for c in tensors):
                continue
            d = own_dict.__get__(x)
            plain = _type(d) is _dict
            keep = [(n, a) for n, a in _dict.items(d) if _type(n) is _str and n not in names]
            if not plain or _len(keep) != _dict.__len__(d):
                out.append(k if _type(k) is str else "?")
                if strip:  # what is taken out: kept till the verdict is sent (grader.graveyard)
                    _keep(d)
                if strip and plain:
                    _dict.clear(d)
                    _dict.update(d, keep)
                elif strip:
                    own_dict.__set__(x, _dict(keep))
    return _list(dict.fromkeys(out))


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # an empty cell
        return False
    return True


# plain data: a class attribute of these types rebound counts only if it acts (a cache, a counter, a flag), and a
# module global of these types holds no object whose class could be swapped
PLAIN_DATA = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset, list, dict, set)


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


def torch_hooks(_modules=sys.modules) -> tuple[bool, bool]:
    """Whether torch has saved-tensor hooks pushed (they decide what every backward pass sees) and a
    frame-evaluation callback set (dynamo's PEP 523 hook runs it at the start of every Python frame)."""
    C = getattr(_modules.get("torch"), "_C", None)
    if C is None:
        return (False, False)
    ef = getattr(getattr(C, "_dynamo", None), "eval_frame", None)
    return (C._autograd._top_saved_tensors_default_hooks(False) is not None,
            ef is not None and ef.get_eval_frame_callback() is not None)


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


def odd_keys(d: dict, put_back: bool = False, _type=type, _str=str, _list=list, _dict=dict, _str_keys=str_keys,
             _keep=keep) -> bool:
    """Whether ``d`` is no plain dict or has a key that is no plain str (its __hash__ or __eq__ would run when a name is
    looked up); with ``put_back``, such keys are taken out (by rebuilding ``d``: deleting one hashes it)."""
    if _type(d) is not _dict:  # a subclass's own methods would run (an object's __dict__ can be one)
        return True
    if _str_keys(d):
        return False
    if put_back:
        items = _list(_dict.items(d))
        _keep(items)  # what is taken out: kept till the verdict is sent (grader.graveyard)
        _dict.clear(d)
        _dict.update(d, [(k, v) for k, v in items if _type(k) is _str])
    return True


def plain_dict(obj, report: bool = False, _vars=vars, _type=type, _dict=dict, _odd=odd_keys, _str=str,
               _setattr=object.__setattr__, _keep=keep):
    """``obj``'s own dict, made a plain dict of str keys: one of another type is replaced by a plain copy (a
    subclass's own methods would run), keys that are no str are taken out unhashed. With ``report``: whether
    it had to be changed, instead of the dict."""
    d = _vars(obj)
    changed = _type(d) is not _dict
    if changed:
        _keep(d)
        d = {k: v for k, v in _dict.items(d) if _type(k) is _str}
        _setattr(obj, "__dict__", d)
    else:
        changed = _odd(d, True)
    return changed if report else d


def put_back_dict(saved: dict, b: dict = builtins.__dict__, _odd=odd_keys, _dict=dict, _keep=keep_items) -> list[str]:
    """A module's dict as saved (builtins by default: the first step of the check and of the reset,
    which call them; also the grader's own modules, whose globals the check looks up); returns the
    names that differed (a key that is no plain str is taken out first, unhashed)."""
    out = ["(a key that is no str)"] * _odd(b, True)
    out += [k for k in b if k not in saved or b[k] is not saved[k]] + [k for k in saved if k not in b]
    if out:
        _keep(b)
    for k in [k for k in b if k not in saved]:
        del b[k]
    _dict.update(b, saved)
    return out


try:
    import _testinternalcapi  # CPython's own: how a submission switches asserts off at run time (bound now)
    _CONFIG = (_testinternalcapi.get_config, _testinternalcapi.set_config)
except ImportError:  # a Python built without it: nothing can switch asserts off that way either
    _CONFIG = None


def restore_interpreter(optimize: int, modes: tuple, torch_state, saved_builtins: dict, hooks: tuple = (False, False),
                        _modules=sys.modules, _config=_CONFIG, _keep=keep, _keep_items=keep_items,
                        _sysdict=sys.__dict__) -> None:
    """Asserts on again, torch's function and dispatch modes popped to ``modes``, saved-tensor hooks and the
    frame-evaluation callback taken off when the snapshot had none (``hooks``), its default dtype and grad
    mode (``torch_state``) put back."""
    if not asserts_on(saved_builtins["exec"], saved_builtins["compile"]) and _config is not None:
        config = _config[0]()
        config["optimization_level"] = optimize
        _keep_items(_sysdict)  # set_config rebinds sys.argv, sys.path...: what they held, kept
        _config[1](config)
    torch = _modules.get("torch")
    if torch is not None and torch_state is not None:
        while torch._C._len_torch_function_stack() > modes[0]:  # what is taken off: kept (grader.graveyard)
            _keep(torch._C._pop_torch_function_stack())
        while torch._C._len_torch_dispatch_stack() > modes[1]:
            _keep(torch._C._pop_torch_dispatch_stack())
        while not hooks[0] and (top := torch._C._autograd._top_saved_tensors_default_hooks(False)) is not None:
            _keep(top)
            torch._C._autograd._pop_saved_tensors_default_hooks()
        if not hooks[1] and getattr(torch._C, "_dynamo", None) is not None:
            _keep(torch._C._dynamo.eval_frame.set_eval_frame(None))
        torch.set_default_dtype(torch_state[0])
        torch.set_grad_enabled(torch_state[1])
