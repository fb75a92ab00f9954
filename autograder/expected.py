"""Expected values: derived from the reference solution, stored as data, checked by a test.

``python -m autograder.expected`` re-derives ``expected.json`` from the solution cells of the
source notebook by running them through the same re-execution path the grader uses;
``--check`` exits 1 if the stored file differs from a fresh derivation.
"""
import argparse
import json
import random
import sys
from pathlib import Path

from . import steps
from .reexecute import run_cells

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "reproducibility" / "reproducibility.ipynb"
STORE = Path(__file__).with_name("expected.json")


def reference_solutions(notebook: Path) -> dict:
    """Solution cells of the instructor notebook by grade_id, without the solution markers."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    solutions = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines()
            solutions[meta["grade_id"]] = "\n".join(
                line for line in lines if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return solutions


def draws_from_state(state) -> list:
    """The scores a generator in ``state`` draws next (computed here, not in the child)."""
    rng = random.Random()
    rng.setstate((3, tuple(state), None))
    return [rng.randint(steps.LOW, steps.HIGH) for _ in range(steps.COUNT)]


def derive(source: Path = SOURCE, python: str = sys.executable) -> dict:
    """Run the reference solution under each grading seed and record what it produces."""
    reference = reference_solutions(source)
    expected = {"source": source.name, "seeds": list(steps.SEEDS),
                "reference": {grade_id: reference[grade_id] for grade_id in steps.PREFIX_STEPS}}

    def reports(step):
        runs = [run_cells(cells, seed, python=python) for seed, cells in
                steps.jobs(step, reference[step], expected)]
        for run in runs:
            if run.report is None or run.report["error"]:
                raise RuntimeError("reference %s failed: %s" % (step, run.failure or run.report["error"]))
        return [run.report for run in runs]

    expected["step2_draws"] = draws_from_state(reports("step2")[0]["state"])
    expected["scores"] = {str(seed): report["scores"]["items"]
                          for seed, report in zip(steps.SEEDS, reports("step3"))}
    expected["printed"] = {str(seed): report["stdout"]
                           for seed, report in zip(steps.SEEDS, reports("step4"))}
    return expected


def load() -> dict:
    return json.loads(STORE.read_text(encoding="utf-8"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.expected", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    fresh = derive()
    text = json.dumps(fresh, indent=2, sort_keys=True) + "\n"
    if args.check:
        same = STORE.exists() and STORE.read_text(encoding="utf-8") == text
        print("expected.json is up to date" if same else "expected.json differs from a fresh derivation")
        return 0 if same else 1
    STORE.write_text(text, encoding="utf-8")
    print("wrote %s: scores %s" % (STORE.relative_to(ROOT), fresh["scores"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
