"""The package layout is the architecture: layers, no cycles, no module over 400 lines.

Reads every module of ``helpers`` and ``grader`` with ``ast`` (nothing is imported) and checks
the rules the packages' ``__init__`` docstrings state."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# package -> the packages its modules may import (its own included)
ALLOWED = {
    "helpers.core": {"helpers.core"},
    "helpers.evaluate": {"helpers.core", "helpers.evaluate"},
    "helpers.models": {"helpers.core", "helpers.evaluate", "helpers.models"},
    "helpers.registry": {"helpers.core", "helpers.evaluate", "helpers.models"},
    "helpers.notebook": {"helpers.core", "helpers.evaluate", "helpers.models", "helpers.registry",
                         "helpers.notebook"},
    "grader": {"helpers.core", "grader"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for top in ("helpers", "grader"):
        for path in sorted((REPO / top).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _package(module: str) -> str:
    for pkg in sorted(ALLOWED, key=len, reverse=True):
        if module == pkg or module.startswith(pkg + "."):
            return pkg
    return module  # the top-level "helpers" package itself


def _imports(module: str, path: Path) -> set[str]:
    """Every project module that ``module`` imports, at the top or inside a function."""
    found = set()
    base = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            prefix = node.module or ""
            if node.level:
                anchor = base.split(".")[: len(base.split(".")) - node.level + 1]
                prefix = ".".join(anchor + ([prefix] if prefix else []))
            names = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_every_package_says_what_it_holds_and_may_import():
    for pkg in [*ALLOWED, "helpers"]:
        if pkg == "helpers.registry":
            continue
        doc = ast.get_docstring(ast.parse(MODULES[pkg].read_text())) or ""
        assert len(doc) > 80, f"{pkg}/__init__.py needs a docstring: what it holds, what it may import"
        if pkg != "helpers":
            assert "May import" in doc, f"{pkg}/__init__.py: say what the package may import"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "helpers"))
def test_imports_only_from_its_own_or_a_lower_layer(module):
    pkg = _package(module)
    wrong = sorted(dep for dep in GRAPH[module]
                   if dep != "helpers" and _package(dep) not in ALLOWED[pkg] and _package(dep) != pkg)
    assert not wrong, f"{module} ({pkg}) may import only from {sorted(ALLOWED[pkg])}, but imports {wrong}"


def test_helpers_never_imports_the_grader():
    assert not [m for m in MODULES if m.startswith("helpers") and any(d.startswith("grader") for d in GRAPH[m])]


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for dep in sorted(GRAPH[m]):
            if dep not in MODULES or (dep in ("helpers", "grader") and dep != m):
                continue  # a package's own __init__ holds no code the others need
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(dep):] + [dep]))
            if not state.get(dep):
                visit(dep, [*stack, dep])
        state[m] = 2

    for m in MODULES:
        if not state.get(m):
            visit(m, [m])


def test_no_module_over_400_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these along the lecture's ideas: {long}"


def test_the_checker_sees_a_back_import(tmp_path, monkeypatch):
    """The layer check is not vacuous: a model module importing the notebook tools is caught."""
    fake = tmp_path / "bad.py"
    fake.write_text("from helpers.notebook.plot import tile\n")
    deps = _imports("helpers.models.bad", fake)
    assert deps == {"helpers.notebook.plot"}
    assert _package("helpers.notebook.plot") not in ALLOWED["helpers.models"]
