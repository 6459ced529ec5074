"""The snapshot the grading kernel (grader.grading_kernel) takes before any student code runs, with
its reset (``_Snapshot.restore``: what it puts back before each graded test) and its check
(``_Snapshot.changed``: what a test may not have changed). GRADING.md lists what it holds; the
pieces it is made of are in grader.inventory, grader.hooks, grader.registries, grader.contents and grader.signals;
what the check and the reset take out is kept alive in grader.graveyard until the verdict is sent."""

from __future__ import annotations

import _signal
import builtins
import functools
import gc
import linecache
import os
import sys
import types

from ipykernel.ipkernel import IPythonKernel

from grader.contents import (every_class, held_changes, held_state, module_instances, trait_table_changes, trait_tables,
                             wrapper_changes, wrapper_insides)
from grader.graveyard import keep, keep_items
from grader.hooks import (changed_shapes, class_changes, class_shapes, function_dict_changes, function_dicts,
                          lists_changed, module_changes, plain_lists, plain_objects, put_back_trait_hooks,
                          same_trait_hooks, screen, trait_hooks)
from grader.registries import registries, registry_changes
from grader.signals import SIGNALS, signal_handlers, torch_sigchld_code, unpark
from grader.codes import STDLIB_FILES, library_codes, library_dirs
from grader.inventory import (_MRO, _TYPE_DICT, acts, asserts_on, class_names, func_types,
                              module_classes, name_of, odd_keys, put_back_dict, rebound,
                              restore_interpreter, same, same_contents, same_items, same_members, shown, tensors_with_attributes,
                              torch_hooks, torch_kernels, torch_modes)
from grader.wrappers import known

CONSTANT_MODULES = ("math", "cmath", "numpy", "torch")  # every top-level value is kept, not only functions
SHELL_PARTS = ("compile", "input_transformer_manager", "prefilter_manager", "events", "InteractiveTB", "SyntaxTB",
               "displayhook", "display_pub", "builtin_trap", "display_trap")  # the objects that run a cell
# None until set; then IPython runs every cell through it. Other attributes and traits of the objects that
# run a cell are compared when their value at the snapshot acts (IPython sets some per cell: old_hook).
UNSET_RUNNERS = ("trio_runner",)
TRAIT_MAGIC = ("_validate", "_changed", "_default")  # _<trait>_validate on the object: traitlets calls it
# C, called first (the kernel, before): the collector (a gc callback) off, a trace or profile function taken off
_QUIET = gc.disable, sys.gettrace, sys.getprofile, sys.settrace, sys.setprofile
_COLLECTING = gc.isenabled, gc.enable  # as before the check or the reset: on, or (the kernel turned it off) off


def type_swapped(saved, now) -> bool:
    """An attribute of the objects that run a cell whose value the snapshot saw (not None) now has another type
    (a dict subclass in place of IPython's dict): the check reports it, the reset puts the saved one back."""
    return saved is not None and type(now) is not type(saved)


