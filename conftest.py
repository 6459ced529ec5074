"""The notebook run, for however pytest is started (`make test`, or `pytest notebooks/02_*.ipynb`).

Each notebook is executed once, by nbval (one kernel per notebook). After its last cell, in the
same kernel, the item "exercise stubs fail their tests" swaps every exercise's solution for the
stub a student receives (what nbgrader's generate_assignment writes) and expects the visible
test cell to fail; then it puts the solution back. The item "wrong answers fail their tests"
then puts each plausible wrong answer of tests/fixtures/wrong_answers/NN_name.py in place of
the solution, expects the exercise's tests (visible, then hidden) to fail it, and writes which
one caught it to test-artifacts/wrong_answers/NN_name.json; the same file's optional RIGHT lists
correct answers written another way, which the tests, hidden part included, must pass.

Tests never touch the network: POKEMON_DATA_DIR points at ../shared/data/pokemon (CI) or the
download cache when one of them holds the files. No test trains a shipped model: GENERATION_NO_TRAIN=1 (inherited by the notebook kernels too)
makes a missing checkpoint an error that says to run `make checkpoints`, and
GENERATION_PROGRESS=0 turns progress bars off, with CI set or not."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from queue import Empty

import pytest

from helpers.core.train import flush_denormals

REPO = Path(__file__).resolve().parent
# As every notebook's setup() does, before this process's first large torch operation (the
# threads torch starts copy the setting): on Intel CPUs denormal numbers slow the PixelCNNs tenfold.
flush_denormals()
os.environ["GENERATION_NO_TRAIN"] = "1"
# No progress bars in tests, whatever CI says: a bar adds outputs that the stored notebooks do not
# have (nbval compares them). The kernels nbval and nbgrader start inherit this.
os.environ["GENERATION_PROGRESS"] = "0"


def pokemon_data_dir(repo: Path) -> Path:
    """The course copy beside the repository, else the download cache data/pokemon/: the latter
    even when empty, so that a test needing the files fails with an error naming that folder and
    the course's address instead of downloading (`make test` downloads them before pytest)."""
    for cand in (repo.parent / "shared" / "data" / "pokemon", repo / "data" / "pokemon"):
        if (cand / "pixel_color.txt").is_file():
            return cand
    return repo / "data" / "pokemon"


# Kernels started by tests (nbval, nbgrader) inherit this: a bare `pytest` never downloads.
if not os.environ.get("POKEMON_DATA_DIR"):
    os.environ["POKEMON_DATA_DIR"] = str(pokemon_data_dir(REPO))


# ----------------------------------------------------------------------------- markers
def pytest_collection_modifyitems(config, items):
    """nbval's cells are marked `notebooks` and `slow`; after each notebook's last cell comes
    the stub check, in the same kernel."""
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: no notebook items
        return
    out = []
    for i, item in enumerate(items):
        out.append(item)
        if isinstance(item, IPyNbCell):
            item.add_marker(pytest.mark.notebooks)
            item.add_marker(pytest.mark.slow)
            last = i + 1 == len(items) or getattr(items[i + 1], "parent", None) is not item.parent
            if last and _exercises(item.parent.nb):
                stub = StubCheck.from_parent(item.parent, name="exercise stubs fail their tests")
                stub.add_marker(pytest.mark.notebooks)
                stub.add_marker(pytest.mark.slow)
                out.append(stub)
                if wrong_answers(item.parent.path):
                    wrong = WrongAnswerCheck.from_parent(item.parent, name="wrong answers fail their tests")
                    wrong.add_marker(pytest.mark.notebooks)
                    wrong.add_marker(pytest.mark.slow)
                    out.append(wrong)
    items[:] = out


# ----------------------------------------------------------------------------- the stub check
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?^[ \t]*### END SOLUTION[^\n]*\n?", re.S | re.M)
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def stub_of(source: str) -> str:
    """A solution cell as the student receives it: each solution region -> raise NotImplementedError()."""
    return SOLUTION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()\n", source)


