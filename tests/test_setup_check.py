from helpers.setup_check import Check, check_setup, report


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
