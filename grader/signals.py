"""Signals for the grading kernel's check and reset (grader.grading_kernel): the interval timers stopped and
every catchable signal's handler compared and put back first, torch's own SIGCHLD handler kept. Like
grader.inventory, each function binds what it calls as defaults."""

from __future__ import annotations

import _signal
import signal
import types

from grader.graveyard import keep
from grader.wrappers import _BUILTINS, _CLOSURE, _CODE, _GLOBALS


SIGNALS = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))  # every handler
_TIMERS = (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)


def torch_sigchld_code(modules: dict, _code=types.CodeType):
    """(code, globals, builtins) of the SIGCHLD handler torch's DataLoader installs once it starts workers (the inner
    ``handler`` of ``_set_SIGCHLD_handler``: it reports a worker that died, then calls the handler it found): its
    code and the module dict and builtins such a function has, or None."""
    m = modules.get("torch.utils.data._utils.signal_handling")
    f = getattr(m, "_set_SIGCHLD_handler", None)
    consts = getattr(getattr(f, "__code__", None), "co_consts", ())
    code = next((c for c in consts if type(c) is _code and c.co_name == "handler"), None)
    return None if code is None else (code, f.__globals__, f.__builtins__)


def _torchs(f, own, _type=type, _function=types.FunctionType, _code=_CODE, _tuple=tuple,
            _closure=_CLOSURE, _len=len, _globals=_GLOBALS, _builtins=_BUILTINS):
    """The handler ``f`` is torch's (``own``: ``torch_sigchld_code``), in its module, with the real builtins: the one
    cell of its closure (the handler it found and calls), or None when it is not."""
    if own is None or _type(f) is not _function or _code(f) is not own[0] or _globals(f) is not own[1] or (
            _builtins(f) is not own[2]):
        return None
    c = _closure(f)
    return c if _type(c) is _tuple and _len(c) == 1 else None


def signal_handlers(saved: dict, own=None, _get=_signal.getsignal, _set=_signal.signal, _int=int, _timers=_TIMERS,
                    _getitimer=signal.getitimer, _setitimer=signal.setitimer, _type=type, _torchs=_torchs,
                    _cell=types.CellType.__dict__["cell_contents"].__get__, _dfl=_signal.SIG_DFL, _keep=keep) -> list[str]:
    """Interval timers stopped, and the signals whose handler differs from ``saved`` ({signal number, an int:
    handler}: every catchable one), each put back at once: first in the check and the reset, after builtins (a
    handler of the student's, sent a signal by a timer or by a child it forked, could run between any two steps of
    the check; the timers first: a default handler put back under a running timer would end the kernel).
    ``_signal``'s C functions, not ``signal``'s Python ones: those read module values not yet put back. Torch's own
    SIGCHLD handler (a DataLoader with workers) is kept, but parked (the default action) until ``unpark``: it calls
    a module global of torch's that the check puts back only later."""
    out = ["an interval timer"] * any(_getitimer(t)[0] > 0 or _getitimer(t)[1] > 0 for t in _timers)
    for t in _timers:
        _setitimer(t, 0)
    for s, h in saved.items():
        now = _get(s)
        if now is not h and (c := _torchs(now, own)) is not None and ((p := _cell(c[0])) is None or p is h):
            saved[s] = h = now  # torch's, around the saved one: kept from now on (s: an int, hashed in C)
        elif now is not h and not (now is _dfl and _torchs(h, own) is not None):  # (parked by an earlier step)
            out.append(f"the handler of signal {_int(s)}")
            try:
                if h is not None:  # None: set from C, not Python's to put back
                    _keep(_set(s, h))  # the student's handler: kept till the verdict is sent (grader.graveyard)
            except (OSError, ValueError, TypeError):
                pass
        if _torchs(h, own) is not None:
            _set(s, _dfl)
    return out


def unpark(saved: dict, own=None, _set=_signal.signal, _torchs=_torchs) -> None:
    """Torch's SIGCHLD handler, kept in ``saved`` and parked by ``signal_handlers``, set again (the reset's end)."""
    for s, h in saved.items():
        if _torchs(h, own) is not None:
            _set(s, h)