def visible_test(source: str) -> str:
    """A test cell as the student sees it: hidden tests removed."""
    return HIDDEN.sub("", source)


def top_level_names(source: str) -> set[str]:
    """Names a cell binds at module level (assignments, defs, classes, imports, loop targets)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    names.add(sub.id)
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                    break
    return names


def nbgrader_meta(cell) -> dict:
    from grader.submissions import nbgrader_meta as read

    return read(cell)


def _exercises(nb) -> list[tuple[str, list, object]]:
    """(grade_id, solution code cells before it, graded test cell) for every graded code test."""
    out, pending = [], []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code":
            continue
        if meta.get("solution") and not meta.get("grade"):
            pending.append(cell)
        elif meta.get("grade"):
            out.append((meta.get("grade_id", "?"), pending, cell))
            pending = []
    return [e for e in out if e[1]]


class StubCheck(pytest.Item):
    """In the kernel that just ran the notebook: per exercise, forget the names its solution
    cells bind, run the stubs, run the visible test (it must fail), then re-run the solution."""

    def _run(self, code: str, timeout: float = 900) -> tuple[str, str]:
        # A guard against a hung kernel, not a speed target: 02's whole wrong-answer check takes
        # about 130 s alone on 2 cores, yet one of its calls once passed 300 s on busy cores.
        kernel = self.parent.kernel
        msg_id = kernel.execute_cell_input(code, allow_stdin=False)
        while True:
            msg = kernel.get_message("shell", timeout=timeout)
            if msg["parent_header"].get("msg_id") == msg_id:
                break
        try:
            kernel.await_idle(msg_id, timeout)
        except Empty:
            pass
        content = msg["content"]
        return content["status"], f"{content.get('ename', '')}: {content.get('evalue', '')}"

    def _forget(self, solutions) -> None:
        """Remove from the kernel every name the exercise's solution cells bind."""
        names = set().union(*(top_level_names(c.source) for c in solutions))
        self._run("\n".join(f"globals().pop({n!r}, None)" for n in sorted(names)))

    def _restore(self, gid: str, solutions, problems: list[str]) -> None:
        """Re-run the solution cells: the notebook's state for the next answer and exercise."""
        for c in solutions:
            status, err = self._run(c.source)
            if status != "ok":
                problems.append(f"{gid}: re-running the solution failed: {err}")

    def runtest(self):
        if self.parent.kernel is None or not self.parent.kernel.is_alive():
            pytest.fail("the notebook's kernel is gone: an earlier cell failed")
        problems = []
        for gid, solutions, test in _exercises(self.parent.nb):
            self._forget(solutions)
            for c in solutions:
                self._run(stub_of(c.source))
            status, err = self._run(visible_test(test.source))
            if status == "ok":
                problems.append(f"{gid}: the test passes without a solution (stub in place)")
            self._restore(gid, solutions, problems)
        if problems:
            pytest.fail("; ".join(problems))

    def reportinfo(self):
        return self.path, 0, f"{self.parent.name}: exercise stubs fail their tests"


# ----------------------------------------------------------------------------- wrong answers
WRONG_DIR = REPO / "tests" / "fixtures" / "wrong_answers"


def _fixture_space(notebook: Path) -> dict:
    path = WRONG_DIR / f"{Path(notebook).stem}.py"
    if not path.is_file():
        return {}
    space: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), space)  # the project's own fixture file
    return space


def wrong_answers(notebook: Path) -> dict[str, list[tuple[str, str | list[str]]]]:
    """test grade_id -> [(what slip it models, code in place of the solution region, or one
    code per region)] from tests/fixtures/wrong_answers/<notebook stem>.py ({} if none)."""
    return _fixture_space(notebook).get("WRONG", {})


