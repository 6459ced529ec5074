"""What the grading kernel's check and reset (grader.snapshot) take out of the interpreter: the values of the
student's they replace or delete, kept alive here until the kernel has sent the test's verdict (``release``).
Dropped where it is taken out, such a value's finaliser (``__del__``, a ``weakref.finalize``) would run inside
the check, where it could undo the patches still to be looked at and empty the findings, or inside the reset,
and patch again before the test. Each function that puts something back hands what it takes out to ``keep``
(or ``keep_items``, for a dict, a list or a class's dict it empties or refills) first."""

from __future__ import annotations

DROPPED: list = []  # emptied by release only
keep = DROPPED.append  # C: the very list's own method
_PROXY = type(type.__dict__)


def keep_items(c, _items=dict.items, _proxy_items=_PROXY.items, _copy=list.copy, _list=list, _type=type,
               _issubclass=issubclass, _dict=dict, _proxy=_PROXY, _keep=keep) -> None:
    """Keep ``c`` and what it holds now, which the caller takes out: a dict's items, a class's (``c`` the
    mappingproxy of its dict) or a list's, read in C (a subclass's own methods do not run)."""
    t = _type(c)
    _keep((c, _list(_items(c)) if _issubclass(t, _dict) else _list(_proxy_items(c)) if t is _proxy
           else _copy(c) if _issubclass(t, _list) else None))


def release(_clear=DROPPED.clear) -> None:
    """Let go of what was kept: the finalisers run now, after the verdict was sent and before the student's next
    cell (the next reset undoes what they do, as it undoes what that cell does)."""
    _clear()