class _Snapshot:
    """What the reset puts back (``restore``) and a test may not change (``changed``), taken at kernel start."""

    def __init__(self, kernel: IPythonKernel) -> None:
        shell = kernel.shell
        self.funcs = func_types()
        self.dirs = library_dirs()
        self.builtins = dict(vars(builtins))
        self.sys_hooks = {n: getattr(sys, n) for n in ("excepthook", "displayhook", "stdout", "stderr", "stdin")}
        self.signals = {int(s): _signal.getsignal(s) for s in SIGNALS}  # C, as signals.signal_handlers reads them
        self.sys_dunder = {n: getattr(sys, f"__{n}__") for n in ("stdout", "stderr")}  # sys.stdout = sys.__stdout__
        tm = shell.input_transformer_manager
        self.tm = {n: list(getattr(tm, n)) for n in ("cleanup_transforms", "line_transforms", "token_transformers")}
        self.cleanup = list(shell.input_transformers_cleanup)
        self.post = list(shell.input_transformers_post)
        self.ast = list(shell.ast_transformers)
        pm = shell.prefilter_manager
        self.prefilter = {n: (list(v) if isinstance(v, list) else dict(v))
                          for n in ("_transformers", "_checkers", "_handlers", "_esc_handlers")
                          if isinstance(v := getattr(pm, n, None), (list, dict))}
        self.events = {k: list(v) for k, v in shell.events.callbacks.items()}
        self.compile_flags = shell.compile.flags
        self.shell_handlers = dict(kernel.shell_handlers)
        self.control_handlers = dict(getattr(kernel, "control_handlers", {}))
        self.kernel_attrs = {n: getattr(kernel, n) for n in
                             ("shell", "session", "iopub_socket", "iopub_thread", "shell_stream", "control_stream")}
        self.shell_parts = {n: getattr(shell, n) for n in SHELL_PARTS}
        self.kernel = kernel
        self.user_ns, self.user_module = shell.user_ns, shell.user_module  # a dict subclass can fake any name
        self.lists = plain_lists()  # gc.callbacks, sys.meta_path, sys.path_hooks: the very lists
        self.optimize, self.modes, self.kernels, self.hooks = sys.flags.optimize, torch_modes(), torch_kernels(), torch_hooks()
        torch = sys.modules.get("torch")
        self.torch = (torch.get_default_dtype(), torch.is_grad_enabled()) if torch is not None else None
        # methods of every object and class the execution path goes through
        objs = [kernel, shell, shell.compile, shell.displayhook, shell.display_pub, pm,
                shell.input_transformer_manager, shell.InteractiveTB, shell.SyntaxTB, shell.events,
                shell.builtin_trap, shell.display_trap, *(getattr(shell, n, None) for n in
                ("history_manager", "payload_manager", "logger", "display_formatter")),  # they run per cell
                # the messaging path: how replies and outputs reach the grader
                kernel.session, kernel.iopub_socket, kernel.iopub_thread, kernel.shell_stream,
                kernel.control_stream,
                *(s for s in (sys.stdout, sys.stderr) if s is not None)]
        objs = [o for o in objs if o is not None]
        self.objs = {id(o): (o, dict(vars(o))) for o in objs if hasattr(o, "__dict__")}
        self.line_cache = (vars(linecache), linecache.cache)  # IPython writes each cell's source there as it starts
        self.types = {id(o): (o, type(o)) for o in objs}
        getattr(shell, "loop_runner", None)  # a trait made on first use: read, so the snapshot holds it
        self.traits = {id(o): (o, tv, dict(tv)) for o in objs  # session.pack, shell.loop_runner: traits
                       if type(tv := getattr(o, "__dict__", {}).get("_trait_values")) is dict}
        self.tensor = (((torch.Tensor, torch.nn.Parameter), vars(torch.Tensor)["__dict__"],
                        class_names(torch.nn.Parameter)) if torch is not None else None)
        self.auto_builtins = dict(shell.builtin_trap.auto_builtins)  # copied into builtins as each cell starts
        self.trait_hooks = {id(o): (o, trait_hooks(o)) for o in objs  # observers, validators
                            if "_trait_values" in getattr(o, "__dict__", {})}
        self.sys_modules, self.modules = sys.modules, dict(sys.modules)  # the very dict, and what it held
        self.codes, self.sigchld = library_codes(self.dirs + STDLIB_FILES, self.modules), torch_sigchld_code(self.modules)
        classes = {c for o in objs for c in type(o).__mro__ if c is not object} | set(module_classes(self.modules))
        classes |= {b for c in list(classes) for b in c.__mro__ if b is not object}  # bases no module names
        classes |= {m for c in list(classes) for m in _MRO(type(c)) if m is not object and m is not type}  # metaclasses
        # no module names (pybind11's): hooks.runs_code compares a class's metaclasses with their saved dicts
        self.classes = {c: dict(_TYPE_DICT(c)) for c in classes}
        self.shapes = class_shapes(self.classes)  # bases, metaclass and MRO
        self.tables = trait_tables(self.classes)  # traitlets' own, in the classes' dicts
        self.trait_names = {id(o): frozenset(_TYPE_DICT(type(o)).get("_traits", ())) for o in objs}
        self.class_ids = {id(c): c for c in self.classes}
        self.old_classes = every_class() | self.class_ids  # {id: class} of every class there is (registries.fresh)
        self.registries = registries(self.modules)  # torch's KL table, its global hooks
        self.module_funcs = {name: {k: v for k, v in vars(m).items()  # functions, classes, modules, what can act,
                                    if issubclass(type(v), (*self.funcs, types.ModuleType)) or acts(v, self.funcs)
                                    or k == "__builtins__"}  # and what the module's new functions take as builtins
                             for name, m in self.modules.items() if isinstance(m, types.ModuleType)}
        self.module_ids = {id(m): m for m in self.modules.values() if isinstance(m, types.ModuleType)}
        self.lib = (self.dirs, self.codes, self.module_ids, self.class_ids)  # what library code is (wrappers.known)
        self.types |= {i: (m, type(m)) for i, m in self.module_ids.items()}  # torch.__class__ = a liar's
        self.constants = {name: dict(vars(self.modules[name])) for name in CONSTANT_MODULES if name in self.modules}
        fs = [f for d in [*self.module_funcs.values(), *self.classes.values()] for v in d.values()
              for f in [v.__func__ if type(v) in (staticmethod, classmethod) else v]
              if type(f) is types.FunctionType and f.__kwdefaults__]
        self.kwdefaults = {id(f): (f, dict(f.__kwdefaults__)) for f in fs}  # a dict: changed in place, unaudited
        self.fdicts = function_dicts(self.module_funcs, self.classes)  # f.__dynamo_disable = a liar: unaudited too
        self.insides = wrapper_insides(v for d in (*self.module_funcs.values(), *self.constants.values(),
                                                   *self.classes.values()) for v in d.values())
        self.held = held_state((*self.tm.values(), self.cleanup, self.post, self.ast), self.classes, self.funcs)
        self.types |= {i: (o, type(o)) for i, (o, _, _) in self.held.items()}  # their classes: put back first
        self.types |= module_instances(self.modules, self.funcs, self.classes)  # random._inst.__class__ = Rigged
        for cls_path in os.environ.get("GRADER_CLASSES", "").split(","):
            mod, _, attr = cls_path.rpartition(".")
            if mod in sys.modules and isinstance(c := getattr(sys.modules[mod], attr, None), type):
                self.classes[c] = dict(vars(c))
        self.class_dicts = {id(c): d for c, d in self.classes.items()}  # what hooks.runs_code compares metaclasses with

    def changed(self, kernel: IPythonKernel) -> list[str]:
        """What differs from the snapshot now (after a test ran): builtins, hooks, modules...; [] if nothing.
        What the student's code could have set to run during the check (builtins, the classes of objects and
        modules, keys that are no str, class dicts, the modules' functions) is put back as it is seen."""
        collecting = _COLLECTING[0]()
        out = self.put_back_first()
        lib, fs = self.lib, self.funcs
        shell = self.kernel_attrs["shell"]  # the real one, even if the kernel's was swapped
        ns = self.user_ns
        out += ["the notebook's namespace"] * (shell.user_ns is not ns or shell.user_module is not self.user_module)
        out += ["the notebook's __builtins__"] * ((b := dict.get(ns, "__builtins__")) is not builtins
                                                and b is not vars(builtins))  # by identity: == would ask b
        out += [f"the notebook's name {k}" if type(k) is str else "a notebook name that is no str" for k in ns if type(
            k) is not str or k in self.builtins and not k.startswith("__") and ns[k] is not self.builtins[k]]
        out += [f"sys.{n}" for n, v in self.sys_hooks.items()  # (blockPrint/enablePrint leaves sys.__stdout__)
                if (now := getattr(sys, n)) is not v and now is not self.sys_dunder.get(n, v)]
        out += function_dict_changes(*self.fdicts, lib, fs, put_back=True)
        out += ["a library's registry (its KL table, global hooks...)"] * bool(
            registry_changes(self.registries, functools.partial(known, lib, held=True), classes=self.old_classes))
        for obj, attrs in self.objs.values():  # a method the object had, or one of its class's, replaced on it
            out += [f"{name_of(type(obj), False)}.{k} (on the object)" for k, v in vars(obj).items()  # plain: put_back_first
                    if k != "CustomTB" and (
                    k in attrs and (acts(attrs[k], fs) or k in UNSET_RUNNERS) and not same(attrs[k], v)
                    or k in attrs and type_swapped(attrs[k], v)
                    or k not in attrs and issubclass(type(getattr(type(obj), k, None)), fs)
                    and not rebound(obj, k, v)  # IPython puts stream.write back so
                    or k not in attrs and k.endswith(TRAIT_MAGIC) and acts(v, fs))]
        out += [f"{name_of(type(o), False)}.{k} (a trait)" for o, tv, vals in self.traits.values() for k, v in vals.items()
                if not same(tv.get(k), v) and acts(v, fs)]  # tv bound again by put_back_first
        out += ["IPython's auto_builtins"] * (not same_contents(shell.builtin_trap.auto_builtins, self.auto_builtins))
        if self.tensor is not None:  # t.double = lambda: liar, after the test checked type(t) is torch.Tensor
            out += [f"the notebook's {k} (a tensor with attributes of its own)"
                    for k in tensors_with_attributes(ns, *self.tensor)]
        out += ["a custom exception handler"] * (type(shell.custom_exceptions) is not tuple or shell.custom_exceptions != ())
        cb, tm = shell.events.callbacks, shell.input_transformer_manager  # compared by identity, not ==
        out += ["IPython's event callbacks"] * (odd_keys(cb) or set(cb) != set(self.events)
                                                or not all(same_members(cb[k], v) for k, v in self.events.items()))
        out += ["IPython's input transformers"] * (not all(same_items(getattr(tm, n), v) for n, v in self.tm.items())
                                                   or not same_items(shell.input_transformers_cleanup, self.cleanup)
                                                   or not same_items(shell.input_transformers_post, self.post)
                                                   or not same_items(shell.ast_transformers, self.ast)
                                                   or type(f := shell.compile.flags) is not int or f != self.compile_flags)
        out += [f"the kernel's {n}" for n, v in (("shell_handlers", self.shell_handlers),
                ("control_handlers", self.control_handlers)) if not same_contents(getattr(kernel, n, {}), v)]
        out += [f"IPython's prefilter {n}" for n, v in self.prefilter.items()
                if not same_contents(getattr(shell.prefilter_manager, n, None), v)]
        out += ["asserts (switched off)"] * (not asserts_on(self.builtins["exec"], self.builtins["compile"]))
        out += ["a torch function or dispatch mode"] * (torch_modes() != self.modes)
        out += ["torch's saved-tensor hooks or frame-evaluation callback"] * (torch_hooks() != self.hooks)
        out += [f"the keyword defaults of {shown(f.__qualname__)}" for f, kw in self.kwdefaults.values()
                if not same_contents(f.__kwdefaults__, kw)]
        kernels = torch_kernels()  # checked, not put back: a registration cannot be taken back from here
        out += [f"torch's kernels of {n}" for n, v in self.kernels.items() if kernels.get(n) != v][:3]
        if collecting:
            _COLLECTING[1]()
        return list(dict.fromkeys(out))  # builtins is also a module: each name once

    def put_back_first(self) -> list[str]:
        """The first steps of the check and of the reset, each put back as it is seen and reported: what the rest
        calls or reads would otherwise run code of the student's (which could undo the patches checked after it):
        the collector and a trace or profile function, builtins, timers and signal handlers, the classes of objects
        and modules and keys that are no str (``screen``), ``sys.modules``' entries and gc's callbacks, class dicts
        and shapes, the objects' own dicts and trait values, the observers and validators
        of traits (an observer runs when the reset sets a trait), the kernel's and the shell's parts, the modules'
        values (the check calls ``sys.gettrace``...)."""
        gc_off, gettrace, getprofile, settrace, setprofile = _QUIET  # their functions get no event once off
        gc_off()  # on again at the end of the check or the reset, if it was on before
        out = ["a trace or profile function"] * (gettrace() is not None or getprofile() is not None)
        keep((gettrace(), getprofile()))  # what the check and the reset take out: kept till the verdict (graveyard)
        setprofile(None)
        settrace(None)
        out += [f"builtins.{k}" for k in put_back_dict(self.builtins)]  # read without calling a builtin
        lines, cache = self.line_cache  # IPython writes each cell's source there as the cell starts: no subclass's
        if (now := dict.get(lines, "cache")) is not cache:  # __setitem__ may run between the reset and the test
            out.append("linecache.cache")
            keep(now)
            dict.__setitem__(lines, "cache", cache)
        out += signal_handlers(self.signals, self.sigchld)  # torch's own SIGCHLD handler is kept
        out += screen(self.types, self.modules, self.sys_modules, [tv for _, tv, _ in self.traits.values()])
        moved = [n for n, m in self.modules.items() if dict.get(self.sys_modules, n) is not m]  # a fake torch's
        out += [f"sys.modules[{n!r}]" for n in moved]  # properties would run where the check reads torch._C
        keep([dict.get(self.sys_modules, n) for n in moved])
        dict.update(self.sys_modules, [(n, self.modules[n]) for n in moved])
        out += [n for n in lists_changed(self.lists, put_back=True)  # import hooks: put back only (six adds one)
                if n == "gc.callbacks"]  # a collection in the check would run one
        lib = self.lib
        out += class_changes(self.classes, self.funcs, lib, put_back=True)  # a method or descriptor replaced
        out += [f"the bases, metaclass or MRO of {n}"  # after
                for n in changed_shapes(self.shapes, put_back=True, classes=self.class_dicts)]
        out += wrapper_changes(self.insides, put_back=True)  # a property re-initialised: before any is read
        out += trait_table_changes(self.tables, put_back=True, classes=self.class_dicts)  # a default generator
        out += plain_objects(self.objs, self.traits)  # the metaclasses' dicts: assigning bases recomputes MROs
        out += held_changes(self.held, put_back=True)  # IPython's transformers, traitlets' descriptors
        shell = self.kernel_attrs["shell"]  # the parts the check reads through (shell.compile.flags): rebound
        for o, parts, whose in ((self.kernel, self.kernel_attrs, "kernel"), (shell, self.shell_parts, "shell")):
            for n in [n for n, v in parts.items() if getattr(o, n) is not v]:  # o: its class, dict and traits back
                out.append(f"the {whose}'s {n}")
                self.put(o, n, parts[n])
        for o, saved in self.trait_hooks.values():
            if not same_trait_hooks(o, saved):
                out.append(f"an observer or validator of {name_of(type(o), False)}'s traits")
                put_back_trait_hooks(o, saved)
        return out + module_changes(self.module_funcs, self.constants, self.modules, self.user_ns, lib, put_back=True)

    def put(self, o, name: str, value) -> None:
        """``o.name = value``; a trait straight into the very ``_trait_values`` of ``o`` (traitlets' own setter
        would compare the old value, perhaps the student's, with the new one: its ``__eq__`` would run)."""
        entry = dict.get(self.traits, id(o))
        if entry is not None and name in dict.get(self.trait_names, id(o), ()):
            keep(dict.get(entry[1], name))
            dict.__setitem__(entry[1], name, value)
        else:
            keep(dict.get(vars(o), name))  # a plain dict by now (plain_objects)
            setattr(o, name, value)

    def restore(self, kernel: IPythonKernel) -> None:
        collecting = _COLLECTING[0]()
        self.put_back_first()  # the kernel's and the shell's parts, sys.modules, gc's lists among them
        lib, fs = self.lib, self.funcs
        shell = kernel.shell
        keep((shell.user_ns, shell.user_module, shell.builtin_trap.auto_builtins, shell.events.callbacks,
              shell.custom_exceptions, shell.CustomTB, kernel.shell_handlers, getattr(kernel, "control_handlers", None),
              [getattr(sys, n) for n in self.sys_hooks]))  # each replaced below (whatever it holds: kept)
        if shell.user_ns is not self.user_ns:  # keep what the notebook defined, in the real dict (str keys only)
            keep_items(self.user_ns)  # the values the update below replaces
            try:
                self.user_ns.update([(k, v) for k, v in dict.items(shell.user_ns) if type(k) is str])
            except TypeError:  # not a dict at all
                pass
            shell.user_ns = self.user_ns
        shell.user_module = self.user_module
        for name, value in self.sys_hooks.items():
            setattr(sys, name, value)
        function_dict_changes(*self.fdicts, lib, fs, put_back=True)
        restore_interpreter(self.optimize, self.modes, self.torch, self.builtins, self.hooks)  # torch's own: after
        registry_changes(self.registries, functools.partial(known, lib, held=True), True, self.old_classes)
        shell.builtin_trap.auto_builtins = dict(self.auto_builtins)  # a new plain dict
        if self.tensor is not None:  # a liar set up before the test (it may delete itself once used)
            tensors_with_attributes(shell.user_ns, *self.tensor, strip=True)
        for f, kw in self.kwdefaults.values():
            if not same_contents(f.__kwdefaults__, kw):
                keep_items(f.__kwdefaults__)
                f.__kwdefaults__.clear()
                f.__kwdefaults__.update(kw)
        for obj, attrs in self.objs.values():  # methods patched on the objects themselves
            d = vars(obj)  # a plain dict of str keys: put_back_first
            keep_items(d)
            for k in [k for k in d if k not in attrs and (issubclass(type(d[k]), fs) or k.endswith(TRAIT_MAGIC)
                                                          and acts(d[k], fs))]:
                del d[k]
            for k, v in attrs.items():  # what runs, and a value of another type (IPython calls a dict's methods)
                if d.get(k, self) is not v and (acts(v, fs) or k in UNSET_RUNNERS or type_swapped(v, d.get(k, self))):
                    d[k] = v
        for o, tv, vals in self.traits.values():  # tv bound again by put_back_first
            keep_items(tv)
            tv.update({k: v for k, v in vals.items() if tv.get(k) is not v and acts(v, fs)})
        ns = shell.user_ns
        keep_items(ns)
        ns["__builtins__"] = builtins
        for k in [k for k in ns if k in self.builtins and not k.startswith("__")]:
            if ns[k] is not self.builtins[k]:
                del ns[k]  # `len = lambda *a: 0` in the notebook
        tm = shell.input_transformer_manager
        pm = shell.prefilter_manager
        keep(([getattr(tm, n) for n in self.tm], [getattr(pm, n, None) for n in self.prefilter]))
        keep_items(shell.input_transformers_cleanup)  # refilled in place
        for n, v in self.tm.items():
            setattr(tm, n, list(v))
        shell.input_transformers_cleanup[:] = self.cleanup
        self.put(shell, "input_transformers_post", list(self.post))  # new plain lists
        self.put(shell, "ast_transformers", list(self.ast))
        for n, v in self.prefilter.items():
            setattr(pm, n, list(v) if isinstance(v, list) else dict(v))
        shell.events.callbacks = {k: list(v) for k, v in self.events.items()}  # a new plain dict
        shell.compile.flags = self.compile_flags
        shell.set_custom_exc((), None)
        kernel.shell_handlers = dict(self.shell_handlers)  # new plain dicts: a subclass's clear() would run
        if hasattr(kernel, "control_handlers"):
            kernel.control_handlers = dict(self.control_handlers)
        unpark(self.signals, self.sigchld)  # torch's SIGCHLD handler again, its module's values put back
        if collecting:
            _COLLECTING[1]()
