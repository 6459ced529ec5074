"""The wrong-answer table: exercise x wrong answer x which test caught it, as Markdown.

`make test` runs every wrong answer of tests/fixtures/wrong_answers/NN_name.py in its notebook's
kernel and records, per notebook, which test failed it in test-artifacts/wrong_answers/NN_name.json
(conftest.py). This script reads those records and prints one table (or writes it with --out):

    python scripts/wrong_answer_table.py [--artifacts test-artifacts/wrong_answers] [--out FILE]

It reports what the last run found; it does not run anything. A wrong answer that no test caught
is listed as NOT CAUGHT (and that run of `make test` failed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rows(artifacts: Path) -> list[dict]:
    """One row per wrong answer: notebook, exercise, wrong answer, caught by."""
    files = sorted(artifacts.glob("[0-9][0-9]_*.json"))
    if not files:
        raise SystemExit(f"no records in {artifacts}: run `make test` first (it writes them)")
    out = []
    for f in files:
        try:
            records = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            raise SystemExit(f"{f} is not valid JSON ({e}); run `make test` again to rewrite it")
        for r in records:
            if "wrong answer" in r:
                out.append({"notebook": f.stem, "exercise": r["exercise"],
                            "wrong answer": r["wrong answer"], "caught by": r["caught by"]})
    return out


def exercise_name(gid: str) -> str:
    """ex3_test -> Ex 3 (the grade ids name exercises by number)."""
    m = re.fullmatch(r"ex(\d+)\w*", gid)
    return f"Ex {m.group(1)}" if m else gid


def table(found: list[dict]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| notebook | exercise | wrong answer | caught by |", "|---|---|---|---|"]
    lines += [f"| {r['notebook']} | {exercise_name(r['exercise'])} | {cell(r['wrong answer'])} | {r['caught by']} |"
              for r in found]
    exercises = {(r["notebook"], r["exercise"]) for r in found}
    by = {k: sum(r["caught by"] == k for r in found) for k in ("visible test", "hidden test")}
    missed = sum(r["caught by"] not in by for r in found)
    lines += ["", f"{len(found)} wrong answers for {len(exercises)} exercises in "
              f"{len({r['notebook'] for r in found})} notebooks: {by['visible test']} caught by the visible test, "
              f"{by['hidden test']} only by the hidden test, {missed} not caught."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifacts", type=Path, default=REPO / "test-artifacts" / "wrong_answers")
    ap.add_argument("--out", type=Path, help="write the table here (default: print it)")
    args = ap.parse_args(argv)
    text = table(rows(args.artifacts))
    if args.out is None:
        sys.stdout.write(text)
    else:
        tmp = args.out.with_name(f".{args.out.name}.part")
        tmp.write_text(text)
        os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
