"""Open and install anywhere: the Colab cell every notebook starts with, the links, the files a
reusable course needs, and the choice of torch build."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import torch_index  # noqa: E402

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
REPOSITORY = PYPROJECT["project"]["urls"]["Repository"]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _first_code_cell(path: Path) -> str:
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    return "".join(cell["source"])


def test_every_notebook_starts_with_the_same_colab_cell():
    cells = {p.name: _first_code_cell(p) for p in NOTEBOOKS}
    first = cells[NOTEBOOKS[0].name]
    assert all(c == first for c in cells.values()), "the notebooks' first cells differ"
    assert 'find_spec("helpers") is None' in first and f'"{REPOSITORY}"' in first


@pytest.mark.slow
def test_the_colab_cell_fetches_the_series_where_helpers_is_missing(tmp_path):
    """Run the cell as Colab would, in a Python that cannot import helpers (-S: no site-packages),
    cloning this repository from disk instead of GitHub: afterwards helpers imports from the clone."""
    code = _first_code_cell(NOTEBOOKS[0])
    check = "\nimport importlib.util\nprint(importlib.util.find_spec('helpers').origin)\n"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GENERATION_REPOSITORY": f"file://{REPO}"}
    for _ in range(2):  # the second run finds the clone and does not fetch again
        res = subprocess.run([sys.executable, "-S", "-c", code + check], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == str(tmp_path / "generation-notebooks" / "helpers" / "__init__.py")
    assert (tmp_path / "generation-notebooks" / "data" / "checkpoints" / "pixel_lstm512.pt").is_file()


def test_readme_links_colab_binder_book_and_the_lecture():
    readme = (REPO / "README.md").read_text()
    slug = REPOSITORY.removeprefix("https://github.com/")
    for nb in NOTEBOOKS:
        assert f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{nb.name}" in readme, nb.name
        assert f"https://mybinder.org/v2/gh/{slug}/main?urlpath=lab/tree/notebooks/{nb.name}" in readme, nb.name
    assert PYPROJECT["project"]["urls"]["Book"] in readme
    assert PYPROJECT["project"]["urls"]["Lecture"] in readme


def test_the_files_a_reusable_course_needs():
    assert "MIT License" in (REPO / "LICENSE").read_text() and PYPROJECT["project"]["license"] == "MIT"
    assert "CC BY 4.0" in (REPO / "LICENSE-CONTENT.md").read_text()
    cff = (REPO / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in cff and f'repository-code: "{REPOSITORY}"' in cff
    assert f'url: "{PYPROJECT["project"]["urls"]["Book"]}"' in cff, "CITATION.cff's url is not pyproject's Book"
    data = (REPO / "DATA.md").read_text()
    shared = REPO.parent / "shared" / "data" / "pokemon" / "README.md"
    for digest in re.findall(r"\b[0-9a-f]{64}\b", shared.read_text() if shared.exists() else data):
        assert digest in data, "DATA.md's checksums differ from the course copy's"
    contributing = (REPO / "CONTRIBUTING.md").read_text()
    for target in ("make sync", "make notebooks", "make bench", "make checkpoints", "make book", "Adding a notebook"):
        assert target in contributing, target


def test_binder_installs_cpu_torch_at_the_tested_version():
    from helpers.notebook.setup_check import TESTED_TORCH

    req = (REPO / "binder" / "requirements.txt").read_text()
    assert torch_index.CPU_INDEX in req and f"torch=={TESTED_TORCH[0]}+cpu" in req
    assert os.access(REPO / "binder" / "postBuild", os.X_OK)


def test_student_install_is_light_and_dev_has_the_tools():
    base = " ".join(PYPROJECT["project"]["dependencies"])
    extras = PYPROJECT["project"]["optional-dependencies"]
    for tool in ("pytest", "nbgrader", "playwright", "nbval", "sphinx"):
        assert tool not in base, f"{tool} is installed for every student"
    dev = " ".join(extras["dev"] + extras["book"])
    for tool in ("pytest", "nbgrader", "playwright", "nbval", "sphinx", "myst-nb"):
        assert tool in dev, tool


def _never(index):
    raise AssertionError("no network check was expected")


@pytest.mark.parametrize("setting, system, gpu, reachable, args", [
    ("auto", "Linux", False, True, ["--index-url", torch_index.CPU_INDEX]),  # a student's laptop
    ("auto", "Linux", False, False, []),                                      # CI here: the mirror only
    ("auto", "Linux", True, None, []),                                        # a GPU box: PyPI's CUDA build
    ("auto", "Darwin", False, None, []),                                      # macOS wheels are CPU builds
    ("pypi", "Linux", False, None, []),
    ("cpu", "Darwin", False, None, ["--index-url", torch_index.CPU_INDEX]),
    ("https://download.pytorch.org/whl/cu126", "Linux", True, None,
     ["--index-url", "https://download.pytorch.org/whl/cu126"]),
])
def test_make_venv_picks_the_torch_build(setting, system, gpu, reachable, args):
    reach = _never if reachable is None else (lambda index: reachable)
    got, note = torch_index.choose(setting, system=system, has_gpu=gpu, reach=reach)
    assert got == args and note


def test_a_bad_torch_index_is_refused():
    with pytest.raises(ValueError, match="auto, cpu, pypi or an index URL"):
        torch_index.choose("cuda", system="Linux", has_gpu=True)


def test_makefile_uses_the_chooser_and_the_split_installs():
    mk = (REPO / "Makefile").read_text()
    assert "scripts/torch_index.py" in mk and "TORCH_INDEX ?= auto" in mk
    assert re.search(r"^lab: \$\(STAMP\)$", mk, re.M) and re.search(r"^test: \$\(DEV_STAMP\) data$", mk, re.M)
    assert re.search(r"^data: \$\(STAMP\)\n\t\$\(PY\) -c \"from helpers.core.data import load_pokemon; load_pokemon\(\)\"$",
                     mk, re.M), "make test fetches and checks the data before pytest starts"
    assert re.search(r'^\t\$\(PY\) -m pip install --quiet -e \.$', mk, re.M), "the student install is plain -e ."


def test_the_notebooks_need_no_dev_package():
    """`pip install -e .` (no [dev]) must run every notebook: no helpers module a notebook imports,
    nor anything it imports in turn, imports a dev-only package at module level."""
    import ast

    dev_only = {"nbgrader", "playwright", "pytest", "sphinx", "myst_nb", "nbval"}
    todo = {m for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py")
            for m in re.findall(r"^(?:from|import) (helpers(?:\.\w+)*)", p.read_text(), re.M)}
    seen: set[str] = set()
    while todo:
        mod = todo.pop()
        seen.add(mod)
        path = REPO / (mod.replace(".", "/") + ".py")
        if not path.exists():
            path = REPO / mod.replace(".", "/") / "__init__.py"
        for node in ast.parse(path.read_text()).body:  # module level only: lazy imports are fine
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [("helpers." + node.module if node.level else node.module) or ""]
                     if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in dev_only, f"{mod} imports {name}, which students do not install"
                if name.startswith("helpers.") and name not in seen:
                    todo.add(name)
    assert "helpers.registry" in seen and "helpers.evaluate.sprite_stats" in seen