def right_answers(notebook: Path) -> dict[str, list[tuple[str, str | list[str]]]]:
    """The same file's optional RIGHT: correct answers written differently from the solution
    (test grade_id -> [(how it differs, code)]); the exercise's tests, hidden part included, must
    pass each of them."""
    return _fixture_space(notebook).get("RIGHT", {})


def with_answer(source: str, code: str | list[str]) -> str:
    """A solution cell with its solution region(s) replaced by ``code`` (one string per region,
    or one string for a single region), indented like the region."""
    codes = [code] if isinstance(code, str) else list(code)
    regions = SOLUTION.findall(source)
    if len(regions) != len(codes):
        raise ValueError(f"the cell has {len(regions)} solution regions, the fixture gives {len(codes)} answers")
    it = iter(codes)

    def put(m):
        text = next(it).strip("\n")
        return "".join(f"{m.group(1)}{line}\n" if line else "\n" for line in text.split("\n"))
    return SOLUTION.sub(put, source)


class WrongAnswerCheck(StubCheck):
    """In the kernel that just ran the notebook: per wrong answer, run the exercise's solution
    cell with the answer in place (it must run: a plausible wrong answer, not a crash), then the
    visible test and, if that passes, the whole test with its hidden part; one of them must fail.
    Then the solution is put back."""

    def runtest(self):
        import json

        if self.parent.kernel is None or not self.parent.kernel.is_alive():
            pytest.fail("the notebook's kernel is gone: an earlier cell failed")
        exercises = {gid: (solutions, test) for gid, solutions, test in _exercises(self.parent.nb)}
        fixtures = wrong_answers(self.parent.path)
        rights = right_answers(self.parent.path)
        if unknown := sorted((set(fixtures) | set(rights)) - set(exercises)):
            pytest.fail(f"{WRONG_DIR.name}/{self.parent.path.stem}.py names no exercise {unknown}; "
                        f"the notebook's are {sorted(exercises)}")
        problems, table = [], []
        for gid, answers in fixtures.items():
            solutions, test = exercises[gid]
            for label, code in answers:
                status, err = self._answer(solutions, code)
                if status != "ok":
                    problems.append(f"{gid} / {label}: the wrong answer itself fails to run ({err}); "
                                    f"a fixture must run and give a wrong result")
                    caught = "(does not run)"
                else:
                    status, err = self._run(visible_test(test.source))
                    caught = "visible test"
                    if status == "ok":
                        status, err = self._run(test.source)
                        caught = "hidden test"
                        if status == "ok":
                            problems.append(f"{gid} / {label}: passes the visible and the hidden tests")
                            caught = "NOT CAUGHT"
                table.append({"exercise": gid, "wrong answer": label, "caught by": caught, "error": err[:300]})
                self._restore(gid, solutions, problems)
        for gid, answers in rights.items():  # right answers written another way: every test must pass them
            solutions, test = exercises[gid]
            for label, code in answers:
                status, err = self._answer(solutions, code)
                if status == "ok":
                    status, err = self._run(test.source)
                if status != "ok":
                    problems.append(f"{gid} / right answer '{label}' fails: {err[:200]}")
                table.append({"exercise": gid, "right answer": label, "passes": status == "ok", "error": err[:300]})
                self._restore(gid, solutions, problems)
        out = REPO / "test-artifacts" / "wrong_answers"
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".{self.parent.path.stem}.json.part"
        tmp.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n")
        tmp.replace(out / f"{self.parent.path.stem}.json")
        if problems:
            pytest.fail("; ".join(problems))

    def _answer(self, solutions, code: str | list[str]) -> tuple[str, str]:
        """Run the exercise's solution cells afresh with ``code`` in the last one's solution region(s)."""
        self._forget(solutions)
        for c in solutions[:-1]:
            self._run(c.source)
        return self._run(with_answer(solutions[-1].source, code))

    def reportinfo(self):
        return self.path, 0, f"{self.parent.name}: wrong answers fail their tests"
