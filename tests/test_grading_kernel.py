"""grader.grading_kernel without a kernel process: what its reset puts back and what its check after a
test sees patched (the sandboxed runs are in test_homework.py), and the signature."""

import math
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from grader.grading_kernel import _Snapshot, signature


@pytest.fixture
def kernel():
    """The parts of an ipykernel kernel the snapshot reads: a real IPython shell, no sockets."""
    from IPython.core.interactiveshell import InteractiveShell

    return types.SimpleNamespace(shell=InteractiveShell.instance(), shell_handlers={}, control_handlers={},
                                 session=types.SimpleNamespace(), iopub_socket=None, iopub_thread=None,
                                 shell_stream=None, control_stream=None)


def test_the_check_after_a_test_names_numpy_math_and_class_patches_and_the_reset_undoes_them(kernel):
    real = {"allclose": np.allclose, "abs": np.abs, "inf": math.inf,
            "log_prob": torch.distributions.Normal.log_prob, "forward": torch.nn.Linear.forward}
    snap = _Snapshot(kernel)
    snap.restore(kernel)  # as before every test: IPython's own exit, quit and open leave the namespace
    assert snap.changed(kernel) == []
    try:  # what a function called by a hidden test might do (the red team's patches)
        np.allclose = lambda *a, **k: True
        np.abs = lambda a: 0 * a
        math.inf = 5.0
        torch.distributions.Normal.log_prob = lambda self, v: torch.zeros_like(v)
        torch.nn.Linear.forward = lambda self, v: v
        got = snap.changed(kernel)
        assert {"numpy.allclose", "numpy.abs", "math.inf", "Normal.log_prob", "Linear.forward"} <= set(got), got
    finally:
        snap.restore(kernel)
    assert (np.allclose, np.abs, math.inf) == (real["allclose"], real["abs"], real["inf"])
    assert torch.distributions.Normal.log_prob is real["log_prob"] and torch.nn.Linear.forward is real["forward"]
    assert snap.changed(kernel) == []


def test_torch_hooking_an_optimizer_class_is_not_a_patch(kernel):
    """torch wraps an optimizer class's step when it makes the first optimizer of that class: the
    check knows that wrapper (its code, around the original), and a look-alike around another function fails."""
    cls = type("FreshOptimizer", (torch.optim.SGD,), {"__module__": __name__})
    import sys

    sys.modules[__name__].FreshOptimizer = cls  # defined in a loaded module: the snapshot keeps its methods
    try:
        snap = _Snapshot(kernel)
        snap.restore(kernel)
        cls([torch.zeros(1, requires_grad=True)], lr=0.1)  # torch hooks FreshOptimizer.step here
        assert vars(cls)["step"] is not snap.classes[cls].get("step")
        assert snap.changed(kernel) == []
        cls.step = torch.optim.Optimizer.profile_hook_step(lambda self, closure=None: None)  # same wrapper, other function
        assert "FreshOptimizer.step" in snap.changed(kernel)
    finally:
        del sys.modules[__name__].FreshOptimizer


def test_a_torch_function_mode_is_seen_and_popped(kernel):
    """A global TorchFunctionMode can answer torch.allclose with True for every test after it."""
    from torch.overrides import TorchFunctionMode

    class Yes(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return True if func is torch.allclose else func(*args, **(kwargs or {}))

    snap = _Snapshot(kernel)
    snap.restore(kernel)
    Yes().__enter__()
    assert torch.allclose(torch.zeros(1), torch.ones(1)) is True
    assert "a torch function or dispatch mode" in snap.changed(kernel)
    snap.restore(kernel)
    assert not torch.allclose(torch.zeros(1), torch.ones(1)) and snap.changed(kernel) == []


def test_the_signature_binds_the_key_the_nonce_and_the_test():
    s = signature("k" * 64, "n1", "assert x == 1")
    assert s == signature("k" * 64, "n1", "assert x == 1") and len(s) == 64
    assert len({s, signature("j" * 64, "n1", "assert x == 1"), signature("k" * 64, "n2", "assert x == 1"),
                signature("k" * 64, "n1", "pass")}) == 4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["00_introduction", "01_component_by_component", "07_elbo"])
def test_the_teachers_own_answers_earn_every_point_in_the_sandbox(name, sandbox, pokemon_dir, tmp_path):
    """The check after each test must not take a right answer's points for what a library does by
    itself (torch hooks optimizer classes and wraps its functions as it goes): the teacher's notebook,
    handed in as it is, earns every test's points (01's last test makes optimizers, which torch hooks)."""
    import nbformat

    from grader.grading import grade_notebook
    from grader.homework import NOTEBOOKS
    from grader.sandbox import Limits
    from grader.submissions import Status

    teacher = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    folder = tmp_path / "s"
    folder.mkdir()
    nbformat.write(teacher, folder / f"{name}.ipynb")
    with ThreadPoolExecutor(max_workers=1) as pool:  # as autograde runs it (an earlier test may leave a loop here)
        rows = pool.submit(grade_notebook, "s", name, folder, teacher, timeout=300, limits=Limits(), sandbox=True,
                           work=tmp_path, autograded=tmp_path / "out.ipynb").result()
    tests = [r for r in rows if r.status is not Status.NEEDS_MANUAL_GRADE]
    assert tests and all(r.status is Status.PASSED for r in tests), [(r.exercise, r.reason) for r in tests]
