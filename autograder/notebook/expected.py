"""Expected values: derived from the reference solution, stored as data, checked by a test.

``python -m autograder.notebook.expected`` reads the assignment's declaration
(``source/<assignment>/<notebook>.grading.json``, see :mod:`autograder.notebook.steps`) and the solution
cells of its source notebook, runs the reference solution under the task seed through the same
re-execution path the grader uses, and writes ``expected.json``: the declaration, the reference
cells and the task seed's outcome of every step. ``--check`` exits 1 if the stored file differs
from a fresh derivation. At grade time :func:`references` computes the same for the secret seeds.
"""
import argparse
import json
import sys
from pathlib import Path

from . import steps
from .reexecute import Limits, run_tasks

ROOT = Path(__file__).resolve().parents[2]
DECLARATION = ROOT / "source" / "reproducibility" / "reproducibility.grading.json"
SOURCE = DECLARATION.parent / "reproducibility.ipynb"
STORE = Path(__file__).with_name("expected.json")


def reference_solutions(notebook: Path) -> dict:
    """Solution cells of the instructor notebook by grade_id, without the solution markers."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    solutions = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines()
            solutions[meta["grade_id"]] = "\n".join(
                line for line in lines if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return solutions


def references(data: dict, seeds, limits: Limits = Limits(), python: str = sys.executable) -> dict:
    """``{seed: {step: {"before": state, "outcome": outcome}}}``: the reference solution under
    each of ``seeds``, each step after the reference steps it declares, all in one fresh
    sandboxed process of their own (reference code only)."""
    decl = steps.declaration(data["declaration"])
    tasks = [task for seed in seeds for task in steps.reference_tasks(decl, data["reference"], seed)]
    run = run_tasks(tasks, limits, python=python)
    if run.failure:
        raise RuntimeError("the reference solution failed under a grading seed: %s" % run.failure)
    found = {seed: {} for seed in seeds}
    for (seed, step), report in zip([(seed, step) for seed in seeds for step in decl.steps], run.reports):
        if report["error"] is not None or any(v[0] == "other" for v in report["before"]["names"].values()):
            raise RuntimeError("reference %s failed or left a value that is not plain data: %s"
                               % (step.id, report["error"]))
        found[seed][step.id] = {"before": report["before"], "outcome": steps.outcome(report)}
    return found


def derive(declaration: Path = DECLARATION, python: str = sys.executable) -> dict:
    """The stored data: declaration, reference cells, and every step's outcome under the task seed."""
    raw = steps.read_declaration(declaration)
    decl = steps.declaration(raw)
    solutions = reference_solutions(Path(declaration).parent / decl.notebook)
    data = {"declaration": raw, "reference": {step.id: solutions[step.id] for step in decl.steps},
            "seeds": [decl.task_seed]}
    task = references(data, [decl.task_seed], python=python)[decl.task_seed]
    data["outcomes"] = {step: found["outcome"] for step, found in task.items()}
    return data


def load(path: Path = STORE) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.notebook.expected", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--declaration", type=Path, default=DECLARATION, help="the assignment's declaration")
    parser.add_argument("--store", type=Path, default=STORE, help="where the expected values live")
    args = parser.parse_args(argv)
    text = dumps(derive(args.declaration))
    if args.check:
        same = args.store.exists() and args.store.read_text(encoding="utf-8") == text
        print("%s is up to date" % args.store.name if same else
              "%s differs from a fresh derivation" % args.store.name)
        return 0 if same else 1
    args.store.write_text(text, encoding="utf-8")
    print("wrote %s" % args.store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
