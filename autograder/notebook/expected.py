"""Expected values: derived from the reference solution, stored as data, checked by a test.

``python -m autograder expected [ASSIGNMENT ...]`` reads each graded notebook's declaration
(``source/<assignment>/<notebook>.grading.json``, :mod:`autograder.notebook.assignments`) and its source
notebook, and writes the derived ``<notebook>.expected.json`` beside it: for a steps notebook the
declaration, the reference cells and every step's outcome under the task seed (the reference
solution run through the same re-execution path the grader uses); for a quiz its answer key
(:mod:`autograder.notebook.quiz`). ``--check`` exits 1 if a stored file differs from a fresh
derivation. At grade time :func:`references` computes the same for the secret seeds, and
:func:`checked` refuses a declaration that is malformed, names a cell its notebook lacks, or whose
derived file is missing or stale.
"""
import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path

from . import assignments
from . import quiz, steps
from .check_kinds import KINDS
from .reexecute import Limits, run_grader_tasks


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
    each of ``seeds``, each step after the reference steps it declares, in the grader's own
    sandboxed process (reference code only: :func:`autograder.notebook.reexecute.run_grader_tasks`)."""
    decl = steps.declaration(data["declaration"])
    tasks = [task for seed in seeds for task in steps.reference_tasks(decl, data["reference"], seed)]
    run = run_grader_tasks(tasks, limits, python=python, preload=decl.preload)
    if run.failure:
        raise RuntimeError("the reference solution failed under a grading seed: %s" % run.failure)
    found = {seed: {} for seed in seeds}
    for (seed, step), report in zip([(seed, step) for seed in seeds for step in decl.steps], run.reports):
        if report["error"] is not None or any(v[0] == "other" for v in report["before"]["names"].values()):
            raise RuntimeError("reference %s failed or left a value that is not plain data: %s"
                               % (step.id, report["error"]))
        found[seed][step.id] = {"before": report["before"], "outcome": steps.outcome(report)}
    return found


def derive(graded: assignments.Graded, python: str = sys.executable) -> dict:
    """The derived data of one graded notebook (see the module's docstring)."""
    source = graded.source_notebook
    checked(graded, derived=False)
    if graded.kind == "quiz":
        return {"about": "Quiz answer key, grader-side only. Derived from %s by python -m autograder "
                         "expected." % source.name, "questions": quiz.derive(source, graded.data)}
    raw = graded.data
    decl = steps.declaration(raw)
    solutions = reference_solutions(source)
    data = {"declaration": raw, "reference": {step.id: solutions[step.id] for step in decl.steps},
            "seeds": [decl.task_seed]}
    probes = [decl.task_seed + 1, decl.task_seed + 2]
    found = references(data, [decl.task_seed, *probes], python=python)
    for n, step in enumerate(decl.steps):  # a step the seed does not reach is declared so, and is so
        constant = all(_judged(step, found[seed][step.id]["outcome"]) == _judged(step, found[decl.task_seed][step.id]["outcome"])
                       for seed in probes)
        if constant != step.constant:
            raise assignments.DeclarationError(
                graded.path, f"steps[{n}] ({step.id}).constant",
                "its reference outcome is the same under every seed, so the secret seeds cannot tell a "
                "typed-in answer from a drawn one: make the run's seed reach it (a reseed in a step "
                "before it) or declare \"constant\": true" if constant else
                "declared constant, but its reference outcome depends on the seed")
    data["outcomes"] = {step: outcome["outcome"] for step, outcome in found[decl.task_seed].items()}
    return data


def checked(graded: assignments.Graded, derived: bool = True) -> None:
    """Refuse (:class:`autograder.notebook.assignments.DeclarationError`, naming the file and the
    field) a declaration that is malformed, names a module or factory this Python lacks, names a
    cell its source notebook does not hold or leaves a graded cell of it undeclared, or (with
    ``derived``) whose derived file is missing or was derived from another declaration."""
    try:
        if graded.kind == "quiz":
            quiz.declared(graded.data)
        else:
            _importable(steps.declaration(graded.data))
    except ValueError as error:
        field, _, problem = str(error).partition(": ")
        raise assignments.DeclarationError(graded.path, field, problem) from None
    try:
        cells = {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"): cell.get("metadata", {}).get("nbgrader", {})
                 for cell in json.loads(graded.source_notebook.read_text(encoding="utf-8"))["cells"]}
    except (OSError, ValueError, KeyError, AttributeError) as error:
        raise assignments.DeclarationError(graded.path, "notebook", f"{graded.source_notebook} cannot be read: {error}") from None
    for n, part in enumerate(graded.parts):
        if not cells.get(part["id"], {}).get("solution"):
            raise assignments.DeclarationError(graded.path, f"{_list(graded)}[{n}].id",
                                               f"{graded.source_notebook.name} has no answer cell {part['id']!r}")
        for test in part["tests"]:
            if not cells.get(test, {}).get("grade"):
                raise assignments.DeclarationError(graded.path, f"{_list(graded)}[{n}].tests",
                                                   f"{graded.source_notebook.name} has no graded test cell {test!r}")
    undeclared = sorted(grade_id for grade_id, meta in cells.items() if meta.get("grade")
                        and grade_id not in graded.tests)
    if undeclared:
        raise assignments.DeclarationError(graded.path, _list(graded), f"{graded.source_notebook.name}'s graded "
                                           f"cells {undeclared} are in none of them: each must be judged")
    if not derived:
        return
    try:
        stored = load(graded.expected_path)
    except (OSError, ValueError):
        raise assignments.DeclarationError(graded.path, "(derived)", f"{graded.expected_path.name} is missing or "
                                           f"unreadable: run `python -m autograder expected {graded.assignment}`") from None
    if graded.kind == "steps" and stored.get("declaration") != graded.data:
        raise assignments.DeclarationError(graded.path, "(derived)", f"{graded.expected_path.name} was derived from "
                                           f"another version of it: run `python -m autograder expected {graded.assignment}`")


def _judged(step, outcome: dict) -> dict:
    """What ``step``'s check kind can tell apart of an outcome."""
    return {key: value for key, value in outcome.items()
            if key != "generator" or KINDS[step.check["kind"]].judges_random_state}


def _importable(decl) -> None:
    """ValueError (``field: problem``) for a module or reseed factory of ``decl`` this Python lacks."""
    for field, module in [("preload", name) for name in decl.preload] + [
            (f"steps[{n}] ({step.id}).imports", name) for n, step in enumerate(decl.steps) for name in step.imports]:
        if importlib.util.find_spec(module) is None:
            raise ValueError(f"{field}: no module {module!r}")
    for n, step in enumerate(decl.steps):
        if step.reseed:
            module, _, function = step.reseed[1].rpartition(".")
            try:
                factory = getattr(importlib.import_module(module), function)
            except (ImportError, AttributeError):
                factory = None
            if not callable(factory):
                raise ValueError(f"steps[{n}] ({step.id}).reseed.factory: no function {step.reseed[1]!r}")


def _list(graded) -> str:
    return "questions" if graded.kind == "quiz" else "steps"


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder expected", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser) -> None:
    parser.add_argument("assignment", nargs="*", help="assignment ids (default: every assignment in source/)")
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: .)")


def run(args) -> int:
    args.source = args.course / "source"
    names = args.assignment or assignments.names(args.source)
    if not names:
        print(f"error: no assignment with a *{assignments.DECLARATION} under {args.source}", file=sys.stderr)
        return 2
    differ = 0
    for name in names:
        declared = assignments.declared(args.source, name)
        if not declared:
            print(f"error: {args.source / name} holds no *{assignments.DECLARATION}", file=sys.stderr)
            return 2
        for graded in declared:
            try:
                text = dumps(derive(graded))
            except assignments.DeclarationError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            path = graded.expected_path
            if args.check:
                same = path.exists() and path.read_text(encoding="utf-8") == text
                differ += not same
                print(f"{path} is up to date" if same else f"{path} differs from a fresh derivation")
            else:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
