from helpers.notebook.setup_check import Check, check_setup, report


def test_setup_check_all_ok_here():
    checks = check_setup()
    names = {c.name for c in checks}
    assert {"torch", "torch version", "digits data", "Pokémon data"} <= names
    assert all(c.ok for c in checks), report(checks)
    assert report(checks).endswith("All set.")


def test_report_counts_problems():
    text = report([Check("torch", True, "2.13.0"), Check("pillow", False, "missing, run make lab")])
    assert "MISSING pillow: missing, run make lab" in text
    assert text.endswith("1 problem(s) above: fix them before notebook 01.")


def test_another_torch_warns_and_names_the_tested_versions(monkeypatch):
    """Colab brings its own torch: the check goes on (no problem counted) and says what was tested."""
    import torch

    from helpers.notebook import setup_check

    monkeypatch.setattr(torch, "__version__", "2.99.1+cu130")
    checks = {c.name: c for c in check_setup()}
    c = checks["torch version"]
    assert c.ok and c.warning
    assert "2.99.1+cu130" in c.detail and ", ".join(setup_check.TESTED_TORCH) in c.detail
    text = report(list(checks.values()))
    assert "WARNING torch version: 2.99.1+cu130, not one the series was tested with" in text
    assert text.endswith("All set.")


def test_the_tested_torch_is_what_make_installs():
    """The Makefile installs the first tested version, and pyproject pins the same one."""
    import re
    from pathlib import Path

    from helpers.notebook import setup_check

    root = Path(__file__).resolve().parents[1]
    assert re.search(rf"^TORCH_VERSION := {re.escape(setup_check.TESTED_TORCH[0])}$",
                     (root / "Makefile").read_text(), re.M)
    assert f'"torch=={setup_check.TESTED_TORCH[0]}"' in (root / "pyproject.toml").read_text()


def test_a_missing_system_package_skips_with_its_name_but_fails_under_ci(monkeypatch):
    import pytest
    from needs import require

    require(None, "chromium")  # present: nothing happens
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"sudo apt-get install bubblewrap"):
        require("bwrap not found", "bubblewrap")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install chromium.*under CI=true this test must run"):
        require("/usr/bin/chromium not found", "chromium")


def test_every_library_a_notebook_needs_is_checked():
    """Each of pyproject's runtime dependencies (bar the Jupyter tools that run the notebook) has its line."""
    import re
    import tomllib
    from pathlib import Path

    from helpers.notebook.setup_check import REQUIRED

    root = Path(__file__).resolve().parents[1]
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower() for d in deps}
    checked = {dist for dist, _ in REQUIRED.values()}
    assert names - {"jupyterlab", "ipykernel", "jupytext"} == checked
